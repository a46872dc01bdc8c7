"""The layer contract, checked against PyTorch for every registered layer type.

For a spread of arguments per type, the analyzer's output shape, parameters and buffers must equal
what the layer's ``to_torch`` module has and computes, and its MACs must equal fvcore's count of
multiply-accumulate operators. A new layer type fails ``test_every_type_has_cases`` until it
brings cases of its own.
"""
import pytest
import torch

from cnnspec.layers import LAYERS, Layer
from cnnspec.memory import PRECISIONS, Walk
from cnnspec.torch.verify import MAC_OPERATORS, fvcore_analysis

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::UserWarning")  # torch.jit, fvcore

IMG = (6, 9, 11)  # odd, unequal sizes catch axis mix-ups
SEQ = (4, 13)
VOL = (4, 5, 6, 7)
FLAT = (10,)

CASES = {
    "relu": [(IMG, {}), (FLAT, {"inplace": False})],
    "relu6": [(IMG, {})],
    "leaky_relu": [(IMG, {"negative_slope": 0.2})],
    "silu": [(SEQ, {})],
    "hardswish": [(IMG, {})],
    "tanh": [(FLAT, {})],
    "sigmoid": [(VOL, {})],
    "gelu": [(IMG, {"approximate": "tanh"}), (FLAT, {})],
    "softmax": [(FLAT, {}), (IMG, {"dim": 3})],
    "hardsigmoid": [(IMG, {}), (FLAT, {"inplace": True})],
    "mish": [(SEQ, {})],
    "elu": [(IMG, {"alpha": 0.5}), (VOL, {"inplace": True})],
    "hardtanh": [(IMG, {"min_val": -2.0, "max_val": 3.0})],
    "prelu": [(IMG, {}), (IMG, {"num_parameters": 6, "init": 0.1}), (FLAT, {"num_parameters": 10})],
    "conv": [(SEQ, {"out_channels": 5, "kernel_size": 3}),
             (IMG, {"out_channels": 4, "kernel_size": [3, 2], "stride": [2, 1], "padding": [1, 0]}),
             (VOL, {"out_channels": 2, "kernel_size": 2, "dilation": 2, "bias": False})],
    "conv1d": [(SEQ, {"out_channels": 8, "kernel_size": 5, "stride": 2, "padding": 2, "groups": 4}),
               (SEQ, {"out_channels": 3, "kernel_size": 4, "padding": "same"})],
    "conv2d": [(IMG, {"out_channels": 4, "kernel_size": 3}),
               (IMG, {"out_channels": 12, "kernel_size": 3, "stride": 2, "padding": 1, "groups": 3}),
               (IMG, {"out_channels": 6, "kernel_size": 3, "groups": 6, "bias": False}),  # depthwise
               (IMG, {"out_channels": 5, "kernel_size": 3, "dilation": [2, 3], "padding": "same"}),
               (IMG, {"out_channels": 5, "kernel_size": 4, "padding": "same"}),  # even kernel: uneven pad
               (IMG, {"out_channels": 2, "kernel_size": 5, "stride": 3, "padding": "valid"}),
               (IMG, {"out_channels": 7, "kernel_size": 1})],
    "conv3d": [(VOL, {"out_channels": 3, "kernel_size": [2, 3, 3], "stride": [1, 2, 2], "padding": 1})],
    "conv_transpose": [(SEQ, {"out_channels": 3, "kernel_size": 4, "stride": 2, "padding": 1})],
    "conv_transpose1d": [(SEQ, {"out_channels": 2, "kernel_size": 3, "stride": 3, "output_padding": 2})],
    "conv_transpose2d": [(IMG, {"out_channels": 4, "kernel_size": 2, "stride": 2}),
                         (IMG, {"out_channels": 9, "kernel_size": 3, "stride": 2, "padding": 1,
                                "output_padding": 1, "groups": 3}),
                         (IMG, {"out_channels": 2, "kernel_size": 3, "dilation": 2, "bias": False})],
    "conv_transpose3d": [(VOL, {"out_channels": 2, "kernel_size": 2, "stride": [1, 2, 2]})],
    "locally_connected1d": [(SEQ, {"out_channels": 3, "kernel_size": 3, "stride": 2, "padding": 1})],
    "locally_connected2d": [(IMG, {"out_channels": 4, "kernel_size": 3}),
                            (IMG, {"out_channels": 2, "kernel_size": [3, 2], "stride": 2, "padding": 1,
                                   "bias": False})],
    "linear": [(FLAT, {"out_features": 7}), (FLAT, {"out_features": 3, "bias": False}),
               (SEQ, {"out_features": 5}), ((9, 11, 6), {"out_features": 4})],  # the last axis, channels-last
    "add": [([IMG, IMG], {}), ([FLAT, FLAT, FLAT], {}), ([IMG, IMG], {"inplace": True})],
    "multiply": [([IMG, (6, 1, 1)], {}), ([SEQ, SEQ], {})],
    "concat": [([IMG, (2, 9, 11)], {}), ([IMG, (6, 4, 11)], {"dim": 2}), ([FLAT, (3,), (1,)], {})],
    "batchnorm": [(IMG, {}), (FLAT, {"affine": False}), (VOL, {"track_running_stats": False})],
    "batchnorm1d": [(SEQ, {"eps": 1e-3, "momentum": 0.01}), (FLAT, {})],
    "batchnorm2d": [(IMG, {})],
    "batchnorm3d": [(VOL, {"affine": False})],
    "local_response_norm": [(IMG, {"size": 5, "alpha": 1e-4, "beta": 0.75, "k": 2.0}), (SEQ, {"size": 3})],
    "maxpool": [(SEQ, {"kernel_size": 3, "stride": 2}), (VOL, {"kernel_size": 2})],
    "avgpool": [(IMG, {"kernel_size": 3, "padding": 1, "stride": 2})],
    "maxpool1d": [(SEQ, {"kernel_size": 2, "ceil_mode": True})],
    "avgpool1d": [(SEQ, {"kernel_size": 3, "stride": 2, "padding": 1, "count_include_pad": False})],
    "maxpool2d": [(IMG, {"kernel_size": 2}), (IMG, {"kernel_size": 3, "stride": 2, "ceil_mode": True}),
                  (IMG, {"kernel_size": 3, "stride": 1, "padding": 1}),
                  (IMG, {"kernel_size": [2, 3], "stride": [2, 1], "dilation": 2})],
    "avgpool2d": [(IMG, {"kernel_size": 2, "ceil_mode": True}), (IMG, {"kernel_size": [3, 1], "stride": 2})],
    "maxpool3d": [(VOL, {"kernel_size": [1, 2, 2]})],
    "avgpool3d": [(VOL, {"kernel_size": 2, "stride": 1})],
    "global_avg_pool": [(IMG, {}), (SEQ, {"keepdim": True})],
    "global_max_pool": [(VOL, {}), (IMG, {"keepdim": True})],
    "adaptive_avg_pool": [(IMG, {"output_size": 4}), (SEQ, {"output_size": 5})],
    "adaptive_max_pool": [(IMG, {"output_size": [2, 3]})],
    "adaptive_avg_pool1d": [(SEQ, {"output_size": 1})],
    "adaptive_max_pool1d": [(SEQ, {"output_size": 6})],
    "adaptive_avg_pool2d": [(IMG, {"output_size": 1}), (IMG, {"output_size": [4, None]})],
    "adaptive_max_pool2d": [(IMG, {"output_size": [5, 5]})],
    "adaptive_avg_pool3d": [(VOL, {"output_size": [2, 2, 3]})],
    "adaptive_max_pool3d": [(VOL, {"output_size": 2})],
    "flatten": [(IMG, {}), (VOL, {"start_dim": 2}), (IMG, {"start_dim": 1, "end_dim": 2})],
    "identity": [(IMG, {})],
    "dropout": [(FLAT, {"p": 0.3})],
    "upsample": [(IMG, {"scale_factor": 2}), (IMG, {"size": [13, 7], "mode": "bilinear"}),
                 (SEQ, {"scale_factor": 1.5, "mode": "linear", "align_corners": True}),
                 (VOL, {"scale_factor": [1, 2, 2], "mode": "trilinear"})],
    "zero_pad": [(IMG, {"padding": 1}), (IMG, {"padding": [1, 0, 2, 3]}), (SEQ, {"padding": [2, 1]})],
    "stochastic_depth": [(IMG, {"p": 0.2}), (FLAT, {"p": 0.5, "mode": "batch"})],
    "slice": [(IMG, {"end": 3}), (IMG, {"start": -2}), (IMG, {"start": 2, "end": -3, "dim": 3}),
              (SEQ, {"start": 1, "end": 3})],
    "channel_shuffle": [(IMG, {"groups": 3}), (SEQ, {"groups": 2})],
    "reshape": [(IMG, {"shape": [3, 2, 99]}), (IMG, {"shape": [-1]}), (VOL, {"shape": [4, -1, 7]})],
    "permute": [(IMG, {"dims": [0, 2, 3, 1]}), (VOL, {"dims": [0, 4, 1, 3, 2]}), (SEQ, {"dims": [0, -1, 1]}), (IMG, {"dims": [1, 2, 0]})],
    "layer_norm": [(IMG, {}), (IMG, {"normalized_shape": [9, 11], "eps": 1e-6}), (SEQ, {"elementwise_affine": False}),
                   (FLAT, {"normalized_shape": 10, "bias": False})],
    "layer_norm2d": [(IMG, {"eps": 1e-6}), (IMG, {"bias": False}), (IMG, {"elementwise_affine": False})],
    "group_norm": [(IMG, {"num_groups": 3}), (VOL, {"num_groups": 1, "affine": False}), (SEQ, {"num_groups": 4})],
    "layer_scale": [(IMG, {}), (SEQ, {"dim": -1, "init": 0.1})],
    "pixel_shuffle": [((8, 5, 7), {"upscale_factor": 2}), ((18, 2, 3), {"upscale_factor": 3})],
    "pixel_unshuffle": [((3, 8, 6), {"downscale_factor": 2})],
    "center_crop": [(IMG, {"size": [5, 6]}), ([IMG, (3, 4, 8)], {}), (SEQ, {"size": 8})],
    "selu": [(IMG, {}), (SEQ, {"inplace": True})],
    "celu": [(IMG, {"alpha": 0.5}), (FLAT, {"inplace": True})],
    "softplus": [(IMG, {"beta": 2.0, "threshold": 10.0})],
    "log_softmax": [(FLAT, {}), (IMG, {"dim": 2})],
    "instance_norm": [(SEQ, {}), (VOL, {"affine": True})],
    "instance_norm1d": [(SEQ, {"affine": True, "eps": 1e-3})],
    "instance_norm2d": [(IMG, {}), (IMG, {"affine": True}), (IMG, {"track_running_stats": True}),
                        (IMG, {"affine": True, "track_running_stats": True, "momentum": 0.2})],
    "instance_norm3d": [(VOL, {"affine": True})],
    "dropout1d": [(SEQ, {"p": 0.3})],
    "dropout2d": [(IMG, {}), (IMG, {"p": 0.0})],
    "dropout3d": [(VOL, {"p": 0.25})],
    "zero_pad1d": [(SEQ, {"padding": [0, 3]})],
    "zero_pad2d": [(IMG, {"padding": [2, 1, 0, 3]})],
    "zero_pad3d": [(VOL, {"padding": 1})],
    "reflection_pad": [(IMG, {"padding": 2}), (SEQ, {"padding": [3, 1]})],
    "reflection_pad1d": [(SEQ, {"padding": 4})],
    "reflection_pad2d": [(IMG, {"padding": [1, 2, 3, 0]}), (IMG, {"padding": 3})],
    "reflection_pad3d": [(VOL, {"padding": 1})],
    "replication_pad": [(IMG, {"padding": 4})],
    "replication_pad1d": [(SEQ, {"padding": [2, 0]})],
    "replication_pad2d": [(IMG, {"padding": [0, 1, 2, 3]})],
    "replication_pad3d": [(VOL, {"padding": [1, 0, 0, 1, 2, 2]})],
}


