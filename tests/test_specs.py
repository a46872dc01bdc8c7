"""The built-in spec library against independent figures.

Every model in tests/data/reference/torchvision.json (measured from torchvision 0.26, not by cnnspec)
must agree exactly: params, MACs, buffers, and the output shape of every leaf module in forward
order. Where a spec and torchvision differ in what is a module, the tables below say so, with the
reason; nothing else is skipped. Then every built-in spec: analyzes without warnings (except those
listed with a reason), passes its own expect: figures, builds in torch with the parameters counted.
A family file (squeezenet.yaml) is one spec whose variants are built-in names (squeezenet1_1); each
variant is checked as a spec of its own. tests/test_zoo.py holds torchvision's published figures.
"""
from __future__ import annotations

import re

import pytest
from typer.testing import CliRunner

import cnnspec
from cnnspec.cli import app
from cnnspec.spec import builtin_dir, builtin_specs, builtin_variants

NAMES = sorted({*builtin_specs(), *builtin_variants()})
"""Every built-in name: the spec files and the variants of the family files."""

REFERENCE_MODELS = ["alexnet", "vgg11", "vgg13", "vgg16", "vgg19", "vgg16_bn", "googlenet", "inception_v3",
                    "resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "densenet121"]

TORCH_MODULE = {"conv2d": "Conv2d", "batchnorm2d": "BatchNorm2d", "relu": "ReLU", "maxpool2d": "MaxPool2d",
                "avgpool2d": "AvgPool2d", "adaptive_avg_pool2d": "AdaptiveAvgPool2d", "linear": "Linear",
                "dropout": "Dropout"}
"""Spec layer type -> the torch.nn module torchvision uses for it."""

FUNCTIONAL_EVERYWHERE = {"add": "out += identity", "concat": "torch.cat", "flatten": "torch.flatten"}
"""Spec layer types that every torchvision model computes with a function: no module, no leaf."""

FUNCTIONAL = {
    "googlenet": {r"relu .*": "BasicConv2d calls F.relu"},
    "inception_v3": {r"relu .*": "BasicConv2d calls F.relu",
                     r"(avgpool2d|maxpool2d) Mixed_.*": "InceptionA..E pool with F.avg_pool2d / F.max_pool2d"},
    "densenet121": {r"relu relu": "DenseNet.forward calls F.relu after features.norm5",
                    r"adaptive_avg_pool2d avgpool": "DenseNet.forward calls F.adaptive_avg_pool2d"},
}
"""Per model: spec layers ('type name' patterns) that torchvision computes with a function."""

FOLDED = {model: {"AdaptiveAvgPool2d": "AdaptiveAvgPool2d(7) of a 7x7 map (AlexNet: (6) of 6x6) is the identity; "
                                       "the spec skips it there (when:) and keeps it at every other size"}
          for model in ("alexnet", "vgg11", "vgg13", "vgg16", "vgg19", "vgg16_bn")}
"""Per model: torchvision leaf modules that the spec leaves out because they do nothing at this size."""

AUX_HEADS = {"googlenet": ("aux1", "aux2"), "inception_v3": ("AuxLogits",)}
"""Extra outputs of the spec; the reference was built with aux_logits=False, so they are left out."""


@pytest.fixture(scope="module")
def analyses() -> dict:
    return {name: cnnspec.analyze(cnnspec.load(name)) for name in REFERENCE_MODELS + sorted(builtin_specs())}


def main_path(model: str, analysis) -> list:
    heads = tuple(head + "." for head in AUX_HEADS.get(model, ()))
    return [row for row in analysis.rows if row.type != "input" and not row.name.startswith(heads)]


def has_module(model: str, row) -> bool:
    """Whether torchvision runs this spec layer as a leaf module (so the reference lists it)."""
    if row.type in FUNCTIONAL_EVERYWHERE:
        return False
    return not any(re.fullmatch(pattern, f"{row.type} {row.name}") for pattern in FUNCTIONAL.get(model, {}))


@pytest.mark.parametrize("model", REFERENCE_MODELS)
def test_totals_equal_torchvision(model, analyses, torchvision_reference):
    reference, rows = torchvision_reference[model], main_path(model, analyses[model])
    assert list(analyses[model].input_shape) == reference["input"][1:]
    totals = {key: sum(getattr(row, key) for row in rows) for key in ("params", "trainable", "macs", "buffers")}
    assert totals == {key: reference[key] for key in totals}


@pytest.mark.parametrize("model", REFERENCE_MODELS)
def test_layer_shapes_follow_torchvision_leaf_modules(model, analyses, torchvision_reference):
    leaves = torchvision_reference[model]["leaf_modules"]
    expected = [(kind, tuple(shape)) for kind, shape in leaves if kind not in FOLDED.get(model, {})]
    spec = [(TORCH_MODULE[row.type], row.shape) for row in main_path(model, analyses[model]) if has_module(model, row)]
    assert spec == expected
    for before, (kind, shape) in zip(leaves, leaves[1:]):
        if kind in FOLDED.get(model, {}):
            assert shape == before[1]  # a folded module maps its input's shape to itself


@pytest.mark.parametrize("model", sorted(FOLDED))
@pytest.mark.parametrize("size", [64, 320])
def test_adaptive_pooling_keeps_torchvisions_parameters_at_any_input_size(model, size, torchvision_reference):
    # torchvision pools the last map to 7x7 (AlexNet 6x6) whatever the input: from 2x2 at 64 (1x1 for
    # AlexNet), from 10x10 at 320 (9x9); without the pool, vgg16 at 320 was a 245,312,296-parameter network
    analysis = cnnspec.analyze(cnnspec.load(model, (3, size, size)))
    assert analysis.totals.params == torchvision_reference[model]["params"]
    assert analysis.row("avgpool").shape == ((256, 6, 6) if model == "alexnet" else (512, 7, 7))


def test_every_mapping_entry_is_used(analyses, torchvision_reference):
    """The exception tables stay honest: each pattern matches a layer, each folded module occurs."""
    for model, patterns in FUNCTIONAL.items():
        for pattern in patterns:
            assert any(re.fullmatch(pattern, f"{row.type} {row.name}") for row in analyses[model].rows), pattern
    for model, kinds in FOLDED.items():
        assert kinds.keys() <= {kind for kind, _ in torchvision_reference[model]["leaf_modules"]}
    for model, heads in AUX_HEADS.items():
        assert [name.split(".")[0] for name in analyses[model].outputs[1:]] == list(heads)


def test_torch_builds_the_parameters_and_buffers_the_analyzer_counts(analyses):
    for name in builtin_specs():
        model = cnnspec.build(name, device="meta")
        totals = analyses[name].totals
        assert sum(p.numel() for p in model.parameters()) == totals.params, name
        assert sum(b.numel() for b in model.buffers()) == totals.buffers, name


SQUEEZENET_CONV1 = {"conv1": "torchvision's conv1 (no padding) on 224 floors (224 - k)/2 + 1 and never sees "
                             "the last row and column, as the Caffe original on 224 did"}
ASPP_RATE_36 = {"classifier.aspp.conv3.conv": "ASPP's rate-36 3x3 spans 73 pixels of a 65x65 map: Chen et al. "
                                              "2017, section 3.3, note that large rates leave few valid weights "
                                              "(hence the image pooling branch); torchvision keeps the rates"}
ALLOWED_WARNINGS = {
    "mnist1d_cnn": {"conv.0.conv": "the course's 40 -> 19: (40 - 3)/2 + 1 = 19.5 floors, the last sample "
                                   "is never seen (as in the course's PyTorch code)"},
    "squeezenet": SQUEEZENET_CONV1, "squeezenet1_0": SQUEEZENET_CONV1, "squeezenet1_1": SQUEEZENET_CONV1,
    **dict.fromkeys(["deeplabv3", "deeplabv3_resnet50", "deeplabv3_resnet101"], ASPP_RATE_36),
    "deeplabv3_mobilenet_v3_large": {**ASPP_RATE_36, "classifier.aspp.conv2.conv": "the rate-24 3x3 spans 49 "
                                     "pixels of the 33x33 map at output stride 16: the same, one rate earlier"},
}
"""spec -> {layer: reason}: the only warnings `cnnspec analyze` may print on a built-in spec."""


@pytest.mark.parametrize("name", NAMES)
def test_analyze_runs_clean(name):
    result = CliRunner().invoke(app, ["analyze", name])
    assert result.exit_code == 0, result.output
    warned = sorted(set(re.findall(r"^warning: ([\w.\-]+):", result.output, re.M)))
    assert warned == sorted(ALLOWED_WARNINGS.get(name, {})), result.output


def test_every_spec_passes_its_expect_figures():
    result = CliRunner().invoke(app, ["check", str(builtin_dir())])
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("name", sorted(builtin_specs()))
def test_every_spec_cites_its_source_and_describes_itself(name):
    """Header comment (source, then the course's design ideas), description: and expect: sections (in a
    family, every variant has its expect:). inception3a_naive is the other helper's comparison variant:
    its header says why it is wasteful."""
    text = (builtin_dir() / f"{name}.yaml").read_text()
    assert text.startswith("# ")
    assert "Design ideas" in text or name == "inception3a_naive"
    assert re.search(r"^description: \S", text, re.M)
    variants = cnnspec.load(name).spec.variants
    assert re.search(r"^expect:", text, re.M) or variants
    for variant in variants:
        assert cnnspec.load(variant).spec.expect, variant


def test_variant_names_are_unique_and_name_no_file():
    found = [name for path in builtin_specs().values() for name in cnnspec.load(str(path)).spec.variants]
    assert len(found) == len(set(found)) and not set(found) & set(builtin_specs())


def test_shared_block_files_are_not_listed():
    shared = sorted(path.name for path in builtin_dir().glob("_*.yaml"))
    assert shared == ["_mobilenet_v3_blocks.yaml", "_resnet_blocks.yaml", "_segmentation_blocks.yaml",
                      "_unet_blocks.yaml"]
    assert not any(name.startswith("_") for name in builtin_specs())


def yaml_lines(*files: str) -> int:
    """Lines that hold YAML: neither blank nor only a comment (the header comments are required)."""
    return sum(1 for file in files for line in (builtin_dir() / file).read_text().splitlines()
               if line.strip() and not line.lstrip().startswith("#"))


def test_the_resnet_family_fits_in_110_lines_counting_its_whole_include_file():
    """Ten networks (ResNet-18 to 152, three ResNeXts, two Wide ResNets) in one spec and its blocks (which
    hold the segmentation models' dilated trunk too)."""
    assert len(cnnspec.load("resnet").spec.variants) == 10
    assert yaml_lines("resnet.yaml", "_resnet_blocks.yaml") <= 110


def test_the_densenet_family_fits_in_60_lines():
    assert "include" not in (builtin_dir() / "densenet.yaml").read_text()  # blocks written in the spec
    assert yaml_lines("densenet.yaml") <= 60
