"""The layer graph: layer objects wired by name, in topological order, with shapes inferred.

Every error raised here carries the node's file, line and column, and its name.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from graphlib import CycleError, TopologicalSorter

from .errors import Loc, SpecError
from .layers import LAYERS, Layer
from .layers.base import Input
from .shape import ArgumentError, Shape
from .spec import Spec, gc_paused, load_spec


@dataclass
class Node:
    name: str
    layer: Layer
    inputs: list[str]
    loc: Loc
    block: str | None = None
    trainable: bool = True
    argument_locs: dict[str, Loc] = field(default_factory=dict)
    in_shapes: list[Shape] = field(default_factory=list)
    out_shape: Shape = ()
    consumers: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def type(self) -> str:
        return self.layer.type_name


@dataclass
class Graph:
    name: str
    path: str
    input_shape: Shape
    nodes: list[Node]  # topological order; nodes[0] is the input
    outputs: list[str]
    spec: Spec

    def __post_init__(self):
        self.by_name = {node.name: node for node in self.nodes}

    def __getitem__(self, name: str) -> Node:
        return self.by_name[name]

    def feeding(self, name: str) -> list[str]:
        """The layers that ``name`` depends on, itself and the input included, in topological order."""
        needed = {name}
        for node in reversed(self.nodes):
            if node.name in needed:
                needed.update(node.inputs)
        return [node.name for node in self.nodes if node.name in needed]


def feeding_only(graph: Graph, output: str) -> Graph:
    """The graph of the layers that feed ``output``, with it as the only output, rebuilt from the spec so that
    in-place decisions and warnings are those of the smaller network (``cnnspec analyze --output``)."""
    needed = set(graph.feeding(output))
    spec = graph.spec
    loc = spec.output_locs[spec.outputs.index(output)] if output in spec.outputs else graph[output].loc
    return build_graph(dataclasses.replace(spec, nodes=[n for n in spec.nodes if n.name in needed],
                                           outputs=[output], output_locs=[loc]))


def load(path_or_name: str, input_shape: Shape | None = None, overrides: dict | None = None) -> Graph:
    """Load a spec file (or built-in name) into a shape-checked graph; an ONNX file is imported on the fly, so
    every command reads one."""
    if str(path_or_name).lower().endswith(".onnx"):
        return load_onnx(str(path_or_name), input_shape, overrides)
    return build_graph(load_spec(path_or_name, input_shape, overrides))


def load_onnx(path: str, input_shape: Shape | None, overrides: dict | None) -> Graph:
    """The graph of an ONNX file (cnnspec/torch/onnx_import.py, which needs the onnx package, not torch)."""
    if overrides:
        raise SpecError(f"--set changes a spec's args; {path} is an ONNX file, which has none")
    try:
        from .torch.onnx_import import import_onnx
    except ModuleNotFoundError as error:
        if (error.name or "").split(".")[0] != "onnx":
            raise
        raise SpecError(f"reading {path} needs onnx, which is not installed: pip install cnnspec[torch]") from None
    return import_onnx(path, input_shape).graph


@gc_paused
def build_graph(spec: Spec) -> Graph:
    nodes = [Node("input", Input(shape=spec.input_shape), [], spec.input_loc)]
    made: dict = {}
    nodes += [make_node(node_spec, made) for node_spec in spec.nodes]
    nodes = topological(nodes)
    graph = Graph(spec.name, spec.path, spec.input_shape, nodes, spec.outputs, spec)
    inferred: dict[tuple, tuple[Shape, list[str]]] = {}
    for node in nodes:
        infer(graph, node, inferred)
    decide_in_place(graph)
    for node in nodes[1:]:
        if not node.consumers and node.name not in graph.outputs:
            node.warnings.append("its output is never used (not an input of any layer, not in outputs:)")
    return graph


def make_node(node_spec, made: dict | None = None) -> Node:
    layer = make_layer(node_spec, made)
    return Node(node_spec.name, layer, node_spec.inputs, node_spec.loc, node_spec.block, node_spec.trainable,
                node_spec.argument_locs)


def make_layer(node_spec, made: dict | None = None) -> Layer:
    """The layer of one expanded entry, its arguments and number of inputs checked. Layers are values (nothing
    changes one once made), so entries with the same type and arguments share one in ``made``: a block
    repeated 10,000 times checks its arguments once."""
    low, high = LAYERS[node_spec.type].inputs_range
    count = len(node_spec.inputs)
    if count < low or (high is not None and count > high):
        wanted = f"{low}" if low == high else f"at least {low}" if high is None else f"{low} or {high}"
        raise SpecError(f"{node_spec.type} takes {wanted} input(s), given {count}"
                        + (" (name them with inputs: [a, b])" if count < low else ""), node_spec.loc, node_spec.name)
    key = layer_key(node_spec) if made is not None else None
    layer = made.get(key) if key is not None else None
    if layer is None:
        try:
            layer = LAYERS[node_spec.type].from_arguments(node_spec.arguments)
        except ArgumentError as error:
            raise SpecError(str(error), node_spec.argument_locs.get(error.argument, node_spec.loc),
                            node_spec.name) from None
        if key is not None:
            made[key] = layer
    return layer


def layer_key(node_spec) -> tuple | None:
    """The layer type and arguments as a dictionary key, each value with its type (1, 1.0 and true are equal
    in Python, not as arguments); None where a value cannot be one."""
    def frozen(value):
        if isinstance(value, (list, tuple)):
            return list, tuple(frozen(v) for v in value)
        hash(value)
        return type(value), value
    try:
        return node_spec.type, tuple((name, frozen(value)) for name, value in node_spec.arguments.items())
    except TypeError:
        return None


def topological(nodes: list[Node]) -> list[Node]:
    """Nodes ordered so each follows its inputs, keeping the written order where it is free."""
    position = {node.name: i for i, node in enumerate(nodes)}
    by_name = {node.name: node for node in nodes}
    if all(position[i] < position[node.name] for node in nodes for i in node.inputs):
        return nodes
    sorter = TopologicalSorter({node.name: node.inputs for node in nodes})
    try:
        sorter.prepare()
    except CycleError as error:
        cycle = error.args[1]
        first = by_name[cycle[0]]
        raise SpecError(f"the layers form a cycle: {' -> '.join(cycle)}", first.loc, first.name) from None
    order = []
    while sorter.is_active():
        ready = sorted(sorter.get_ready(), key=position.get)
        order.extend(ready)
        sorter.done(*ready)
    return [by_name[name] for name in order]


def infer(graph: Graph, node: Node, inferred: dict[tuple, tuple[Shape, list[str]]]) -> None:
    """The node's input and output shapes and its warnings; ``inferred`` keeps the last two by layer and input
    shapes, which is all they depend on (the layers of a repeated block are shared: make_layer)."""
    node.in_shapes = [graph[name].out_shape for name in node.inputs]
    for name in node.inputs:
        graph[name].consumers.append(node.name)
    key = (id(node.layer), *node.in_shapes)  # the graph holds every layer while it is built: ids stay theirs
    if key not in inferred:
        out_shape = output_shape(node.layer, node.in_shapes, node)
        try:
            inferred[key] = out_shape, list(node.layer.warnings(node.in_shapes))
        except ArgumentError as error:
            raise SpecError(str(error), node.argument_locs.get(error.argument, node.loc), node.name) from None
    node.out_shape, warnings = inferred[key]
    node.warnings = list(warnings)


def output_shape(layer: Layer, in_shapes: list[Shape], where) -> Shape:
    """The layer's output shape for these inputs; a complaint about them points at the argument of ``where``
    (the node or the expanded entry)."""
    try:
        return tuple(layer.out_shape(in_shapes))
    except ArgumentError as error:
        raise SpecError(str(error), where.argument_locs.get(error.argument, where.loc), where.name) from None


def decide_in_place(graph: Graph) -> None:
    """An in-place layer may overwrite its input only if nothing else reads that tensor, backward included."""
    outputs = set(graph.outputs)
    for node in graph.nodes:
        if node.layer.memory != "inplace":
            continue
        source = graph[node.inputs[0]]
        while True:
            if (len(source.consumers) > 1 or source.name in outputs or isinstance(source.layer, Input)
                    or source.layer.saves_output(source.in_shapes, source.out_shape)):
                node.layer = dataclasses.replace(node.layer, inplace=False)
                break
            if source.layer.memory == "new":
                break
            source = graph[source.inputs[0]]
