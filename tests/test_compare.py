"""cnnspec compare: totals with ratios, rows aligned by name, resolution sweeps."""
import csv
import io
import json

from typer.testing import CliRunner

import cnnspec
from cnnspec.cli import app
from cnnspec.compare import Column, aligned, scaling, totals

runner = CliRunner()


def column(name, shape=None):
    return Column(name, cnnspec.analyze(cnnspec.load(name, shape)))


def test_naive_inception_against_the_real_one():
    real, naive = column("inception3a"), column("inception3a_naive")
    lines = {line.label: line for line in totals([real, naive])}
    assert lines["params"].values == [163_696, 387_296]
    assert lines["macs"].values == [128_049_152, 303_464_448]
    assert abs(lines["macs"].ratios[1] - 303_464_448 / 128_049_152) < 1e-12
    assert lines["receptive_field"].values == ["5x5", "5x5"]


def test_rows_aligned_by_block():
    lines = {line.label: line for line in aligned([column("inception3a"), column("inception3a_naive")],
                                                  "block", "params")}
    assert lines["b3x3_reduce"].values == [18_528, "-"]  # only the real module has it
    assert lines["b3x3"].values == [110_720, 221_312]


def test_resolution_sweep_separates_what_scales():
    verdicts = scaling([column("inception3a", (192, 28, 28)), column("inception3a", (192, 56, 56))])
    assert verdicts["params"] == "constant"
    assert verdicts["macs"] == verdicts["memory"] == "proportional to H x W"
    valid_conv = scaling([column("convpool_cnn_c", (3, 32, 32)), column("convpool_cnn_c", (3, 64, 64))])
    assert valid_conv["memory"] == "grows 4.04x for 4.00x the pixels"  # the unpadded conv3 loses a border


def test_cli_formats():
    data = json.loads(runner.invoke(app, ["compare", "inception3a", "inception3a_naive", "-f", "json"]).stdout)
    assert data["designs"] == ["inception3a", "inception3a_naive"]
    rows = list(csv.reader(io.StringIO(runner.invoke(app, ["compare", "inception3a", "inception3a_naive",
                                                           "-f", "csv"]).stdout)))
    assert rows[0] == ["quantity", "inception3a", "inception3a_naive", "inception3a_naive/inception3a"]
    assert rows[1][:3] == ["params", "163696", "387296"]
    sweep = runner.invoke(app, ["compare", "convpool_cnn_c", "--input", "3x32x32,3x64x64", "-f", "md"]).stdout
    assert "| params | 1,369,738 | 1,369,738 (1x) |" in sweep and "- params: constant" in sweep


def test_compare_needs_two_designs():
    result = runner.invoke(app, ["compare", "inception3a"])
    assert "compare takes two or more specs" in str(result.exception)
