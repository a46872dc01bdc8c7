"""Per-layer rows and totals, memory, liveness and receptive field; generic over layer types.

Plain data: the CLI, the renderers, ``check``, ``compare`` and the Python API all read an
``Analysis`` and never recompute a number.

Memory conventions (cs231n's VGG table): forward memory counts every tensor a forward pass
creates, the input included, once, in values; in-place activations and views (flatten, dropout at
inference) create none. Peak memory is the largest set of layer outputs alive at once when the layers
run in topological order and each is freed after its last reader (values, no temporaries).

In bytes, as PyTorch spends them (``footprint``, cnnspec/memory.py): the dtypes of a precision mode,
what autograd keeps for backward (each storage once), the eager peaks of an eval forward and of a
training step. Training memory is weights + gradients + optimizer state + the tensors kept for backward;
the step's peak, from the liveness of backward with the activations' gradients, is beside it.

Traffic (``bytes_read``, ``bytes_written``) is for one inference forward of the batch: each layer's
``traffic`` (activations per image, weights once), priced at the dtype; arithmetic intensity is the batch's
FLOPs per byte moved. With a device, a roofline estimate (roofline.py) bounds each layer's time from below.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from . import roofline as rooflines
from .graph import Graph
from .memory import OPTIMIZER_STATES, PRECISIONS, PURE, Footprint, footprint
from .receptive import ReceptiveField
from .shape import Shape, numel
from .spec import gc_paused

CONVENTION = ("MACs = multiply-accumulates of conv and linear layers, bias excluded (torchvision's GFLOPS, "
              "fvcore's flops); FLOPs = 2 x MACs + bias, norm, activation, pooling and merge ops")
DTYPE_BYTES = {"fp32": 4, "fp16": 2, "bf16": 2, "int8": 1, "fp64": 8}


@dataclass
class Row:
    name: str
    type: str
    block: str | None
    inputs: list[str]
    shape: Shape
    params: int
    trainable: int
    bias: int  # how many of params are biases
    buffers: int
    macs: int
    flops: int
    values: int  # size of the output tensor
    memory: int  # values this layer newly stores (0 for in-place and views)
    receptive_field: ReceptiveField | None
    warnings: list[str] = field(default_factory=list)
    global_context: bool = False  # beside its local receptive field, it sees the whole input (a broadcast gate)
    bytes_read: int = 0  # memory traffic of one inference forward of the batch: inputs, weights and buffers
    bytes_written: int = 0  # its output
    intensity: float | None = None  # the batch's FLOPs per byte read or written (None: it moves nothing)
    seconds: float | None = None  # the roofline's lower bound on its time, with --roofline (an estimate)
    bound: str | None = None  # 'compute' or 'memory', with --roofline (None: it computes and moves nothing)

    @property
    def receptive_size(self) -> str:
        return self.receptive_field.describe() if self.receptive_field and self.receptive_field.size else "-"


@dataclass
class Totals:
    params: int
    trainable: int
    non_trainable: int  # parameters frozen with trainable: false
    bias: int
    buffers: int
    macs: int
    flops: int
    memory: int  # forward memory in values
    bytes_read: int = 0  # traffic of one inference forward of the batch
    bytes_written: int = 0


@dataclass
class TrainingMemory:
    """Bytes for one training step at ``batch`` images in ``precision`` (see the module docstring)."""
    batch: int
    optimizer: str
    precision: str
    weights: int  # parameters and buffers
    gradients: int
    optimizer_state: int
    activations: int  # kept for backward
    peak: int  # the step's peak: forward, backward with the activations' gradients, or the optimizer's step
    peak_at: str

    TERMS = ("weights", "gradients", "optimizer_state", "activations")

    @property
    def total(self) -> int:
        return sum(getattr(self, term) for term in self.TERMS)


@dataclass
class Analysis:
    name: str
    path: str
    input_shape: Shape
    outputs: list[str]
    dtype: str
    rows: list[Row]
    totals: Totals
    peak_memory: int  # values alive at once, at most, during inference
    peak_at: str  # the layer running at that moment
    training: TrainingMemory
    footprint: Footprint  # bytes at the batch, as PyTorch spends them
    convention: str = CONVENTION
    blocks: dict[str, str] = field(default_factory=dict)  # block instance ('layer1.0') -> its type ('bottleneck')
    output_totals: dict[str, Totals] = field(default_factory=dict)
    """Per output, the totals of the layers that feed it (a shared layer counts for each); ``totals`` is all
    of them once: GoogLeNet's fc alone is torchvision's 6,624,904 params, with the aux heads 13,004,888."""
    roofline: rooflines.Roofline | None = None  # with a device: the estimate's device, peaks and total time

    @property
    def bytes_per_value(self) -> int:
        return DTYPE_BYTES[self.dtype]

    @property
    def precision(self) -> str:
        return self.footprint.precision

    @property
    def weight_bytes(self) -> int:
        """Parameters in the weights' dtype (fp32 in a mixed mode), buffers in theirs."""
        return self.footprint.weights + self.footprint.buffers

    def row(self, name: str) -> Row:
        return next(row for row in self.rows if row.name == name)

    @property
    def warnings(self) -> list[tuple[str, str]]:
        return [(row.name, warning) for row in self.rows for warning in row.warnings]

    def __repr__(self) -> str:
        """Short, for a REPL: the rows are in ``rows``, the table in ``_repr_html_`` or ``cnnspec analyze``."""
        return (f"<Analysis {self.name}: {len(self.rows)} rows, {self.totals.params:,} params, "
                f"{self.totals.macs:,} MACs, input {list(self.input_shape)}>")

    def _repr_html_(self) -> str:
        """Jupyter's view: the totals and a compact per-layer table."""
        from .render import to_html
        return to_html(self)

    def to_pandas(self):
        """One row per layer, indexed by name, as a pandas DataFrame (pip install pandas)."""
        from .render import to_pandas
        return to_pandas(self)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: shapes as lists, receptive fields as numbers (exact fractions as strings).

        Built field by field: ``dataclasses.asdict`` deep-copies every row and took 0.4 s on 10,000 layers."""
        data = {**vars(self), "input_shape": list(self.input_shape), "outputs": list(self.outputs)}
        data["rows"] = [{**vars(row), "inputs": list(row.inputs), "shape": list(row.shape),
                         "receptive_field": _field_dict(row.receptive_field), "warnings": list(row.warnings)}
                        for row in self.rows]
        data["totals"] = dict(vars(self.totals))
        data["output_totals"] = {name: dict(vars(totals)) for name, totals in self.output_totals.items()}
        data["training"] = {**vars(self.training), "total": self.training.total}
        data["footprint"] = dict(vars(self.footprint))
        data["precision"] = self.precision
        data["memory_bytes"] = self.totals.memory * self.bytes_per_value
        data["peak_memory_bytes"] = self.peak_memory * self.bytes_per_value
        data["weight_bytes"] = self.weight_bytes
        data["intensity"] = self.intensity
        if self.roofline is not None:
            data["roofline"] = {**vars(self.roofline), "ridge": self.roofline.ridge, "estimate": True}
        return data

    @property
    def intensity(self) -> float | None:
        """The model's FLOPs per byte of traffic, for one inference forward of the batch."""
        return rooflines.intensity(self.training.batch * self.totals.flops,
                                   self.totals.bytes_read + self.totals.bytes_written)


