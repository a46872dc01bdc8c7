"""Activations: elementwise, no parameters, one FLOP per value (softmax: exp, sum, divide = 3).

ReLU-like activations run in place by default, as torchvision's models build them
(``nn.ReLU(inplace=True)``), so their output takes no memory of its own: the course's convention
of not counting ReLU separately. The graph turns in-place off where the input has another reader,
backward included: after tanh, sigmoid, softmax or another ReLU, whose gradients PyTorch computes
from their outputs (``output_saved_for_backward``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

from ..shape import ArgumentError, numel
from .base import Layer, register


@dataclass(kw_only=True)
class Activation(Layer):
    flops_per_value: ClassVar[int] = 1
    module_name: ClassVar[str]

    def flops(self, inputs, out):
        return self.flops_per_value * numel(out)

    def torch_arguments(self) -> dict:
        return {}

    def to_torch(self, inputs):
        from torch import nn
        return getattr(nn, self.module_name)(**self.torch_arguments())


@dataclass(kw_only=True)
class InplaceActivation(Activation):
    inplace: bool = True

    @property
    def memory(self):
        return "inplace" if self.inplace else "new"

    def torch_arguments(self) -> dict:
        return {"inplace": self.inplace}


@register
class ReLU(InplaceActivation):
    type_name: ClassVar[str] = "relu"
    module_name: ClassVar[str] = "ReLU"
    output_saved_for_backward: ClassVar[bool] = True


@register
class ReLU6(InplaceActivation):
    type_name: ClassVar[str] = "relu6"
    module_name: ClassVar[str] = "ReLU6"


@register
@dataclass(kw_only=True)
class LeakyReLU(InplaceActivation):
    type_name: ClassVar[str] = "leaky_relu"
    aliases: ClassVar[tuple[str, ...]] = ("leakyrelu",)
    module_name: ClassVar[str] = "LeakyReLU"
    output_saved_for_backward: ClassVar[bool] = True
    negative_slope: float = 0.01

    def torch_arguments(self) -> dict:
        return {"negative_slope": self.negative_slope, "inplace": self.inplace}


@register
class SiLU(InplaceActivation):
    type_name: ClassVar[str] = "silu"
    aliases: ClassVar[tuple[str, ...]] = ("swish",)
    module_name: ClassVar[str] = "SiLU"


@register
class Hardswish(InplaceActivation):
    type_name: ClassVar[str] = "hardswish"
    module_name: ClassVar[str] = "Hardswish"


@register
class Tanh(Activation):
    type_name: ClassVar[str] = "tanh"
    module_name: ClassVar[str] = "Tanh"
    output_saved_for_backward: ClassVar[bool] = True


@register
class Sigmoid(Activation):
    type_name: ClassVar[str] = "sigmoid"
    module_name: ClassVar[str] = "Sigmoid"
    output_saved_for_backward: ClassVar[bool] = True


@register
@dataclass(kw_only=True)
class GELU(Activation):
    type_name: ClassVar[str] = "gelu"
    module_name: ClassVar[str] = "GELU"
    approximate: Literal["none", "tanh"] = "none"

    def torch_arguments(self) -> dict:
        return {"approximate": self.approximate}


@register
@dataclass(kw_only=True)
class Softmax(Activation):
    """Softmax over ``dim`` counted with the batch axis, as nn.Softmax takes it (1: channels)."""
    type_name: ClassVar[str] = "softmax"
    module_name: ClassVar[str] = "Softmax"
    output_saved_for_backward: ClassVar[bool] = True
    flops_per_value: ClassVar[int] = 3
    dim: int = 1

    def out_shape(self, inputs):
        if not 1 <= self.dim <= len(inputs[0]):
            raise ArgumentError(f"dim must name an axis of the input (1..{len(inputs[0])}, 0 is the batch). "
                                f"Received: dim={self.dim}", "dim")
        return inputs[0]

    def torch_arguments(self) -> dict:
        return {"dim": self.dim}
