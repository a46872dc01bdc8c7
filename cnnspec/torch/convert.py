"""What each PyTorch module and function becomes in a spec: a layer type and its arguments.

Module converters read the arguments back from the module's attributes, under PyTorch's names
(``Conv2d.stride``, ``BatchNorm2d.eps``); function converters take the call's arguments with the
signature PyTorch gives them (``torch.flatten(input, start_dim, end_dim)``), the tensor first for
methods (``x.mean(dim, keepdim)``), so one converter serves ``torch.relu``, ``F.relu``, ``x.relu()``
and ``aten.relu`` alike. A tensor argument arrives as a ``Ref``: the name of the layer that made it
and its shape with the batch axis. What a converter cannot express raises ``Unsupported`` with the
reason; the importer reports it, never drops it.
"""
from __future__ import annotations

import operator
from typing import Any, Callable

import torch
from torch import nn

from . import modules as cnnspec_modules
from .imported import Alias, Converted, Parts, Ref, Unsupported


MODULES: dict[type, Callable[..., Converted]] = {}
FUNCTIONS: dict[str, Callable[..., Converted | Alias | Parts]] = {}


def module_converter(*classes: type):
    def register(function):
        for cls in classes:
            MODULES[cls] = function
        return function
    return register


def function_converter(*names: str):
    def register(function):
        for name in names:
            FUNCTIONS[name] = function
        return function
    return register


def converter_for(module: nn.Module) -> Callable[..., Converted] | None:
    """The converter of the module's exact class: a subclass may compute something else in its forward."""
    return MODULES.get(type(module))


# --- argument helpers -------------------------------------------------------------------------

def compact(value: Any) -> Any:
    """(3, 3) -> 3 and (1, 2) -> [1, 2]: a tuple PyTorch stores per axis, written as a spec writes it."""
    if isinstance(value, (tuple, list)):
        items = [compact(v) for v in value]
        return items[0] if items and all(v == items[0] for v in items) and not isinstance(items[0], list) else items
    return value


def check_size(module: nn.Module, what: str, expected: int, received: int) -> None:
    if expected != received:
        raise Unsupported(f"{type(module).__name__} expects {what} {expected}, but its input has {received}: "
                          "PyTorch would fail here")


def one_input(inputs: list[Ref]) -> Ref:
    if len(inputs) != 1:
        raise Unsupported(f"called with {len(inputs)} tensors; it takes one")
    return inputs[0]


def data(ref: Any, what: str) -> Ref:
    """A tensor that comes from the input: a constant or a parameter there is not a layer's input."""
    if not isinstance(ref, Ref):
        raise Unsupported(f"{what} is {ref!r}, not a tensor")
    if ref.name is None:
        raise Unsupported(f"{what} is {ref.what or 'a constant tensor'}, not a result of the layers before")
    return ref


def spatial_rank(x: Ref) -> int:
    return len(x.shape) - 2


# --- modules ----------------------------------------------------------------------------------

@module_converter(nn.Conv1d, nn.Conv2d, nn.Conv3d)
def conv(module: nn.Conv2d, inputs: list[Ref]) -> Converted:
    x = one_input(inputs)
    if module.padding_mode != "zeros":
        raise Unsupported(f"padding_mode={module.padding_mode!r}: only 'zeros' (the default) is supported")
    check_size(module, "in_channels", module.in_channels, x.shape[1])
    rank = len(module.kernel_size)
    return Converted(f"conv{rank}d", {
        "out_channels": module.out_channels, "kernel_size": compact(module.kernel_size),
        "stride": compact(module.stride), "padding": compact(module.padding), "dilation": compact(module.dilation),
        "groups": module.groups, "bias": module.bias is not None}, [x])


@module_converter(nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)
def conv_transpose(module: nn.ConvTranspose2d, inputs: list[Ref]) -> Converted:
    x = one_input(inputs)
    if module.padding_mode != "zeros":
        raise Unsupported(f"padding_mode={module.padding_mode!r}: only 'zeros' (the default) is supported")
    check_size(module, "in_channels", module.in_channels, x.shape[1])
    rank = len(module.kernel_size)
    return Converted(f"conv_transpose{rank}d", {
        "out_channels": module.out_channels, "kernel_size": compact(module.kernel_size),
        "stride": compact(module.stride), "padding": compact(module.padding),
        "output_padding": compact(module.output_padding), "dilation": compact(module.dilation),
        "groups": module.groups, "bias": module.bias is not None}, [x])


@module_converter(nn.Linear)
def linear(module: nn.Linear, inputs: list[Ref]) -> Converted:
    x = one_input(inputs)
    check_size(module, "in_features", module.in_features, x.shape[-1])
    return Converted("linear", {"out_features": module.out_features, "bias": module.bias is not None}, [x])


