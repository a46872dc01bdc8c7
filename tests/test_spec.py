"""The spec language: forms of a layer, blocks, repeat, when, include, expressions, outputs."""
import pytest

import cnnspec
from cnnspec.errors import SpecError
from cnnspec.graph import build_graph
from cnnspec.layers import LAYERS
from cnnspec.spec import MAX_BLOCK_DEPTH, type_hint, typing_slip
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


# --- shapes in expressions: in_channels, in_shape ---------------------------------------------

INVERTED_RESIDUAL = """
input: [16, 28, 28]
args: {width_mult: 1.0}
blocks:
  inverted_residual:          # MobileNetV2 (Sandler et al. 2018, Table 1), no `inp` argument
    args: {out: required, stride: 1, expand: 6, hidden: 'make_divisible(in_channels * expand, 8)',
           residual: stride == 1 and in_channels == out}
    layers:
      - {type: conv2d, out_channels: hidden, kernel_size: 1, bias: false, when: expand != 1}
      - {type: batchnorm2d, when: expand != 1}
      - {type: relu6, when: expand != 1}
      - {type: conv2d, out_channels: in_channels, groups: in_channels, kernel_size: 3, stride: stride, padding: 1,
         bias: false, name: depthwise}
      - batchnorm2d
      - relu6
      - {type: conv2d, out_channels: out, kernel_size: 1, bias: false}
      - {type: batchnorm2d, name: project}
      - {type: add, inputs: [project, input], when: residual}
layers:
  - {type: inverted_residual, out: 16, expand: 1, name: a}
  - {type: inverted_residual, out: "make_divisible(24 * width_mult, 8)", stride: 2, repeat: 2, first: {stride: 2},
     name: b}
"""

EXPLICIT = """
input: [16, 28, 28]
layers:
  - {type: conv2d, out_channels: 16, groups: 16, kernel_size: 3, padding: 1, bias: false, name: a.depthwise}
  - batchnorm2d
  - relu6
  - {type: conv2d, out_channels: 16, kernel_size: 1, bias: false}
  - {type: batchnorm2d, name: a.project}
  - {type: add, inputs: [a.project, input]}
  - {type: conv2d, out_channels: 96, kernel_size: 1, bias: false}
  - batchnorm2d
  - relu6
  - {type: conv2d, out_channels: 96, groups: 96, kernel_size: 3, stride: 2, padding: 1, bias: false}
  - batchnorm2d
  - relu6
  - {type: conv2d, out_channels: 24, kernel_size: 1, bias: false}
  - {type: batchnorm2d, name: b.0.project}
  - {type: conv2d, out_channels: 144, kernel_size: 1, bias: false}
  - batchnorm2d
  - relu6
  - {type: conv2d, out_channels: 144, groups: 144, kernel_size: 3, stride: 2, padding: 1, bias: false}
  - batchnorm2d
  - relu6
  - {type: conv2d, out_channels: 24, kernel_size: 1, bias: false}
  - batchnorm2d
"""


def test_in_channels_makes_an_inverted_residual_without_an_input_argument():
    graph, explicit = graph_of(INVERTED_RESIDUAL), graph_of(EXPLICIT)
    assert graph["a.depthwise"].layer.groups == 16 and graph["b.1.depthwise"].layer.groups == 144
    assert "a.add1" in graph.by_name and "b.0.add1" not in graph.by_name  # residual only where the shapes agree
    assert "a.conv1" not in graph.by_name  # expand 1: no expansion conv
    assert [n.out_shape for n in graph.nodes] == [n.out_shape for n in explicit.nodes]
    assert analyze_text(INVERTED_RESIDUAL).totals == analyze_text(EXPLICIT).totals
    wider = graph_of(INVERTED_RESIDUAL, overrides={"width_mult": 1.4})  # make_divisible(33.6, 8) = 32
    assert wider.nodes[-1].out_shape == (32, 7, 7)


def test_in_shape_and_in_channels_of_a_flat_input():
    graph = graph_of("""
input: [8, 5, 5]
layers:
  - {type: conv2d, out_channels: 2 * in_channels, kernel_size: "in_shape[1:]", name: whole}
  - flatten
  - {type: linear, out_features: in_channels // 4}
""")
    assert graph["whole"].out_shape == (16, 1, 1) and graph.nodes[-1].out_shape == (4,)


