"""Memory traffic, arithmetic intensity and the roofline estimate, against hand computations for VGG16."""
import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

import cnnspec
from cnnspec.cli import app
from cnnspec.collapse import collapse
from cnnspec.roofline import DEVICES

runner = CliRunner()
FP32 = 4


@pytest.fixture(scope="module")
def vgg16():
    return cnnspec.analyze("vgg16", roofline="h100")


# Each layer worked out by hand: (name, input values, weights read, output values, FLOPs per image).
HAND = [
    # conv1_1: 3x224x224 in; 3x3x3x64 weights + 64 biases; 64x224x224 out; 2 per MAC + a bias add per output
    ("block1.conv.0.conv", 3 * 224 * 224, 3 * 3 * 3 * 64 + 64, 64 * 224 * 224,
     2 * (224 * 224 * 64 * 3 * 3 * 3) + 64 * 224 * 224),
    # conv4_2, deep in: 512x28x28 in and out; 3x3x512x512 weights + 512 biases
    ("block4.conv.1.conv", 512 * 28 * 28, 3 * 3 * 512 * 512 + 512, 512 * 28 * 28,
     2 * (28 * 28 * 512 * 3 * 3 * 512) + 512 * 28 * 28),
    # fc6: 25,088 in (512x7x7 flattened), 25,088x4,096 weights + 4,096 biases, 4,096 out
    ("fc6", 25_088, 25_088 * 4096 + 4096, 4096, 2 * 25_088 * 4096 + 4096),
]


@pytest.mark.parametrize("batch", [1, 8])
@pytest.mark.parametrize("name, inputs, weights, outputs, flops", HAND)
def test_vgg16_traffic_and_intensity_agree_with_the_hand_computation(name, inputs, weights, outputs, flops, batch):
    row = cnnspec.analyze("vgg16", batch=batch).row(name)
    read = (batch * inputs + weights) * FP32  # activations per image, the weights once per batch
    written = batch * outputs * FP32
    assert (row.bytes_read, row.bytes_written, row.flops) == (read, written, flops)
    assert row.intensity == pytest.approx(batch * flops / (read + written))


def test_the_intensities_by_hand():
    """The same, as numbers to read: fc6 does half a FLOP per byte, conv4_2 about 292."""
    analysis = cnnspec.analyze("vgg16")
    assert analysis.row("fc6").intensity == pytest.approx(205_524_992 / (411_158_528 + 16_384))  # 0.4998
    assert analysis.row("block4.conv.1.conv").intensity == pytest.approx(292.46, abs=0.01)
    assert analysis.row("block1.conv.0.conv").intensity == pytest.approx(13.13, abs=0.01)


def test_views_move_nothing_and_in_place_relu_reads_and_writes(vgg16):
    assert [(vgg16.row(n).bytes_read, vgg16.row(n).bytes_written) for n in ("input", "flatten1", "dropout1")] \
        == [(0, 0)] * 3
    relu = vgg16.row("block1.conv.0.relu")
    assert relu.bytes_read == relu.bytes_written == 64 * 224 * 224 * FP32


def test_batch_norm_reads_its_running_statistics_and_not_num_batches_tracked():
    bn = cnnspec.analyze("resnet50").row("stem.bn1")
    assert bn.bytes_read == (64 * 112 * 112 + 2 * 64 + 2 * 64) * FP32  # input, gamma and beta, mean and var


def test_on_an_h100_at_batch_1_fc6_is_memory_bound_and_the_3x3_convs_compute_bound(vgg16):
    """Ridge: 67 TFLOP/s fp32 / 3.35 TB/s = 20 FLOPs per byte. conv1_1 (3 input channels, 13 FLOPs per
    byte) is the one 3x3 conv below it: it writes 64 channels for every 3 it reads."""
    assert vgg16.roofline.ridge == pytest.approx(20)
    convs = [row for row in vgg16.rows if row.type == "conv2d"]
    assert len(convs) == 13
    assert [row.name for row in convs if row.bound != "compute"] == ["block1.conv.0.conv"]
    assert {vgg16.row(name).bound for name in ("fc6", "fc7", "fc8")} == {"memory"}
    fc6 = vgg16.row("fc6")
    assert fc6.seconds == pytest.approx((411_158_528 + 16_384) / 3.35e12)  # 123 us: moving the weights
    conv = vgg16.row("block4.conv.1.conv")
    assert conv.seconds == pytest.approx(3_699_777_536 / 67e12)
    assert vgg16.roofline.seconds == pytest.approx(sum(row.seconds for row in vgg16.rows))
    assert (vgg16.roofline.compute_bound, vgg16.roofline.memory_bound) == (12, 24)


