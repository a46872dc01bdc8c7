"""Normalization: batch, instance, layer and group norm, AlexNet's local response normalization, layer scale.

BatchNorm (Ioffe & Szegedy 2015): ``2*C`` parameters (gamma, beta) when affine; the running mean and
variance (and PyTorch's ``num_batches_tracked`` counter) are buffers, not parameters. At inference it
is one scale and one shift per value: 2 FLOPs.
LRN (Krizhevsky et al. 2012, section 3.3): ``b = a / (k + alpha/n * sum(a^2))^beta`` over ``size``
neighbouring channels: one square, ``size-1`` adds, then scale, add, power, divide: ``size + 4`` FLOPs.

Saved for backward: batch norm in training keeps its input and the batch's mean and inverse standard
deviation (save_mean, save_invstd: C values each, in the weights' dtype); its output is left to the
next layer. LRN is composite (torch.nn.functional.local_response_norm): it keeps the input, the
zero-padded squares the window averages, the base of the power and the divisor.
Layer norm (Ba et al. 2016) and group norm (Wu & He 2018) compute their statistics at inference too:
per value a sum for the mean, a subtraction, a square, a sum for the variance and a scaling by 1/std,
5 FLOPs, plus one per affine weight and one per bias (fvcore's handle counts 5 with affine, 4 without,
"a rough estimate"). Layer scale (Touvron et al. 2021, CaiT; ConvNeXt) is one learned factor per
channel: C parameters, one multiply per value.
"""
from __future__ import annotations

from dataclasses import dataclass
from math import prod
from typing import ClassVar

from ..formula import Formula, Num, Sym, times, values
from ..shape import ArgumentError, format_shape, numel
from .base import SAVES_WEIGHT, Layer, Traffic, register, saves_input, saves_own, spatial_ndim
from .reshape import batch_axis_dim

STATISTICS_FLOPS = 5
"""Per value: mean sum, subtraction, square, variance sum, scaling (see the module docstring)."""
STATISTICS_NOTE = "per value: mean, centring, square, variance and scaling (5), then the weight and the bias"


def statistics_dtype(affine: bool) -> str:
    """Mean and rstd come in the weights' dtype where there are weights (float32 for a bf16 input under
    autocast), else in the input's (measured in tests/test_contract.py)."""
    return "param" if affine else "input"


def statistics_formulas(n: Sym, affine: bool, bias: bool) -> list[Formula]:
    """The weight and bias of a layer or group norm over ``n`` values."""
    if not affine:
        return []
    if not bias:
        return [Formula("params", n, note="a weight per normalized value, no bias")]
    return [Formula("weights", n, note="a weight per normalized value"), Formula("params", 2 * n, note="weight and bias")]


@dataclass(kw_only=True)
class BatchNormNd(Layer):
    ndim: ClassVar[int | None] = None

    eps: float = 1e-5
    momentum: float = 0.1
    affine: bool = True
    track_running_stats: bool = True

    def out_shape(self, inputs):
        x = inputs[0]
        if self.ndim is not None and len(x) - 1 not in ((0, 1) if self.ndim == 1 else (self.ndim,)):
            expected = {1: "[C] or [C, L]", 2: "[C, H, W]", 3: "[C, D, H, W]"}[self.ndim]
            raise ArgumentError(f"{self.type_name} expects an input {expected}. Received input shape {list(x)}")
        return x

    def params(self, inputs):
        return 2 * inputs[0][0] if self.affine else 0

    def bias_params(self, inputs):
        return inputs[0][0] if self.affine else 0  # beta

    def buffers(self, inputs):
        return 2 * inputs[0][0] + 1 if self.track_running_stats else 0

    def integer_buffers(self, inputs):
        return 1 if self.track_running_stats else 0

    def flops(self, inputs, out):
        return 2 * numel(out)

    def traffic(self, inputs, out):
        """At inference it reads gamma, beta and the running mean and variance, never num_batches_tracked."""
        statistics = 2 * inputs[0][0] if self.track_running_stats else 0
        return Traffic(numel(inputs[0]), self.params(inputs) + statistics, numel(out))

    def saved_for_backward(self, inputs, out, device):
        return [saves_input(), saves_own("save_mean and save_invstd", 2 * inputs[0][0], "param", per_image=False)]

    def formulas(self, inputs, out):
        channels = Sym("C", inputs[0][0])
        found = [Formula("weights", channels, note="gamma, one scale per channel"),
                 Formula("params", 2 * channels, note="gamma and beta")] if self.affine else []
        if self.track_running_stats:
            found.append(Formula("buffers", 2 * channels + 1, note="running mean and variance, num_batches_tracked"))
        return found + [Formula("flops", times(values(out), Num(2)), note="a scale and a shift per value")]

    def to_torch(self, inputs):
        from torch import nn
        norm = (nn.BatchNorm1d, nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)[len(inputs[0]) - 1]
        return norm(inputs[0][0], eps=self.eps, momentum=self.momentum, affine=self.affine,
                    track_running_stats=self.track_running_stats)


