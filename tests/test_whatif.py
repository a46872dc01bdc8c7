"""What-if transforms: the course's numbers, exactly; transformed specs that load, verify and train again.

Expected figures are worked by hand from the closed forms (conv weights = K_h*K_w*C_in*C_out, MACs =
weights * H_out*W_out) and from tests/data/reference/seed_facts.md, never read back from the analyzer.
"""
from pathlib import Path

import pytest
from typer.testing import CliRunner

import cnnspec
from cnnspec.cli import app
from cnnspec.errors import SpecError
from cnnspec.graph import build_graph
from cnnspec.spec import builtin_specs, load_spec, parse_spec
from cnnspec.whatif import apply, apply_all, mlp_equivalent, savings, to_yaml

DATA = Path(__file__).parent / "data" / "compare"
runner = CliRunner()


def analysis_of(spec):
    return cnnspec.analyze(build_graph(spec))


def totals(spec):
    return analysis_of(spec).totals


def single_conv(kernel, bias=False, channels=(1, 1), padding=None, relu=False, size=16):
    pad = (kernel - 1) // 2 if padding is None else padding
    return parse_spec(f"input: [{channels[0]}, {size}, {size}]\nlayers:\n"
                      f"  - {{type: conv2d, out_channels: {channels[1]}, kernel_size: {kernel}, padding: {pad}, "
                      f"bias: {str(bias).lower()}, name: c}}\n"
                      + ("  - {type: relu, name: act}\n" if relu else ""))


# --- the course's 1x1 reduction (seed_facts.md) -------------------------------------------------

def test_one_by_one_reduction_of_the_course():
    spec = load_spec(str(DATA / "five_by_five.yaml"))
    before = totals(spec)
    assert (before.params, before.bias, before.macs) == (576_000, 0, 112_896_000)
    after = totals(apply(spec, "reduce:conv5x5:16"))
    assert (after.params, after.macs) == (26_880, 5_268_480)  # 7,680 + 19,200 weights; x 14*14
    (best, *_) = savings(spec, ratio=16 / 480)
    assert best.transform == "reduce:conv5x5:16"
    assert (best.weights_before, best.weights_after, best.macs_after) == (576_000, 26_880, 5_268_480)


def test_one_by_one_reduction_with_bias_shown_apart():
    spec = parse_spec((DATA / "five_by_five.yaml").read_text().replace("bias: false", "bias: true"))
    assert (totals(spec).params, totals(spec).bias) == (576_048, 48)
    (best, *_) = savings(spec, ratio=16 / 480)
    assert (best.params_before, best.params_after) == (576_048, 26_880 + 16 + 48)
    assert (best.weights_before, best.weights_after) == (576_000, 26_880)


# --- factorizations (seed_facts.md, Inception v2/v3) ---------------------------------------------

def test_two_3x3_instead_of_5x5_same_receptive_field():
    spec = single_conv(5)
    after = apply(spec, "factorize3x3:c")
    assert (totals(spec).params, totals(after).params) == (25, 18)
    fields = [analysis_of(s).rows[-1].receptive_size for s in (spec, after)]
    assert fields == ["5x5", "5x5"]
    assert build_graph(after).nodes[-1].out_shape == build_graph(spec).nodes[-1].out_shape == (1, 16, 16)


def test_three_3x3_instead_of_7x7_valid_and_strided():
    after = apply(single_conv(7, padding=0), "factorize3x3:c")
    assert totals(after).params == 27 and build_graph(after).nodes[-1].out_shape == (1, 10, 10)
    assert analysis_of(after).rows[-1].receptive_size == "7x7"
    strided = parse_spec("input: [2, 17, 17]\nlayers: [{type: conv2d, out_channels: 4, kernel_size: 5, stride: 2, "
                         "padding: 2, name: c}]")
    assert build_graph(apply(strided, "factorize3x3:c")).nodes[-1].out_shape == (4, 9, 9)  # as the 5x5: 9x9


def test_the_activation_after_the_conv_goes_between_the_new_convs():
    after = apply(single_conv(5, relu=True), "factorize3x3:c")
    assert [(n.name, n.type, n.inputs) for n in after.nodes] == [
        ("c_3x3_1", "conv2d", ["input"]), ("c_3x3_1_relu", "relu", ["c_3x3_1"]),
        ("c", "conv2d", ["c_3x3_1_relu"]), ("act", "relu", ["c"])]


