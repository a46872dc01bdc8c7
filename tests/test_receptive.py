"""Receptive fields: the union where branches meet, broadcast merges (global context), and the library."""
import json
from fractions import Fraction

import pytest
from typer.testing import CliRunner

import cnnspec
from cnnspec.cli import app
from cnnspec.receptive import ReceptiveField
from cnnspec.spec import builtin_specs, builtin_variants
from tests.conftest import analyze_text


def field(size, start, jump=(1, 1)):
    return ReceptiveField(tuple(map(Fraction, size)), tuple(map(Fraction, jump)), tuple(map(Fraction, start)))


def test_union_covers_every_branch_axis_by_axis():
    tall, wide = field((7, 1), (3, 0)), field((1, 7), (0, 3))
    assert ReceptiveField.union([tall, wide]) == field((7, 7), (3, 3))
    shifted = field((3, 3), (0, 0)), field((3, 3), (2, 2))  # same size, centres 2 apart: 5 wide
    assert ReceptiveField.union(list(shifted)) == field((5, 5), (1, 1))
    assert ReceptiveField.union([tall]) == tall


def test_concat_of_1x3_and_3x1_branches_sees_3x3():
    analysis = analyze_text("""
input: [4, 8, 8]
layers:
  - {type: conv2d, out_channels: 2, kernel_size: [1, 3], padding: [0, 1], name: a}
  - {type: conv2d, out_channels: 2, kernel_size: [3, 1], padding: [1, 0], inputs: input, name: b}
  - {type: concat, inputs: [a, b], name: both}
""")
    assert analysis.row("both").receptive_size == "3x3"


# --- broadcast merges: a pooled map multiplied or concatenated back over the full grid -------------

SQUEEZE_EXCITATION = """
input: [8, 32, 32]
layers:
  - {type: conv2d, out_channels: 8, kernel_size: 3, padding: 1, name: a}
  - {type: global_avg_pool, keepdim: true, name: pool}
  - {type: sigmoid, name: gate}
  - {type: multiply, inputs: [a, gate], name: scaled}
  - {type: conv2d, out_channels: 8, kernel_size: 3, padding: 1, name: c1}
  - {type: conv2d, out_channels: 8, kernel_size: 3, padding: 1, name: c2}
"""


def test_a_squeeze_excitation_gate_adds_global_context_not_its_jump():
    analysis = analyze_text(SQUEEZE_EXCITATION)  # once 98 and 162: the pooled branch's jump of 32
    assert [analysis.row(n).receptive_size for n in ("a", "scaled", "c1", "c2")] == [
        "3x3", "3x3+global", "5x5+global", "7x7+global"]
    assert analysis.row("c2").receptive_field.jump == (1, 1)
    assert [analysis.row(n).global_context for n in ("a", "pool", "scaled", "c2")] == [False, False, True, True]


def test_the_local_field_is_what_autograd_sees_with_the_gate_held_fixed():
    import torch
    from torch import nn
    torch.manual_seed(0)
    a, c1, c2 = (nn.Conv2d(8, 8, 3, padding=1) for _ in range(3))
    x = torch.randn(1, 8, 32, 32, requires_grad=True)

    def seen(detach_gate: bool) -> tuple[int, int]:
        x.grad = None
        features = a(x)
        gate = torch.sigmoid(features.mean((2, 3), keepdim=True))
        out = c2(c1(features * (gate.detach() if detach_gate else gate)))
        out[0, :, 16, 16].sum().backward()
        rows, cols = x.grad[0].abs().sum(0).nonzero(as_tuple=True)
        return rows.max().item() - rows.min().item() + 1, cols.max().item() - cols.min().item() + 1

    assert seen(detach_gate=True) == (7, 7)  # the local field
    assert seen(detach_gate=False) == (32, 32)  # and through the gate, everything: the global context


def test_global_context_in_json_and_the_summary(tmp_path):
    spec = tmp_path / "se.yaml"
    spec.write_text(SQUEEZE_EXCITATION)
    data = json.loads(CliRunner().invoke(app, ["analyze", str(spec), "--format", "json"]).output)
    rows = {row["name"]: row for row in data["rows"]}
    assert rows["c2"]["receptive_field"]["size"] == [7, 7] and rows["c2"]["global_context"] is True
    assert rows["a"]["global_context"] is False
    text = CliRunner().invoke(app, ["analyze", str(spec)]).output
    assert "Receptive field of c2: 7x7+global (the local field; through a pooled map broadcast back, it also " \
           "sees the whole input)" in text


def test_deeplab_image_pooling_upsampled_and_concatenated_is_global_context():
    # DeepLabV3's ASPP: 1x1, a dilated 3x3, and the image pooled, convolved and upsampled back to the grid
    analysis = analyze_text("""
input: [8, 32, 32]
layers:
  - {type: conv2d, out_channels: 8, kernel_size: 3, padding: 1, name: stem}
  - {type: conv2d, out_channels: 4, kernel_size: 1, name: b1}
  - {type: conv2d, out_channels: 4, kernel_size: 3, dilation: 6, padding: 6, inputs: stem, name: b2}
  - {type: adaptive_avg_pool2d, output_size: 1, inputs: stem, name: pooled}
  - {type: conv2d, out_channels: 4, kernel_size: 1, name: b3}
  - {type: upsample, size: [32, 32], mode: bilinear, name: spread}
  - {type: concat, inputs: [b1, b2, spread], name: aspp}
  - {type: conv2d, out_channels: 8, kernel_size: 1, name: project}
""")
    assert analysis.row("spread").receptive_field.broadcast == {0, 1}
    assert analysis.row("aspp").receptive_size == analysis.row("project").receptive_size == "15x15+global"
    assert analysis.row("project").receptive_field.jump == (1, 1)


