import pytest

from cnnspec.layers import LAYERS
from cnnspec.shape import ArgumentError


def layer(type_name, **arguments):
    return LAYERS[type_name].from_arguments(arguments)


def test_concat_sums_channels_and_add_counts_adds():
    assert layer("concat").out_shape([(64, 28, 28), (128, 28, 28), (32, 28, 28)]) == (224, 28, 28)
    assert layer("add").flops([(8, 2, 2)] * 3, (8, 2, 2)) == 2 * 32


def test_multiply_broadcasts_a_gate():
    assert layer("multiply").out_shape([(64, 14, 14), (64, 1, 1)]) == (64, 14, 14)
    with pytest.raises(ArgumentError, match="do not broadcast"):
        layer("multiply").out_shape([(64, 14, 14), (32, 1, 1)])


def test_flatten_and_views():
    flatten = layer("flatten")
    assert flatten.out_shape([(512, 7, 7)]) == (25088,) and flatten.memory == "view"
    assert layer("flatten", start_dim=2).out_shape([(16, 4, 4)]) == (16, 16)
    assert layer("dropout").memory == "view" and layer("identity").memory == "view"


def test_upsample_and_crop_for_unet():
    assert layer("upsample", scale_factor=2).out_shape([(64, 28, 28)]) == (64, 56, 56)
    bilinear = layer("upsample", scale_factor=2, mode="bilinear", align_corners=False)
    assert bilinear.flops([(1, 2, 2)], (1, 4, 4)) == 7 * 16
    crop = layer("center_crop")
    assert crop.out_shape([(512, 64, 64), (512, 56, 56)]) == (512, 56, 56)
    assert crop.offsets([(512, 64, 64), (512, 56, 56)]) == (4, 4)
    assert layer("zero_pad", padding=[1, 2, 3, 4]).out_shape([(3, 10, 10)]) == (3, 17, 13)


def test_linear_params_and_macs():
    fc = layer("linear", out_features=4096)
    assert fc.params([(25088,)]) == 25088 * 4096 + 4096 and fc.macs([(25088,)], (4096,)) == 25088 * 4096


def test_activation_flops_and_in_place():
    relu = layer("relu")
    assert relu.memory == "inplace" and relu.flops([(4, 2, 2)], (4, 2, 2)) == 16
    assert layer("relu", inplace=False).memory == "new"
    assert layer("softmax").flops([(10,)], (10,)) == 30 and layer("sigmoid").memory == "new"
