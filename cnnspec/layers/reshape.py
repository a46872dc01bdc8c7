"""Layers that move no arithmetic: flatten, identity, dropout and stochastic depth (identity at inference),
slice, reshape, permute, channel shuffle.

All but channel shuffle (a copy) are views of their inputs, so they add no memory; none keeps anything
for backward but dropout and stochastic depth in training, which multiply by a mask and keep it: dropout's
bool on CUDA (native_dropout), on the CPU a tensor of the input's dtype holding 0 or 1/(1-p) (torch's
_dropout_impl); stochastic depth's one value per sample (row) or per batch.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from math import prod
from typing import ClassVar, Literal

from ..formula import Formula, Sym, product, sizes, values
from ..shape import ArgumentError, Shape, numel
from .base import Layer, register, saves_own, spatial_ndim


@register
@dataclass(kw_only=True)
class Flatten(Layer):
    """torch.nn.Flatten: dims counted with the batch axis; the default keeps the batch, flattens the rest."""
    type_name: ClassVar[str] = "flatten"
    memory: ClassVar[str] = "view"
    start_dim: int = 1
    end_dim: int = -1

    def _axes(self, x):
        rank = len(x) + 1
        start, end = self.start_dim % rank, self.end_dim % rank
        if start == 0 or start > end:
            raise ArgumentError(f"flatten must keep the batch axis and have start_dim <= end_dim. "
                                f"Received: start_dim={self.start_dim}, end_dim={self.end_dim}", "start_dim")
        return start - 1, end

    def out_shape(self, inputs):
        x = inputs[0]
        start, end = self._axes(x)
        return x[:start] + (prod(x[start:end]),) + x[end:]

    def saved_for_backward(self, inputs, out, device):
        return []

    def receptive_field(self, inputs, fields):
        x = inputs[0]
        start, _ = self._axes(x)
        return fields[0].whole(x[1:]) if start == 0 and len(x) > 1 else fields[0]

    def formulas(self, inputs, out):
        x = inputs[0]
        start, end = self._axes(x)
        return [Formula("output", product(sizes(x)[start:end]), f"axis {start + 1}", "the flattened axes' sizes multiplied")]

    def receptive_field_formulas(self, inputs, fields):
        x = inputs[0]
        start, _ = self._axes(x)
        return fields[0].whole_formulas(x[1:]) if start == 0 and len(x) > 1 else []

    def to_torch(self, inputs):
        from torch import nn
        return nn.Flatten(self.start_dim, self.end_dim)


@register
@dataclass(kw_only=True)
class Identity(Layer):
    type_name: ClassVar[str] = "identity"
    memory: ClassVar[str] = "view"

    def saved_for_backward(self, inputs, out, device):
        return []

    def formulas(self, inputs, out):
        return []  # the input, unchanged

    def to_torch(self, inputs):
        from torch import nn
        return nn.Identity()


@register
@dataclass(kw_only=True)
class Dropout(Layer):
    type_name: ClassVar[str] = "dropout"
    memory: ClassVar[str] = "view"
    p: float = 0.5

    def saved_for_backward(self, inputs, out, device):
        if self.p == 0:
            return []  # the input passes through
        if self.p == 1:
            return [saves_own("zero", 1, "input", per_image=False)]  # multiplied by a 0-dim zero
        return [saves_own("mask", numel(out), "bool" if device == "cuda" else "input")]

    def out_shape(self, inputs):
        if not 0 <= self.p <= 1:
            raise ArgumentError(f"p must be between 0 and 1. Received: p={self.p}", "p")
        return inputs[0]

    def formulas(self, inputs, out):
        return []  # the identity at inference

    def to_torch(self, inputs):
        from torch import nn
        return nn.Dropout(self.p)


@dataclass(kw_only=True)
class FeatureDropout(Dropout):
    """nn.Dropout1d/2d/3d (Tompson et al. 2015): in training, zero whole channels of a sample. The mask
    autograd keeps is one value per channel and sample, in the input's dtype on every device."""
    ndim: ClassVar[int]

    def out_shape(self, inputs):
        spatial_ndim(self, inputs[0], self.ndim)
        return super().out_shape(inputs)

    def saved_for_backward(self, inputs, out, device):
        if self.p == 0:
            return []
        if self.p == 1:
            return [saves_own("zero", 1, "input", per_image=False)]
        return [saves_own("channel mask", inputs[0][0], "input")]

    def to_torch(self, inputs):
        from torch import nn
        return (nn.Dropout1d, nn.Dropout2d, nn.Dropout3d)[self.ndim - 1](self.p)