def test_in_channels_reads_the_first_input_and_a_block_instance_its_own():
    graph = graph_of("""
input: [3, 8, 8]
blocks:
  widen:
    args: {factor: 2, c: in_channels * factor}
    layers: [{type: conv2d, out_channels: c, kernel_size: 1}]
layers:
  - {type: conv2d, out_channels: 5, kernel_size: 1, name: five}
  - {type: conv2d, out_channels: 7, kernel_size: 1, inputs: input, name: seven}
  - {type: concat, inputs: [seven, five], name: both}
  - {type: conv2d, out_channels: in_channels, kernel_size: 1, inputs: [seven], name: same}
  - {type: widen, inputs: both, factor: 3, name: wide}
  - {type: widen, c: in_channels + 1, name: plus}
""")
    assert graph["same"].out_shape[0] == 7 and graph["wide.conv1"].out_shape[0] == 36
    assert graph["plus.conv1"].out_shape[0] == 37


def test_shapes_read_before_a_forward_reference_resolves_are_an_error():
    with pytest.raises(SpecError, match=r"5:34: layer 'after': in_channels needs the shape of 'merge', whose input "
                                        r"'left' is written after it; in_channels can read only layers written before"):
        graph_of("""
input: [3, 8, 8]
layers:
  - {type: add, inputs: [left, right], name: merge}
  - {type: conv2d, out_channels: in_channels, kernel_size: 1, inputs: merge, name: after}
  - {type: conv2d, out_channels: 3, kernel_size: 1, inputs: input, name: left}
  - {type: conv2d, out_channels: 3, kernel_size: 1, inputs: input, name: right}
outputs: after
""")


def test_a_shape_read_through_a_cycle_is_the_cycle_error():
    with pytest.raises(SpecError, match=r"4:5: layer 'a': the layers form a cycle: b -> a -> b"):
        graph_of("""
input: [3, 8, 8]
layers:
  - {type: add, inputs: [input, b], name: a}
  - {type: relu, inputs: a, name: b}
  - {type: conv2d, out_channels: in_channels, kernel_size: 1, inputs: b}
""")


def test_an_error_in_an_earlier_layer_found_while_inferring_points_at_that_layer():
    with pytest.raises(SpecError, match=r"4:5: layer 'big': conv2d turns input \[3, 5, 5\] into"):
        graph_of("""
input: [3, 5, 5]
layers:
  - {type: conv2d, out_channels: 8, kernel_size: 7, name: big}
  - {type: conv2d, out_channels: in_channels, kernel_size: 1}
""")


# --- when, repeat -------------------------------------------------------------------------------

def test_a_merge_skipped_by_when_stands_for_its_first_input():
    graph = graph_of("""
input: [4, 8, 8]
args: {residual: false}
layers:
  - {type: conv2d, out_channels: 4, kernel_size: 3, padding: 1, name: body}
  - {type: add, inputs: [body, input], when: residual, name: merge}
  - {type: relu, name: out}
""")
    assert graph["out"].inputs == ["body"] and "merge" not in graph.by_name


@pytest.mark.parametrize("when, message", [
    ('"false"', "when must be true or false, or an expression that gives one. Received: when='false', a string "
                "because of its quotes: write when: false"),
    ("use_bnn", "unknown name 'use_bnn' in 'use_bnn' (did you mean 'use_bn'?); names in scope: in_channels, in_shape, "
                "use_bn"),
    ("1", "when must be true or false, or an expression that gives one (a comparison, and, or, not). Received: when=1"),
    ("use_bn * 2", "when must be true or false, or an expression that gives one (a comparison, and, or, not). "
                   "Received: when='use_bn * 2', which is 2"),
    ("yes please", "when must be true or false, or an expression that gives one (a comparison, and, or, not). "
                   "Received: when='yes please'"),
])
def test_when_must_be_a_boolean(when, message):
    text = f"input: [3, 8, 8]\nargs: {{use_bn: true}}\nlayers:\n  - {{type: batchnorm2d, when: {when}}}\n"
    with pytest.raises(SpecError) as caught:
        graph_of(text)
    assert str(caught.value) == f"test.yaml:4:31: layer 'bn1': {message}"