@module_converter(nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)
def batch_norm(module: nn.BatchNorm2d, inputs: list[Ref]) -> Converted:
    x = one_input(inputs)
    check_size(module, "num_features", module.num_features, x.shape[1])
    if module.momentum is None:
        raise Unsupported("momentum=None (a cumulative average): a spec's batch norm takes a number")
    rank = {nn.BatchNorm1d: 1, nn.BatchNorm2d: 2, nn.BatchNorm3d: 3}[type(module)]
    return Converted(f"batchnorm{rank}d", {"eps": module.eps, "momentum": module.momentum, "affine": module.affine,
                                           "track_running_stats": module.track_running_stats}, [x])


@module_converter(nn.LocalResponseNorm)
def local_response_norm(module: nn.LocalResponseNorm, inputs: list[Ref]) -> Converted:
    return Converted("local_response_norm", {"size": module.size, "alpha": module.alpha, "beta": module.beta,
                                             "k": module.k}, [one_input(inputs)])


def activation(layer_type: str, *attributes: str):
    """A converter for an activation module whose spec arguments are these attributes of the module."""
    def convert(module: nn.Module, inputs: list[Ref]) -> Converted:
        return Converted(layer_type, {name: getattr(module, name) for name in attributes}, [one_input(inputs)])
    return convert


for _cls, _type, _attributes in (
        (nn.ReLU, "relu", ("inplace",)), (nn.ReLU6, "relu6", ("inplace",)),
        (nn.LeakyReLU, "leaky_relu", ("negative_slope", "inplace")), (nn.SiLU, "silu", ("inplace",)),
        (nn.Hardswish, "hardswish", ("inplace",)), (nn.Hardsigmoid, "hardsigmoid", ("inplace",)),
        (nn.Mish, "mish", ("inplace",)), (nn.ELU, "elu", ("alpha", "inplace")),
        (nn.Tanh, "tanh", ()), (nn.Sigmoid, "sigmoid", ()), (nn.GELU, "gelu", ("approximate",)),
        (nn.Identity, "identity", ()), (nn.Dropout, "dropout", ("p",)),
        (nn.Dropout1d, "dropout1d", ("p",)), (nn.Dropout2d, "dropout2d", ("p",)), (nn.Dropout3d, "dropout3d", ("p",)),
        (nn.SELU, "selu", ("inplace",)), (nn.CELU, "celu", ("alpha", "inplace")),
        (nn.Softplus, "softplus", ("beta", "threshold"))):
    MODULES[_cls] = activation(_type, *_attributes)


@module_converter(nn.InstanceNorm1d, nn.InstanceNorm2d, nn.InstanceNorm3d)
def instance_norm(module: nn.InstanceNorm2d, inputs: list[Ref]) -> Converted:
    x = one_input(inputs)
    check_size(module, "num_features", module.num_features, x.shape[1])
    if module.momentum is None:
        raise Unsupported("momentum=None (a cumulative average): a spec's instance norm takes a number")
    return Converted(f"instance_norm{spatial_rank(x)}d", {
        "eps": module.eps, "momentum": module.momentum, "affine": module.affine,
        "track_running_stats": module.track_running_stats}, [x])


@module_converter(nn.Hardtanh)
def hardtanh(module: nn.Hardtanh, inputs: list[Ref]) -> Converted:
    return Converted("hardtanh", {"min_val": module.min_val, "max_val": module.max_val, "inplace": module.inplace},
                     [one_input(inputs)])


@module_converter(nn.PReLU)
def prelu(module: nn.PReLU, inputs: list[Ref]) -> Converted:
    return Converted("prelu", {"num_parameters": module.num_parameters}, [one_input(inputs)])


@module_converter(nn.Softmax, nn.LogSoftmax)
def softmax_module(module: nn.Softmax, inputs: list[Ref]) -> Converted:
    x = one_input(inputs)
    if module.dim is None:
        raise Unsupported("dim=None (PyTorch's deprecated implicit choice): name the axis")
    kind = "log_softmax" if isinstance(module, nn.LogSoftmax) else "softmax"
    return Converted(kind, {"dim": module.dim % len(x.shape)}, [x])


@module_converter(nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d)
def max_pool(module: nn.MaxPool2d, inputs: list[Ref]) -> Converted:
    x = one_input(inputs)
    if module.return_indices:
        raise Unsupported("return_indices=True: a spec layer returns one tensor")
    return pool_layer("maxpool", x, module.kernel_size, module.stride, module.padding, module.ceil_mode,
                      dilation=module.dilation)


@module_converter(nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d)
def avg_pool(module: nn.AvgPool2d, inputs: list[Ref]) -> Converted:
    x = one_input(inputs)
    if getattr(module, "divisor_override", None) is not None:
        raise Unsupported(f"divisor_override={module.divisor_override}: a spec's average pool divides by the window")
    return pool_layer("avgpool", x, module.kernel_size, module.stride, module.padding, module.ceil_mode,
                      count_include_pad=module.count_include_pad)


