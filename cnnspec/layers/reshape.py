"""Layers that move no arithmetic: flatten, identity, dropout (identity at inference).

Their outputs are views of their inputs, so they add no memory; none keeps anything for backward but
dropout in training, which multiplies by a mask and keeps it: bool on CUDA (native_dropout), on the
CPU a tensor of the input's dtype holding 0 or 1/(1-p) (torch's _dropout_impl).
"""
from __future__ import annotations

from dataclasses import dataclass
from math import prod
from typing import ClassVar

from ..formula import Formula, product, sizes
from ..shape import ArgumentError
from .base import Layer, register, saves_own
from ..shape import numel


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
        return fields[0].window_formulas(x[1:], x[1:], (1,) * (len(x) - 1)) if start == 0 and len(x) > 1 else []

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
