"""The Layer contract and the registry of layer types.

A layer type is one dataclass. Its fields are its arguments, with PyTorch's names; next to each
other it declares how it maps input shapes to its output shape, its parameters, MACs and FLOPs,
its window for the receptive field, and the torch module it becomes. Methods receive the list of
input shapes (``inputs``); single-input layers read ``inputs[0]``.

Counting convention (stated once, as fvcore does): one multiply-accumulate is one MAC; MACs count
only the products of convolutions, transposed convolutions, locally connected and linear layers,
never bias. FLOPs count 2 per MAC plus one per bias add, normalization, activation, pooling and
merge operation, per output value, as each layer's ``flops`` says.

Saved for backward (``saved_for_backward``): the tensors PyTorch's autograd keeps for the layer's
backward in training mode, as its derivative formulas (tools/autograd/derivatives.yaml) and the
layer's composite implementation save them. Every layer type declares them; the contract test
checks each declaration against ``torch.autograd.graph.saved_tensors_hooks``.

Memory traffic (``traffic``), as torchscan's DMAs count it: the values an inference forward must move
between memory and the chip at the least, every tensor read or written once (perfect on-chip reuse):
each input and the parameters and buffers the layer reads, and its output. A view moves nothing.
"""
from __future__ import annotations

import dataclasses
import difflib
import functools
import types
import typing
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from ..formula import Formula
from ..receptive import ReceptiveField
from ..shape import ArgumentError, Shape, numel

LAYERS: dict[str, type[Layer]] = {}
"""Every layer type by the names a spec may use; filled by ``@register`` (the only mutable global)."""


def register(cls: type[Layer]) -> type[Layer]:
    for name in (cls.type_name, *cls.aliases):
        if name in LAYERS:
            raise RuntimeError(f"layer type {name!r} registered twice")
        LAYERS[name] = cls
    return cls


def closest(name: str, choices) -> str:
    """' (did you mean X?)' for a misspelt name, or ''."""
    match = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{match[0]}'?)" if match else ""


@dataclass(frozen=True)
class Saved:
    """One tensor autograd keeps for a layer's backward: one of its inputs, its output, its weight (a
    parameter; under autocast, the weight's cast copy), or a tensor of the layer's own.

    An own tensor has ``values`` elements per image (in all when ``per_image`` is False) in ``dtype``:
    'output' or 'input' (the dtype of the layer's output or first input), 'low' (autocast's lower
    precision, else the model's dtype), 'float32' (float32 under autocast and fp32, else the model's
    dtype), 'param' (the dtype of the layer's weights), 'int64' or 'bool'.
    """
    tensor: Literal["input", "output", "weight", "own"]
    index: int = 0  # which input
    what: str = ""  # an own tensor's name
    values: int = 0
    dtype: str = "output"
    per_image: bool = True


def widest(dtypes: list[str]) -> str:
    """PyTorch's type promotion of floating dtypes: one dtype stays; bf16 with fp16, or anything with
    fp32, gives fp32."""
    distinct = set(dtypes)
    return distinct.pop() if len(distinct) == 1 else "fp32"


@dataclass(frozen=True)
class Traffic:
    """Values one inference forward reads and writes: ``read`` and ``written`` of activations per image,
    ``weights`` (parameters and buffers) once per batch, whatever its size."""
    read: int
    weights: int
    written: int


def saves_input(index: int = 0) -> Saved:
    return Saved("input", index)


SAVES_OUTPUT = Saved("output")
SAVES_WEIGHT = Saved("weight")


def saves_own(what: str, values: int, dtype: str = "output", per_image: bool = True) -> Saved:
    return Saved("own", what=what, values=values, dtype=dtype, per_image=per_image)