def test_1xn_then_nx1_instead_of_nxn():
    spec = single_conv(3)
    after = apply(spec, "asymmetric:c")
    assert (totals(spec).params, totals(after).params) == (9, 6)
    strided = parse_spec("input: [4, 17, 17]\nlayers: [{type: conv2d, out_channels: 8, kernel_size: 3, stride: 2, "
                         "padding: 1, name: c}]")
    assert build_graph(apply(strided, "asymmetric:c")).nodes[-1].out_shape == (8, 9, 9)


def test_depthwise_separable():
    after = totals(apply(single_conv(3, channels=(32, 64)), "separable:c"))
    assert after.params == 32 * 9 + 32 * 64  # depthwise 3x3 per channel, then 1x1 32 -> 64
    assert after.macs == (32 * 9 + 32 * 64) * 16 * 16


# --- stride instead of pooling: ConvPool-CNN-C -> All-CNN-C (Springenberg et al. 2015) ------------

ALL_CNN_C_MACS = (32 * 32 * 96 * 27 + 32 * 32 * 96 * 864 + 16 * 16 * 96 * 864  # conv1: 3x3 convs, 32x32 in
                  + 16 * 16 * 192 * 864 + 16 * 16 * 192 * 1728 + 8 * 8 * 192 * 1728  # conv2: 16x16 in
                  + 6 * 6 * 192 * 1728 + 6 * 6 * 192 * 192 + 6 * 6 * 10 * 192)  # valid 3x3, two 1x1s


def test_strided_convs_instead_of_pooling_give_all_cnn_c():
    spec = load_spec("convpool_cnn_c")
    strided = apply_all(spec, ["strided:pool1", "strided:pool2"])
    before, after = totals(spec), totals(strided)
    assert before.params == after.params == 1_369_738  # the same convs; the pools had no weights
    assert after.macs == ALL_CNN_C_MACS == 270_798_336
    # ConvPool-CNN-C runs conv1.2 and conv2.2 at the full resolution before each pool
    assert before.macs == ALL_CNN_C_MACS + (32 * 32 - 16 * 16) * 96 * 864 + (16 * 16 - 8 * 8) * 192 * 1728
    assert before.macs == 398_200_320
    assert [n.name for n in strided.nodes if "pool" in n.name] == ["pool"]  # the global average pool stays
    assert analysis_of(strided).row("conv2.0.conv").shape == (192, 16, 16)


@pytest.mark.skipif("all_cnn_c" not in builtin_specs(), reason="all_cnn_c.yaml is written by another task")
def test_strided_convpool_matches_the_built_in_all_cnn_c():
    built_in = cnnspec.analyze(cnnspec.load("all_cnn_c")).totals
    assert (built_in.params, built_in.macs) == (1_369_738, ALL_CNN_C_MACS)


def test_strided_needs_a_conv_read_only_by_the_pool():
    branch = parse_spec("input: [3, 8, 8]\nlayers:\n  - {type: conv2d, out_channels: 4, kernel_size: 3, padding: 1, "
                        "name: c}\n  - {type: maxpool2d, kernel_size: 2, name: p}\n  - {type: maxpool2d, "
                        "kernel_size: 2, inputs: c, name: q}\n  - {type: concat, inputs: [p, q]}\n")
    with pytest.raises(SpecError, match="'c' has other readers"):
        apply(branch, "strided:p")
    with pytest.raises(SpecError, match="strided:POOL takes a max or average pooling layer"):
        apply(branch, "strided:c")


# --- composing, writing, verifying ------------------------------------------------------------

def test_transforms_compose_and_write_a_loadable_spec(tmp_path):
    spec = load_spec("inception3a")
    steps = ["separable:b3x3.conv", "asymmetric:b5x5.conv", "reduce:b5x5.conv:8"]
    changed = apply_all(spec, steps)
    path = tmp_path / "variant.yaml"
    path.write_text(to_yaml(changed, steps))
    reloaded = cnnspec.analyze(cnnspec.load(str(path)))
    assert (reloaded.totals.params, reloaded.totals.macs) == (totals(changed).params, totals(changed).macs)
    assert reloaded.rows[-1].shape == (256, 28, 28) and reloaded.name == "inception3a_whatif"
    # b5x5.conv is the 5x1 conv after asymmetric, so the reduction goes between the two halves:
    # 1x5 16 -> 32 (2,560 + 32), 1x1 32 -> 8 (256 + 8), 5x1 8 -> 32 (1,280 + 32)
    assert [r.name for r in reloaded.rows if r.name.startswith("b5x5.conv")] == [
        "b5x5.conv_1x5", "b5x5.conv_1x5_relu", "b5x5.conv_reduce", "b5x5.conv_reduce_relu", "b5x5.conv"]
    assert sum(r.params for r in reloaded.rows if r.name.startswith("b5x5.conv")) == 2_592 + 264 + 1_312