def _field_dict(field_: ReceptiveField | None) -> dict | None:
    if field_ is None or not field_.size:
        return None
    plain = lambda values: [int(v) if v.denominator == 1 else str(v) for v in values]  # noqa: E731
    return {"size": plain(field_.size), "jump": plain(field_.jump), "start": plain(field_.start)}


@gc_paused
def analyze(graph: Graph, dtype: str = "fp32", batch: int = 1, optimizer: str = "sgd-momentum",
            roofline: str | None = None, precision: str | None = None, memory_device: str = "cuda") -> Analysis:
    """``roofline``: a device of roofline.DEVICES ('h100', or 'h100:tf32' to price the arithmetic at
    another dtype's peak than ``dtype``'s). ``precision`` (a mode of cnnspec.memory.PRECISIONS) prices the
    bytes; without it, everything is in ``dtype``. ``memory_device`` says whose autocast lists and optimizer
    implementation apply ('cuda' or 'cpu')."""
    if dtype not in DTYPE_BYTES:
        raise ValueError(f"dtype must be one of {', '.join(DTYPE_BYTES)}. Received: dtype={dtype!r}")
    if optimizer not in OPTIMIZER_STATES:
        raise ValueError(f"optimizer must be one of {', '.join(OPTIMIZER_STATES)}. Received: {optimizer!r}")
    if precision is not None and precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}. Received: {precision!r}")
    mode = PRECISIONS[precision or PURE[dtype]]
    dtype = mode.low
    device = rooflines.choose(roofline, dtype) if roofline else None
    fields = receptive_fields(graph)
    counted: dict[tuple, tuple] = {}
    rows = []
    for node in graph.nodes:
        row, traffic = make_row(node, fields, counted)
        price_traffic(row, traffic, batch, DTYPE_BYTES[dtype], DTYPE_BYTES[dtype])
        rows.append(row)
    estimate = estimate_roofline(rows, batch, *device) if device else None
    totals = sum_rows(rows)
    by_name = {row.name: row for row in rows}
    output_totals = {}
    for name in graph.outputs:
        feeding = graph.feeding(name)
        output_totals[name] = (dataclasses.replace(totals) if len(feeding) == len(rows)  # fed by every layer
                               else sum_rows([by_name[n] for n in feeding]))
    peak, peak_at = peak_memory(graph)
    spent = footprint(graph.nodes, graph.outputs, mode, memory_device, batch, optimizer)
    training = TrainingMemory(batch, optimizer, mode.name, spent.weights + spent.buffers, spent.gradients,
                              spent.optimizer_state, spent.saved, spent.step_peak, spent.step_peak_at)
    return Analysis(graph.name, graph.path, graph.input_shape, graph.outputs, dtype, rows, totals, peak, peak_at,
                    training, spent, blocks=dict(graph.spec.blocks), output_totals=output_totals,
                    roofline=estimate)