@register
class BatchNorm(BatchNormNd):
    """Batch norm over the channel axis, rank from its input."""
    type_name: ClassVar[str] = "batchnorm"
    aliases: ClassVar[tuple[str, ...]] = ("batch_norm",)


@register
class BatchNorm1d(BatchNormNd):
    type_name: ClassVar[str] = "batchnorm1d"
    aliases: ClassVar[tuple[str, ...]] = ("batch_norm1d",)
    ndim: ClassVar[int | None] = 1


@register
class BatchNorm2d(BatchNormNd):
    type_name: ClassVar[str] = "batchnorm2d"
    aliases: ClassVar[tuple[str, ...]] = ("batch_norm2d",)
    ndim: ClassVar[int | None] = 2


@register
class BatchNorm3d(BatchNormNd):
    type_name: ClassVar[str] = "batchnorm3d"
    aliases: ClassVar[tuple[str, ...]] = ("batch_norm3d",)
    ndim: ClassVar[int | None] = 3


@dataclass(kw_only=True)
class InstanceNormNd(Layer):
    """nn.InstanceNorm (Ulyanov et al. 2016, style transfer): each channel of each sample normalized over its
    positions, as group norm with one group per channel. PyTorch's defaults differ from batch norm's: no affine
    weights and no running statistics unless asked. Its statistics span the whole map, so every output also
    sees the whole input (global context in the receptive field). With ``track_running_stats`` it normalizes
    with the running statistics at inference, as batch norm does: a scale and a shift per value, no context.

    Saved for backward (PyTorch runs batch norm on the input viewed as [1, N*C, ...]): the input, save_mean and
    save_invstd of C values per sample, and the weight, and the running statistics, repeated per sample."""
    ndim: ClassVar[int | None] = None

    eps: float = 1e-5
    momentum: float = 0.1
    affine: bool = False
    track_running_stats: bool = False

    def out_shape(self, inputs):
        spatial_ndim(self, inputs[0], self.ndim)
        return inputs[0]

    def params(self, inputs):
        return 2 * inputs[0][0] if self.affine else 0

    def bias_params(self, inputs):
        return inputs[0][0] if self.affine else 0

    def buffers(self, inputs):
        return 2 * inputs[0][0] + 1 if self.track_running_stats else 0

    def integer_buffers(self, inputs):
        return 1 if self.track_running_stats else 0

    def flops(self, inputs, out):
        return 2 * numel(out) if self.track_running_stats else (STATISTICS_FLOPS + 2 * self.affine) * numel(out)

    def traffic(self, inputs, out):
        """At inference it reads the running mean and variance where it keeps them, else computes statistics."""
        statistics = 2 * inputs[0][0] if self.track_running_stats else 0
        return Traffic(numel(inputs[0]), self.params(inputs) + statistics, numel(out))

    def receptive_field(self, inputs, fields):
        return fields[0] if self.track_running_stats else fields[0].seeing_everything()

    def receptive_field_formulas(self, inputs, fields):
        return []  # the same field, and with the sample's own statistics the whole input

    def saved_for_backward(self, inputs, out, device):
        channels, dtype = inputs[0][0], statistics_dtype(self.affine)
        repeated = int(self.affine) + 2 * int(self.track_running_stats)  # the weight; running mean and variance
        return [saves_input(), saves_own("save_mean and save_invstd", 2 * channels, dtype),
                *([saves_own("weight and running statistics, repeated per sample", repeated * channels, dtype)]
                  if repeated else [])]

    def formulas(self, inputs, out):
        channels = Sym("C", inputs[0][0])
        found = statistics_formulas(channels, self.affine, True)
        if self.track_running_stats:
            return found + [Formula("buffers", 2 * channels + 1, note="running mean and variance, num_batches_tracked"),
                            Formula("flops", times(values(out), Num(2)),
                                    note="with the running statistics: a scale and a shift per value")]
        return found + [Formula("flops", times(values(out), Num(STATISTICS_FLOPS) + 2 * self.affine),
                                note=STATISTICS_NOTE)]

    def to_torch(self, inputs):
        from torch import nn
        norm = (nn.InstanceNorm1d, nn.InstanceNorm2d, nn.InstanceNorm3d)[len(inputs[0]) - 2]
        return norm(inputs[0][0], eps=self.eps, momentum=self.momentum, affine=self.affine,
                    track_running_stats=self.track_running_stats)