@dataclass(kw_only=True)
class Layer:
    type_name: ClassVar[str]
    aliases: ClassVar[tuple[str, ...]] = ()
    inputs_range: ClassVar[tuple[int, int | None]] = (1, 1)
    """How many inputs the layer takes: (at least, at most or None for any number)."""
    memory: ClassVar[Literal["new", "inplace", "view"]] = "new"
    """'inplace': may overwrite its input; 'view': shares its input's storage (flatten, identity)."""
    autocast: ClassVar[Literal["lower", "fp32"] | None] = None
    """How torch.autocast treats the layer's operator: 'lower' runs it in the lower precision (conv,
    linear), 'fp32' in float32; None (not on autocast's lists) in its inputs' dtype."""

    # --- shapes and counts -----------------------------------------------------------------
    def out_shape(self, inputs: list[Shape]) -> Shape:
        return inputs[0]

    def params(self, inputs: list[Shape]) -> int:
        """Elements of the layer's nn.Parameters (weights and bias)."""
        return 0

    def bias_params(self, inputs: list[Shape]) -> int:
        """How many of ``params`` are biases (the course's "params without bias" leaves them out)."""
        return 0

    def buffers(self, inputs: list[Shape]) -> int:
        """Elements of the layer's non-trainable state (BatchNorm's running statistics)."""
        return 0

    def integer_buffers(self, inputs: list[Shape]) -> int:
        """How many of ``buffers`` are int64 counters (BatchNorm's ``num_batches_tracked``): no cast of the model
        changes their dtype."""
        return 0

    def macs(self, inputs: list[Shape], out: Shape) -> int:
        return 0

    def flops(self, inputs: list[Shape], out: Shape) -> int:
        return 2 * self.macs(inputs, out)

    def traffic(self, inputs: list[Shape], out: Shape) -> Traffic:
        """Reads every input, its parameters and buffers, and writes its output; a view shares its input's
        storage and moves nothing (an in-place layer still reads and writes every value)."""
        if self.memory == "view":
            return Traffic(0, 0, 0)
        return Traffic(sum(numel(x) for x in inputs), self.params(inputs) + self.buffers(inputs), numel(out))

    def receptive_field(self, inputs: list[Shape], fields: list[ReceptiveField]) -> ReceptiveField:
        """Elementwise by default: every output sees what its inputs saw (a broadcast input: global context)."""
        return ReceptiveField.union(fields, [x[1:] for x in inputs])

    def saved_for_backward(self, inputs: list[Shape], out: Shape, device: str) -> list[Saved]:
        """The tensors autograd keeps for this layer's backward in training mode on ``device`` ('cpu' or
        'cuda'). No default: a layer type that does not declare it fails the contract test."""
        raise NotImplementedError(f"{self.type_name} does not declare what autograd saves for its backward")

    def inference_tensors(self, inputs: list[Shape], out: Shape, device: str) -> list[Saved]:
        """Tensors of its own a layer makes beside its output in an eval forward without grad, and drops when
        it returns (max pooling computes its indices all the same)."""
        return []

    def gradient_passes_through(self) -> bool:
        """Backward hands the inputs the output's gradient (or views of it) and computes no tensor: add's
        gradient is the output's, concat's are slices of it, a view's a view of it."""
        return self.memory == "view"

    def saves_output(self, inputs: list[Shape], out: Shape) -> bool:
        """PyTorch's backward reads this layer's output (ReLU, tanh, sigmoid, softmax), so no layer after it
        may overwrite that tensor in place: training would fail."""
        return any(saved.tensor == "output" for saved in self.saved_for_backward(inputs, out, "cpu"))

    def autocast_policy(self, inputs: list[Shape], device: str) -> Literal["lower", "fp32"] | None:
        """``autocast`` on ``device``, where autocast's CPU and CUDA lists differ (aten/src/ATen/autocast_mode.cpp)."""
        return self.autocast

    def autocast_params(self, inputs: list[Shape]) -> int:
        """How many parameters autocast casts for a 'lower' layer (and keeps, cached, for the forward)."""
        return self.params(inputs)

    def autocast_dtype(self, inputs: list[Shape], dtypes: list[str], low: str, device: str) -> str:
        """The output dtype under torch.autocast(device, low), the inputs being in ``dtypes``: the policy's
        dtype, else the widest of the inputs' (PyTorch's type promotion)."""
        policy = self.autocast_policy(inputs, device)
        return low if policy == "lower" else "fp32" if policy == "fp32" else widest(dtypes)

    def warnings(self, inputs: list[Shape]) -> list[str]:
        """Things a careful reader would point out (an output size that needed flooring...)."""
        return []

    # --- the working, for `cnnspec explain` --------------------------------------------------
    def formulas(self, inputs: list[Shape], out: Shape) -> list[Formula]:
        """The figures above as formulas with this layer's numbers in: every output axis that differs
        from the input's, and params, buffers, MACs and FLOPs where they are not zero; the warnings'
        arithmetic too. Each layer type declares its own (tests/test_explain.py holds every one to
        the figures above)."""
        raise NotImplementedError(f"{self.type_name} declares no formulas")

    def receptive_field_formulas(self, inputs: list[Shape], fields: list[ReceptiveField]) -> list[Formula]:
        """How ``receptive_field`` changes the field, as formulas; beside it wherever it is overridden."""
        return ReceptiveField.union_formulas(fields, [x[1:] for x in inputs])

    def layout_warnings(self, inputs: list[Shape], fields: list[ReceptiveField]) -> list[str]:
        """Warnings that need to know which axis holds the channels, which shapes do not say but the
        receptive-field pass tracks through permutes (``ReceptiveField.source_axis``)."""
        return []

    def to_torch(self, inputs: list[Shape]):
        """The equivalent torch.nn.Module; torch is imported inside, never at module level."""
        raise NotImplementedError(f"{self.type_name} has no torch module")

    # --- construction from a spec ----------------------------------------------------------
    @classmethod
    def arguments(cls) -> dict[str, tuple[dataclasses.Field, Any]]:
        """Each argument's field and resolved type annotation, computed once per class."""
        return _arguments(cls)

    @classmethod
    def from_arguments(cls, arguments: dict[str, Any]) -> Layer:
        """Check names and types of the spec's arguments, then construct; errors name the argument."""
        fields = cls.arguments()
        checked = {}
        for name, value in arguments.items():
            if name not in fields:
                raise ArgumentError(f"{cls.type_name} has no argument '{name}'{closest(name, fields)}; "
                                    f"its arguments are: {', '.join(fields) or 'none'}", name)
            checked[name] = coerce(value, fields[name][1], name)
        arguments = checked
        missing = [name for name, (f, _) in fields.items() if name not in arguments and _required(f)]
        if missing:
            raise ArgumentError(f"{cls.type_name} needs argument '{missing[0]}'", missing[0])
        return cls(**arguments)


