"""Fully connected layers: ``F_in*F_out + F_out`` params, ``F_in*F_out`` MACs per image.

Backward keeps the input and the weight (addmm saves both matrices); autocast runs it in lower precision.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ..formula import Formula, Sym, mac_flops, parameters
from ..shape import ArgumentError
from .base import SAVES_WEIGHT, Layer, register, saves_input


@register
@dataclass(kw_only=True)
class Linear(Layer):
    type_name: ClassVar[str] = "linear"
    aliases: ClassVar[tuple[str, ...]] = ("dense", "fc")
    autocast: ClassVar[str | None] = "lower"

    out_features: int
    bias: bool = True

    def out_shape(self, inputs):
        x = inputs[0]
        if len(x) != 1:
            raise ArgumentError(f"linear expects a flat input [F]. Received input shape {list(x)}: "
                                "add a flatten or global_avg_pool layer before it")
        if self.out_features < 1:
            raise ArgumentError(f"out_features must be positive. Received: out_features={self.out_features}",
                                "out_features")
        return (self.out_features,)

    def params(self, inputs):
        return inputs[0][0] * self.out_features + self.bias_params(inputs)

    def bias_params(self, inputs):
        return self.out_features if self.bias else 0

    def macs(self, inputs, out):
        return inputs[0][0] * self.out_features

    def flops(self, inputs, out):
        return 2 * self.macs(inputs, out) + (self.out_features if self.bias else 0)

    def saved_for_backward(self, inputs, out, device):
        return [saves_input(), SAVES_WEIGHT]

    def formulas(self, inputs, out):
        f_in, f_out = Sym("F_in", inputs[0][0]), Sym("F_out", self.out_features)
        return [Formula("output", f_out, "features", "out_features"),
                *parameters(f_in * f_out, f_out if self.bias else None),
                Formula("macs", f_in * f_out, note="one product per weight"),
                mac_flops(inputs[0][0] * self.out_features, f_out if self.bias else None)]

    def to_torch(self, inputs):
        from torch import nn
        return nn.Linear(inputs[0][0], self.out_features, bias=self.bias)
