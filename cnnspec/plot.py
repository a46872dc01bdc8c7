"""Pictures with matplotlib (Agg backend, imported only when drawing).

``plot_layers`` draws per-layer bars of memory, params and MACs (one design, or several overlaid),
``plot_sweep`` a resolution sweep as lines, ``plot_training_curves`` a training run per epoch.
Every number comes from ``cnnspec.analysis``; this module only draws.
"""
from __future__ import annotations

import io
from pathlib import Path


def _pyplot():
    import matplotlib
    matplotlib.use("Agg")
    matplotlib.rcParams["svg.fonttype"] = "none"  # SVG text stays text: searchable, smaller
    matplotlib.rcParams["svg.hashsalt"] = "cnnspec"  # the same ids every run: pictures diff cleanly
    import matplotlib.pyplot as plt
    return plt


FORMATS = ("png", "svg", "pdf")


def figure_bytes(figure, fmt: str, dpi: int = 110, title: str | None = None) -> bytes:
    """The figure as a PNG, SVG or PDF file's bytes (SVG and PDF are vector; ``dpi`` sizes a PNG),
    with ``title`` in place of its own when given; the figure is closed."""
    plt = _pyplot()
    if title is not None:
        figure.suptitle(title)
    buffer = io.BytesIO()
    figure.savefig(buffer, format=fmt, dpi=dpi, bbox_inches="tight", metadata=_metadata(fmt))
    plt.close(figure)
    return _palette_png(buffer.getvalue()) if fmt == "png" else buffer.getvalue()


def _palette_png(data: bytes) -> bytes:
    """The PNG with a 256-colour palette: a plot has a few flat colours and grey text, so it looks the
    same at a fifth of the size (GoogLeNet's 171 named bars: 220 KB -> 50 KB). Pillow comes with matplotlib."""
    from PIL import Image
    image = Image.open(io.BytesIO(data))
    buffer = io.BytesIO()
    image.quantize(256, method=Image.Quantize.FASTOCTREE).save(buffer, "PNG", optimize=True)
    return buffer.getvalue()


def _metadata(fmt: str) -> dict:
    """No date or version stamp, so `make docs` rewrites a picture only when it changed."""
    return {"svg": {"Date": None, "Creator": None}, "png": {"Software": None},
            "pdf": {"CreationDate": None, "Producer": None, "Creator": None}}[fmt]


def save_figure(figure, path: str | Path) -> None:
    """Render to memory, then write atomically: an interrupted run never leaves half a picture."""
    from .files import write_atomic
    write_atomic(path, figure_bytes(figure, Path(path).suffix.lstrip(".").lower() or "png"))


def plot_training_curves(history: list[dict], path: str | Path, title: str = "") -> None:
    """Loss (left) and accuracy (right) per epoch for the train and validation splits present.

    Rows may lack any key: a missing epoch counts from 1, a missing or None metric is skipped.
    """
    plt = _pyplot()
    figure, (loss_axis, accuracy_axis) = plt.subplots(1, 2, figsize=(10, 3.6), layout="constrained")
    epochs = [row.get("epoch", index + 1) for index, row in enumerate(history)]
    for axis, metric in ((loss_axis, "loss"), (accuracy_axis, "acc")):
        for split, style in (("train", "-o"), ("val", "-s")):
            key = f"{split}_{metric}"
            points = [(e, row[key]) for e, row in zip(epochs, history) if row.get(key) is not None]
            if points:
                axis.plot(*zip(*points), style, markersize=3, label=split)
        axis.set_xlabel("epoch")
        axis.set_ylabel("accuracy" if metric == "acc" else "loss")
        axis.grid(alpha=0.3)
        if axis.get_legend_handles_labels()[0]:
            axis.legend()
    if title:
        figure.suptitle(title)
    save_figure(figure, path)


# --- per-layer bars (cnnspec plot) -----------------------------------------------------------

METRICS = {"memory": "forward memory (values)", "params": "parameters", "macs": "MACs", "flops": "FLOPs"}
DEFAULT_METRICS = ("memory", "params", "macs")
LABEL_INCHES = 0.12
"""Room per bar on the x axis: a 7-point name, rotated, needs 0.1 inch; the figure widens to give it."""
FAMILY_COLORS = {"conv": "#4c78a8", "pool": "#e45756", "norm": "#eeca3b", "activation": "#9d9da1",
                 "linear": "#b279a2", "merge": "#54a24b", "reshape": "#bab0ac", "resize": "#72b7b2",
                 "base": "#222222", "block": "#7f9fbf"}
"""One colour per layer family (the module a layer type lives in): convs blue, linear purple...; blocks grey-blue."""


def family(layer_type: str) -> str:
    """'conv2d' -> 'conv': the cnnspec.layers module that defines the type; 'input' -> 'base'."""
    from .layers import LAYERS
    return LAYERS[layer_type].__module__.rsplit(".", 1)[-1] if layer_type in LAYERS else "base"


def shown_rows(analysis, metrics) -> list:
    """Rows that carry any of the plotted figures: in-place activations and views add nothing."""
    return [row for row in analysis.rows if any(getattr(row, m) for m in metrics)]


def plot_layers(analyses: list, path: str | Path, metrics=DEFAULT_METRICS, log: bool = False,
                by: str = "layer") -> None:
    save_figure(layers_figure(analyses, metrics, log, by), path)


