"""cnnspec.torch.modules: the modules PyTorch lacks, against the semantics they copy, and a network of all
the newer layer types built, verified, traced, compiled and exported."""
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.nn import functional as F

import cnnspec
from cnnspec.torch import modules
from cnnspec.torch.build import build_module, export_onnx
from cnnspec.torch.export import export_python
from cnnspec.torch.verify import verify

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::UserWarning")

MODERN = Path(__file__).parents[1] / "data" / "modern_layers.yaml"


def test_stochastic_depth_drops_whole_samples_in_training_only():
    drop = modules.StochasticDepth(0.3, "row")
    x = torch.rand(4000, 2, 3) + 1
    assert drop.eval()(x) is x  # inference: the input itself, as torchvision returns it
    out = drop.train()(x)
    kept = (out != 0).flatten(1)
    assert (kept.all(1) | ~kept.any(1)).all()  # each sample all kept or all dropped
    assert 0.65 < kept.all(1).float().mean() < 0.75
    torch.testing.assert_close(out[kept.all(1)], x[kept.all(1)] / 0.7)  # survivors scaled by 1 / (1 - p)
    batch = modules.StochasticDepth(0.5, "batch").train()
    assert all(torch.equal(o, x * 2) or not o.any() for o in (batch(x) for _ in range(20)))
    assert not modules.StochasticDepth(1.0).train()(x).any()
    assert torch.equal(modules.StochasticDepth(0.0).train()(x), x)


def test_channel_shuffle_is_nn_channel_shuffle():
    x = torch.randn(2, 12, 3, 5)
    for groups in (1, 2, 3, 4, 12):
        assert torch.equal(modules.ChannelShuffle(groups)(x), nn.ChannelShuffle(groups)(x))


def test_layer_norm2d_normalizes_each_positions_channels():
    norm = modules.LayerNorm2d(6, eps=1e-6)
    nn.init.normal_(norm.weight), nn.init.normal_(norm.bias)
    x = torch.randn(2, 6, 4, 5)
    mean, var = x.mean(1, keepdim=True), x.var(1, unbiased=False, keepdim=True)
    expected = (x - mean) / torch.sqrt(var + 1e-6) * norm.weight.view(1, 6, 1, 1) + norm.bias.view(1, 6, 1, 1)
    torch.testing.assert_close(norm(x), expected)
    assert list(norm.state_dict()) == ["weight", "bias"]  # torchvision's names


def test_layer_scale_and_the_views():
    scale = modules.LayerScale((6, 1, 1), 0.5)
    x = torch.randn(2, 6, 3, 4)
    torch.testing.assert_close(scale(x), x * 0.5)
    assert modules.Slice(1, 2, 5)(x).data_ptr() == x[:, 2:5].data_ptr()
    assert torch.equal(modules.Permute([0, 2, 3, 1])(x), x.permute(0, 2, 3, 1))
    assert torch.equal(modules.Reshape((3, 24))(x), x.reshape(2, 3, 24))


@pytest.fixture(scope="module")
def modern():
    return cnnspec.load(str(MODERN))


def test_every_newer_type_is_in_the_network(modern):
    used = {node.type for node in modern.nodes}
    assert {"hardsigmoid", "mish", "elu", "prelu", "hardtanh", "stochastic_depth", "slice", "channel_shuffle",
            "reshape", "permute", "linear", "layer_norm", "layer_norm2d", "group_norm", "layer_scale",
            "pixel_shuffle", "pixel_unshuffle"} <= used


def test_the_network_agrees_with_torch_and_fvcore(modern):
    result = verify(modern)
    assert result.ok, "\n".join(result.failures())


def test_the_network_traces_compiles_and_trains(modern):
    model = build_module(modern)
    x = model.example_input(3)
    for mode in (model.eval(), model.train()):
        torch.manual_seed(0)
        expected = mode(x)
        torch.manual_seed(0)
        torch.testing.assert_close(torch.fx.symbolic_trace(mode)(x), expected)
    model.train()(x).sum().backward()
    assert all(p.grad is not None for p in model.parameters())
    compiled = torch.compile(model.eval(), fullgraph=True, backend="aot_eager")
    torch.testing.assert_close(compiled(x), model(x), rtol=1e-5, atol=1e-6)


def test_the_network_exports_to_onnx_and_python(modern, tmp_path):
    import onnx
    from onnx.reference import ReferenceEvaluator
    model = build_module(modern).eval()
    export_onnx(model, tmp_path / "m.onnx")
    x = model.example_input(2)
    (found,) = ReferenceEvaluator(onnx.load(str(tmp_path / "m.onnx"))).run(None, {"input": x.numpy()})
    with torch.no_grad():
        expected = model(x)
    torch.testing.assert_close(torch.from_numpy(found), expected, rtol=1e-4, atol=1e-5)
    namespace = {}
    exec(compile(export_python(modern), "modern.py", "exec"), namespace)
    exported = namespace["Modern"]().eval()
    exported.load_state_dict(model.state_dict())
    torch.testing.assert_close(exported(x), expected)
