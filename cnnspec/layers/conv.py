"""Convolutions: conv 1d/2d/3d, transposed conv, locally connected (no weight sharing).

Output size: ``floor((N + 2P - D*(K-1) - 1) / S) + 1`` (torch.nn.Conv2d docs; cs231n).
Params: ``K*C_in/groups*C_out + C_out`` (bias one per filter). MACs: every output value takes
``K*C_in/groups`` products, as fvcore's ``conv_flop_count`` and torchvision's table count them.
A locally connected layer (Taigman et al., DeepFace 2014; Keras LocallyConnected2D) has the MACs
of a convolution but its own filter bank at every output position.

Saved for backward: a convolution keeps its input and its weight (convolution_backward needs both);
under autocast these are the lower-precision copies. Autocast runs convolutions in lower precision.
"""
from __future__ import annotations

from dataclasses import dataclass
from math import prod
from typing import ClassVar, Literal

from ..receptive import ReceptiveField
from ..shape import (ArgumentError, Shape, as_tuple, conv_out, conv_transpose_out, effective_kernel,
                     exact_conv_out, numel, same_padding)
from .base import SAVES_WEIGHT, Layer, check_positive_output, register, saves_input, saves_own, spatial_ndim

Ints = int | list[int]


def untiled_warning(axis: str, n: int, kernel: int, stride: int, padding: int, dilation: int) -> str | None:
    """Warn when flooring drops real input values, not just padding (AlexNet conv1 on 224).

    A stride longer than the window skips ``stride - window`` positions after every window by design
    (ResNet's 1x1 stride-2 projection); a trailing gap no longer than that is not a flooring loss.
    """
    out = conv_out(n, kernel, stride, padding, dilation)
    window = effective_kernel(kernel, dilation)
    unseen = n + 2 * padding - ((out - 1) * stride + window)
    if unseen <= padding + max(0, stride - window):
        return None
    exact = exact_conv_out(n, kernel, stride, padding, dilation)
    return (f"{axis} {n} is not tiled by kernel {kernel}, stride {stride}, padding {padding}: "
            f"({n} + 2*{padding} - {effective_kernel(kernel, dilation)})/{stride} + 1 = {float(exact):g}, "
            f"floored to {out}; the last {unseen - padding} input position(s) are never seen")


AXES = {1: ("length",), 2: ("height", "width"), 3: ("depth", "height", "width")}


@dataclass(kw_only=True)
class Window:
    """Per-axis kernel, stride, padding and dilation shared by convolutions and pooling."""
    kernel: tuple[int, ...]
    stride: tuple[int, ...]
    padding: tuple[int, ...]  # left padding; PyTorch pads the same on the right
    dilation: tuple[int, ...]
    extra_right: tuple[int, ...] = ()  # 'same' with an even kernel pads one more on the right

    def outputs(self, spatial: tuple[int, ...], ceil_mode: bool = False) -> tuple[int, ...]:
        extra = self.extra_right or (0,) * len(spatial)
        return tuple(conv_out(n + e, k, s, p, d, ceil_mode) for n, e, k, s, p, d in
                     zip(spatial, extra, self.kernel, self.stride, self.padding, self.dilation))

    def warnings(self, spatial: tuple[int, ...]) -> list[str]:
        found = [untiled_warning(axis, n, k, s, p, d) for axis, n, k, s, p, d in
                 zip(AXES[len(spatial)], spatial, self.kernel, self.stride, self.padding, self.dilation)]
        found += [f"kernel {k} (dilated: {effective_kernel(k, d)}) is larger than its input {axis} {n}"
                  for axis, n, k, d in zip(AXES[len(spatial)], spatial, self.kernel, self.dilation)
                  if effective_kernel(k, d) > n]
        return [w for w in found if w]


def cached_window(layer: Layer, x: Shape, build) -> Window:
    """The layer's window for input ``x``, computed once: shape, counts and field all ask for it."""
    cache = layer.__dict__.setdefault("_windows", {})
    if x not in cache:
        cache[x] = build()
    return cache[x]