def test_when_reads_the_layers_input_and_may_skip_a_layer_with_bad_arguments():
    graph = graph_of("""
input: [4, 8, 8]
layers:
  - {type: conv2d, out_channels: in_channels // 0, kernel_size: 1, when: in_channels > 4}
  - {type: conv2d, out_channels: 2, kernel_size: 1, when: in_channels == 4 and true}
""")
    assert [n.name for n in graph.nodes] == ["input", "conv2"]


def test_repeat_zero_yields_nothing_and_its_name_stands_for_its_input():
    graph = graph_of("""
input: [4, 8, 8]
args: {n: 0}
layers:
  - {type: conv2d, out_channels: 4, kernel_size: 1, name: stem}
  - {type: conv2d, out_channels: 4, kernel_size: 1, repeat: n, name: extra}
  - {type: relu, inputs: extra, name: after}
  - {type: conv2d, out_channels: 4, kernel_size: 1, repeat: 0, inputs: [after, stem], name: none}
  - {type: flatten, inputs: none}
""")
    assert [n.name for n in graph.nodes] == ["input", "stem", "after", "flatten1"]
    assert graph["after"].inputs == ["stem"] and graph["flatten1"].inputs == ["after"]


@pytest.mark.parametrize("repeat, message", [
    ("-1", "repeat must be an int, 0 or more. Received: repeat=-1"),
    ("n_blcks", "unknown name 'n_blcks' in 'n_blcks' (did you mean 'n_blocks'?); names in scope: in_channels, "
                "in_shape, n_blocks"),
    ("n_blocks / 2", "repeat must be an int, 0 or more. Received: repeat='n_blocks / 2', which is 1.5"),
])
def test_repeat_must_be_a_count(repeat, message):
    text = f"input: [3, 8, 8]\nargs: {{n_blocks: 3}}\nlayers:\n  - {{type: relu, repeat: {repeat}}}\n"
    with pytest.raises(SpecError) as caught:
        graph_of(text)
    assert str(caught.value) == f"test.yaml:4:26: {message}"


def test_depth_multiplier_with_ceil():
    text = """
input: [8, 4, 4]
args: {depth_mult: 1.0}
layers: [{type: relu, repeat: ceil(3 * depth_mult), name: stage}]
"""
    assert len(graph_of(text).nodes) == 4 and len(graph_of(text, overrides={"depth_mult": 1.4}).nodes) == 6


# --- arguments ----------------------------------------------------------------------------------

def test_block_defaults_are_expressions_over_earlier_arguments_and_top_level_ones():
    graph = graph_of("""
input: [3, 8, 8]
args: {m: 0.01, c: 1000}
blocks:
  bottleneck:
    args: {c: required, mid: c // 4, out: mid * 2, momentum: m}
    layers:
      - {type: conv2d, out_channels: mid, kernel_size: 1, name: reduce}
      - {type: batchnorm2d, momentum: momentum, name: bn}
      - {type: conv2d, out_channels: out, kernel_size: 1, name: expand}
layers:
  - {type: bottleneck, c: 64, name: one}
  - {type: bottleneck, c: 64, out: 7, name: two}
""")
    assert graph["one.reduce"].out_shape[0] == 16 and graph["one.expand"].out_shape[0] == 32
    assert graph["one.bn"].layer.momentum == 0.01 and graph["two.expand"].out_shape[0] == 7


def test_a_default_reads_only_the_arguments_before_it():
    with pytest.raises(SpecError, match=r"5:17: layer 'u': the default of 'mid' reads 'c', an argument after it that "
                                        r"the caller did not give; a default reads only the arguments before it$"):
        graph_of("""
input: [3, 8, 8]
blocks:
  unit:
    args: {mid: c // 4, c: 8}
    layers: [{type: conv2d, out_channels: mid, kernel_size: 1}]
layers:
  - {type: unit, name: u}
""")


def test_top_level_arguments_are_seen_in_nested_blocks_and_block_arguments_shadow_them():
    graph = graph_of("""
input: [3, 8, 8]
args: {m: 0.5, width: 4}
blocks:
  inner:
    args: {width: 6}
    layers: [{type: conv2d, out_channels: width, kernel_size: 1}, {type: batchnorm2d, momentum: m}]
  outer:
    args: {depth: 1}
    layers: [{type: conv2d, out_channels: width, kernel_size: 1}, inner]
layers:
  - outer
""")
    assert [n.out_shape[0] for n in graph.nodes] == [3, 4, 6, 6]
    assert graph.nodes[-1].layer.momentum == 0.5


