"""Activations against PyTorch: which tensor autograd saves decides whether a later layer may run in place."""
import pytest
import torch

from cnnspec.layers import LAYERS
from cnnspec.layers.activation import Activation, InplaceActivation
from cnnspec.shape import ArgumentError

ACTIVATIONS = sorted({cls.type_name for cls in LAYERS.values() if issubclass(cls, Activation)})
ARGUMENTS = {"softmax": {"dim": 1}}


def variants(type_name: str) -> list[dict]:
    base = ARGUMENTS.get(type_name, {})
    if issubclass(LAYERS[type_name], InplaceActivation):
        return [{**base, "inplace": True}, {**base, "inplace": False}]
    return [base]


def output_is_saved(module) -> bool:
    """Whether autograd saves the module's output for backward (a tensor sharing its storage and version)."""
    x = torch.randn(2, 3, 4, 4, requires_grad=True) * 1.0  # not a leaf: in-place is allowed
    saved = []
    with torch.autograd.graph.saved_tensors_hooks(lambda t: saved.append(t) or t, lambda t: t):
        out = module(x)
    return any(t.data_ptr() == out.data_ptr() and t._version == out._version for t in saved)


@pytest.mark.parametrize("type_name, arguments", [(name, arguments) for name in ACTIVATIONS
                                                  for arguments in variants(name)])
def test_saves_output_is_what_autograd_saves(type_name, arguments):
    layer = LAYERS[type_name].from_arguments(dict(arguments))
    assert layer.saves_output([(3, 4, 4)], (3, 4, 4)) == output_is_saved(layer.to_torch([(3, 4, 4)]))


def test_in_place_defaults_follow_torchvision():
    # torchvision: ReLU, ReLU6, Hardswish, SiLU in place; MobileNetV3's SE gate nn.Hardsigmoid() is not
    assert {name: LAYERS[name].from_arguments({}).memory for name in ("relu", "hardswish", "hardsigmoid", "mish",
                                                                       "elu", "hardtanh", "prelu")} == {
        "relu": "inplace", "hardswish": "inplace", "hardsigmoid": "new", "mish": "new", "elu": "new",
        "hardtanh": "new", "prelu": "new"}


def test_prelu_learns_one_slope_or_one_per_channel():
    shared = LAYERS["prelu"].from_arguments({})
    assert shared.params([(64, 8, 8)]) == 1
    per_channel = LAYERS["prelu"].from_arguments({"num_parameters": 64, "init": 0.1})
    assert per_channel.params([(64, 8, 8)]) == 64 and per_channel.flops([(64, 8, 8)], (64, 8, 8)) == 64 * 64
    with pytest.raises(ArgumentError, match=r"num_parameters must be 1 or the input's channels \(64\). "
                                            r"Received: num_parameters=32"):
        LAYERS["prelu"].from_arguments({"num_parameters": 32}).out_shape([(64, 8, 8)])


def test_hardtanh_needs_an_interval():
    with pytest.raises(ArgumentError, match="min_val < max_val"):
        LAYERS["hardtanh"].from_arguments({"min_val": 1.0, "max_val": 1.0}).out_shape([(3, 4, 4)])
