"""The torchvision zoo against torchvision's published figures.

tests/data/reference/torchvision_meta.json holds, for every weights enum of torchvision's CNN
classification and segmentation models, ``meta["num_params"]`` and ``meta["_ops"]`` (GMACs, 3
decimals) with the eval crop size they were measured at, read from torchvision's source (not computed
by cnnspec). Every model there is a built-in name: its params equal num_params exactly and its MACs
round to _ops, at the weights' own resolution; its outputs have the right shape; it builds in torch
(on the meta device) with the parameters, buffers, MACs (PyTorch's FlopCounterMode) and output shapes the
analyzer counts. tests/torch/test_verify.py compares layer by layer with fvcore on one variant per design.
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

ZOO = sorted(MODELS)


def test_every_torchvision_model_is_a_builtin_name():
    assert set(MODELS) <= {*builtin_specs(), *builtin_variants()}


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
    return {model: cnnspec.analyze(cnnspec.load(model)) for model in ZOO}


@pytest.mark.parametrize("model", ZOO)
def test_params_and_macs_are_torchvision_published_figures(model, zoo):
    analysis = zoo[model]
    side = analysis.input_shape[-1]
    published = measured_at(model, side)
    assert published, f"{model}: no torchvision weights measured at {side}x{side}"
    params, macs = totals(model, analysis)
    for weights in published:
        assert params == weights["num_params"]
        assert round(macs / 1e9, 3) == weights["gflops"], f"{macs:,} MACs against {weights['gflops']} GFLOPS"


@pytest.mark.parametrize("model", ZOO)
def test_outputs_have_torchvision_shapes(model, zoo):
    analysis = zoo[model]
    if model in SEGMENTATION:
        side = analysis.input_shape[-1]
        shapes = [analysis.row(name).shape for name in analysis.outputs]
        assert shapes == [(CLASSES["segmentation"], side, side)] * len(shapes)  # out, and aux where the weights keep it
    else:
        assert analysis.row(analysis.outputs[0]).shape == (CLASSES["classification"],)


@pytest.mark.parametrize("model", ZOO)
def test_torch_builds_and_measures_what_the_analyzer_counts(model, zoo):
    """On the meta device (no weights allocated): the built module's parameters and buffers, and PyTorch's own
    FlopCounterMode over a forward pass (conv and matrix products, 2 FLOPs per MAC), and every output's shape."""
    torch = pytest.importorskip("torch")
    from torch.utils.flop_counter import FlopCounterMode
    graph, analysis = cnnspec.load(model), zoo[model]
    built = cnnspec.build(graph, device="meta").eval()
    assert sum(p.numel() for p in built.parameters()) == analysis.totals.params
    assert sum(b.numel() for b in built.buffers()) == analysis.totals.buffers
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        outputs = built(torch.empty(1, *graph.input_shape, device="meta"))
    assert counter.get_total_flops() == 2 * analysis.totals.macs
    outputs = outputs if isinstance(outputs, tuple) else (outputs,)
    assert [tuple(o.shape[1:]) for o in outputs] == [analysis.row(name).shape for name in analysis.outputs]


def test_the_readme_zoo_table_lists_every_model():
    readme = (REFERENCE.parents[2] / "README.md").read_text()
    table = readme[readme.index("<!-- cnnspec table models="):readme.index("<!-- /cnnspec -->", readme.index("## The zoo"))]
    listed = {line.split("|")[1].strip() for line in table.splitlines()[3:]}
    assert set(ZOO) <= listed
