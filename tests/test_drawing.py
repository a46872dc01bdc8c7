"""The layer graph as DOT, Mermaid and SVG: every layer drawn once, shapes on edges, skips dashed."""
from __future__ import annotations

import shutil
import subprocess
import xml.etree.ElementTree as ET

import pytest

import cnnspec
from cnnspec import drawing
from cnnspec.analysis import analyze
from cnnspec.errors import SpecError
from cnnspec.graph import build_graph, load
from cnnspec.shape import format_shape

SVG = "{http://www.w3.org/2000/svg}"
RESIDUAL = """
name: tiny_res
input: [8, 16, 16]
blocks:
  basic:
    args: {c: required}
    layers:
      - {type: conv2d, out_channels: c, kernel_size: 3, padding: 1, name: conv1}
      - {type: relu, name: relu1}
      - {type: conv2d, out_channels: c, kernel_size: 3, padding: 1, name: conv2}
      - {type: add, inputs: [input, conv2], name: add}
      - {type: relu, name: relu}
layers:
  - {type: basic, c: 8, name: res1}
  - {type: basic, c: 8, name: res2}
  - {type: flatten, name: flat}
  - {type: linear, out_features: 10, name: fc}
"""
UNET = """
name: tiny_unet
input: [1, 64, 64]
blocks:
  double:
    args: {c: required}
    layers:
      - {type: conv2d, out_channels: c, kernel_size: 3, padding: 1, name: conv1}
      - {type: relu, name: relu1}
      - {type: conv2d, out_channels: c, kernel_size: 3, padding: 1, name: conv2}
      - {type: relu, name: relu2}
layers:
  - {type: double, c: 16, name: down1}
  - {type: maxpool2d, kernel_size: 2, name: pool1}
  - {type: double, c: 32, name: down2}
  - {type: maxpool2d, kernel_size: 2, name: pool2}
  - {type: double, c: 64, name: bottom}
  - {type: conv_transpose2d, out_channels: 32, kernel_size: 2, stride: 2, name: up2}
  - {type: concat, inputs: [down2, up2], name: cat2}
  - {type: double, c: 32, name: dec2}
  - {type: conv_transpose2d, out_channels: 16, kernel_size: 2, stride: 2, name: up1}
  - {type: concat, inputs: [down1, up1], name: cat1}
  - {type: double, c: 16, name: dec1}
  - {type: conv2d, out_channels: 2, kernel_size: 1, name: head}
"""
needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed "
                               "(apt-get install graphviz); the built-in SVG layout is tested without it")


def residual():
    return build_graph(cnnspec.parse_spec(RESIDUAL, "tiny_res.yaml"))


def drawn_layers(picture: drawing.Drawing) -> list[str]:
    return [name for box in picture.boxes for name in box.layers]


def test_every_layer_is_drawn_once_and_edges_carry_the_source_shape():
    graph = load("vgg16")
    picture = drawing.layout_graph(graph)
    assert drawn_layers(picture) == [node.name for node in graph.nodes]
    rows = {row.name: row for row in analyze(graph).rows}
    box_last = {box.id: box.layers[-1] for box in picture.boxes if box.layers}
    for edge in picture.edges:
        assert edge.shape == format_shape(rows[box_last[edge.source]].shape)
    assert [e.shape for e in picture.edges][:3] == ["3x224x224", "64x224x224", "64x224x224"]


def test_activations_fold_into_their_producer_and_boxes_describe_arguments():
    picture = drawing.layout_graph(load("vgg16"))
    first = picture.boxes[1]
    assert first.layers == ["block1.conv.0.conv", "block1.conv.0.relu"]
    assert first.detail == "conv2d 64 k3 p1 + relu"
    assert picture.boxes[0].detail == "input 3x224x224"
    assert picture.boxes[-2].detail == "linear 1000"  # its arguments; the shapes are on the edges
    assert (picture.boxes[-1].id, picture.boxes[-1].title) == ("output:fc8", "output")
    unfolded = drawing.layout_graph(load("vgg16"), fold=False)
    assert len(unfolded.boxes) == len(load("vgg16").nodes) + 1  # and the output terminal