def pool_layer(kind: str, x: Ref, kernel_size, stride, padding, ceil_mode, **extra) -> Converted:
    """maxpool2d/avgpool2d with PyTorch's stride default (the kernel) written out only where it differs."""
    stride = kernel_size if stride is None or stride == [] or stride == () else stride
    arguments = {"kernel_size": compact(kernel_size), "stride": compact(stride), "padding": compact(padding),
                 "ceil_mode": bool(ceil_mode), **{k: compact(v) for k, v in extra.items()}}
    if arguments["stride"] == arguments["kernel_size"]:
        arguments["stride"] = None
    return Converted(f"{kind}{spatial_rank(x)}d", arguments, [x])


@module_converter(nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d,
                  nn.AdaptiveMaxPool1d, nn.AdaptiveMaxPool2d, nn.AdaptiveMaxPool3d)
def adaptive_pool(module: nn.Module, inputs: list[Ref]) -> Converted:
    x = one_input(inputs)
    kind = "max" if "Max" in type(module).__name__ else "avg"
    if getattr(module, "return_indices", False):
        raise Unsupported("return_indices=True: a spec layer returns one tensor")
    return adaptive_layer(kind, x, module.output_size)


def adaptive_layer(kind: str, x: Ref, output_size) -> Converted:
    size = list(output_size) if isinstance(output_size, (tuple, list)) else output_size
    return Converted(f"adaptive_{kind}_pool{spatial_rank(x)}d",
                     {"output_size": compact(size) if isinstance(size, list) and None not in size else size}, [x])


@module_converter(nn.Flatten)
def flatten_module(module: nn.Flatten, inputs: list[Ref]) -> Converted:
    return flatten(one_input(inputs), module.start_dim, module.end_dim)


@module_converter(nn.Upsample, nn.UpsamplingNearest2d, nn.UpsamplingBilinear2d)
def upsample(module: nn.Upsample, inputs: list[Ref]) -> Converted:
    return upsample_layer(one_input(inputs), module.size, module.scale_factor, module.mode, module.align_corners,
                          getattr(module, "recompute_scale_factor", None))


def upsample_layer(x: Ref, size, scale_factor, mode, align_corners, recompute_scale_factor=None) -> Converted:
    if mode not in ("nearest", "linear", "bilinear", "trilinear"):
        raise Unsupported(f"mode={mode!r}: a spec's upsample is nearest, linear, bilinear or trilinear")
    if recompute_scale_factor:
        raise Unsupported("recompute_scale_factor=True")
    arguments = {"mode": mode, "align_corners": align_corners}
    if size is not None:
        arguments["size"] = compact(list(size) if isinstance(size, (tuple, list)) else size)
    else:
        factors = list(scale_factor) if isinstance(scale_factor, (tuple, list)) else [scale_factor]
        factors = [float(f) for f in factors]
        arguments["scale_factor"] = factors[0] if len(set(factors)) == 1 else factors
    return Converted("upsample", arguments, [x])


@module_converter(nn.ZeroPad1d, nn.ZeroPad2d, nn.ZeroPad3d)
def zero_pad(module: nn.Module, inputs: list[Ref]) -> Converted:
    return Converted("zero_pad", {"padding": compact(list(module.padding))}, [one_input(inputs)])


@module_converter(nn.ReflectionPad1d, nn.ReflectionPad2d, nn.ReflectionPad3d,
                  nn.ReplicationPad1d, nn.ReplicationPad2d, nn.ReplicationPad3d)
def edge_pad(module: nn.Module, inputs: list[Ref]) -> Converted:
    kind = "reflection_pad" if "Reflection" in type(module).__name__ else "replication_pad"
    return Converted(kind, {"padding": compact(list(module.padding))}, [one_input(inputs)])


@module_converter(nn.ConstantPad1d, nn.ConstantPad2d, nn.ConstantPad3d)
def constant_pad(module: nn.Module, inputs: list[Ref]) -> Converted:
    if module.value != 0:
        raise Unsupported(f"pads with value {module.value}: a spec pads with zeros")
    return Converted("zero_pad", {"padding": compact(list(module.padding))}, [one_input(inputs)])


@module_converter(nn.LayerNorm)
def layer_norm(module: nn.LayerNorm, inputs: list[Ref]) -> Converted:
    x = one_input(inputs)
    shape = list(module.normalized_shape)
    if tuple(x.shape[len(x.shape) - len(shape):]) != tuple(shape):
        raise Unsupported(f"normalized_shape {shape} is not the trailing axes of its input {list(x.shape)}: PyTorch "
                          "would fail here")
    return Converted("layer_norm", {"normalized_shape": compact(shape) if len(shape) == 1 else shape, "eps": module.eps,
                                    "elementwise_affine": module.elementwise_affine, "bias": module.bias is not None},
                     [x])


