"""The torchvision zoo against torchvision's published figures.

tests/data/reference/torchvision_meta.json holds, for every weights enum of torchvision's CNN
classification and segmentation models, ``meta["num_params"]`` and ``meta["_ops"]`` (GMACs, 3
decimals) with the eval crop size they were measured at, read from torchvision's source (not computed
by cnnspec). Every model there is a built-in name: its params equal num_params exactly and its MACs
round to _ops, at the weights' own resolution; its outputs have the right shape; it builds in torch
(on the meta device) with the parameters the analyzer counts.
"""
from __future__ import annotations

import json

import pytest

import cnnspec
from cnnspec.spec import builtin_specs, builtin_variants

from .conftest import REFERENCE
from .test_specs import AUX_HEADS

META = json.loads((REFERENCE / "torchvision_meta.json").read_text())
MODELS = META["models"]
SEGMENTATION = {name for name, model in MODELS.items() if model["file"].startswith("torchvision/models/segmentation/")}
CLASSES = {"classification": 1000, "segmentation": 21}  # ImageNet-1K; COCO with VOC's 20 classes + background

PENDING = {
    **dict.fromkeys(["shufflenet_v2_x0_5", "shufflenet_v2_x1_0", "shufflenet_v2_x1_5",
                     "shufflenet_v2_x2_0", "efficientnet_b0", "efficientnet_b1", "efficientnet_b2", "efficientnet_b3",
                     "efficientnet_b4", "efficientnet_b5", "efficientnet_b6", "efficientnet_b7", "efficientnet_v2_s",
                     "efficientnet_v2_m", "efficientnet_v2_l", "convnext_tiny", "convnext_small", "convnext_base",
                     "convnext_large"],
                    "needs issue 12's layers and expressions"),
}
"""Models of torchvision_meta.json not yet in the library, and why; the test below keeps it honest."""

WRITTEN = sorted(set(MODELS) - set(PENDING))


def test_pending_models_are_exactly_those_not_yet_written():
    names = {*builtin_specs(), *builtin_variants()}
    assert not set(PENDING) & names, "written: take them off PENDING"
    assert set(PENDING) <= set(MODELS)
    assert set(WRITTEN) <= names


def measured_at(model: str, side: int) -> list[dict]:
    """torchvision's weights of ``model`` whose figures were measured at ``side`` x ``side``: the eval crop,
    or for segmentation (no crop) the resize."""
    return [weights for weights in MODELS[model]["weights"].values()
            if weights.get("crop_size", weights.get("resize_size")) == side]


AUX_KEPT = {"inception_v3": "Inception_V3's builder keeps AuxLogits with the weights (aux_logits=True by default)"}
"""Aux heads whose parameters torchvision's num_params counts; GoogLeNet's builder drops aux1 and aux2."""


def totals(model: str, analysis) -> tuple[int, int]:
    """(params, MACs) as torchvision measured them. An aux head runs in training only, so no MACs of it
    count (torchvision measures in eval mode) and its params only where the weights keep it; the
    segmentation models' aux classifier runs in eval too, so it counts whole."""
    heads = tuple(head + "." for head in AUX_HEADS.get(model, ()))
    main = [row for row in analysis.rows if not heads or not row.name.startswith(heads)]
    counted = analysis.rows if model in AUX_KEPT else main
    return sum(row.params for row in counted), sum(row.macs for row in main)


@pytest.fixture(scope="module")
def zoo() -> dict:
    return {model: cnnspec.analyze(cnnspec.load(model)) for model in WRITTEN}


@pytest.mark.parametrize("model", WRITTEN)
def test_params_and_macs_are_torchvision_published_figures(model, zoo):
    analysis = zoo[model]
    side = analysis.input_shape[-1]
    published = measured_at(model, side)
    assert published, f"{model}: no torchvision weights measured at {side}x{side}"
    params, macs = totals(model, analysis)
    for weights in published:
        assert params == weights["num_params"]
        assert round(macs / 1e9, 3) == weights["gflops"], f"{macs:,} MACs against {weights['gflops']} GFLOPS"


@pytest.mark.parametrize("model", WRITTEN)
def test_outputs_have_torchvision_shapes(model, zoo):
    analysis = zoo[model]
    if model in SEGMENTATION:
        side = analysis.input_shape[-1]
        shapes = [analysis.row(name).shape for name in analysis.outputs]
        assert shapes == [(CLASSES["segmentation"], side, side)] * len(shapes)  # out, and aux where the weights keep it
    else:
        assert analysis.row(analysis.outputs[0]).shape == (CLASSES["classification"],)


@pytest.mark.parametrize("model", WRITTEN)
def test_builds_in_torch_with_the_counted_parameters(model, zoo):
    pytest.importorskip("torch")
    built = cnnspec.build(model, device="meta")
    assert sum(p.numel() for p in built.parameters()) == zoo[model].totals.params
    assert sum(b.numel() for b in built.buffers()) == zoo[model].totals.buffers


def test_the_readme_zoo_table_lists_every_model():
    readme = (REFERENCE.parents[2] / "README.md").read_text()
    table = readme[readme.index("<!-- cnnspec table models="):readme.index("<!-- /cnnspec -->", readme.index("## The zoo"))]
    listed = {line.split("|")[1].strip() for line in table.splitlines()[3:]}
    assert set(WRITTEN) <= listed
