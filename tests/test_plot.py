"""The plots open as real PNG/SVG files with the content they promise."""
from __future__ import annotations

import pytest

pytest.importorskip("matplotlib")

from cnnspec.plot import plot_training_curves  # noqa: E402

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from the IHDR chunk (PNG spec, section 11.2.2)."""
    assert data[:8] == PNG_MAGIC
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def test_training_curves_png_tolerates_missing_keys(tmp_path):
    history = [{"epoch": 1, "train_loss": 2.0, "train_acc": 0.3, "val_loss": 2.1, "val_acc": 0.25},
               {"epoch": 2, "train_loss": 1.5, "train_acc": 0.5, "val_loss": None},
               {"train_loss": 1.0}]
    path = tmp_path / "curves.png"
    plot_training_curves(history, path, title="run")
    width, height = png_size(path.read_bytes())
    assert width > 2 * height > 400


def test_training_curves_svg_labels_both_panels(tmp_path):
    path = tmp_path / "curves.svg"
    plot_training_curves([{"epoch": 1, "val_acc": 0.5}, {"epoch": 2, "val_acc": 0.7}], path)
    text = path.read_text()
    assert text.lstrip().startswith("<?xml") and "<svg" in text
    assert "accuracy" in text and "loss" in text and "epoch" in text
