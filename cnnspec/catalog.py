"""The layer types as a reader needs them, read from the registry: arguments with their types and
defaults, what each counts, how it stores its output, and the torch module it builds.

``cnnspec layers`` prints it and docs/layers.md is generated from it (``make docs``), so a new layer
type appears in both without anyone writing a line of documentation by hand. The torch module is
read from the source of the type's ``to_torch`` (torch is not imported): the ``nn.X`` it names, the
modules it imports from cnnspec.torch.modules, or ``getattr(nn, self.module_name)``; tests/torch
checks it against what ``to_torch`` builds for every case of the layer contract.
"""
from __future__ import annotations

import ast
import dataclasses
import inspect
import re
import sys
import textwrap
from dataclasses import dataclass

from .layers import LAYERS
from .layers.base import Layer, describe_type

COUNTS = {"params": "params", "buffers": "buffers", "macs": "MACs", "flops": "FLOPs"}
STORAGE = {"new": "stores its output", "inplace": "runs in place (out of place where its input has another reader)",
           "view": "a view: stores nothing"}


@dataclass
class Argument:
    name: str
    type: str
    default: str | None  # as a spec would write it; None: required


@dataclass
class LayerType:
    name: str
    aliases: list[str]
    family: str  # its file in cnnspec/layers
    summary: str
    arguments: list[Argument]
    inputs: str
    counts: list[str]
    storage: str
    torch: list[str]


def layer_types() -> list[LayerType]:
    """Every registered type once (aliases folded in), by family then name."""
    classes = {cls: [] for cls in LAYERS.values()}
    for name, cls in LAYERS.items():
        if name != cls.type_name:
            classes[cls].append(name)
    found = [describe(cls, aliases) for cls, aliases in classes.items()]
    return sorted(found, key=lambda t: (t.family, t.name))


def describe(cls: type[Layer], aliases: list[str]) -> LayerType:
    arguments = [Argument(name, describe_type(tp), _default(f)) for name, (f, tp) in cls.arguments().items()]
    low, high = cls.inputs_range
    inputs = str(low) if low == high else f"{low} or more" if high is None else f"{low} to {high}"
    return LayerType(cls.type_name, aliases, cls.__module__.rsplit(".", 1)[-1], summary(cls), arguments, inputs,
                     counts(cls), storage(cls), torch_modules(cls))


def _default(f: dataclasses.Field) -> str | None:
    if f.default is not dataclasses.MISSING:
        value = f.default
    elif f.default_factory is not dataclasses.MISSING:
        value = f.default_factory()
    else:
        return None
    return {True: "true", False: "false", None: "null"}.get(value, repr(value)) if isinstance(value, (bool, type(None))) \
        else (value if isinstance(value, str) else str(value))


def summary(cls: type) -> str:
    """The first paragraph of the type's own docstring (or an ancestor's), else of its family's module."""
    for klass in cls.__mro__:
        doc = klass.__dict__.get("__doc__")
        if klass is Layer:
            break
        if doc and not doc.startswith(klass.__name__ + "("):  # not the signature dataclass writes
            return _paragraph(doc)
    return _paragraph(sys.modules[cls.__module__].__doc__ or "")


def _paragraph(doc: str) -> str:
    return " ".join(inspect.cleandoc(doc).split("\n\n")[0].split())


def counts(cls: type[Layer]) -> list[str]:
    """The figures the type computes itself; the rest are zero ('flops' defaults to 2 x MACs)."""
    own = [name for name in COUNTS if getattr(cls, name) is not getattr(Layer, name)]
    if "macs" in own and "flops" not in own:
        own.append("flops")
    return [COUNTS[name] for name in COUNTS if name in own]


def storage(cls: type[Layer]) -> str:
    kind = inspect.getattr_static(cls, "memory")
    if isinstance(kind, property):  # decided by the inplace argument
        if cls.arguments()["inplace"][0].default:
            return STORAGE["inplace"] + "; stores its output with inplace: false"
        return "stores its output; runs in place with inplace: true"
    return STORAGE[kind]


