"""cnnspec.torch.export: the standalone PyTorch source runs without cnnspec and matches cnnspec.build."""
import importlib.util
import json
import subprocess
import sys

import pytest
import torch
from torch import nn

import cnnspec
from cnnspec.torch.build import build_module, save_weights
from cnnspec.torch.export import class_name, constructor, export_python
from cnnspec.spec import builtin_specs
from tests.torch.test_build import BRANCHY, blocking_env, graph_of


def run_without_cnnspec(tmp_path, script: str) -> str:
    env = blocking_env(tmp_path, "cnnspec")
    result = subprocess.run([sys.executable, "-c", "import cnnspec"], env=env, capture_output=True, cwd=tmp_path)
    assert result.returncode == 1  # the blocker works: cnnspec is not importable there
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, cwd=tmp_path,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_exported_branchy_loads_cnnspecs_weights_and_computes_the_same(tmp_path):
    graph = graph_of(BRANCHY)
    (tmp_path / "branchy_model.py").write_text(export_python(graph))
    model = build_module(graph, seed=5, init="kaiming").eval()
    save_weights(model, tmp_path / "weights.pt")
    x = torch.randn(2, *graph.input_shape)
    torch.save({"x": x, "y": model(x)}, tmp_path / "io.pt")
    script = """
import json, torch
from branchy_model import Branchy
model = Branchy().eval()
model.load_state_dict(torch.load("weights.pt", weights_only=True))
io = torch.load("io.pt", weights_only=True)
out = model(io["x"])
same = all(torch.allclose(a, b, rtol=1e-5, atol=1e-6) for a, b in zip(out, io["y"]))
print(json.dumps({"params": sum(p.numel() for p in model.parameters()), "same": same,
                  "shapes": [list(o.shape) for o in out]}))
"""
    found = json.loads(run_without_cnnspec(tmp_path, script))
    assert found["params"] == sum(p.numel() for p in model.parameters())
    assert found["shapes"] == [[2, *graph[name].out_shape] for name in graph.outputs]
    assert found["same"]


def test_frozen_layers_stay_frozen_in_the_export(tmp_path):
    graph = graph_of("input: [3, 8, 8]\nlayers:\n  - {type: conv2d, out_channels: 4, kernel_size: 3, trainable: false}\n"
                     "  - {type: conv2d, out_channels: 2, kernel_size: 3}")
    namespace = {}
    exec(compile(export_python(graph), "exported.py", "exec"), namespace)
    exported = {name: p.requires_grad for name, p in namespace[class_name(graph.name)]().named_parameters()}
    assert exported == {name: p.requires_grad for name, p in build_module(graph).named_parameters()}
    assert list(exported.values()) == [False, False, True, True]


def test_names_that_are_not_identifiers_are_reached_by_index():
    graph = graph_of("name: odd\ninput: [3, 8, 8]\nlayers:\n  - {type: conv2d, out_channels: 4, kernel_size: 3, "
                     "name: conv-1}\n  - {type: relu, name: block.0}\n  - {type: flatten, name: class}")
    namespace = {}
    exec(compile(export_python(graph), "odd.py", "exec"), namespace)
    model = namespace["Odd"]()
    model.load_state_dict(build_module(graph).state_dict())
    x = torch.randn(2, 3, 8, 8)
    torch.testing.assert_close(model(x), build_module(graph)(x))


def test_exported_modules_are_the_built_ones(tmp_path):
    graph = graph_of(BRANCHY)
    path = tmp_path / "exported.py"
    path.write_text(export_python(graph))
    spec = importlib.util.spec_from_file_location("exported", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    built = build_module(graph)
    assert repr(module.Branchy()) == repr(built).replace("SpecModule", "Branchy", 1)


def test_every_builtin_spec_exports_a_model_of_its_size_and_shape(tmp_path):
    expected = {}
    for index, (name, path) in enumerate(sorted(builtin_specs().items())):
        graph = cnnspec.load(name)
        (tmp_path / f"model_{index}.py").write_text(export_python(graph))
        expected[f"model_{index}"] = {
            "class": class_name(graph.name), "input": list(graph.input_shape),
            "params": cnnspec.analyze(graph).totals.params,
            "shapes": [[1, *graph[o].out_shape] for o in graph.outputs]}
    script = f"""
import importlib, json, torch
found = {{}}
for module_name, want in {expected!r}.items():
    with torch.device("meta"):
        model = getattr(importlib.import_module(module_name), want["class"])().eval()
        out = model(torch.empty(1, *want["input"]))
    out = out if isinstance(out, tuple) else (out,)
    found[module_name] = {{**want, "params": sum(p.numel() for p in model.parameters()),
                          "shapes": [list(o.shape) for o in out]}}
print(json.dumps(found))
"""
    assert json.loads(run_without_cnnspec(tmp_path, script)) == expected


def test_source_reads_like_handwritten_pytorch():
    source = export_python(cnnspec.load("vgg16"))
    assert "class Vgg16(nn.Module):" in source
    assert "        self.block1.conv['0'].conv = nn.Conv2d(3, 64, 3, padding=1)" in source
    assert "        x = self.block1.pool(x)  # 64x112x112" in source
    assert "import cnnspec" not in source and "from cnnspec" not in source
    compile(source, "vgg16.py", "exec")


def test_values_that_must_live_get_their_own_variable():
    lines = export_python(graph_of(BRANCHY)).splitlines()
    assert "        x1 = self.stage['0'].conv(x)  # 8x10x9" in lines
    assert "        x = self.stage['0'].add(x1, x)  # 8x10x9" in lines
    assert lines[lines.index("        x = self.aux(x)  # 3") + 1] == "        return (x1, x)"


@pytest.mark.parametrize("module, text", [
    (nn.Conv2d(3, 8, (3, 3), stride=(2, 2), bias=False), "nn.Conv2d(3, 8, 3, stride=2, bias=False)"),
    (nn.Conv1d(4, 3, 4, padding="same"), "nn.Conv1d(4, 3, 4, padding='same')"),
    (nn.MaxPool2d(3, 2, ceil_mode=True), "nn.MaxPool2d(3, stride=2, ceil_mode=True)"),
    (nn.BatchNorm2d(16, affine=False), "nn.BatchNorm2d(16, affine=False)"),
    (nn.ZeroPad2d((1, 0, 2, 3)), "nn.ZeroPad2d((1, 0, 2, 3))"),
    (nn.Identity(), "nn.Identity()"),
    (nn.Hardtanh(-2.0, 2.0), "nn.Hardtanh(min_val=-2.0, max_val=2.0)"),  # not its deprecated min_value
    (nn.LayerNorm(96, eps=1e-6, bias=False), "nn.LayerNorm(96, eps=1e-06, bias=False)"),
])
def test_constructor_calls(module, text):
    assert constructor(module) == text


@pytest.mark.parametrize("name, expected", [("vgg16", "Vgg16"), ("resnet-50", "Resnet50"), ("3d_unet", "Model3dUnet"),
                                            ("", "Model")])
def test_class_names(name, expected):
    assert class_name(name) == expected