@register
class InstanceNorm(InstanceNormNd):
    """Instance norm over the positions of each channel, rank from its input."""
    type_name: ClassVar[str] = "instance_norm"
    aliases: ClassVar[tuple[str, ...]] = ("instancenorm",)


@register
class InstanceNorm1d(InstanceNormNd):
    type_name: ClassVar[str] = "instance_norm1d"
    aliases: ClassVar[tuple[str, ...]] = ("instancenorm1d",)
    ndim: ClassVar[int | None] = 1


@register
class InstanceNorm2d(InstanceNormNd):
    type_name: ClassVar[str] = "instance_norm2d"
    aliases: ClassVar[tuple[str, ...]] = ("instancenorm2d",)
    ndim: ClassVar[int | None] = 2


@register
class InstanceNorm3d(InstanceNormNd):
    type_name: ClassVar[str] = "instance_norm3d"
    aliases: ClassVar[tuple[str, ...]] = ("instancenorm3d",)
    ndim: ClassVar[int | None] = 3


@register
@dataclass(kw_only=True)
class LocalResponseNorm(Layer):
    type_name: ClassVar[str] = "local_response_norm"
    aliases: ClassVar[tuple[str, ...]] = ("lrn",)

    size: int
    alpha: float = 1e-4
    beta: float = 0.75
    k: float = 1.0

    def out_shape(self, inputs):
        if self.size < 1:
            raise ArgumentError(f"size must be positive. Received: size={self.size}", "size")
        return inputs[0]

    def flops(self, inputs, out):
        return (self.size + 4) * numel(out)

    def saved_for_backward(self, inputs, out, device):
        x = inputs[0]
        squares = (x[0] + self.size - 1) * numel(x[1:])
        pooled, rest = self._autocast_dtypes(x, device)
        return [saves_input(), saves_own("padded squares", squares, pooled),
                saves_own("base of the power", numel(x), rest), saves_own("divisor", numel(x), rest)]

    def _autocast_dtypes(self, x, device) -> tuple[str, str]:
        """Under autocast, the squares' average and the power: on the CPU, avg_pool3d (for [C, H, W] and up)
        runs in float32 and so does all after it; on CUDA, pow runs in float32."""
        if device == "cpu":
            return ("float32", "float32") if len(x) > 2 else ("input", "input")
        return "input", "float32"

    def autocast_dtype(self, inputs, dtypes, low, device):
        return "fp32" if self._autocast_dtypes(inputs[0], device)[1] == "float32" else dtypes[0]

    def formulas(self, inputs, out):
        return [Formula("flops", times(values(out), Sym("n", self.size) + 4),
                        note="per value: n squares and adds over neighbouring channels, then scale, add, power, divide")]

    def to_torch(self, inputs):
        from torch import nn
        return nn.LocalResponseNorm(self.size, self.alpha, self.beta, self.k)