def test_written_spec_keeps_train_and_init():
    spec = parse_spec("input: [3, 8, 8]\ninit: kaiming\ntrain: {epochs: 2, lr: 0.1}\nlayers:\n"
                      "  - {type: conv2d, out_channels: 4, kernel_size: 3, name: c}\n")
    reloaded = parse_spec(to_yaml(apply(spec, "separable:c"), ["separable:c"]))
    assert reloaded.init == "kaiming" and dict(reloaded.train) == {"epochs": 2, "lr": 0.1}


@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::UserWarning")
def test_transformed_specs_agree_with_torch():
    pytest.importorskip("torch")
    pytest.importorskip("fvcore")
    from cnnspec.torch.verify import verify

    spec = parse_spec("input: [8, 19, 19]\nlayers:\n"
                      "  - {type: conv2d, out_channels: 16, kernel_size: 5, stride: 2, padding: 2, name: a}\n"
                      "  - relu\n  - {type: maxpool2d, kernel_size: 2, name: p}\n"
                      "  - {type: conv2d, out_channels: 12, kernel_size: 3, padding: same, name: b}\n  - relu\n"
                      "  - {type: conv2d, out_channels: 12, kernel_size: 7, padding: 3, bias: false, name: c}\n")
    variant = apply_all(spec, ["factorize3x3:a", "strided:p", "asymmetric:b", "reduce:c:4", "separable:c"])
    result = verify(build_graph(parse_spec(to_yaml(variant, ["..."]))))
    assert result.ok, "\n".join(result.failures())


@pytest.mark.parametrize("transform, message", [
    ("shrink:c", "unknown transform"), ("reduce:c", "a channel count"), ("reduce:c:x", "needs a channel count"),
    ("reduce:nope:4", "no layer 'nope'"), ("factorize3x3:c", "needs a square kernel of 5 or more"),
    ("separable:c", "already pointwise"), ("asymmetric:c", "needs a square kernel of 2 or more"),
])
def test_bad_transforms(transform, message):
    with pytest.raises(SpecError, match=message):
        apply(single_conv(1), transform)


def test_savings_are_sorted_and_skip_what_does_not_apply():
    found = savings(load_spec("inception3a"))
    assert [s.macs_saved for s in found] == sorted((s.macs_saved for s in found), reverse=True)
    assert not any(s.layer.startswith("b1x1") for s in found)  # 1x1 convs have nothing to factor
    kinds = {s.transform.split(":")[0] for s in found}
    assert kinds == {"reduce", "factorize3x3", "asymmetric", "separable"}  # the pool is stride 1 after a concat
    reduce_3x3 = next(s for s in found if s.transform.startswith("reduce:b3x3.conv"))
    assert reduce_3x3.transform == "reduce:b3x3.conv:24"  # 96 input channels / 4
    # 1x1 96 -> 24 (2,304 + 24) then 3x3 24 -> 128 (27,648 + 128)
    assert (reduce_3x3.params_after, reduce_3x3.macs_after) == (30_104, (2_304 + 27_648) * 28 * 28)


@pytest.mark.parametrize("model", ["mobilenet_v2", "mobilenet_v3_small", "mnasnet0_5", "regnet_x_400mf",
                                   "resnext50_32x4d"])
def test_no_transform_is_suggested_for_a_depthwise_or_grouped_conv(model):
    """A depthwise conv is already half of a separable conv: no 'separable', no 1x1 reduction in front, no
    factorization of it; a grouped one (ResNeXt, RegNet) is not the plain conv the transforms rebuild."""
    spec = load_spec(model)
    graph = build_graph(spec)
    grouped = {node.name for node in graph.nodes[1:] if getattr(node.layer, "groups", 1) > 1}
    found = savings(spec)
    assert grouped and found and not {s.layer for s in found} & grouped


