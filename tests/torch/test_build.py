"""cnnspec.build: names, forward passes, meta device, fx, compile, channels_last, dtypes, init, saving."""
import os
import subprocess
import sys
import textwrap

import pytest
import torch
import yaml

import cnnspec
from cnnspec.torch.build import SCHEMES, build_module, export_onnx, load_weights, save_weights
from cnnspec.graph import build_graph
from cnnspec.layers import LAYERS
from cnnspec.layers.activation import Activation, InplaceActivation
from cnnspec.spec import INIT_SCHEMES, builtin_specs, parse_spec
from tests.test_contract import CASES as CONTRACT_CASES

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::UserWarning")

# Blocks with numbered instances, a residual, a gate, a U-Net style crop and concat, a locally
# connected layer and two outputs: the shapes of graph a built model must follow.
BRANCHY = """
name: branchy
input: [3, 21, 19]
blocks:
  residual:
    args: {c: required}
    layers:
      - {type: conv2d, out_channels: c, kernel_size: 3, padding: 1, bias: false, name: conv}
      - {type: batchnorm2d, name: bn}
      - {type: relu, name: relu}
      - {type: add, inputs: [relu, input], name: add}
layers:
  - {type: conv2d, out_channels: 8, kernel_size: 3, stride: 2, name: stem}
  - {type: residual, c: 8, repeat: 2, name: stage}
  - {type: global_avg_pool, keepdim: true, name: squeeze}
  - {type: conv2d, out_channels: 8, kernel_size: 1, name: excite}
  - {type: sigmoid, name: gate}
  - {type: multiply, inputs: [stage, gate], name: scaled}
  - {type: maxpool2d, kernel_size: 2, ceil_mode: true, name: down}
  - {type: conv_transpose2d, out_channels: 4, kernel_size: 2, stride: 2, name: up}
  - {type: center_crop, inputs: [up, scaled], name: crop}
  - {type: concat, inputs: [scaled, crop], name: skip}
  - {type: locally_connected2d, out_channels: 3, kernel_size: 3, stride: 2, name: local}
  - {type: leaky_relu, name: act}
  - {type: zero_pad, padding: [1, 0, 0, 1], name: pad}
  - {type: upsample, scale_factor: 2, mode: bilinear, name: resize}
  - {type: flatten, name: flat}
  - {type: dropout, p: 0.1, name: drop}
  - {type: linear, out_features: 5, name: head}
  - {type: adaptive_avg_pool2d, output_size: [5, 3], inputs: skip, name: side_pool}
  - {type: flatten, name: side_flat}
  - {type: linear, out_features: 3, name: aux}
outputs: [head, aux]
"""


def graph_of(text: str, path: str = "test.yaml"):
    return build_graph(parse_spec(text, path))


@pytest.fixture(scope="module")
def branchy():
    return graph_of(BRANCHY)


def test_submodules_carry_the_spec_names(branchy):
    model = build_module(branchy)
    for node in branchy.nodes[1:]:
        assert model.get_submodule(node.name) is not None
    assert "stage.0.conv.weight" in model.state_dict()
    assert "stage.1.bn.running_mean" in model.state_dict()
    assert isinstance(model.stage["1"].conv, torch.nn.Conv2d)


def test_forward_gives_every_output_at_the_analyzed_shape(branchy):
    model = build_module(branchy).eval()
    head, aux = model(torch.randn(3, *branchy.input_shape))
    assert head.shape == (3, *branchy["head"].out_shape)
    assert aux.shape == (3, *branchy["aux"].out_shape)


ACTIVATIONS = sorted({cls.type_name for cls in LAYERS.values() if issubclass(cls, Activation)})
IN_PLACE = sorted({cls.type_name for cls in LAYERS.values() if issubclass(cls, InplaceActivation)})


