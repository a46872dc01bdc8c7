"""Merges of named inputs: add (residual), concat (inception, dense, U-Net skips), multiply (gating).

add and multiply take ``n-1`` FLOPs per output value; concat only copies. multiply broadcasts as
PyTorch does between inputs of equal rank
(squeeze-and-excitation multiplies [C, H, W] by [C, 1, 1]); add requires equal shapes,
so a residual whose shortcut forgot its projection is caught, not broadcast.

``add`` with ``inplace: true`` adds into its first input, as torchvision's ResNet blocks do
(``out += identity``); the graph turns that off where the first input has another reader or its
producer's backward reads it. Backward: add and concat keep nothing (their gradients are the output's,
or slices of it); multiply keeps both factors of each product.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ..formula import Formula, Sym, times, total, values
from ..receptive import ReceptiveField
from ..shape import ArgumentError, Shape, format_shape, numel
from .base import Layer, register, saves_input, saves_own


def _listing(inputs: list[Shape]) -> str:
    return ", ".join(format_shape(x) for x in inputs)


def merge_flops(inputs: list[Shape], out: Shape, operations: str) -> Formula:
    return Formula("flops", times(values(out), Sym("n", len(inputs)) - 1),
                   note=f"n - 1 {operations} per output value for n inputs")


@register
@dataclass(kw_only=True)
class Add(Layer):
    type_name: ClassVar[str] = "add"
    inputs_range: ClassVar[tuple[int, int | None]] = (2, None)
    inplace: bool = False

    @property
    def memory(self):
        return "inplace" if self.inplace else "new"

    def out_shape(self, inputs):
        first = inputs[0]
        for x in inputs[1:]:
            if x != first:
                what = "channel" if len(x) == len(first) and x[1:] == first[1:] else "shape"
                raise ArgumentError(f"{what} mismatch at add: inputs are {_listing(inputs)}; "
                                    "add needs equal shapes (a projection shortcut fixes channels)")
        return first

    def flops(self, inputs, out):
        return (len(inputs) - 1) * numel(out)

    def saved_for_backward(self, inputs, out, device):
        return []

    def gradient_passes_through(self):
        return True

    def formulas(self, inputs, out):
        return [merge_flops(inputs, out, "adds")]

    def to_torch(self, inputs):
        from ..torch.modules import Add as Module
        return Module(self.inplace)


@register
@dataclass(kw_only=True)
class Multiply(Layer):
    type_name: ClassVar[str] = "multiply"
    aliases: ClassVar[tuple[str, ...]] = ("mul",)
    inputs_range: ClassVar[tuple[int, int | None]] = (2, None)

    def out_shape(self, inputs):
        if len({len(x) for x in inputs}) > 1:
            raise ArgumentError(f"multiply needs inputs of equal rank: inputs are {_listing(inputs)} "
                                "(a gate from global_avg_pool needs keepdim: true)")
        out = []
        for sizes in zip(*inputs):
            distinct = set(sizes) - {1}
            if len(distinct) > 1:
                raise ArgumentError(f"shapes do not broadcast at multiply: inputs are {_listing(inputs)}")
            out.append(distinct.pop() if distinct else 1)
        return tuple(out)

    def flops(self, inputs, out):
        return (len(inputs) - 1) * numel(out)

    def saved_for_backward(self, inputs, out, device):
        """``((x0 * x1) * x2) ...``: each product keeps both factors, the partial products included."""
        saved, partial = [saves_input(0), saves_input(1)], self.out_shape(inputs[:2])
        for index in range(2, len(inputs)):
            saved += [saves_own(f"product of inputs 0 to {index - 1}", numel(partial)), saves_input(index)]
            partial = self.out_shape([partial, inputs[index]])
        return saved

    def formulas(self, inputs, out):
        return [merge_flops(inputs, out, "products")]

    def to_torch(self, inputs):
        from ..torch.modules import Multiply as Module
        return Module()


@register
@dataclass(kw_only=True)
class Concat(Layer):
    """Concatenate along the channel axis (``dim=1`` counted with the batch axis, as torch.cat)."""
    type_name: ClassVar[str] = "concat"
    aliases: ClassVar[tuple[str, ...]] = ("cat",)
    inputs_range: ClassVar[tuple[int, int | None]] = (2, None)
    dim: int = 1

    def out_shape(self, inputs):
        first = inputs[0]
        axis = self.dim - 1
        if not 0 <= axis < len(first):
            raise ArgumentError(f"dim must name an axis of the inputs (1..{len(first)}, 0 is the batch). "
                                f"Received: dim={self.dim}", "dim")
        for x in inputs[1:]:
            if len(x) != len(first) or x[:axis] + x[axis + 1:] != first[:axis] + first[axis + 1:]:
                what = "spatial" if axis == 0 and len(x) == len(first) else "shape"
                raise ArgumentError(f"{what} mismatch at concat: inputs are {_listing(inputs)}; all axes but "
                                    f"dim {self.dim} must agree (center_crop or zero_pad one of them)")
        return first[:axis] + (sum(x[axis] for x in inputs),) + first[axis + 1:]

    def saved_for_backward(self, inputs, out, device):
        return []

    def gradient_passes_through(self):
        return True

    def formulas(self, inputs, out):
        axis = self.dim - 1
        return [Formula("output", total([Sym(f"C_{i}", x[axis]) for i, x in enumerate(inputs, 1)]),
                        "channels" if axis == 0 else f"axis {self.dim}", "the inputs side by side")]

    def receptive_field(self, inputs, fields):
        """Along a spatial dim the inputs lie side by side, so their sizes there say nothing of broadcasting."""
        return ReceptiveField.union(fields, [x[1:] for x in inputs] if self.dim == 1 else None)

    def receptive_field_formulas(self, inputs, fields):
        return ReceptiveField.union_formulas(fields, [x[1:] for x in inputs] if self.dim == 1 else None)

    def to_torch(self, inputs):
        from ..torch.modules import Concat as Module
        return Module(self.dim)
