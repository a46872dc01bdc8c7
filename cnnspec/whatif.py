"""What-if transforms: the course's design lessons applied to one conv of a spec.

- ``reduce:LAYER:R``    a 1x1 conv to R channels before LAYER (GoogLeNet's reduction, Szegedy et al. 2015 §5)
- ``factorize3x3:LAYER`` an n x n conv as (n-1)/2 stacked 3x3 convs, same receptive field (VGG; Inception v3 §3.1)
- ``asymmetric:LAYER``  an n x n conv as 1 x n then n x 1 (Inception v3 §3.2)
- ``separable:LAYER``   a depthwise n x n conv then a 1x1 pointwise conv (MobileNet, Howard et al. 2017)

A transform rewrites the expanded spec (one NodeSpec per layer); its savings are the difference of two
analyses, so every number still comes from the layer classes. The transformed spec can be written
back as YAML (flat: every layer with its name and inputs) and used like any other.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import yaml

from .analysis import Analysis, analyze
from .errors import SpecError
from .graph import Graph, build_graph
from .shape import as_tuple
from .spec import NodeSpec, Spec

CONV_TYPES = {"conv", "conv2d"}
TRANSFORMS = ("reduce", "factorize3x3", "asymmetric", "separable")


@dataclass
class Saving:
    transform: str  # as --apply takes it: "reduce:inception3a.b3:16"
    layer: str
    description: str
    params_before: int
    params_after: int
    macs_before: int
    macs_after: int

    @property
    def params_saved(self) -> int:
        return self.params_before - self.params_after

    @property
    def macs_saved(self) -> int:
        return self.macs_before - self.macs_after


def node_of(spec: Spec, name: str) -> NodeSpec:
    for node in spec.nodes:
        if node.name == name:
            return node
    raise SpecError(f"no layer '{name}' in the spec")


def conv_geometry(node: NodeSpec, graph: Graph) -> tuple[int, tuple[int, ...], int]:
    """(input channels, kernel per axis, out_channels) of a 2D conv node, or SpecError."""
    if node.type not in CONV_TYPES or len(graph[node.name].in_shapes[0]) != 3:
        raise SpecError(f"'{node.name}' is a {node.type}; what-if transforms apply to 2D convolutions")
    layer = graph[node.name].layer
    if layer.groups != 1 or as_tuple(layer.dilation, 2, "dilation") != (1, 1):
        raise SpecError(f"'{node.name}' is grouped or dilated; the transforms apply to plain convolutions")
    return graph[node.name].in_shapes[0][0], as_tuple(layer.kernel_size, 2, "kernel_size"), layer.out_channels


def padding_pair(node: NodeSpec, kernel: tuple[int, ...]) -> tuple[int, int]:
    padding = node.arguments.get("padding", 0)
    if padding == "same":
        return tuple((k - 1) // 2 for k in kernel)
    return (0, 0) if padding == "valid" else as_tuple(padding, 2, "padding")


def replace(spec: Spec, name: str, new_nodes: list[NodeSpec]) -> Spec:
    """The spec with node ``name`` replaced by ``new_nodes``; the last one keeps the name, so readers still find it."""
    nodes = []
    for node in spec.nodes:
        nodes.extend(new_nodes if node.name == name else [node])
    return dataclasses.replace(spec, nodes=nodes)


def derived(node: NodeSpec, suffix: str, inputs: list[str], **arguments) -> NodeSpec:
    return NodeSpec(f"{node.name}_{suffix}", "conv2d", arguments, inputs, node.loc, {}, node.block, node.trainable)


def apply(spec: Spec, transform: str) -> Spec:
    """Apply one ``kind:LAYER[:R]`` transform; transforms compose by applying one after another."""
    kind, _, rest = transform.partition(":")
    if kind not in TRANSFORMS or not rest:
        raise SpecError(f"unknown transform '{transform}'; use one of reduce:LAYER:R, factorize3x3:LAYER, "
                        "asymmetric:LAYER, separable:LAYER")
    layer, _, channels = rest.partition(":") if kind == "reduce" else (rest, "", "")
    graph = build_graph(spec)
    node = node_of(spec, layer)
    c_in, kernel, c_out = conv_geometry(node, graph)
    args = node.arguments
    bias = args.get("bias", True)
    stride = as_tuple(args.get("stride", 1), 2, "stride")
    pad = padding_pair(node, kernel)
    if kind == "reduce":
        if not channels.isdigit() or int(channels) < 1:
            raise SpecError(f"reduce needs a channel count: reduce:{layer}:16. Received: '{transform}'")
        first = derived(node, "reduce", node.inputs, out_channels=int(channels), kernel_size=1, bias=bias)
        return replace(spec, layer, [first, dataclasses.replace(node, inputs=[first.name])])
    n = kernel[0]
    if kernel[0] != kernel[1] or n < 3:
        raise SpecError(f"'{layer}' has kernel {list(kernel)}; {kind} needs a square kernel of 3 or more")
    if kind == "separable":
        depthwise = derived(node, "depthwise", node.inputs, out_channels=c_in, kernel_size=n, stride=list(stride),
                            padding=list(pad), groups=c_in, bias=bias)
        return replace(spec, layer, [depthwise, dataclasses.replace(
            node, arguments={"out_channels": c_out, "kernel_size": 1, "bias": bias}, inputs=[depthwise.name])])
    if kind == "asymmetric":
        row = derived(node, "1x" + str(n), node.inputs, out_channels=c_out, kernel_size=[1, n],
                      stride=[1, stride[1]], padding=[0, pad[1]], bias=bias)
        return replace(spec, layer, [row, dataclasses.replace(
            node, arguments={"out_channels": c_out, "kernel_size": [n, 1], "stride": [stride[0], 1],
                             "padding": [pad[0], 0], "bias": bias}, inputs=[row.name])])
    return replace(spec, layer, factorized(node, n, stride, pad, c_out, bias))


def factorized(node: NodeSpec, n: int, stride, pad, c_out: int, bias: bool) -> list[NodeSpec]:
    """(n-1)/2 stacked 3x3 convs; padding 1 each for 'same' padding, 0 each for none; stride on the last."""
    if n % 2 == 0:
        raise SpecError(f"'{node.name}' has an even kernel {n}; stacked 3x3 convs cover odd sizes only")
    count = (n - 1) // 2
    if pad not in ((0, 0), ((n - 1) // 2,) * 2):
        raise SpecError(f"'{node.name}' has padding {list(pad)}; factorize3x3 keeps the shape for padding 0 "
                        f"or {(n - 1) // 2} only")
    each = 1 if pad[0] else 0
    nodes, previous = [], node.inputs
    for index in range(count - 1):
        step = derived(node, f"3x3_{index + 1}", previous, out_channels=c_out, kernel_size=3, padding=each, bias=bias)
        nodes.append(step)
        previous = [step.name]
    last = dataclasses.replace(node, arguments={"out_channels": c_out, "kernel_size": 3, "stride": list(stride),
                                                "padding": each, "bias": bias}, inputs=previous)
    return nodes + [last]


def applicable(kind: str, node: NodeSpec, graph: Graph, ratio: float) -> str | None:
    """The transform string for this node, or None where it does not apply."""
    try:
        c_in, kernel, _ = conv_geometry(node, graph)
    except SpecError:
        return None
    if kernel[0] != kernel[1] or kernel[0] < 3:
        return None
    if kind == "reduce":
        reduced = max(1, round(c_in * ratio))
        return f"reduce:{node.name}:{reduced}" if reduced < c_in and c_in >= 16 else None
    if kind == "factorize3x3":
        pad = padding_pair(node, kernel)
        return f"factorize3x3:{node.name}" if kernel[0] >= 5 and kernel[0] % 2 and pad in (
            (0, 0), ((kernel[0] - 1) // 2,) * 2) else None
    return f"{kind}:{node.name}"


def savings(spec: Spec, ratio: float = 0.25) -> list[Saving]:
    """Every applicable transform with what it saves, largest MAC saving first."""
    if not 0 < ratio < 1:
        raise SpecError(f"--ratio must be between 0 and 1. Received: {ratio}")
    graph = build_graph(spec)
    before = analyze(graph)
    found = []
    for node in spec.nodes:
        for kind in TRANSFORMS:
            transform = applicable(kind, node, graph, ratio)
            if transform:
                found.append(saving(spec, before, transform, node.name))
    return sorted(found, key=lambda s: (-s.macs_saved, -s.params_saved))


def saving(spec: Spec, before: Analysis, transform: str, layer: str) -> Saving:
    after = analyze(build_graph(apply(spec, transform)))
    names = {layer} | {row.name for row in after.rows if row.name.startswith(layer + "_")}

    def part(analysis, field):
        return sum(getattr(row, field) for row in analysis.rows if row.name in names)

    descriptions = {"reduce": "1x1 reduction first", "factorize3x3": "stacked 3x3 convs",
                    "asymmetric": "1xn then nx1", "separable": "depthwise + pointwise"}
    return Saving(transform, layer, descriptions[transform.split(":")[0]], part(before, "params"),
                  part(after, "params"), part(before, "macs"), part(after, "macs"))


def mlp_equivalent(analysis: Analysis) -> int:
    """Parameters if every conv and linear layer were a dense layer between the same tensors."""
    by_name = {row.name: row for row in analysis.rows}
    total = 0
    for row in analysis.rows:
        if row.macs and row.inputs:
            fan_in = by_name[row.inputs[0]].values
            total += fan_in * row.values + row.values
    return total


def to_yaml(spec: Spec) -> str:
    """The spec in flat form: every layer with its type, name, inputs and arguments."""
    layers = [{"type": node.type, "name": node.name, "inputs": node.inputs, **node.arguments}
              | ({} if node.trainable else {"trainable": False}) for node in spec.nodes]
    document = {"name": spec.name, "description": spec.description or f"{spec.name}, transformed",
                "input": list(spec.input_shape), "layers": layers, "outputs": spec.outputs}
    header = f"# Written by cnnspec whatif from {Path(spec.path).name}; every layer is explicit.\n"
    body = yaml.safe_dump(document, sort_keys=False, default_flow_style=None, width=120)
    return header + body
