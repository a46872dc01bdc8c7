"""Every worked example of the course material (tests/data/reference/seed_facts.md)."""
import pytest

from cnnspec.layers import LAYERS
from tests.conftest import analyze_text


def test_50x50x3_kernel_5_stride_3():
    analysis = analyze_text("input: [3, 50, 50]\nlayers: [{conv2d: {out_channels: 64, kernel_size: 5, stride: 3}}]")
    assert analysis.rows[-1].shape == (64, 16, 16)
    assert analysis.rows[-1].params == 5 * 5 * 3 * 64 + 64


def test_alexnet_conv1_on_224_warns_about_flooring():
    analysis = analyze_text("input: [3, 224, 224]\nlayers:\n  - {conv2d: {out_channels: 96, kernel_size: 11, "
                            "stride: 4}, name: conv1}\n  - {maxpool2d: {kernel_size: 3, stride: 2}}")
    conv1 = analysis.row("conv1")
    assert conv1.shape == (96, 54, 54) and conv1.params == 34_944
    assert any("54.25" in w and "floored to 54" in w for w in conv1.warnings)
    assert analysis.rows[-1].shape == (96, 26, 26) and analysis.rows[-1].params == 0


@pytest.mark.parametrize("size, padding", [(227, 0), (224, 2)])
def test_alexnet_conv1_works_out_on_227_or_padding_2(size, padding):
    analysis = analyze_text(f"input: [3, {size}, {size}]\nlayers:\n  - {{conv2d: {{out_channels: 96, kernel_size: 11, "
                            f"stride: 4, padding: {padding}}}}}\n  - {{maxpool2d: {{kernel_size: 3, stride: 2}}}}")
    assert analysis.rows[1].shape == (96, 55, 55) and not analysis.rows[1].warnings
    assert analysis.rows[2].shape == (96, 27, 27)


def test_max_pool_2x2_values():
    torch = pytest.importorskip("torch")
    pool = LAYERS["maxpool2d"].from_arguments({"kernel_size": 2, "stride": 2}).to_torch([(1, 4, 4)])
    x = torch.tensor([[[[1, 1, 2, 4], [5, 6, 7, 8], [3, 2, 1, 0], [1, 2, 3, 4]]]], dtype=torch.float32)
    assert pool(x).tolist() == [[[[6, 8], [3, 4]]]]


def test_full_1d_convolution_length_and_values():
    """Full convolution = padding K-1; length a + b - 1. PyTorch correlates, so the kernel is flipped."""
    analysis = analyze_text("input: [1, 5]\nlayers: [{conv1d: {out_channels: 1, kernel_size: 3, padding: 2, bias: false}}]")
    assert analysis.rows[-1].shape == (1, 7)
    torch = pytest.importorskip("torch")
    conv = LAYERS["conv1d"].from_arguments({"out_channels": 1, "kernel_size": 3, "padding": 2, "bias": False}) \
        .to_torch([(1, 5)])
    with torch.no_grad():
        conv.weight.copy_(torch.tensor([[[5.0, 4.0, 3.0]]]))
        out = conv(torch.tensor([[[1.0, 2.0, 3.0, 4.0, 5.0]]]))
    assert out.flatten().tolist() == [3, 10, 22, 34, 46, 40, 25]


@pytest.mark.parametrize("k, c_in, c_out", [(3, 3, 64), (5, 16, 32), (11, 3, 96), (1, 480, 16)])
def test_conv_parameter_formula(k, c_in, c_out):
    analysis = analyze_text(f"input: [{c_in}, 32, 32]\nlayers: [{{conv2d: {{out_channels: {c_out}, kernel_size: {k}}}}}]")
    assert analysis.rows[-1].params == k * k * c_in * c_out + c_out


def test_conv1d_parameter_formula():
    analysis = analyze_text("input: [4, 40]\nlayers: [{conv1d: {out_channels: 15, kernel_size: 3}}]")
    assert analysis.rows[-1].params == 4 * 15 * 3 + 15


def test_dense_layer_on_a_224_image():
    analysis = analyze_text("input: [3, 224, 224]\nlayers: [flatten, {linear: {out_features: 150528, bias: false}}]")
    assert analysis.rows[1].shape == (150_528,)
    assert analysis.rows[-1].params == 150_528 ** 2 == 22_658_678_784


def test_one_by_one_reduction_arithmetic():
    naive = analyze_text("input: [480, 14, 14]\nlayers: [{conv2d: {out_channels: 48, kernel_size: 5, padding: same, "
                         "bias: false}}]")
    assert naive.totals.params == 576_000 and naive.totals.macs == 112_896_000
    reduced = analyze_text("input: [480, 14, 14]\nlayers:\n  - {conv2d: {out_channels: 16, kernel_size: 1, bias: false}}\n"
                           "  - {conv2d: {out_channels: 48, kernel_size: 5, padding: same, bias: false}}")
    assert reduced.totals.params == 26_880 and reduced.totals.macs == 5_268_480


@pytest.mark.parametrize("convs, field", [(1, "3x3"), (2, "5x5"), (3, "7x7")])
def test_stacked_3x3_receptive_fields(convs, field):
    layers = "".join("  - {conv2d: {out_channels: 4, kernel_size: 3, padding: 1}}\n" for _ in range(convs))
    assert analyze_text(f"input: [3, 32, 32]\nlayers:\n{layers}").rows[-1].receptive_size == field


def test_mnist1d_cnn_lengths_and_params():
    analysis = analyze_text("""
input: [1, 40]
layers:
  - {conv1d: {out_channels: 15, kernel_size: 3, stride: 2}}
  - relu
  - {conv1d: {out_channels: 15, kernel_size: 3, stride: 2}}
  - relu
  - {conv1d: {out_channels: 15, kernel_size: 3, stride: 2}}
  - relu
  - flatten
  - {linear: {out_features: 10}}
""")
    assert [r.shape for r in analysis.rows if r.type == "conv1d"] == [(15, 19), (15, 9), (15, 4)]
    assert analysis.totals.params == 2_050
