"""cnnspec compare: totals with ratios, rows aligned by name, resolution sweeps.

The inception(3a) figures are worked by hand from Szegedy et al. 2015, Figure 2 and Table 1 (conv
weights = K*K*C_in*C_out, MACs = weights * 28*28), not read back from the analyzer.
"""
import csv
import io
import json

import pytest
from typer.testing import CliRunner

import cnnspec
from cnnspec.cli import app
from cnnspec.compare import Column, aligned, designs, is_sweep, scaling, totals
from cnnspec.spec import builtin_specs

runner = CliRunner()
REAL_WEIGHTS = 192 * 64 + 192 * 96 + 9 * 96 * 128 + 192 * 16 + 25 * 16 * 32 + 192 * 32  # 163,328
NAIVE_WEIGHTS = 192 * 64 + 9 * 192 * 128 + 25 * 192 * 32  # 387,072
REAL_BIAS, NAIVE_BIAS = 64 + 96 + 128 + 16 + 32 + 32, 64 + 128 + 32


def column(name, shape=None):
    return Column(name, cnnspec.analyze(cnnspec.load(name, shape)))


def test_naive_inception_against_the_real_one():
    lines = {line.label: line for line in totals([column("inception3a"), column("inception3a_naive")])}
    assert lines["weights"].values == [REAL_WEIGHTS, NAIVE_WEIGHTS] == [163_328, 387_072]
    assert lines["params"].values == [REAL_WEIGHTS + REAL_BIAS, NAIVE_WEIGHTS + NAIVE_BIAS] == [163_696, 387_296]
    assert lines["macs"].values == [REAL_WEIGHTS * 784, NAIVE_WEIGHTS * 784] == [128_049_152, 303_464_448]
    assert lines["macs"].ratios[1] == pytest.approx(303_464_448 / 128_049_152, rel=1e-12)
    assert lines["receptive_field"].values == ["5x5", "5x5"]
    assert lines["receptive_field"].ratios == [None, None]


def test_rows_aligned_by_block_with_a_total():
    lines = {line.label: line for line in aligned([column("inception3a"), column("inception3a_naive")],
                                                  "block", "weights")}
    assert lines["b3x3_reduce"].values == [192 * 96, "-"]  # only the real module has it
    assert lines["b3x3"].values == [9 * 96 * 128, 9 * 192 * 128]
    assert lines["b5x5"].ratios[1] == 12  # 192 input channels instead of 16
    assert lines["(total)"].values == [REAL_WEIGHTS, NAIVE_WEIGHTS]
    by_layer = {line.label for line in aligned([column("inception3a"), column("inception3a_naive")], "layer", "macs")}
    assert {"b3x3.conv", "b3x3.relu", "b3x3_reduce.conv"} <= by_layer


def test_resolution_sweep_separates_what_scales():
    columns = designs(["inception3a"], [(192, 28, 28), (192, 56, 56)])
    assert [c.label for c in columns] == ["192x28x28", "192x56x56"] and is_sweep(columns)
    verdicts = scaling(columns)
    assert verdicts["params"] == verdicts["weights"] == "constant"
    assert verdicts["macs"] == verdicts["memory"] == verdicts["peak_memory"] == "proportional to H x W"
    valid_conv = scaling([column("convpool_cnn_c", (3, 32, 32)), column("convpool_cnn_c", (3, 64, 64))])
    assert valid_conv["memory"] == "grows 4.04x for 4.00x the pixels"  # the unpadded conv3 loses a border


def test_several_specs_at_one_input():
    columns = designs(["inception3a", "inception3a_naive"], [(192, 14, 14)])
    assert [c.analysis.totals.macs for c in columns] == [REAL_WEIGHTS * 196, NAIVE_WEIGHTS * 196]
    assert not is_sweep(columns)


@pytest.mark.skipif("all_cnn_c" not in builtin_specs(), reason="all_cnn_c.yaml is written by another task")
def test_all_cnn_c_against_its_max_pooling_variant():
    lines = {line.label: line for line in totals([column("all_cnn_c"), column("convpool_cnn_c")])}
    assert lines["params"].values == [1_369_738, 1_369_738]  # the same convs; pooling has no weights
    assert lines["macs"].values == [270_798_336, 398_200_320]  # hand-worked in tests/test_whatif.py


@pytest.mark.skipif(not {"mnist1d_cnn", "mnist1d_mlp"} <= set(builtin_specs()),
                    reason="the MNIST-1D specs are written by another task")
def test_mnist1d_cnn_against_its_mlp():
    lines = {line.label: line for line in totals([column("mnist1d_cnn"), column("mnist1d_mlp")])}
    width = 215  # 4 equal hidden layers: 40h + h + 3(h^2 + h) + 10h + 10 params (mnist1d_mlp.yaml)
    assert lines["params"].values == [2_050, 3 * width**2 + 54 * width + 10] == [2_050, 150_295]
    assert lines["weights"].values == [2_050 - 3 * 15 - 10, 40 * width + 3 * width**2 + 10 * width]


def test_cli_formats():
    data = json.loads(runner.invoke(app, ["compare", "inception3a", "inception3a_naive", "-f", "json"]).stdout)
    assert data["designs"] == ["inception3a", "inception3a_naive"]
    assert data["rows"][1] == {"quantity": "weights", "values": [163_328, 387_072],
                               "ratios": [1.0, 387_072 / 163_328]}
    rows = list(csv.reader(io.StringIO(runner.invoke(app, ["compare", "inception3a", "inception3a_naive",
                                                           "-f", "csv"]).stdout)))
    assert rows[0] == ["quantity", "inception3a", "inception3a_naive", "inception3a_naive/inception3a"]
    assert rows[1][:3] == ["params", "163696", "387296"]
    sweep = runner.invoke(app, ["compare", "convpool_cnn_c", "--input", "3x32x32,3x64x64", "-f", "md"]).stdout
    assert "| params | 1,369,738 | 1,369,738 (1x) |" in sweep and "- params: constant" in sweep
    table = runner.invoke(app, ["compare", "inception3a", "inception3a_naive", "--by", "block", "--field", "weights"])
    assert table.exit_code == 0 and "153,600 (12x)" in table.stdout  # the naive 5x5 on 192 channels


def test_compare_needs_two_designs():
    result = runner.invoke(app, ["compare", "inception3a"])
    assert "compare takes two or more specs" in str(result.exception)
    result = runner.invoke(app, ["compare", "inception3a", "inception3a_naive", "--input", "192x8x8,192x9x9"])
    assert "compare takes two or more specs" in str(result.exception)