@register
class Dropout1d(FeatureDropout):
    type_name: ClassVar[str] = "dropout1d"
    ndim: ClassVar[int] = 1


@register
class Dropout2d(FeatureDropout):
    type_name: ClassVar[str] = "dropout2d"
    ndim: ClassVar[int] = 2


@register
class Dropout3d(FeatureDropout):
    type_name: ClassVar[str] = "dropout3d"
    ndim: ClassVar[int] = 3


@register
@dataclass(kw_only=True)
class StochasticDepth(Layer):
    """torchvision.ops.StochasticDepth (Huang et al. 2016): in training, zero the whole input of a sample
    (``mode: row``) or of the batch (``batch``) with probability ``p`` and scale the rest by 1/(1-p);
    at inference the identity, so a view like dropout."""
    type_name: ClassVar[str] = "stochastic_depth"
    aliases: ClassVar[tuple[str, ...]] = ("drop_path",)
    memory: ClassVar[str] = "view"
    p: float
    mode: Literal["row", "batch"] = "row"

    def out_shape(self, inputs):
        if not 0 <= self.p <= 1:
            raise ArgumentError(f"p must be between 0 and 1. Received: p={self.p}", "p")
        return inputs[0]

    def saved_for_backward(self, inputs, out, device):
        """Training: ``x * mask``, the mask one value per sample (row) or one for the batch."""
        return [] if self.p == 0 else [saves_own("keep mask", 1, "input", per_image=self.mode == "row")]

    def formulas(self, inputs, out):
        return []  # the input, at inference

    def to_torch(self, inputs):
        from ..torch.modules import StochasticDepth as Module
        return Module(self.p, self.mode)


def batch_axis_dim(layer: Layer, name: str, dim: int, x: Shape) -> int:
    """``dim`` counted with the batch axis, as torch counts it (negative from the end), as an index into
    ``x``, which has no batch axis; the batch axis itself is refused."""
    rank = len(x) + 1
    if not -rank < dim < rank or dim % rank == 0:
        raise ArgumentError(f"{name} must name an axis of the input (1..{len(x)} or -{len(x)}..-1; 0 is the batch). "
                            f"Received: {name}={dim}", name)
    return dim % rank - 1


@register
@dataclass(kw_only=True)
class Slice(Layer):
    """``x[:, start:end]`` along ``dim`` (counted with the batch axis: 1 is the channels), a view.
    ShuffleNetV2's ``x.chunk(2, dim=1)`` is two slices, ``end: c // 2`` and ``start: c // 2``.
    Negative ``start``/``end`` count from the end, as in Python; the slice may not be empty."""
    type_name: ClassVar[str] = "slice"
    memory: ClassVar[str] = "view"
    start: int = 0
    end: int | None = None
    dim: int = 1

    def bounds(self, x: Shape) -> tuple[int, int, int]:
        """(axis without the batch, first index, one past the last index)."""
        axis = batch_axis_dim(self, "dim", self.dim, x)
        size = x[axis]
        start = self.start + size if self.start < 0 else self.start
        end = size if self.end is None else self.end + size if self.end < 0 else self.end
        if not 0 <= start < end <= size:
            raise ArgumentError(f"slice {self.start}:{self.end} of an axis of {size} is empty or out of range "
                                f"(input {list(x)}, dim {self.dim}). Received: start={self.start}, end={self.end}",
                                "start")
        return axis, start, end

    def out_shape(self, inputs):
        x = inputs[0]
        axis, start, end = self.bounds(x)
        return x[:axis] + (end - start,) + x[axis + 1:]

    def receptive_field(self, inputs, fields):
        axis, start, _ = self.bounds(inputs[0])
        field = fields[0]
        spatial = field.source_axis(axis) - 1
        if spatial < 0:  # channels: every position sees what it saw
            return field
        ones = (1,) * len(field.size)
        return field.through_window(ones, ones, tuple(-start if a == spatial else 0 for a in range(len(ones))), ones)

    def receptive_field_formulas(self, inputs, fields):
        return []  # the field's size and jump stay; only its start moves

    def saved_for_backward(self, inputs, out, device):
        return []

    def formulas(self, inputs, out):
        axis, start, end = self.bounds(inputs[0])
        return [Formula("output", Sym("end", end) - Sym("start", start),
                        "channels" if axis == 0 else f"axis {axis + 1}", "a view of the input")]

    def to_torch(self, inputs):
        from ..torch.modules import Slice as Module
        axis, start, end = self.bounds(inputs[0])
        return Module(axis + 1, start, end)


