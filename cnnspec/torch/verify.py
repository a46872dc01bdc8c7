"""Check the analyzer against PyTorch: parameters, every output shape, and MACs against fvcore.

Parameters and buffers are counted on the model built on the meta device, and output shapes come
from a forward pass on meta tensors: both exact, nothing allocated. MACs come from fvcore's
``FlopCountAnalysis`` (it traces with real tensors, so the model is materialized on the CPU
uninitialized, batch 1). fvcore's "flops" of conv, linear and matrix-product operators are
multiply-accumulates, as ours, and must agree per layer and in total. fvcore also counts some
elementwise operators (batch norm, upsampling, adaptive pooling) by conventions of its own; the
analyzer's MACs leave those out, so they are reported as "convention differs", never as failures.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from collections import Counter

import torch
from fvcore.nn import FlopCountAnalysis
from fvcore.nn.jit_handles import conv_flop_count, get_shape

from ..analysis import analyze
from .build import allocating, build_module
from ..graph import Graph
from ..shape import Shape, format_shape

MAC_OPERATORS = frozenset({"conv", "linear", "addmm", "matmul", "mm", "bmm", "einsum"})
"""fvcore operator handles that count multiply-accumulates (fvcore/nn/jit_handles.py)."""


@dataclass
class Figure:
    """One figure as the analyzer computes it and as PyTorch (or fvcore) measures it."""
    spec: object
    torch: object
    measured: bool = True  # False where PyTorch refused the forward pass before reaching the layer

    @property
    def ok(self) -> bool:
        return not self.measured or self.spec == self.torch


@dataclass
class LayerCheck:
    name: str
    type: str
    shape: Figure
    params: Figure
    buffers: Figure
    macs: Figure
    other_ops: dict[str, int] = field(default_factory=dict)
    """What fvcore counts beside MACs for this layer (batch_norm, upsample ...): a convention, not a check."""

    @property
    def disagreements(self) -> list[str]:
        return [f"{what} {_text(figure.spec)} (spec) vs {_text(figure.torch)} ({source})"
                for what, figure, source in (("output shape", self.shape, "torch"), ("params", self.params, "torch"),
                                             ("buffers", self.buffers, "torch"), ("MACs", self.macs, "fvcore"))
                if not figure.ok]


@dataclass
class Verification:
    name: str
    path: str
    layers: list[LayerCheck]
    params: Figure
    buffers: Figure
    macs: Figure
    error: str | None = None
    """Where PyTorch refused the forward pass; shapes after it and MACs are then unknown."""

    @property
    def ok(self) -> bool:
        return self.error is None and self.params.ok and self.buffers.ok and self.macs.ok and not any(
            layer.disagreements for layer in self.layers)

    def failures(self) -> list[str]:
        found = [self.error] if self.error else []
        found += [f"layer '{layer.name}': {problem}" for layer in self.layers for problem in layer.disagreements]
        found += [f"total {what}: {_text(figure.spec)} (spec) vs {_text(figure.torch)} ({source})" for what, figure, source in
                  (("params", self.params, "torch"), ("buffers", self.buffers, "torch"),
                   ("MACs", self.macs, "fvcore")) if not figure.ok]
        return found


def verify(graph: Graph) -> Verification:
    """Compare every node's shape, params, buffers and MACs with what PyTorch and fvcore measure."""
    analysis = analyze(graph)
    rows = {row.name: row for row in analysis.rows}
    model = build_module(graph, device="meta")
    shapes, error = meta_output_shapes(model, graph)
    with allocating(graph):  # fvcore runs on real CPU tensors
        macs, other_ops = fvcore_counts(model) if error is None else ({}, {})
    layers = []
    for node in graph.nodes[1:]:
        module, row = model.get_submodule(node.name), rows[node.name]
        layers.append(LayerCheck(
            node.name, node.type, Figure(row.shape, shapes.get(node.name), error is None or node.name in shapes),
            Figure(row.params, sum(p.numel() for p in module.parameters())),
            Figure(row.buffers, sum(b.numel() for b in module.buffers())),
            Figure(row.macs, macs.get(node.name, 0), error is None), other_ops.get(node.name, {})))
    totals = analysis.totals
    return Verification(graph.name, graph.path, layers,
                        Figure(totals.params, sum(p.numel() for p in model.parameters())),
                        Figure(totals.buffers, sum(b.numel() for b in model.buffers())),
                        Figure(totals.macs, macs.get("", 0), error is None), error)


def meta_output_shapes(model, graph: Graph) -> tuple[dict[str, Shape], str | None]:
    """Each node's output shape (batch axis dropped) from a forward pass on meta tensors, and where
    PyTorch refused the forward pass (a shape the analyzer accepted but torch rejects), if it did."""
    shapes: dict[str, Shape] = {}

    def recorder(name):
        return lambda module, inputs, output: shapes.__setitem__(name, tuple(output.shape[1:]))

    hooks = [model.get_submodule(node.name).register_forward_hook(recorder(node.name)) for node in graph.nodes[1:]]
    error = None
    try:
        with torch.no_grad():
            model.eval()(torch.empty(1, *graph.input_shape, device="meta"))
    except RuntimeError as failure:
        failed = next(node.name for node in graph.nodes[1:] if node.name not in shapes)
        error = f"layer '{failed}': PyTorch refuses it: {str(failure).splitlines()[0]}"
    finally:
        for hook in hooks:
            hook.remove()
    return shapes, error