@register
@dataclass(kw_only=True)
class LayerNorm(Layer):
    """nn.LayerNorm: each sample normalized over its trailing ``normalized_shape`` axes (default: the last
    axis, as ConvNeXt's channels-last blocks use it), with a weight and a bias of that shape."""
    type_name: ClassVar[str] = "layer_norm"
    aliases: ClassVar[tuple[str, ...]] = ("layernorm",)

    normalized_shape: int | list[int] | None = None
    eps: float = 1e-5
    elementwise_affine: bool = True
    bias: bool = True

    def normalized(self, x) -> tuple[int, ...]:
        if self.normalized_shape is None:
            return x[-1:]
        shape = (self.normalized_shape,) if isinstance(self.normalized_shape, int) else tuple(self.normalized_shape)
        if not shape or len(shape) > len(x) or x[len(x) - len(shape):] != shape:
            raise ArgumentError(f"normalized_shape must be the trailing axes of the input {format_shape(x)}. "
                                f"Received: normalized_shape={self.normalized_shape}", "normalized_shape")
        return shape

    def out_shape(self, inputs):
        self.normalized(inputs[0])
        return inputs[0]

    def params(self, inputs):
        return prod(self.normalized(inputs[0])) * (1 + self.bias) if self.elementwise_affine else 0

    def bias_params(self, inputs):
        return prod(self.normalized(inputs[0])) if self.elementwise_affine and self.bias else 0

    def flops(self, inputs, out):
        return (STATISTICS_FLOPS + self.elementwise_affine * (1 + self.bias)) * numel(out)

    def receptive_field(self, inputs, fields):
        """Statistics over channels only keep each position's field; over a spatial axis they see all of it."""
        x, field = inputs[0], fields[0]
        if len(x) == 1 or all(field.source_axis(-1 - a) == 0 for a in range(len(self.normalized(x)))):
            return field
        return field.seeing_everything()

    def layout_warnings(self, inputs, fields):
        x = inputs[0]
        if len(x) == 1 or len(self.normalized(x)) > 1 or fields[0].source_axis(-1) == 0:
            return []
        return [f"layer_norm normalizes the last axis of {format_shape(x)}, a spatial one ({x[-1]} positions); "
                "over the channels of a channels-first map use layer_norm2d, or permute the channels last first"]

    def receptive_field_formulas(self, inputs, fields):
        return []  # the same field; statistics over positions add global context, not size

    def autocast_policy(self, inputs, device):
        return "fp32" if device == "cuda" else None  # CUDA's fp32 list; not on the CPU's

    def saved_for_backward(self, inputs, out, device):
        x = inputs[0]
        samples = prod(x[:len(x) - len(self.normalized(x))])
        return [saves_input(), *([SAVES_WEIGHT] if self.elementwise_affine else []),
                saves_own("mean and rstd", 2 * samples, statistics_dtype(self.elementwise_affine))]

    def formulas(self, inputs, out):
        n = Sym("N", prod(self.normalized(inputs[0])))
        return [*statistics_formulas(n, self.elementwise_affine, self.bias),
                Formula("flops", times(values(out), Num(STATISTICS_FLOPS) + self.elementwise_affine * (1 + self.bias)),
                        note=STATISTICS_NOTE)]

    def to_torch(self, inputs):
        from torch import nn
        return nn.LayerNorm(list(self.normalized(inputs[0])), eps=self.eps,
                            elementwise_affine=self.elementwise_affine, bias=self.bias)


@register
@dataclass(kw_only=True)
class LayerNorm2d(Layer):
    """torchvision's ConvNeXt LayerNorm2d: layer norm over the channels of [C, H, W] at each position
    (permute channels last, nn.LayerNorm(C), permute back); weight and bias of C each."""
    type_name: ClassVar[str] = "layer_norm2d"
    aliases: ClassVar[tuple[str, ...]] = ("layernorm2d",)

    eps: float = 1e-5
    elementwise_affine: bool = True
    bias: bool = True

    def out_shape(self, inputs):
        x = inputs[0]
        if len(x) != 3:
            raise ArgumentError(f"layer_norm2d expects an input [C, H, W]. Received input shape {list(x)}")
        return x

    def params(self, inputs):
        return inputs[0][0] * (1 + self.bias) if self.elementwise_affine else 0

    def bias_params(self, inputs):
        return inputs[0][0] if self.elementwise_affine and self.bias else 0

    def flops(self, inputs, out):
        return (STATISTICS_FLOPS + self.elementwise_affine * (1 + self.bias)) * numel(out)

    def autocast_policy(self, inputs, device):
        return "fp32" if device == "cuda" else None

    def saved_for_backward(self, inputs, out, device):
        """nn.LayerNorm on the channels-last view: the input (that view), the weight, mean and rstd per position."""
        x = inputs[0]
        return [saves_input(), *([SAVES_WEIGHT] if self.elementwise_affine else []),
                saves_own("mean and rstd", 2 * prod(x[1:]), statistics_dtype(self.elementwise_affine))]

    def formulas(self, inputs, out):
        return [*statistics_formulas(Sym("C", inputs[0][0]), self.elementwise_affine, self.bias),
                Formula("flops", times(values(out), Num(STATISTICS_FLOPS) + self.elementwise_affine * (1 + self.bias)),
                        note=STATISTICS_NOTE)]

    def to_torch(self, inputs):
        from ..torch.modules import LayerNorm2d as Module
        return Module(inputs[0][0], eps=self.eps, elementwise_affine=self.elementwise_affine, bias=self.bias)


