"""Convolution family: closed forms for shape, params, MACs, FLOPs and receptive field."""
from hypothesis import given, settings
from hypothesis import strategies as st

from cnnspec.layers import LAYERS
from cnnspec.receptive import ReceptiveField


def conv(**arguments):
    return LAYERS[arguments.pop("type", "conv2d")].from_arguments(arguments)


@settings(max_examples=200)
@given(c_in=st.integers(1, 8), groups=st.integers(1, 4), per_group=st.integers(1, 4), k=st.integers(1, 5),
       s=st.integers(1, 3), p=st.integers(0, 2), d=st.integers(1, 2), n=st.integers(12, 40), bias=st.booleans())
def test_conv2d_closed_forms(c_in, groups, per_group, k, s, p, d, n, bias):
    c_in *= groups
    c_out = groups * per_group
    layer = conv(out_channels=c_out, kernel_size=k, stride=s, padding=p, dilation=d, groups=groups, bias=bias)
    x = (c_in, n, n + 1)
    out = layer.out_shape([x])
    size = [(m + 2 * p - d * (k - 1) - 1) // s + 1 for m in x[1:]]
    assert out == (c_out, *size)
    assert layer.params([x]) == k * k * c_in // groups * c_out + (c_out if bias else 0)
    assert layer.macs([x], out) == c_out * size[0] * size[1] * k * k * c_in // groups
    assert layer.flops([x], out) == 2 * layer.macs([x], out) + (c_out * size[0] * size[1] if bias else 0)


def test_depthwise_separable_counts():
    depthwise = conv(out_channels=32, kernel_size=3, padding=1, groups=32, bias=False)
    pointwise = conv(out_channels=64, kernel_size=1, bias=False)
    x = (32, 56, 56)
    assert depthwise.params([x]) == 32 * 9
    assert pointwise.params([x]) == 32 * 64
    assert depthwise.macs([x], x) == 56 * 56 * 32 * 9


def test_same_padding_with_even_kernel_pads_right():
    layer = conv(out_channels=4, kernel_size=4, padding="same")
    assert layer.out_shape([(3, 10, 10)]) == (4, 10, 10)


def test_tuple_kernel_and_conv3d():
    layer = conv(out_channels=4, kernel_size=[1, 7], padding=[0, 3])
    assert layer.out_shape([(3, 17, 17)]) == (4, 17, 17) and layer.params([(3, 17, 17)]) == 3 * 7 * 4 + 4
    layer3d = conv(type="conv3d", out_channels=8, kernel_size=3, stride=[1, 2, 2], padding=1)
    assert layer3d.out_shape([(3, 16, 112, 112)]) == (8, 16, 56, 56)
    assert layer3d.params([(3, 16, 112, 112)]) == 27 * 3 * 8 + 8


def test_generic_conv_takes_rank_from_input():
    layer = conv(type="conv", out_channels=5, kernel_size=3)
    assert layer.out_shape([(2, 10)]) == (5, 8)
    assert layer.out_shape([(2, 10, 10)]) == (5, 8, 8)


def test_transposed_conv_doubles_and_counts_input_side_macs():
    layer = conv(type="conv_transpose2d", out_channels=64, kernel_size=2, stride=2)
    x = (128, 28, 28)
    out = layer.out_shape([x])
    assert out == (64, 56, 56)
    assert layer.params([x]) == 128 * 64 * 4 + 64
    assert layer.macs([x], out) == 28 * 28 * 128 * 64 * 4


def test_locally_connected_has_a_filter_bank_per_position():
    layer = conv(type="locally_connected2d", out_channels=16, kernel_size=3)
    x = (8, 10, 10)
    assert layer.out_shape([x]) == (16, 8, 8)
    assert layer.params([x]) == 64 * (3 * 3 * 8 * 16 + 16)
    assert layer.macs([x], (16, 8, 8)) == 64 * 16 * 3 * 3 * 8


def test_receptive_field_through_dilation_and_stride():
    start = ReceptiveField.of_input(2)
    dilated = conv(out_channels=1, kernel_size=3, dilation=2, padding=2)
    field = dilated.receptive_field([(1, 32, 32)], [start])
    assert field.describe() == "5x5" and field.start == (0, 0)
    strided = conv(out_channels=1, kernel_size=3, stride=2)
    after = strided.receptive_field([(1, 32, 32)], [field])
    assert after.describe() == "7x7" and after.jump == (2, 2) and after.start == (1, 1)


def test_transposed_conv_receptive_field_gets_finer():
    start = ReceptiveField(size=(4, 4), jump=(2, 2), start=(0, 0))
    up = conv(type="conv_transpose2d", out_channels=1, kernel_size=2, stride=2)
    field = up.receptive_field([(1, 8, 8)], [start])
    assert field.jump == (1, 1) and field.size == (4, 4)


def test_flooring_warning_only_when_real_input_is_dropped():
    resnet_stem = conv(out_channels=64, kernel_size=7, stride=2, padding=3)
    assert resnet_stem.warnings([(3, 224, 224)]) == []  # only padding is dropped
    alexnet = conv(out_channels=96, kernel_size=11, stride=4)
    (height, width) = alexnet.warnings([(3, 224, 224)])
    assert "height 224" in height and "last 1 input position(s) are never seen" in height
    assert width.startswith("width 224")
    projection = conv(out_channels=128, kernel_size=1, stride=2)  # ResNet's downsample shortcut
    assert projection.warnings([(64, 56, 56)]) == []  # skips every other position by design, not by flooring
    assert conv(out_channels=8, kernel_size=2, stride=3).warnings([(1, 10, 10)])  # windows 0-1, 3-4, 6-7: 9 is lost


def test_bias_params_are_the_part_of_params_the_course_leaves_out():
    x = (3, 224, 224)
    with_bias = conv(out_channels=64, kernel_size=3, padding=1)
    assert with_bias.bias_params([x]) == 64 and with_bias.params([x]) - 64 == 1_728
    assert conv(out_channels=64, kernel_size=3, bias=False).bias_params([x]) == 0
    local = conv(type="locally_connected2d", out_channels=2, kernel_size=3)
    assert local.bias_params([(1, 5, 5)]) == 2 * 3 * 3
