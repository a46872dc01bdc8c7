"""The JSON Schema accepts every built-in spec and the README's example, and rejects typos."""
import json
import re
from pathlib import Path

import jsonschema
import pytest
import yaml

from cnnspec.layers import LAYERS
from cnnspec.schema import spec_schema
from cnnspec.spec import builtin_specs

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def validator():
    schema = spec_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def readme_example() -> dict:
    text = (ROOT / "README.md").read_text()
    return yaml.safe_load(re.search(r"```yaml\n(.*?)```", text, re.S).group(1))


@pytest.mark.parametrize("name", sorted(builtin_specs()))
def test_builtin_specs_validate(validator, name):
    validator.validate(yaml.safe_load(builtin_specs()[name].read_text()))


def test_readme_example_validates(validator):
    validator.validate(readme_example())


def test_schema_rejects_unknown_keys_and_bad_shapes(validator):
    spec = readme_example()
    assert not validator.is_valid({**spec, "layer": []})
    assert not validator.is_valid({**spec, "input": [3, 0, 32]})
    assert not validator.is_valid({**spec, "layers": [{"type": "conv2d", "out_channels": 8}]})  # no kernel_size


def test_schema_is_json_serializable():
    assert json.loads(json.dumps(spec_schema()))["required"] == ["input", "layers"]


def test_every_layer_type_and_alias_is_in_the_schema():
    named = {option["properties"]["type"]["const"] for option in spec_schema()["$defs"]["layer"]["anyOf"]
             if "properties" in option and "const" in option["properties"]["type"]}
    assert named == set(LAYERS)


def test_the_languages_newer_forms_validate(validator):
    spec = yaml.safe_load("""
input: [16, 28, 28]
args: {width_mult: 1.0, act: hardswish}
blocks:
  unit:
    args: {out: required, stride: 1, hidden: 'make_divisible(in_channels * 6, 8)', residual: stride == 1}
    layers:
      - {type: conv2d, out_channels: hidden, groups: in_channels, kernel_size: 3, padding: 1}
      - {type: act, name: a}
      - {type: add, inputs: [a, input], when: residual and in_channels == out}
layers:
  - {type: unit, out: 16, repeat: 0}
  - {type: unit, out: "make_divisible(24 * width_mult, 8)", repeat: ceil(2 * 1.2)}
""")
    validator.validate(spec)
    assert not validator.is_valid({**spec, "layers": [{"type": "unit", "out": 16, "repeat": -1}]})
