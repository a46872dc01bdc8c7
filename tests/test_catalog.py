"""`cnnspec layers` and docs/layers.md, read from the layer registry; `cnnspec --version`."""
import importlib.metadata
from pathlib import Path

from typer.testing import CliRunner

import cnnspec
from cnnspec import catalog
from cnnspec.cli import app
from cnnspec.layers import LAYERS

DOC = Path(__file__).parent.parent / "docs" / "layers.md"
runner = CliRunner()


def test_docs_layers_md_is_current():
    assert DOC.read_text() == catalog.to_markdown(catalog.layer_types()), (
        "docs/layers.md is generated: run `cnnspec layers --format md -o docs/layers.md` (or make docs)")


def test_every_registered_name_is_listed_once():
    types = catalog.layer_types()
    names = [t.name for t in types]
    assert len(names) == len(set(names)) == len({cls for cls in LAYERS.values()})
    assert {*names, *(a for t in types for a in t.aliases)} == set(LAYERS)
    text = runner.invoke(app, ["layers"]).stdout
    assert all(f"\n{name}" in "\n" + text for name in names)


def test_a_type_shows_its_arguments_counts_storage_and_torch_module():
    conv2d, = [t for t in catalog.layer_types() if t.name == "conv2d"]
    arguments = {a.name: a.default for a in conv2d.arguments}
    assert arguments == {"out_channels": None, "kernel_size": None, "stride": "1", "padding": "0", "dilation": "1",
                         "groups": "1", "bias": "true"}
    assert conv2d.counts == ["params", "MACs", "FLOPs"] and conv2d.torch == ["torch.nn.Conv2d"]
    relu, flatten, maxpool = (next(t for t in catalog.layer_types() if t.name == n) for n in ("relu", "flatten",
                                                                                                "maxpool2d"))
    assert relu.counts == ["FLOPs"] and relu.storage.startswith("runs in place")
    assert flatten.counts == [] and flatten.storage == "a view: stores nothing"
    assert maxpool.torch == ["torch.nn.MaxPool2d"]
    text = runner.invoke(app, ["layers", "conv2d"]).stdout
    assert text.startswith("conv2d: ") and "  kernel_size: an int or a list of ints (required)" in text
    assert "  torch: torch.nn.Conv2d" in text and "relu" not in text


def test_an_alias_shows_its_type_and_a_typo_is_an_error():
    assert runner.invoke(app, ["layers", "swish"]).stdout.startswith("silu (also swish): ")
    result = runner.invoke(app, ["layers", "conv2x"])
    assert isinstance(result.exception, cnnspec.SpecError) and "did you mean 'conv2d'" in str(result.exception)


def test_version_is_the_package_version():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.stdout == f"cnnspec {cnnspec.__version__}\n"
    assert importlib.metadata.version("cnnspec") == cnnspec.__version__
