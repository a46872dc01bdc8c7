"""`cnnspec import` / cnnspec.from_torch: models cnnspec did not build, read into specs.

The figures are checked against independent sources: the published sizes of VGG16, ResNet-50/152 and
MobileNetV2 (torchvision's weights metadata, shared/reference/torchvision.json), and PyTorch itself running
the hand-written models (forward hooks give every module's output shape)."""
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from torch import nn
from torch.nn import functional as F
from typer.testing import CliRunner

import cnnspec
from cnnspec.cli import app
from cnnspec.torch.importer import UnsupportedModel, from_torch
from tests.torch import handwritten

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::UserWarning")
runner = CliRunner()
HANDWRITTEN = "tests/torch/handwritten.py"
ROOT = Path(__file__).parents[2]


def on_meta(make):
    with torch.device("meta"):
        return make()


def module_shapes(model: nn.Module, shape) -> dict[str, tuple[int, ...]]:
    """Every leaf module call's output shape (no batch axis), measured by PyTorch on the CPU, named as the
    importer names it: the module path, a second call of one module ``relu_1``."""
    found, calls, hooks = {}, {}, []
    for path, module in model.named_modules():
        if path and not list(module.children()):
            def record(module, args, out, path=path):
                count = calls.get(path, 0)
                calls[path] = count + 1
                found[path if count == 0 else f"{path}_{count}"] = tuple(out.shape[1:])
            hooks.append(module.register_forward_hook(record))
    with torch.no_grad():
        model.eval()(torch.randn(2, *shape))
    for hook in hooks:
        hook.remove()
    return found


def entries(text: str) -> list[dict]:
    return yaml.safe_load(text)["layers"]


# --- models cnnspec did not build: the published figures ----------------------------------------

@pytest.mark.parametrize("make, params, macs", [
    (handwritten.vgg16, 138_357_544, 15_470_264_320),
    (handwritten.resnet50, 25_557_032, 4_089_184_256),
    (handwritten.mobilenet_v2, 3_504_872, 300_774_272),  # torchvision: 0.301 GFLOPS (MACs, 3 decimals)
])
def test_handwritten_models_import_to_their_published_figures(make, params, macs):
    imported = from_torch(on_meta(make), (3, 224, 224))
    totals = cnnspec.analyze(imported.graph).totals
    assert (totals.params, totals.macs) == (params, macs)
    assert imported.problems == [] and imported.notes == []


@pytest.mark.parametrize("name, make", [("vgg16", handwritten.vgg16), ("resnet50", handwritten.resnet50),
                                        ("resnet152", handwritten.resnet152)])
def test_every_module_call_matches_torchvisions_leaf_modules(torchvision_reference, name, make):
    """The layers that came from modules, in forward order: torchvision's module types and output shapes."""
    reference = torchvision_reference[name]
    analysis = cnnspec.analyze(from_torch(on_meta(make), (3, 224, 224)).graph)
    torch_names = {"conv2d": "Conv2d", "batchnorm2d": "BatchNorm2d", "relu": "ReLU", "maxpool2d": "MaxPool2d",
                   "adaptive_avg_pool2d": "AdaptiveAvgPool2d", "linear": "Linear", "dropout": "Dropout"}
    modules = [[torch_names[row.type], list(row.shape)] for row in analysis.rows[1:] if row.type not in ("add", "flatten")]
    assert modules == reference["leaf_modules"]
    assert (analysis.totals.params, analysis.totals.buffers, analysis.totals.macs) == (
        reference["params"], reference["buffers"], reference["macs"])


@pytest.mark.parametrize("make", [handwritten.vgg16, handwritten.resnet50, handwritten.mobilenet_v2])
def test_every_layer_has_the_shape_pytorch_computes(make):
    """At 3x64x64, run for real: each module's output shape is its layer's."""
    model = make()
    graph = from_torch(model, (3, 64, 64)).graph
    measured = module_shapes(model, (3, 64, 64))
    assert measured and {name: graph[name].out_shape for name in measured} == measured


