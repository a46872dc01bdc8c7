"""Normalization: batch norm and AlexNet's local response normalization.

BatchNorm (Ioffe & Szegedy 2015): ``2*C`` parameters (gamma, beta) when affine; the running mean and
variance (and PyTorch's ``num_batches_tracked`` counter) are buffers, not parameters. At inference it
is one scale and one shift per value: 2 FLOPs.
LRN (Krizhevsky et al. 2012, section 3.3): ``b = a / (k + alpha/n * sum(a^2))^beta`` over ``size``
neighbouring channels: one square, ``size-1`` adds, then scale, add, power, divide: ``size + 4`` FLOPs.

Saved for backward: batch norm in training keeps its input and the batch's mean and inverse standard
deviation (save_mean, save_invstd: C values each, in the weights' dtype); its output is left to the
next layer. LRN is composite (torch.nn.functional.local_response_norm): it keeps the input, the
zero-padded squares the window averages, the base of the power and the divisor.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ..formula import Formula, Num, Sym, times, values
from ..shape import ArgumentError, numel
from .base import Layer, register, saves_input, saves_own


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

    def flops(self, inputs, out):
        return 2 * numel(out)

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
    ndim: ClassVar[int | None] = 1


@register
class BatchNorm2d(BatchNormNd):
    type_name: ClassVar[str] = "batchnorm2d"
    ndim: ClassVar[int | None] = 2


@register
class BatchNorm3d(BatchNormNd):
    type_name: ClassVar[str] = "batchnorm3d"
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