def torch_modules(cls: type[Layer]) -> list[str]:
    """The torch modules ``to_torch`` may build, by their import path; a type fixed to a rank
    (``ndim``) or a kind (``kind``: max or avg) keeps only the variants that match."""
    function = cls.to_torch
    if function is Layer.to_torch:
        return []
    tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "nn":
            found.append(f"torch.nn.{node.attr}")
        elif isinstance(node, ast.ImportFrom) and (node.module or "").endswith("torch.modules"):
            found += [f"cnnspec.torch.modules.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "getattr":
            name = node.args[1].value if isinstance(node.args[1], ast.Subscript) else node.args[1]
            if isinstance(name, ast.Attribute):  # getattr(nn, self.module_name) or getattr(nn, self.modules[rank])
                named = getattr(cls, name.attr)
                found += [f"torch.nn.{n}" for n in (named if isinstance(named, tuple) else (named,))]
    found = list(dict.fromkeys(name for name in found if name.rsplit(".", 1)[-1][:1].isupper()))
    return _matching(_matching(found, f"{cls.ndim}d", suffix=True) if getattr(cls, "ndim", None) else found,
                     str(getattr(cls, "kind", "")).capitalize())


def _matching(names: list[str], part: str, suffix: bool = False) -> list[str]:
    kept = [n for n in names if part and (n.endswith(part) if suffix else part in n.rsplit(".", 1)[-1])]
    return kept or names


# --- rendering --------------------------------------------------------------------------------

def argument_text(argument: Argument) -> str:
    return f"{argument.name}: {argument.type}" + (" (required)" if argument.default is None
                                                   else f" = {argument.default}")


def to_text(types: list[LayerType], width: int | None = None) -> str:
    """One paragraph per type, wrapped to ``width``."""
    wrap = (lambda text, indent: textwrap.fill(text, width, subsequent_indent=indent, break_long_words=False,
                                               break_on_hyphens=False)) if width else (lambda text, indent: text)
    blocks = []
    for t in types:
        lines = [wrap(f"{t.name}" + (f" (also {', '.join(t.aliases)})" if t.aliases else "") + f": {t.summary}", "  ")]
        lines += [wrap(f"  {argument_text(a)}", "      ") for a in t.arguments] or ["  no arguments"]
        lines.append(wrap(f"  counts: {', '.join(t.counts) or 'nothing'}; {t.storage}; inputs: {t.inputs}", "    "))
        lines.append(wrap(f"  torch: {', '.join(t.torch) or 'none'}", "    "))
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"


def to_markdown(types: list[LayerType]) -> str:
    """docs/layers.md: a table of contents by family, then one section per type."""
    out = ["# Layer types", "",
           "Generated from the layer registry by `cnnspec layers --format md` (`make docs`); do not edit by hand.",
           "Arguments have PyTorch's names and defaults. *Counts* are the figures the type computes itself",
           "(all others are zero); MACs and FLOPs follow the convention in the README.", ""]
    families: dict[str, list[LayerType]] = {}
    for t in types:
        families.setdefault(t.family, []).append(t)
    out += [f"- **{family}**: " + ", ".join(f"[`{t.name}`](#{_anchor(t.name)})" for t in members)
            for family, members in families.items()]
    for t in types:
        out += ["", f"## {t.name}", "", _escape(t.summary), ""]
        if t.aliases:
            out += [f"Also written: {', '.join(f'`{a}`' for a in t.aliases)}.", ""]
        if t.arguments:
            out += ["| argument | type | default |", "| --- | --- | --- |"]
            out += [f"| `{a.name}` | {_escape(a.type)} | " + ("required" if a.default is None else f"`{a.default}`")
                    + " |" for a in t.arguments]
            out.append("")
        out.append(f"Counts: {', '.join(t.counts) or 'nothing'}. Output: {t.storage}. Inputs: {t.inputs}. "
                   f"PyTorch: {', '.join(f'`{m}`' for m in t.torch) or 'none'}.")
    return "\n".join(out) + "\n"


def _anchor(name: str) -> str:
    return re.sub(r"[^a-z0-9_-]", "", name.lower())


def _escape(text: str) -> str:
    return text.replace("|", "\\|")