def layers_figure(analyses: list, metrics=DEFAULT_METRICS, log: bool = False, by: str = "layer"):
    """One panel per metric, one bar per layer (or block, ``by='block'``); several designs side by side.

    A single design's bars are coloured by layer family, so the course's lesson shows at a glance:
    memory piles up in the early convolutions, parameters in the fully connected layers. Designs
    that share layer names are aligned by name; others by position.
    """
    plt = _pyplot()
    groups = [_bars(analysis, metrics, by) for analysis in analyses]
    labels = aligned_labels([g[0] for g in groups])
    positions = [[labels.index(name) for name in g[0]] if labels else list(range(len(g[0]))) for g in groups]
    count = len(labels) if labels else max(len(p) for p in positions)
    bars = count * len(analyses) ** 0.5
    width = max(min(4 + 0.22 * bars, 18), 1.5 + LABEL_INCHES * bars)  # every bar keeps its name legible
    figure, axes = plt.subplots(len(metrics), 1, sharex=True, squeeze=False, layout="constrained",
                                figsize=(width, 1.2 + 2.2 * len(metrics)))
    single = len(analyses) == 1
    width = 0.85 / len(analyses)
    for axis, metric in zip(axes[:, 0], metrics):
        for index, (analysis, (_, values, families), where) in enumerate(zip(analyses, groups, positions)):
            colors = [FAMILY_COLORS[f] for f in families] if single else f"C{index}"
            offset = (index - (len(analyses) - 1) / 2) * width
            axis.bar([x + offset for x in where], values[metric], color=colors, width=width, label=analysis.name)
        axis.set_ylabel(METRICS[metric])
        axis.set_yscale("log" if log else "linear")
        axis.yaxis.set_major_formatter(_human_formatter())
        axis.grid(axis="y", alpha=0.3)
    bottom = axes[-1, 0]
    if labels:
        bottom.set_xticks(range(len(labels)), labels, rotation=90, fontsize=7)
    else:
        bottom.set_xlabel(f"{by}, in order")
    bottom.set_xlim(-0.6, count - 0.4)
    _legend(axes[0, 0], groups[0][2] if single else None)
    figure.suptitle(f"{' vs '.join(a.name for a in analyses)}: per {by}" + (" (log scale)" if log else ""))
    return figure


def aligned_labels(names: list[list[str]]) -> list[str]:
    """One axis of names for all designs when they share names beyond the input, else [].

    A name missing from the axis goes right after the name it follows in its own design.
    """
    if len(names) > 1 and not set.intersection(*(set(n) for n in names)) - {"input"}:
        return []
    merged: list[str] = []
    for sequence in names:
        at = 0
        for name in sequence:
            if name in merged:
                at = merged.index(name) + 1
            else:
                merged.insert(at, name)
                at += 1
    return merged


def _bars(analysis, metrics, by: str) -> tuple[list[str], dict[str, list[int]], list[str]]:
    """Labels, per-metric values and families of the bars; blocks sum their layers (compare.aligned)."""
    if by == "block":
        from .compare import Column, aligned, group_of
        kinds = {group_of(row.name, "block"): "block" if row.block else family(row.type) for row in analysis.rows}
        lines = {m: [line for line in aligned([Column(analysis.name, analysis)], "block", m) if line.label in kinds]
                 for m in metrics}
        labels = [line.label for line in lines[metrics[0]]]
        return labels, {m: [line.values[0] for line in lines[m]] for m in metrics}, [kinds[k] for k in labels]
    rows = shown_rows(analysis, metrics)
    return [r.name for r in rows], {m: [getattr(r, m) for r in rows] for m in metrics}, [family(r.type) for r in rows]


def _legend(axis, families: list[str] | None) -> None:
    if families is None:
        axis.legend(fontsize=8)
        return
    from matplotlib.patches import Patch
    present = [f for f in FAMILY_COLORS if f in families]
    axis.legend([Patch(color=FAMILY_COLORS[f]) for f in present], ["input" if f == "base" else f for f in present],
                fontsize=8, ncol=len(present), loc="lower right", bbox_to_anchor=(1, 1), frameon=False)


def _human_formatter():
    from matplotlib.ticker import FuncFormatter
    from .render import human
    return FuncFormatter(lambda value, _: human(int(value)) if value >= 1 else f"{value:g}")


def plot_sweep(analyses: list, path: str | Path) -> None:
    save_figure(sweep_figure(analyses), path)


def sweep_figure(analyses: list):
    """A resolution sweep as lines: totals against the input size (left), memory per layer (right)."""
    plt = _pyplot()
    from .shape import format_shape
    labels = [format_shape(a.input_shape) for a in analyses]
    figure, (totals_axis, layers_axis) = plt.subplots(1, 2, figsize=(12, 4.2), layout="constrained")
    totals = {"params": [a.totals.params for a in analyses], "MACs": [a.totals.macs for a in analyses],
              "forward memory": [a.totals.memory for a in analyses], "peak memory": [a.peak_memory for a in analyses]}
    for name, values in totals.items():
        totals_axis.plot(labels, values, "-o", markersize=4, label=name)
    totals_axis.set_yscale("log")
    totals_axis.set_xlabel("input")
    totals_axis.set_title("totals")
    for analysis, label in zip(analyses, labels):
        rows = shown_rows(analysis, ("memory",))
        layers_axis.plot([r.memory for r in rows], label=label)
    layers_axis.set_yscale("log")
    layers_axis.set_xlabel("layer, in order")
    layers_axis.set_title("forward memory per layer (values)")
    for axis in (totals_axis, layers_axis):
        axis.yaxis.set_major_formatter(_human_formatter())
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
    figure.suptitle(f"{analyses[0].name}: resolution sweep")
    return figure