@pytest.mark.parametrize("first", ACTIVATIONS)
def test_in_place_after_any_activation_still_trains(first):
    # tanh -> relu: tanh's backward reads its output, so the ReLU must not overwrite it (nor through a view);
    # every activation that can is asked to run in place (an in-place ELU's backward reads its output too)
    first = f"{{type: {first}, inplace: true}}" if first in IN_PLACE else first
    for between in ["", "  - flatten\n"]:
        for second in IN_PLACE:
            graph = graph_of(f"input: [3, 4, 4]\nlayers:\n  - {{type: conv2d, out_channels: 2, kernel_size: 1}}\n"
                             f"  - {first}\n{between}  - {{type: {second}, inplace: true}}\n")
            model = build_module(graph).train()
            model(torch.randn(2, 3, 4, 4)).sum().backward()
            assert model.get_submodule(graph.nodes[-1].name).inplace == graph.nodes[-1].layer.inplace
    saved = graph_of(f"input: [3, 4, 4]\nlayers:\n  - conv2d: {{out_channels: 2, kernel_size: 1}}\n  - {first}\n"
                     "  - relu\n")
    producer = saved.nodes[-2]
    assert saved.nodes[-1].layer.inplace is not producer.layer.saves_output(producer.in_shapes, producer.out_shape)


@pytest.mark.parametrize("type_name, inputs, arguments", [
    pytest.param(name, inputs, arguments, id=f"{name}-{index}") for name, cases in CONTRACT_CASES.items()
    for index, (inputs, arguments) in enumerate(cases) if not isinstance(inputs, list)])
def test_in_place_relu_after_any_layer_trains_and_overwrites_nothing_read_elsewhere(type_name, inputs, arguments):
    # global_max_pool once used amax, whose backward reads its output: the ReLU after it broke backward
    spec = {"input": list(inputs), "outputs": ["relu", "kept"],
            "layers": [{"type": "identity", "name": "kept"}, {"type": type_name, **arguments, "name": "layer"},
                       {"type": "relu", "name": "relu"}]}
    model = build_module(build_graph(parse_spec(yaml.safe_dump(spec), "test.yaml"))).train()
    x = torch.randn(2, *inputs, requires_grad=True)
    original = x.detach().clone()
    relu, kept = model(x)
    (relu.sum() + kept.sum()).backward()
    assert torch.equal(kept.detach(), original) and torch.equal(x.detach(), original)


