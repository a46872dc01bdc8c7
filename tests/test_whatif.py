"""What-if transforms: the course's numbers, exactly, and transformed specs that load again."""
from pathlib import Path

import pytest
from typer.testing import CliRunner

import cnnspec
from cnnspec.cli import app
from cnnspec.errors import SpecError
from cnnspec.graph import build_graph
from cnnspec.spec import load_spec, parse_spec
from cnnspec.whatif import apply, mlp_equivalent, savings, to_yaml

DATA = Path(__file__).parent / "data" / "compare"
runner = CliRunner()


def totals(spec):
    return cnnspec.analyze(build_graph(spec)).totals


def single_conv(kernel, bias=False, channels=(1, 1), padding=None):
    pad = (kernel - 1) // 2 if padding is None else padding
    return parse_spec(f"input: [{channels[0]}, 16, 16]\nlayers:\n  - {{type: conv2d, out_channels: {channels[1]}, "
                      f"kernel_size: {kernel}, padding: {pad}, bias: {str(bias).lower()}, name: c}}\n")


def test_one_by_one_reduction_of_the_course():
    spec = load_spec(str(DATA / "five_by_five.yaml"))
    before = totals(spec)
    assert (before.params, before.macs) == (576_000, 112_896_000)
    after = totals(apply(spec, "reduce:conv5x5:16"))
    assert (after.params, after.macs) == (26_880, 5_268_480)
    (best, *_) = savings(spec, ratio=16 / 480)
    assert best.transform == "reduce:conv5x5:16" and best.params_after == 26_880


def test_one_by_one_reduction_with_bias():
    spec = parse_spec((DATA / "five_by_five.yaml").read_text().replace("bias: false", "bias: true"))
    assert totals(spec).params == 576_048
    assert totals(apply(spec, "reduce:conv5x5:16")).params == 26_880 + 16 + 48


def test_two_3x3_instead_of_5x5_same_receptive_field():
    spec = single_conv(5)
    after = apply(spec, "factorize3x3:c")
    assert (totals(spec).params, totals(after).params) == (25, 18)
    fields = [cnnspec.analyze(build_graph(s)).rows[-1].receptive_size for s in (spec, after)]
    assert fields == ["5x5", "5x5"]
    assert build_graph(after).nodes[-1].out_shape == build_graph(spec).nodes[-1].out_shape


def test_seven_by_seven_becomes_three_3x3_valid():
    spec = single_conv(7, padding=0)
    after = apply(spec, "factorize3x3:c")
    assert totals(after).params == 27 and build_graph(after).nodes[-1].out_shape == (1, 10, 10)


def test_1xn_then_nx1_instead_of_nxn():
    spec = single_conv(3)
    after = apply(spec, "asymmetric:c")
    assert (totals(spec).params, totals(after).params) == (9, 6)
    strided = parse_spec("input: [4, 17, 17]\nlayers: [{type: conv2d, out_channels: 8, kernel_size: 3, stride: 2, "
                         "padding: 1, name: c}]")
    assert build_graph(apply(strided, "asymmetric:c")).nodes[-1].out_shape == (8, 9, 9)


def test_depthwise_separable():
    spec = single_conv(3, channels=(32, 64))
    after = totals(apply(spec, "separable:c"))
    assert after.params == 32 * 9 + 32 * 64


def test_transforms_compose_and_write_a_loadable_spec(tmp_path):
    spec = load_spec("inception3a")
    changed = apply(apply(spec, "separable:b3x3.conv"), "asymmetric:b5x5.conv")
    path = tmp_path / "variant.yaml"
    path.write_text(to_yaml(changed))
    reloaded = cnnspec.analyze(cnnspec.load(str(path)))
    assert reloaded.totals.params == totals(changed).params
    assert reloaded.rows[-1].shape == (256, 28, 28)


def test_savings_are_sorted_and_skip_what_does_not_apply():
    found = savings(load_spec("inception3a"))
    assert [s.macs_saved for s in found] == sorted((s.macs_saved for s in found), reverse=True)
    assert not any(s.layer.startswith("b1x1") for s in found)  # 1x1 convs have nothing to factor
    assert {s.transform.split(":")[0] for s in found} == {"reduce", "factorize3x3", "asymmetric", "separable"}


@pytest.mark.parametrize("transform, message", [
    ("shrink:c", "unknown transform"), ("reduce:c", "needs a channel count"), ("reduce:nope:4", "no layer 'nope'"),
    ("factorize3x3:c", "needs a square kernel of 3 or more"),
])
def test_bad_transforms(transform, message):
    with pytest.raises(SpecError, match=message):
        apply(single_conv(1), transform)


def test_mlp_equivalent_of_a_dense_layer_on_an_image():
    analysis = cnnspec.analyze(build_graph(parse_spec(
        "input: [3, 224, 224]\nlayers: [flatten, {linear: {out_features: 150528, bias: false}}]")))
    assert mlp_equivalent(analysis) == 150_528 * 150_528 + 150_528


def test_cli_whatif_lists_and_writes(tmp_path):
    listing = runner.invoke(app, ["whatif", str(DATA / "five_by_five.yaml"), "--ratio", "0.0334"])
    assert listing.exit_code == 0 and "reduce:conv5x5:16" in listing.stdout and "26,880" in listing.stdout
    out = tmp_path / "reduced.yaml"
    result = runner.invoke(app, ["whatif", str(DATA / "five_by_five.yaml"), "--apply", "reduce:conv5x5:16",
                                 "--write", str(out)])
    assert result.exit_code == 0 and "5,268,480" in result.stdout
    assert cnnspec.analyze(cnnspec.load(str(out))).totals.macs == 5_268_480