@module_converter(cnnspec_modules.LayerNorm2d)
def layer_norm2d(module: cnnspec_modules.LayerNorm2d, inputs: list[Ref]) -> Converted:
    x = one_input(inputs)
    check_size(module, "channels", module.normalized_shape[0], x.shape[1])
    return Converted("layer_norm2d", {"eps": module.eps, "elementwise_affine": module.elementwise_affine,
                                      "bias": module.bias is not None}, [x])


@module_converter(nn.GroupNorm)
def group_norm(module: nn.GroupNorm, inputs: list[Ref]) -> Converted:
    x = one_input(inputs)
    check_size(module, "num_channels", module.num_channels, x.shape[1])
    return Converted("group_norm", {"num_groups": module.num_groups, "eps": module.eps, "affine": module.affine}, [x])


@module_converter(nn.ChannelShuffle, cnnspec_modules.ChannelShuffle)
def channel_shuffle_module(module: nn.Module, inputs: list[Ref]) -> Converted:
    return Converted("channel_shuffle", {"groups": module.groups}, [one_input(inputs)])


@module_converter(nn.PixelShuffle)
def pixel_shuffle_module(module: nn.PixelShuffle, inputs: list[Ref]) -> Converted:
    return Converted("pixel_shuffle", {"upscale_factor": module.upscale_factor}, [one_input(inputs)])


@module_converter(nn.PixelUnshuffle)
def pixel_unshuffle_module(module: nn.PixelUnshuffle, inputs: list[Ref]) -> Converted:
    return Converted("pixel_unshuffle", {"downscale_factor": module.downscale_factor}, [one_input(inputs)])


@module_converter(nn.Unflatten)
def unflatten_module(module: nn.Unflatten, inputs: list[Ref]) -> Converted:
    return unflatten(one_input(inputs), module.dim, module.unflattened_size)


# cnnspec's own modules, so that a model cnnspec built imports back layer for layer

@module_converter(cnnspec_modules.Add)
def add_module(module: cnnspec_modules.Add, inputs: list[Ref]) -> Converted:
    return Converted("add", {"inplace": module.inplace}, inputs)


@module_converter(cnnspec_modules.Multiply)
def multiply_module(module: cnnspec_modules.Multiply, inputs: list[Ref]) -> Converted:
    return Converted("multiply", {}, inputs)


@module_converter(cnnspec_modules.Concat)
def concat_module(module: cnnspec_modules.Concat, inputs: list[Ref]) -> Converted:
    return Converted("concat", {"dim": module.dim}, inputs)


@module_converter(cnnspec_modules.GlobalPool)
def global_pool_module(module: cnnspec_modules.GlobalPool, inputs: list[Ref]) -> Converted:
    return Converted(f"global_{module.kind}_pool", {"keepdim": module.keepdim}, [one_input(inputs)])


@module_converter(cnnspec_modules.CenterCrop)
def center_crop_module(module: cnnspec_modules.CenterCrop, inputs: list[Ref]) -> Converted:
    if len(inputs) == 2:
        return Converted("center_crop", {}, inputs)
    return Converted("center_crop", {"size": compact(list(module.size))}, [one_input(inputs)])


@module_converter(cnnspec_modules.LocallyConnected)
def locally_connected_module(module: cnnspec_modules.LocallyConnected, inputs: list[Ref]) -> Converted:
    x = one_input(inputs)
    return Converted(f"locally_connected{len(module.kernel)}d", {
        "out_channels": module.out_shape[0], "kernel_size": compact(module.kernel), "stride": compact(module.stride),
        "padding": compact(module.padding), "bias": module.bias is not None}, [x])


@module_converter(cnnspec_modules.StochasticDepth)
def stochastic_depth_module(module: cnnspec_modules.StochasticDepth, inputs: list[Ref]) -> Converted:
    return Converted("stochastic_depth", {"p": module.p, "mode": module.mode}, [one_input(inputs)])


@module_converter(cnnspec_modules.Slice)
def slice_module(module: cnnspec_modules.Slice, inputs: list[Ref]) -> Converted:
    return Converted("slice", {"dim": module.dim, "start": module.start, "end": module.end}, [one_input(inputs)])


@module_converter(cnnspec_modules.Reshape)
def reshape_module(module: cnnspec_modules.Reshape, inputs: list[Ref]) -> Converted:
    return Converted("reshape", {"shape": list(module.shape)}, [one_input(inputs)])


@module_converter(cnnspec_modules.Permute)
def permute_module(module: cnnspec_modules.Permute, inputs: list[Ref]) -> Converted:
    return Converted("permute", {"dims": list(module.dims)}, [one_input(inputs)])


