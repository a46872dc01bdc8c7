"""Pooling: max and average 1d/2d/3d, global and adaptive pooling.

Output size as for convolutions, with ``ceil_mode`` rounding up (torch.nn.MaxPool2d docs: the last
window must start inside the input or its left padding). Pooling has no parameters and no MACs;
FLOPs per output value: max pooling ``K-1`` comparisons, average pooling ``K`` (K-1 adds, 1 divide).
Adaptive pooling (torch.nn.AdaptiveAvgPool2d) uses windows from ``floor(i*N/O)`` to ``ceil((i+1)*N/O)``.

Saved for backward: max pooling keeps its input and the int64 indices of the maxima (one per output
value); average pooling its input; global average pooling (a mean) nothing, and so adaptive average
pooling to size 1, which PyTorch computes as a mean; global max pooling its indices. CPU autocast
runs the 3D max, average and adaptive pools in float32.
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from math import gcd, prod
from typing import ClassVar

from ..formula import Formula, Num, Sym, call, per_axis, positions, product, times, values
from ..shape import ArgumentError, Shape, as_tuple, effective_kernel, numel
from .base import Layer, check_positive_output, register, saves_input, saves_own, spatial_ndim
from .conv import Ints, Window, kernel_symbols, make_window


@dataclass(kw_only=True)
class PoolNd(Layer):
    ndim: ClassVar[int | None] = None
    kind: ClassVar[str]

    kernel_size: Ints
    stride: Ints | None = None
    padding: Ints = 0
    ceil_mode: bool = False

    def window(self, x: Shape) -> Window:
        stride = self.kernel_size if self.stride is None else self.stride  # PyTorch's default
        window = make_window(spatial_ndim(self, x, self.ndim), self.kernel_size, stride, self.padding,
                             getattr(self, "dilation", 1))
        if any(2 * p > effective_kernel(k, d) for p, k, d in zip(window.padding, window.kernel, window.dilation)):
            raise ArgumentError("padding must be at most half of the (dilated) kernel size, as in PyTorch. "
                                f"Received: padding={self.padding}, kernel_size={self.kernel_size}", "padding")
        return window

    def out_shape(self, inputs):
        x = inputs[0]
        return check_positive_output(self, x, (x[0], *self.window(x).outputs(x[1:], self.ceil_mode)))

    def flops(self, inputs, out):
        window = prod(self.window(inputs[0]).kernel)
        return numel(out) * (window - 1 if self.kind == "max" else window)

    def saved_for_backward(self, inputs, out, device):
        return [saves_input(), *([saves_own("indices", numel(out), "int64")] if self.kind == "max" else [])]

    def inference_tensors(self, inputs, out, device):
        return [saves_own("indices", numel(out), "int64")] if self.kind == "max" else []

    def autocast_policy(self, inputs, device):
        return "fp32" if device == "cpu" and len(inputs[0]) == 4 else None

    def receptive_field(self, inputs, fields):
        w = self.window(inputs[0])
        return fields[0].through_window(w.kernel, w.stride, w.padding, w.dilation)

    def warnings(self, inputs):
        return [] if self.ceil_mode else self.window(inputs[0]).warnings(inputs[0][1:])

    def formulas(self, inputs, out):
        x = inputs[0]
        w = self.window(x)
        window = product(kernel_symbols(w.kernel))
        work = (window - 1, "comparisons per output") if self.kind == "max" else (
            window, "adds and a divide per output")
        return [*w.size_formulas(x[1:], self.ceil_mode), *([] if self.ceil_mode else w.tiling_formulas(x[1:])),
                Formula("flops", times(values(out, "_out", channels_last=True), work[0]), note=work[1])]

    def receptive_field_formulas(self, inputs, fields):
        w = self.window(inputs[0])
        return fields[0].window_formulas(w.kernel, w.stride, w.dilation)

    def to_torch(self, inputs):
        from torch import nn
        ndim = len(inputs[0]) - 1
        if self.kind == "max":
            pool = (nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d)[ndim - 1]
            return pool(self.kernel_size, self.stride, self.padding, dilation=self.dilation,
                        ceil_mode=self.ceil_mode)
        pool = (nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d)[ndim - 1]
        return pool(self.kernel_size, self.stride, self.padding, ceil_mode=self.ceil_mode,
                    count_include_pad=self.count_include_pad)


@dataclass(kw_only=True)
class MaxPoolNd(PoolNd):
    kind: ClassVar[str] = "max"
    dilation: Ints = 1


@dataclass(kw_only=True)
class AvgPoolNd(PoolNd):
    kind: ClassVar[str] = "avg"
    count_include_pad: bool = True

    def out_shape(self, inputs):
        x = inputs[0]
        kernel = self.window(x).kernel
        if len(x) == 4 and any(n < k for n, k in zip(x[1:], kernel)):  # torch's pool3d_shape_check for avg only
            raise ArgumentError("3D average pooling needs every input size at least the kernel size, padding not "
                                f"counted, as PyTorch's avg_pool3d checks. Received input shape {list(x)}, "
                                f"kernel_size={self.kernel_size}", "kernel_size")
        return super().out_shape(inputs)


def _pool_types():
    for ndim in (None, 1, 2, 3):
        suffix = f"{ndim}d" if ndim else ""
        for base, prefix in ((MaxPoolNd, "maxpool"), (AvgPoolNd, "avgpool")):
            name = prefix + suffix
            cls = type(name, (base,), {
                "type_name": name, "ndim": ndim,
                "aliases": (f"{prefix[:3]}_pool{suffix}",), "__module__": __name__,
                "__doc__": f"{base.kind.capitalize()} pooling" + (f" over {ndim} spatial axes." if ndim else
                                                                  ", rank from its input.")})
            register(cls)


_pool_types()


@dataclass(kw_only=True)
class GlobalPool(Layer):
    """Pool every spatial position into one value per channel: [C, H, W] -> [C] (or [C, 1, 1])."""
    kind: ClassVar[str]
    keepdim: bool = False

    def out_shape(self, inputs):
        x = inputs[0]
        spatial_ndim(self, x, None)
        return (x[0], *(1,) * (len(x) - 1)) if self.keepdim else (x[0],)

    def flops(self, inputs, out):
        x = inputs[0]
        return numel(x) if self.kind == "avg" else numel(x) - x[0]

    def saved_for_backward(self, inputs, out, device):
        return [saves_own("indices", numel(out), "int64")] if self.kind == "max" else []

    def receptive_field(self, inputs, fields):
        return fields[0].whole(inputs[0][1:])

    def formulas(self, inputs, out):
        x = inputs[0]
        channels, window = Sym("C", x[0]), positions(x, "_in")
        flops = Formula("flops", times(channels, window), note="H x W - 1 adds and a divide per channel") if \
            self.kind == "avg" else Formula("flops", times(channels, window - 1), note="H x W - 1 comparisons per channel")
        kept = per_axis("output", lambda n: Num(1), x[1:], note="keepdim") if self.keepdim else []
        return [Formula("output", channels, "channels", "one value per channel"), *kept, flops]

    def receptive_field_formulas(self, inputs, fields):
        return fields[0].whole_formulas(inputs[0][1:])

    def to_torch(self, inputs):
        from ..torch.modules import GlobalPool as Module
        return Module(self.kind, self.keepdim, spatial_axes=len(inputs[0]) - 1)


@register
class GlobalAvgPool(GlobalPool):
    type_name: ClassVar[str] = "global_avg_pool"
    kind: ClassVar[str] = "avg"


@register
class GlobalMaxPool(GlobalPool):
    type_name: ClassVar[str] = "global_max_pool"
    kind: ClassVar[str] = "max"


def adaptive_windows(n: int, o: int) -> tuple[int, int]:
    """Largest and total window length when adaptive pooling takes ``n`` positions to ``o``.

    PyTorch's window ``i`` runs from ``floor(i*n/o)`` to ``ceil((i+1)*n/o)``. In closed form, so that a
    huge output_size costs nothing: the total is ``n + o - gcd(n, o)``; the largest is ``ceil(n/o)``,
    one more when ``n mod o`` exceeds ``gcd(n, o)`` (checked against the windows in the tests)."""
    g = gcd(n, o)
    return -(-n // o) + (n % o > g), n + o - g


@dataclass(kw_only=True)
class AdaptivePoolNd(Layer):
    """PyTorch's adaptive pooling to a fixed ``output_size`` (None keeps that axis)."""
    kind: ClassVar[str]
    ndim: ClassVar[int | None] = None

    output_size: int | list[int | None]

    def _sizes(self, x: Shape) -> tuple[int, ...]:
        ndim = spatial_ndim(self, x, self.ndim)
        size = self.output_size
        if isinstance(size, list):
            size = [n if o is None else o for n, o in zip(x[1:], size)] if len(size) == ndim else size
        sizes = as_tuple(size, ndim, "output_size")
        if any(o < 1 for o in sizes):
            raise ArgumentError(f"output_size must be positive. Received: output_size={self.output_size}",
                                "output_size")
        return sizes

    def out_shape(self, inputs):
        x = inputs[0]
        return (x[0], *self._sizes(x))

    def saved_for_backward(self, inputs, out, device):
        if self.kind == "max":
            return [saves_input(), saves_own("indices", numel(out), "int64")]
        return [] if numel(out[1:]) == 1 else [saves_input()]

    def inference_tensors(self, inputs, out, device):
        return [saves_own("indices", numel(out), "int64")] if self.kind == "max" else []

    def autocast_policy(self, inputs, device):
        return "fp32" if device == "cpu" and len(inputs[0]) == 4 else None

    def flops(self, inputs, out):
        x = inputs[0]
        reads = x[0] * prod(adaptive_windows(n, o)[1] for n, o in zip(x[1:], out[1:]))
        return reads if self.kind == "avg" else reads - numel(out)

    def receptive_field(self, inputs, fields):
        x = inputs[0]
        out = self._sizes(x)
        kernel = tuple(adaptive_windows(n, o)[0] for n, o in zip(x[1:], out))
        stride = tuple(Fraction(n, o) for n, o in zip(x[1:], out))
        return fields[0].through_window(kernel, stride, (0,) * len(out), (1,) * len(out)).broadcast_from(x[1:], out)

    def formulas(self, inputs, out):
        x = inputs[0]
        reads = times(Sym("C", x[0]), product([Sym("N", n) + Sym("O", o) - call("gcd", Sym("N", n), Sym("O", o))
                                               for n, o in zip(x[1:], out[1:])]))
        flops = Formula("flops", reads, note="every value each window reads (windows overlap where N mod O != 0)") \
            if self.kind == "avg" else Formula("flops", reads - values(out, "_out", channels_last=True),
                                               note="K-1 comparisons per window")
        return [*per_axis("output", lambda o: Sym("O", o), out[1:], note="output_size"), flops]

    def receptive_field_formulas(self, inputs, fields):
        x = inputs[0]
        out = self._sizes(x)
        kernel = tuple(adaptive_windows(n, o)[0] for n, o in zip(x[1:], out))
        stride = tuple(Fraction(n, o) for n, o in zip(x[1:], out))
        return fields[0].window_formulas(kernel, stride, (1,) * len(out))

    def warnings(self, inputs):
        x = inputs[0]
        pairs = dict.fromkeys(zip(x[1:], self._sizes(x)))  # once per distinct pair of sizes
        return [f"adaptive pooling of {n} to {o} repeats input positions (it upsamples)" if n < o else
                f"adaptive pooling of {n} to {o} uses windows of unequal size" for n, o in pairs if n % o]

    def to_torch(self, inputs):
        from torch import nn
        ndim = len(inputs[0]) - 1
        if self.kind == "avg":
            return (nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d)[ndim - 1](self.output_size)
        return (nn.AdaptiveMaxPool1d, nn.AdaptiveMaxPool2d, nn.AdaptiveMaxPool3d)[ndim - 1](self.output_size)


def _adaptive_types():
    for ndim in (None, 1, 2, 3):
        suffix = f"{ndim}d" if ndim else ""
        for kind in ("avg", "max"):
            name = f"adaptive_{kind}_pool{suffix}"
            register(type(name, (AdaptivePoolNd,), {
                "type_name": name, "kind": kind, "ndim": ndim,
                "aliases": (f"adaptive{kind}pool{suffix}",), "__module__": __name__}))


_adaptive_types()
