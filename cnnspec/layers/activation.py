"""Activations: elementwise, one FLOP per value (softmax and log-softmax: 3); only PReLU has parameters.

ReLU-like activations run in place by default, as torchvision's models build them
(``nn.ReLU(inplace=True)``), so their output takes no memory of its own: the course's convention
of not counting ReLU separately. Those torchvision builds out of place (hardsigmoid, the
squeeze-excitation gate of MobileNetV3) or never uses (mish, elu, hardtanh) keep PyTorch's default,
``inplace=False``. The graph turns in-place off where the input has another reader, backward
included: after tanh, sigmoid, softmax, ReLU or an in-place ELU, whose gradients PyTorch computes
from their outputs (``saved_for_backward`` names the output; measured in tests/layers/test_activation.py).

Saved for backward (derivatives.yaml): ReLU, tanh, sigmoid, softmax, and leaky ReLU and ELU in place,
keep their output; the others keep their input (PReLU its input and weight). In place, those whose
backward needs the input they overwrite (ReLU6 and hardtanh, SiLU, hardswish, hardsigmoid, mish) make
autograd keep a copy of it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

from ..formula import Formula, Num, Sym, times, values
from ..shape import ArgumentError, numel
from .base import SAVES_OUTPUT, SAVES_WEIGHT, Layer, register, saves_input, saves_own


@dataclass(kw_only=True)
class Activation(Layer):
    flops_per_value: ClassVar[int] = 1
    module_name: ClassVar[str]
    saves: ClassVar[str] = "input"  # what its backward reads: "input" or "output"

    def saved_for_backward(self, inputs, out, device):
        return [SAVES_OUTPUT if self.saves == "output" else saves_input()]

    def flops(self, inputs, out):
        return self.flops_per_value * numel(out)

    operations: ClassVar[str] = "one operation"  # what flops_per_value counts, in words

    def formulas(self, inputs, out):
        return [Formula("flops", times(values(out), Num(self.flops_per_value)), note=f"{self.operations} per value")]

    def torch_arguments(self) -> dict:
        return {}

    def to_torch(self, inputs):
        from torch import nn
        return getattr(nn, self.module_name)(**self.torch_arguments())


@dataclass(kw_only=True)
class InplaceActivation(Activation):
    saves_in_place: ClassVar[str] = "copy"  # in place: "output", or a "copy" of the input it overwrites
    inplace: bool = True

    def saved_for_backward(self, inputs, out, device):
        if not self.inplace:
            return super().saved_for_backward(inputs, out, device)
        if self.saves_in_place == "output":
            return [SAVES_OUTPUT]
        return [saves_own("copy of the input", numel(inputs[0]), "input")]

    @property
    def memory(self):
        return "inplace" if self.inplace else "new"

    def torch_arguments(self) -> dict:
        return {"inplace": self.inplace}


@dataclass(kw_only=True)
class SavesOutputInPlace(InplaceActivation):
    """In place, PyTorch's backward reads the output (leaky_relu_, elu_); out of place, the input."""
    saves_in_place: ClassVar[str] = "output"


@register
class ReLU(InplaceActivation):
    type_name: ClassVar[str] = "relu"
    module_name: ClassVar[str] = "ReLU"
    saves: ClassVar[str] = "output"
    saves_in_place: ClassVar[str] = "output"


@register
class ReLU6(InplaceActivation):
    type_name: ClassVar[str] = "relu6"
    module_name: ClassVar[str] = "ReLU6"


@register
@dataclass(kw_only=True)
class LeakyReLU(SavesOutputInPlace):
    type_name: ClassVar[str] = "leaky_relu"
    aliases: ClassVar[tuple[str, ...]] = ("leakyrelu",)
    module_name: ClassVar[str] = "LeakyReLU"
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
@dataclass(kw_only=True)
class Hardsigmoid(InplaceActivation):
    """relu6(x + 3) / 6 (Howard et al. 2019, MobileNetV3's squeeze-excitation gate)."""
    type_name: ClassVar[str] = "hardsigmoid"
    module_name: ClassVar[str] = "Hardsigmoid"
    inplace: bool = False


@register
@dataclass(kw_only=True)
class Mish(InplaceActivation):
    """x * tanh(softplus(x)) (Misra 2019)."""
    type_name: ClassVar[str] = "mish"
    module_name: ClassVar[str] = "Mish"
    inplace: bool = False


@register
@dataclass(kw_only=True)
class ELU(SavesOutputInPlace):
    """x for x > 0, alpha * (exp(x) - 1) otherwise (Clevert et al. 2016)."""
    type_name: ClassVar[str] = "elu"
    module_name: ClassVar[str] = "ELU"
    inplace: bool = False
    alpha: float = 1.0

    def torch_arguments(self) -> dict:
        return {"alpha": self.alpha, "inplace": self.inplace}


@register
@dataclass(kw_only=True)
class SELU(SavesOutputInPlace):
    """scale * elu(x, alpha) with the fixed constants of self-normalizing networks (Klambauer et al. 2017)."""
    type_name: ClassVar[str] = "selu"
    module_name: ClassVar[str] = "SELU"
    inplace: bool = False