def make_window(ndim: int, kernel_size, stride, padding, dilation=1) -> Window:
    """Per-axis window from PyTorch-style arguments (ints, lists, 'same' or 'valid')."""
    kernel = as_tuple(kernel_size, ndim, "kernel_size")
    strides = as_tuple(stride, ndim, "stride")
    dilations = as_tuple(dilation, ndim, "dilation")
    for name, values in (("kernel_size", kernel), ("stride", strides), ("dilation", dilations)):
        if any(v < 1 for v in values):
            raise ArgumentError(f"{name} must be positive. Received: {name}={list(values)}", name)
    if padding == "valid":
        return Window(kernel=kernel, stride=strides, padding=(0,) * ndim, dilation=dilations)
    if padding == "same":
        if any(s != 1 for s in strides):
            raise ArgumentError("padding='same' is not supported for strided convolutions (as in PyTorch); "
                                f"write the padding as a number. Received: stride={stride}", "padding")
        pads = [same_padding(k, d) for k, d in zip(kernel, dilations)]
        return Window(kernel=kernel, stride=strides, padding=tuple(left for left, _ in pads),
                      dilation=dilations, extra_right=tuple(right - left for left, right in pads))
    pad = as_tuple(padding, ndim, "padding")
    if any(p < 0 for p in pad):
        raise ArgumentError(f"padding must not be negative. Received: padding={padding}", "padding")
    return Window(kernel=kernel, stride=strides, padding=pad, dilation=dilations)


@dataclass(kw_only=True)
class ConvNd(Layer):
    """Convolution over 1, 2 or 3 spatial axes; `conv` picks the rank from its input."""
    type_name: ClassVar[str] = "conv"
    ndim: ClassVar[int | None] = None
    autocast: ClassVar[str | None] = "lower"

    out_channels: int
    kernel_size: Ints
    stride: Ints = 1
    padding: Ints | Literal["same", "valid"] = 0
    dilation: Ints = 1
    groups: int = 1
    bias: bool = True

    def window(self, x: Shape) -> Window:
        return cached_window(self, x, lambda: make_window(spatial_ndim(self, x, self.ndim), self.kernel_size,
                                                          self.stride, self.padding, self.dilation))

    def _check_groups(self, in_channels: int):
        if self.groups < 1 or in_channels % self.groups or self.out_channels % self.groups:
            raise ArgumentError("in_channels and out_channels must both be divisible by groups. "
                                f"Received: groups={self.groups}, in_channels={in_channels}, "
                                f"out_channels={self.out_channels}", "groups")

    def out_shape(self, inputs):
        x = inputs[0]
        window = self.window(x)
        self._check_groups(x[0])
        if self.out_channels < 1:
            raise ArgumentError(f"out_channels must be positive. Received: out_channels={self.out_channels}",
                                "out_channels")
        return check_positive_output(self, x, (self.out_channels, *window.outputs(x[1:])))

    def weights_per_output(self, x: Shape) -> int:
        return x[0] // self.groups * prod(self.window(x).kernel)

    def params(self, inputs):
        return self.out_channels * self.weights_per_output(inputs[0]) + self.bias_params(inputs)

    def bias_params(self, inputs):
        return self.out_channels if self.bias else 0

    def macs(self, inputs, out):
        return numel(out) * self.weights_per_output(inputs[0])

    def flops(self, inputs, out):
        return 2 * self.macs(inputs, out) + (numel(out) if self.bias else 0)

    def saved_for_backward(self, inputs, out, device):
        x, extra = inputs[0], self.window(inputs[0]).extra_right
        if any(extra):  # 'same' with an even kernel: PyTorch pads a copy on the right, then convolves it
            padded = x[0] * prod(n + e for n, e in zip(x[1:], extra))
            return [saves_own("zero-padded input", padded, "low"), SAVES_WEIGHT]
        return [saves_input(), SAVES_WEIGHT]

    def receptive_field(self, inputs, fields):
        w = self.window(inputs[0])
        return fields[0].through_window(w.kernel, w.stride, w.padding, w.dilation)

    def warnings(self, inputs):
        return self.window(inputs[0]).warnings(inputs[0][1:])

    def to_torch(self, inputs):
        from torch import nn
        ndim = len(inputs[0]) - 1
        conv = (nn.Conv1d, nn.Conv2d, nn.Conv3d)[ndim - 1]
        return conv(inputs[0][0], self.out_channels, self.kernel_size, stride=self.stride,
                    padding=self.padding, dilation=self.dilation, groups=self.groups, bias=self.bias)