def test_single_box_clusters_are_elided():
    picture = drawing.layout_graph(load("vgg16"))
    assert "block1.conv.0" not in picture.clusters and "block1.conv" in picture.clusters
    assert picture.boxes[1].cluster == "block1.conv" and picture.boxes[1].title == "0.conv"


def test_depth_collapses_blocks_into_one_box():
    picture = drawing.layout_graph(load("vgg16"), depth=0)
    assert [b.id for b in picture.boxes[:3]] == ["input", "block1", "block2"]
    assert picture.boxes[1].detail == "2x conv2d, 2x relu, maxpool2d"
    assert picture.clusters == []
    assert [(e.source, e.target, e.shape) for e in picture.edges[:2]] == [
        ("input", "block1", "3x224x224"), ("block1", "block2", "64x112x112")]


def test_residual_shortcut_is_a_skip_and_inception_branches_are_not():
    picture = drawing.layout_graph(residual())
    skips = [(e.source, e.target) for e in picture.edges if e.skip]
    assert skips == [("input", "res1.add"), ("res1.add", "res2.add")]
    assert drawing.skip_edges(load("inception3a")) == set()
    add = next(b for b in picture.boxes if b.id == "res1.add")
    assert add.layers == ["res1.add", "res1.relu"]  # the relu after a merge joins the merge's box


def test_dot_text_names_clusters_and_dashes_skips():
    text = drawing.to_dot(drawing.layout_graph(residual()))
    assert text.startswith('digraph "tiny_res" {') and text.rstrip().endswith("}")
    assert 'subgraph "cluster_res1"' in text
    assert '"input" -> "res1.add" [label=" 8x16x16", style=dashed' in text


def test_mermaid_flowchart():
    picture = drawing.layout_graph(residual())
    text = drawing.to_mermaid(picture)
    lines = text.splitlines()
    assert lines[0] == "flowchart TB"
    assert sum(line.lstrip().startswith("subgraph ") for line in lines) == sum(line.strip() == "end" for line in lines)
    assert sum("-.->" in line for line in lines) == 2
    assert sum(" -->|" in line for line in lines) == len(picture.edges) - 2
    assert '["<b>conv1</b><br/>conv2d 8 k3 p1 + relu"]' in text


def svg_titles(text: str) -> list[str]:
    root = ET.fromstring(text)
    return [t.text or "" for t in root.iter(SVG + "title")]


@pytest.mark.parametrize("spec", ["vgg16", "inception3a"])
def test_builtin_svg_names_every_layer_and_keeps_boxes_apart(spec):
    graph = load(spec)
    text = drawing.to_svg(drawing.layout_graph(graph), layout="builtin")
    root = ET.fromstring(text)
    assert float(root.get("width")) > 150 and float(root.get("height")) > 200
    drawn = ", ".join(svg_titles(text))
    assert all(node.name in drawn.split(", ") for node in graph.nodes)
    rects = [tuple(float(r.get(k)) for k in ("x", "y", "width", "height"))
             for g in root.iter(SVG + "g") if g.get("class") == "node" for r in g.iter(SVG + "rect")]
    for i, (x, y, w, h) in enumerate(rects):
        for x2, y2, w2, h2 in rects[i + 1:]:
            assert x + w <= x2 or x2 + w2 <= x or y + h <= y2 or y2 + h2 <= y, "two boxes overlap"


def test_builtin_svg_without_graphviz_and_png_needs_it(monkeypatch):
    monkeypatch.setattr(drawing.shutil, "which", lambda name: None)
    picture = drawing.layout_graph(residual())
    text = drawing.render(picture, "svg").decode()
    assert 'class="node"' in text and "stroke-dasharray" in text
    with pytest.raises(SpecError, match="needs Graphviz"):
        drawing.render(picture, "png")


