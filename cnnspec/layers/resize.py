"""Layers that change spatial size without weights: upsample, padding, center_crop (U-Net), pixel (un)shuffle.

Upsample (torch.nn.Upsample): ``floor(N * scale_factor)`` or a fixed ``size``; FLOPs per output value:
nearest 0, (bi/tri)linear ``2^d`` products and ``2^d - 1`` adds. Ronneberger et al. (U-Net, 2015)
crop the contracting path's feature map to the expanding path's size before concatenation:
``center_crop`` with a second input takes that input's spatial size.

None of them keeps a tensor for backward (only sizes) but reflection and replication padding, whose backward
PyTorch writes as a function of the input (it keeps it). CUDA autocast runs upsampling in float32.
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from math import floor
from typing import ClassVar, Literal

from .. import formula
from ..formula import Formula, Sym, per_axis, times, values
from ..shape import ArgumentError, Shape, as_tuple, numel
from .base import Layer, check_positive_output, register, saves_input, spatial_ndim

Modes = Literal["nearest", "linear", "bilinear", "trilinear"]
MAX_SCALE = 1_000_000
"""A scale factor above it (1e300) is a typo, not a network: refused rather than turned into a 300-digit size."""


@register
@dataclass(kw_only=True)
class Upsample(Layer):
    type_name: ClassVar[str] = "upsample"
    scale_factor: float | list[float] | None = None
    size: int | list[int] | None = None
    mode: Modes = "nearest"
    align_corners: bool | None = None

    def _scales(self, x: Shape) -> tuple[Fraction, ...]:
        ndim = spatial_ndim(self, x, None)
        if (self.scale_factor is None) == (self.size is None):
            raise ArgumentError("upsample needs exactly one of scale_factor and size", "scale_factor")
        if self.size is not None:
            size = as_tuple(self.size, ndim, "size")
            if any(o <= 0 for o in size):
                raise ArgumentError(f"size must be positive. Received: size={self.size}", "size")
            return tuple(Fraction(o, n) for o, n in zip(size, x[1:]))
        factors = self.scale_factor if isinstance(self.scale_factor, list) else [self.scale_factor] * ndim
        if len(factors) != ndim or not all(0 < f < MAX_SCALE for f in factors):  # also NaN and infinity
            raise ArgumentError(f"scale_factor must be a positive number below {MAX_SCALE:,} or a list of {ndim}. "
                                f"Received: scale_factor={self.scale_factor}", "scale_factor")
        return tuple(Fraction(f).limit_denominator(1000) for f in factors)

    def out_shape(self, inputs):
        x = inputs[0]
        scales = self._scales(x)
        if self.mode != "nearest" and {"linear": 1, "bilinear": 2, "trilinear": 3}[self.mode] != len(x) - 1:
            raise ArgumentError(f"mode '{self.mode}' does not fit input {list(x)}", "mode")
        if self.size is not None:
            return (x[0], *as_tuple(self.size, len(x) - 1, "size"))
        return check_positive_output(self, x, (x[0], *(floor(n * f) for n, f in zip(x[1:], scales))))

    def saved_for_backward(self, inputs, out, device):
        return []

    def autocast_policy(self, inputs, device):
        return "fp32" if device == "cuda" else None

    def flops(self, inputs, out):
        if self.mode == "nearest":
            return 0
        taps = 2 ** (len(out) - 1)
        return (2 * taps - 1) * numel(out)

    def receptive_field(self, inputs, fields):
        x = inputs[0]
        field = fields[0].through_upsample(self._scales(x), 1 if self.mode == "nearest" else 2)
        return field.broadcast_from(x[1:], self.out_shape(inputs)[1:])

    def formulas(self, inputs, out):
        x = inputs[0]
        if self.size is not None:
            found = per_axis("output", lambda o: Sym("size", o), out[1:], note="size")
        else:
            found = per_axis("output", lambda n, f: formula.floor(Sym("N", n) * Sym("scale", f)), x[1:], self._scales(x),
                             note="scale_factor")
        if self.mode != "nearest":
            taps = Sym("T", 2 ** (len(out) - 1))
            found.append(Formula("flops", times(values(out), 2 * taps - 1),
                                 note="T = 2^d neighbours: T products and T - 1 adds per output value"))
        return found

    def receptive_field_formulas(self, inputs, fields):
        return fields[0].upsample_formulas(self._scales(inputs[0]), 1 if self.mode == "nearest" else 2)

    def to_torch(self, inputs):
        from torch import nn
        scale = tuple(self.scale_factor) if isinstance(self.scale_factor, list) else self.scale_factor
        return nn.Upsample(size=self.size, scale_factor=scale, mode=self.mode,
                           align_corners=self.align_corners)


@dataclass(kw_only=True)
class Pad(Layer):
    """Pad each spatial axis; ``padding`` as torch.nn's padding modules take it: an int, or (left, right,
    top, bottom, ...) with the last axis first."""
    ndim: ClassVar[int | None] = None
    modules: ClassVar[tuple[str, str, str]]  # torch.nn's module per rank
    padding: int | list[int]

    def _pads(self, x: Shape) -> list[tuple[int, int]]:
        ndim = spatial_ndim(self, x, self.ndim)
        flat = as_tuple(self.padding, 2 * ndim, "padding")
        pairs = [(flat[2 * i], flat[2 * i + 1]) for i in range(ndim)]
        return pairs[::-1]  # first spatial axis first

    def out_shape(self, inputs):
        x = inputs[0]
        return check_positive_output(self, x, (x[0], *(n + a + b for n, (a, b) in zip(x[1:], self._pads(x)))))

    def saved_for_backward(self, inputs, out, device):
        return []

    def receptive_field(self, inputs, fields):
        pads = self._pads(inputs[0])
        ones = (1,) * len(pads)
        return fields[0].through_window(ones, ones, tuple(a for a, _ in pads), ones)

    def formulas(self, inputs, out):
        x = inputs[0]
        pads = self._pads(x)
        return per_axis("output", lambda n, a, b: Sym("N", n) + Sym("P_l", a) + Sym("P_r", b), x[1:],
                        [a for a, _ in pads], [b for _, b in pads], changed=[a + b != 0 for a, b in pads])

    def receptive_field_formulas(self, inputs, fields):
        return []  # padding moves the field's start, not its size or jump

    def to_torch(self, inputs):
        from torch import nn
        return getattr(nn, self.modules[len(inputs[0]) - 2])(self.padding)


@dataclass(kw_only=True)
class ZeroPadNd(Pad):
    """Pad with zeros, as torch.nn.ZeroPad1d/2d/3d."""
    modules: ClassVar[tuple[str, str, str]] = ("ZeroPad1d", "ZeroPad2d", "ZeroPad3d")


@register
class ZeroPad(ZeroPadNd):
    """Pad with zeros, rank from its input."""
    type_name: ClassVar[str] = "zero_pad"
    aliases: ClassVar[tuple[str, ...]] = ("zeropad",)


@register
class ZeroPad1d(ZeroPadNd):
    type_name: ClassVar[str] = "zero_pad1d"
    aliases: ClassVar[tuple[str, ...]] = ("zeropad1d",)
    ndim: ClassVar[int | None] = 1


@register
class ZeroPad2d(ZeroPadNd):
    type_name: ClassVar[str] = "zero_pad2d"
    aliases: ClassVar[tuple[str, ...]] = ("zeropad2d",)
    ndim: ClassVar[int | None] = 2


@register
class ZeroPad3d(ZeroPadNd):
    type_name: ClassVar[str] = "zero_pad3d"
    aliases: ClassVar[tuple[str, ...]] = ("zeropad3d",)
    ndim: ClassVar[int | None] = 3


@dataclass(kw_only=True)
class EdgePad(Pad):
    """Pad from the input's own values (CycleGAN's and style transfer's generators): reflection mirrors the
    values next to the edge, so each pad must be smaller than its axis; replication repeats the edge value."""

    def out_shape(self, inputs):
        x = inputs[0]
        if self.modules[0].startswith("Reflection"):
            for n, (a, b) in zip(x[1:], self._pads(x)):
                if max(a, b) >= n:
                    raise ArgumentError(f"{self.type_name} pads must be smaller than the axis they pad, as PyTorch "
                                        f"requires: {max(a, b)} on an axis of {n}. Received: padding={self.padding}",
                                        "padding")
        return super().out_shape(inputs)

    fp32_on_cpu: ClassVar[tuple[int, ...]]  # the ranks CPU autocast's fp32 list holds

    def saved_for_backward(self, inputs, out, device):
        return [saves_input()]

    def autocast_policy(self, inputs, device):
        return "fp32" if device == "cpu" and len(inputs[0]) - 1 in self.fp32_on_cpu else None


@dataclass(kw_only=True)
class ReflectionPadNd(EdgePad):
    modules: ClassVar[tuple[str, str, str]] = ("ReflectionPad1d", "ReflectionPad2d", "ReflectionPad3d")
    fp32_on_cpu: ClassVar[tuple[int, ...]] = (1, 2)


@dataclass(kw_only=True)
class ReplicationPadNd(EdgePad):
    modules: ClassVar[tuple[str, str, str]] = ("ReplicationPad1d", "ReplicationPad2d", "ReplicationPad3d")
    fp32_on_cpu: ClassVar[tuple[int, ...]] = (1, 2, 3)


@register
class ReflectionPad(ReflectionPadNd):
    """Reflection padding, rank from its input."""
    type_name: ClassVar[str] = "reflection_pad"


@register
class ReflectionPad1d(ReflectionPadNd):
    type_name: ClassVar[str] = "reflection_pad1d"
    ndim: ClassVar[int | None] = 1


@register
class ReflectionPad2d(ReflectionPadNd):
    type_name: ClassVar[str] = "reflection_pad2d"
    ndim: ClassVar[int | None] = 2


@register
class ReflectionPad3d(ReflectionPadNd):
    type_name: ClassVar[str] = "reflection_pad3d"
    ndim: ClassVar[int | None] = 3


@register
class ReplicationPad(ReplicationPadNd):
    """Replication padding, rank from its input."""
    type_name: ClassVar[str] = "replication_pad"


@register
class ReplicationPad1d(ReplicationPadNd):
    type_name: ClassVar[str] = "replication_pad1d"
    ndim: ClassVar[int | None] = 1


@register
class ReplicationPad2d(ReplicationPadNd):
    type_name: ClassVar[str] = "replication_pad2d"
    ndim: ClassVar[int | None] = 2


@register
class ReplicationPad3d(ReplicationPadNd):
    type_name: ClassVar[str] = "replication_pad3d"
    ndim: ClassVar[int | None] = 3


@register
@dataclass(kw_only=True)
class CenterCrop(Layer):
    """Crop the centre to ``size``, or, given a second input, to that input's spatial size."""
    type_name: ClassVar[str] = "center_crop"
    aliases: ClassVar[tuple[str, ...]] = ("crop",)
    memory: ClassVar[str] = "view"
    inputs_range: ClassVar[tuple[int, int | None]] = (1, 2)
    size: int | list[int] | None = None

    def _target(self, inputs) -> tuple[int, ...]:
        x = inputs[0]
        ndim = spatial_ndim(self, x, None)
        if (self.size is None) == (len(inputs) == 1):
            raise ArgumentError("center_crop needs either size or a second input to take the size from", "size")
        target = as_tuple(self.size, ndim, "size") if self.size is not None else inputs[1][1:]
        if len(target) != ndim or any(t > n or t < 1 for t, n in zip(target, x[1:])):
            raise ArgumentError(f"cannot crop {list(x)} to spatial size {list(target)}", "size")
        return tuple(target)

    def out_shape(self, inputs):
        return (inputs[0][0], *self._target(inputs))

    def saved_for_backward(self, inputs, out, device):
        return []

    def offsets(self, inputs) -> tuple[int, ...]:
        """Rows/columns dropped at the start of each axis (torchvision's center_crop rounding)."""
        return tuple(int(round((n - t) / 2.0)) for n, t in zip(inputs[0][1:], self._target(inputs)))

    def receptive_field(self, inputs, fields):
        ones = (1,) * (len(inputs[0]) - 1)
        return fields[0].through_window(ones, ones, tuple(-o for o in self.offsets(inputs)), ones)

    def formulas(self, inputs, out):
        x = inputs[0]
        return per_axis("output", lambda n, t: Sym("N_target", t), x[1:], out[1:],
                        changed=[n != t for n, t in zip(x[1:], out[1:])],
                        note="size" if self.size is not None else "the second input's size")

    def receptive_field_formulas(self, inputs, fields):
        return []  # cropping moves the field's start, not its size or jump

    def to_torch(self, inputs):
        from ..torch.modules import CenterCrop as Module
        return Module(self.offsets(inputs), self._target(inputs))