def price_traffic(row: Row, traffic, batch: int, activation_bytes: int, weight_bytes: int) -> None:
    """The row's bytes read and written in one inference forward of ``batch``, and its intensity."""
    row.bytes_read = batch * traffic.read * activation_bytes + traffic.weights * weight_bytes
    row.bytes_written = batch * traffic.written * activation_bytes
    row.intensity = rooflines.intensity(batch * row.flops, row.bytes_read + row.bytes_written)


def estimate_roofline(rows: list[Row], batch: int, device: rooflines.Device, math: str) -> rooflines.Roofline:
    """Each row's lower-bound time and bound on ``device``, and the model's (an estimate)."""
    peak = device.peaks[math]
    for row in rows:
        row.seconds, row.bound = rooflines.layer_bound(batch * row.flops, row.bytes_read + row.bytes_written,
                                                       peak, device.bandwidth)
    return rooflines.Roofline(device.key, device.name, math, peak, device.bandwidth, sum(r.seconds for r in rows),
                              sum(r.bound == "compute" for r in rows), sum(r.bound == "memory" for r in rows),
                              device.source, device.figures)


def sum_rows(rows: list[Row]) -> Totals:
    return Totals(
        params=sum(r.params for r in rows), trainable=sum(r.trainable for r in rows),
        non_trainable=sum(r.params - r.trainable for r in rows), bias=sum(r.bias for r in rows),
        buffers=sum(r.buffers for r in rows),
        macs=sum(r.macs for r in rows), flops=sum(r.flops for r in rows), memory=sum(r.memory for r in rows),
        bytes_read=sum(r.bytes_read for r in rows), bytes_written=sum(r.bytes_written for r in rows))


def make_row(node, fields: dict[str, ReceptiveField], counted: dict[tuple, tuple]) -> tuple[Row, Any]:
    """The node's figures and its traffic (layer.traffic); ``counted`` keeps them by layer and input shapes, as
    equal entries share one layer (graph.make_layer) and a repeated block's layers are counted once."""
    layer, inputs, out = node.layer, node.in_shapes, node.out_shape
    field_ = fields[node.name]
    warnings = [*node.warnings, *layer.layout_warnings(inputs, [fields[i] for i in node.inputs])]
    key = (id(layer), *inputs)  # the graph holds every layer while this runs: ids stay theirs
    figures = counted.get(key)
    if figures is None:
        figures = counted[key] = (layer.params(inputs), layer.bias_params(inputs), layer.buffers(inputs),
                                  layer.macs(inputs, out), layer.flops(inputs, out), numel(out),
                                  layer.traffic(inputs, out))
    params, bias, buffers, macs, flops, values, traffic = figures
    return Row(node.name, node.type, node.block, list(node.inputs), out, params, params if node.trainable else 0,
               bias, buffers, macs, flops, values, values if layer.memory == "new" else 0, field_, warnings,
               bool(field_ and field_.global_context)), traffic


def receptive_fields(graph: Graph) -> dict[str, ReceptiveField]:
    """Receptive field of every node on the input, through branches (widest where they meet)."""
    fields = {"input": ReceptiveField.of_input(len(graph.input_shape) - 1)}
    for node in graph.nodes[1:]:
        fields[node.name] = node.layer.receptive_field(node.in_shapes, [fields[i] for i in node.inputs])
    return fields


def peak_memory(graph: Graph) -> tuple[int, str]:
    """Most values alive at once in a forward pass, and the layer running then (liveness analysis)."""
    storage: dict[str, str] = {}  # whose tensor each output lives in: its own, or a view's or in-place input's
    for node in graph.nodes:
        storage[node.name] = node.name if node.layer.memory == "new" else storage[node.inputs[0]]
    last_use: dict[str, int] = {}
    for index, node in enumerate(graph.nodes):
        for name in (node.name, *node.inputs):  # a view or in-place output keeps its storage alive
            last_use[storage[name]] = index
    for name in graph.outputs:
        last_use[storage[name]] = len(graph.nodes)
    freed_after: dict[int, list[str]] = {}
    for name, index in last_use.items():
        freed_after.setdefault(index, []).append(name)
    alive, peak, peak_at = 0, 0, "input"
    for index, node in enumerate(graph.nodes):
        if storage[node.name] == node.name:
            alive += numel(node.out_shape)
        if alive > peak:
            peak, peak_at = alive, node.name
        for name in freed_after.get(index, ()):
            alive -= numel(graph[name].out_shape)
    return peak, peak_at