CASE_PARAMS = [pytest.param(name, inputs, arguments, id=f"{name}-{index}")
               for name, cases in CASES.items() for index, (inputs, arguments) in enumerate(cases)]
"""Every case as a pytest parameter (type_name, inputs, arguments), for the tests that walk them all."""


PLACEHOLDERS = {"unsupported"}
"""Types that stand for something cnnspec cannot build (tests/layers/test_reshape.py checks they refuse to)."""


def registered_types() -> list[str]:
    return sorted({cls.type_name for cls in LAYERS.values()})


def test_every_type_has_cases():
    assert sorted(CASES) == [name for name in registered_types() if name not in PLACEHOLDERS]


def measured(module, inputs: list[tuple[int, ...]]):
    """Params, buffers, output shape (batch 2) and fvcore's MACs (batch 1) of a torch module."""
    module.eval()
    params = sum(p.numel() for p in module.parameters())
    buffers = sum(b.numel() for b in module.buffers())
    with torch.no_grad():
        out = module(*[torch.randn(2, *shape) for shape in inputs])
    analysis = fvcore_analysis(module, tuple(torch.randn(1, *shape) for shape in inputs))
    macs = sum(count for op, count in analysis.by_operator().items() if op in MAC_OPERATORS)
    return params, buffers, tuple(out.shape), macs