@module_converter(cnnspec_modules.LayerScale)
def layer_scale_module(module: cnnspec_modules.LayerScale, inputs: list[Ref]) -> Converted:
    return layer_scale(one_input(inputs), tuple(module.gamma.shape), module.init)


def layer_scale(x: Ref, factors: tuple[int, ...], init: float = 1e-6) -> Converted:
    """``x * gamma`` with one factor per channel: gamma [C, 1, 1] scales axis 1 (ConvNeXt), [C] the last (CaiT)."""
    sample = x.sample
    if len(factors) == len(sample) and factors[0] == sample[0] and all(n == 1 for n in factors[1:]):
        return Converted("layer_scale", {"init": init, "dim": 1}, [x])
    if len(factors) == 1 and factors[0] == sample[-1] and len(sample) > 1:
        return Converted("layer_scale", {"init": init, "dim": -1}, [x])
    raise Unsupported(f"a product with a parameter of shape {list(factors)}: only one factor per channel of "
                      f"{list(x.shape)} ([C, 1, 1] or [C] last) is a spec layer (layer_scale)")


# --- functions and methods --------------------------------------------------------------------

def merge(layer_type: str, inplace: bool):
    def convert(first, second, *rest, alpha=1, out=None):
        if alpha != 1:
            raise Unsupported(f"alpha={alpha}: a spec's add has no scale")
        if layer_type == "multiply" and not inplace:
            scaled = layer_scale_call(first, second)
            if scaled is not None:
                return scaled
        for operand in (first, second):
            if not isinstance(operand, Ref) or operand.name is None:
                raise Unsupported(f"one operand is {getattr(operand, 'what', '') or repr(operand)}: a spec's "
                                  f"{layer_type} joins results of the layers before")
        return Converted(layer_type, {"inplace": True} if inplace else {}, [first, second])
    return convert


def layer_scale_call(first, second) -> Converted | None:
    """``x * self.gamma`` (either order), gamma a parameter of one factor per channel: layer_scale."""
    pair = [(a, b) for a, b in ((first, second), (second, first)) if isinstance(a, Ref) and a.name is not None
            and isinstance(b, Ref) and b.what.startswith("parameter ")]
    if not pair:
        return None
    x, gamma = pair[0]
    converted = layer_scale(x, gamma.shape)
    converted.owns = [gamma.what.removeprefix("parameter ")]
    return converted


FUNCTIONS.update({"add": merge("add", False), "iadd": merge("add", True), "add_": merge("add", True),
                  "mul": merge("multiply", False), "imul": merge("multiply", True), "mul_": merge("multiply", True)})


@function_converter("cat", "concat", "concatenate")
def cat(tensors, dim=0):
    tensors = [data(t, "a tensor to concatenate") for t in tensors]
    rank = len(tensors[0].shape)
    if dim % rank == 0:
        raise Unsupported("concatenates along the batch axis")
    return Converted("concat", {"dim": dim % rank}, tensors)


def elementwise(layer_type: str, inplace_default: bool | None = None, **fixed):
    """``F.relu(x, inplace=False)``, ``x.relu_()``: the layer with PyTorch's in-place flag for that call."""
    def convert(x, *args, inplace=inplace_default, **kwargs):
        arguments = dict(fixed)
        if inplace is not None:
            arguments["inplace"] = bool(inplace)
        return Converted(layer_type, arguments, [data(x, "its input")])
    return convert


for _names, _type in ((("relu",), "relu"), (("relu6",), "relu6"), (("silu",), "silu"), (("hardswish",), "hardswish"),
                      (("hardsigmoid",), "hardsigmoid"), (("mish",), "mish"), (("selu",), "selu")):
    for _name in _names:
        FUNCTIONS[_name] = elementwise(_type, False)
        FUNCTIONS[_name + "_"] = elementwise(_type, True)
FUNCTIONS.update({"sigmoid": elementwise("sigmoid"), "tanh": elementwise("tanh")})


@function_converter("hardtanh", "hardtanh_", "clamp", "clip", "clamp_", "clip_")
def hardtanh_call(x, min_val=-1.0, max_val=1.0, inplace=False, *, min=None, max=None):
    """``F.hardtanh`` and ``x.clamp(0, 6)``: relu6 where the bounds are 0 and 6, relu for ``clamp(min=0)``."""
    low = min if min is not None else min_val
    high = max if max is not None else max_val
    x = data(x, "its input")
    if low == 0 and high == 6:
        return Converted("relu6", {"inplace": bool(inplace)}, [x])
    if low is None or high is None:
        if low == 0 and high is None:
            return Converted("relu", {"inplace": bool(inplace)}, [x])
        raise Unsupported("a clamp with one bound other than min=0")
    return Converted("hardtanh", {"min_val": float(low), "max_val": float(high), "inplace": bool(inplace)}, [x])


