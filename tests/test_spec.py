"""The spec language: forms of a layer, blocks, repeat, when, include, expressions, outputs."""
import pytest

import cnnspec
from cnnspec.errors import SpecError
from cnnspec.graph import build_graph
from tests.conftest import analyze_text


def graph_of(text, path="test.yaml", **kwargs):
    return build_graph(cnnspec.parse_spec(text, path, **kwargs))


def test_three_layer_forms_are_the_same_layer():
    forms = ["{type: conv2d, out_channels: 8, kernel_size: 3}", "{conv2d: {out_channels: 8, kernel_size: 3}}"]
    shapes = [graph_of(f"input: [3, 9, 9]\nlayers:\n  - {form}\n  - relu\n").nodes[-1].out_shape for form in forms]
    assert shapes == [(8, 7, 7), (8, 7, 7)]


def test_generated_names_are_stable_per_kind():
    graph = graph_of("""
input: [3, 16, 16]
layers:
  - {conv2d: {out_channels: 4, kernel_size: 3, padding: 1}}
  - relu
  - {maxpool2d: {kernel_size: 2}}
  - {conv2d: {out_channels: 4, kernel_size: 3, padding: 1}}
  - {batchnorm2d: }
  - relu
""")
    assert [n.name for n in graph.nodes] == ["input", "conv1", "relu1", "pool1", "conv2", "bn1", "relu2"]


BOTTLENECK = """
input: [64, 56, 56]
blocks:
  bottleneck:
    args: {width: required, stride: 1, downsample: false}
    layers:
      - {type: conv2d, out_channels: width, kernel_size: 1, bias: false, name: conv1}
      - {type: conv2d, out_channels: width, kernel_size: 3, stride: stride, padding: 1, bias: false, name: conv2}
      - {type: conv2d, out_channels: 4 * width, kernel_size: 1, bias: false, name: conv3}
      - {type: conv2d, out_channels: 4 * width, kernel_size: 1, stride: stride, bias: false, inputs: input,
         name: downsample, when: downsample}
      - {type: add, inputs: [conv3, downsample]}
      - relu
layers:
  - {type: bottleneck, width: 64, repeat: 3, first: {downsample: true}, name: layer1}
  - {type: bottleneck, width: 128, repeat: 2, first: {stride: 2, downsample: true}, name: layer2}
"""


def test_blocks_repeat_first_and_when():
    graph = graph_of(BOTTLENECK)
    names = [n.name for n in graph.nodes]
    assert "layer1.0.downsample" in names and "layer1.1.downsample" not in names
    assert graph["layer1.1.add1"].inputs == ["layer1.1.conv3", "layer1.0.relu1"]  # skipped: stands for its input
    assert graph["layer2.0.conv2"].out_shape == (128, 28, 28)
    assert graph["layer2.1.conv1"].inputs == ["layer2.0.relu1"]
    assert graph.outputs == ["layer2.1.relu1"]


def test_block_instance_name_refers_to_its_output():
    graph = graph_of(BOTTLENECK + "  - {type: global_avg_pool, inputs: layer1}\n")
    assert graph.nodes[-1].inputs == ["layer1.2.relu1"]


def test_index_in_repeat_and_top_level_args_with_override():
    text = """
input: [3, 8, 8]
args: {base: 4}
layers:
  - {type: conv2d, out_channels: base * (index + 1), kernel_size: 1, repeat: 3, name: grow}
"""
    assert [n.out_shape[0] for n in graph_of(text).nodes[1:]] == [4, 8, 12]
    assert [n.out_shape[0] for n in graph_of(text, overrides={"base": 2}).nodes[1:]] == [2, 4, 6]
    with pytest.raises(SpecError, match="no argument 'bsae'.*did you mean 'base'"):
        graph_of(text, overrides={"bsae": 2})


def test_input_shape_override():
    graph = graph_of(BOTTLENECK, input_shape=(64, 32, 32))
    assert graph.nodes[-1].out_shape == (512, 16, 16)


def test_forward_reference_is_sorted_topologically():
    graph = graph_of("""
input: [3, 8, 8]
layers:
  - {type: add, inputs: [left, right], name: merge}
  - {type: conv2d, out_channels: 3, kernel_size: 1, inputs: input, name: left}
  - {type: conv2d, out_channels: 3, kernel_size: 1, inputs: input, name: right}
outputs: merge
""")
    assert [n.name for n in graph.nodes] == ["input", "left", "right", "merge"]


def test_several_outputs_and_unused_layer_warning():
    graph = graph_of("""
input: [3, 8, 8]
layers:
  - {type: conv2d, out_channels: 4, kernel_size: 1, name: trunk}
  - {type: global_avg_pool, name: head}
  - {type: global_max_pool, inputs: trunk, name: aux}
  - {type: flatten, inputs: trunk, name: unused}
outputs: [head, aux]
""")
    assert graph.outputs == ["head", "aux"]
    assert graph["unused"].warnings and not graph["head"].warnings


def test_include_takes_blocks_from_another_file(tmp_path):
    (tmp_path / "blocks.yaml").write_text(
        "blocks:\n  unit:\n    args: [c]\n    layers:\n      - {type: conv2d, out_channels: c, kernel_size: 1}\n")
    spec = tmp_path / "net.yaml"
    spec.write_text("include: blocks.yaml\ninput: [3, 4, 4]\nlayers:\n  - {type: unit, c: 5}\n")
    assert cnnspec.load(str(spec)).nodes[-1].out_shape == (5, 4, 4)


def test_nested_blocks_and_multi_input_block():
    graph = graph_of("""
input: [8, 16, 16]
blocks:
  conv_relu:
    args: {c: required}
    layers: [{type: conv2d, out_channels: c, kernel_size: 3, padding: 1}, relu]
  up:
    inputs: [x, skip]
    args: {c: required}
    layers:
      - {type: conv_transpose2d, out_channels: c, kernel_size: 2, stride: 2, inputs: x}
      - {type: concat, inputs: [upconv1, skip]}
      - {type: conv_relu, c: c}
layers:
  - {type: conv_relu, c: 8, name: enc}
  - {type: maxpool2d, kernel_size: 2}
  - {type: conv_relu, c: 16, name: bottom}
  - {type: up, c: 8, inputs: [bottom, enc], name: dec}
""")
    assert graph["dec.concat1"].out_shape == (16, 16, 16)
    assert graph.nodes[-1].name == "dec.conv_relu1.relu1" and graph.nodes[-1].out_shape == (8, 16, 16)


def test_in_place_is_turned_off_where_the_input_has_another_reader():
    analysis = analyze_text("""
input: [3, 8, 8]
layers:
  - {type: conv2d, out_channels: 4, kernel_size: 1, name: a}
  - {type: relu, name: r}
  - {type: add, inputs: [a, r]}
""")
    assert analysis.row("r").memory == 4 * 64  # a is read by add too: the ReLU needs its own tensor


def test_trainable_false_freezes_parameters():
    analysis = analyze_text("""
input: [3, 8, 8]
layers:
  - {type: conv2d, out_channels: 4, kernel_size: 3, trainable: false}
  - {type: conv2d, out_channels: 4, kernel_size: 3}
""")
    assert analysis.totals.non_trainable == 3 * 9 * 4 + 4
    assert analysis.totals.trainable == 4 * 9 * 4 + 4


def test_input_shape_as_string_and_1d():
    assert graph_of("input: 1x40\nlayers: [{type: conv1d, out_channels: 15, kernel_size: 3, stride: 2}]\n") \
        .nodes[-1].out_shape == (15, 19)