def smallest_input(name: str):
    """The spec at 1/8, 1/4 or 1/2 of its input size where it allows one, else as written: keeps the
    suite fast (test_verify runs every spec at its own size)."""
    shape = cnnspec.load(name).input_shape
    for divisor in (8, 4, 2, 1):
        try:
            return cnnspec.load(name, (shape[0], *(max(1, size // divisor) for size in shape[1:])))
        except cnnspec.SpecError:
            continue


@pytest.mark.parametrize("name", sorted(builtin_specs()))
def test_every_builtin_spec_runs_on_cpu(name):
    graph = smallest_input(name)
    model = build_module(graph).eval()
    with torch.no_grad():
        out = model(model.example_input(batch=1))
    outputs = out if isinstance(out, tuple) else (out,)
    assert [tuple(o.shape[1:]) for o in outputs] == [graph[n].out_shape for n in graph.outputs]
    assert all(torch.isfinite(o).all() for o in outputs)


@pytest.mark.parametrize("name, owner", [("train", "nn.Module"), ("stage.eval", "nn.Module"),
                                         ("example_input", "cnnspec's SpecModule")])
def test_a_layer_name_torch_already_uses_is_a_located_error(name, owner):
    graph = graph_of(f"input: [3, 8, 8]\nlayers:\n  - {{type: conv2d, out_channels: 4, kernel_size: 3, name: {name}}}")
    with pytest.raises(cnnspec.SpecError) as error:
        build_module(graph)
    leaf = name.split(".")[-1]
    assert str(error.value) == (f"test.yaml:3:5: layer '{name}': '{leaf}' cannot name a PyTorch submodule: "
                                f"it is {owner}.{leaf}; rename the layer")


def test_meta_build_of_vgg16_allocates_no_weights():
    model = cnnspec.build("vgg16", device="meta")
    tensors = list(model.parameters()) + list(model.buffers())
    assert all(t.device.type == "meta" for t in tensors)
    assert sum(p.numel() for p in model.parameters()) == cnnspec.analyze(cnnspec.load("vgg16")).totals.params


def test_summary_counts_the_specs_layers_not_block_containers():
    from cnnspec.torch.build import describe
    # ResNet-18: stem conv, bn, relu, pool; 8 blocks of conv, bn, relu, conv, bn, add, relu; 3 projections of
    # conv and bn; avgpool, flatten, fc: 4 + 56 + 6 + 3
    summary = describe(cnnspec.build("resnet18", device="meta"))
    assert "11,689,512 params (11,689,512 trainable); 69 layers; meta, float32" in summary


def test_package_build_works_after_importing_the_torch_side():
    import cnnspec.torch.build  # noqa: F401  (a module cnnspec.build once shadowed the function)
    assert isinstance(cnnspec.build("vgg16", device="meta"), torch.nn.Module)


def test_fx_symbolic_trace_gives_the_same_outputs(branchy):
    model = build_module(branchy).eval()
    traced = torch.fx.symbolic_trace(model)
    x = torch.randn(2, *branchy.input_shape)
    for a, b in zip(model(x), traced(x)):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("name", sorted(builtin_specs()))
def test_every_builtin_spec_traces_with_fx_calling_each_layer_once(name):
    graph = cnnspec.load(name)
    model = build_module(graph, device="meta")
    traced = torch.fx.symbolic_trace(model)
    called = [node.target for node in traced.graph.nodes if node.op == "call_module"]
    # fx keeps torch.nn's modules as calls and traces through cnnspec's own (add, concat ...)
    assert called == [node.name for node in graph.nodes[1:]
                      if type(model.get_submodule(node.name)).__module__.startswith("torch.nn")]


def test_compiles_without_graph_breaks(branchy):
    model = build_module(branchy).eval()
    compiled = torch.compile(model, fullgraph=True, backend="aot_eager")
    x = torch.randn(2, *branchy.input_shape)
    with torch.no_grad():
        for a, b in zip(model(x), compiled(x)):
            torch.testing.assert_close(a, b)


def test_channels_last_gives_the_same_outputs(branchy):
    model = build_module(branchy).eval()
    x = torch.randn(2, *branchy.input_shape)
    expected = model(x)
    model = model.to(memory_format=torch.channels_last)
    for a, b in zip(expected, model(x.to(memory_format=torch.channels_last))):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("dtype", [torch.float64, torch.bfloat16, torch.float16])
def test_any_floating_dtype(branchy, dtype):
    model = build_module(branchy, dtype=dtype).eval()
    assert {p.dtype for p in model.parameters()} == {dtype}
    head, aux = model(model.example_input(2))
    assert head.dtype == dtype and aux.shape == (2, 3)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_build_has_the_cpu_weights(branchy):
    cpu = build_module(branchy, seed=3)
    cuda = build_module(branchy, seed=3, device="cuda").eval()
    for key, value in cpu.state_dict().items():
        torch.testing.assert_close(cuda.state_dict()[key].cpu(), value)
    x = cuda.example_input(2)
    with torch.no_grad():
        head, aux = cuda(x)
        assert head.device.type == "cuda" and head.shape == (2, 5)
        compiled = torch.compile(cuda.to(memory_format=torch.channels_last))  # inductor: Triton kernels
        for a, b in zip(compiled(x.to(memory_format=torch.channels_last)), (head, aux)):
            torch.testing.assert_close(a, b, rtol=1e-2, atol=1e-3)


def relative_error(found: torch.Tensor, expected: torch.Tensor) -> float:
    return ((found.float().cpu() - expected).norm() / expected.norm().clamp_min(1e-12)).item()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
@pytest.mark.parametrize("name", sorted(builtin_specs()))
def test_every_builtin_spec_on_cuda_computes_what_the_cpu_computes(name, monkeypatch):
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", False)
    monkeypatch.setattr(torch.backends.cuda.matmul, "allow_tf32", False)
    graph = cnnspec.load(name)
    cpu = build_module(graph, seed=1).eval()
    x = cpu.example_input(2)
    with torch.no_grad():
        expected = cpu(x)
        expected = expected if isinstance(expected, tuple) else (expected,)
        four_d = x.dim() == 4
        layout = torch.channels_last if four_d else torch.contiguous_format
        cuda = build_module(graph, seed=1, device="cuda").eval().to(memory_format=layout)
        found = cuda(x.cuda().to(memory_format=layout))
        half = build_module(graph, seed=1, device="cuda", dtype=torch.bfloat16).eval()(x.cuda().bfloat16())
    found = found if isinstance(found, tuple) else (found,)
    half = half if isinstance(half, tuple) else (half,)
    for a, b, c in zip(found, expected, half):
        assert a.device.type == "cuda" and a.shape == b.shape == c.shape
        assert relative_error(a, b) < 1e-4, name
        assert c.dtype == torch.bfloat16 and torch.isfinite(c).all()


# --- initialization ---------------------------------------------------------------------------

def test_same_seed_same_weights_and_the_callers_random_state_is_kept(branchy):
    before = torch.random.get_rng_state()
    a, b = build_module(branchy, seed=7).state_dict(), build_module(branchy, seed=7).state_dict()
    assert torch.equal(torch.random.get_rng_state(), before)
    assert all(torch.equal(a[key], b[key]) for key in a)
    c = build_module(branchy, seed=8).state_dict()
    assert not torch.equal(a["stem.weight"], c["stem.weight"])


def test_schemes_are_the_ones_a_spec_may_name():
    assert set(SCHEMES) == set(INIT_SCHEMES)


def test_kaiming_draws_he_normal_with_fan_out_and_zero_bias():
    graph = graph_of("input: [64, 12, 12]\ninit: kaiming\nlayers:\n"
                     "  - {type: conv2d, out_channels: 256, kernel_size: 3, name: conv}\n"
                     "  - {type: locally_connected2d, out_channels: 64, kernel_size: 3, stride: 3, name: local}")
    model = build_module(graph)
    fan_out = 256 * 3 * 3
    assert model.conv.weight.std().item() == pytest.approx((2 / fan_out) ** 0.5, rel=0.02)
    assert torch.count_nonzero(model.conv.bias) == 0
    # each position's filter bank is initialized as the convolution it stands for: fan-out 64 x 3 x 3
    assert model.local.weight.std().item() == pytest.approx((2 / (64 * 9)) ** 0.5, rel=0.02)
    assert torch.count_nonzero(model.local.bias) == 0


def test_xavier_bound_from_the_option():
    graph = graph_of("input: [300]\nlayers:\n  - {type: linear, out_features: 200, name: fc}")
    weight = build_module(graph, init="xavier").fc.weight
    bound = (6 / (300 + 200)) ** 0.5
    assert weight.abs().max().item() <= bound and weight.abs().max().item() > 0.99 * bound


def test_default_init_is_pytorchs():
    graph = graph_of("input: [300]\nlayers:\n  - {type: linear, out_features: 200, name: fc}")
    torch.manual_seed(0)
    expected = torch.nn.Linear(300, 200).weight
    torch.testing.assert_close(build_module(graph, seed=0).fc.weight, expected)


def test_unknown_init_in_a_spec_is_a_located_error():
    with pytest.raises(cnnspec.SpecError) as error:
        graph_of("input: [3]\ninit: kaiming_unifrom\nlayers: [relu]")
    assert str(error.value).startswith("test.yaml:2:7: unknown init 'kaiming_unifrom' (did you mean 'kaiming_uniform'?)")


# --- saving and exporting ---------------------------------------------------------------------

@pytest.mark.parametrize("suffix", [".pt", ".safetensors"])
def test_weights_round_trip(branchy, tmp_path, suffix):
    path = tmp_path / f"model{suffix}"
    saved = build_module(branchy, seed=1)
    save_weights(saved, path)
    loaded = build_module(branchy, seed=2)
    load_weights(loaded, path)
    assert all(torch.equal(value, loaded.state_dict()[key]) for key, value in saved.state_dict().items())
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary file left behind


def test_safetensors_file_is_safetensors(branchy, tmp_path):
    from safetensors import safe_open
    save_weights(build_module(branchy), tmp_path / "m.safetensors")
    with safe_open(str(tmp_path / "m.safetensors"), "pt") as handle:
        assert "stage.0.conv.weight" in handle.keys()


def test_onnx_export_checks_and_computes_what_torch_computes(branchy, tmp_path):
    import onnx
    from onnx.reference import ReferenceEvaluator
    model = build_module(branchy).eval()
    how = export_onnx(model, tmp_path / "m.onnx")
    proto = onnx.load(str(tmp_path / "m.onnx"))
    onnx.checker.check_model(proto)
    assert [o.name for o in proto.graph.output] == ["head", "aux"] and how == "batch dynamic"
    x = torch.randn(2, *branchy.input_shape)
    head, aux = ReferenceEvaluator(proto).run(None, {"input": x.numpy()})
    expected = model(x)
    torch.testing.assert_close(torch.from_numpy(head), expected[0], rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(torch.from_numpy(aux), expected[1], rtol=1e-4, atol=1e-5)


SMALL_BUILTINS = sorted(name for name in builtin_specs() if cnnspec.analyze(cnnspec.load(name)).totals.macs < 50e6)


@pytest.mark.parametrize("name", SMALL_BUILTINS)
def test_small_builtin_specs_in_onnx_compute_what_torch_computes(name, tmp_path):
    import onnx
    from onnx.reference import ReferenceEvaluator
    model = build_module(cnnspec.load(name)).eval()
    assert export_onnx(model, tmp_path / "m.onnx") == "batch dynamic"
    x = model.example_input(3)
    found = ReferenceEvaluator(onnx.load(str(tmp_path / "m.onnx"))).run(None, {"input": x.numpy()})
    with torch.no_grad():
        expected = model(x)
    for a, b in zip(found, expected if isinstance(expected, tuple) else (expected,)):
        torch.testing.assert_close(torch.from_numpy(a), b, rtol=1e-4, atol=1e-5)


def test_onnx_export_fixes_the_batch_where_shapes_would_be_lost(tmp_path):
    graph = graph_of("input: [2, 6, 6]\nlayers:\n"
                     "  - {type: locally_connected2d, out_channels: 2, kernel_size: 1}\n"
                     "  - {type: conv_transpose2d, out_channels: 2, kernel_size: 2, stride: 2}\n"
                     "  - {type: adaptive_avg_pool2d, output_size: 3}")
    assert export_onnx(build_module(graph), tmp_path / "m.onnx") == "batch 1"


# --- the command line -------------------------------------------------------------------------

def run_cli(*arguments, env=None, cwd=None):
    return subprocess.run([sys.executable, "-m", "cnnspec", *arguments], capture_output=True, text=True, env=env,
                          cwd=cwd, timeout=120)


def test_build_command_saves_exports_and_summarizes(tmp_path):
    spec = tmp_path / "branchy.yaml"
    spec.write_text(BRANCHY)
    result = run_cli("build", str(spec), "--out", str(tmp_path / "w.safetensors"), "--onnx", str(tmp_path / "m.onnx"),
                     "--python", str(tmp_path / "m.py"), "--init", "kaiming", "--seed", "4")
    assert result.returncode == 0, result.stderr
    params = cnnspec.analyze(cnnspec.load(str(spec))).totals.params
    assert f"branchy: input [N, 3, 21, 19] -> head, aux; {params:,} params" in result.stdout
    model = build_module(cnnspec.load(str(spec)), init="kaiming", seed=4)
    loaded = build_module(cnnspec.load(str(spec)))
    load_weights(loaded, tmp_path / "w.safetensors")
    assert all(torch.equal(v, loaded.state_dict()[k]) for k, v in model.state_dict().items())
    assert (tmp_path / "m.onnx").stat().st_size > 0 and "class Branchy(nn.Module)" in (tmp_path / "m.py").read_text()


def test_build_command_bad_init_is_a_usage_error():
    result = run_cli("build", "vgg16", "--init", "nope")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "unknown init scheme 'nope'" in result.stderr


# --- without torch ----------------------------------------------------------------------------

def blocking_env(tmp_path, *packages: str) -> dict:
    """An environment whose Python cannot import ``packages``: a sitecustomize installs a finder
    that raises ModuleNotFoundError for them, as if they were not installed."""
    site = tmp_path / "site"
    site.mkdir(exist_ok=True)
    (site / "sitecustomize.py").write_text(textwrap.dedent(f"""
        import sys
        BLOCKED = {packages!r}
        class Blocker:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in BLOCKED:
                    raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
                return None
        sys.meta_path.insert(0, Blocker())
    """))
    return {**os.environ, "PYTHONPATH": str(site)}


@pytest.mark.parametrize("command, missing", [(["build", "vgg16"], "torch"), (["verify", "vgg16"], "torch"),
                                              (["verify", "vgg16"], "fvcore"),
                                              (["build", "vgg16", "--onnx", "m.onnx"], "onnx")])
def test_torch_commands_without_torch_say_how_to_install_it(tmp_path, command, missing):
    env = blocking_env(tmp_path, missing)
    assert subprocess.run([sys.executable, "-c", f"import {missing}"], env=env, capture_output=True).returncode == 1
    result = run_cli(*command, env=env, cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"`cnnspec {command[0]}` needs {missing}, which is not installed: pip install cnnspec[torch]" in result.stderr


def test_analyze_works_without_torch_and_never_imports_it(tmp_path):
    result = run_cli("analyze", "vgg16", env=blocking_env(tmp_path, "torch"))
    assert result.returncode == 0 and "138,357,544" in result.stdout
    script = ("import sys\nfrom cnnspec.cli import app\n"
              "try:\n    app(['analyze', 'vgg16'])\nexcept SystemExit as exit:\n    assert exit.code in (0, None)\n"
              "assert 'torch' not in sys.modules, 'analyze imported torch'\nprint('no torch')")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.stdout.strip().endswith("no torch"), result.stderr


def test_python_api_without_torch_says_how_to_install_it(tmp_path):
    script = "import cnnspec\ntry:\n    cnnspec.build('vgg16')\nexcept ModuleNotFoundError as e:\n    print(e)"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            env=blocking_env(tmp_path, "torch"), timeout=60)
    assert result.stdout.strip() == "cnnspec.build needs PyTorch: pip install cnnspec[torch]", result.stderr


HUGE = "input: [3, 8, 8]\nlayers:\n" + "  - {type: conv2d, out_channels: 600000, kernel_size: 3}\n" * 2


@pytest.mark.parametrize("command", ["build", "verify"])
def test_a_model_too_large_to_allocate_is_a_located_error(tmp_path, command):
    spec = tmp_path / "huge.yaml"
    spec.write_text(HUGE)
    result = run_cli(command, str(spec))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    # 3x3x3x600,000 + 600,000 and 3x3x600,000x600,000 + 600,000 parameters, 4 bytes each
    assert (f"error: {spec}:1:8: cannot build it: its 3,240,017,400,000 parameters and 0 buffers take 12.96 TB "
            "in float32, and allocating them failed") in result.stderr


def test_a_merge_may_read_the_same_tensor_twice():
    spec = ("input: [2, 4, 4]\nlayers:\n  - {type: conv2d, out_channels: 3, kernel_size: 1, name: a}\n"
            "  - {type: concat, inputs: [a, a]}\n  - {type: add, inputs: [a, a], name: doubled}\n"
            "outputs: [concat1, doubled]\n")
    graph = build_graph(cnnspec.parse_spec(spec, "twice.yaml"))
    model = cnnspec.build(graph)
    x = torch.randn(1, 2, 4, 4)
    joined, doubled = model(x)
    a = model.a(x)
    assert torch.equal(joined, torch.cat([a, a], 1)) and torch.equal(doubled, a + a)


def test_an_output_too_large_for_a_torch_tensor_is_a_located_error():
    spec = "input: [3, 100000000000, 100000000000]\nlayers:\n  - {type: conv2d, out_channels: 4, kernel_size: 3}\n"
    with pytest.raises(cnnspec.SpecError, match=r"layer 'input': its output has 30,000,000,000,000,000,000,000 "
                                                r"values per image, more than a PyTorch tensor can hold") as caught:
        cnnspec.build(build_graph(cnnspec.parse_spec(spec, "wide.yaml")), device="meta")
    assert str(caught.value.loc) == "wide.yaml:1:8"


def test_blocks_nested_as_deep_as_the_language_allows_build_run_and_export():
    from cnnspec.spec import MAX_BLOCK_DEPTH
    from cnnspec.torch.export import export_python
    from tests.test_spec import nested_blocks
    graph = build_graph(cnnspec.parse_spec(nested_blocks(MAX_BLOCK_DEPTH), "deep.yaml"))
    model = build_module(graph)
    assert model(torch.zeros(1, 3, 8, 8)).shape == (1, 3, 8, 8)
    assert len(list(model.named_modules())) > MAX_BLOCK_DEPTH and "class" in export_python(graph)
