"""Pictures with matplotlib (Agg backend, imported only when drawing).

``plot_training_curves`` draws a training run's loss and accuracy per epoch.
"""
from __future__ import annotations

import io
from pathlib import Path


def _pyplot():
    import matplotlib
    matplotlib.use("Agg")
    matplotlib.rcParams["svg.fonttype"] = "none"  # SVG text stays text: searchable, smaller
    import matplotlib.pyplot as plt
    return plt


def save_figure(figure, path: str | Path) -> None:
    """Render to memory, then write atomically: an interrupted run never leaves half a picture."""
    from .files import write_atomic
    buffer = io.BytesIO()
    figure.savefig(buffer, format=Path(path).suffix.lstrip(".") or "png", dpi=110, bbox_inches="tight")
    write_atomic(path, buffer.getvalue())


def plot_training_curves(history: list[dict], path: str | Path, title: str = "") -> None:
    """Loss (left) and accuracy (right) per epoch for the train and validation splits present.

    Rows may lack any key: a missing epoch counts from 1, a missing or None metric is skipped.
    """
    plt = _pyplot()
    figure, (loss_axis, accuracy_axis) = plt.subplots(1, 2, figsize=(10, 3.6))
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
    plt.close(figure)