def fvcore_counts(meta_model) -> tuple[dict[str, int], dict[str, dict[str, int]]]:
    """Per module name ('' for the whole model): fvcore's MACs, and its other operator counts."""
    model = meta_model.to_empty(device="cpu").eval()  # values are irrelevant to the counts
    analysis = fvcore_analysis(model, (torch.zeros(1, *model.input_shape),))
    macs, other = {}, {}
    for name, counter in analysis.by_module_and_operator().items():
        macs[name] = int(sum(count for op, count in counter.items() if op in MAC_OPERATORS))
        other[name] = {op: int(count) for op, count in counter.items() if op not in MAC_OPERATORS and count}
    return macs, other


def fvcore_analysis(model, inputs: tuple):
    """fvcore's FlopCountAnalysis, quiet, and counting convolutions written with padding='same'."""
    analysis = FlopCountAnalysis(model, inputs).unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    return analysis.set_op_handle("aten::_convolution_mode", _convolution_mode_macs)


def _convolution_mode_macs(inputs, outputs):
    """fvcore has no handle for aten::_convolution_mode (a conv with padding='same' or 'valid'), so
    it would count 0; count it with fvcore's own convolution formula."""
    return Counter({"conv": conv_flop_count(get_shape(inputs[0]), get_shape(inputs[1]), get_shape(outputs[0]),
                                            transposed=False)})


def _text(value) -> str:
    if value is None:
        return "?"
    if isinstance(value, tuple):
        return format_shape(value)
    return f"{value:,}" if isinstance(value, int) else str(value)


# --- rendering --------------------------------------------------------------------------------

def details_text(result: Verification, disagreeing_only: bool = False, width: int | None = None,
                 color: bool = False, box: tuple[str, ...] | None = None) -> str:
    """The agreement table: the analyzer's figure beside PyTorch's and fvcore's, per layer and in total
    (only the disagreeing layers with ``disagreeing_only``), fitted to ``width``."""
    from ..render import TextColumn, draw, fit, human, wrapped

    layers = [layer for layer in result.layers if layer.disagreements or not disagreeing_only]
    total = LayerCheck("total", "", Figure(None, None, False), result.params, result.buffers, result.macs)
    rows = [*layers, total]
    figures = [("params", "spec", "Params", None), ("params", "torch", "torch params", "torch"),
               ("macs", "spec", "MACs", None), ("macs", "torch", "fvcore MACs", "fvcore")]
    columns = [TextColumn("layer", [layer.name for layer in rows]),
               TextColumn("type", [layer.type for layer in rows], hide=0),
               TextColumn("shape", [_text(layer.shape.spec) if layer.shape.spec else "" for layer in rows], hide=2),
               TextColumn("torch shape", [_measured(layer.shape) if layer.shape.spec else "" for layer in rows],
                          hide=1)]
    for what, side, header, short in figures:
        values = [getattr(getattr(layer, what), side) if side == "spec" or getattr(layer, what).measured else None
                  for layer in rows]
        columns.append(TextColumn(header, [_text(v) for v in values], True,
                                  [human(v, digits=3) if isinstance(v, int) else _text(v) for v in values], short))
    status = [_status(layer) for layer in layers] + ["ok" if result.ok else "DIFFERS"]
    columns.append(TextColumn("status", status, wrap=True))
    fitted = fit(columns, width)
    note = fitted.note(width, "Exact, every column: a pipe.")
    styles = ["red" if layer.disagreements else None for layer in layers] + [None if result.ok else "red"]
    title = f"{result.name}: analyzer vs PyTorch (params, shapes) and fvcore (MACs)"
    legend = ("'ok; fvcore: batch_norm N': fvcore counts that operator by a convention of its own, which the "
              "analyzer's MACs leave out" if any(layer.other_ops for layer in layers) else "")
    return draw(title, fitted, True, styles, color, box, width) + "".join(
        wrapped(line, width) + "\n" for line in (note, legend) if line)


def _measured(figure: Figure) -> str:
    return _text(figure.torch) if figure.measured else "?"


def _status(layer: LayerCheck) -> str:
    if layer.disagreements:
        return "DIFFERS: " + "; ".join(layer.disagreements)
    if layer.other_ops:
        counted = ", ".join(f"{op} {count:,}" for op, count in layer.other_ops.items())
        return f"ok; fvcore: {counted}"
    return "ok"


def summary(result: Verification) -> str:
    conventions = sum(1 for layer in result.layers if layer.other_ops)
    if result.ok:
        return (f"{result.name}: analyzer and PyTorch agree: {len(result.layers)} output shapes, "
                f"{result.params.spec:,} params, {result.buffers.spec:,} buffer values, {result.macs.spec:,} MACs"
                + (f"; fvcore's conventions differ at {conventions} layer(s) (not counted as MACs)"
                   if conventions else ""))
    return f"{result.name}: {len(result.failures())} disagreement(s)" + (f"; {result.error}" if result.error else "")