@function_converter("leaky_relu", "leaky_relu_")
def leaky_relu(x, negative_slope=0.01, inplace=False):
    return Converted("leaky_relu", {"negative_slope": negative_slope, "inplace": bool(inplace)}, [data(x, "its input")])


@function_converter("elu", "elu_")
def elu(x, alpha=1.0, inplace=False):
    return Converted("elu", {"alpha": alpha, "inplace": bool(inplace)}, [data(x, "its input")])


@function_converter("gelu")
def gelu(x, approximate="none"):
    return Converted("gelu", {"approximate": approximate}, [data(x, "its input")])


def softmax_call(kind: str):
    def convert(x, dim=None, *args, **kwargs):
        x = data(x, "its input")
        if dim is None:
            raise Unsupported(f"{kind} without dim")
        if dim % len(x.shape) == 0:
            raise Unsupported(f"{kind} over the batch axis")
        return Converted(kind, {"dim": dim % len(x.shape)}, [x])
    return convert


FUNCTIONS.update({"softmax": softmax_call("softmax"), "_softmax": softmax_call("softmax"),
                  "log_softmax": softmax_call("log_softmax"), "_log_softmax": softmax_call("log_softmax")})


@function_converter("celu", "celu_")
def celu(x, alpha=1.0, inplace=False):
    return Converted("celu", {"alpha": alpha, "inplace": bool(inplace)}, [data(x, "its input")])


@function_converter("softplus")
def softplus(x, beta=1.0, threshold=20.0):
    return Converted("softplus", {"beta": beta, "threshold": threshold}, [data(x, "its input")])


@function_converter("dropout", "dropout_", "alpha_dropout")
def dropout(x, p=0.5, training=True, inplace=False):
    return Converted("dropout", {"p": float(p)}, [data(x, "its input")])


@function_converter("feature_dropout", "feature_dropout_", "dropout1d", "dropout2d", "dropout3d")
def feature_dropout(x, p=0.5, training=True, inplace=False):
    """F.dropout2d and its kin: whole channels, one mask value per channel and sample."""
    x = data(x, "its input")
    return Converted(f"dropout{spatial_rank(x)}d", {"p": float(p)}, [x])


@function_converter("flatten")
def flatten(x, start_dim=0, end_dim=-1):
    x = data(x, "its input")
    rank = len(x.shape)
    if start_dim % rank == 0:
        raise Unsupported("flattens the batch axis into the others")
    return Converted("flatten", {"start_dim": start_dim % rank, "end_dim": end_dim if end_dim == -1 else end_dim % rank},
                     [x])


@function_converter("mean")
def mean(x, dim=None, keepdim=False, *, dtype=None):
    """``x.mean((2, 3))`` over every spatial axis is global average pooling."""
    x = data(x, "its input")
    dims = [dim] if isinstance(dim, int) else list(dim or [])
    spatial = list(range(2, len(x.shape)))
    if sorted(d % len(x.shape) for d in dims) != spatial or not spatial:
        raise Unsupported(f"a reduction over dims {dims}: only one over every spatial axis {spatial} (global pooling) "
                          "is a spec layer")
    return Converted("global_avg_pool", {"keepdim": bool(keepdim)}, [x])


@function_converter("adaptive_avg_pool1d", "adaptive_avg_pool2d", "adaptive_avg_pool3d")
def adaptive_avg_pool(x, output_size):
    return adaptive_layer("avg", data(x, "its input"), output_size)


@function_converter("adaptive_max_pool1d", "adaptive_max_pool2d", "adaptive_max_pool3d")
def adaptive_max_pool(x, output_size, return_indices=False):
    if return_indices:
        raise Unsupported("return_indices=True: a spec layer returns one tensor")
    return adaptive_layer("max", data(x, "its input"), output_size)


