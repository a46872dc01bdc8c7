"""cnnspec.torch.verify: the analyzer against PyTorch and fvcore, on the built-in specs and on random ones."""
import math

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import cnnspec
from cnnspec.cli import app
from cnnspec.graph import build_graph
from cnnspec.layers import LAYERS
from cnnspec.layers.linear import Linear
from cnnspec.shape import ArgumentError
from cnnspec.spec import builtin_specs, parse_spec
from cnnspec.torch.verify import verify

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::UserWarning")


@pytest.mark.parametrize("name", sorted(builtin_specs()))
def test_every_builtin_spec_agrees_with_torch(name):
    result = verify(cnnspec.load(name))
    assert result.ok, "\n".join(result.failures())
    assert result.params.spec == result.params.torch > 0


ZOO_DESIGNS = ["resnet18", "resnext50_32x4d", "wide_resnet50_2", "vgg11_bn", "densenet161", "squeezenet1_1",
               "mobilenet_v3_small", "mnasnet0_5", "shufflenet_v2_x0_5", "efficientnet_b1", "efficientnet_v2_s",
               "regnet_x_400mf"]
"""Variants of the family specs whose layers differ from their family's default (verified above): basic
blocks, groups, widths, batch norm, other tables, fused blocks, no squeeze-excitation. tests/test_zoo.py
checks every variant's totals against PyTorch on the meta device."""


