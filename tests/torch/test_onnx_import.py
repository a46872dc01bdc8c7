"""ONNX files read into specs (cnnspec/torch/onnx_import.py): the hand-written models exported with torch.onnx
(the TorchScript exporter) import to their published figures; every command takes a .onnx path."""
import subprocess
import sys
import warnings

import pytest
import torch
import yaml
from torch import nn
from torch.nn import functional as F
from typer.testing import CliRunner

import cnnspec
from cnnspec.cli import app
from cnnspec.torch.imported import UnsupportedModel
from cnnspec.torch.onnx_import import import_onnx, module_path
from tests.torch import handwritten
from tests.torch.test_build import blocking_env

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::UserWarning")
runner = CliRunner()


def export(model: nn.Module, shape, path, **options) -> str:
    """torch.onnx's TorchScript exporter (dynamo=False: the other needs onnxscript), batch axis dynamic."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model.eval(), (torch.randn(1, *shape),), str(path), dynamo=False,
                          **{"opset_version": 17, **options}, input_names=["input"],
                          dynamic_axes={"input": {0: "batch"}})
    return str(path)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """ResNet-50 and MobileNetV2 at 224 with their batch norms kept (do_constant_folding=False), and ResNet-50
    folded as torch.onnx writes it by default in eval mode."""
    folder = tmp_path_factory.mktemp("onnx")
    resnet = handwritten.resnet50()
    return {"resnet50": export(resnet, (3, 224, 224), folder / "resnet50.onnx", do_constant_folding=False),
            "mobilenet_v2": export(handwritten.mobilenet_v2(), (3, 224, 224), folder / "mobilenet_v2.onnx",
                                   do_constant_folding=False),
            "resnet50_folded": export(resnet, (3, 224, 224), folder / "resnet50_folded.onnx")}


@pytest.mark.parametrize("name, params, buffers, macs", [
    ("resnet50", 25_557_032, 53_173, 4_089_184_256),  # buffers: torchvision.json; 2C+1 per batch norm
    ("mobilenet_v2", 3_504_872, 34_164, 300_774_272),
])
def test_exported_models_import_to_their_published_figures(exported, name, params, buffers, macs):
    imported = import_onnx(exported[name])
    totals = cnnspec.analyze(imported.graph).totals
    assert (totals.params, totals.buffers, totals.macs) == (params, buffers, macs)
    assert imported.problems == [] and imported.notes == []


@pytest.mark.parametrize("name", ["lenet5", "mnist1d_cnn", "inception3a", "squeezenet1_1", "all_cnn_c"])
def test_a_spec_exported_by_cnnspec_build_imports_back_to_its_totals(name, tmp_path):
    """cnnspec's own exporter (`cnnspec build --onnx`): the same params, buffers, MACs, FLOPs and memory. (Its
    layers are called from the top, so torch.onnx names them by attribute, not path: names do not come back.)"""
    from cnnspec.torch.build import export_onnx
    graph = cnnspec.load(name)
    export_onnx(cnnspec.build(graph), tmp_path / "net.onnx")
    assert cnnspec.analyze(import_onnx(tmp_path / "net.onnx").graph).totals == cnnspec.analyze(graph).totals


@pytest.mark.slow
def test_vgg16_exported_imports_to_its_published_figures(tmp_path):
    """Slow (VGG16's export takes 15 s and 2.5 GB): `pytest -m slow`."""
    imported = import_onnx(export(handwritten.vgg16(), (3, 224, 224), tmp_path / "vgg16.onnx"))
    totals = cnnspec.analyze(imported.graph).totals
    assert (totals.params, totals.macs) == (138_357_544, 15_470_264_320)


def test_onnx_names_and_blocks_follow_the_modules(exported):
    spec = yaml.safe_load(import_onnx(exported["resnet50"]).text)
    (block,) = spec["blocks"].values()
    layers = {layer["name"]: layer for layer in block["layers"]}
    assert layers["downsample.0"]["when"] == "has_downsample" and layers["conv3"]["out_channels"] == "4 * out_channels"
    assert [(e["name"], e.get("repeat")) for e in spec["layers"]][4:8] == [("layer1", 3), ("layer2", 4), ("layer3", 6),
                                                                          ("layer4", 3)]
    assert spec["expect"] == {"source": "the ONNX file's initializers", "params": 25_557_032, "output": [1000]}


def test_the_same_model_imports_alike_from_torch_and_from_onnx(exported):
    """Layer for layer, by name, type and shape; only dropout is missing (torch.onnx drops it in eval mode)."""
    from_torch = cnnspec.from_torch(handwritten.mobilenet_v2(), (3, 224, 224)).graph
    from_onnx = import_onnx(exported["mobilenet_v2"]).graph
    assert [(n.name, n.type, n.out_shape) for n in from_onnx.nodes] == [
        (n.name, n.type, n.out_shape) for n in from_torch.nodes if n.type != "dropout"]


def test_a_folded_graph_says_what_it_lost(exported):
    """torch.onnx's default in eval mode folds each batch norm into the conv before it: the MACs stay exact,
    the params lose C per norm (53 norms: 26,560 channels) and the buffers all 53,173 values."""
    imported = import_onnx(exported["resnet50_folded"])
    totals = cnnspec.analyze(imported.graph).totals
    assert totals.macs == 4_089_184_256
    assert (totals.params, totals.buffers) == (25_557_032 - 26_560, 0)
    assert imported.notes[0].startswith("53 convolution(s) (conv1, layer1.0.conv1, layer1.0.conv2, ...) have a bias "
                                        "and weights the exporter computed")


class Small(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8, eps=1e-3, momentum=0.01)
        self.prelu = nn.PReLU(8)
        self.up = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)
        self.fc = nn.Linear(14, 5)

    def forward(self, x):
        y = self.prelu(F.hardsigmoid(self.bn(self.conv(x))))
        y = F.avg_pool2d(F.pad(self.up(y), (1, 1, 0, 2)), 3, stride=2, padding=1)
        y = F.leaky_relu(torch.cat([y, F.max_pool2d(y, 3, 1, 1)], 1), 0.2)[:, 2:]
        return self.fc(torch.flatten(y.mean((2, 3), keepdim=True), 1)).softmax(1)