def test_resnet50_is_a_bottleneck_block_repeated_not_170_layers():
    text = from_torch(on_meta(handwritten.resnet50), (3, 224, 224)).text
    spec = yaml.safe_load(text)
    assert list(spec["blocks"]) == ["bottleneck"]
    assert len(spec["layers"]) == 11  # stem (4), layer1..layer4 (one line each), avgpool, flatten, fc
    stages = [entry for entry in spec["layers"] if entry.get("repeat")]
    assert [(s["name"], s["repeat"], s["out_channels"], s["first"]) for s in stages] == [
        ("layer1", 3, 64, {"has_downsample": True}), ("layer2", 4, 128, {"stride": 2, "has_downsample": True}),
        ("layer3", 6, 256, {"stride": 2, "has_downsample": True}), ("layer4", 3, 512, {"stride": 2, "has_downsample": True})]
    bottleneck = {layer["name"]: layer for layer in spec["blocks"]["bottleneck"]["layers"]}
    assert bottleneck["conv3"]["out_channels"] == "4 * out_channels"
    assert bottleneck["downsample.0"]["when"] == "has_downsample"
    assert bottleneck["add"] == {"type": "add", "inplace": True, "name": "add", "inputs": ["bn3", "downsample.1"]}
    assert text.startswith("# Imported by `cnnspec import` from a tests.torch.handwritten.ResNet module (torch ")


def test_mobilenet_v2_shares_one_block_with_a_residual_flag_and_depthwise_groups():
    spec = yaml.safe_load(from_torch(on_meta(handwritten.mobilenet_v2), (3, 224, 224)).text)
    block = spec["blocks"]["inverted_residual"]
    layers = {layer["name"]: layer for layer in block["layers"]}
    assert layers["conv.1"]["groups"] == "in_channels"
    assert layers["add"]["when"] == "has_residual" and block["args"]["has_residual"] is True
    residual = [e["name"] for e in spec["layers"] if e.get("type") == "inverted_residual" and "has_residual" not in e]
    assert residual == [f"features.{i}" for i in (3, 5, 6, 8, 9, 10, 12, 13, 15, 16)]  # stride 1, same width


def test_resnet152_imports_to_torchvisions_params():
    """Its speed (under 5 s on the 2-core machine) is bench/import_speed.py's to print, not a test's."""
    imported = from_torch(on_meta(handwritten.resnet152), (3, 224, 224))
    assert cnnspec.analyze(imported.graph).totals.params == 60_192_808


# --- the written spec is a spec like any other --------------------------------------------------

def test_the_written_spec_validates_builds_and_meets_its_expect(tmp_path):
    path = tmp_path / "resnet50.yaml"
    result = runner.invoke(app, ["import", f"{HANDWRITTEN}:resnet50", "--input", "3x224x224", "-o", str(path)])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"wrote {path}: ")
    assert runner.invoke(app, ["validate", str(path)]).exit_code == 0
    checked = runner.invoke(app, ["check", str(path)])
    assert checked.exit_code == 0 and "3 passed, 0 failed" in checked.stdout  # params, buffers, output: PyTorch's
    model = cnnspec.build(str(path), device="meta")
    assert sum(p.numel() for p in model.parameters()) == 25_557_032
    assert dict(model.named_parameters()).keys() == dict(handwritten.resnet50().named_parameters()).keys()


def test_the_imported_model_verifies_against_pytorch(tmp_path):
    path = tmp_path / "net.yaml"
    assert runner.invoke(app, ["import", f"{HANDWRITTEN}:mobilenet_v2", "--input", "3x32x32", "-o", str(path)]).exit_code == 0
    result = runner.invoke(app, ["verify", str(path)])
    assert result.exit_code == 0, result.output


def test_weights_load_into_the_built_spec():
    """Names are the module paths, so the original state_dict loads into the spec's model as it is."""
    model = handwritten.resnet50()
    built = cnnspec.build(from_torch(model, (3, 64, 64)).graph)
    built.load_state_dict(model.state_dict())
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(built.eval()(x), model.eval()(x), atol=1e-5)


def test_without_output_it_prints_the_spec():
    result = runner.invoke(app, ["import", f"{HANDWRITTEN}:vgg16", "--input", "3x32x32"])
    assert result.exit_code == 0 and result.stdout.startswith("# Imported by `cnnspec import` from "
                                                               f"{HANDWRITTEN}:vgg16")
    assert yaml.safe_load(result.stdout)["name"] == "vgg16"


