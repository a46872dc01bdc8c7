import pytest

from cnnspec.layers import LAYERS
from cnnspec.shape import ArgumentError
from tests.conftest import analyze_text


def test_batchnorm_params_are_affine_and_statistics_are_buffers():
    bn = LAYERS["batchnorm2d"].from_arguments({})
    assert bn.params([(64, 8, 8)]) == 128 and bn.buffers([(64, 8, 8)]) == 129  # mean, var, num_batches_tracked
    frozen = LAYERS["batchnorm"].from_arguments({"affine": False, "track_running_stats": False})
    assert frozen.params([(64, 8, 8)]) == 0 and frozen.buffers([(64, 8, 8)]) == 0
    assert bn.flops([(64, 8, 8)], (64, 8, 8)) == 2 * 64 * 64


def test_eps_written_as_yaml_1_1_string():
    assert LAYERS["batchnorm2d"].from_arguments({"eps": "1e-3"}).eps == 0.001


def test_lrn_keeps_shape_and_has_no_params():
    lrn = LAYERS["local_response_norm"].from_arguments({"size": 5, "alpha": 1e-4, "beta": 0.75, "k": 2})
    assert lrn.out_shape([(96, 55, 55)]) == (96, 55, 55) and lrn.params([(96, 55, 55)]) == 0
    assert lrn.flops([(96, 55, 55)], (96, 55, 55)) == 9 * 96 * 55 * 55


def test_layer_norm_over_trailing_axes_as_torch():
    ln = LAYERS["layer_norm"].from_arguments({})  # the last axis: ConvNeXt's channels-last norm
    assert ln.params([(56, 56, 96)]) == 2 * 96 and ln.bias_params([(56, 56, 96)]) == 96
    assert ln.flops([(56, 56, 96)], (56, 56, 96)) == 7 * 56 * 56 * 96  # statistics 5, weight 1, bias 1
    wide = LAYERS["layer_norm"].from_arguments({"normalized_shape": [56, 96], "bias": False})
    assert wide.params([(56, 56, 96)]) == 56 * 96 and wide.flops([(2, 4)], (2, 4)) == 6 * 8
    bare = LAYERS["layer_norm"].from_arguments({"elementwise_affine": False})
    assert bare.params([(10,)]) == 0 and bare.flops([(10,)], (10,)) == 50
    with pytest.raises(ArgumentError, match=r"trailing axes of the input 56x56x96. Received: normalized_shape=\[56\]"):
        LAYERS["layer_norm"].from_arguments({"normalized_shape": [56]}).out_shape([(56, 56, 96)])


def test_layer_norm2d_and_group_norm_have_a_weight_and_bias_per_channel():
    ln2d = LAYERS["layer_norm2d"].from_arguments({"eps": 1e-6})
    assert ln2d.params([(96, 56, 56)]) == 192 and ln2d.buffers([(96, 56, 56)]) == 0
    with pytest.raises(ArgumentError, match=r"expects an input \[C, H, W\]"):
        ln2d.out_shape([(96, 56)])
    gn = LAYERS["group_norm"].from_arguments({"num_groups": 32})
    assert gn.params([(256, 14, 14)]) == 512 and gn.flops([(256, 4, 4)], (256, 4, 4)) == 7 * 256 * 16
    with pytest.raises(ArgumentError, match=r"divide the input's channels \(100\). Received: num_groups=32"):
        gn.out_shape([(100, 4, 4)])


def test_layer_scale_is_one_factor_per_channel():
    channels_first = LAYERS["layer_scale"].from_arguments({})
    assert channels_first.init == 1e-6 and channels_first.params([(96, 56, 56)]) == 96
    tokens = LAYERS["layer_scale"].from_arguments({"dim": -1, "init": 1e-5})
    assert tokens.params([(197, 384)]) == 384 and tokens.flops([(197, 384)], (197, 384)) == 197 * 384


def test_statistics_over_positions_see_the_whole_input():
    analysis = analyze_text("""
input: [8, 16, 16]
layers:
  - {type: conv2d, out_channels: 8, kernel_size: 3, padding: 1, name: conv}
  - {type: layer_norm2d, name: per_position}
  - {type: group_norm, num_groups: 2, name: grouped}
  - {type: layer_norm, normalized_shape: [8, 16, 16], inputs: conv, name: everything}
""")
    assert analysis.row("per_position").receptive_size == "3x3"
    assert analysis.row("grouped").receptive_size == analysis.row("everything").receptive_size == "3x3+global"


def test_instance_norm_sees_the_whole_input_unless_it_normalizes_with_running_statistics():
    """In eval, nn.InstanceNorm with track_running_stats uses the running mean and variance (measured:
    test_contract_traffic reads them), so each value depends on its own position only."""
    analysis = analyze_text("""
input: [8, 16, 16]
layers:
  - {type: conv2d, out_channels: 8, kernel_size: 3, padding: 1, name: conv}
  - {type: instance_norm2d, name: own}
  - {type: instance_norm2d, track_running_stats: true, inputs: conv, name: running}
""")
    assert analysis.row("own").receptive_size == "3x3+global"
    assert analysis.row("running").receptive_size == "3x3"
    assert analysis.row("own").flops == 5 * 8 * 16 * 16 and analysis.row("running").flops == 2 * 8 * 16 * 16