@register
@dataclass(kw_only=True)
class PixelShuffle(Layer):
    """nn.PixelShuffle (Shi et al. 2016): [C*r*r, H, W] -> [C, H*r, W*r], a copy with no arithmetic.

    Output position (y, x) reads input position (y // r, x // r), as nearest upsampling by r does, so the
    receptive field follows nearest upsampling: the same size, r times finer a grid."""
    type_name: ClassVar[str] = "pixel_shuffle"
    upscale_factor: int

    def out_shape(self, inputs):
        x, r = inputs[0], self.upscale_factor
        if len(x) != 3:
            raise ArgumentError(f"pixel_shuffle expects an input [C, H, W]. Received input shape {list(x)}")
        if r < 1 or x[0] % (r * r):
            raise ArgumentError(f"upscale_factor must be positive and its square divide the input's channels "
                                f"({x[0]}). Received: upscale_factor={r}", "upscale_factor")
        return (x[0] // (r * r), x[1] * r, x[2] * r)

    def receptive_field(self, inputs, fields):
        r = Fraction(self.upscale_factor)
        return fields[0].through_upsample((r, r), 1)

    def receptive_field_formulas(self, inputs, fields):
        r = Fraction(self.upscale_factor)
        return fields[0].upsample_formulas((r, r), 1)

    def saved_for_backward(self, inputs, out, device):
        return []

    def formulas(self, inputs, out):
        (c, h, w), r = inputs[0], Sym("r", self.upscale_factor)
        return [Formula("output", Sym("C", c) / (r * r), "channels", "r = upscale_factor"),
                Formula("output", Sym("H", h) * r, "height"), Formula("output", Sym("W", w) * r, "width")]

    def to_torch(self, inputs):
        from torch import nn
        return nn.PixelShuffle(self.upscale_factor)


@register
@dataclass(kw_only=True)
class PixelUnshuffle(Layer):
    """nn.PixelUnshuffle, the inverse: [C, H*r, W*r] -> [C*r*r, H, W]; each output position holds an
    r x r block, so the receptive field grows as through an r x r window of stride r."""
    type_name: ClassVar[str] = "pixel_unshuffle"
    downscale_factor: int

    def out_shape(self, inputs):
        x, r = inputs[0], self.downscale_factor
        if len(x) != 3:
            raise ArgumentError(f"pixel_unshuffle expects an input [C, H, W]. Received input shape {list(x)}")
        if r < 1 or x[1] % r or x[2] % r:
            raise ArgumentError(f"downscale_factor must be positive and divide the input's height and width "
                                f"({x[1]}x{x[2]}). Received: downscale_factor={r}", "downscale_factor")
        return (x[0] * r * r, x[1] // r, x[2] // r)

    def receptive_field(self, inputs, fields):
        r = self.downscale_factor
        return fields[0].through_window((r, r), (r, r), (0, 0), (1, 1))

    def receptive_field_formulas(self, inputs, fields):
        r = self.downscale_factor
        return fields[0].window_formulas((r, r), (r, r), (1, 1))

    def saved_for_backward(self, inputs, out, device):
        return []

    def formulas(self, inputs, out):
        (c, h, w), r = inputs[0], Sym("r", self.downscale_factor)
        return [Formula("output", Sym("C", c) * r * r, "channels", "r = downscale_factor"),
                Formula("output", Sym("H", h) / r, "height"), Formula("output", Sym("W", w) / r, "width")]

    def to_torch(self, inputs):
        from torch import nn
        return nn.PixelUnshuffle(self.downscale_factor)