def test_applying_a_transform_to_a_depthwise_conv_says_it_already_is_one():
    with pytest.raises(SpecError, match="'stage1.block.depthwise.conv' is already depthwise \\(groups = its 32 input channels\\)"):
        apply(load_spec("mobilenet_v2"), "separable:stage1.block.depthwise.conv")


def test_a_saving_counts_the_named_layer_even_where_its_last_conv_counts_the_same():
    """ConvNeXt's downsampling 2x2 conv, 96 -> 192: as 1x2 (96 -> 192) then 2x1 (192 -> 192) its last conv keeps
    the name with the same 73,920 params; the saving still counts the conv it replaced."""
    spec = parse_spec("input: [96, 8, 8]\nlayers:\n  - {type: conv2d, out_channels: 192, kernel_size: 2, stride: 2, "
                      "name: down}\n")
    found = next(s for s in savings(spec) if s.transform == "asymmetric:down")
    assert (found.params_before, found.params_after) == (4 * 96 * 192 + 192, 2 * 96 * 192 + 192 + 2 * 192 * 192 + 192)


# --- the MLP-equivalent figure ------------------------------------------------------------------

def test_a_dense_layer_on_a_224x224x3_image():
    dense = analysis_of(parse_spec("input: [3, 224, 224]\nlayers: [flatten, {linear: {out_features: 150528, "
                                   "bias: false}}]"))
    assert dense.totals.params == 22_658_678_784  # 150528^2, seed_facts.md
    conv = analysis_of(single_conv(3, channels=(3, 3), size=224))  # 'same' conv: 224x224x3 in and out
    assert conv.totals.params == 81
    assert mlp_equivalent(conv).weights == 22_658_678_784 and mlp_equivalent(conv).bias == 150_528


def test_mnist1d_cnn_and_its_mlp_equivalent():
    analysis = cnnspec.analyze(cnnspec.load(str(DATA / "mnist1d_cnn.yaml")))
    assert analysis.totals.params == 2_050  # seed_facts.md
    mlp = mlp_equivalent(analysis)  # 40 -> 285 -> 135 -> 60 -> 10 values
    assert (mlp.weights, mlp.params) == (40 * 285 + 285 * 135 + 135 * 60 + 60 * 10, 58_575 + 285 + 135 + 60 + 10)


# --- the command --------------------------------------------------------------------------------

def test_cli_whatif_lists_and_writes(tmp_path):
    listing = runner.invoke(app, ["whatif", str(DATA / "five_by_five.yaml"), "--ratio", "0.0334"])
    assert listing.exit_code == 0, listing.output
    assert "reduce:conv5x5:16" in listing.stdout and "26,880" in listing.stdout
    assert "885,104,640 weights" in listing.stdout  # MLP equivalent: 94,080 x 9,408 values
    out = tmp_path / "reduced.yaml"
    result = runner.invoke(app, ["whatif", str(DATA / "five_by_five.yaml"), "--apply", "reduce:conv5x5:16",
                                 "--write", str(out)])
    assert result.exit_code == 0 and "5,268,480 (0.0467x)" in result.stdout
    assert cnnspec.analyze(cnnspec.load(str(out))).totals.macs == 5_268_480


def test_cli_whatif_formats():
    import json
    data = json.loads(runner.invoke(app, ["whatif", "convpool_cnn_c", "-f", "json", "--top", "100"]).stdout)
    strided = {s["transform"]: s for s in data["savings"]}["strided:pool1"]
    assert (strided["macs_before"], strided["macs_after"]) == (32 * 32 * 96 * 864, 16 * 16 * 96 * 864)
    assert data["mlp_equivalent"]["params"] > data["mlp_equivalent"]["weights"] > 10**10
    csv_text = runner.invoke(app, ["whatif", "convpool_cnn_c", "-f", "csv", "--top", "1"]).stdout
    assert csv_text.splitlines()[0].startswith("transform,layer,change,weights_before")


def test_cli_write_needs_apply(tmp_path):
    result = runner.invoke(app, ["whatif", "inception3a", "--write", str(tmp_path / "x.yaml")])
    assert isinstance(result.exception, SpecError) and "--write needs at least one --apply" in str(result.exception)
