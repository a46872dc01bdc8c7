"""Receptive field arithmetic: size, jump (effective stride) and start per spatial axis.

The recurrence is the one in Araujo, Norris & Sim, "Computing Receptive Fields of Convolutional
Neural Networks" (Distill, 2019) and Dumoulin & Visin's conv arithmetic guide:
``size += (k_eff - 1) * jump``, ``start += ((k_eff - 1) / 2 - padding) * jump``, ``jump *= stride``.
Positions are in input pixels; ``start`` is the centre of the first output's field. Values stay
ints while they are whole (the common case, and fast) and become exact Fractions where a transposed
conv, upsampling or an even kernel makes them fractional.

Global context. A map pooled to one position and broadcast back over a larger grid (a squeeze-excitation
gate ``multiply [x, gate]`` with gate [C, 1, 1]; DeepLabV3's image pooling upsampled and concatenated;
group norm's statistics) makes every output depend on the whole input, but it has no grid of its own:
its jump is the whole map, and taking it as the merge's jump made every field after the first
squeeze-excitation block explode (10^21 pixels in EfficientNet-B0). One rule covers them all: where
branches meet, an input that is broadcast along an axis (one position wide there while the output is
wider, or upsampled from one position) adds nothing to the field's geometry on that axis; the field is
the local one through the full-resolution inputs, and ``global_context`` records that the output also
sees the whole input. The flag is carried downstream.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from fractions import Fraction

from .formula import Formula, Sym, call, ceil, per_axis


@dataclass(frozen=True)
class ReceptiveField:
    size: tuple[Number, ...]
    jump: tuple[Number, ...]
    start: tuple[Number, ...]
    broadcast: frozenset[int] = frozenset()
    """Axes along which the values are one value repeated (upsampled from one position): no grid of their own."""
    global_context: bool = False
    """The values also depend on the whole input through a broadcast summary (the field is the local part)."""
    layout: tuple[int, ...] = ()
    """After a permute: for each tensor axis (no batch), the axis of the input's layout it holds, 0 the
    channels and k the k-th spatial axis ([H, W, C] is (1, 2, 0)); empty for the input's own layout."""

    def __post_init__(self):
        """Whole values as ints, so that plain data never shows Fraction(224, 1)."""
        for name in ("size", "jump", "start"):
            values = getattr(self, name)
            if not all(type(v) is int for v in values):
                object.__setattr__(self, name, tuple(_whole(Fraction(v)) for v in values))

    @classmethod
    def of_input(cls, ndim: int) -> ReceptiveField:
        return cls((1,) * ndim, (1,) * ndim, (0,) * ndim)

    def through_window(self, kernel, stride, padding, dilation) -> ReceptiveField:
        """After a conv or pooling window, given per-axis kernel, stride, left padding, dilation."""
        size, jump, start = [], [], []
        for r, j, s0, k, s, p, d in zip(self.size, self.jump, self.start, kernel, stride, padding, dilation):
            span = d * (k - 1)
            size.append(r + span * j)
            start.append(s0 + _half((span - 2 * p) * j))
            jump.append(j * s)
        return self.moved(tuple(size), tuple(jump), tuple(start))

    def moved(self, size, jump, start) -> ReceptiveField:
        """This field with a new geometry (``dataclasses.replace`` costs 3x as much, once per layer)."""
        return ReceptiveField(size, jump, start, self.broadcast, self.global_context, self.layout)

    def through_transpose(self, kernel, stride, padding, dilation) -> ReceptiveField:
        """After a transposed conv: each output sees ceil(k_eff / s) inputs; the grid gets s times finer."""
        size, jump, start = [], [], []
        for r, j, s0, k, s, p, d in zip(self.size, self.jump, self.start, kernel, stride, padding, dilation):
            span = d * (k - 1)
            taps = -(-(span + 1) // s)
            size.append(r + (taps - 1) * j)
            start.append(s0 + Fraction(p * 2 - span, 2 * s) * j)
            jump.append(Fraction(j) / s)
        return replace(self, size=tuple(size), jump=tuple(jump), start=tuple(start))

    def through_upsample(self, scale, taps: int) -> ReceptiveField:
        """After nearest (1 tap) or (bi/tri)linear (2 taps) upsampling by ``scale`` per axis."""
        return replace(
            self, size=tuple(r + (taps - 1) * j for r, j in zip(self.size, self.jump)),
            jump=tuple(j / f for j, f in zip(self.jump, scale)),
            start=tuple(s0 + (1 / f - 1) / 2 * j for s0, j, f in zip(self.start, self.jump, scale)))

    def broadcast_from(self, in_spatial, out_spatial) -> ReceptiveField:
        """After a layer that spreads one position over many (upsampling or adaptive pooling of a map one
        position wide): those axes become broadcast."""
        axes = {a for a, (n, o) in enumerate(zip(in_spatial, out_spatial)) if n == 1 < o}
        return replace(self, broadcast=self.broadcast | axes) if axes else self

    def source_axis(self, tensor_axis: int) -> int:
        """Which axis of the input's layout a tensor axis (no batch, may be negative) holds: 0 is channels."""
        if self.layout:
            return self.layout[tensor_axis]
        return tensor_axis % (len(self.size) + 1)

    def permuted(self, order: list[int]) -> ReceptiveField:
        """After a permute whose ``order`` lists the input's tensor axes (no batch) in their new positions."""
        layout = tuple(self.source_axis(a) for a in order)
        return replace(self, layout=() if layout == tuple(range(len(layout))) else layout)

    def whole_along(self, tensor_axis: int, length: int) -> ReceptiveField:
        """After a layer that mixes all ``length`` positions of one tensor axis (linear over a spatial axis)."""
        spatial = self.source_axis(tensor_axis) - 1
        if spatial < 0:
            return self
        kernel = tuple(length if a == spatial else 1 for a in range(len(self.size)))
        return self.through_window(kernel, kernel, (0,) * len(kernel), (1,) * len(kernel))

    def whole_along_formulas(self, tensor_axis: int, length: int) -> list[Formula]:
        spatial = self.source_axis(tensor_axis) - 1
        if spatial < 0:
            return []
        kernel = tuple(length if a == spatial else 1 for a in range(len(self.size)))
        return self.window_formulas(kernel, kernel, (1,) * len(kernel))

    def seeing_everything(self) -> ReceptiveField:
        """The same local field, and the whole input through statistics or a gate (group norm)."""
        return replace(self, global_context=True)

    def whole(self, spatial) -> ReceptiveField:
        """After a layer that sees every position of an input of this spatial size (global pool, flatten).

        Axes that no longer match the field's (a reshape merged them, and made the field whole) stay as they are."""
        if len(spatial) != len(self.size):
            return self
        return self.through_window(spatial, spatial, (0,) * len(spatial), (1,) * len(spatial))

    @staticmethod
    def union(fields: list[ReceptiveField], spatial_shapes: list[tuple[int, ...]] | None = None) -> ReceptiveField:
        """Where branches meet (add, concat, multiply): axis by axis, the span that covers every branch's
        field (Inception v3 concatenates a 1x3 and a 3x1 branch: the union is 3 wide on both axes), over the
        branches that are not broadcast on that axis (see the module docstring); given the inputs' spatial
        shapes, one position wide where another input is wider counts as broadcast."""
        if len(fields) == 1:
            return fields[0]
        size, jump, start, broadcast = [], [], [], set()
        global_context = any(f.global_context for f in fields)
        for axis in range(len(fields[0].size)):
            kept, all_broadcast = _local_branches(fields, spatial_shapes, axis)
            if all_broadcast:
                broadcast.add(axis)
            global_context = global_context or len(kept) < len(fields)
            local = [fields[i] for i in kept]
            low = min(2 * f.start[axis] - f.size[axis] for f in local)  # twice the lowest edge: ints stay ints
            high = max(2 * f.start[axis] + f.size[axis] for f in local)
            size.append(_divided(high - low, 2))
            start.append(_divided(low + high, 4))
            jump.append(max(f.jump[axis] for f in local))
        return ReceptiveField(tuple(size), tuple(jump), tuple(start), frozenset(broadcast), global_context,
                              fields[0].layout)

    def whole_formulas(self, spatial) -> list[Formula]:
        """The formulas of ``whole``."""
        if len(spatial) != len(self.size):
            return []
        return self.window_formulas(spatial, spatial, (1,) * len(spatial))

    # --- the same recurrences as formulas with the numbers in (cnnspec explain) ---------------
    def window_formulas(self, kernel, stride, dilation) -> list[Formula]:
        """``r_out = r_in + (K-1)*D*j_in`` and ``j_out = j_in*S`` per axis, for what ``through_window`` changes."""
        def size(r, j, k, d):
            growth = Sym("K", k) - 1
            return Sym("r_in", r) + (growth * Sym("D", d) if d != 1 else growth) * Sym("j_in", j)
        return (per_axis("field", size, self.size, self.jump, kernel, dilation, changed=[k > 1 for k in kernel])
                + per_axis("jump", lambda j, s: Sym("j_in", j) * Sym("S", s), self.jump, stride,
                           changed=[s != 1 for s in stride]))

    def transpose_formulas(self, kernel, stride, dilation) -> list[Formula]:
        """Each output of a transposed conv sees ``ceil(k_eff/S)`` inputs; the grid gets S times finer."""
        def size(r, j, k, s, d):
            window = Sym("K", k) if d == 1 else Sym("D", d) * (Sym("K", k) - 1) + 1
            return Sym("r_in", r) + (ceil(window / Sym("S", s)) - 1) * Sym("j_in", j)
        taps = [-(-(d * (k - 1) + 1) // s) for k, s, d in zip(kernel, stride, dilation)]
        return (per_axis("field", size, self.size, self.jump, kernel, stride, dilation, changed=[t > 1 for t in taps])
                + per_axis("jump", lambda j, s: Sym("j_in", j) / Sym("S", s), self.jump, stride,
                           changed=[s != 1 for s in stride]))

    def upsample_formulas(self, scale, taps: int) -> list[Formula]:
        def size(r, j):
            return Sym("r_in", r) + (Sym("T", taps) - 1) * Sym("j_in", j)
        return (per_axis("field", size, self.size, self.jump, changed=[taps > 1] * len(scale),
                         note="T: interpolation taps per axis")
                + per_axis("jump", lambda j, f: Sym("j_in", j) / Sym("scale", f), self.jump, scale,
                           changed=[f != 1 for f in scale]))

    @staticmethod
    def union_formulas(fields: list[ReceptiveField], spatial_shapes: list[tuple[int, ...]] | None = None
                       ) -> list[Formula]:
        """Where branches meet: the span from the lowest field start to the highest field end, per axis,
        over the branches ``union`` keeps there (a broadcast one adds only global context)."""
        if len(fields) == 1 or all(f == fields[0] for f in fields):
            return []
        ndim = len(fields[0].size)
        kept = [_local_branches(fields, spatial_shapes, axis)[0] for axis in range(ndim)]

        def size(branches, *axis):
            starts, sizes = axis[:len(fields)], axis[len(fields):]
            if len(branches) == 1:
                return Sym(f"r_{branches[0] + 1}", sizes[branches[0]])
            ends = [Sym(f"s_{i + 1}", starts[i]) + Sym(f"r_{i + 1}", sizes[i]) / 2 for i in branches]
            begins = [Sym(f"s_{i + 1}", starts[i]) - Sym(f"r_{i + 1}", sizes[i]) / 2 for i in branches]
            return call("max", *ends) - call("min", *begins)

        def jump(branches, *jumps):
            named = [Sym(f"j_{i + 1}", jumps[i]) for i in branches]
            return named[0] if len(named) == 1 else call("max", *named)

        def note(branches, *numbers):
            left_out = [str(i + 1) for i in range(len(fields)) if i not in branches]
            return "s: the centre of each input's field, r: its size" + (
                f"; input {', '.join(left_out)} is broadcast here: global context, no grid" if left_out else "")

        columns = [kept] + [f.start for f in fields] + [f.size for f in fields]
        jumps = [f.jump for f in fields]
        return (per_axis("field", size, *columns, note=note)
                + per_axis("jump", jump, kept, *jumps,
                           changed=[len({fields[i].jump[a] for i in kept[a]}) > 1 or fields[kept[a][0]].jump[a]
                                    != fields[0].jump[a] for a in range(ndim)]))

    def describe(self) -> str:
        """'5x5', and '5x5+global' where the layer also sees the whole input."""
        return "x".join(_number(s) for s in self.size) + ("+global" if self.global_context else "")


Number = int | Fraction


def _local_branches(fields: list[ReceptiveField], spatial_shapes, axis: int) -> tuple[tuple[int, ...], bool]:
    """The branches whose geometry counts on ``axis`` where they meet, and whether all of them were broadcast
    there (then all count, and the result stays broadcast): a branch one position wide where another is
    wider, or marked broadcast by an upsampling from one position."""
    widest = max(shape[axis] for shape in spatial_shapes) if spatial_shapes else 1
    kept = tuple(i for i, f in enumerate(fields) if axis not in f.broadcast
                 and not (spatial_shapes and spatial_shapes[i][axis] == 1 < widest))
    return (kept, False) if kept else (tuple(range(len(fields))), True)


def _half(value: Number) -> Number:
    return value // 2 if isinstance(value, int) and value % 2 == 0 else Fraction(value) / 2


def _divided(value: Number, divisor: int) -> Number:
    """``value / divisor`` exactly, an int where it is whole (Fractions cost ~10x an int's arithmetic)."""
    if type(value) is int and value % divisor == 0:
        return value // divisor
    return _whole(Fraction(value) / divisor)


def _whole(value: Number) -> Number:
    return int(value) if value.denominator == 1 else value


def _number(value: Number) -> str:
    return str(value.numerator) if value.denominator == 1 else f"{float(value):.4g}"
