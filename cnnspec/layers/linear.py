"""Fully connected layers, applied to the last axis as nn.Linear is: ``F_in*F_out + F_out`` params and
``positions * F_in * F_out`` MACs, where positions is the product of the other axes (1 for a flat [F];
H*W for ConvNeXt's channels-last MLP on [H, W, C]).

Backward keeps the input and the weight (addmm saves both matrices); autocast runs it in lower precision.
"""
from __future__ import annotations

from dataclasses import dataclass
from math import prod
from typing import ClassVar

from ..formula import Formula, Sym, mac_flops, parameters, times
from ..shape import ArgumentError, format_shape
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
        if self.out_features < 1:
            raise ArgumentError(f"out_features must be positive. Received: out_features={self.out_features}",
                                "out_features")
        return (*inputs[0][:-1], self.out_features)

    def params(self, inputs):
        return inputs[0][-1] * self.out_features + self.bias_params(inputs)

    def bias_params(self, inputs):
        return self.out_features if self.bias else 0

    def macs(self, inputs, out):
        return prod(inputs[0][:-1]) * inputs[0][-1] * self.out_features

    def flops(self, inputs, out):
        return 2 * self.macs(inputs, out) + (prod(out) if self.bias else 0)

    def receptive_field(self, inputs, fields):
        """Each position keeps its field where the last axis holds the channels (after a permute to channels
        last, or a flat input); a spatial last axis is mixed whole."""
        x = inputs[0]
        return fields[0].whole_along(-1, x[-1]) if len(x) > 1 else fields[0]

    def layout_warnings(self, inputs, fields):
        x = inputs[0]
        if len(x) == 1 or fields[0].source_axis(-1) == 0:
            return []
        return [f"linear reads the last axis of {format_shape(x)}, a spatial one ({x[-1]} positions), at each of its "
                f"other {prod(x[:-1]):,} positions: a flatten or global_avg_pool is probably missing before it "
                "(for a channels-last MLP, permute the channels last first)"]

    def saved_for_backward(self, inputs, out, device):
        return [saves_input(), SAVES_WEIGHT]

    def formulas(self, inputs, out):
        x = inputs[0]
        f_in, f_out = Sym("F_in", x[-1]), Sym("F_out", self.out_features)
        if len(x) == 1:
            return [Formula("output", f_out, "features", "out_features"),
                    *parameters(f_in * f_out, f_out if self.bias else None),
                    Formula("macs", f_in * f_out, note="one product per weight"),
                    mac_flops(self.macs(inputs, out), f_out if self.bias else None)]
        where = Sym("P", prod(x[:-1]))
        return [Formula("output", f_out, f"axis {len(out)}", "out_features, on the last axis"),
                *parameters(f_in * f_out, f_out if self.bias else None),
                Formula("macs", times(where, f_in * f_out), note="P: the positions of the other axes, each "
                                                                 "through every weight"),
                mac_flops(self.macs(inputs, out), times(where, f_out) if self.bias else None)]

    def receptive_field_formulas(self, inputs, fields):
        x = inputs[0]
        return fields[0].whole_along_formulas(-1, x[-1]) if len(x) > 1 else []

    def to_torch(self, inputs):
        from torch import nn
        return nn.Linear(inputs[0][-1], self.out_features, bias=self.bias)
