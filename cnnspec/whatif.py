"""What-if transforms: the course's design lessons applied to one layer of a spec.

- ``reduce:LAYER:R``     a 1x1 conv to R channels before LAYER (GoogLeNet's reduction, Szegedy et al. 2015 §5)
- ``factorize3x3:LAYER`` an n x n conv as (n-1)/2 stacked 3x3 convs, same receptive field (VGG, Simonyan &
  Zisserman 2015 §2.3; Inception v3, Szegedy et al. 2016 §3.1)
- ``asymmetric:LAYER``   an n x n conv as 1 x n then n x 1 (Inception v3 §3.2)
- ``separable:LAYER``    a depthwise conv then a 1x1 pointwise conv (MobileNet, Howard et al. 2017 §3.1)
- ``strided:POOL``       POOL removed, the conv before it strides instead (Springenberg et al. 2015 §3.1:
  applied to ConvPool-CNN-C's pools it gives All-CNN-C)

A transform rewrites the expanded spec (one NodeSpec per layer). The conv it replaces keeps its name
as the last new layer, so readers, outputs and later transforms still find it; where the conv is
followed by an activation, a copy of it goes between the new convs (as in GoogLeNet, VGG and Inception
v3). Savings are the difference of two analyses, so every number still comes from the layer classes.
The transformed spec is written back as flat YAML (every layer with its name and inputs).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import yaml

from .analysis import Analysis, Row, analyze
from .errors import SpecError
from .graph import Graph, build_graph
from .layers.activation import Activation
from .layers.conv import ConvNd
from .layers.pool import PoolNd
from .spec import NodeSpec, Spec

USAGE = "reduce:LAYER:R, factorize3x3:LAYER, asymmetric:LAYER, separable:LAYER or strided:POOL"
MIN_CHANNELS_TO_REDUCE = 16  # a 1x1 reduction of fewer channels saves little and is not what the course means


@dataclass
class Conv:
    """A plain 2D convolution of the spec, with everything a transform needs to rebuild it."""
    node: NodeSpec
    in_channels: int
    out_channels: int
    kernel: tuple[int, ...]
    stride: tuple[int, ...]
    padding: tuple[int, ...]  # per axis, the same on both sides
    bias: bool
    activation: NodeSpec | None  # the activation reading only this conv, copied between new convs

    def chain(self, steps: list[tuple[str, dict[str, Any]]]) -> list[NodeSpec]:
        """Nodes for ``(suffix, arguments)`` convs run in order; the last one keeps the conv's name."""
        nodes, previous = [], self.node.inputs
        for index, (suffix, arguments) in enumerate(steps):
            last = index == len(steps) - 1
            name = self.node.name if last else f"{self.node.name}_{suffix}"
            nodes.append(dataclasses.replace(self.node, name=name, type="conv2d", inputs=previous,
                                             arguments={**arguments, "bias": self.bias}, argument_locs={}))
            previous = [name]
            if not last and self.activation:
                nodes.append(dataclasses.replace(self.activation, name=f"{name}_{self.activation.type}",
                                                 inputs=previous))
                previous = [nodes[-1].name]
        return nodes


@dataclass
class Saving:
    """One transform and the figures of the layers it touches, before and after (bias shown apart)."""
    transform: str  # as --apply takes it: "reduce:b3x3.conv:24"
    layer: str
    description: str
    params_before: int
    params_after: int
    bias_before: int
    bias_after: int
    macs_before: int
    macs_after: int

    @property
    def weights_before(self) -> int:
        return self.params_before - self.bias_before

    @property
    def weights_after(self) -> int:
        return self.params_after - self.bias_after

    @property
    def macs_saved(self) -> int:
        return self.macs_before - self.macs_after

    @property
    def params_saved(self) -> int:
        return self.params_before - self.params_after


@dataclass
class MLPEquivalent:
    """A dense layer between the same tensors for every layer with weights (the course's 'why convolutions')."""
    weights: int
    bias: int

    @property
    def params(self) -> int:
        return self.weights + self.bias


# --- finding the layers ------------------------------------------------------------------------

def node_of(spec: Spec, name: str) -> NodeSpec:
    for node in spec.nodes:
        if node.name == name:
            return node
    raise SpecError(f"no layer '{name}' in {spec.path}")