# --- functional calls -----------------------------------------------------------------------------

class Functional(nn.Module):
    """Torch functions and tensor methods between modules, as models write them."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.gate = nn.Conv2d(16, 16, 1)
        self.fc = nn.Linear(16 * 4 * 4, 10)

    def forward(self, x):
        y = F.relu(self.conv(x), inplace=True)
        y = torch.cat([torch.sigmoid(F.hardswish(F.relu6(y))).sigmoid(), y], 1)
        g = torch.sigmoid(self.gate(y.mean((2, 3), keepdim=True)))
        y = y * g + y
        y = F.max_pool2d(F.interpolate(y, scale_factor=2, mode="nearest"), 2)
        y = F.adaptive_avg_pool2d(y, (4, 4)).contiguous()
        return self.fc(F.dropout(y.view(y.size(0), -1), 0.1, self.training)).softmax(dim=1)


def test_functional_calls_become_their_layer_types():
    model = Functional()
    graph = from_torch(model, (3, 16, 16)).graph
    assert [node.type for node in graph.nodes[1:]] == [
        "conv2d", "relu", "relu6", "hardswish", "sigmoid", "sigmoid", "concat", "global_avg_pool", "conv2d", "sigmoid",
        "multiply", "add", "upsample", "maxpool2d", "adaptive_avg_pool2d", "flatten", "dropout", "linear", "softmax"]
    assert graph["relu"].layer.inplace and not graph["relu6"].layer.inplace
    assert graph["concat"].inputs == ["sigmoid_1", "relu"] and graph["global_avg_pool"].out_shape == (16, 1, 1)
    assert graph["upsample"].layer.scale_factor == 2.0 and graph["dropout"].layer.p == 0.1
    assert graph.outputs == ["softmax"] and graph["softmax"].out_shape == (10,)
    assert cnnspec.analyze(graph).totals.params == sum(p.numel() for p in model.parameters())


def test_splits_shuffles_permutes_and_norms_become_their_layer_types():
    model = handwritten.Modern()
    imported = from_torch(model, (3, 4, 4))
    graph = imported.graph
    assert [n.type for n in graph.nodes[1:]] == [
        "conv2d", "slice", "slice", "conv2d", "concat", "reshape", "permute", "reshape", "permute", "layer_norm",
        "linear", "gelu", "linear", "permute", "layer_scale", "add", "group_norm", "channel_shuffle", "pixel_shuffle",
        "slice", "reshape", "flatten", "reshape", "reshape"]
    assert graph["slice_1"].layer.start == 4 and graph["pwconv"].out_shape == (4, 4, 32)
    x = torch.randn(1, 3, 4, 4)
    with torch.no_grad():
        expected = model.eval()(x)
    assert graph.nodes[-1].out_shape == tuple(expected.shape[1:]) == (4, 16, 1)
    assert cnnspec.analyze(graph).totals.params == sum(p.numel() for p in model.parameters())
    built = cnnspec.build(graph).eval()
    state = {("layer_scale.gamma" if key == "gamma" else key): value for key, value in model.state_dict().items()}
    built.load_state_dict(state)
    with torch.no_grad():
        assert torch.allclose(built(x), expected, atol=1e-6)  # the same network: every split, shuffle and permute


def test_a_functional_linear_holds_the_parameters_it_reads():
    class Head(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 2, 3)
            self.weight = nn.Parameter(torch.randn(5, 2 * 4 * 4))
            self.bias = nn.Parameter(torch.zeros(5))
            self.unused = nn.Linear(7, 7)

        def forward(self, x):
            return F.linear(torch.flatten(self.conv(x), 1), self.weight, self.bias)

    imported = from_torch(Head(), (3, 6, 6))
    assert [(n.type, n.out_shape) for n in imported.graph.nodes[1:]] == [
        ("conv2d", (2, 4, 4)), ("flatten", (32,)), ("linear", (5,))]
    assert cnnspec.analyze(imported.graph).totals.params == 2 * 27 + 2 + 5 * 32 + 5
    assert imported.notes == ["2 parameter(s) or buffer(s) (56 values) are not used by forward at this input and are "
                              "not in the spec: unused.weight, unused.bias"]


def test_functional_calls_inside_a_module_are_named_in_it():
    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(4, 4, 3, padding=1)

        def forward(self, x):
            return F.relu(self.conv(x) + x)

    model = nn.Sequential(Block(), Block(), nn.Flatten())
    imported = from_torch(model, (4, 5, 5))
    assert [n.name for n in imported.graph.nodes] == ["input", "0.conv", "0.add", "0.relu", "1.conv", "1.add",
                                                      "1.relu", "2"]
    spec = yaml.safe_load(imported.text)
    assert [layer["name"] for layer in spec["blocks"]["block"]["layers"]] == ["conv", "add", "relu"]
    assert spec["layers"] == [{"type": "block", "name": "0"}, {"type": "block", "name": "1"},
                              {"type": "flatten", "name": "2"}]


# --- what cnnspec cannot express ------------------------------------------------------------------

class ClampFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return x.clamp(min=0)

    @staticmethod
    def backward(ctx, grad):
        return grad


class WithCustomFunction(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(ClampFunction.apply(self.conv(x)), 1), 1))


def test_a_custom_autograd_function_is_reported_by_name_never_traced_into():
    with pytest.raises(UnsupportedModel) as raised:
        from_torch(WithCustomFunction(), (3, 8, 8))
    (problem,) = raised.value.problems
    assert problem.what == f"{__name__}.ClampFunction.apply"
    assert "custom torch.autograd.Function" in problem.reason and problem.shape == (4, 6, 6)


def test_tracing_leaves_autograd_functions_as_they_were():
    """The trace stands in for Function.apply while it runs; after it, every Function applies its own forward."""
    with pytest.raises(UnsupportedModel):
        from_torch(WithCustomFunction(), (3, 8, 8))
    x = torch.tensor([-1.0, 2.0], requires_grad=True)
    assert ClampFunction.apply(x).tolist() == [0.0, 2.0]
    assert "apply" not in ClampFunction.__dict__ and isinstance(torch.autograd.Function.__dict__["apply"], classmethod)


def test_allow_unsupported_keeps_a_placeholder_that_every_report_flags():
    imported = from_torch(WithCustomFunction(), (3, 8, 8), allow_unsupported=True)
    node = imported.graph["clamp_function"]
    assert node.type == "unsupported" and node.out_shape == (4, 6, 6)
    analysis = cnnspec.analyze(imported.graph)
    assert analysis.totals.params == 4 * 3 * 9 + 4 + 4 * 2 + 2  # the rest, counted
    assert any("unsupported" in w for _, w in analysis.warnings)
    assert "UNSUPPORTED" in imported.text and "expect:" not in imported.text
    with pytest.raises(cnnspec.SpecError, match="cannot build an unsupported placeholder"):
        cnnspec.build(imported.graph, device="meta")


def test_the_command_lists_what_it_cannot_import_and_exits_1(tmp_path):
    source = tmp_path / "custom.py"
    source.write_text("from tests.torch.test_import import WithCustomFunction as make\n")
    result = subprocess.run([sys.executable, "-m", "cnnspec", "import", f"{source}:make", "--input", "3x8x8"],
                            capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.splitlines() == [
        "error: 1 operation(s) cnnspec cannot import (--allow-unsupported keeps the rest with a placeholder of each "
        "one's shape):",
        "  the top-level forward: tests.torch.test_import.ClampFunction.apply: a custom torch.autograd.Function: its "
        "forward and backward are its own code"]
    kept = runner.invoke(app, ["import", f"{source}:make", "--input", "3x8x8", "--allow-unsupported",
                               "-o", str(tmp_path / "net.yaml")])
    assert kept.exit_code == 0 and "unsupported (kept as a placeholder)" in kept.stderr
    analyzed = runner.invoke(app, ["analyze", str(tmp_path / "net.yaml")])
    assert "warning: clamp_function: unsupported" in analyzed.stdout
    compared = runner.invoke(app, ["compare", str(tmp_path / "net.yaml"), "lenet5"])
    assert "warning: make holds 1 unsupported placeholder(s), counted as 0" in compared.stderr


def test_modules_without_a_layer_type_are_reported_with_their_path():
    class Recurrent(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv1d(3, 8, 3)
            self.rnn = nn.GRU(8, 4, batch_first=True)  # the 8 channels as the steps, the 8 positions as features

        def forward(self, x):
            return self.rnn(self.conv(x))[0]

    with pytest.raises(UnsupportedModel) as raised:
        from_torch(Recurrent(), (3, 10), allow_unsupported=True)  # a GRU returns a tuple: no placeholder fits
    assert [(p.location, p.what) for p in raised.value.problems] == [("rnn", "torch.nn.modules.rnn.GRU")]


@pytest.mark.parametrize("model, location, reason", [
    (nn.Sequential(nn.Conv2d(3, 4, 3, padding=1, padding_mode="reflect")), "0", "padding_mode='reflect'"),
    (nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4, momentum=None)), "1", "momentum=None"),
    (nn.Sequential(nn.Conv2d(3, 4, 3), nn.MaxPool2d(2, return_indices=True)), "1", "return_indices"),
])
def test_arguments_a_spec_cannot_hold_are_reported(model, location, reason):
    with pytest.raises(UnsupportedModel) as raised:
        from_torch(model, (3, 8, 8))
    (problem,) = raised.value.problems
    assert problem.location == location and reason in problem.reason


def test_shared_weights_are_reported_not_counted_twice():
    class Twice(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 3, 3, padding=1)

        def forward(self, x):
            return self.conv(self.conv(x))

    with pytest.raises(UnsupportedModel, match="call 2 of a module with parameters"):
        from_torch(Twice(), (3, 8, 8))
    imported = from_torch(Twice(), (3, 8, 8), allow_unsupported=True)
    assert cnnspec.analyze(imported.graph).totals.params == 84  # once


def test_a_model_fx_cannot_trace_goes_through_torch_export():
    class ShapeDependent(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3)
            self.bn = nn.BatchNorm2d(4)
            self.pool = nn.MaxPool2d(2)

        def forward(self, x):
            y = F.relu(self.bn(self.conv(x)))
            if y.shape[-1] > 4:  # Python control flow on a shape: fx cannot trace it
                y = self.pool(y)
            return y.view(y.size(0), -1)

    imported = from_torch(ShapeDependent(), (3, 10, 10))
    assert "traced with torch.export" in imported.notes[0]
    assert [(n.name, n.type, n.out_shape) for n in imported.graph.nodes[1:]] == [
        ("conv", "conv2d", (4, 8, 8)), ("bn", "batchnorm2d", (4, 8, 8)), ("relu", "relu", (4, 8, 8)),
        ("pool", "maxpool2d", (4, 4, 4)), ("flatten", "flatten", (64,))]


def test_a_callable_that_cannot_be_found_is_a_usage_error(tmp_path):
    for source, message in ((f"{HANDWRITTEN}:resnet5", "has no 'resnet5'"), ("no_such_package.models:net",
                                                                           "importing no_such_package.models failed"),
                            ("resnet50", "MODULE:CALLABLE"), (f"{tmp_path}/missing.py:net", "no Python file")):
        result = runner.invoke(app, ["import", source, "--input", "3x32x32"])
        assert isinstance(result.exception, cnnspec.SpecError) and message in str(result.exception), source
    result = runner.invoke(app, ["import", f"{HANDWRITTEN}:resnet50"])
    assert isinstance(result.exception, cnnspec.SpecError) and "needs --input" in str(result.exception)


# --- round trip: every built-in spec --------------------------------------------------------------

def builtin_names() -> list[str]:
    from cnnspec.spec import builtin_specs, builtin_variants
    return [*builtin_specs(), *builtin_variants()]


@pytest.mark.parametrize("name", builtin_names())
def test_build_then_import_gives_the_original_analysis(name):
    """build -> import -> analyze equals analyze: the totals, and every layer's type and shape by name."""
    original = cnnspec.load(name)
    imported = from_torch(cnnspec.build(original, device="meta"), original.input_shape).graph
    before, after = cnnspec.analyze(original), cnnspec.analyze(imported)
    assert after.totals == before.totals
    assert [(row.name, row.type, row.shape) for row in after.rows] == [(row.name, row.type, row.shape)
                                                                      for row in before.rows]
    assert after.peak_memory == before.peak_memory and after.outputs == before.outputs