@needs_dot
def test_graphviz_svg_names_every_layer():
    graph = load("inception3a")
    text = drawing.render(drawing.layout_graph(graph), "svg", "graphviz").decode()
    root = ET.fromstring(text)
    tooltips = {a.get("{http://www.w3.org/1999/xlink}title") for a in root.iter(SVG + "a")}
    names = {name for tip in tooltips if tip for name in tip.split(", ")}
    assert names >= {node.name for node in graph.nodes}
    assert "cluster" not in svg_titles(text)  # inception3a's single-box branches have no clusters


@needs_dot
def test_graphviz_png(tmp_path):
    from tests.test_plot import png_size
    data = drawing.render(drawing.layout_graph(load("vgg16"), depth=1), "png")
    width, height = png_size(data)
    assert 150 < width < height


@needs_dot
def test_dot_accepts_the_dot_text():
    text = drawing.to_dot(drawing.layout_graph(residual()))
    done = subprocess.run(["dot", "-Tplain"], input=text.encode(), capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.decode().count("\nnode ") == len(drawing.layout_graph(residual()).boxes)


def test_graph_command_writes_each_format(tmp_path):
    from typer.testing import CliRunner

    from cnnspec.cli import app
    runner = CliRunner()
    for suffix in ("mmd", "dot", "svg"):
        out = tmp_path / f"g.{suffix}"
        result = runner.invoke(app, ["graph", "inception3a", "--layout", "builtin", "-o", str(out)],
                               catch_exceptions=False)
        assert result.exit_code == 0 and out.stat().st_size > 500
    assert runner.invoke(app, ["graph", "vgg16", "--depth", "0"]).stdout.startswith('digraph "vgg16"')


def unet():
    return build_graph(cnnspec.parse_spec(UNET, "tiny_unet.yaml"))


def test_encoder_decoder_rows_by_resolution():
    picture = drawing.layout_graph(unet(), depth=0)
    assert picture.levels == [["input", "down1", "up1", "cat1", "dec1", "head"],
                              ["pool1", "down2", "up2", "cat2", "dec2"], ["pool2", "bottom"]]
    assert [(e.source, e.target) for e in picture.edges if e.skip] == [("down2", "cat2"), ("down1", "cat1")]
    text = drawing.to_dot(picture)
    assert '{rank=same; "pool2"; "bottom";}' in text and "subgraph" not in text
    assert drawing.layout_graph(load("vgg16")).levels == []


@needs_dot
def test_unet_is_drawn_as_a_u():
    """dot's own coordinates: the copy edges are level, the bottleneck is lowest, the decoder on the right."""
    done = subprocess.run(["dot", "-Tplain"], input=drawing.to_dot(drawing.layout_graph(unet(), depth=0)).encode(),
                          capture_output=True, timeout=60)
    where = {line.split()[1].strip('"'): (float(line.split()[2]), float(line.split()[3]))
             for line in done.stdout.decode().splitlines() if line.startswith("node ")}
    assert where["down1"][1] == where["cat1"][1] > where["down2"][1] == where["cat2"][1] > where["bottom"][1]
    assert where["down1"][0] < where["down2"][0] < where["bottom"][0] < where["dec2"][0] < where["dec1"][0]


def test_a_deep_network_draws_in_linear_time():
    """4,000 layers in 1,000 clusters: every step is linear in boxes and clusters (was quadratic: 100 s at 10k)."""
    import time
    text = RESIDUAL.split("layers:\n  - {type: basic, c: 8, name: res1}")[0] + "layers:\n  - {type: basic, c: 8, repeat: 800}\n"
    graph = build_graph(cnnspec.parse_spec(text, "deep.yaml"))
    started = time.perf_counter()
    picture = drawing.layout_graph(graph)
    svg = drawing.to_svg(picture, layout="builtin")
    drawing.to_mermaid(picture)
    assert time.perf_counter() - started < 20
    assert len(picture.boxes) == 2 + 800 * 3 and len(picture.clusters) == 1 + 800  # input, output; the repeat and its blocks
    assert svg.count('class="cluster"') == 801 and sum(e.skip for e in picture.edges) == 800


@pytest.mark.parametrize("spec", ["vgg16", "resnet50", "googlenet", "unet"])
def test_readme_graph_svgs_name_every_layer(spec):
    from pathlib import Path
    path = Path(__file__).parent.parent / "docs" / "images" / f"{spec}-graph.svg"
    root = ET.parse(path).getroot()
    tooltips = [a.get("{http://www.w3.org/1999/xlink}title") or "" for a in root.iter(SVG + "a")]
    drawn = {name for tip in tooltips for name in tip.split(", ")}
    assert drawn >= {node.name for node in load(spec).nodes}


def test_blocks_nested_as_deep_as_the_language_allows_draw_in_every_format():
    from cnnspec.spec import MAX_BLOCK_DEPTH
    from tests.test_spec import nested_blocks
    picture = drawing.layout_graph(build_graph(cnnspec.parse_spec(nested_blocks(MAX_BLOCK_DEPTH), "deep.yaml")))
    assert drawing.to_dot(picture).count("subgraph") == drawing.to_mermaid(picture).count("subgraph ") > 0
    assert 'class="cluster"' in drawing.to_svg(picture, layout="builtin")


def test_a_linear_box_shows_its_arguments_and_its_edges_the_shapes_in_and_out():
    picture = drawing.layout_graph(load("resnet50"), depth=1)
    fc = next(box for box in picture.boxes if box.id == "fc")
    assert fc.detail == "linear 1000"
    assert [e.shape for e in picture.edges if e.target == "fc"] == ["2048"]
    assert [(e.target, e.shape) for e in picture.edges if e.source == "fc"] == [("output:fc", "1000")]
    text = drawing.to_dot(picture)
    assert '"fc" -> "output:fc" [label=" 1000"' in text and "\u2192" not in text


def test_builtin_skip_edges_run_in_lanes_of_their_own_beside_the_boxes():
    """U-Net's four copies: each its own vertical lane right of every box it passes, its shape written
    along it, no two labels in one place (they used to pile up into one smear)."""
    import re
    picture = drawing.layout_graph(load("unet"), depth=0)
    placed, _ = drawing.place(picture)
    lanes = drawing.skip_lanes(picture, placed)
    skips = {index: edge for index, edge in enumerate(picture.edges) if edge.skip}
    assert len(lanes) == len(skips) == 4 and len(set(lanes.values())) == 4
    for index, edge in skips.items():
        top, bottom = placed[edge.source].y, placed[edge.target].y
        passed = [p for p in placed.values() if top <= p.y <= bottom]
        assert lanes[index] > max(p.x + p.width / 2 for p in passed)
    text = drawing.builtin_svg(picture)
    labels = re.findall(r'<text x="([\d.-]+)" y="([\d.-]+)"[^>]*rotate\(-90[^>]*>([^<]+)</text>', text)
    assert sorted(label for _, _, label in labels) == sorted(edge.shape for edge in skips.values())
    assert len({x for x, _, _ in labels}) == 4


def test_pdf_graphs_need_graphviz(monkeypatch):
    monkeypatch.setattr(drawing.shutil, "which", lambda name: None)
    with pytest.raises(SpecError, match="a PDF graph needs Graphviz"):
        drawing.render(drawing.layout_graph(residual()), "pdf")


def test_a_collapsed_residual_block_reads_like_the_papers_table():
    """He et al. 2016, Table 1: conv2_x is [1x1, 64; 3x3, 64; 1x1, 256]; conv3_x's first block strides 2."""
    picture = drawing.layout_graph(load("resnet50"), depth=1)
    detail = {box.id: box.detail for box in picture.boxes}
    assert detail["layer1.1"] == "1x1 64, 3x3 64, 1x1 256"
    assert detail["layer2.0"] == "1x1 128, 3x3 128 /2, 1x1 512, 1x1 512 /2"  # with its projection shortcut
    assert drawing.layout_graph(load("unet"), depth=0).boxes[6].detail == "up 2x2 512, 3x3 512, 3x3 512"