@pytest.mark.parametrize("type_name, inputs, arguments", CASE_PARAMS)
def test_analyzer_equals_torch(type_name, inputs, arguments):
    inputs = inputs if isinstance(inputs, list) else [inputs]
    layer = LAYERS[type_name].from_arguments(dict(arguments))
    out = layer.out_shape(inputs)
    params, buffers, shape, macs = measured(layer.to_torch(inputs), inputs)
    assert shape == (2, *out)
    assert params == layer.params(inputs)
    assert buffers == layer.buffers(inputs)
    assert macs == layer.macs(inputs, out)


# --- what autograd saves for backward ------------------------------------------------------------

TORCH_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}
SAVED_MODES = [("fp32", "fp32"), ("bf16-mixed", "fp32"), ("bf16-mixed", "bf16"), ("bf16", "bf16")]
"""(precision, dtype of the layer's inputs): autocast sees fp32 activations after the image or a
float32 layer, bf16 ones after a conv."""


def test_every_type_declares_what_autograd_saves():
    undeclared = [name for name in registered_types()
                  if LAYERS[name].saved_for_backward is Layer.saved_for_backward]
    assert not undeclared, f"declare saved_for_backward on: {', '.join(undeclared)}"


def autograd_saved_bytes(module, inputs: list[torch.Tensor], precision: str) -> int:
    """Bytes autograd saves in a training-mode forward, each storage once, parameters and buffers left out."""
    weights = {t.untyped_storage().data_ptr() for t in (*module.parameters(), *module.buffers())}
    kept, seen = [], {}

    def pack(t):
        kept.append(t)
        key = t.untyped_storage().data_ptr()
        if key not in weights:
            seen[key] = t.untyped_storage().nbytes()
        return t

    low = TORCH_DTYPES["bf16"] if precision.endswith("mixed") else None
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t), \
            torch.autocast("cpu", dtype=low or torch.bfloat16, enabled=low is not None):
        module.train()(*inputs)
    return sum(seen.values())