def test_linear_on_the_last_axis_is_matmul_then_add(tmp_path):
    model = nn.Sequential(nn.Conv1d(3, 4, 1), nn.Linear(6, 7))
    graph = import_onnx(export(model, (3, 6), tmp_path / "linear.onnx", do_constant_folding=False)).graph
    assert [(n.name, n.type, n.out_shape) for n in graph.nodes[1:]] == [("0", "conv1d", (4, 6)), ("1", "linear", (4, 7))]
    assert graph["1"].layer.bias and cnnspec.analyze(graph).totals.params == 4 * 3 + 4 + 6 * 7 + 7


def test_operators_map_to_their_layer_types(tmp_path):
    model = Small()
    path = export(model, (3, 8, 8), tmp_path / "small.onnx", do_constant_folding=False)
    graph = import_onnx(path).graph
    assert [(node.type, node.out_shape) for node in graph.nodes[1:]] == [
        ("conv2d", (8, 8, 8)), ("batchnorm2d", (8, 8, 8)), ("hardsigmoid", (8, 8, 8)), ("prelu", (8, 8, 8)),
        ("upsample", (8, 16, 16)), ("zero_pad", (8, 18, 18)), ("avgpool2d", (8, 9, 9)), ("maxpool2d", (8, 9, 9)),
        ("concat", (16, 9, 9)), ("leaky_relu", (16, 9, 9)), ("slice", (14, 9, 9)), ("global_avg_pool", (14, 1, 1)),
        ("flatten", (14,)), ("linear", (5,)), ("softmax", (5,))]
    bn, pad, avg = graph["bn"].layer, graph.nodes[6].layer, graph.nodes[7].layer
    assert (bn.eps, bn.momentum) == (1e-3, 0.01) and pad.padding == [1, 1, 0, 2]
    assert (avg.kernel_size, avg.stride, avg.padding, avg.count_include_pad) == (3, 2, 1, True)
    assert graph["prelu"].layer.num_parameters == 8 and graph["up"].layer.mode == "bilinear"
    assert cnnspec.analyze(graph).totals.params == sum(p.numel() for p in model.parameters())


def test_splits_permutes_layer_norm_and_the_last_axis_read_as_from_torch(tmp_path):
    """The model of test_import's modern-layers test (its GroupNorm and ChannelShuffle left out: torch.onnx writes
    the one as InstanceNormalization and arithmetic, and cannot export the other), at opset 20 (Gelu is an op):
    the ONNX import equals the PyTorch import layer for layer."""
    model = handwritten.Modern()
    model.gn, model.shuffle = nn.Identity(), nn.Identity()
    path = tmp_path / "modern.onnx"
    export(model, (3, 4, 4), path, do_constant_folding=False, opset_version=20)
    from_onnx = import_onnx(path).graph
    from_torch = cnnspec.from_torch(model, (3, 4, 4)).graph
    assert [(n.type, n.out_shape) for n in from_onnx.nodes] == [
        (n.type, n.out_shape) for n in from_torch.nodes if n.type != "identity"]
    assert cnnspec.analyze(from_onnx).totals == cnnspec.analyze(from_torch).totals


