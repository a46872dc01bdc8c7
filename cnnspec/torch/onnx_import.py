"""An ONNX file -> a spec, with the onnx package alone (no torch): `cnnspec import model.onnx`, and every
command given a .onnx path.

Each node that computes on the input's data becomes a layer: initializers and Constant nodes give the
weights (their shapes fix out_channels, out_features, the PReLU slopes) and the small constants the
arguments (Clip's bounds, Resize's scales, Split's sizes, Pad's pads, computed by the exporter's shape
arithmetic, which `static` evaluates). The shape of every tensor comes from onnx's shape inference; names
come from the node names torch.onnx writes (``/layer1/layer1.0/conv1/Conv`` is ``layer1.0.conv1``), and
scopes from them, so repeated modules still become blocks (by structure: ONNX keeps no classes).

What a graph cannot tell: a batch norm an exporter folded into the convolution before it (torch.onnx does
in eval mode unless ``do_constant_folding=False``, or with ``training=TrainingMode.TRAINING``) is gone: the
conv has a bias and no batch norm, so the spec counts C fewer params (2C of the norm become C of bias), no
buffers (2C+1) and no batch-norm FLOPs; its MACs are unchanged. Such convolutions carry weights the exporter
made (``onnx::Conv_497``) and are noted. Whether a batch norm was affine, whether a ReLU ran in place, and
dropout (dropped at export) are not in the graph either: the spec takes PyTorch's usual choices.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import onnx
from onnx import numpy_helper, shape_inference

from .imported import (Alias, Converted, Imported, Parts, Problem, Ref, Unsupported, UnsupportedModel, check_totals,
                       load_written)
from .specwriter import Item, Scope, SpecWriter
from ..errors import SpecError
from ..layers import LAYERS

LARGE = 4096
"""Initializers with more values than this are weights: shape inference gets their shapes only."""


@dataclass
class Node:
    """An ONNX node with its attributes read, and the scope path its name gives."""
    proto: onnx.NodeProto
    attributes: dict[str, Any]

    @property
    def op(self) -> str:
        return self.proto.op_type

    def get(self, name: str, default=None):
        return self.attributes.get(name, default)


OPS: dict[str, Callable[..., Converted | Alias | Parts]] = {}


def op_converter(*names: str):
    def register(function):
        for name in names:
            OPS[name] = function
        return function
    return register


# --- entry point ------------------------------------------------------------------------------

def import_onnx(path: str | Path, input_shape: tuple[int, ...] | None = None, *, name: str | None = None,
                allow_unsupported: bool = False) -> Imported:
    """The spec of the ONNX file at ``path``; ``input_shape`` (no batch axis) where the file leaves sizes open."""
    path = Path(path)
    try:
        model = onnx.load(str(path))
    except FileNotFoundError:
        raise SpecError(f"no ONNX file '{path}'") from None
    except Exception as error:  # noqa: BLE001 - a file that is not a model: say so in one line
        raise SpecError(f"cannot read {path} as ONNX: {type(error).__name__}: {str(error).splitlines()[0][:200]}") \
            from None
    reader = Reader(model, input_shape, str(path))
    reader.run()
    if reader.problems and (not allow_unsupported or any(p.shape is None for p in reader.problems)):
        raise UnsupportedModel(reader.problems)
    producer = f"{model.producer_name} {model.producer_version}".strip() or "an unknown producer"
    opset = max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default=0)
    header = [f"Imported by `cnnspec import` from {path.name} (ONNX opset {opset}, written by {producer}), input "
              f"{'x'.join(map(str, reader.shape))}.",
              "Layer names come from the node names; a block is a structure that repeats (ONNX keeps no classes)."]
    header += [f"NOTE: {note}" for note in reader.notes]
    header += [f"UNSUPPORTED (a placeholder, nothing counted): {p}" for p in reader.problems]
    expect = None if reader.problems else {"source": f"the ONNX file's initializers", "params": reader.params,
                                           "output": list(reader.shapes[reader.outputs[0]])
                                           if len(reader.outputs) == 1 else None}
    if expect and expect["output"] is None:
        expect.pop("output")
    text = SpecWriter(reader.items, reader.outputs, reader.shape).write(name or _spec_name(path), header, expect)
    graph = load_written(text, f"<imported {path.name}>")
    check_totals(graph, reader.shapes, reader.params, "the ONNX graph")
    return Imported(text, graph, list(reader.problems), list(reader.notes))


def _spec_name(path: Path) -> str:
    return re.sub(r"\W", "_", path.stem) or "model"


# --- reading the graph ------------------------------------------------------------------------

class Reader:
    def __init__(self, model: onnx.ModelProto, input_shape: tuple[int, ...] | None, path: str):
        self.model, self.path = model, path
        graph = model.graph
        self.initializers = {i.name: i for i in graph.initializer}
        inputs = [i for i in graph.input if i.name not in self.initializers]
        if len(inputs) != 1:
            raise SpecError(f"{path} has {len(inputs)} inputs ({', '.join(i.name for i in inputs)}); a spec has one")
        self.input = inputs[0]
        self.batch, self.shape = self.input_dims(input_shape)
        self.values: dict[str, np.ndarray | None] = {}  # static tensors: value where known
        self.refs: dict[str, Ref | Parts] = {self.input.name: Ref("input", (self.batch, *self.shape))}
        self.items: list[Item] = []
        self.shapes: dict[str, tuple[int, ...]] = {}  # layer -> shape (no batch), from shape inference
        self.inferred: dict[str, tuple[int, ...]] = {}
        self.problems: list[Problem] = []
        self.notes: list[str] = []
        self.outputs: list[str] = []
        self.params = 0
        self.names: set[str] = {"input"}
        self.counters: dict[tuple[str, str], int] = {}
        self.scopes: dict[str, Scope] = {}
        self.folded: list[str] = []  # convolutions with exporter-made weights and a bias
        self.consumers: dict[str, int] = {}
        for node in graph.node:
            for name in node.input:
                self.consumers[name] = self.consumers.get(name, 0) + 1

    def input_dims(self, given: tuple[int, ...] | None) -> tuple[int, tuple[int, ...]]:
        dims = [d.dim_value if d.HasField("dim_value") else None for d in self.input.type.tensor_type.shape.dim]
        if not 2 <= len(dims) <= 5:
            raise SpecError(f"{self.path}: the input '{self.input.name}' has {len(dims)} axes; a spec's input is "
                            "[N, C, L], [N, C, H, W] or [N, C, D, H, W]")
        batch, sizes = dims[0] or 1, dims[1:]
        if given is not None:
            if len(given) != len(sizes) or any(d is not None and d != g for d, g in zip(sizes, given)):
                raise SpecError(f"--input {'x'.join(map(str, given))} does not fit the ONNX input "
                                f"[{', '.join(str(d or '?') for d in dims)}]")
            return batch, tuple(given)
        if None in sizes:
            raise SpecError(f"the ONNX input has open sizes [{', '.join(str(d or '?') for d in dims)}]: give them "
                            "with --input, e.g. --input 3x224x224")
        return batch, tuple(sizes)

    def run(self) -> None:
        self.infer_shapes()
        for initializer in self.model.graph.initializer:
            self.values[initializer.name] = numpy_helper.to_array(initializer) if _numel(initializer.dims) <= LARGE \
                else None
        data = data_nodes(self.model.graph, self.input.name)
        self.layout(data)
        failed: set[str] = set()  # outputs of nodes reported unsupported without a placeholder
        for index, proto in enumerate(self.model.graph.node):
            node = Node(proto, {a.name: onnx.helper.get_attribute_value(a) for a in proto.attribute})
            if index not in data:
                self.static(node)
            elif failed.intersection(proto.input):
                failed.update(proto.output)  # follows from a problem reported already
            elif not self.convert(node):
                failed.update(proto.output)
        for output in self.model.graph.output:
            ref = self.refs.get(output.name)
            if isinstance(ref, Ref) and ref.name not in (None, "input"):
                self.outputs.append(ref.name)
            elif not self.problems:
                raise SpecError(f"the graph's output '{output.name}' is not computed from its input")
        if self.folded:
            self.notes.append(f"{len(self.folded)} convolution(s) ({', '.join(self.folded[:3])}"
                              f"{', ...' if len(self.folded) > 3 else ''}) have a bias and weights the exporter computed: "
                              "batch norms folded into them (torch.onnx in eval mode) cannot be recovered, so params count "
                              "C less per folded norm and buffers 2C+1 less; MACs are exact. Export with "
                              "do_constant_folding=False to keep them")

    def layout(self, data: set[int]) -> None:
        """The scopes of the data nodes: how many nodes each holds, and how deep modules nest in each."""
        self.scope_nodes: dict[str, int] = {}
        chains = []
        for index, proto in enumerate(self.model.graph.node):
            if index in data:
                path, chain = module_path(proto.name)
                if path:
                    self.scope_nodes[path] = self.scope_nodes.get(path, 0) + 1
                    chains.append(chain)
        self.heights: dict[str, int] = {}
        for chain in chains:
            modules = [name for name, container in chain if not container]
            for depth, name in enumerate(modules):
                self.heights[name] = max(self.heights.get(name, 0), len(modules) - depth)

    def infer_shapes(self) -> None:
        """Every tensor's shape, with the input's sizes fixed; weights enter as shapes only (no copy of them)."""
        light = onnx.ModelProto()
        light.CopyFrom(self.model) if _numel_total(self.model) <= 10 * LARGE else light.CopyFrom(_without_weights(
            self.model))
        dims = light.graph.input[[i.name for i in light.graph.input].index(self.input.name)].type.tensor_type.shape.dim
        for dim, size in zip(dims, (self.batch, *self.shape)):
            dim.Clear()
            dim.dim_value = size
        try:
            inferred = shape_inference.infer_shapes(light, data_prop=True)
        except Exception as error:  # noqa: BLE001 - onnx's checker rejects the graph
            raise SpecError(f"onnx's shape inference fails on {self.path}: {str(error).splitlines()[0][:200]}") from None
        for info in [*inferred.graph.value_info, *inferred.graph.output]:
            dims = info.type.tensor_type.shape.dim
            if dims and all(d.HasField("dim_value") for d in dims):
                self.inferred[info.name] = tuple(d.dim_value for d in dims)

    # --- static nodes: constants and the exporter's shape arithmetic -------------------------------
    def static(self, node: Node) -> None:
        inputs = [self.values.get(name) if name else None for name in node.proto.input]
        try:
            value = STATIC.get(node.op, lambda *a: None)(node, inputs, self)
        except Exception:  # noqa: BLE001 - a value cnnspec cannot compute is unknown, not an error
            value = None
        for index, output in enumerate(node.proto.output):
            self.values[output] = value[index] if isinstance(value, list) else value if index == 0 else None

    def shape_of(self, name: str) -> tuple[int, ...] | None:
        if name in self.initializers:
            return tuple(self.initializers[name].dims)
        if name == self.input.name:
            return (self.batch, *self.shape)
        ref = self.refs.get(name)
        if isinstance(ref, Ref):
            return ref.shape
        return self.inferred.get(name)

    # --- data nodes ------------------------------------------------------------------------------
    def convert(self, node: Node) -> bool:
        """The node as a layer (or an alias, or parts); False where it is reported without a placeholder."""
        scopes, scope_name, leaf = self.scope_names(node.proto.name)
        inputs = [self.refs.get(name) if name in self.refs else _Constant(name, self.values.get(name),
                                                                             self.shape_of(name)) if name else None
                  for name in node.proto.input]
        location = node.proto.name or f"{node.op} node {node.proto.output[0]}"
        converter = OPS.get(node.op)
        result, reason = None, f"cnnspec has no layer type for ONNX {node.op}"
        if converter is not None:
            try:
                result = converter(node, inputs, self)
            except Unsupported as problem:
                reason = str(problem)
        if isinstance(result, Alias):
            self.refs[node.proto.output[0]] = result.of
            return True
        if isinstance(result, Parts):
            for output, part in zip(node.proto.output, result.parts):
                self.add(output, self.fresh(scope_name, part.type), scopes, part, node)
            return True
        if result is None:
            return self.unsupported(node, location, reason, inputs, scopes, scope_name)
        name = leaf if leaf and leaf not in self.names else self.fresh(leaf or scope_name, result.type)  # a module
        # exported as several nodes (Linear on [N, L, C]: MatMul, then Add of its bias) is named by its first
        self.names.add(name)
        self.add(node.proto.output[0], name, scopes, result, node)
        return True

    def add(self, output: str, name: str, scopes, converted: Converted, node: Node) -> None:
        in_shapes = [ref.sample for ref in converted.inputs]
        layer = LAYERS[converted.type].from_arguments(converted.arguments)
        out = tuple(layer.out_shape(in_shapes))
        inferred = self.inferred.get(output)
        if inferred is not None and inferred[1:] != out:
            raise RuntimeError(f"cnnspec's {converted.type} gives {list(out)} for ONNX node {node.proto.name or node.op}, "
                               f"onnx's shape inference {list(inferred[1:])}; please report it")
        self.items.append(Item(name, converted.type, converted.arguments, [r.name for r in converted.inputs], scopes,
                               out))
        self.shapes[name] = out
        self.params += sum(_numel(self.shape_of(weight) or ()) for weight in converted.owns)
        self.refs[output] = Ref(name, (self.batch, *out))
        if node.op == "Conv" and len(node.proto.input) > 2 and node.proto.input[1].startswith("onnx::"):
            self.folded.append(name)

    def unsupported(self, node: Node, location, reason, inputs, scopes, scope_name) -> bool:
        """Report the node; keep a placeholder of its shape where it has one output of known shape."""
        output = node.proto.output[0]
        shape = self.inferred.get(output)
        data = [r for r in inputs if isinstance(r, Ref) and r.name is not None]
        one = shape is not None and shape[0] == self.batch and 2 <= len(shape) <= 5 and len(node.proto.output) == 1
        problem = Problem(location, f"ONNX {node.op}", reason, shape[1:] if one and data else None)
        self.problems.append(problem)
        if problem.shape is None:
            problem.reason += "; its output is not one tensor of known shape, so no placeholder can stand for it"
            return False
        converted = Converted("unsupported", {"shape": list(problem.shape), "what": f"ONNX {node.op}"}, data[:1])
        self.add(output, self.fresh(scope_name, "unsupported"), scopes, converted, node)
        return True

    # --- names and scopes ------------------------------------------------------------------------
    def scope_names(self, node_name: str) -> tuple[tuple[Scope, ...], str, str | None]:
        """(the scopes around, the innermost scope's name, the name of the module the node is, if it is one)."""
        path, chain = module_path(node_name)
        if not path:
            return (), "", None
        leaf = path if not any(p.startswith(path + ".") for p in self.scope_nodes) else None
        around = chain[:-1] if leaf else chain
        scopes = tuple(self.scope(name, container) for name, container in around)
        return scopes, (around[-1][0] if around else ""), leaf

    def scope(self, name: str, container: bool) -> Scope:
        """A scope is a container (written inline) where the exporter named its children after it
        (``downsample/downsample.0``: an nn.Sequential); the others are blocks when their structure repeats.
        Scopes group by how deep modules nest in them, so that a block's inner blocks are found first."""
        if name not in self.scopes:
            self.scopes[name] = Scope(name, "" if container else f"onnx:{self.heights.get(name, 1)}", "block",
                                      by_structure=True)
        return self.scopes[name]

    def fresh(self, scope: str, base: str) -> str:
        while True:
            count = self.counters.get((scope, base), 0)
            self.counters[(scope, base)] = count + 1
            local = base if count == 0 else f"{base}_{count}"
            name = f"{scope}.{local}" if scope else local
            if name not in self.names and name not in self.scope_nodes:
                self.names.add(name)
                return name


@dataclass(frozen=True)
class _Constant:
    """A static input of a data node: its value where known (small), always its shape where inferred."""
    name: str
    value: np.ndarray | None
    shape: tuple[int, ...] | None


def data_nodes(graph: onnx.GraphProto, input_name: str | None, data: set[str] | None = None) -> set[int]:
    """The nodes that compute on the input's values (their indices; ``data``: the names known to hold such
    values). A Shape of them is static: the exporter's shape arithmetic. A node with a subgraph (If, Loop) that
    reads them counts as one."""
    data, found = {input_name} if data is None else set(data), set()
    for index, proto in enumerate(graph.node):
        reads = set(proto.input)
        for attribute in proto.attribute:
            for sub in ([attribute.g] if attribute.type == onnx.AttributeProto.GRAPH else attribute.graphs):
                reads.update(name for inner in sub.node for name in inner.input)
        if proto.op_type not in ("Shape", "Size") and reads & data:
            found.add(index)
            data.update(proto.output)
    return found


def module_path(node_name: str) -> tuple[str, list[tuple[str, bool]]]:
    """'/layer1/layer1.0/downsample/downsample.0/Conv' -> 'layer1.0.downsample.0', with each scope and whether it
    is a container. torch.onnx names a scope relative to the nearest module that is not an nn.Sequential (whose
    children it names 'downsample.0'), so a part that extends the one before it is a child of a container."""
    parts = [p for p in node_name.split("/") if p][:-1]
    chain: list[tuple[str, bool]] = []
    base, previous = "", None
    for part in parts:
        if previous is not None and part.startswith(previous + "."):
            chain[-1] = (chain[-1][0], True)  # the one before only names its children: a container
        elif chain:
            base = chain[-1][0] + "."
        chain.append((base + part, False))
        previous = part
    return (chain[-1][0] if chain else ""), chain


def _numel(dims) -> int:
    n = 1
    for d in dims:
        n *= d
    return n


def _numel_total(model: onnx.ModelProto) -> int:
    return sum(_numel(i.dims) for i in model.graph.initializer)


def _without_weights(model: onnx.ModelProto) -> onnx.ModelProto:
    """The model with each large initializer turned into a graph input of its shape: shape inference needs
    only shapes, and copying VGG16's 553 MB for it would double the memory."""
    light = onnx.ModelProto()
    light.CopyFrom(onnx.ModelProto(ir_version=model.ir_version, opset_import=model.opset_import,
                                   producer_name=model.producer_name))
    light.graph.CopyFrom(onnx.GraphProto(node=model.graph.node, name=model.graph.name, input=model.graph.input,
                                         output=model.graph.output, value_info=model.graph.value_info))
    known = {i.name for i in light.graph.input}
    for initializer in model.graph.initializer:
        if _numel(initializer.dims) > LARGE:
            if initializer.name not in known:
                light.graph.input.append(onnx.helper.make_tensor_value_info(initializer.name, initializer.data_type,
                                                                              list(initializer.dims)))
        else:
            light.graph.initializer.append(initializer)
    return light


# --- static evaluation: the exporter's shape arithmetic --------------------------------------------

def _shape(node, inputs, reader):
    shape = reader.shape_of(node.proto.input[0])
    return None if shape is None else np.array(shape, dtype=np.int64)


def _unsqueeze(node, inputs, reader):
    axes = node.get("axes") if node.get("axes") is not None else inputs[1]
    value = inputs[0]
    for axis in sorted(int(a) % (value.ndim + len(axes)) for a in axes):
        value = np.expand_dims(value, axis)
    return value


def _squeeze(node, inputs, reader):
    axes = node.get("axes") if node.get("axes") is not None else inputs[1] if len(inputs) > 1 else None
    return np.squeeze(inputs[0], axis=None if axes is None else tuple(int(a) for a in axes))


def _slice_static(node, inputs, reader):
    data, starts, ends = inputs[:3]
    axes = inputs[3] if len(inputs) > 3 and inputs[3] is not None else range(len(starts))
    steps = inputs[4] if len(inputs) > 4 and inputs[4] is not None else [1] * len(starts)
    index = [slice(None)] * data.ndim
    for s, e, a, st in zip(starts, ends, axes, steps):
        index[int(a)] = slice(int(s), int(e), int(st))
    return data[tuple(index)]


STATIC: dict[str, Callable] = {
    "Constant": lambda node, inputs, reader: numpy_helper.to_array(node.get("value")) if node.get("value") is not None
    else np.array(node.get("value_ints") or node.get("value_int") or node.get("value_floats") or node.get("value_float")),
    "Identity": lambda node, inputs, reader: inputs[0],
    "Shape": _shape,
    "Gather": lambda node, inputs, reader: np.take(inputs[0], inputs[1], axis=node.get("axis", 0)),
    "Unsqueeze": _unsqueeze,
    "Squeeze": _squeeze,
    "Concat": lambda node, inputs, reader: np.concatenate([np.atleast_1d(v) for v in inputs], axis=node.get("axis")),
    "Reshape": lambda node, inputs, reader: inputs[0].reshape([int(n) for n in inputs[1]]),
    "Slice": _slice_static,
    "Transpose": lambda node, inputs, reader: np.transpose(inputs[0], node.get("perm")),
    "Cast": lambda node, inputs, reader: inputs[0].astype(onnx.helper.tensor_dtype_to_np_dtype(node.get("to"))),
    "Mul": lambda node, inputs, reader: inputs[0] * inputs[1],
    "Add": lambda node, inputs, reader: inputs[0] + inputs[1],
    "Sub": lambda node, inputs, reader: inputs[0] - inputs[1],
    "Div": lambda node, inputs, reader: inputs[0] // inputs[1] if inputs[0].dtype.kind == "i" else inputs[0] / inputs[1],
    "ConstantOfShape": lambda node, inputs, reader: np.full([int(n) for n in inputs[0]], numpy_helper.to_array(
        node.get("value")).item() if node.get("value") is not None else 0.0),
    "Range": lambda node, inputs, reader: np.arange(inputs[0], inputs[1], inputs[2]),
    "Mod": lambda node, inputs, reader: np.fmod(inputs[0], inputs[1]) if node.get("fmod") else np.mod(*inputs[:2]),
    "Equal": lambda node, inputs, reader: np.equal(inputs[0], inputs[1]),
    "Less": lambda node, inputs, reader: np.less(inputs[0], inputs[1]),
    "Greater": lambda node, inputs, reader: np.greater(inputs[0], inputs[1]),
    "Not": lambda node, inputs, reader: np.logical_not(inputs[0]),
    "And": lambda node, inputs, reader: np.logical_and(inputs[0], inputs[1]),
    "Or": lambda node, inputs, reader: np.logical_or(inputs[0], inputs[1]),
    "Where": lambda node, inputs, reader: np.where(inputs[0], inputs[1], inputs[2]),
    "Neg": lambda node, inputs, reader: -inputs[0],
    "Abs": lambda node, inputs, reader: np.abs(inputs[0]),
    "Floor": lambda node, inputs, reader: np.floor(inputs[0]),
    "Ceil": lambda node, inputs, reader: np.ceil(inputs[0]),
    "Sqrt": lambda node, inputs, reader: np.sqrt(inputs[0]),
    "Min": lambda node, inputs, reader: np.minimum.reduce(inputs),
    "Max": lambda node, inputs, reader: np.maximum.reduce(inputs),
}


# --- data nodes -> layers ------------------------------------------------------------------------

def data_input(inputs: list, index: int = 0) -> Ref:
    ref = inputs[index] if index < len(inputs) else None
    if not isinstance(ref, Ref) or ref.name is None:
        raise Unsupported(f"its input {index} is not computed from the graph's input")
    return ref


def weight(inputs: list, index: int, what: str) -> _Constant:
    value = inputs[index] if index < len(inputs) else None
    if not isinstance(value, _Constant) or value.shape is None:
        raise Unsupported(f"its {what} is computed from the data, not a weight")
    return value


def constant(inputs: list, index: int, what: str, default=None):
    """A small constant input's value (Clip's bounds, Resize's scales); ``default`` where it is left out."""
    value = inputs[index] if index < len(inputs) else None
    if value is None:
        return default
    if not isinstance(value, _Constant) or value.value is None:
        raise Unsupported(f"its {what} is not a constant cnnspec can read")
    return value.value


def spatial_pads(node: Node, rank: int) -> list[int]:
    """ONNX's pads [begin..., end...] as PyTorch's symmetric padding; uneven or automatic padding is refused."""
    auto = node.get("auto_pad", b"NOTSET")
    auto = auto.decode() if isinstance(auto, bytes) else auto
    pads = list(node.get("pads") or [0] * 2 * rank)
    if auto not in ("NOTSET", "VALID"):
        raise Unsupported(f"auto_pad={auto}: write the padding out (PyTorch pads the same on both sides)")
    if pads[:rank] != pads[rank:]:
        raise Unsupported(f"pads {pads} differ at the start and the end of an axis; PyTorch's layers pad both "
                          "sides alike")
    return pads[:rank]


def compact(values) -> Any:
    values = [int(v) for v in values]
    return values[0] if len(set(values)) == 1 else values


@op_converter("Conv")
def conv(node: Node, inputs: list, reader: Reader) -> Converted:
    x, w = data_input(inputs), weight(inputs, 1, "weight")
    rank = len(w.shape) - 2
    groups = node.get("group", 1)
    if w.shape[1] * groups != x.shape[1]:
        raise Unsupported(f"weight {list(w.shape)} with group={groups} does not fit {x.shape[1]} input channels")
    return Converted(f"conv{rank}d", {
        "out_channels": w.shape[0], "kernel_size": compact(w.shape[2:]), "stride": compact(node.get("strides") or [1]),
        "padding": compact(spatial_pads(node, rank)), "dilation": compact(node.get("dilations") or [1]),
        "groups": groups, "bias": len(inputs) > 2 and inputs[2] is not None}, [x], owns=weights(inputs, 1, 2))


def weights(inputs: list, *indices: int) -> list[str]:
    """The names of the inputs at ``indices`` that are given: the parameters a layer holds."""
    return [inputs[i].name for i in indices if i < len(inputs) and isinstance(inputs[i], _Constant)]


@op_converter("ConvTranspose")
def conv_transpose(node: Node, inputs: list, reader: Reader) -> Converted:
    x, w = data_input(inputs), weight(inputs, 1, "weight")
    rank = len(w.shape) - 2
    if node.get("output_shape"):
        raise Unsupported("output_shape: give output_padding instead")
    groups = node.get("group", 1)
    return Converted(f"conv_transpose{rank}d", {
        "out_channels": w.shape[1] * groups, "kernel_size": compact(w.shape[2:]),
        "stride": compact(node.get("strides") or [1]), "padding": compact(spatial_pads(node, rank)),
        "output_padding": compact(node.get("output_padding") or [0]), "dilation": compact(node.get("dilations") or [1]),
        "groups": groups, "bias": len(inputs) > 2 and inputs[2] is not None}, [x], owns=weights(inputs, 1, 2))


@op_converter("Gemm")
def gemm(node: Node, inputs: list, reader: Reader) -> Converted:
    x, w = data_input(inputs), weight(inputs, 1, "weight")
    if node.get("transA", 0) or node.get("alpha", 1.0) != 1.0 or node.get("beta", 1.0) != 1.0:
        raise Unsupported("transA, alpha or beta other than PyTorch's Linear exports")
    out_features = w.shape[0] if node.get("transB", 0) else w.shape[1]
    return Converted("linear", {"out_features": out_features, "bias": len(inputs) > 2 and inputs[2] is not None}, [x],
                     owns=weights(inputs, 1, 2))


@op_converter("MatMul")
def matmul(node: Node, inputs: list, reader: Reader) -> Converted:
    """A linear layer without bias (its bias, if any, is the Add after it: see ``add``)."""
    x, w = data_input(inputs), weight(inputs, 1, "second operand")
    if len(w.shape) != 2 or w.shape[0] != x.shape[-1]:
        raise Unsupported(f"a product with {list(w.shape)} that is not a weight matrix for {list(x.shape)}")
    return Converted("linear", {"out_features": w.shape[1], "bias": False}, [x], owns=weights(inputs, 1))


@op_converter("BatchNormalization")
def batch_norm(node: Node, inputs: list, reader: Reader) -> Converted:
    x = data_input(inputs)
    rank = max(1, len(x.shape) - 2)
    if len(node.proto.output) > 1 and any(reader.consumers.get(o) for o in node.proto.output[1:] if o):
        raise Unsupported("its running statistics are read by other nodes")
    momentum = 1 - node.get("momentum", 0.9)  # ONNX keeps momentum of the old value; PyTorch of the new
    return Converted(f"batchnorm{rank}d", {"eps": round(float(node.get("epsilon", 1e-5)), 10),
                                           "momentum": round(float(momentum), 6)}, [x], owns=weights(inputs, 1, 2))


def elementwise(layer_type: str, **arguments):
    def convert(node: Node, inputs: list, reader: Reader) -> Converted:
        return Converted(layer_type, dict(arguments), [data_input(inputs)])
    return convert


OPS.update({"Relu": elementwise("relu"), "Sigmoid": elementwise("sigmoid"), "Tanh": elementwise("tanh"),
            "HardSwish": elementwise("hardswish"), "Mish": elementwise("mish")})


@op_converter("Identity", "Dropout")
def passes_through(node: Node, inputs: list, reader: Reader) -> Alias | Converted:
    if node.op == "Dropout" and len(node.proto.output) > 1 and reader.consumers.get(node.proto.output[1]):
        raise Unsupported("its mask is read by other nodes")
    return Alias(data_input(inputs))


@op_converter("Clip")
def clip(node: Node, inputs: list, reader: Reader) -> Converted:
    low = node.get("min") if node.get("min") is not None else constant(inputs, 1, "min")
    high = node.get("max") if node.get("max") is not None else constant(inputs, 2, "max")
    low, high = (None if v is None else float(np.asarray(v).item()) for v in (low, high))
    x = data_input(inputs)
    if low == 0 and high == 6:
        return Converted("relu6", {}, [x])
    if low == 0 and high is None:
        return Converted("relu", {}, [x])
    if low is None or high is None:
        raise Unsupported("a clip with one bound other than min=0")
    return Converted("hardtanh", {"min_val": low, "max_val": high}, [x])


@op_converter("HardSigmoid")
def hardsigmoid(node: Node, inputs: list, reader: Reader) -> Converted:
    if abs(node.get("alpha", 0.2) - 1 / 6) > 1e-6 or abs(node.get("beta", 0.5) - 0.5) > 1e-6:
        raise Unsupported(f"alpha={node.get('alpha', 0.2)}, beta={node.get('beta', 0.5)}: PyTorch's hardsigmoid "
                          "is relu6(x + 3) / 6 (alpha 1/6, beta 0.5)")
    return Converted("hardsigmoid", {}, [data_input(inputs)])


@op_converter("LeakyRelu")
def leaky_relu(node: Node, inputs: list, reader: Reader) -> Converted:
    return Converted("leaky_relu", {"negative_slope": round(float(node.get("alpha", 0.01)), 7)}, [data_input(inputs)])


@op_converter("Elu")
def elu(node: Node, inputs: list, reader: Reader) -> Converted:
    return Converted("elu", {"alpha": round(float(node.get("alpha", 1.0)), 7)}, [data_input(inputs)])


@op_converter("PRelu")
def prelu(node: Node, inputs: list, reader: Reader) -> Converted:
    slope = weight(inputs, 1, "slope")
    return Converted("prelu", {"num_parameters": _numel(slope.shape)}, [data_input(inputs)], owns=weights(inputs, 1))


@op_converter("Softmax")
def softmax(node: Node, inputs: list, reader: Reader) -> Converted:
    x = data_input(inputs)
    axis = node.get("axis", -1) % len(x.shape)
    if axis == 0:
        raise Unsupported("a softmax over the batch axis")
    return Converted("softmax", {"dim": axis}, [x])


@op_converter("Gelu")
def gelu(node: Node, inputs: list, reader: Reader) -> Converted:
    approximate = node.get("approximate", b"none")
    return Converted("gelu", {"approximate": approximate.decode() if isinstance(approximate, bytes) else approximate},
                     [data_input(inputs)])


@op_converter("MaxPool", "AveragePool")
def pool(node: Node, inputs: list, reader: Reader) -> Converted:
    x = data_input(inputs)
    if len(node.proto.output) > 1 and reader.consumers.get(node.proto.output[1]):
        raise Unsupported("its indices are read by other nodes")
    kernel = node.get("kernel_shape")
    rank = len(kernel)
    arguments = {"kernel_size": compact(kernel), "stride": compact(node.get("strides") or [1] * rank),
                 "padding": compact(spatial_pads(node, rank)), "ceil_mode": bool(node.get("ceil_mode", 0))}
    if node.op == "MaxPool":
        arguments["dilation"] = compact(node.get("dilations") or [1])
        return Converted(f"maxpool{rank}d", arguments, [x])
    arguments["count_include_pad"] = bool(node.get("count_include_pad", 0))
    return Converted(f"avgpool{rank}d", arguments, [x])


@op_converter("GlobalAveragePool", "GlobalMaxPool")
def global_pool(node: Node, inputs: list, reader: Reader) -> Converted:
    x = data_input(inputs)
    kind = "avg" if node.op == "GlobalAveragePool" else "max"
    return Converted(f"adaptive_{kind}_pool{len(x.shape) - 2}d", {"output_size": 1}, [x])


@op_converter("ReduceMean")
def reduce_mean(node: Node, inputs: list, reader: Reader) -> Converted:
    x = data_input(inputs)
    axes = node.get("axes") if node.get("axes") is not None else constant(inputs, 1, "axes")
    if axes is None or sorted(int(a) % len(x.shape) for a in axes) != list(range(2, len(x.shape))):
        raise Unsupported(f"a mean over axes {None if axes is None else [int(a) for a in axes]}: only one over every "
                          "spatial axis (global pooling) is a spec layer")
    return Converted("global_avg_pool", {"keepdim": bool(node.get("keepdims", 1))}, [x])


@op_converter("Add", "Mul", "Sum")
def merge(node: Node, inputs: list, reader: Reader) -> Converted | Alias:
    data = [i for i in inputs if isinstance(i, Ref) and i.name is not None]
    if node.op == "Add" and len(data) == 1 and len(inputs) == 2:
        return linear_bias(node, inputs, data[0], reader)
    if node.op == "Mul" and len(data) == 1 and len(inputs) == 2:
        return layer_scale(inputs, data[0])
    if len(data) != len(inputs) or len(data) < 2:
        raise Unsupported(f"{node.op} with a constant: a spec's {'add' if node.op != 'Mul' else 'multiply'} joins "
                          "results of the layers before")
    return Converted("multiply" if node.op == "Mul" else "add", {}, data)


def linear_bias(node: Node, inputs: list, x: Ref, reader: Reader) -> Alias:
    """MatMul then Add of a constant vector: PyTorch's Linear on more than two axes, one layer with a bias."""
    bias = next(i for i in inputs if isinstance(i, _Constant))
    item = next((it for it in reader.items if it.name == x.name), None)
    if (item is None or item.type != "linear" or item.arguments["bias"] or bias.shape != (item.arguments[
            "out_features"],) or reader.consumers.get(_output_of(reader, x.name), 0) != 1):
        raise Unsupported("Add of a constant: a spec's add joins results of the layers before")
    item.arguments["bias"] = True
    reader.params += _numel(bias.shape)
    return Alias(x)


def layer_scale(inputs: list, x: Ref) -> Converted:
    """Mul by a weight of one factor per channel ([C, 1, 1], or [C] on the last axis): layer_scale."""
    gamma = next(i for i in inputs if isinstance(i, _Constant))
    shape, sample = tuple(gamma.shape or ()), x.sample
    while len(shape) > len(sample) and shape[0] == 1:
        shape = shape[1:]  # [1, C, 1, 1] broadcasts as [C, 1, 1]
    if len(shape) == len(sample) and shape[0] == sample[0] and all(n == 1 for n in shape[1:]):
        dim = 1
    elif len(shape) == 1 and shape[0] == sample[-1] and len(sample) > 1:
        dim = -1
    else:
        raise Unsupported(f"Mul by a constant of shape {list(gamma.shape or ())}: only one factor per channel is a "
                          "spec layer (layer_scale)")
    return Converted("layer_scale", {"dim": dim}, [x], owns=[gamma.name])


def _output_of(reader: Reader, layer: str) -> str:
    return next(name for name, ref in reader.refs.items() if isinstance(ref, Ref) and ref.name == layer)


@op_converter("Concat")
def concat(node: Node, inputs: list, reader: Reader) -> Converted:
    data = [data_input(inputs, i) for i in range(len(inputs))]
    axis = node.get("axis") % len(data[0].shape)
    if axis == 0:
        raise Unsupported("concatenates along the batch axis")
    return Converted("concat", {"dim": axis}, data)


@op_converter("Flatten")
def flatten(node: Node, inputs: list, reader: Reader) -> Converted:
    x = data_input(inputs)
    if node.get("axis", 1) % len(x.shape) != 1:
        raise Unsupported(f"axis={node.get('axis', 1)}: ONNX's Flatten then mixes the batch axis into the others")
    return Converted("flatten", {}, [x])


@op_converter("Reshape", "Squeeze", "Unsqueeze")
def reshape(node: Node, inputs: list, reader: Reader) -> Converted:
    """Any new shape that keeps the batch axis first: flatten where it is [N, rest], else reshape."""
    x = data_input(inputs)
    out = squeezed(node, inputs, x.shape) if node.op != "Reshape" else (
        reader.inferred.get(node.proto.output[0]) or reshaped(x.shape, constant(inputs, 1, "shape"),
                                                              node.get("allowzero", 0)))
    if out is None:
        raise Unsupported("its output shape is not known")
    if out[0] != x.shape[0]:
        raise Unsupported(f"reshapes {list(x.shape)} to {list(out)}: the batch axis must stay first and whole")
    if len(out) == 2:
        return Converted("flatten", {}, [x])
    return Converted("reshape", {"shape": list(out[1:])}, [x])


def reshaped(shape: tuple[int, ...], target, allowzero: int) -> tuple[int, ...]:
    """ONNX Reshape's output: 0 copies the input's size there (unless allowzero), -1 takes the rest."""
    sizes = [shape[i] if int(n) == 0 and not allowzero else int(n) for i, n in enumerate(target)]
    known = _numel(n for n in sizes if n != -1)
    return tuple(_numel(shape) // known if n == -1 else n for n in sizes)


def squeezed(node: Node, inputs: list, shape: tuple[int, ...]) -> tuple[int, ...] | None:
    """The shape after Squeeze or Unsqueeze, from its axes (an attribute before opset 13, an input after)."""
    axes = node.get("axes") if node.get("axes") is not None else constant(inputs, 1, "axes")
    if axes is None:
        return tuple(n for n in shape if n != 1) if node.op == "Squeeze" else None
    if node.op == "Squeeze":
        drop = {int(a) % len(shape) for a in axes}
        return tuple(n for axis, n in enumerate(shape) if axis not in drop)
    out = list(shape)
    for axis in sorted(int(a) % (len(shape) + len(axes)) for a in axes):
        out.insert(axis, 1)
    return tuple(out)


@op_converter("If")
def if_(node: Node, inputs: list, reader: Reader) -> Alias:
    """The exporter's branch on a shape (``x.squeeze(1)`` with a dynamic batch: squeeze if the axis is 1): the
    condition is static, so the branch taken is read as nodes of the graph."""
    condition = constant(inputs, 0, "condition")
    branch = node.get("then_branch") if bool(np.asarray(condition).item()) else node.get("else_branch")
    if len(branch.output) != 1:
        raise Unsupported("a branch with several outputs")
    data = data_nodes(branch, None, set(reader.refs))
    for index, proto in enumerate(branch.node):
        inner = Node(proto, {a.name: onnx.helper.get_attribute_value(a) for a in proto.attribute})
        if index not in data:
            reader.static(inner)
        elif not reader.convert(inner):
            raise Unsupported("its branch holds an operation cnnspec cannot import (listed)")
    result = reader.refs.get(branch.output[0].name)
    if not isinstance(result, Ref):
        raise Unsupported("its branch's result is not computed from the graph's input")
    return Alias(result)


@op_converter("Transpose")
def transpose(node: Node, inputs: list, reader: Reader) -> Converted:
    x = data_input(inputs)
    perm = list(node.get("perm") or reversed(range(len(x.shape))))
    if perm[0] != 0:
        raise Unsupported(f"perm {perm} moves the batch axis")
    return Converted("permute", {"dims": perm}, [x])


@op_converter("Resize", "Upsample")
def resize(node: Node, inputs: list, reader: Reader) -> Converted:
    x = data_input(inputs)
    mode = node.get("mode", b"nearest")
    mode = mode.decode() if isinstance(mode, bytes) else mode
    transform = node.get("coordinate_transformation_mode", b"half_pixel")
    transform = transform.decode() if isinstance(transform, bytes) else transform
    rank = len(x.shape) - 2
    if mode == "linear":
        mode = {1: "linear", 2: "bilinear", 3: "trilinear"}[rank]
    elif mode != "nearest":
        raise Unsupported(f"mode={mode!r}: a spec's upsample is nearest or (bi/tri)linear")
    scales = node.get("scales") if node.op == "Upsample" and node.get("scales") else (
        constant(inputs, 2 if node.op == "Resize" else 1, "scales"))
    sizes = constant(inputs, 3, "sizes") if node.op == "Resize" and len(inputs) > 3 else None
    arguments: dict[str, Any] = {"mode": mode}
    if mode != "nearest":
        arguments["align_corners"] = transform == "align_corners"
    if sizes is not None and len(sizes):
        arguments["size"] = compact(list(sizes)[2:])
    elif scales is not None and len(scales):
        factors = [float(s) for s in list(scales)[2:]]
        if list(scales)[:2] != [1, 1]:
            raise Unsupported(f"scales {list(scales)} resize the batch or channel axis")
        arguments["scale_factor"] = factors[0] if len(set(factors)) == 1 else factors
    else:
        raise Unsupported("neither scales nor sizes is a constant")
    return Converted("upsample", arguments, [x])


@op_converter("Split")
def split(node: Node, inputs: list, reader: Reader) -> Parts:
    x = data_input(inputs)
    axis = node.get("axis", 0) % len(x.shape)
    if axis == 0:
        raise Unsupported("splits the batch axis")
    sizes = node.get("split") if node.get("split") is not None else constant(inputs, 1, "split")
    if sizes is None:
        outputs = len(node.proto.output)
        sizes = [-(-x.shape[axis] // outputs)] * outputs
        sizes[-1] = x.shape[axis] - sum(sizes[:-1])
    starts = np.cumsum([0, *[int(s) for s in sizes]])
    return Parts([Converted("slice", {"dim": axis, "start": int(a), "end": int(b)}, [x])
                  for a, b in zip(starts[:-1], starts[1:])])


@op_converter("Slice")
def slice_(node: Node, inputs: list, reader: Reader) -> Converted | Alias:
    x = data_input(inputs)
    starts, ends = constant(inputs, 1, "starts"), constant(inputs, 2, "ends")
    axes = constant(inputs, 3, "axes", list(range(len(starts))))
    steps = constant(inputs, 4, "steps", [1] * len(starts))
    cuts = []
    for start, end, axis, step in zip(starts, ends, axes, steps):
        axis = int(axis) % len(x.shape)
        first, last, _ = slice(int(start), int(end), int(step)).indices(x.shape[axis])
        if (first, last) != (0, x.shape[axis]):
            cuts.append((axis, first, last, int(step)))
    if not cuts:
        return Alias(x)
    if len(cuts) > 1 or cuts[0][0] == 0 or cuts[0][3] != 1:
        raise Unsupported("only a step-1 slice of one axis other than the batch is a spec layer")
    axis, first, last, _ = cuts[0]
    return Converted("slice", {"dim": axis, "start": first, "end": last}, [x])


@op_converter("Pad")
def pad(node: Node, inputs: list, reader: Reader) -> Converted:
    x = data_input(inputs)
    mode = node.get("mode", b"constant")
    mode = mode.decode() if isinstance(mode, bytes) else mode
    pads = node.get("pads") if node.get("pads") is not None else constant(inputs, 1, "pads")
    value = constant(inputs, 2, "value", 0) if node.get("value") is None else node.get("value")
    if mode != "constant" or float(np.asarray(value).item() if np.asarray(value).size else 0) != 0:
        raise Unsupported(f"pads in mode {mode!r} with value {value}: a spec pads with zeros")
    rank = len(x.shape)
    pads = [int(p) for p in pads]
    if pads[0] or pads[1] or pads[rank] or pads[rank + 1] or any(p < 0 for p in pads):
        raise Unsupported(f"pads {pads} the batch or channel axis, or crops")
    torch_order = []  # PyTorch: the last axis first, (left, right) per axis
    for axis in reversed(range(2, rank)):
        torch_order += [pads[axis], pads[rank + axis]]
    return Converted("zero_pad", {"padding": torch_order[0] if len(set(torch_order)) == 1 else torch_order}, [x])


@op_converter("LayerNormalization")
def layer_norm(node: Node, inputs: list, reader: Reader) -> Converted:
    x = data_input(inputs)
    axis = node.get("axis", -1) % len(x.shape)
    if axis == 0:
        raise Unsupported("normalizes over the batch axis")
    if len(node.proto.output) > 1 and any(reader.consumers.get(o) for o in node.proto.output[1:] if o):
        raise Unsupported("its mean or inverse deviation is read by other nodes")
    shape = list(x.shape[axis:])
    bias = len(inputs) > 2 and inputs[2] is not None
    return Converted("layer_norm", {"normalized_shape": shape[0] if len(shape) == 1 else shape,
                                    "eps": round(float(node.get("epsilon", 1e-5)), 10), "bias": bias}, [x],
                     owns=weights(inputs, 1, 2))


@op_converter("DepthToSpace")
def depth_to_space(node: Node, inputs: list, reader: Reader) -> Converted:
    mode = node.get("mode", b"DCR")
    if (mode.decode() if isinstance(mode, bytes) else mode) != "CRD":
        raise Unsupported("mode DCR (TensorFlow's order): PyTorch's pixel_shuffle is mode CRD")
    return Converted("pixel_shuffle", {"upscale_factor": node.get("blocksize")}, [data_input(inputs)])


@op_converter("LRN")
def lrn(node: Node, inputs: list, reader: Reader) -> Converted:
    return Converted("local_response_norm", {"size": node.get("size"), "alpha": round(float(node.get("alpha", 1e-4)), 10),
                                             "beta": round(float(node.get("beta", 0.75)), 7),
                                             "k": round(float(node.get("bias", 1.0)), 7)}, [data_input(inputs)])