@pytest.mark.parametrize("precision, input_dtype", SAVED_MODES)
@pytest.mark.parametrize("type_name, inputs, arguments", CASE_PARAMS)
def test_saved_for_backward_equals_autograd(type_name, inputs, arguments, precision, input_dtype):
    """The declared tensors, priced in their dtypes, are the bytes autograd keeps (CPU rules)."""
    inputs = inputs if isinstance(inputs, list) else [inputs]
    layer = LAYERS[type_name].from_arguments(dict(arguments))
    module = layer.to_torch(inputs)
    if precision == "bf16":
        module = module.to(torch.bfloat16)
    # activations: non-leaf tensors that require grad, so that in-place layers may overwrite them
    xs = [(torch.randn(2, *shape) * 1).to(TORCH_DTYPES[input_dtype]).requires_grad_() for shape in inputs]
    xs = [x * 1 for x in xs]
    try:
        measured = autograd_saved_bytes(module, xs, precision)
    except (NotImplementedError, RuntimeError) as error:
        if "not implemented for 'BFloat16'" not in str(error):
            raise
        pytest.skip(f"PyTorch has no bf16 CPU kernel here: {str(error).splitlines()[0]}")
    walk = Walk.of_layer(layer, inputs, [input_dtype] * len(inputs), PRECISIONS[precision], "cpu", batch=2)
    declared = {t.name: t.nbytes for t in walk.saved(walk.nodes["layer"])}
    assert sum(declared.values()) == measured, declared
