"""VGG16 against the course's table (seed_facts.md) and torchvision's figures."""
import pytest

import cnnspec
from cnnspec.render import summary_lines

VGG16_ROWS = [  # (output shape, memory in values, params without bias) from the cs231n slide
    ((64, 224, 224), 3_211_264, 1_728), ((64, 224, 224), 3_211_264, 36_864), ((64, 112, 112), 802_816, 0),
    ((128, 112, 112), 1_605_632, 73_728), ((128, 112, 112), 1_605_632, 147_456), ((128, 56, 56), 401_408, 0),
    ((256, 56, 56), 802_816, 294_912), ((256, 56, 56), 802_816, 589_824), ((256, 56, 56), 802_816, 589_824),
    ((256, 28, 28), 200_704, 0),
    ((512, 28, 28), 401_408, 1_179_648), ((512, 28, 28), 401_408, 2_359_296), ((512, 28, 28), 401_408, 2_359_296),
    ((512, 14, 14), 100_352, 0),
    ((512, 14, 14), 100_352, 2_359_296), ((512, 14, 14), 100_352, 2_359_296), ((512, 14, 14), 100_352, 2_359_296),
    ((512, 7, 7), 25_088, 0),
    ((4096,), 4096, 102_760_448), ((4096,), 4096, 16_777_216), ((1000,), 1000, 4_096_000),
]


@pytest.fixture(scope="module")
def vgg16():
    return cnnspec.analyze(cnnspec.load("vgg16"))


def test_vgg16_totals(vgg16, torchvision_reference):
    reference = torchvision_reference["vgg16"]
    assert vgg16.totals.params == reference["params"] == 138_357_544
    assert vgg16.totals.macs == reference["macs"] == 15_470_264_320
    assert vgg16.totals.memory == 15_237_608
    assert vgg16.totals.memory * vgg16.bytes_per_value == 60_950_432


def test_vgg16_rows_match_the_course_table(vgg16):
    """Rows that store memory (ReLU is in place, flatten and dropout are views) are the slide's rows."""
    stored = [row for row in vgg16.rows if row.memory and row.type != "input"]
    assert [(r.shape, r.memory) for r in stored] == [(shape, memory) for shape, memory, _ in VGG16_ROWS]
    weights = [r.params - r.bias for r in stored]
    assert weights == [params for _, _, params in VGG16_ROWS]
    assert vgg16.rows[0].memory == 150_528  # the INPUT row


def test_rows_add_up_to_totals(vgg16):
    t = vgg16.totals
    assert t.params == sum(r.params for r in vgg16.rows)
    assert t.flops == sum(r.flops for r in vgg16.rows)
    assert t.macs == sum(r.macs for r in vgg16.rows)


def test_flops_are_twice_macs_plus_elementwise_work(vgg16):
    conv = vgg16.rows[1]
    assert conv.flops == 2 * conv.macs + 64 * 224 * 224  # the bias adds
    relu = vgg16.rows[2]
    assert relu.flops == relu.values and relu.memory == 0


def test_receptive_field_of_stacked_3x3(vgg16):
    convs = [r for r in vgg16.rows if r.type == "conv2d"]
    assert [c.receptive_size for c in convs[:2]] == ["3x3", "5x5"]  # two 3x3 see 5x5
    pool5 = [r for r in vgg16.rows if r.type == "maxpool2d"][-1]
    assert pool5.receptive_size == "212x212"


def test_peak_memory_is_two_largest_live_tensors(vgg16):
    assert vgg16.peak_memory == 2 * 3_211_264  # conv1_2 reads conv1_1's output while writing its own
    assert vgg16.peak_at.endswith("conv")


def test_dtype_and_batch_scale_memory():
    graph = cnnspec.load("vgg16")
    analysis = cnnspec.analyze(graph, dtype="fp16", batch=8, optimizer="adam")
    assert analysis.bytes_per_value == 2 and analysis.precision == "fp16"
    one = cnnspec.analyze(graph, dtype="fp16", batch=1, optimizer="adam")
    assert analysis.training.activations == 8 * one.training.activations  # VGG keeps nothing per batch
    assert analysis.training.optimizer_state == 2 * 138_357_544 * 2


def test_mixed_precision_keeps_weights_gradients_and_adam_state_fp32():
    """torch.autocast lowers activations, never the parameters, their gradients or the optimizer's state."""
    graph = cnnspec.load("resnet50")
    mixed = cnnspec.analyze(graph, batch=32, optimizer="adam", precision="bf16-mixed")
    pure = cnnspec.analyze(graph, batch=32, optimizer="adam", precision="bf16")
    params, trainable = 25_557_032, 25_557_032
    batch_norms = sum(row.type == "batchnorm2d" for row in mixed.rows)
    float_buffers = mixed.totals.buffers - batch_norms
    assert mixed.training.gradients == 4 * trainable and mixed.training.optimizer_state == 2 * 4 * trainable
    assert mixed.training.weights == 4 * params + 4 * float_buffers + 8 * batch_norms  # num_batches_tracked: int64
    assert pure.training.weights == 2 * params + 2 * float_buffers + 8 * batch_norms
    assert pure.training.optimizer_state == 2 * 2 * trainable
    assert mixed.training.activations < cnnspec.analyze(graph, batch=32, precision="fp32").training.activations
    assert "bf16-mixed: weights, gradients and Adam state fp32" in "\n".join(summary_lines(mixed))


# --- several outputs: totals per output and for all of them ------------------------------------

@pytest.mark.parametrize("model, main", [("googlenet", "fc"), ("inception_v3", "fc")])
def test_each_output_counts_the_layers_that_feed_it(model, main, torchvision_reference):
    # torchvision's reference was built with aux_logits=False: the main output's subgraph
    analysis = cnnspec.analyze(cnnspec.load(model))
    reference = torchvision_reference[model]
    alone = analysis.output_totals[main]
    assert (alone.params, alone.buffers, alone.macs) == (reference["params"], reference["buffers"], reference["macs"])
    assert len(analysis.output_totals) == len(analysis.outputs) > 1
    assert all(t.params < analysis.totals.params for t in analysis.output_totals.values())


def test_all_outputs_are_torchvisions_published_figure_with_the_aux_heads():
    # googlenet: torchvision publishes 6,624,904 (its weights drop the aux heads); 13,004,888 is with them.
    # Inception_V3_Weights.IMAGENET1K_V1: num_params 27,161,264, the AuxLogits head included, gflops 5.713
    # (tests/data/reference/torchvision_meta.json), which is the main output's 5,713,216,096 MACs.
    assert cnnspec.analyze(cnnspec.load("googlenet")).totals.params == 13_004_888
    inception = cnnspec.analyze(cnnspec.load("inception_v3"))
    assert inception.totals.params == 27_161_264 and round(inception.output_totals["fc"].macs / 1e9, 3) == 5.713


def test_a_shared_layer_counts_for_every_output_it_feeds():
    from tests.conftest import analyze_text
    analysis = analyze_text("""
input: [3, 8, 8]
layers:
  - {type: conv2d, out_channels: 4, kernel_size: 3, name: trunk}
  - {type: flatten, name: flat}
  - {type: linear, out_features: 2, name: a}
  - {type: linear, out_features: 3, inputs: flat, name: b}
outputs: [a, b]
""")
    trunk, a, b = 3 * 9 * 4 + 4, 144 * 2 + 2, 144 * 3 + 3
    assert analysis.totals.params == trunk + a + b
    assert {name: t.params for name, t in analysis.output_totals.items()} == {"a": trunk + a, "b": trunk + b}
