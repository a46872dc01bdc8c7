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

from ..formula import (AXES, Expr, Formula, Sym, ceil, floor, mac_flops, parameters, per_axis, positions, product,
                       times, values)
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


def kernel_symbols(kernel: tuple[int, ...]) -> list[Sym]:
    """K x K for a square kernel, as the course writes it; K_h x K_w otherwise."""
    if len(set(kernel)) == 1:
        return [Sym("K", kernel[0])] * len(kernel)
    return [Sym(f"K_{axis[0]}", k) for axis, k in zip(AXES[len(kernel)], kernel)]


def window_span(n: int, extra: int, kernel: int, padding: int, dilation: int) -> Expr:
    """``N + 2P - K`` (``N + 2P - D(K-1) - 1`` when dilated): the positions a window can move over."""
    padded = Sym("N", n) + (Sym("P_l", padding) + Sym("P_r", padding + extra) if extra else 2 * Sym("P", padding))
    if dilation == 1:
        return padded - Sym("K", kernel)
    return padded - Sym("D", dilation) * (Sym("K", kernel) - 1) - 1


def last_window_dropped(n: int, extra: int, kernel: int, stride: int, padding: int, dilation: int) -> bool:
    """With ceil_mode, PyTorch drops a last window that would start in the right padding (``conv_out``)."""
    rounded_up = -(-(n + extra + 2 * padding - effective_kernel(kernel, dilation)) // stride) + 1
    return (rounded_up - 1) * stride >= n + extra + padding


def window_size(n: int, extra: int, kernel: int, stride: int, padding: int, dilation: int, ceil_mode: bool) -> Expr:
    """``floor((N + 2P - D(K-1) - 1)/S) + 1`` (ceil with ceil_mode), as ``conv_out`` computes it."""
    size = (ceil if ceil_mode else floor)(window_span(n, extra, kernel, padding, dilation) / Sym("S", stride)) + 1
    return size - 1 if ceil_mode and last_window_dropped(n, extra, kernel, stride, padding, dilation) else size


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

    def size_formulas(self, spatial: tuple[int, ...], ceil_mode: bool = False) -> list[Formula]:
        columns = (spatial, self.extra_right or (0,) * len(spatial), self.kernel, self.stride, self.padding,
                   self.dilation)
        note = ""
        if ceil_mode:
            dropped = any(last_window_dropped(*numbers) for numbers in zip(*columns))
            note = "rounded up (ceil_mode)" + ("; PyTorch drops a last window that would start in the right "
                                               "padding" if dropped else "")
        return per_axis("output", lambda *numbers: window_size(*numbers, ceil_mode), *columns, note=note)

    def tiling_formulas(self, spatial: tuple[int, ...]) -> list[Formula]:
        """Where flooring drops input positions (``untiled_warning``): the exact quotient, the positions
        never seen, and the nearest input sizes that tile (AlexNet conv1: 54.25 on 224; 227 tiles)."""
        columns = (spatial, self.kernel, self.stride, self.padding, self.dilation)
        untiled = [untiled_warning(axis, *numbers) is not None for axis, *numbers in zip(AXES[len(spatial)], *columns)]

        def exact(n, k, s, p, d):
            return window_span(n, 0, k, p, d) / Sym("S", s) + 1

        def tiled(n, k, s, p, d):
            return exact(n + s - (n + 2 * p - effective_kernel(k, d)) % s, k, s, p, d)

        def dropped(n, k, s, p, d):
            out = conv_out(n, k, s, p, d)
            unseen = n + p - ((out - 1) * s + effective_kernel(k, d))
            return (f"floored to {out}: input position {n - 1}, the last, is never seen" if unseen == 1 else
                    f"floored to {out}: input positions {n - unseen}..{n - 1}, the last {unseen}, are never seen")

        def tiles(n, k, s, p, d):
            rest = (n + 2 * p - effective_kernel(k, d)) % s
            smaller = n - rest + 2 * p >= effective_kernel(k, d)
            return f"an input of {n + s - rest} tiles exactly" + (
                f"; so does {n - rest}, with {conv_out(n, k, s, p, d)} outputs" if smaller else "")
        return (per_axis("tiling", exact, *columns, changed=untiled, note=dropped)
                + per_axis("tiling", tiled, *columns, changed=untiled, note=tiles))

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
    for name, numbers in (("kernel_size", kernel), ("stride", strides), ("dilation", dilations)):
        if any(v < 1 for v in numbers):
            raise ArgumentError(f"{name} must be positive. Received: {name}={list(numbers)}", name)
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

    def formulas(self, inputs, out):
        x = inputs[0]
        w = self.window(x)
        c_in, c_out = Sym("C_in", x[0]), Sym("C_out", self.out_channels)
        per_output = product(kernel_symbols(w.kernel)) * c_in
        if self.groups != 1:
            per_output = per_output / Sym("groups", self.groups)
        macs = times(values(out, "_out", channels_last=True), per_output)
        return [Formula("output", c_out, "channels", "out_channels"), *w.size_formulas(x[1:]),
                *w.tiling_formulas(x[1:]), *parameters(per_output * c_out, c_out if self.bias else None),
                Formula("macs", macs, note="outputs x products per output"),
                mac_flops(macs.value, values(out, "_out", channels_last=True) if self.bias else None)]

    def receptive_field_formulas(self, inputs, fields):
        w = self.window(inputs[0])
        return fields[0].window_formulas(w.kernel, w.stride, w.dilation)

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

    def formulas(self, inputs, out):
        x = inputs[0]
        w = self.window(x)
        out_pad = as_tuple(self.output_padding, len(x) - 1, "output_padding")

        def size(n, k, s, p, d, op):
            grown = (Sym("N", n) - 1) * Sym("S", s) - 2 * Sym("P", p)
            grown = grown + Sym("K", k) if d == 1 else grown + Sym("D", d) * (Sym("K", k) - 1) + 1
            return grown + Sym("P_out", op) if op else grown
        c_in, c_out = Sym("C_in", x[0]), Sym("C_out", self.out_channels)
        per_input = c_out / Sym("groups", self.groups) if self.groups != 1 else c_out
        per_input = product([per_input, *kernel_symbols(w.kernel)])
        macs = times(values(x, "_in", channels_last=True), per_input)
        return [Formula("output", c_out, "channels", "out_channels"),
                *per_axis("output", size, x[1:], w.kernel, w.stride, w.padding, w.dilation, out_pad,
                          note="in general (N-1)S - 2P + D(K-1) + output_padding + 1"),
                *parameters(c_in * per_input, c_out if self.bias else None),
                Formula("macs", macs, note="every input value meets every weight of its filters"),
                mac_flops(macs.value, values(out, "_out", channels_last=True) if self.bias else None)]

    def receptive_field_formulas(self, inputs, fields):
        w = self.window(inputs[0])
        return fields[0].transpose_formulas(w.kernel, w.stride, w.dilation)

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

    def formulas(self, inputs, out):
        x = inputs[0]
        w = self.window(x)
        c_out = Sym("C_out", self.out_channels)
        per_output = product(kernel_symbols(w.kernel)) * Sym("C_in", x[0])
        macs = times(values(out, "_out", channels_last=True), per_output)
        return [Formula("output", c_out, "channels", "out_channels"), *w.size_formulas(x[1:]),
                *w.tiling_formulas(x[1:]),
                *parameters(times(positions(out, "_out"), per_output * c_out),
                            values(out, "_out", channels_last=True) if self.bias else None),
                Formula("macs", macs, note="as the convolution; a filter bank of its own at each position"),
                mac_flops(macs.value, values(out, "_out", channels_last=True) if self.bias else None)]

    def receptive_field_formulas(self, inputs, fields):
        w = self.window(inputs[0])
        return fields[0].window_formulas(w.kernel, w.stride, w.dilation)

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