def test_tf32_and_bf16_move_the_ridge():
    """At TF32's 494.5 TFLOP/s the ridge is 148 FLOPs per byte: the 14x14 convs (90) turn memory-bound."""
    tf32 = cnnspec.analyze("vgg16", roofline="h100:tf32")
    assert tf32.roofline.math == "tf32" and tf32.roofline.ridge == pytest.approx(494.5 / 3.35)
    assert tf32.row("block5.conv.0.conv").bound == "memory" and tf32.row("block4.conv.1.conv").bound == "compute"
    bf16 = cnnspec.analyze("vgg16", dtype="bf16", roofline="h100")
    assert bf16.roofline.peak == 989.5e12 and bf16.row("fc6").bytes_read == 411_158_528 // 2
    for analysis in (tf32, bf16):  # docs/memory.md: 5 of the 13 convs
        assert sum(row.bound == "memory" for row in analysis.rows if row.type == "conv2d") == 5


def test_every_device_cites_its_data_sheet_for_every_peak():
    """Each peak is a figure of the cited page (dense, or the sparsity figure halved), except the CPU's,
    which are derived and say so."""
    for device in DEVICES.values():
        assert device.source.startswith("https://") and device.figures
        if device.key == "cpu":
            assert "derived" in device.figures and "representative" in device.name
            continue
        shown = {float(n.replace(",", "")) for n in re.findall(r"\d[\d,]*(?:\.\d+)?", device.figures)}
        for math, peak in device.peaks.items():
            tera = peak / 1e12
            assert tera in shown or 2 * tera in shown, (device.key, math)
        assert device.bandwidth / 1e12 in shown or device.bandwidth / 1e9 in shown, device.key


def usage_error(*arguments) -> str:
    """The error's words, out of the box it is drawn in."""
    result = runner.invoke(app, ["analyze", "vgg16", *arguments])
    assert result.exit_code == 2, result.output
    return " ".join(re.sub("[│╭╮╰╯─]", " ", result.output).split())


def test_the_docs_list_every_device_with_its_source():
    text = (Path(__file__).resolve().parents[1] / "docs" / "memory.md").read_text()
    for device in DEVICES.values():
        assert f"| {device.key} | {device.name.split(' (')[0]} |" in text and device.source in text, device.key


def test_unknown_devices_and_peaks_are_usage_errors():
    assert "devices are: h100, h200, a100, l4, t4, cpu" in usage_error("--roofline", "v100")
    assert "NVIDIA T4 16GB has no bf16 peak in its data sheet" in usage_error("--roofline", "t4", "--dtype", "bf16")
    assert "column 'time' needs --roofline DEVICE" in usage_error("--columns", "name,time")


def test_json_round_trip(vgg16):
    result = runner.invoke(app, ["analyze", "vgg16", "--roofline", "h100", "-f", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    rows = {row["name"]: row for row in data["rows"]}
    for row in vgg16.rows:
        back = rows[row.name]
        assert (back["bytes_read"], back["bytes_written"], back["bound"]) == (row.bytes_read, row.bytes_written, row.bound)
        assert back["intensity"] == row.intensity and back["seconds"] == row.seconds
    assert data["totals"]["bytes_read"] == sum(row.bytes_read for row in vgg16.rows)
    assert data["roofline"]["estimate"] is True and data["roofline"]["seconds"] == vgg16.roofline.seconds
    assert data["roofline"]["source"] == DEVICES["h100"].source


def test_the_table_and_summary_say_estimate():
    result = runner.invoke(app, ["analyze", "vgg16", "--roofline", "h100", "-f", "md"])
    assert result.exit_code == 0, result.output
    header = result.stdout.splitlines()[0]
    assert "Bound (estimate)" in header and "Time >= (us, estimate)" in header
    assert "Roofline estimate on NVIDIA H100 SXM5 80GB: at least 649 us" in result.stdout
    assert "not a measurement" in result.stdout


def test_collapsed_blocks_sum_traffic_and_time(vgg16):
    blocks = collapse(vgg16, 0)
    block4 = blocks.row("block4")
    members = [row for row in vgg16.rows if row.name.startswith("block4.")]
    assert block4.bytes_read == sum(row.bytes_read for row in members)
    assert block4.seconds == pytest.approx(sum(row.seconds for row in members)) and block4.bound == "compute"
    assert block4.intensity == pytest.approx(sum(r.flops for r in members)
                                             / sum(r.bytes_read + r.bytes_written for r in members))