def test_a_built_resnet50_imports_back_to_its_blocks():
    spec = yaml.safe_load(from_torch(cnnspec.build("resnet50", device="meta"), (3, 224, 224)).text)
    assert list(spec["blocks"]) == ["projection", "bottleneck"]
    assert re.fullmatch(r"layer\d", spec["layers"][4]["name"]) and spec["layers"][4]["repeat"] == 3


# --- style-transfer and tutorial layers: reflection padding, instance norm, channel dropout, log-softmax --------

class ResnetGenerator(nn.Module):
    """CycleGAN's generator as its authors write it (two residual blocks here): reflection padding, instance
    norm with affine weights, channel dropout inside the blocks, transposed convs up, tanh out."""

    def __init__(self, width: int = 8, blocks: int = 2):
        super().__init__()
        norm = lambda c: nn.InstanceNorm2d(c, affine=True)  # noqa: E731
        self.head = nn.Sequential(nn.ReflectionPad2d(3), nn.Conv2d(3, width, 7), norm(width), nn.ReLU(True),
                                  nn.Conv2d(width, 2 * width, 3, stride=2, padding=1), norm(2 * width), nn.ReLU(True))
        self.blocks = nn.ModuleList(nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(2 * width, 2 * width, 3), norm(2 * width), nn.ReLU(True), nn.Dropout2d(0.5),
            nn.ReplicationPad2d(1), nn.Conv2d(2 * width, 2 * width, 3), norm(2 * width)) for _ in range(blocks))
        self.tail = nn.Sequential(nn.ConvTranspose2d(2 * width, width, 3, stride=2, padding=1, output_padding=1),
                                  nn.InstanceNorm2d(width, track_running_stats=True), nn.SELU(),
                                  nn.ReflectionPad2d(3), nn.Conv2d(width, 3, 7), nn.Tanh())

    def forward(self, x):
        x = self.head(x)
        for block in self.blocks:
            x = x + block(x)
        return self.tail(x)


