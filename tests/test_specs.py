"""The built-in spec library against independent figures.

Every model in tests/data/reference/torchvision.json (measured from torchvision 0.26, not by cnnspec)
must agree exactly: params, MACs, buffers, and the output shape of every leaf module in forward
order. Where a spec and torchvision legitimately differ in what is a module, the mapping below says
so, with the reason; nothing else is skipped.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

import cnnspec
from cnnspec.analysis import Row
from cnnspec.spec import builtin_dir, builtin_specs

REFERENCE_MODELS = ["alexnet", "vgg11", "vgg13", "vgg16", "vgg19", "vgg16_bn", "googlenet", "inception_v3",
                    "resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "densenet121"]

TORCH_MODULE = {"conv2d": "Conv2d", "batchnorm2d": "BatchNorm2d", "relu": "ReLU", "maxpool2d": "MaxPool2d",
                "avgpool2d": "AvgPool2d", "adaptive_avg_pool2d": "AdaptiveAvgPool2d", "linear": "Linear",
                "dropout": "Dropout"}
"""Spec layer type -> the torch.nn module torchvision uses for it."""

ALWAYS_FUNCTIONAL = {"input", "add", "concat", "flatten"}
"""torchvision writes these as `out += identity`, torch.cat and torch.flatten: no module, no leaf."""


def functional_in_torchvision(model: str, row: Row) -> bool:
    """True for a spec layer that torchvision computes with a torch.* / F.* call (so it lists no leaf)."""
    if row.type in ALWAYS_FUNCTIONAL:
        return True
    if model in ("googlenet", "inception_v3") and row.type == "relu":
        return True  # BasicConv2d = conv + BN + F.relu(inplace=True)
    if model == "inception_v3" and row.type in ("avgpool2d", "maxpool2d") and row.name.startswith("Mixed_"):
        return True  # the pools inside InceptionA..E are F.avg_pool2d / F.max_pool2d
    if model == "densenet121" and row.name in ("relu", "avgpool"):
        return True  # DenseNet.forward: F.relu then F.adaptive_avg_pool2d after features.norm5
    return False


def folded_by_spec(model: str, leaf: list) -> bool:
    """True for a torchvision leaf the spec leaves out because it does nothing at this input size."""
    module, _ = leaf
    return module == "AdaptiveAvgPool2d" and model in ("alexnet", "vgg11", "vgg13", "vgg16", "vgg19", "vgg16_bn")
    # AdaptiveAvgPool2d(7) (VGG) / (6) (AlexNet) on a 7x7 / 6x6 map: the identity, checked below


@pytest.fixture(scope="module")
def analyses() -> dict:
    return {}


def analysis_of(name: str, cache: dict, **overrides):
    key = (name, tuple(sorted(overrides.items())))
    if key not in cache:
        cache[key] = cnnspec.analyze(cnnspec.load(name, overrides=overrides or None))
    return cache[key]


@pytest.mark.parametrize("model", REFERENCE_MODELS)
def test_totals_equal_torchvision(model, torchvision_reference, analyses):
    """Summed over the main path: the reference googlenet and inception_v3 have no aux heads."""
    analysis, reference = analysis_of(model, analyses), torchvision_reference[model]
    rows = [row for row in analysis.rows if row.name in set(main_path_rows(analysis))]
    totals = {key: sum(getattr(row, key) for row in rows) for key in ("params", "trainable", "macs", "buffers")}
    assert totals == {key: reference[key] for key in totals}


@pytest.mark.parametrize("model", REFERENCE_MODELS)
def test_leaf_module_shapes_equal_torchvision(model, torchvision_reference, analyses):
    analysis = analysis_of(model, analyses)
    main_path = set(main_path_rows(analysis))
    spec_leaves = [[TORCH_MODULE[row.type], list(row.shape)] for row in analysis.rows
                   if row.name in main_path and not functional_in_torchvision(model, row)]
    leaves = torchvision_reference[model]["leaf_modules"]
    kept = [leaf for leaf in leaves if not folded_by_spec(model, leaf)]
    assert spec_leaves == kept
    for index, leaf in enumerate(leaves):
        if folded_by_spec(model, leaf):
            assert leaf[1] == leaves[index - 1][1]  # a folded module maps its input shape to itself


def main_path_rows(analysis) -> list[str]:
    """Names of the rows the first output depends on (googlenet's aux heads are extra outputs;
    torchvision's reference was built with aux_logits=False)."""
    inputs = {row.name: row.inputs for row in analysis.rows}
    needed, stack = set(), [analysis.outputs[0]]
    while stack:
        name = stack.pop()
        if name not in needed:
            needed.add(name)
            stack.extend(inputs[name])
    return [row.name for row in analysis.rows if row.name in needed]