def conv_of(spec: Spec, graph: Graph, name: str) -> Conv:
    """The plain 2D conv ``name`` (not grouped, not dilated, padding the same on both sides), or SpecError."""
    node, graph_node = node_of(spec, name), graph[name]
    layer = graph_node.layer
    if not isinstance(layer, ConvNd) or len(graph_node.in_shapes[0]) != 3:
        raise SpecError(f"'{name}' is a {node.type}; this transform applies to 2D convolutions")
    window = layer.window(graph_node.in_shapes[0])
    in_channels = graph_node.in_shapes[0][0]
    if layer.groups == in_channels > 1:
        raise SpecError(f"'{name}' is already depthwise (groups = its {in_channels} input channels): it is the first "
                        "half of a separable conv, and the transforms apply to full convolutions")
    if layer.groups != 1 or window.dilation != (1, 1) or any(window.extra_right):
        raise SpecError(f"'{name}' is grouped, dilated or padded unevenly; the transforms apply to plain convolutions")
    return Conv(node, graph_node.in_shapes[0][0], layer.out_channels, window.kernel, window.stride, window.padding,
                layer.bias, activation_after(spec, graph, name))


def activation_after(spec: Spec, graph: Graph, name: str) -> NodeSpec | None:
    readers = graph[name].consumers
    if len(readers) != 1 or name in graph.outputs:
        return None
    reader = graph[readers[0]]
    is_activation = isinstance(reader.layer, Activation) and reader.type != "softmax"
    return node_of(spec, reader.name) if is_activation else None


def replace(spec: Spec, name: str, new_nodes: list[NodeSpec]) -> Spec:
    nodes = []
    for node in spec.nodes:
        nodes.extend(new_nodes if node.name == name else [node])
    return dataclasses.replace(spec, nodes=nodes)


# --- the transforms ----------------------------------------------------------------------------

def square_kernel(conv: Conv, kind: str, smallest: int) -> int:
    n = conv.kernel[0]
    if conv.kernel[0] != conv.kernel[1] or n < smallest:
        raise SpecError(f"'{conv.node.name}' has kernel {list(conv.kernel)}; {kind} needs a square kernel of "
                        f"{smallest} or more")
    return n


def reduce_first(spec: Spec, graph: Graph, layer: str, channels: str) -> Spec:
    if not channels.isdigit() or int(channels) < 1:
        raise SpecError(f"reduce needs a channel count: reduce:{layer}:16. Received: 'reduce:{layer}:{channels}'")
    conv = conv_of(spec, graph, layer)
    return replace(spec, layer, conv.chain([
        ("reduce", {"out_channels": int(channels), "kernel_size": 1}),
        ("", conv.node.arguments)]))