def test_an_operator_without_a_layer_type_is_reported_by_node_name(tmp_path):
    class Cumulative(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3)

        def forward(self, x):
            return torch.cumsum(self.conv(x), dim=1).flatten(1)

    path = export(Cumulative(), (3, 8, 8), tmp_path / "cumsum.onnx")
    with pytest.raises(UnsupportedModel) as raised:
        import_onnx(path)
    (problem,) = raised.value.problems
    assert (problem.location, problem.what, problem.shape) == ("/CumSum", "ONNX CumSum", (4, 6, 6))
    kept = import_onnx(path, allow_unsupported=True)
    assert [n.type for n in kept.graph.nodes[1:]] == ["conv2d", "unsupported", "flatten"]
    assert cnnspec.analyze(kept.graph).totals.params == 4 * 27 + 4


def test_every_command_takes_an_onnx_file(exported, tmp_path):
    result = runner.invoke(app, ["analyze", exported["mobilenet_v2"], "--format", "json"], catch_exceptions=False)
    assert result.exit_code == 0
    assert '"params": 3504872' in result.stdout
    out = tmp_path / "net.yaml"
    assert runner.invoke(app, ["import", exported["mobilenet_v2"], "-o", str(out)]).exit_code == 0
    assert cnnspec.analyze(cnnspec.load(str(out))).totals.params == 3_504_872
    assert runner.invoke(app, ["check", str(out)]).exit_code == 0
    compared = runner.invoke(app, ["compare", exported["resnet50"], "resnet50"], catch_exceptions=False)
    assert compared.exit_code == 0 and "25,557,032" in compared.stdout


def test_an_onnx_file_with_open_sizes_needs_input(tmp_path):
    path = tmp_path / "open.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU()).eval(), (torch.randn(1, 3, 8, 8),), str(path),
                          dynamo=False, input_names=["input"], dynamic_axes={"input": {0: "n", 2: "h", 3: "w"}})
    with pytest.raises(cnnspec.SpecError, match="open sizes"):
        import_onnx(path)
    assert import_onnx(path, (3, 10, 12)).graph["1"].out_shape == (4, 8, 10)
    with pytest.raises(cnnspec.SpecError, match="does not fit the ONNX input"):
        import_onnx(path, (4, 10, 12))


def test_a_file_that_is_not_onnx_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    with pytest.raises(cnnspec.SpecError, match="cannot read .*bad.onnx as ONNX"):
        import_onnx(bad)
    with pytest.raises(cnnspec.SpecError, match="no ONNX file"):
        import_onnx(tmp_path / "missing.onnx")


def test_without_onnx_installed_the_command_says_what_to_install(exported, tmp_path):
    result = subprocess.run([sys.executable, "-m", "cnnspec", "analyze", exported["mobilenet_v2"]],
                            capture_output=True, text=True, env=blocking_env(tmp_path, "onnx"), timeout=120)
    assert result.returncode == 2
    assert result.stderr == (f"error: reading {exported['mobilenet_v2']} needs onnx, which is not installed: "
                             "pip install cnnspec[torch]\n")


def test_reading_onnx_needs_no_torch(exported, tmp_path):
    script = (f"import sys, cnnspec\nfrom cnnspec.torch.onnx_import import import_onnx\n"
              f"print(cnnspec.analyze(import_onnx({exported['mobilenet_v2']!r}).graph).totals.params)\n"
              "assert 'torch' not in sys.modules")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            env=blocking_env(tmp_path, "torch", "fvcore"), timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "3504872\n"


@pytest.mark.parametrize("name, path", [
    ("/layer1/layer1.0/conv1/Conv", "layer1.0.conv1"),
    ("/layer1/layer1.0/downsample/downsample.0/Conv", "layer1.0.downsample.0"),
    ("/features/features.1/conv/conv.0/conv.0.0/Conv", "features.1.conv.0.0"),
    ("/layer1/layer1.0/Add", "layer1.0"), ("/Flatten", ""), ("Conv_12", ""),
])
def test_node_names_give_module_paths(name, path):
    assert module_path(name)[0] == path

