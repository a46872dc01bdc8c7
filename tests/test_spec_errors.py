"""The corpus of bad specs: each gets one message with line, column and layer, and exit code 2."""
import subprocess
import sys
import time
from pathlib import Path

import pytest

import cnnspec
from cnnspec.errors import SpecError

BAD = Path(__file__).parent / "data" / "bad_specs"

EXPECTED = {  # file stem -> the message after "path:"
    'add_channel_mismatch': "5:5: layer 'merge': channel mismatch at add: inputs are 64x32x32, 32x32x32; add needs equal shapes (a projection shortcut fixes channels)",
    'add_single_input': "4:5: layer 'residual': add takes at least 2 input(s), given 1 (name them with inputs: [a, b])",
    'alias_bomb': '1:1: the spec expands to more than 1,000,000 values through YAML aliases (an alias bomb?); refusing to load it',
    'bad_input_shape': "1:8: input must be a shape without the batch axis: [C, L], [C, H, W] or [C, D, H, W] of positive ints (or '3x224x224'). Received: input=[3, -1, 32]",
    'block_argument_not_in_scope': "8:39: layer 'stem.bn1': momentum must be a number, or a name in scope. Received: momentum='momentm' (did you mean 'momentum'?); names in scope: c, in_channels, in_shape, momentum",
    'block_default_reads_later_argument': "4:17: layer 'b': the default of 'mid' reads 'out', an argument after it that the caller did not give; a default reads only the arguments before it",
    'block_input_count': "9:5: layer 'dec': block 'up' takes 2 input(s) (x, skip), given 1",
    'block_missing_argument': "8:5: layer 'stem': block 'conv_bn' needs argument 'channels'",
    'block_output_missing': "3:3: block 'unit' names output 'result', which it does not define",
    'block_unknown_key': "4:5: block 'unit' has an unknown key 'arguments' (did you mean 'args'?)",
    'block_uses_itself': "6:9: layer 't.more': block 'tower' uses itself: tower -> tower",
    'block_wrong_argument': "9:44: layer 'stem': block 'conv_bn' has no argument 'chanels' (did you mean 'channels'?); its arguments are: channels",
    'blocks_use_each_other': "6:20: layer 'p.back.forth': block 'ping' uses itself through 'pong': ping -> pong -> ping",
    'bool_for_int': "3:34: layer 'conv1': out_channels must be an int. Received: out_channels=True",
    'broken_expression': "4:34: layer 'stem': '4 * (width + 1' is not a complete expression ('(' was never closed); inside {...} or [...] YAML ends an unquoted value at its first comma, so quote an expression with commas whole: 'max(1, c)'",
    'concat_spatial_mismatch': "5:5: layer 'merge': spatial mismatch at concat: inputs are 16x32x32, 16x30x30; all axes but dim 1 must agree (center_crop or zero_pad one of them)",
    'conv2d_on_sequence': "3:5: layer 'conv': conv2d expects an input [C, H, W]. Received input shape [1, 40]",
    'crop_too_large': "3:31: layer 'crop': cannot crop [8, 16, 16] to spatial size [20, 20]",
    'cycle': "4:5: layer 'b': the layers form a cycle: b -> c -> b",
    'dropout_probability': "3:24: layer 'drop': p must be between 0 and 1. Received: p=1.5",
    'duplicate_key': "3:37: duplicate key 'out_channels'",
    'duplicate_name': "4:5: layer 'conv': the name 'conv' is used twice",
    'empty_layers': '2:9: layers is empty',
    'expression_not_allowed': "4:34: layer 'evil': '__import__('os').getpid()' is not allowed in '__import__('os').getpid()': expressions take numbers, names, arithmetic, comparisons, and/or/not, x if c else y, indexing, one-loop comprehensions and the functions min, max, int, round, floor, ceil, make_divisible, len, sum",
    'expression_unknown_name': "6:38: layer 'w.conv1': unknown name 'widht' in '4 * widht' (did you mean 'width'?); names in scope: in_channels, in_shape, width",
    'first_without_repeat': '3:60: first only makes sense with repeat',
    'flow_mapping_split': "4:34: layer 'stem': YAML split the expression 'max(8, 64 * width)' at its comma (inside {...} an unquoted comma ends a value); quote it: out_channels: 'max(8, 64 * width)'",
    'groups_mismatch': "3:62: layer 'grouped': in_channels and out_channels must both be divisible by groups. Received: groups=3, in_channels=64, out_channels=64",
    'include_missing': "1:11: included file 'no_such_blocks.yaml' not found beside the spec or among the built-in specs",
    'layer_not_a_mapping': "4:5: a layer must be a mapping with a 'type' or a layer type name, not 42",
    'malformed_yaml': "5:1: malformed YAML: did not find expected ',' or '}'",
    'missing_argument': "3:5: layer 'conv1': conv2d needs argument 'out_channels'",
    'missing_input': "1:1: the spec has no 'input:'",
    'multiply_rank_mismatch': "6:5: layer 'scale': multiply needs inputs of equal rank: inputs are 16x8x8, 16 (a gate from global_avg_pool needs keepdim: true)",
    'nested_repeat_too_many': '5:30: the spec expands to more than 100,000 layers with repeat=1,000 here; refusing to expand it',
    'output_padding_too_large': "3:90: layer 'up': output_padding must be smaller than either stride or dilation. Received: output_padding=2, stride=2",
    'output_size_zero': "3:5: layer 'big': conv2d turns input [3, 5, 5] into [8, -1, -1]: an output size of zero or less (the window is larger than the padded input)",
    'pool_padding_too_large': "3:48: layer 'pool': padding must be at most half of the (dilated) kernel size, as in PyTorch. Received: padding=2, kernel_size=2",
    'python_tag': "3:34: unknown YAML tag '!!python/object:os.system'; a spec is plain YAML (numbers, strings, lists, mappings, and the standard !!int, !!float, !!str, !!bool, !!null): remove the tag",
    'repeat_negative': '3:26: repeat must be an int, 0 or more. Received: repeat=-1',
    'repeat_too_many': '3:26: the spec expands to more than 100,000 layers with repeat=100,000,000,000,000,000,000 here; refusing to expand it',
    'reserved_argument_name': "4:12: 'in_channels' is the channels of what a layer reads, a name cnnspec defines in every expression; call the argument something else",
    'same_padding_strided': "3:73: layer 'down': padding='same' is not supported for strided convolutions (as in PyTorch); write the padding as a number. Received: stride=2",
    'shape_forward_reference': "3:34: layer 'early': in_channels needs the shape of 'side', which is written after this layer; in_channels can read only layers written before it",
    'tagged_bool_mismatch': "3:60: malformed value: 'maybe' is not a valid bool",
    'tagged_value_mismatch': "3:34: malformed value: 'sixteen' is not a valid int",
    'type_argument_not_a_type': "7:16: layer 'act': type: act is the argument act='hard_swish', which is not a layer type or block (did you mean 'hardswish'?)",
    'type_unknown_argument': "7:16: layer 'act': cnnspec has no layer type 'act', and no block or argument of that name; the arguments here that name a type: activation",
    'unknown_argument': "3:50: layer 'conv1': conv2d has no argument 'kernal_size' (did you mean 'kernel_size'?); its arguments are: out_channels, kernel_size, stride, padding, dilation, groups, bias",
    'unknown_input': "4:26: layer 'relu1': unknown input 'conv_b' (did you mean 'conv_a'?)",
    'unknown_layer_type': "3:12: layer 'stem': cnnspec has no layer type 'cnov2d' (did you mean 'conv2d'?)",
    'unknown_output': "4:17: unknown output 'aux'",
    'unknown_top_level_key': "2:1: unknown top-level key 'layer' (did you mean 'layers'?)",
    'upsample_size_and_scale': "3:36: layer 'up': upsample needs exactly one of scale_factor and size",
    'when_misspelt_name': "5:31: layer 'bn': unknown name 'use_bnn' in 'use_bnn' (did you mean 'use_bn'?); names in scope: in_channels, in_shape, use_bn",
    'when_not_boolean': "3:70: layer 'conv.0': when must be true or false, or an expression that gives one (a comparison, and, or, not). Received: when='index', which is 0",
    'when_string_false': "4:31: layer 'bn': when must be true or false, or an expression that gives one. Received: when='false', a string because of its quotes: write when: false",
    'wrong_argument_type': "3:50: layer 'conv1': kernel_size must be an int or a list of ints, or a name in scope. Received: kernel_size='three'; names in scope: in_channels, in_shape",
}


def test_corpus_is_complete():
    assert sorted(p.stem for p in BAD.glob("*.yaml")) == sorted(EXPECTED)
    assert len(EXPECTED) >= 30


@pytest.mark.parametrize("stem", sorted(EXPECTED))
def test_bad_spec_message(stem):
    path = BAD / f"{stem}.yaml"
    with pytest.raises(SpecError) as caught:
        cnnspec.load(str(path))
    assert str(caught.value) == f"{path}:{EXPECTED[stem]}"


def test_alias_bomb_is_refused_quickly():
    start = time.perf_counter()
    with pytest.raises(SpecError, match="alias bomb"):
        cnnspec.load(str(BAD / "alias_bomb.yaml"))
    assert time.perf_counter() - start < 1.0


@pytest.mark.parametrize("stem", ["cycle", "unknown_layer_type", "malformed_yaml"])
def test_cli_exits_2_without_traceback(stem):
    result = subprocess.run([sys.executable, "-m", "cnnspec", "analyze", str(BAD / f"{stem}.yaml")],
                            capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr == f"error: {BAD / stem}.yaml:{EXPECTED[stem]}\n"
    assert "Traceback" not in result.stdout + result.stderr