def factorize3x3(spec: Spec, graph: Graph, layer: str, _: str) -> Spec:
    """(n-1)/2 stacked 3x3 convs with padding 1 each (for padding (n-1)/2) or 0 each (for none); the
    stride goes on the last one, so the output shape and the receptive field stay those of the n x n conv."""
    conv = conv_of(spec, graph, layer)
    n = square_kernel(conv, "factorize3x3", 5)
    if n % 2 == 0:
        raise SpecError(f"'{layer}' has an even kernel {n}; stacked 3x3 convs cover odd sizes only")
    if conv.padding not in ((0, 0), ((n - 1) // 2,) * 2):
        raise SpecError(f"'{layer}' has padding {list(conv.padding)}; factorize3x3 keeps the shape for padding 0 "
                        f"or {(n - 1) // 2} only")
    each = 1 if conv.padding[0] else 0
    steps = [(f"3x3_{index + 1}", {"out_channels": conv.out_channels, "kernel_size": 3, "padding": each})
             for index in range((n - 1) // 2)]
    steps[-1][1]["stride"] = list(conv.stride)
    return replace(spec, layer, conv.chain(steps))


def asymmetric(spec: Spec, graph: Graph, layer: str, _: str) -> Spec:
    conv = conv_of(spec, graph, layer)
    n = square_kernel(conv, "asymmetric", 2)
    (s_h, s_w), (p_h, p_w) = conv.stride, conv.padding
    return replace(spec, layer, conv.chain([
        (f"1x{n}", {"out_channels": conv.out_channels, "kernel_size": [1, n], "stride": [1, s_w],
                    "padding": [0, p_w]}),
        ("", {"out_channels": conv.out_channels, "kernel_size": [n, 1], "stride": [s_h, 1], "padding": [p_h, 0]})]))


def separable(spec: Spec, graph: Graph, layer: str, _: str) -> Spec:
    conv = conv_of(spec, graph, layer)
    if max(conv.kernel) < 2:
        raise SpecError(f"'{layer}' is a 1x1 conv; it is already pointwise")
    return replace(spec, layer, conv.chain([
        ("depthwise", {"out_channels": conv.in_channels, "kernel_size": list(conv.kernel),
                       "stride": list(conv.stride), "padding": list(conv.padding), "groups": conv.in_channels}),
        ("", {"out_channels": conv.out_channels, "kernel_size": 1})]))


def strided(spec: Spec, graph: Graph, pool: str, _: str) -> Spec:
    """Drop the pool; the conv before it (through shape-keeping layers such as activations and norms, read
    by nothing else) strides by the pool's stride too. The output shape must stay the pool's, or the rest
    of the network would change."""
    pool_node = graph[pool]
    if not isinstance(pool_node.layer, PoolNd):
        raise SpecError(f"'{pool}' is a {pool_node.type}; strided:POOL takes a max or average pooling layer")
    source = conv_before(graph, pool)
    conv = conv_of(spec, graph, source)
    pool_stride = pool_node.layer.window(pool_node.in_shapes[0]).stride
    stride = [own * pooled for own, pooled in zip(conv.stride, pool_stride)]
    restrided = dataclasses.replace(conv.node, arguments={**conv.node.arguments, "stride": stride,
                                                          "padding": list(conv.padding)})
    rewire = {pool: pool_node.inputs[0]}
    nodes = [dataclasses.replace(node, inputs=[rewire.get(i, i) for i in node.inputs])
             for node in replace(spec, source, [restrided]).nodes if node.name != pool]
    changed = dataclasses.replace(spec, nodes=nodes, outputs=[rewire.get(o, o) for o in spec.outputs])
    shape = build_graph(changed)[pool_node.inputs[0]].out_shape
    if shape != pool_node.out_shape:
        raise SpecError(f"strided:{pool}: '{source}' with stride {stride} gives {list(shape)}, the pool gave "
                        f"{list(pool_node.out_shape)}; change its padding first")
    return changed


def conv_before(graph: Graph, pool: str) -> str:
    name = graph[pool].inputs[0]
    while True:
        node = graph[name]
        conv = isinstance(node.layer, ConvNd)
        if not conv and (len(node.inputs) != 1 or node.out_shape != node.in_shapes[0]
                         or isinstance(node.layer, PoolNd)):
            raise SpecError(f"strided:{pool}: found no conv before the pool ('{name}', a {node.type}, is in the way)")
        if len(node.consumers) != 1 or name in graph.outputs:
            raise SpecError(f"strided:{pool}: '{name}' has other readers, which would see the strided output")
        if conv:
            return name
        name = node.inputs[0]


TRANSFORMS: dict[str, tuple[Callable[[Spec, Graph, str, str], Spec], str]] = {
    "reduce": (reduce_first, "1x1 reduction first"),
    "factorize3x3": (factorize3x3, "stacked 3x3 convs"),
    "asymmetric": (asymmetric, "1xn then nx1"),
    "separable": (separable, "depthwise + pointwise"),
    "strided": (strided, "stride instead of pooling"),
}


def apply(spec: Spec, transform: str) -> Spec:
    """Apply one ``kind:LAYER[:R]`` transform; transforms compose by applying one after another."""
    kind, _, rest = transform.partition(":")
    if kind not in TRANSFORMS or not rest:
        raise SpecError(f"unknown transform '{transform}'; use {USAGE}")
    layer, _, argument = rest.rpartition(":") if kind == "reduce" else (rest, "", "")
    if not layer:
        raise SpecError(f"reduce needs a layer and a channel count: reduce:LAYER:16. Received: '{transform}'")
    graph = build_graph(spec)
    node_of(spec, layer)
    return TRANSFORMS[kind][0](spec, graph, layer, argument)


def apply_all(spec: Spec, transforms: list[str]) -> Spec:
    for transform in transforms:
        spec = apply(spec, transform)
    return spec


# --- what each would save ----------------------------------------------------------------------

def candidates(spec: Spec, graph: Graph, ratio: float) -> list[str]:
    """The transforms worth listing: every full conv (not grouped, so never a depthwise one, which is already
    half of a separable conv) with a kernel over 1, every pool after a conv."""
    found = []
    for node in graph.nodes[1:]:
        if isinstance(node.layer, PoolNd):
            found.append(f"strided:{node.name}")
        elif isinstance(node.layer, ConvNd) and len(node.in_shapes[0]) == 3 and node.layer.groups == 1 \
                and max(node.layer.window(node.in_shapes[0]).kernel) > 1:
            c_in, reduced = node.in_shapes[0][0], max(1, round(node.in_shapes[0][0] * ratio))
            if c_in >= MIN_CHANNELS_TO_REDUCE and reduced < c_in:
                found.append(f"reduce:{node.name}:{reduced}")
            found += [f"{kind}:{node.name}" for kind in ("factorize3x3", "asymmetric", "separable")]
    return found


def savings(spec: Spec, ratio: float = 0.25) -> list[Saving]:
    """Every transform that applies, with what it saves; largest MAC saving first."""
    if not 0 < ratio < 1:
        raise SpecError(f"--ratio must be between 0 and 1. Received: {ratio}")
    graph = build_graph(spec)
    before = analyze(graph)
    found = []
    for transform in candidates(spec, graph, ratio):
        try:
            after = analyze(build_graph(apply(spec, transform)))
        except SpecError:  # does not apply to this layer (1x1 kernel, grouped, no conv before the pool ...)
            continue
        found.append(saving(transform, before, after))
    return sorted(found, key=lambda s: (-s.macs_saved, -s.params_saved, s.transform))


def saving(transform: str, before: Analysis, after: Analysis) -> Saving:
    """Sums over the layers the transform touched: the layer it names (even where its new last conv happens to
    count the same: a 2x2 conv 96 -> 192 and its 2x1 192 -> 192 both hold 73,920), new or removed names, and
    changed rows."""
    kind, layer = transform.split(":")[:2]
    old, new = {row.name: row for row in before.rows}, {row.name: row for row in after.rows}
    touched = {layer} | {name for name in old.keys() | new.keys() if changed(old.get(name), new.get(name))}

    def total(rows: dict[str, Row], field: str) -> int:
        return sum(getattr(rows[name], field) for name in touched if name in rows)

    return Saving(transform, layer, TRANSFORMS[kind][1], total(old, "params"), total(new, "params"),
                  total(old, "bias"), total(new, "bias"), total(old, "macs"), total(new, "macs"))


def changed(old: Row | None, new: Row | None) -> bool:
    return old is None or new is None or (old.type, old.params, old.macs, old.shape) != (
        new.type, new.params, new.macs, new.shape)


def mlp_equivalent(analysis: Analysis) -> MLPEquivalent:
    """Every layer with weights (params and MACs) as a dense layer from its input tensor to its output tensor."""
    values = {row.name: row.values for row in analysis.rows}
    weighted = [row for row in analysis.rows if row.params and row.macs]
    return MLPEquivalent(weights=sum(values[row.inputs[0]] * row.values for row in weighted),
                         bias=sum(row.values for row in weighted))


# --- writing the variant -----------------------------------------------------------------------

def to_yaml(spec: Spec, transforms: list[str]) -> str:
    """The spec in flat form: every layer with its type, name, inputs and arguments; train: and init:
    kept, expect: dropped (its figures were the original's)."""
    layers = [{"type": node.type, "name": node.name, "inputs": node.inputs, **node.arguments}
              | ({} if node.trainable else {"trainable": False}) for node in spec.nodes]
    document = {"name": f"{spec.name}_whatif", "description": f"{spec.name} with {', '.join(transforms)}",
                "input": list(spec.input_shape), "layers": layers, "outputs": spec.outputs}
    document |= {key: plain(value) for key, value in (("train", spec.train), ("init", spec.init)) if value}
    header = (f"# Written by `cnnspec whatif {Path(spec.path).name} "
              f"{' '.join('--apply ' + t for t in transforms)}`; every layer is explicit.\n")
    return header + yaml.safe_dump(document, sort_keys=False, default_flow_style=None, width=120)


def plain(value: Any) -> Any:
    """YAML's located mappings and sequences as plain dicts and lists, for safe_dump."""
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [plain(item) for item in value]
    return value