@register
@dataclass(kw_only=True)
class ChannelShuffle(Layer):
    """nn.ChannelShuffle (Zhang et al., ShuffleNet 2018): channels [g, C/g] read as [C/g, g]; a copy."""
    type_name: ClassVar[str] = "channel_shuffle"
    groups: int

    def out_shape(self, inputs):
        x = inputs[0]
        if len(x) < 2:
            raise ArgumentError(f"channel_shuffle needs an input with channels and spatial axes. "
                                f"Received input shape {list(x)}")
        if self.groups < 1 or x[0] % self.groups:
            raise ArgumentError(f"groups must be positive and divide the input's channels ({x[0]}). "
                                f"Received: groups={self.groups}", "groups")
        return x

    def saved_for_backward(self, inputs, out, device):
        return []

    def formulas(self, inputs, out):
        return []  # the channels reordered

    def to_torch(self, inputs):
        from ..torch.modules import ChannelShuffle as Module
        return Module(self.groups)


@register
@dataclass(kw_only=True)
class Reshape(Layer):
    """``x.reshape(N, *shape)``: ``shape`` without the batch axis, at most one -1 (inferred).

    A view of a contiguous input (PyTorch copies a permuted one; the memory figure does not count that).
    The receptive field is kept where the spatial axes end the new shape unchanged (channels split or
    merged); otherwise each value sees the whole input, as after flatten."""
    type_name: ClassVar[str] = "reshape"
    memory: ClassVar[str] = "view"
    shape: list[int]

    def out_shape(self, inputs):
        x = inputs[0]
        total = prod(x)
        if not self.shape or self.shape.count(-1) > 1 or any(n < 1 and n != -1 for n in self.shape):
            raise ArgumentError(f"shape must be positive sizes with at most one -1 (no batch axis). "
                                f"Received: shape={self.shape}", "shape")
        known = prod(n for n in self.shape if n != -1)
        inferred = total // known if -1 in self.shape else known
        if known * (inferred if -1 in self.shape else 1) != total:
            raise ArgumentError(f"cannot reshape {list(x)} ({total:,} values) into {self.shape}", "shape")
        return tuple(inferred if n == -1 else n for n in self.shape)

    def receptive_field(self, inputs, fields):
        x, out, field = inputs[0], self.out_shape(inputs), fields[0]
        spatial = x[1:]
        if self._keeps_grid(x, out, field):
            return field
        return replace(field, layout=()).whole(self._grid(x, field))

    def _keeps_grid(self, x, out, field) -> bool:
        spatial = x[1:]
        return not field.layout and len(out) > len(spatial) and out[len(out) - len(spatial):] == spatial

    @staticmethod
    def _grid(x, field) -> tuple[int, ...]:
        """The input's spatial sizes in the field's axis order (undoing a permute)."""
        return tuple(n for _, n in sorted((field.source_axis(a), n) for a, n in enumerate(x) if field.source_axis(a)))

    def receptive_field_formulas(self, inputs, fields):
        x, field = inputs[0], fields[0]
        return [] if self._keeps_grid(x, self.out_shape(inputs), field) else field.whole_formulas(self._grid(x, field))

    def saved_for_backward(self, inputs, out, device):
        return []

    def formulas(self, inputs, out):
        x = inputs[0]
        given = [Sym(f"shape_{i}", n) for i, n in enumerate(self.shape) if n != -1]
        found = []
        for i, n in enumerate(self.shape):
            if n == -1:
                found.append(Formula("output", values(x) / product(given) if given else values(x), f"axis {i + 1}",
                                     "-1: the input's values over the other sizes"))
            else:
                found.append(Formula("output", Sym(f"shape_{i}", n), f"axis {i + 1}", "given"))
        return found

    def to_torch(self, inputs):
        from ..torch.modules import Reshape as Module
        return Module(self.out_shape(inputs))