def test_a_block_does_not_see_its_callers_arguments():
    with pytest.raises(SpecError, match=r"5:43: layer 'outer1.inner1.conv1': out_channels must be an int, or a name in "
                                        r"scope. Received: out_channels='hidden'; names in scope: in_channels, in_shape$"):
        graph_of("""
input: [3, 8, 8]
blocks:
  inner:
    layers: [{type: conv2d, out_channels: hidden, kernel_size: 1}]
  outer:
    args: {hidden: 5}
    layers: [inner]
layers: [outer]
""")


@pytest.mark.parametrize("where", ["args: {index: 1}\n", "blocks:\n  b:\n    args: {in_channels: 3}\n    layers: [relu]\n"])
def test_argument_names_cnnspec_defines_are_refused(where):
    with pytest.raises(SpecError, match=r"'(index|in_channels)' is the (repetition number|channels of what a layer "
                                        r"reads), a name cnnspec defines in every expression; call the argument"):
        graph_of(f"input: [3, 8, 8]\n{where}layers: [relu]\n")


def test_type_from_an_argument():
    graph = graph_of("""
input: [3, 8, 8]
args: {head_act: sigmoid}
blocks:
  unit:
    args: {act: relu}
    layers:
      - {type: conv2d, out_channels: 4, kernel_size: 1}
      - {type: act, name: a}
      - act
      - {act: {}}
layers:
  - {type: unit, act: hardswish, name: hs}
  - {type: unit, name: re}
  - head_act
""")
    assert [graph[f"hs.{name}"].type for name in ("a", "hardswish1", "hardswish2")] == ["hardswish"] * 3
    assert graph["re.a"].type == "relu" and graph.nodes[-1].type == "sigmoid"


def test_a_layer_type_wins_over_an_argument_of_the_same_name():
    graph = graph_of("input: [3, 8, 8]\nargs: {dropout: 0.2}\nlayers:\n  - {type: dropout, p: dropout}\n")
    assert graph.nodes[-1].layer.p == 0.2


@pytest.mark.parametrize("call, message", [
    ("{type: unit, act: hardswsh}", "6:16: type: act is the argument act='hardswsh', which is not a layer type or "
                                    "block (did you mean 'hardswish'?)"),
    ("{type: unit, act: 3}", "6:16: type: act is the argument act=3, which is not a layer type or block"),
])
def test_an_argument_that_names_no_type(call, message):
    text = f"input: [3, 8, 8]\nblocks:\n  unit:\n    args: {{act: relu}}\n    layers:\n      - {{type: act}}\n" \
           f"layers:\n  - {call}\n"
    with pytest.raises(SpecError) as caught:
        graph_of(text)
    assert str(caught.value) == f"test.yaml:{message}"


def test_a_type_naming_no_argument():
    with pytest.raises(SpecError) as caught:
        graph_of("input: [3, 8, 8]\nargs: {act: relu}\nlayers:\n  - {type: atc, name: x}\n")
    assert str(caught.value) == ("test.yaml:4:12: layer 'x': cnnspec has no layer type 'atc', and no block or argument "
                                 "of that name (did you mean 'act'?)")


def test_an_expression_split_by_a_flow_mapping_says_to_quote_it():
    with pytest.raises(SpecError) as caught:
        graph_of("input: [3, 8, 8]\nargs: {c: 2, w: 1.0}\nlayers:\n"
                 "  - {type: conv2d, out_channels: make_divisible(c * w, 8, 16), kernel_size: 1}\n")
    assert str(caught.value) == ("test.yaml:4:34: YAML split the expression 'make_divisible(c * w, 8, 16)' at its "
                                 "commas (inside {...} an unquoted comma ends a value); quote it: "
                                 "out_channels: 'make_divisible(c * w, 8, 16)'")


def test_a_broken_expression_in_a_list_says_to_quote_it():
    with pytest.raises(SpecError, match=r"4:50: layer 'conv1': 'max\(1' is not a complete expression \('\(' was "
                                        r"never closed\); inside \{...\} or \[...\] YAML ends an unquoted value"):
        graph_of("input: [3, 8, 8]\nargs: {c: 2}\nlayers:\n"
                 "  - {type: conv2d, out_channels: 2, kernel_size: [1, max(1, c)]}\n")


# --- missing layer types ------------------------------------------------------------------------

