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
    nodes += [make_node(node_spec) for node_spec in spec.nodes]
    nodes = topological(nodes)
    graph = Graph(spec.name, spec.path, spec.input_shape, nodes, spec.outputs, spec)
    for node in nodes:
        infer(graph, node)
    decide_in_place(graph)
    for node in nodes[1:]:
        if not node.consumers and node.name not in graph.outputs:
            node.warnings.append("its output is never used (not an input of any layer, not in outputs:)")
    return graph


def make_node(node_spec) -> Node:
    layer_type = LAYERS[node_spec.type]
    try:
        layer = layer_type.from_arguments(node_spec.arguments)
    except ArgumentError as error:
        raise SpecError(str(error), node_spec.argument_locs.get(error.argument, node_spec.loc),
                        node_spec.name) from None
    low, high = layer_type.inputs_range
    count = len(node_spec.inputs)
    if count < low or (high is not None and count > high):
        wanted = f"{low}" if low == high else f"at least {low}" if high is None else f"{low} or {high}"
        raise SpecError(f"{node_spec.type} takes {wanted} input(s), given {count}"
                        + (" (name them with inputs: [a, b])" if count < low else ""), node_spec.loc, node_spec.name)
    return Node(node_spec.name, layer, node_spec.inputs, node_spec.loc, node_spec.block, node_spec.trainable,
                node_spec.argument_locs)


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


def infer(graph: Graph, node: Node) -> None:
    node.in_shapes = [graph[name].out_shape for name in node.inputs]
    for name in node.inputs:
        graph[name].consumers.append(node.name)
    node.out_shape = output_shape(node, node.in_shapes)
    try:
        node.warnings = list(node.layer.warnings(node.in_shapes))
    except ArgumentError as error:
        raise SpecError(str(error), node.argument_locs.get(error.argument, node.loc), node.name) from None


def output_shape(node: Node, in_shapes: list[Shape]) -> Shape:
    """The node's output shape for these inputs; a layer's complaint about them points at its argument."""
    try:
        return tuple(node.layer.out_shape(in_shapes))
    except ArgumentError as error:
        raise SpecError(str(error), node.argument_locs.get(error.argument, node.loc), node.name) from None


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
