"""JSON Schema of the spec format, generated from the layer registry so it never drifts."""
from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, Literal

from .layers import LAYERS
from .layers.base import describe_type

COMMON = {
    "name": {"type": "string", "description": "Layer name; unnamed layers get conv1, pool2, ..."},
    "inputs": {"description": "Layer name(s) this layer reads; default: the previous layer.",
               "oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
    "repeat": {"description": "Repeat the layer or block n times (names get .0, .1, ...); 0 skips it.",
               "anyOf": [{"type": "integer", "minimum": 0}, {"type": "string"}]},
    "first": {"type": "object", "description": "Argument overrides for the first repetition."},
    "when": {"description": "true, false or an expression giving one; when false the layer is skipped and its "
                            "name stands for its first input.", "type": ["boolean", "string"]},
    "trainable": {"type": "boolean", "description": "false freezes the layer's parameters."},
}
EXPRESSION = {"type": "string", "description": "An expression over arguments and in_channels/in_shape, e.g. "
                                                 "4 * width, make_divisible(c * width_mult, 8)"}


def annotation_schema(tp) -> dict[str, Any]:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return {"enum": list(typing.get_args(tp))}
    if origin in (typing.Union, types.UnionType):
        return {"anyOf": [annotation_schema(a) for a in typing.get_args(tp)]}
    if origin is list:
        return {"type": "array", "items": annotation_schema(typing.get_args(tp)[0])}
    simple = {int: "integer", float: "number", bool: "boolean", str: "string", type(None): "null"}
    return {"type": simple[tp]}


def layer_schema(name: str, cls) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    properties = {"type": {"const": name}, **COMMON}
    required = ["type"]
    for f in dataclasses.fields(cls):
        properties[f.name] = {"anyOf": [annotation_schema(hints[f.name]), EXPRESSION],
                              "description": describe_type(hints[f.name])}
        if f.default is dataclasses.MISSING:
            required.append(f.name)
    return {"type": "object", "description": (cls.__doc__ or name).strip().splitlines()[0],
            "properties": properties, "required": required, "additionalProperties": False}


def spec_schema() -> dict[str, Any]:
    layers = [layer_schema(name, cls) for name, cls in sorted(LAYERS.items())]
    block_call = {"type": "object", "required": ["type"],
                  "description": "A block defined under blocks:, or an argument naming a layer type or block",
                  "properties": {"type": {"type": "string", "not": {"enum": sorted(LAYERS)}}, **COMMON}}
    short_form = {"type": "object", "minProperties": 1, "not": {"required": ["type"]},
                  "description": "A layer type or block as the one key, its arguments as the value"}
    layer = {"anyOf": [{"type": "string", "description": "A layer type with default arguments"},
                       *layers, block_call, short_form]}
    layer_list = {"type": "array", "items": {"$ref": "#/$defs/layer"}}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "cnnspec architecture spec",
        "type": "object",
        "required": ["input", "layers"],
        "additionalProperties": False,
        "$defs": {"layer": layer},
        "properties": {
            "name": {"type": "string"},
            "description": {"type": "string"},
            "input": {"description": "Shape without batch: [C, L], [C, H, W] or [C, D, H, W]",
                      "oneOf": [{"type": "array", "items": {"type": "integer", "minimum": 1},
                                 "minItems": 1, "maxItems": 4}, {"type": "string", "pattern": r"^\d+(x\d+)*$"}]},
            "include": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}],
                        "description": "Files whose blocks: this spec uses"},
            "args": {"type": "object", "description": "Top-level arguments, overridable with --set"},
            "blocks": {"type": "object", "additionalProperties": {
                "type": "object", "required": ["layers"], "additionalProperties": False,
                "properties": {"args": {"type": ["object", "array"]}, "layers": layer_list,
                               "inputs": {"type": ["string", "array"]}, "output": {"type": "string"},
                               "description": {"type": "string"}}}},
            "layers": layer_list,
            "outputs": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
            "expect": {"type": "object", "description": "Published figures that `cnnspec check` verifies"},
            "train": {"type": "object", "description": "Training defaults for `cnnspec build --train`"},
            "init": {"description": "Weight initialization: default, kaiming, xavier, ..."},
            "variants": {"type": "object", "description": "Named variants of a family spec, each a built-in name",
                         "additionalProperties": {
                             "type": ["object", "null"], "additionalProperties": False,
                             "properties": {"args": {"type": "object"}, "description": {"type": "string"},
                                            "input": {"$ref": "#/properties/input"}, "expect": {"type": "object"}}}},
        },
    }