@register
@dataclass(kw_only=True)
class CELU(SavesOutputInPlace):
    """max(0, x) + min(0, alpha * (exp(x / alpha) - 1)) (Barron 2017): ELU, continuously differentiable."""
    type_name: ClassVar[str] = "celu"
    module_name: ClassVar[str] = "CELU"
    inplace: bool = False
    alpha: float = 1.0

    def out_shape(self, inputs):
        if self.alpha == 0:
            raise ArgumentError("celu divides by alpha: it must not be 0. Received: alpha=0", "alpha")
        return inputs[0]

    def torch_arguments(self) -> dict:
        return {"alpha": self.alpha, "inplace": self.inplace}


@register
@dataclass(kw_only=True)
class Hardtanh(InplaceActivation):
    """x clamped to [min_val, max_val] (relu6 is hardtanh(0, 6))."""
    type_name: ClassVar[str] = "hardtanh"
    module_name: ClassVar[str] = "Hardtanh"
    inplace: bool = False
    min_val: float = -1.0
    max_val: float = 1.0

    def out_shape(self, inputs):
        if self.min_val >= self.max_val:
            raise ArgumentError(f"hardtanh needs min_val < max_val. Received: min_val={self.min_val}, "
                                f"max_val={self.max_val}", "max_val")
        return inputs[0]

    def torch_arguments(self) -> dict:
        return {"min_val": self.min_val, "max_val": self.max_val, "inplace": self.inplace}


@register
@dataclass(kw_only=True)
class PReLU(Activation):
    """max(0, x) + a * min(0, x) with a learned slope ``a`` (He et al. 2015): one shared slope, or one per
    channel (``num_parameters`` = C, the input's first axis, as nn.PReLU reads axis 1 with the batch)."""
    type_name: ClassVar[str] = "prelu"
    module_name: ClassVar[str] = "PReLU"
    autocast: ClassVar[str | None] = "lower"
    num_parameters: int = 1
    init: float = 0.25

    def out_shape(self, inputs):
        channels = inputs[0][0]
        if self.num_parameters not in (1, channels):
            raise ArgumentError(f"num_parameters must be 1 or the input's channels ({channels}). "
                                f"Received: num_parameters={self.num_parameters}", "num_parameters")
        return inputs[0]

    def params(self, inputs):
        return self.num_parameters

    def formulas(self, inputs, out):
        slopes = "one slope per channel" if self.num_parameters > 1 else "one slope shared by every channel"
        return [Formula("params", Sym("num_parameters", self.num_parameters), note=slopes),
                *super().formulas(inputs, out)]

    def saved_for_backward(self, inputs, out, device):
        return [saves_input(), SAVES_WEIGHT]

    def torch_arguments(self) -> dict:
        return {"num_parameters": self.num_parameters, "init": self.init}


@register
class Tanh(Activation):
    type_name: ClassVar[str] = "tanh"
    module_name: ClassVar[str] = "Tanh"
    saves: ClassVar[str] = "output"


@register
class Sigmoid(Activation):
    type_name: ClassVar[str] = "sigmoid"
    module_name: ClassVar[str] = "Sigmoid"
    saves: ClassVar[str] = "output"


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
class Softplus(Activation):
    """log(1 + exp(beta * x)) / beta, the identity where beta * x > threshold."""
    type_name: ClassVar[str] = "softplus"
    module_name: ClassVar[str] = "Softplus"
    beta: float = 1.0
    threshold: float = 20.0

    def autocast_policy(self, inputs, device):
        return "fp32" if device == "cuda" else None  # CUDA's fp32 list; not on the CPU's

    def torch_arguments(self) -> dict:
        return {"beta": self.beta, "threshold": self.threshold}


@register
@dataclass(kw_only=True)
class Softmax(Activation):
    """Softmax over ``dim`` counted with the batch axis, as nn.Softmax takes it (1: channels)."""
    type_name: ClassVar[str] = "softmax"
    module_name: ClassVar[str] = "Softmax"
    saves: ClassVar[str] = "output"
    flops_per_value: ClassVar[int] = 3
    operations: ClassVar[str] = "exp, sum and divide"
    dim: int = 1

    def out_shape(self, inputs):
        if not 1 <= self.dim <= len(inputs[0]):
            raise ArgumentError(f"dim must name an axis of the input (1..{len(inputs[0])}, 0 is the batch). "
                                f"Received: dim={self.dim}", "dim")
        return inputs[0]

    def autocast_policy(self, inputs, device):
        return "fp32" if device == "cuda" else None  # CUDA's fp32_set_opt_dtype list; not on the CPU's

    def torch_arguments(self) -> dict:
        return {"dim": self.dim}


@register
class LogSoftmax(Softmax):
    """log(softmax(x)) over ``dim``, as nn.LogSoftmax computes it in one pass (the classic MNIST example's
    output, read by nll_loss)."""
    type_name: ClassVar[str] = "log_softmax"
    aliases: ClassVar[tuple[str, ...]] = ("logsoftmax",)
    module_name: ClassVar[str] = "LogSoftmax"
    operations: ClassVar[str] = "exp, sum and subtracting the log of the sum"