@register
@dataclass(kw_only=True)
class Permute(Layer):
    """``torch.permute(x, dims)``. ``dims`` count the batch axis, as PyTorch's do, and keep it first
    (ConvNeXt's channels-last block is ``dims: [0, 2, 3, 1]``, back with ``[0, 3, 1, 2]``); or, one shorter,
    they leave it out, as a spec's shapes do (``[1, 2, 0]``, back with ``[2, 0, 1]``). A view.

    The receptive field of each position is unchanged; it records where the channels went, so that a
    linear or layer_norm on the last axis knows whether it mixes channels or positions. (Windowed layers
    take the spatial axes in the input's order: a conv on a permuted map is outside the field's model.)"""
    type_name: ClassVar[str] = "permute"
    memory: ClassVar[str] = "view"
    dims: list[int]

    def order(self, x: Shape) -> list[int]:
        """The dims as torch.permute takes them, batch axis first."""
        rank = len(x) + 1
        if len(self.dims) == len(x):  # written without the batch axis
            dims = [d % len(x) if -len(x) <= d < len(x) else d for d in self.dims]
            if sorted(dims) == list(range(len(x))):
                return [0] + [d + 1 for d in dims]
        dims = [d % rank if -rank <= d < rank else d for d in self.dims]
        if sorted(dims) != list(range(rank)) or dims[0] != 0:
            raise ArgumentError(f"dims must order the input's {len(x)} axes (no batch axis, as {list(range(len(x)))[::-1]}) "
                                f"or all {rank} with the batch (0) first, as torch.permute takes them. "
                                f"Received: dims={self.dims}", "dims")
        return dims

    def out_shape(self, inputs):
        x = inputs[0]
        return tuple(x[d - 1] for d in self.order(x)[1:])

    def receptive_field(self, inputs, fields):
        return fields[0].permuted([d - 1 for d in self.order(inputs[0])[1:]])

    def receptive_field_formulas(self, inputs, fields):
        return []  # the same field, its axes moved

    def saved_for_backward(self, inputs, out, device):
        return []

    def formulas(self, inputs, out):
        x = inputs[0]
        return [Formula("output", Sym(f"N_{d}", x[d - 1]), f"axis {i}", f"the input's axis {d}")
                for i, d in enumerate(self.order(x)[1:], 1) if d != i]

    def to_torch(self, inputs):
        from ..torch.modules import Permute as Module
        return Module(self.order(inputs[0]))


@register
@dataclass(kw_only=True)
class Unsupported(Layer):
    """A placeholder that `cnnspec import --allow-unsupported` keeps for an operation it cannot express (``what``):
    the operation's output ``shape`` (no batch axis) and nothing else. Its params, MACs and FLOPs count 0 and
    its receptive field is taken as its whole input (it may mix every position); every report warns of it, and
    it cannot be built."""
    type_name: ClassVar[str] = "unsupported"
    inputs_range: ClassVar[tuple[int, int | None]] = (1, None)
    shape: list[int]
    what: str = "an operation cnnspec cannot express"

    def out_shape(self, inputs):
        if not 1 <= len(self.shape) <= 4 or any(n < 1 for n in self.shape):
            raise ArgumentError(f"shape must be 1 to 4 positive sizes without the batch axis. Received: shape={self.shape}",
                                "shape")
        return tuple(self.shape)

    def warnings(self, inputs):
        return [f"unsupported: a placeholder for {self.what}; its params, MACs and FLOPs are not counted"]

    def receptive_field(self, inputs, fields):
        return fields[0].whole(inputs[0][1:]) if len(inputs[0]) > 1 else fields[0]

    def receptive_field_formulas(self, inputs, fields):
        return []

    def saved_for_backward(self, inputs, out, device):
        return []

    def formulas(self, inputs, out):
        return []  # nothing is known of it but its shape

    def to_torch(self, inputs):
        raise ArgumentError(f"cannot build an unsupported placeholder (for {self.what}): replace it with layers "
                            "cnnspec knows", "what")