def test_a_gate_broadcast_along_one_axis_keeps_the_others_geometry():
    # coordinate attention: pooled along the width only, [C, H, 1], broadcast back along the width
    analysis = analyze_text("""
input: [8, 16, 16]
layers:
  - {type: conv2d, out_channels: 8, kernel_size: 3, padding: 1, name: x}
  - {type: adaptive_avg_pool2d, output_size: [null, 1], name: along_h}
  - {type: conv2d, out_channels: 8, kernel_size: [3, 1], padding: [1, 0], name: mix_h}
  - {type: sigmoid, name: gate}
  - {type: multiply, inputs: [x, gate], name: out}
""")
    out = analysis.row("out").receptive_field
    assert out.size == (5, 3) and out.jump == (1, 1) and out.global_context  # the gate's 3 rows more


def test_union_leaves_out_broadcast_branches_axis_by_axis():
    local, pooled = field((3, 3), (0, 0)), field((34, 34), (15.5, 15.5), jump=(32, 32))
    merged = ReceptiveField.union([local, pooled], [(32, 32), (1, 1)])
    assert merged.size == (3, 3) and merged.jump == (1, 1) and merged.global_context
    assert ReceptiveField.union([local, pooled]).size == (34, 34)  # without shapes: the plain union
    both_pooled = ReceptiveField.union([pooled, pooled], [(1, 1), (1, 1)])
    assert both_pooled == pooled  # nothing broadcast: a merge of two 1x1 maps


def field_ratio(analysis) -> tuple[float, str]:
    """The largest receptive field of any layer over the input's size on that axis, and where."""
    spatial = analysis.input_shape[1:]
    return max(((max(float(s) / n for s, n in zip(row.receptive_field.size, spatial)), row.name)
                for row in analysis.rows if row.receptive_field and len(row.receptive_field.size) == len(spatial)),
               default=(0.0, ""))


DENSE_BLOCKS = {"densenet": (6, 12, 24, 16), "densenet121": (6, 12, 24, 16), "densenet161": (6, 12, 36, 24),
                "densenet169": (6, 12, 32, 32), "densenet201": (6, 12, 48, 32)}
"""Huang et al. 2017, Table 1: the dense layers per block (the family's default is DenseNet-121)."""


def densenet_field(blocks: tuple[int, ...]) -> int:
    """A DenseNet's theoretical field at 224x224, by hand: the 7x7/2 stem (7), the 3x3/2 max pool (2 more
    at jump 2), each dense layer's 3x3 conv 2 jumps (jumps 4, 8, 16, 32 in blocks 1-4), each transition's
    2x2/2 pool one jump (4, 8, 16), and the global pool over the 7x7 map 6 jumps of 32."""
    return 7 + 2 * 2 + sum(2 * n * 4 * 2**i for i, n in enumerate(blocks)) + (4 + 8 + 16) + 6 * 32


CONVNEXT_DEPTHS = {"convnext_small": (3, 3, 27, 3), "convnext_base": (3, 3, 27, 3), "convnext_large": (3, 3, 27, 3)}
"""Liu et al. 2022: blocks per stage of the ConvNeXts whose field passes 10x (T's 3-3-9-3 stays at 8.4x)."""


def convnext_field(depths: tuple[int, ...]) -> int:
    """A ConvNeXt's field at 224x224, by hand: the 4x4/4 stem (4), each block's 7x7 depthwise conv 6 jumps
    (jumps 4, 8, 16, 32 in stages 1-4), each 2x2/2 downsampling one jump (4, 8, 16), the global pool over
    the 7x7 map 6 jumps of 32."""
    return 4 + sum(6 * n * 4 * 2**i for i, n in enumerate(depths)) + (4 + 8 + 16) + 6 * 32


@pytest.mark.parametrize("name", sorted({*builtin_specs(), *builtin_variants()}))
def test_no_builtin_receptive_field_explodes(name):
    """Fields over 10x the input are the deepest DenseNets' and ConvNeXts', and real (DenseNet-201: 4,055
    at 224, 18x; ConvNeXt-S: 3,608, 16x): their closed forms check them. Exploding ones (10^21 through a
    squeeze-excitation gate) were not."""
    analysis = cnnspec.analyze(cnnspec.load(name))
    ratio, where = field_ratio(analysis)
    if name in DENSE_BLOCKS:
        assert max(analysis.row(where).receptive_field.size) == densenet_field(DENSE_BLOCKS[name])
        assert densenet_field(DENSE_BLOCKS["densenet121"]) == 2263
    elif name in CONVNEXT_DEPTHS:
        assert max(analysis.row(where).receptive_field.size) == convnext_field(CONVNEXT_DEPTHS[name]) == 3608
    else:
        assert ratio <= 10, f"{name}: {where} sees {ratio:.1f}x its input"


def test_the_explained_union_leaves_out_the_broadcast_gate():
    from cnnspec.layers import LAYERS
    local, pooled = field((3, 3), (0, 0)), field((34, 34), (15.5, 15.5), jump=(32, 32))
    shapes = [(8, 32, 32), (8, 1, 1)]
    multiply = LAYERS["multiply"].from_arguments({})
    (size,) = [f for f in multiply.receptive_field_formulas(shapes, [local, pooled]) if f.figure == "field"]
    assert size.value == 3 and "input 2 is broadcast here" in size.note
    assert multiply.receptive_field(shapes, [local, pooled]).size == (3, 3)
