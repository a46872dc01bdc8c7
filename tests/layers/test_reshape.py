"""Stochastic depth, slice, channel shuffle, reshape and permute: shapes, errors, views, receptive fields."""
import pytest

from cnnspec.layers import LAYERS
from cnnspec.shape import ArgumentError
from tests.conftest import analyze_text


def layer(type_name, **arguments):
    return LAYERS[type_name].from_arguments(arguments)


def test_stochastic_depth_is_an_inference_view_named_as_torchvision_and_timm_name_it():
    assert LAYERS["drop_path"] is LAYERS["stochastic_depth"]
    drop = layer("drop_path", p=0.2)
    assert drop.out_shape([(96, 56, 56)]) == (96, 56, 56) and drop.memory == "view" and drop.mode == "row"
    assert drop.flops([(96, 56, 56)], (96, 56, 56)) == 0
    with pytest.raises(ArgumentError, match=r"p must be between 0 and 1. Received: p=1.5"):
        layer("stochastic_depth", p=1.5).out_shape([(4,)])
    with pytest.raises(ArgumentError, match="mode must be 'row' or 'batch'"):
        layer("stochastic_depth", p=0.1, mode="sample")


def test_two_slices_are_shufflenets_chunk():
    x = [(116, 28, 28)]
    left, right = layer("slice", end=58), layer("slice", start=58)
    assert left.out_shape(x) == right.out_shape(x) == (58, 28, 28)
    assert left.memory == "view"
    assert layer("slice", start=-10, end=-2).out_shape(x) == (8, 28, 28)  # Python's negative indices
    assert layer("slice", start=4, end=20, dim=3).out_shape(x) == (116, 28, 16)


@pytest.mark.parametrize("arguments", [{"start": 58, "end": 58}, {"end": 117}, {"start": -117}, {"start": 3, "end": 1}])
def test_an_empty_or_outside_slice_is_refused(arguments):
    with pytest.raises(ArgumentError, match="is empty or out of range"):
        layer("slice", **arguments).out_shape([(116, 28, 28)])


def test_dims_count_the_batch_axis_as_torch_does():
    for type_name, arguments in [("slice", {"dim": 0}), ("slice", {"dim": 4}), ("layer_scale", {"dim": 0})]:
        with pytest.raises(ArgumentError, match="0 is the batch"):
            layer(type_name, **arguments).out_shape([(8, 4, 4)])


def test_channel_shuffle_needs_groups_that_divide_the_channels():
    assert layer("channel_shuffle", groups=2).out_shape([(116, 28, 28)]) == (116, 28, 28)
    assert layer("channel_shuffle", groups=2).memory == "new"  # torchvision's shuffle ends in a copy
    with pytest.raises(ArgumentError, match=r"divide the input's channels \(116\). Received: groups=3"):
        layer("channel_shuffle", groups=3).out_shape([(116, 28, 28)])
    with pytest.raises(ArgumentError, match="channels and spatial axes"):
        layer("channel_shuffle", groups=2).out_shape([(116,)])


def test_reshape_infers_one_axis_and_checks_the_count():
    assert layer("reshape", shape=[4, -1, 28, 28]).out_shape([(116, 28, 28)]) == (4, 29, 28, 28)
    assert layer("reshape", shape=[-1]).out_shape([(3, 4, 5)]) == (60,)
    with pytest.raises(ArgumentError, match=r"cannot reshape \[3, 4, 5\] \(60 values\) into \[7, -1\]"):
        layer("reshape", shape=[7, -1]).out_shape([(3, 4, 5)])
    for shape in ([-1, -1], [0, 60], []):
        with pytest.raises(ArgumentError, match="at most one -1"):
            layer("reshape", shape=shape).out_shape([(3, 4, 5)])


def test_permute_takes_torchs_dims_with_the_batch_first():
    assert layer("permute", dims=[0, 2, 3, 1]).out_shape([(96, 56, 28)]) == (56, 28, 96)
    assert layer("permute", dims=[0, -1, 1, 2]).out_shape([(96, 56, 28)]) == (28, 96, 56)
    for dims in ([1, 0, 2, 3], [0, 1, 1, 2], [0, 1], [1, 1, 0], [0, 1, 2, 3, 4]):
        with pytest.raises(ArgumentError, match="batch \\(0\\) first"):
            layer("permute", dims=dims).out_shape([(96, 56, 28)])


def test_permute_also_takes_dims_without_the_batch_axis_as_shapes_are_written():
    assert layer("permute", dims=[1, 2, 0]).out_shape([(96, 56, 28)]) == (56, 28, 96)
    assert layer("permute", dims=[-1, 0, 1]).out_shape([(96, 56, 28)]) == (28, 96, 56)
    assert layer("permute", dims=[1, 2, 0]).order((96, 56, 28)) == [0, 2, 3, 1]
    assert layer("permute", dims=[1, 0]).out_shape([(16, 10)]) == (10, 16)


CONVNEXT_BLOCK = """
input: [8, 12, 12]
layers:
  - {type: conv2d, out_channels: 8, kernel_size: 7, padding: 3, groups: 8, name: dw}
  - {type: permute, dims: [0, 2, 3, 1], name: last}
  - {type: layer_norm, eps: 1.0e-6, name: norm}
  - {type: linear, out_features: 32, name: fc1}
  - {type: gelu, name: act}
  - {type: linear, out_features: 8, name: fc2}
  - {type: permute, dims: [0, 3, 1, 2], name: first}
  - {type: layer_scale, name: scale}
  - {type: drop_path, p: 0.1, name: drop}
  - {type: add, inputs: [drop, input], name: out}
  - {type: slice, start: 2, end: 6, dim: 3, name: cols}
"""


def test_a_channels_last_mlp_keeps_each_positions_field():
    analysis = analyze_text(CONVNEXT_BLOCK)
    assert {analysis.row(n).receptive_size for n in ("last", "norm", "fc1", "fc2", "first", "out")} == {"7x7"}
    assert analysis.row("out").receptive_field.layout == () and analysis.warnings == []
    assert analysis.row("cols").receptive_field.start == (0, 2)  # two columns dropped on the left


def test_a_permuted_slice_and_reshape_follow_the_axes():
    analysis = analyze_text("""
input: [4, 6, 10]
layers:
  - {type: permute, dims: [0, 3, 1, 2], name: wch}
  - {type: slice, start: 3, dim: 1, name: cols}
  - {type: reshape, shape: [-1, 4], name: flat_positions}
""")
    assert analysis.row("cols").shape == (7, 4, 6) and analysis.row("cols").receptive_field.start == (0, 3)
    assert analysis.row("flat_positions").receptive_size == "6x7"  # every position: the whole (sliced) map
