"""--depth: blocks collapsed into one row each, their figures summed exactly."""
import json

import pytest
from typer.testing import CliRunner

import cnnspec
from cnnspec.analysis import Row
from cnnspec.cli import app
from cnnspec.collapse import collapse

SUMMED = ("params", "trainable", "bias", "buffers", "macs", "flops", "memory")


@pytest.fixture(scope="module")
def resnet50():
    return cnnspec.analyze(cnnspec.load("resnet50"))


def members(analysis, prefix: str) -> list[Row]:
    return [row for row in analysis.rows if row.name.startswith(prefix + ".")]


def test_depth_1_is_one_row_per_bottleneck_summing_its_layers(resnet50):
    collapsed = collapse(resnet50, 1)
    names = [row.name for row in collapsed.rows]
    assert len(names) == 24 and names[5:8] == ["layer1.0", "layer1.1", "layer1.2"]
    assert names[:5] == ["input", "stem.conv1", "stem.bn1", "stem.relu", "stem.maxpool"]
    for row in collapsed.rows:
        inside = members(resnet50, row.name) or [resnet50.row(row.name)]
        for figure in SUMMED:
            assert getattr(row, figure) == sum(getattr(layer, figure) for layer in inside), (row.name, figure)
    for figure in SUMMED:
        assert sum(getattr(row, figure) for row in collapsed.rows) == sum(getattr(row, figure) for row in resnet50.rows)
    assert collapsed.totals == resnet50.totals


def test_a_block_row_shows_its_output_layer(resnet50):
    block = collapse(resnet50, 1).row("layer2.0")
    out = resnet50.row("layer2.0.relu3")  # what layer2.1 reads
    assert block.type == "bottleneck" and block.shape == out.shape == (512, 28, 28)
    assert block.receptive_field == out.receptive_field and block.receptive_size == "43x43"
    assert block.values == out.values and block.inputs == ["layer1.2"]
    assert collapse(resnet50, 1).row("avgpool").inputs == ["layer4.2"]


def test_depth_0_collapses_repeated_blocks_into_their_stage(resnet50):
    collapsed = collapse(resnet50, 0)
    assert [(row.name, row.type) for row in collapsed.rows] == [
        ("input", "input"), ("stem", "stem"), ("layer1", "bottleneck x3"), ("layer2", "bottleneck x4"),
        ("layer3", "bottleneck x6"), ("layer4", "bottleneck x3"), ("avgpool", "adaptive_avg_pool2d"),
        ("flatten1", "flatten"), ("fc", "linear")]
    assert collapsed.row("layer3").params == 7_098_368


def test_a_branching_block_is_read_at_its_concat():
    googlenet = cnnspec.analyze(cnnspec.load("googlenet"))
    block = collapse(googlenet, 0).row("inception3a")
    assert block.shape == (256, 28, 28) and block.type == "inception"
    assert block.macs == sum(row.macs for row in members(googlenet, "inception3a"))


def test_no_depth_is_the_analysis_itself(resnet50):
    assert collapse(resnet50, None) is resnet50


def test_analyze_depth_in_every_format():
    runner = CliRunner()
    data = json.loads(runner.invoke(app, ["analyze", "resnet50", "--depth", "0", "-f", "json"]).stdout)
    assert [row["name"] for row in data["rows"]][:3] == ["input", "stem", "layer1"]
    assert data["totals"]["params"] == 25_557_032 and data["blocks"]["layer1.0"] == "bottleneck"
    csv = runner.invoke(app, ["analyze", "resnet50", "--depth", "0", "-f", "csv", "--columns", "name,params"]).stdout
    assert csv.splitlines()[:3] == ["name,params", "input,0", "stem,9536"] and csv.splitlines()[-1] == "Total,25557032"
    table = runner.invoke(app, ["analyze", "resnet50", "--depth", "1"]).stdout
    assert "│ layer3.5 " in table and "layer3.5.conv1" not in table
    bad = runner.invoke(app, ["analyze", "vgg16", "--columns", "name,parms"])
    assert isinstance(bad.exception, cnnspec.SpecError) and "unknown column 'parms'" in str(bad.exception)
