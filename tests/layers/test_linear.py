"""linear on the last axis, as nn.Linear: ConvNeXt's channels-last MLP, and the missing flatten it can hide."""
from cnnspec.layers import LAYERS
from tests.conftest import analyze_text


def test_linear_on_the_last_axis_keeps_params_and_counts_every_position():
    fc = LAYERS["linear"].from_arguments({"out_features": 384})
    x = [(56, 56, 96)]
    assert fc.out_shape(x) == (56, 56, 384)
    assert fc.params(x) == 96 * 384 + 384  # as on a flat [96]
    assert fc.macs(x, (56, 56, 384)) == 56 * 56 * 96 * 384
    assert fc.flops(x, (56, 56, 384)) == 2 * 56 * 56 * 96 * 384 + 56 * 56 * 384


MISSING_FLATTEN = """
input: [3, 32, 32]
layers:
  - {type: conv2d, out_channels: 8, kernel_size: 3, padding: 1, name: conv}
  - {type: linear, out_features: 10, name: head}
"""


def test_a_missing_flatten_is_a_warning_and_the_field_spans_the_mixed_axis():
    analysis = analyze_text(MISSING_FLATTEN)
    assert analysis.row("head").shape == (8, 32, 10)
    assert analysis.warnings == [("head", "linear reads the last axis of 8x32x32, a spatial one (32 positions), at "
                                          "each of its other 256 positions: a flatten or global_avg_pool is probably "
                                          "missing before it (for a channels-last MLP, permute the channels last "
                                          "first)")]
    assert analysis.row("head").receptive_size == "3x34"  # every column of the width mixed


def test_channels_last_needs_no_flatten_whatever_the_sizes():
    # a cube and channels fewer than positions: the permute, not the sizes, says where the channels are
    for shape in ("8, 8, 8", "4, 64, 64"):
        analysis = analyze_text(f"input: [{shape}]\nlayers:\n  - {{type: permute, dims: [0, 2, 3, 1]}}\n"
                                "  - {type: layer_norm}\n  - {type: linear, out_features: 16}\n")
        assert analysis.warnings == [] and analysis.rows[-1].receptive_size == "1x1"