@register
class Conv(ConvNd):
    pass


@register
class Conv1d(ConvNd):
    type_name: ClassVar[str] = "conv1d"
    ndim: ClassVar[int | None] = 1


@register
class Conv2d(ConvNd):
    type_name: ClassVar[str] = "conv2d"
    ndim: ClassVar[int | None] = 2


@register
class Conv3d(ConvNd):
    type_name: ClassVar[str] = "conv3d"
    ndim: ClassVar[int | None] = 3


@dataclass(kw_only=True)
class ConvTransposeNd(Layer):
    """Transposed ("fractionally strided") convolution; the U-Net up-convolution.

    Output: ``(N-1)*S - 2P + D*(K-1) + output_padding + 1``. MACs count every input value times
    every weight it meets, ``N_in * C_in * C_out/groups * K`` (fvcore's and PyTorch's count).
    """
    type_name: ClassVar[str] = "conv_transpose"
    ndim: ClassVar[int | None] = None
    autocast: ClassVar[str | None] = "lower"

    out_channels: int
    kernel_size: Ints
    stride: Ints = 1
    padding: Ints = 0
    output_padding: Ints = 0
    dilation: Ints = 1
    groups: int = 1
    bias: bool = True

    def window(self, x: Shape) -> Window:
        return make_window(spatial_ndim(self, x, self.ndim), self.kernel_size, self.stride, self.padding,
                           self.dilation)

    def out_shape(self, inputs):
        x = inputs[0]
        w = self.window(x)
        out_pad = as_tuple(self.output_padding, len(x) - 1, "output_padding")
        if any(not 0 <= op < max(s, d) for op, s, d in zip(out_pad, w.stride, w.dilation)):
            raise ArgumentError("output_padding must be smaller than either stride or dilation. "
                                f"Received: output_padding={self.output_padding}, stride={self.stride}",
                                "output_padding")
        ConvNd._check_groups(self, x[0])
        spatial = tuple(conv_transpose_out(n, k, s, p, d, op) for n, k, s, p, d, op in
                        zip(x[1:], w.kernel, w.stride, w.padding, w.dilation, out_pad))
        return check_positive_output(self, x, (self.out_channels, *spatial))

    def params(self, inputs):
        x = inputs[0]
        weights = x[0] * self.out_channels // self.groups * prod(self.window(x).kernel)
        return weights + self.bias_params(inputs)

    def bias_params(self, inputs):
        return self.out_channels if self.bias else 0

    def macs(self, inputs, out):
        x = inputs[0]
        return numel(x) * self.out_channels // self.groups * prod(self.window(x).kernel)

    def flops(self, inputs, out):
        return 2 * self.macs(inputs, out) + (numel(out) if self.bias else 0)

    def saved_for_backward(self, inputs, out, device):
        return [saves_input(), SAVES_WEIGHT]

    def receptive_field(self, inputs, fields):
        w = self.window(inputs[0])
        return fields[0].through_transpose(w.kernel, w.stride, w.padding, w.dilation)

    def to_torch(self, inputs):
        from torch import nn
        ndim = len(inputs[0]) - 1
        conv = (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)[ndim - 1]
        return conv(inputs[0][0], self.out_channels, self.kernel_size, stride=self.stride,
                    padding=self.padding, output_padding=self.output_padding, groups=self.groups,
                    bias=self.bias, dilation=self.dilation)


