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


# --- per-layer bars, overlays and sweeps ---------------------------------------------------------

from cnnspec.analysis import analyze  # noqa: E402
from cnnspec.graph import load  # noqa: E402
from cnnspec.plot import layers_figure, plot_layers, plot_sweep, shown_rows  # noqa: E402


def svg_texts(path) -> list[str]:
    import xml.etree.ElementTree as ET
    return [t.text or "" for t in ET.parse(path).getroot().iter("{http://www.w3.org/2000/svg}text")]


def test_layer_bars_svg_names_every_layer_that_carries_a_figure(tmp_path):
    analysis = analyze(load("vgg16"))
    path = tmp_path / "vgg16.svg"
    plot_layers([analysis], path)
    texts = svg_texts(path)
    shown = [row.name for row in shown_rows(analysis, ("memory", "params", "macs"))]
    assert len(shown) == 22 and "block1.conv.0.relu" not in shown  # in-place relus carry nothing
    assert all(name in texts for name in shown)
    assert {"forward memory (values)", "parameters", "MACs", "conv", "linear", "pool"} <= set(texts)


def test_layer_bars_png_is_a_reasonable_picture(tmp_path):
    path = tmp_path / "vgg16.png"
    plot_layers([analyze(load("vgg16"))], path, log=True)
    data = path.read_bytes()
    width, height = png_size(data)
    assert 600 < width < 2200 and 500 < height < 1200 and len(data) < 200_000


def test_layer_bars_plot_the_analysis_values():
    analysis = analyze(load("vgg16"))
    figure = layers_figure([analysis], ("params",))
    heights = [patch.get_height() for patch in figure.axes[0].patches]
    assert heights == [row.params for row in shown_rows(analysis, ("params",))]
    assert max(heights) == analysis.row("fc6").params == 102_764_544


def test_blocks_sum_their_layers_and_overlays_get_a_legend(tmp_path):
    analysis = analyze(load("vgg16"))
    figure = layers_figure([analysis], ("macs",), by="block")
    labels = [t.get_text() for t in figure.axes[0].get_xticklabels()]
    heights = [patch.get_height() for patch in figure.axes[0].patches]
    assert labels[:3] == ["input", "block1", "block2"]
    assert heights[1] == sum(r.macs for r in analysis.rows if r.name.startswith("block1."))
    path = tmp_path / "both.svg"
    plot_layers([analyze(load("inception3a")), analyze(load("inception3a_naive"))], path)
    texts = svg_texts(path)
    assert "inception3a" in texts and "inception3a_naive" in texts


def test_resolution_sweep_lines(tmp_path):
    path = tmp_path / "sweep.svg"
    plot_sweep([analyze(load("vgg16", (3, side, side))) for side in (160, 224)], path)
    texts = svg_texts(path)
    assert {"3x160x160", "3x224x224", "params", "MACs", "peak memory"} <= set(texts)


def test_plot_command(tmp_path):
    from typer.testing import CliRunner

    from cnnspec.cli import app
    out = tmp_path / "v.png"
    result = CliRunner().invoke(app, ["plot", "vgg16", "--by", "block", "-o", str(out)], catch_exceptions=False)
    assert result.exit_code == 0 and png_size(out.read_bytes())[0] > 300


def test_plot_command_rejects_an_unknown_suffix(tmp_path):
    import subprocess
    import sys
    done = subprocess.run([sys.executable, "-m", "cnnspec", "plot", "vgg16", "-o", str(tmp_path / "v.gif")],
                          capture_output=True, text=True)
    assert done.returncode == 2 and "error:" in done.stderr and ".png, .svg, .pdf" in done.stderr
    assert "Traceback" not in done.stderr


def test_designs_that_share_names_are_aligned_by_name():
    from cnnspec.plot import aligned_labels
    assert aligned_labels([["input", "a", "c"], ["input", "a", "b", "c"]]) == ["input", "a", "b", "c"]
    assert aligned_labels([["input", "x"], ["input", "y"]]) == []
    naive, real = analyze(load("inception3a_naive")), analyze(load("inception3a"))
    figure = layers_figure([naive, real], ("memory", "params"))
    axis = figure.axes[1]
    labels = [t.get_text() for t in axis.get_xticklabels()]
    assert labels[:4] == ["input", "b1x1.conv", "b3x3_reduce.conv", "b3x3.conv"]

    def height_at(container, name):
        return next(bar.get_height() for bar in container if round(bar.get_x() + bar.get_width()) == labels.index(name))
    assert height_at(axis.containers[0], "b3x3.conv") == naive.row("b3x3.conv").params == 221_312
    assert height_at(axis.containers[1], "b3x3.conv") == real.row("b3x3.conv").params
    assert height_at(axis.containers[1], "b3x3_reduce.conv") == real.row("b3x3_reduce.conv").params


def test_readme_pictures_exist_and_stay_small():
    """`make docs` draws them; the README shows them; each PNG stays under 200 KB."""
    import re
    from pathlib import Path
    root = Path(__file__).parent.parent
    shown = re.findall(r"(docs/images/[\w.-]+\.(?:png|svg))", (root / "README.md").read_text(encoding="utf-8"))
    assert {"docs/images/vgg16-layers.png", "docs/images/resnet50-layers.png", "docs/images/googlenet-layers.png",
            "docs/images/unet-layers.png"} <= set(shown)
    for name in shown:
        data = (root / name).read_bytes()
        if name.endswith(".png"):
            width, height = png_size(data)
            assert len(data) < 200_000 and min(width, height) > 200 and max(width, height) > 500, name
        else:
            assert b"<svg" in data[:2000], name


def test_every_bar_of_resnet50_is_named_and_has_room_for_its_name():
    from cnnspec.analysis import analyze
    from cnnspec.graph import load
    from cnnspec.plot import DEFAULT_METRICS, LABEL_INCHES, layers_figure, shown_rows
    analysis = analyze(load("resnet50"))
    figure = layers_figure([analysis])
    labels = [t.get_text() for t in figure.axes[-1].get_xticklabels()]
    assert labels == [row.name for row in shown_rows(analysis, DEFAULT_METRICS)] and len(labels) > 100
    assert figure.get_figwidth() >= LABEL_INCHES * len(labels)


def test_plot_dpi_title_and_vector_formats(tmp_path):
    from typer.testing import CliRunner

    from cnnspec.cli import app
    runner = CliRunner()
    sizes = {}
    for dpi in (55, 110):
        out = tmp_path / f"v{dpi}.png"
        assert runner.invoke(app, ["plot", "lenet5", "--dpi", str(dpi), "-o", str(out)]).exit_code == 0
        sizes[dpi] = png_size(out.read_bytes())
    assert abs(sizes[110][0] / sizes[55][0] - 2) < 0.1  # twice the dots per inch, twice the pixels
    svg, pdf = tmp_path / "v.svg", tmp_path / "v.pdf"
    assert runner.invoke(app, ["plot", "lenet5", "--title", "LeNet-5, per layer", "-o", str(svg)]).exit_code == 0
    assert "LeNet-5, per layer" in svg.read_text() and "lenet5: per layer" not in svg.read_text()
    assert runner.invoke(app, ["plot", "lenet5", "-o", str(pdf)]).exit_code == 0
    assert pdf.read_bytes().startswith(b"%PDF")
