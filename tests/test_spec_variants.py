"""Family specs: one file, its variants built-in names (`cnnspec analyze squeezenet1_1`), or chosen with
`--set variant=NAME`; each variant sets top-level args, and may set its input, description and expect."""
from __future__ import annotations

import pytest
from typer.testing import CliRunner

import cnnspec
from cnnspec.cli import app
from cnnspec.spec import parse_spec

FAMILY = """\
name: plain
input: [3, 32, 32]
args: {width: 8, depth: 1}
layers:
  - {type: conv2d, out_channels: width, kernel_size: 3, padding: 1, repeat: depth, name: conv}
  - global_avg_pool
  - {type: linear, out_features: 10, name: fc}
variants:
  plain_wide:
    args: {width: 16}
    description: twice as wide
    expect: {params: 618}
  plain_deep:
    args: {depth: 3}
    input: [3, 64, 64]
"""

runner = CliRunner()


def test_a_variant_sets_args_input_description_and_expect():
    base = parse_spec(FAMILY, "plain.yaml")
    wide = parse_spec(FAMILY, "plain.yaml", overrides={"variant": "plain_wide"})
    deep = parse_spec(FAMILY, "plain.yaml", overrides={"variant": "plain_deep"})
    assert (base.name, base.variant, base.variants) == ("plain", None, ["plain_wide", "plain_deep"])
    assert (wide.name, wide.variant, wide.description, wide.expect) == ("plain_wide", "plain_wide", "twice as wide",
                                                                        {"params": 618})
    assert wide.nodes[0].arguments["out_channels"] == 16 and base.expect is None
    assert deep.input_shape == (3, 64, 64) and [n.name for n in deep.nodes[:3]] == ["conv.0", "conv.1", "conv.2"]


def test_set_overrides_what_the_variant_sets():
    spec = parse_spec(FAMILY, "plain.yaml", overrides={"variant": "plain_wide", "width": 4})
    assert spec.nodes[0].arguments["out_channels"] == 4


def test_a_builtin_variant_name_loads_its_family_file():
    graph = cnnspec.load("squeezenet1_1")
    assert graph.name == "squeezenet1_1" and graph.path.endswith("squeezenet.yaml")
    assert graph["conv1"].out_shape == (64, 111, 111)
    assert cnnspec.load("squeezenet", overrides={"variant": "squeezenet1_1"})["conv1"].out_shape == (64, 111, 111)


def test_the_cli_takes_a_variant_by_name_or_with_set(tmp_path):
    path = tmp_path / "plain.yaml"
    path.write_text(FAMILY)
    by_set = runner.invoke(app, ["analyze", str(path), "--set", "variant=plain_wide", "--format", "json"])
    assert by_set.exit_code == 0, by_set.output
    assert '"params": 618' in by_set.output
    by_name = runner.invoke(app, ["analyze", "squeezenet1_0"])
    assert by_name.exit_code == 0 and "1,248,424" in by_name.output


@pytest.mark.parametrize("change, message, line", [
    ({"variant": "plain_wdie"}, "the spec has no variant 'plain_wdie' (did you mean 'plain_wide'?); its variants "
                                "are: plain_wide, plain_deep", 9),
])
def test_an_unknown_variant_is_named_with_the_known_ones(change, message, line):
    with pytest.raises(cnnspec.SpecError) as error:
        parse_spec(FAMILY, "plain.yaml", overrides=change)
    assert message in str(error.value) and error.value.loc.line == line


@pytest.mark.parametrize("text, message, line", [
    (FAMILY.replace("args: {width: 16}", "args: {widht: 16}"),
     "variant 'plain_wide' sets argument 'widht', which the spec's args: do not define (did you mean 'width'?)", 10),
    (FAMILY.replace("    description: twice", "    descripton: twice"),
     "variant 'plain_wide' has an unknown key 'descripton' (did you mean 'description'?)", 11),
    (FAMILY.replace("args: {width: 8, depth: 1}", "args: {width: 8, depth: 1, variant: a}"),
     "a spec with variants: cannot have an argument named 'variant'", 3),
    (FAMILY.replace("    expect: {params: 618}", "    expect: 618"), "the expect of variant 'plain_wide' must be a mapping",
     12),
    (FAMILY.replace("  plain_wide:\n", "  'plain wide':\n"), "a variant name must be a word", 9),
])
def test_a_malformed_variant_is_a_located_error(text, message, line):
    with pytest.raises(cnnspec.SpecError) as error:
        parse_spec(text, "plain.yaml", overrides={"variant": "plain_deep"})
    assert message in str(error.value) and error.value.loc.line == line


def test_a_spec_without_variants_says_so():
    with pytest.raises(cnnspec.SpecError, match=r"no variant 'x' \(it defines no variants:\)"):
        cnnspec.load("lenet5", overrides={"variant": "x"})


def test_list_shows_a_family_once_with_its_variants():
    output = runner.invoke(app, ["list"]).output
    family = [line for line in output.splitlines() if "squeezenet" in line]
    assert family[0].startswith("squeezenet ") and "variants: squeezenet1_0, squeezenet1_1" in family[1]


def test_check_meets_every_variants_expect_and_names_the_variant(tmp_path):
    path = tmp_path / "plain.yaml"
    path.write_text(FAMILY)
    passed = runner.invoke(app, ["check", str(path)])
    assert passed.exit_code == 0 and "1 passed" in passed.output
    path.write_text(FAMILY.replace("params: 618", "params: 619"))
    failed = runner.invoke(app, ["check", str(path)])
    assert failed.exit_code == 1
    assert f"{path}:12: FAIL plain_wide: expect: params" in failed.output