def test_a_missing_type_says_so_plainly():
    with pytest.raises(SpecError) as caught:
        graph_of("input: [3, 8, 8]\nlayers:\n  - transpose\n")
    hint = "; for axis order see 'permute'" if "permute" in LAYERS else ""
    assert str(caught.value) == f"test.yaml:3:5: cnnspec has no layer type 'transpose'{hint}"


@pytest.mark.parametrize("name, candidates, slip", [
    ("cnov2d", ["conv2d", "conv1d"], "conv2d"), ("Conv2d", ["conv2d"], "conv2d"), ("BatchNorm2d", ["batchnorm2d"],
                                                                                    "batchnorm2d"),
    ("layernorm", ["layer_norm", "linear"], "layer_norm"), ("hardswsh", ["hardswish"], "hardswish"),
    ("rleu", ["relu"], "relu"), ("sigmod", ["sigmoid"], "sigmoid"), ("upsampel", ["upsample"], "upsample"),
    ("transpose", ["conv_transpose", "conv_transpose2d"], None), ("drop_path", ["dropout", "dropout2d"], None),
    ("elu", ["relu", "gelu"], None), ("selu", ["silu", "relu"], None), ("prelu", ["relu", "relu6"], None),
    ("bilinear", ["linear"], None), ("dropout2d", ["dropout"], None), ("hardtanh", ["hardswish", "tanh"], None),
    ("slice", ["silu"], None), ("mish", ["swish"], None),
])
def test_suggestions_are_typos_not_neighbours(name, candidates, slip):
    assert typing_slip(name, candidates) == slip


def test_a_concept_hint_names_only_registered_types():
    assert type_hint("depthwise_conv", list(LAYERS)) == "; a depthwise conv is 'conv2d' with groups: in_channels"
    assert type_hint("pool", list(LAYERS)) == "; for pooling see 'maxpool2d', 'avgpool2d' or 'global_avg_pool'"
    assert type_hint("DropPath", list(LAYERS)) == ("; for per-sample drop (drop path) see 'stochastic_depth'"
                                                   if "stochastic_depth" in LAYERS else "")


# --- recursive and deeply nested blocks ----------------------------------------------------------

@pytest.mark.parametrize("blocks, message", [
    ("  a:\n    layers: [relu, a]\n", "4:20: layer 'a1.a1': block 'a' uses itself: a -> a"),
    ("  a:\n    layers: [relu, {type: b}]\n  b:\n    layers: [relu, {type: a}]\n",
     "6:20: layer 'a1.b1.a1': block 'a' uses itself through 'b': a -> b -> a"),
])
def test_a_block_that_uses_itself_is_a_located_error(blocks, message):
    with pytest.raises(SpecError) as caught:
        graph_of(f"input: [3, 8, 8]\nblocks:\n{blocks}layers: [a]\n")
    assert str(caught.value) == f"test.yaml:{message}"


def nested_blocks(depth: int) -> str:
    blocks = "".join(f"  b{i}:\n    layers: [relu{f', b{i + 1}' if i + 1 < depth else ''}]\n" for i in range(depth))
    return f"input: [3, 8, 8]\nblocks:\n{blocks}layers: [b0]\n"


def test_400_levels_of_nested_blocks_expand_and_deeper_is_refused_with_its_limit():
    assert len(graph_of(nested_blocks(400)).nodes) == 401
    with pytest.raises(SpecError, match=rf"blocks nest more than {MAX_BLOCK_DEPTH:,} deep here \(b0 -> \.\.\. -> "
                                        rf"b{MAX_BLOCK_DEPTH - 1} -> b{MAX_BLOCK_DEPTH}\); refusing"):
        graph_of(nested_blocks(MAX_BLOCK_DEPTH + 1))


def test_a_skipped_layer_must_come_after_the_input_it_stands_for():
    with pytest.raises(SpecError) as caught:
        graph_of("input: [3, 8, 8]\nlayers:\n  - {type: add, inputs: [later, input], when: false, name: skipped}\n"
                 "  - {type: relu, inputs: input, name: later}\n  - {type: relu, inputs: skipped}\n")
    assert str(caught.value) == ("test.yaml:3:26: layer 'skipped': skipped, it stands for its first input 'later', "
                                 "which is not defined above it; a layer that may be skipped must come after its "
                                 "first input")