class MnistNet(nn.Module):
    """pytorch/examples' MNIST network, functional calls and all."""

    def __init__(self):
        super().__init__()
        self.conv1, self.conv2 = nn.Conv2d(1, 32, 3, 1), nn.Conv2d(32, 64, 3, 1)
        self.fc1, self.fc2 = nn.Linear(9216, 128), nn.Linear(128, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv2(F.relu(self.conv1(x)))), 2)
        x = F.dropout2d(x, 0.25, self.training)
        x = F.celu(self.fc1(torch.flatten(x, 1)))
        x = F.pad(x.view(-1, 1, 128), (2, 2), mode="reflect").view(-1, 132)[:, 2:-2]
        return F.log_softmax(self.fc2(F.softplus(x)), dim=1)


@pytest.mark.parametrize("make, shape", [(ResnetGenerator, (3, 32, 32)), (MnistNet, (1, 28, 28))])
def test_style_transfer_and_tutorial_layers_import_to_what_pytorch_measures(make, shape):
    """Params, buffers, output shape and FlopCounterMode's MACs of the module itself, and the written spec
    builds back into a model with the same counts."""
    from torch.utils.flop_counter import FlopCounterMode
    model = make().eval()
    imported = from_torch(model, shape)
    analysis = cnnspec.analyze(imported.graph)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        out = model(torch.randn(1, *shape))
    assert analysis.totals.params == sum(p.numel() for p in model.parameters())
    assert analysis.totals.buffers == sum(b.numel() for b in model.buffers())
    assert counter.get_total_flops() == 2 * analysis.totals.macs
    assert analysis.row(analysis.outputs[0]).shape == tuple(out.shape[1:])
    rebuilt = cnnspec.build(cnnspec.loads(imported.text))
    assert sum(p.numel() for p in rebuilt.parameters()) == analysis.totals.params


def test_the_new_layer_types_are_read_as_themselves():
    types = {node.type for node in from_torch(ResnetGenerator().eval(), (3, 32, 32)).graph.nodes}
    assert {"reflection_pad", "replication_pad", "instance_norm2d", "dropout2d", "selu"} <= types
    types = [node.type for node in from_torch(MnistNet().eval(), (1, 28, 28)).graph.nodes]
    assert {"dropout2d", "celu", "reflection_pad", "softplus", "log_softmax"} <= set(types)