@function_converter("max_pool1d", "max_pool2d", "max_pool3d", "_max_pool1d", "_max_pool2d", "_max_pool3d")
def max_pool_call(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    if return_indices:
        raise Unsupported("return_indices=True: a spec layer returns one tensor")
    return pool_layer("maxpool", data(x, "its input"), kernel_size, stride, padding, ceil_mode, dilation=dilation)


@function_converter("avg_pool1d", "avg_pool2d", "avg_pool3d")
def avg_pool_call(x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
                  divisor_override=None):
    if divisor_override is not None:
        raise Unsupported(f"divisor_override={divisor_override}")
    return pool_layer("avgpool", data(x, "its input"), kernel_size, stride, padding, ceil_mode,
                      count_include_pad=count_include_pad)


@function_converter("interpolate", "upsample")
def interpolate(x, size=None, scale_factor=None, mode="nearest", align_corners=None, recompute_scale_factor=None,
                antialias=False):
    if antialias:
        raise Unsupported("antialias=True")
    return upsample_layer(data(x, "its input"), size, scale_factor, mode, align_corners, recompute_scale_factor)


PAD_MODES = {"constant": "zero_pad", "reflect": "reflection_pad", "replicate": "replication_pad"}


@function_converter("pad")
def pad(x, pad, mode="constant", value=None):
    if mode not in PAD_MODES or value not in (None, 0, 0.0):
        raise Unsupported(f"pads in mode {mode!r} with value {value}: a spec pads with zeros, by reflection or by "
                          "replication")
    return Converted(PAD_MODES[mode], {"padding": compact(list(pad))}, [data(x, "its input")])


@function_converter("contiguous", "detach", "alias")
def unchanged(x, *args, **kwargs):
    return Alias(data(x, "its input"))


@function_converter("chunk")
def chunk(x, chunks, dim=0):
    """``torch.chunk``: PyTorch's pieces of ``ceil(n / chunks)``, the last one smaller."""
    x = data(x, "its input")
    size = x.shape[dim]
    step = -(-size // chunks)
    return split_parts(x, [min(step, size - start) for start in range(0, size, step)], dim)


@function_converter("split", "split_with_sizes")
def split(x, split_size_or_sections, dim=0):
    x = data(x, "its input")
    size = x.shape[dim]
    if isinstance(split_size_or_sections, int):
        step = split_size_or_sections
        sizes = [min(step, size - start) for start in range(0, size, step)]
    else:
        sizes = list(split_size_or_sections)
    return split_parts(x, sizes, dim)


def split_parts(x: Ref, sizes: list[int], dim: int) -> Parts:
    axis = dim % len(x.shape)
    if axis == 0:
        raise Unsupported("splits the batch axis")
    starts = [sum(sizes[:i]) for i in range(len(sizes))]
    return Parts([Converted("slice", {"dim": axis, "start": start, "end": start + n}, [x])
                  for start, n in zip(starts, sizes)])


@function_converter("narrow")
def narrow(x, dim, start, length):
    x = data(x, "its input")
    axis = dim % len(x.shape)
    if axis == 0:
        raise Unsupported("narrows the batch axis")
    return Converted("slice", {"dim": axis, "start": start, "end": start + length}, [x])


@function_converter("slice")
def aten_slice(x, dim=0, start=None, end=None, step=1):
    """aten.slice, as torch.export writes ``x[:, a:b]``."""
    return index(x, (slice(None),) * (dim % len(x.shape)) + (slice(start, end, step),))


@function_converter("getitem")
def getitem(x, key):
    """``x[:, :c]``: a slice of one axis (the batch kept whole); ``parts[i]`` picks a part of a chunk."""
    if isinstance(x, Parts):
        return x.parts[key]
    return index(x, key)


def index(x, key) -> Converted | Alias:
    x = data(x, "the indexed tensor")
    key = key if isinstance(key, tuple) else (key,)
    if not all(isinstance(k, slice) for k in key) or len(key) > len(x.shape):
        raise Unsupported(f"indexing with {key!r}: only slices of one axis (x[:, a:b]) are spec layers")
    cut = [(axis, k) for axis, k in enumerate(key) if k != slice(None)]
    if not cut:
        return Alias(x)
    if len(cut) > 1 or cut[0][0] == 0 or cut[0][1].step not in (None, 1):
        raise Unsupported(f"indexing with {key!r}: only a step-1 slice of one axis other than the batch is a spec layer")
    axis, piece = cut[0]
    start, end, _ = piece.indices(x.shape[axis])
    return Converted("slice", {"dim": axis, "start": start, "end": end}, [x])


@function_converter("view", "reshape", "_unsafe_view")
def reshape(x, *shape):
    """``x.view(x.size(0), -1)`` is flatten; any other shape that keeps the batch axis first is reshape."""
    x = data(x, "its input")
    sizes = list(shape[0]) if len(shape) == 1 and isinstance(shape[0], (tuple, list, torch.Size)) else list(shape)
    known = [int(n) for n in sizes]
    given = _product([n for n in known if n != -1])
    resolved = [_product(x.shape) // given if n == -1 else n for n in known]
    if not resolved or resolved[0] != x.shape[0]:
        raise Unsupported(f"reshapes {list(x.shape)} to {known}: the batch axis must stay first and whole")
    if len(resolved) == 2:
        return Converted("flatten", {"start_dim": 1, "end_dim": -1}, [x])
    return Converted("reshape", {"shape": resolved[1:]}, [x])


def _product(sizes: list[int]) -> int:
    out = 1
    for n in sizes:
        out *= n
    return out


@function_converter("unflatten")
def unflatten(x, dim, sizes):
    x = data(x, "its input")
    axis = dim % len(x.shape)
    if axis == 0:
        raise Unsupported("unflattens the batch axis")
    known = _product([n for n in sizes if n != -1])
    sizes = [x.shape[axis] // known if n == -1 else int(n) for n in sizes]
    return Converted("reshape", {"shape": [*x.shape[1:axis], *sizes, *x.shape[axis + 1:]]}, [x])


def squeezing(kind: str):
    """``x.unsqueeze(-1)``, ``x.squeeze(2)``: reshape, the batch axis kept."""
    def convert(x, dim=None):
        x = data(x, "its input")
        shape = list(x.shape)
        if kind == "unsqueeze":
            shape.insert(dim % (len(shape) + 1), 1)
        else:
            dims = range(len(shape)) if dim is None else [dim] if isinstance(dim, int) else dim
            drop = {d % len(shape) for d in dims if shape[d % len(shape)] == 1}
            if 0 in drop:
                raise Unsupported("squeezes the batch axis (traced at batch 2, so it is not 1)")
            shape = [n for axis, n in enumerate(shape) if axis not in drop]
        if shape[0] != x.shape[0] or len(shape) < 2:
            raise Unsupported(f"{kind} at dim {dim} moves the batch axis")
        return Converted("reshape", {"shape": shape[1:]}, [x])
    return convert


FUNCTIONS.update({"squeeze": squeezing("squeeze"), "unsqueeze": squeezing("unsqueeze")})


@function_converter("channel_shuffle", "native_channel_shuffle")
def channel_shuffle(x, groups):
    return Converted("channel_shuffle", {"groups": int(groups)}, [data(x, "its input")])


@function_converter("pixel_shuffle")
def pixel_shuffle(x, upscale_factor):
    return Converted("pixel_shuffle", {"upscale_factor": int(upscale_factor)}, [data(x, "its input")])


@function_converter("pixel_unshuffle")
def pixel_unshuffle(x, downscale_factor):
    return Converted("pixel_unshuffle", {"downscale_factor": int(downscale_factor)}, [data(x, "its input")])


@function_converter("permute")
def permute(x, *dims):
    x = data(x, "its input")
    order = list(dims[0]) if len(dims) == 1 and isinstance(dims[0], (tuple, list)) else list(dims)
    order = [d % len(x.shape) for d in order]
    if order[0] != 0:
        raise Unsupported(f"permute {order} moves the batch axis")
    return Converted("permute", {"dims": order}, [x])


@function_converter("transpose", "swapaxes", "swapdims")
def transpose(x, dim0, dim1):
    x = data(x, "its input")
    order = list(range(len(x.shape)))
    a, b = dim0 % len(order), dim1 % len(order)
    order[a], order[b] = order[b], order[a]
    return permute(x, order)


@function_converter("linear")
def linear_call(x, weight, bias=None):
    """``F.linear(x, self.weight, self.bias)`` with a module's own parameters."""
    x = data(x, "its input")
    for tensor, what in ((weight, "weight"), (bias, "bias")):
        if tensor is not None and (not isinstance(tensor, Ref) or not tensor.what.startswith("parameter")):
            raise Unsupported(f"its {what} is {getattr(tensor, 'what', '') or 'computed'}, not a parameter")
    if weight.shape[1] != x.shape[-1]:
        raise Unsupported(f"weight {list(weight.shape)} does not fit input {list(x.shape)}")
    owns = [t.what.removeprefix("parameter ") for t in (weight, bias) if t is not None]
    return Converted("linear", {"out_features": weight.shape[0], "bias": bias is not None}, [x], owns=owns)


OPERATOR_NAMES = {operator.add: "add", operator.iadd: "iadd", operator.mul: "mul", operator.imul: "imul",
                  operator.getitem: "getitem"}


def function_name(target: Any) -> str:
    """The converter key of a call target: a torch function, an operator, a method name or an aten op."""
    if isinstance(target, str):
        return target
    if target in OPERATOR_NAMES:
        return OPERATOR_NAMES[target]
    packet = getattr(target, "overloadpacket", None)  # torch.ops.aten.add_.Tensor -> "add_"
    return packet.__name__ if packet is not None else getattr(target, "__name__", repr(target))


def describe_target(target: Any) -> str:
    """How a user would write the call: 'torch.flatten', 'operator.add', 'Tensor.view', 'aten.add_'."""
    if isinstance(target, str):
        return f"Tensor.{target}"
    function = getattr(target, "function", None)  # the importer's node for a custom autograd Function
    if isinstance(function, type):
        return f"{function.__module__}.{function.__qualname__}.apply"
    packet = getattr(target, "overloadpacket", None)
    if packet is not None:
        return f"aten.{packet.__name__}"
    module = getattr(target, "__module__", None) or ""
    module = {"_operator": "operator", "torch._C._nn": "torch.nn.functional", "torch._C._VariableFunctions": "torch"}.get(
        module, module)
    return f"{module}.{getattr(target, '__qualname__', getattr(target, '__name__', repr(target)))}".lstrip(".")
