"""The spec library's models with no torchvision reference, against their papers' figures.

LeNet-5, the 2012 AlexNet, ZFNet, All-CNN-C, the MNIST-1D pair and U-Net: each figure here is
derived in the test from the paper's description (closed forms, the papers' map sizes and
parameter counts), never read back from the analyzer. tests/test_specs.py holds the torchvision
comparisons and the checks every built-in spec passes (analyze runs clean, torch builds the counted
parameters).
"""
from __future__ import annotations

import pytest
import torch

import cnnspec


def conv_params(c_in: int, c_out: int, k: int, groups: int = 1) -> int:
    return k * k * (c_in // groups) * c_out + c_out


def linear_params(n_in: int, n_out: int) -> int:
    return n_in * n_out + n_out


def analysis(name: str, **overrides):
    return cnnspec.analyze(cnnspec.load(name, overrides=overrides or None))


def test_lenet5_reconciles_with_the_papers_60000_parameters():
    """LeCun et al. 1998, section II.B: C1 156, S2 12, C3 1,516, S4 32, C5 48,120, F6 10,164."""
    result = analysis("lenet5")
    assert [result.row(n).shape for n in ("c1", "s2", "c3", "s4", "c5", "f6", "output")] == [
        (6, 28, 28), (6, 14, 14), (16, 10, 10), (16, 5, 5), (120, 1, 1), (84,), (10,)]
    assert (result.row("c1").params, result.row("c5").params, result.row("f6").params) == (156, 48_120, 10_164)
    # C3's connection table (Table I): 6 maps read 3 of S2's maps, 9 read 4, 1 reads all 6
    c3_paper = 25 * (6 * 3 + 9 * 4 + 1 * 6) + 16
    subsampling_paper = 2 * 6 + 2 * 16  # a trainable coefficient and bias per map in S2 and S4
    paper = (result.row("c1").params + subsampling_paper + c3_paper + result.row("c5").params
             + result.row("f6").params)
    assert c3_paper == 1_516 and paper == 60_000
    assert result.row("c3").params == conv_params(6, 16, 5) == c3_paper + 900
    assert result.totals.params == paper - subsampling_paper + 900 + result.row("output").params == 61_706


def test_original_alexnet_is_two_towers_of_grouped_convs():
    """Krizhevsky et al. 2012, Figure 2: 227 -> 55 -> 27 -> 13 -> 6; conv2, conv4, conv5 per tower."""
    result = analysis("alexnet_original")
    expected = (conv_params(3, 96, 11) + conv_params(96, 256, 5, groups=2) + conv_params(256, 384, 3)
                + conv_params(384, 384, 3, groups=2) + conv_params(384, 256, 3, groups=2)
                + linear_params(256 * 6 * 6, 4096) + linear_params(4096, 4096) + linear_params(4096, 1000))
    assert result.totals.params == expected == 60_965_224
    assert [result.row(n).shape[1] for n in ("conv1.conv", "pool1", "pool2", "conv5.conv", "pool5")] == [
        55, 27, 13, 13, 6]
    torch_alexnet = analysis("alexnet").totals.params
    assert torch_alexnet - result.totals.params == 61_100_840 - 60_965_224


def test_alexnet_at_224_floors_only_padding():
    """torchvision pads conv1 by 2 on 224: 55.25 floors to 55 with no input lost, hence no warning."""
    result = analysis("alexnet")
    assert result.row("conv1").shape == (64, 55, 55) and not result.warnings


def test_zfnet_follows_figure_3():
    result = analysis("zfnet")
    sizes = [result.row(n).shape for n in ("conv1.conv", "pool1", "conv2.conv", "pool2", "pool5")]
    assert sizes == [(96, 110, 110), (96, 55, 55), (256, 26, 26), (256, 13, 13), (256, 6, 6)]
    assert result.row("conv1.conv").params == conv_params(3, 96, 7)


def test_all_cnn_c_learns_its_downsampling():
    """Springenberg et al. 2015: same weights as ConvPool-CNN-C, stride-2 convs where it pools."""
    strided, pooled = analysis("all_cnn_c"), analysis("convpool_cnn_c")
    assert strided.totals.params == pooled.totals.params == (
        conv_params(3, 96, 3) + 2 * conv_params(96, 96, 3) + conv_params(96, 192, 3) + 2 * conv_params(192, 192, 3)
        + conv_params(192, 192, 3) + conv_params(192, 192, 1) + conv_params(192, 10, 1))
    assert [strided.row(n).shape for n in ("down1.conv", "down2.conv", "conv3.conv", "pool")] == [
        (96, 16, 16), (192, 8, 8), (192, 6, 6), (10,)]
    assert strided.totals.macs < pooled.totals.macs
    assert not any(row.type.startswith("maxpool") for row in strided.rows)


def test_mnist1d_cnn_has_exactly_2050_parameters():
    result = analysis("mnist1d_cnn")
    assert [result.row(f"conv.{i}.conv").shape for i in range(3)] == [(15, 19), (15, 9), (15, 4)]
    assert result.totals.params == 15 * 3 + 15 + 2 * (15 * 15 * 3 + 15) + 60 * 10 + 10 == 2_050


@pytest.mark.parametrize("width", [1, 100, 214, 215])
def test_mnist1d_mlp_follows_its_closed_form(width):
    assert analysis("mnist1d_mlp", width=width).totals.params == 3 * width ** 2 + 54 * width + 10


def test_no_equal_width_mlp_reaches_the_courses_150185():
    counts = {3 * h ** 2 + 54 * h + 10 for h in range(1, 300)}
    assert 150_185 not in counts and analysis("mnist1d_mlp").totals.params == 150_295


def unet_params() -> int:
    """Ronneberger et al. 2015, Figure 1: 3x3 double convs, 2x2 up-convs, a 1x1 head to 2 classes."""
    widths = [64, 128, 256, 512, 1024]
    down = sum(conv_params(c_in, c, 3) + conv_params(c, c, 3) for c_in, c in zip([1, *widths], widths))
    up = sum(conv_params(2 * c, c, 2) + conv_params(2 * c, c, 3) + conv_params(c, c, 3) for c in widths[:-1])
    return down + up + conv_params(64, 2, 1)


def test_unet_is_unpadded_572_to_388():
    result = analysis("unet")
    assert result.totals.params == unet_params() == 31_030_658
    assert result.row(result.outputs[0]).shape == (2, 388, 388)
    crops = [result.row(f"dec{i}.crop").shape[1] for i in (4, 3, 2, 1)]
    skips = [result.row(f"enc{i}.conv.conv2").shape[1] for i in (4, 3, 2)] + [result.row("enc1.conv2").shape[1]]
    assert list(zip(skips, crops)) == [(64, 56), (136, 104), (280, 200), (568, 392)]


@pytest.mark.parametrize("size", [32, 256, 512])
def test_padded_unet_output_matches_its_input(size):
    graph = cnnspec.load("unet_padded", input_shape=(1, size, size))
    assert graph[graph.outputs[0]].out_shape == (2, size, size)
    assert cnnspec.analyze(graph).totals.params == unet_params()


def test_padded_unet_runs_in_torch_at_its_input_size():
    graph = cnnspec.load("unet_padded", input_shape=(1, 32, 32))
    model = cnnspec.build(graph).eval()
    with torch.no_grad():
        assert model(torch.randn(2, 1, 32, 32)).shape == (2, 2, 32, 32)