@pytest.mark.parametrize("name", ZOO_DESIGNS)
def test_every_design_of_the_zoo_agrees_with_torch_layer_by_layer(name):
    """At 1/8 or 1/4 of the input side, the smaller that the network takes (fvcore traces real tensors; the
    per-layer agreement does not depend on the size)."""
    shape = cnnspec.load(name).input_shape
    for divisor in (8, 4):
        try:
            graph = cnnspec.load(name, (shape[0], *(size // divisor for size in shape[1:])))
            break
        except cnnspec.SpecError:
            continue
    result = verify(graph)
    assert result.ok, "\n".join(result.failures())


def test_verify_command_prints_a_verdict_and_the_table_under_details():
    verdict = ("vgg16: analyzer and PyTorch agree: 39 output shapes, 138,357,544 params, 0 buffer values, "
               "15,470,264,320 MACs")
    result = CliRunner().invoke(app, ["verify", "vgg16"])
    assert result.exit_code == 0, result.output
    assert result.output == verdict + "\n", "agreement: the verdict alone"
    result = CliRunner().invoke(app, ["verify", "vgg16", "--details"])
    assert result.output.startswith(verdict + "\n") and len(result.output.splitlines()) > 39
    fc6 = next(line for line in result.output.splitlines() if "fc6" in line)
    assert fc6.count("102,764,544") == 2 and fc6.count("102,760,448") == 2 and fc6.rstrip("│ ").endswith("ok")


@pytest.mark.parametrize("name, size", [("alexnet", 320), ("vgg11", 64)])
def test_adaptive_pooling_heads_agree_with_torch_at_other_sizes(name, size):
    # AlexNet's 9x9 map pooled to 6x6 (unequal windows), VGG-11's 2x2 map spread to 7x7
    result = verify(cnnspec.load(name, (3, size, size)))
    assert result.ok, "\n".join(result.failures())
    assert any(layer.name == "avgpool" for layer in result.layers)


SMALL = """
name: small
input: [3, 12, 12]
layers:
  - {type: conv2d, out_channels: 4, kernel_size: 3, name: conv}
  - {type: batchnorm2d, name: bn}
  - {type: upsample, scale_factor: 2, mode: bilinear, name: up}
  - {type: flatten, name: flat}
  - {type: linear, out_features: 3, name: fc}
"""


def test_fvcore_conventions_are_reported_not_failed():
    result = verify(build_graph(parse_spec(SMALL, "small.yaml")))
    assert result.ok
    layers = {layer.name: layer for layer in result.layers}
    assert layers["bn"].other_ops == {"batch_norm": 2 * 4 * 10 * 10}  # fvcore, inference: scale and shift
    assert "upsample_bilinear2d" in layers["up"].other_ops and layers["up"].macs.spec == 0
    assert layers["conv"].other_ops == {} and layers["conv"].macs.torch == 4 * 10 * 10 * 27


def test_a_wrong_figure_fails_naming_the_layer(monkeypatch, tmp_path):
    # an analyzer bug, injected: linear forgets its bias
    monkeypatch.setattr(Linear, "params", lambda self, inputs: inputs[0][0] * self.out_features)
    spec = tmp_path / "small.yaml"
    spec.write_text(SMALL)
    result = verify(cnnspec.load(str(spec)))
    assert not result.ok
    assert result.failures() == ["layer 'fc': params 4,800 (spec) vs 4,803 (torch)",
                                 "total params: 4,920 (spec) vs 4,923 (torch)"]
    outcome = CliRunner().invoke(app, ["verify", str(spec)])
    assert outcome.exit_code == 1
    assert "small: disagreement at layer 'fc': params 4,800 (spec) vs 4,803 (torch)" in outcome.output
    shown = [line.split("│")[1].strip() for line in outcome.stdout.splitlines() if line.startswith("│")]
    assert shown == ["fc", "total"], "only the disagreeing layers, then the totals"


AVGPOOL3D = "input: [1, 2, 2, 2]\nlayers:\n  - {type: avgpool3d, kernel_size: 3, stride: 1, padding: 1, name: pool}\n"


def test_avgpool3d_needs_inputs_as_large_as_its_kernel_as_torch_does():
    # found by test_random_specs_agree_with_torch: torch's avg_pool3d (alone among the pools) refuses
    # an input smaller than the kernel even where padding makes the output size positive
    with pytest.raises(cnnspec.SpecError, match="3D average pooling needs every input size at least the kernel"):
        build_graph(parse_spec(AVGPOOL3D, "pool.yaml"))


def test_a_layer_torch_refuses_fails_naming_it(monkeypatch):
    from cnnspec.layers.pool import PoolNd
    monkeypatch.setattr(LAYERS["avgpool3d"], "out_shape", PoolNd.out_shape)  # the check above, removed
    result = verify(build_graph(parse_spec(AVGPOOL3D, "pool.yaml")))
    assert not result.ok
    assert result.failures() == ["layer 'pool': PyTorch refuses it: input image (T: 2 H: 2 W: 2) smaller than "
                                 "kernel size (kT: 3 kH: 3 kW: 3)"]


# --- random specs -----------------------------------------------------------------------------

MAX_VALUES = 6000  # per tensor; keeps fvcore's traced forward passes fast


def conv_arguments(draw, channels: int, transposed: bool = False) -> dict:
    kernel = draw(st.integers(1, 4))
    stride = draw(st.integers(1, 3))
    dilation = draw(st.integers(1, 2))
    groups = draw(st.sampled_from([g for g in (1, 2, 3, channels) if channels % g == 0]))
    arguments = {"out_channels": groups * draw(st.integers(1, 3)), "kernel_size": kernel, "stride": stride,
                 "dilation": dilation, "groups": groups, "bias": draw(st.booleans())}
    if transposed:
        arguments["padding"] = draw(st.integers(0, kernel // 2))
        arguments["output_padding"] = draw(st.integers(0, max(stride, dilation) - 1))
    elif stride == 1 and draw(st.booleans()):
        arguments["padding"] = "same"
    else:
        arguments["padding"] = draw(st.integers(0, kernel // 2))
    return arguments


def spatial_layer(draw, shape) -> dict:
    """A layer for a [C, *spatial] input; its arguments may still be invalid (then it is skipped)."""
    channels, ndim = shape[0], len(shape) - 1
    kind = draw(st.sampled_from(["conv", "conv", "conv_transpose", "local", "maxpool", "avgpool", "adaptive",
                                 "batchnorm", "lrn", "activation", "upsample", "zero_pad", "center_crop",
                                 "global", "flatten", "slice", "shuffle", "norm", "pixel", "scale", "drop_path",
                                 "channels_last"]))
    if kind == "conv":
        return {"type": f"conv{ndim}d", **conv_arguments(draw, channels)}
    if kind == "conv_transpose":
        return {"type": f"conv_transpose{ndim}d", **conv_arguments(draw, channels, transposed=True)}
    if kind == "local" and ndim < 3:
        kernel = draw(st.integers(1, 3))
        return {"type": f"locally_connected{ndim}d", "out_channels": draw(st.integers(1, 3)), "kernel_size": kernel,
                "stride": draw(st.integers(1, 3)), "padding": draw(st.integers(0, kernel // 2)),
                "bias": draw(st.booleans())}
    if kind in ("maxpool", "avgpool"):
        kernel = draw(st.integers(1, 3))
        return {"type": f"{kind}{ndim}d", "kernel_size": kernel, "stride": draw(st.integers(1, 3)),
                "padding": draw(st.integers(0, kernel // 2)), "ceil_mode": draw(st.booleans())}
    if kind == "adaptive":
        return {"type": f"adaptive_{draw(st.sampled_from(['avg', 'max']))}_pool{ndim}d",
                "output_size": draw(st.integers(1, 5))}
    if kind == "batchnorm":
        return {"type": "batchnorm", "affine": draw(st.booleans())}
    if kind == "lrn":
        return {"type": "local_response_norm", "size": draw(st.integers(1, 4))}
    if kind == "upsample":
        mode = draw(st.sampled_from(["nearest", {1: "linear", 2: "bilinear", 3: "trilinear"}[ndim]]))
        return {"type": "upsample", "scale_factor": draw(st.sampled_from([2, 1.5, 3])), "mode": mode}
    if kind == "zero_pad":
        return {"type": "zero_pad", "padding": draw(st.integers(0, 2))}
    if kind == "center_crop":
        return {"type": "center_crop", "size": [max(1, n - draw(st.integers(0, 3))) for n in shape[1:]]}
    if kind == "global":
        return {"type": draw(st.sampled_from(["global_avg_pool", "global_max_pool"]))}
    if kind == "flatten":
        return {"type": "flatten"}
    if kind == "slice":
        return {"type": "slice", "start": draw(st.integers(-3, 2)), "end": draw(st.sampled_from([None, -1, 4])),
                "dim": draw(st.integers(1, ndim + 1))}
    if kind == "shuffle":
        return {"type": "channel_shuffle", "groups": draw(st.sampled_from([1, 2, 3]))}
    if kind == "norm":
        return draw(st.sampled_from([{"type": "group_norm", "num_groups": draw(st.sampled_from([1, 2, 3])),
                                      "affine": draw(st.booleans())},
                                     {"type": "layer_norm2d", "bias": draw(st.booleans())},
                                     {"type": "layer_norm", "elementwise_affine": draw(st.booleans())}]))
    if kind == "pixel":
        factor = draw(st.integers(1, 3))
        return draw(st.sampled_from([{"type": "pixel_shuffle", "upscale_factor": factor},
                                     {"type": "pixel_unshuffle", "downscale_factor": factor}]))
    if kind == "scale":
        return {"type": "layer_scale", "dim": draw(st.sampled_from([1, -1]))}
    if kind == "drop_path":
        return {"type": "stochastic_depth", "p": 0.2, "mode": draw(st.sampled_from(["row", "batch"]))}
    if kind == "channels_last":
        return {"type": "permute", "dims": [0, *range(2, ndim + 2), 1]}
    return activation(draw)


def activation(draw) -> dict:
    return {"type": draw(st.sampled_from(["relu", "relu6", "leaky_relu", "silu", "hardswish", "tanh", "sigmoid",
                                          "gelu", "identity", "dropout", "hardsigmoid", "mish", "elu", "hardtanh",
                                          "prelu"]))}


def flat_layer(draw, shape) -> dict:
    kind = draw(st.sampled_from(["linear", "linear", "activation", "batchnorm1d", "softmax", "layer_norm"]))
    if kind == "linear":
        return {"type": "linear", "out_features": draw(st.integers(1, 12)), "bias": draw(st.booleans())}
    if kind == "activation":
        return activation(draw)
    return {"type": kind}


def shape_of(entry: dict, inputs: list) -> tuple | None:
    """The analyzer's output shape, or None where the arguments do not fit (the layer is dropped)."""
    arguments = {k: v for k, v in entry.items() if k not in ("type", "name", "inputs")}
    try:
        out = LAYERS[entry["type"]].from_arguments(arguments).out_shape(inputs)
    except ArgumentError:
        return None
    return out if math.prod(out) <= MAX_VALUES else None


def branch(draw, shape, previous: str, index: int) -> list[dict]:
    """Two paths from one tensor merged by add, concat or a multiplicative gate."""
    merge = draw(st.sampled_from(["add", "concat", "gate"]))
    a, b = f"b{index}a", f"b{index}b"
    if merge == "gate":
        return [{"type": "global_avg_pool", "keepdim": True, "inputs": previous, "name": a},
                {"type": "sigmoid", "inputs": a, "name": b},
                {"type": "multiply", "inputs": [previous, b], "name": f"l{index}"}]
    widths = [shape[0], shape[0]] if merge == "add" else [draw(st.integers(1, 4)), draw(st.integers(1, 4))]
    kernel = draw(st.sampled_from([1, 3]))
    return [{"type": "conv", "out_channels": widths[0], "kernel_size": kernel, "padding": kernel // 2,
             "inputs": previous, "name": a},
            {"type": "conv", "out_channels": widths[1], "kernel_size": 1, "inputs": previous, "name": b},
            {"type": merge, "inputs": [a, b], "name": f"l{index}"}]


@st.composite
def random_specs(draw) -> dict:
    """Chains with branches over 1, 2 or 3 spatial axes, odd sizes, strides, dilations and groups."""
    ndim = draw(st.sampled_from([1, 2, 2, 2, 3]))
    high = {1: 31, 2: 17, 3: 7}[ndim]
    input_shape = (draw(st.integers(1, 6)), *(draw(st.integers(3, high)) for _ in range(ndim)))
    shapes, layers, previous = {"input": input_shape}, [], "input"
    for index in range(draw(st.integers(1, 7))):
        shape = shapes[previous]
        if len(shape) > 1 and draw(st.integers(0, 3)) == 0:
            entries = branch(draw, shape, previous, index)
        else:
            layer = spatial_layer(draw, shape) if len(shape) > 1 else flat_layer(draw, shape)
            entries = [{**layer, "inputs": previous, "name": f"l{index}"}]
        added = {}
        for entry in entries:
            names = [entry["inputs"]] if isinstance(entry["inputs"], str) else entry["inputs"]
            found = shape_of(entry, [added.get(name) or shapes[name] for name in names])
            if found is None:
                break
            added[entry["name"]] = found
        else:
            layers += entries
            shapes.update(added)
            previous = entries[-1]["name"]
    return {"name": "random", "input": list(input_shape), "layers": layers or [{"type": "identity"}]}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_specs())
def test_random_specs_agree_with_torch(spec):
    text = yaml.safe_dump(spec, sort_keys=False)
    result = verify(build_graph(parse_spec(text, "random.yaml")))
    assert result.ok, text + "\n".join(result.failures())