@register
class ConvTranspose(ConvTransposeNd):
    pass


@register
class ConvTranspose1d(ConvTransposeNd):
    type_name: ClassVar[str] = "conv_transpose1d"
    aliases: ClassVar[tuple[str, ...]] = ("convtranspose1d",)
    ndim: ClassVar[int | None] = 1


@register
class ConvTranspose2d(ConvTransposeNd):
    type_name: ClassVar[str] = "conv_transpose2d"
    aliases: ClassVar[tuple[str, ...]] = ("convtranspose2d",)
    ndim: ClassVar[int | None] = 2


@register
class ConvTranspose3d(ConvTransposeNd):
    type_name: ClassVar[str] = "conv_transpose3d"
    aliases: ClassVar[tuple[str, ...]] = ("convtranspose3d",)
    ndim: ClassVar[int | None] = 3


@dataclass(kw_only=True)
class LocallyConnectedNd(Layer):
    """A convolution without weight sharing: a separate filter bank at every output position.

    Params: ``positions * (K*C_in*C_out + C_out)`` with a bias per position and filter, as Keras'
    LocallyConnected2D; MACs as the equivalent convolution. Built as unfold, then one batched matrix
    product per position (autocast runs it in lower precision) and the bias add, so backward keeps
    the unfolded patches and the weight, and a bias in float32 promotes the output to float32.
    """
    ndim: ClassVar[int]
    autocast: ClassVar[str | None] = "lower"

    out_channels: int
    kernel_size: Ints
    stride: Ints = 1
    padding: Ints = 0
    bias: bool = True

    def window(self, x: Shape) -> Window:
        return make_window(spatial_ndim(self, x, self.ndim), self.kernel_size, self.stride, self.padding)

    def out_shape(self, inputs):
        x = inputs[0]
        return check_positive_output(self, x, (self.out_channels, *self.window(x).outputs(x[1:])))

    def params(self, inputs):
        x = inputs[0]
        positions = numel(self.out_shape(inputs)[1:])
        weights = positions * x[0] * prod(self.window(x).kernel) * self.out_channels
        return weights + self.bias_params(inputs)

    def bias_params(self, inputs):
        return numel(self.out_shape(inputs)) if self.bias else 0

    def saved_for_backward(self, inputs, out, device):
        patches = inputs[0][0] * prod(self.window(inputs[0]).kernel) * numel(out[1:])
        return [saves_own("unfolded patches", patches, "low"), SAVES_WEIGHT]

    def autocast_policy(self, inputs, device):
        return None  # the input is unfolded as it is; the matrix product's operands are cast

    def autocast_dtype(self, inputs, dtypes, low, device):
        return "fp32" if self.bias else low

    def autocast_params(self, inputs):
        return self.params(inputs) - self.bias_params(inputs)  # the bias is added after, uncast

    def macs(self, inputs, out):
        return numel(out) * inputs[0][0] * prod(self.window(inputs[0]).kernel)

    def flops(self, inputs, out):
        return 2 * self.macs(inputs, out) + (numel(out) if self.bias else 0)

    def receptive_field(self, inputs, fields):
        w = self.window(inputs[0])
        return fields[0].through_window(w.kernel, w.stride, w.padding, w.dilation)

    def warnings(self, inputs):
        return self.window(inputs[0]).warnings(inputs[0][1:])

    def to_torch(self, inputs):
        from ..torch.modules import LocallyConnected
        x = inputs[0]
        w = self.window(x)
        return LocallyConnected(x, self.out_shape(inputs), w.kernel, w.stride, w.padding, self.bias)


@register
class LocallyConnected1d(LocallyConnectedNd):
    type_name: ClassVar[str] = "locally_connected1d"
    ndim: ClassVar[int] = 1


@register
class LocallyConnected2d(LocallyConnectedNd):
    type_name: ClassVar[str] = "locally_connected2d"
    ndim: ClassVar[int] = 2