@register
@dataclass(kw_only=True)
class GroupNorm(Layer):
    """nn.GroupNorm: the channels in ``num_groups`` groups, each normalized over its channels and every
    position; a weight and a bias per channel when affine. Its statistics span the whole map, so every
    output also sees the whole input (global context in the receptive field)."""
    type_name: ClassVar[str] = "group_norm"
    aliases: ClassVar[tuple[str, ...]] = ("groupnorm",)

    num_groups: int
    eps: float = 1e-5
    affine: bool = True

    def out_shape(self, inputs):
        x = inputs[0]
        if len(x) < 2:
            raise ArgumentError(f"group_norm needs an input with channels and spatial axes. "
                                f"Received input shape {list(x)}")
        if self.num_groups < 1 or x[0] % self.num_groups:
            raise ArgumentError(f"num_groups must be positive and divide the input's channels ({x[0]}). "
                                f"Received: num_groups={self.num_groups}", "num_groups")
        return x

    def params(self, inputs):
        return 2 * inputs[0][0] if self.affine else 0

    def bias_params(self, inputs):
        return inputs[0][0] if self.affine else 0

    def flops(self, inputs, out):
        return (STATISTICS_FLOPS + 2 * self.affine) * numel(out)

    def receptive_field(self, inputs, fields):
        return fields[0].seeing_everything()

    def receptive_field_formulas(self, inputs, fields):
        return []  # the same field, and the whole input through the statistics

    def autocast_policy(self, inputs, device):
        return "fp32" if device == "cuda" else None

    def saved_for_backward(self, inputs, out, device):
        return [saves_input(), *([SAVES_WEIGHT] if self.affine else []),
                saves_own("mean and rstd", 2 * self.num_groups, statistics_dtype(self.affine))]

    def formulas(self, inputs, out):
        return [*statistics_formulas(Sym("C", inputs[0][0]), self.affine, True),
                Formula("flops", times(values(out), Num(STATISTICS_FLOPS) + 2 * self.affine), note=STATISTICS_NOTE)]

    def to_torch(self, inputs):
        from torch import nn
        return nn.GroupNorm(self.num_groups, inputs[0][0], eps=self.eps, affine=self.affine)


@register
@dataclass(kw_only=True)
class LayerScale(Layer):
    """A learned factor per channel, initialized to ``init`` (ConvNeXt's CNBlock ``layer_scale``, CaiT's
    LayerScale). The channel axis is ``dim``, counted with the batch axis: 1, the channels of [C, H, W], as
    torchvision's ConvNeXt applies its [C, 1, 1] gamma; -1 for channels-last tokens [L, C] as CaiT does."""
    type_name: ClassVar[str] = "layer_scale"

    init: float = 1e-6
    dim: int = 1

    def out_shape(self, inputs):
        batch_axis_dim(self, "dim", self.dim, inputs[0])
        return inputs[0]

    def params(self, inputs):
        x = inputs[0]
        return x[batch_axis_dim(self, "dim", self.dim, x)]

    def flops(self, inputs, out):
        return numel(out)

    def saved_for_backward(self, inputs, out, device):
        return [saves_input(), SAVES_WEIGHT]  # x * gamma: each factor for the other's gradient

    def formulas(self, inputs, out):
        x = inputs[0]
        return [Formula("params", Sym("C", x[batch_axis_dim(self, "dim", self.dim, x)]), note="one factor per channel"),
                Formula("flops", times(values(out), Num(1)), note="one multiply per value")]

    def to_torch(self, inputs):
        from ..torch.modules import LayerScale as Module
        x = inputs[0]
        axis = batch_axis_dim(self, "dim", self.dim, x)
        return Module(tuple(n if a == axis else 1 for a, n in enumerate(x))[axis:], self.init)