@dataclass(kw_only=True)
class Input(Layer):
    """The graph's input tensor; not a layer a spec can name, but a row like any other."""
    type_name: ClassVar[str] = "input"
    inputs_range: ClassVar[tuple[int, int | None]] = (0, 0)
    shape: tuple[int, ...]

    def out_shape(self, inputs):
        return self.shape

    def saved_for_backward(self, inputs, out, device):
        return []

    def traffic(self, inputs, out):
        return Traffic(0, 0, 0)  # given to the model: the layers that read it count the reading

    def formulas(self, inputs, out):
        return []  # its memory is every tensor's: C x H x W values


@functools.cache
def _arguments(cls) -> dict[str, tuple[dataclasses.Field, Any]]:
    hints = typing.get_type_hints(cls)
    return {f.name: (f, hints[f.name]) for f in dataclasses.fields(cls)}


def _required(f: dataclasses.Field) -> bool:
    return f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING


_PLURALS = {int: "ints", float: "numbers", bool: "booleans", str: "strings", type(None): "nulls"}


def describe_type(tp) -> str:
    """A type annotation in words, for error messages and the JSON Schema."""
    origin = typing.get_origin(tp)
    if origin is Literal:
        return " or ".join(repr(a) for a in typing.get_args(tp))
    if origin in (typing.Union, types.UnionType):
        return " or ".join(describe_type(a) for a in typing.get_args(tp))
    if origin is list:
        return "a list of " + " or ".join(_PLURALS.get(a, str(a)) for a in typing.get_args(typing.get_args(tp)[0])
                                          or typing.get_args(tp))
    if tp is type(None):
        return "null"
    return {int: "an int", float: "a number", bool: "true or false", str: "a string"}.get(tp, str(tp))


def coerce(value: Any, tp, name: str) -> Any:
    """Return ``value`` as type ``tp`` or raise ArgumentError in Keras' style ("Received: x=...")."""
    ok, result = _match(value, tp)
    if not ok:
        raise ArgumentError(f"{name} must be {describe_type(tp)}. Received: {name}={value!r}", name)
    return result


def _match(value, tp) -> tuple[bool, Any]:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        for option in typing.get_args(tp):
            ok, result = _match(value, option)
            if ok:
                return True, result
        return False, None
    if origin is Literal:
        return value in typing.get_args(tp), value
    if origin is list:
        (item,) = typing.get_args(tp)
        if not isinstance(value, (list, tuple)):
            return False, None
        matched = [_match(v, item) for v in value]
        return all(ok for ok, _ in matched), [v for _, v in matched]
    if tp is type(None):
        return value is None, None
    if tp is bool:
        return isinstance(value, bool), value
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool), value
    if tp is float:
        if isinstance(value, str):  # YAML 1.1 reads 1e-5 as a string
            try:
                return True, float(value)
            except ValueError:
                return False, None
        return isinstance(value, (int, float)) and not isinstance(value, bool), float(value) if isinstance(
            value, (int, float)) else None
    if tp is str:
        return isinstance(value, str), value
    raise TypeError(f"unsupported argument annotation {tp!r}")


# --- helpers shared by several families ------------------------------------------------------

def spatial_ndim(layer: Layer, x: Shape, ndim: int | None) -> int:
    """The number of spatial axes of input ``x``, checked against a layer fixed to ``ndim``."""
    if len(x) < 2:
        raise ArgumentError(f"{layer.type_name} needs an input with channels and spatial axes "
                            f"([C, L], [C, H, W] or [C, D, H, W]). Received input shape {list(x)}")
    if ndim is not None and len(x) != ndim + 1:
        axes = {1: "[C, L]", 2: "[C, H, W]", 3: "[C, D, H, W]"}[ndim]
        raise ArgumentError(f"{layer.type_name} expects an input {axes}. Received input shape {list(x)}")
    return len(x) - 1


def check_positive_output(layer: Layer, x: Shape, out: Shape) -> Shape:
    if any(n <= 0 for n in out):
        raise ArgumentError(f"{layer.type_name} turns input {list(x)} into {list(out)}: "
                            f"an output size of zero or less (the window is larger than the padded input)")
    return out


def elementwise_ops(out: Shape, per_value: int = 1) -> int:
    return per_value * numel(out)


