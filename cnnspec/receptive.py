"""Receptive field arithmetic: size, jump (effective stride) and start per spatial axis.

The recurrence is the one in Araujo, Norris & Sim, "Computing Receptive Fields of Convolutional
Neural Networks" (Distill, 2019) and Dumoulin & Visin's conv arithmetic guide:
``size += (k_eff - 1) * jump``, ``start += ((k_eff - 1) / 2 - padding) * jump``, ``jump *= stride``.
Positions are in input pixels; ``start`` is the centre of the first output's field. Values stay
ints while they are whole (the common case, and fast) and become exact Fractions where a transposed
conv, upsampling or an even kernel makes them fractional.
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from .formula import Formula, Sym, call, ceil, per_axis


@dataclass(frozen=True)
class ReceptiveField:
    size: tuple[Number, ...]
    jump: tuple[Number, ...]
    start: tuple[Number, ...]

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
        return ReceptiveField(tuple(size), tuple(jump), tuple(start))

    def through_transpose(self, kernel, stride, padding, dilation) -> ReceptiveField:
        """After a transposed conv: each output sees ceil(k_eff / s) inputs; the grid gets s times finer."""
        size, jump, start = [], [], []
        for r, j, s0, k, s, p, d in zip(self.size, self.jump, self.start, kernel, stride, padding, dilation):
            span = d * (k - 1)
            taps = -(-(span + 1) // s)
            size.append(r + (taps - 1) * j)
            start.append(s0 + Fraction(p * 2 - span, 2 * s) * j)
            jump.append(Fraction(j) / s)
        return ReceptiveField(tuple(size), tuple(jump), tuple(start))

    def through_upsample(self, scale, taps: int) -> ReceptiveField:
        """After nearest (1 tap) or (bi/tri)linear (2 taps) upsampling by ``scale`` per axis."""
        return ReceptiveField(
            tuple(r + (taps - 1) * j for r, j in zip(self.size, self.jump)),
            tuple(j / f for j, f in zip(self.jump, scale)),
            tuple(s0 + (1 / f - 1) / 2 * j for s0, j, f in zip(self.start, self.jump, scale)),
        )

    def whole(self, spatial) -> ReceptiveField:
        """After a layer that sees every position of an input of this spatial size (global pool, flatten)."""
        return self.through_window(spatial, spatial, (0,) * len(spatial), (1,) * len(spatial))

    @staticmethod
    def union(fields: list[ReceptiveField]) -> ReceptiveField:
        """Where branches meet (add, concat): axis by axis, the span that covers every branch's field
        (Inception v3 concatenates a 1x3 and a 3x1 branch: the union is 3 wide on both axes)."""
        if len(fields) == 1:
            return fields[0]
        size, jump, start = [], [], []
        for axis in range(len(fields[0].size)):
            low = min(f.start[axis] - _half(f.size[axis]) for f in fields)
            high = max(f.start[axis] + _half(f.size[axis]) for f in fields)
            size.append(_whole(high - low))
            start.append(_whole(_half(low + high)))
            jump.append(max(f.jump[axis] for f in fields))
        return ReceptiveField(tuple(size), tuple(jump), tuple(start))

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
    def union_formulas(fields: list[ReceptiveField]) -> list[Formula]:
        """Where branches meet: the span from the lowest field start to the highest field end, per axis."""
        if all(f == fields[0] for f in fields):
            return []
        def size(*axis):
            starts, sizes = axis[:len(fields)], axis[len(fields):]
            ends = [Sym(f"s_{i}", s) + Sym(f"r_{i}", r) / 2 for i, (s, r) in enumerate(zip(starts, sizes), 1)]
            begins = [Sym(f"s_{i}", s) - Sym(f"r_{i}", r) / 2 for i, (s, r) in enumerate(zip(starts, sizes), 1)]
            return call("max", *ends) - call("min", *begins)
        columns = [f.start for f in fields] + [f.size for f in fields]
        return (per_axis("field", size, *columns, note="s: the centre of each input's field, r: its size")
                + per_axis("jump", lambda *jumps: call("max", *(Sym(f"j_{i}", j) for i, j in enumerate(jumps, 1))),
                           *[f.jump for f in fields], changed=[len({f.jump[a] for f in fields}) > 1
                                                               for a in range(len(fields[0].jump))]))

    def describe(self) -> str:
        return "x".join(_number(s) for s in self.size)


Number = int | Fraction


def _half(value: Number) -> Number:
    return value // 2 if isinstance(value, int) and value % 2 == 0 else Fraction(value) / 2


def _whole(value: Number) -> Number:
    return int(value) if value.denominator == 1 else value


def _number(value: Number) -> str:
    return str(value.numerator) if value.denominator == 1 else f"{float(value):.4g}"
