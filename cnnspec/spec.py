"""The spec language: the only module that knows YAML.

A spec is ``input:``, ``layers:`` and optional ``blocks:``, ``include:``, ``args:``, ``outputs:``,
``expect:``, ``train:`` and ``init:``. Loading composes the YAML with PyYAML's safe loader (keeping
line and column of every value), then expands blocks, ``repeat`` and argument arithmetic into a flat
list of ``NodeSpec``: one layer type, its evaluated arguments and the global names of its inputs.

A layer is written canonically as ``{type: conv2d, out_channels: 64, kernel_size: 3}``, or with the
type as its one key, ``{conv2d: {out_channels: 64, kernel_size: 3}}``, or as a bare word (``relu``).
The keys below are not arguments; everything else is passed to the layer type or block.
"""
from __future__ import annotations

import collections.abc
import contextlib
import functools
import gc
import re
import sys
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import yaml

from . import expr
from .errors import Loc, SpecError
from .files import read_input
from .layers import LAYERS
from .layers.base import closest, describe_type
from .shape import Shape

LAYER_KEYS = {"type", "name", "inputs", "repeat", "first", "when", "trainable"}
TOP_KEYS = {"name", "description", "input", "include", "args", "blocks", "layers", "outputs", "expect",
            "train", "init", "variants"}
VARIANT_KEYS = {"args", "input", "description", "expect"}
"""What a variant of a family spec may set (efficientnet_b3: its widths, resolution and published figures)."""
BLOCK_KEYS = {"args", "inputs", "layers", "output", "description"}
REQUIRED = "required"
INIT_SCHEMES = ("default", "kaiming", "kaiming_uniform", "xavier", "xavier_normal", "orthogonal")
"""Weight initializations ``init:`` may name; cnnspec.build implements them."""
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when the wheel has it
MAX_EXPANDED_VALUES = 1_000_000
MAX_LAYERS = 100_000
"""More layers than any network needs (the benchmark's generated spec has 10,000); a `repeat:` beyond
it is refused before it is expanded, rather than running for minutes."""
MAX_BLOCK_DEPTH = 500
"""Block instances nested in each other: far more than any network needs, and few enough that every command
handles them (torch's module tree and the graph's clusters recurse per level; 1,000 levels overflow them)."""
SHAPE_NAMES = ("in_channels", "in_shape")
RESERVED_NAMES = {"index": "the repetition number", "in_channels": "the channels of what a layer reads",
                  "in_shape": "the shape of what a layer reads"}
"""Names an expression sees that cnnspec binds itself; no argument may take them."""
_NAME = re.compile(r"\w[\w.\-]*")
"""What a layer's name may be."""
_STR_TAG, _INT_TAG, _FLOAT_TAG = "tag:yaml.org,2002:str", "tag:yaml.org,2002:int", "tag:yaml.org,2002:float"
_MAP_TAG, _SEQ_TAG, _MERGE_TAG = "tag:yaml.org,2002:map", "tag:yaml.org,2002:seq", "tag:yaml.org,2002:merge"
MAX_INT_DIGITS = 78
"""Digits of an integer literal: 256 bits, as expressions allow (cnnspec.expr.MAX_INT_BITS); a 5,000-digit
literal is a mistake, and Python refuses to convert one of 4,300."""
SHORT_NAMES = {"conv": "conv", "conv_transpose": "upconv", "locally_connected": "local", "maxpool": "pool",
               "avgpool": "pool", "global": "pool", "adaptive": "pool", "batchnorm": "bn", "linear": "fc",
               "local_response_norm": "lrn", "zero_pad": "pad", "center_crop": "crop", "upsample": "up"}


def gc_paused(function):
    """Run without the cyclic garbage collector: loading makes many small objects and few cycles, and
    the collector's passes over them made a 10,000-layer spec take superlinear time (0.75 s -> 0.54 s)."""
    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        if not gc.isenabled():
            return function(*args, **kwargs)
        gc.disable()
        try:
            return function(*args, **kwargs)
        finally:
            gc.enable()
    return wrapper


# --- YAML with locations ----------------------------------------------------------------------

class Mapping(dict):
    """A YAML mapping that remembers where it, each of its keys and each of its values stand."""
    loc: Loc
    locs: dict[str, Loc]
    key_locs: dict[str, Loc]


class Sequence(list):
    loc: Loc
    locs: list[Loc]


def _loc(path: str, node: yaml.Node) -> Loc:
    return Loc(path, node.start_mark.line + 1, node.start_mark.column + 1)


def _expanded_size(path: str, root: yaml.Node) -> int:
    """Values the document expands to with aliases followed, counted without expanding them; an alias inside
    the node it names (``x: &a [*a]``) would expand forever and is refused."""
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()  # on the current path from the root
    stack = [(root, False)]
    while stack:
        node, done = stack.pop()
        if id(node) in sizes:
            continue
        if not done and id(node) in open_nodes:
            raise SpecError("a YAML alias refers to a node that contains it (x: &a [*a]), which never ends; "
                            "refusing to load it", _loc(path, node))
        children = ([c for pair in node.value for c in pair] if isinstance(node, yaml.MappingNode)
                    else node.value if isinstance(node, yaml.SequenceNode) else [])
        if done:
            sizes[id(node)] = min(1 + sum(sizes[id(c)] for c in children), MAX_EXPANDED_VALUES + 1)
            open_nodes.discard(id(node))
        else:
            open_nodes.add(id(node))
            stack.append((node, True))
            stack.extend((c, False) for c in children if id(c) not in sizes)
    return sizes[id(root)]


def flow_hint(text: str, mark: yaml.Mark) -> str:
    """Why YAML stopped inside {...} or [...]: an unquoted value with brackets or a comma, as
    ``{type: stage, dim: dims[0]}``, ends at the bracket; the hint quotes the value as written."""
    lines = text.splitlines()
    if mark.line >= len(lines):
        return ""
    line, column = lines[mark.line], mark.column
    if not ("{" in line[:column] or "[" in line[:column]) or column >= len(line) or line[column] not in "[{(":
        return ""
    keys = list(re.finditer(r"[{,]\s*([A-Za-z_]\w*)\s*:\s+", line[:column]))
    if not keys:
        return ""
    depth, end = 0, column
    while end < len(line) and not (depth == 0 and line[end] in ",}"):
        depth += {"[": 1, "{": 1, "(": 1, "]": -1, "}": -1, ")": -1}.get(line[end], 0)
        end += 1
    key, value = keys[-1].group(1), line[keys[-1].end():end].strip()
    return f"; inside {{...}} a value with [ ] or a comma must be quoted: {key}: '{value}'"


def read_yaml(path: str, text: str) -> Any:
    """Parse YAML safely into Mapping/Sequence/scalars with locations; SpecError on bad YAML."""
    loader = _LOADER(text)
    try:
        root = loader.get_single_node()
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = Loc(path, mark.line + 1, mark.column + 1) if mark else Loc(path, 1, 1)
        message = f"malformed YAML: {error.problem or error.context}"
        raise SpecError(message + flow_hint(text, mark) if mark else message, where) from None
    except yaml.YAMLError as error:
        raise SpecError(f"malformed YAML: {error}", Loc(path, 1, 1)) from None
    finally:
        loader.dispose()
    if root is None:
        raise SpecError("the spec is empty", Loc(path, 1, 1))
    if "&" in text and _expanded_size(path, root) > MAX_EXPANDED_VALUES:  # no anchor, no alias to follow
        raise SpecError(f"the spec expands to more than {MAX_EXPANDED_VALUES:,} values through YAML aliases "
                        "(an alias bomb?); refusing to load it", _loc(path, root))

    scalars = yaml.constructor.SafeConstructor()

    def convert(node: yaml.Node) -> Any:
        if isinstance(node, yaml.MappingNode):
            check_tag(node, _MAP_TAG)
            out = Mapping()
            out.loc, out.locs, out.key_locs = _loc(path, node), {}, {}
            merged = [pair for pair in node.value if pair[0].tag == _MERGE_TAG]
            for key_node, value_node in merged:  # YAML 1.1 merge keys: the mapping's own keys win
                source = merge_sources(value_node)
                for key, value in source.items():
                    if key not in out:
                        out[key], out.locs[key], out.key_locs[key] = value, source.locs[key], source.key_locs[key]
            inherited = set(out)
            for key_node, value_node in node.value:
                if key_node.tag == _MERGE_TAG:
                    continue
                key = convert(key_node)
                if not isinstance(key, (str, int)):
                    raise SpecError(f"a mapping key must be a word, not {key!r}", _loc(path, key_node))
                key = str(key)
                if key in out and key not in inherited:
                    raise SpecError(f"duplicate key '{key}'", _loc(path, key_node))
                inherited.discard(key)
                out[key], out.locs[key] = convert(value_node), _loc(path, value_node)
                out.key_locs[key] = _loc(path, key_node)
            return out
        if isinstance(node, yaml.SequenceNode):
            check_tag(node, _SEQ_TAG)
            out = Sequence(convert(item) for item in node.value)
            out.loc, out.locs = _loc(path, node), [_loc(path, item) for item in node.value]
            return out
        if node.tag == _STR_TAG:  # the common scalars directly; the constructor costs ~4 us each
            return node.value
        digits = node.value
        if node.tag == _INT_TAG and digits.isascii() and digits.isdigit() and (digits == "0" or digits[0] != "0"):
            if len(digits) > MAX_INT_DIGITS:
                raise SpecError(f"an integer of {len(digits):,} digits; cnnspec takes integers of up to "
                                f"{MAX_INT_DIGITS} digits (256 bits)", _loc(path, node))
            return int(digits)
        if node.tag not in scalars.yaml_constructors or node.tag in (_MAP_TAG, _SEQ_TAG, _MERGE_TAG):
            check_tag(node, None)
        if node.tag in (_INT_TAG, _FLOAT_TAG):
            check_number(node)
        try:
            return scalars.construct_object(node)
        except yaml.MarkedYAMLError as error:
            raise SpecError(f"malformed value: {error.problem}", _loc(path, node)) from None
        except (yaml.YAMLError, ValueError, LookupError):  # a tag the value does not fit: `!!bool maybe`
            raise SpecError(f"malformed value: {node.value!r} is not a valid {node.tag.rpartition(':')[2]}",
                            _loc(path, node)) from None

    def merge_sources(node: yaml.Node) -> Mapping:
        """What ``<<: *base`` or ``<<: [*a, *b]`` brings in: the keys of each mapping, the first one's winning."""
        sources = node.value if isinstance(node, yaml.SequenceNode) else [node]
        if not all(isinstance(source, yaml.MappingNode) for source in sources):
            raise SpecError("a merge key '<<' takes a mapping or a list of mappings (<<: *base)", _loc(path, node))
        out = Mapping()
        out.loc, out.locs, out.key_locs = _loc(path, node), {}, {}
        for source in sources:
            converted = convert(source)
            for key, value in converted.items():
                if key not in out:
                    out[key], out.locs[key], out.key_locs[key] = value, converted.locs[key], converted.key_locs[key]
        return out

    def check_tag(node: yaml.Node, default: str | None) -> None:
        """A tag cnnspec does not know (``!shape``, ``!!python/object``) is refused, not silently dropped."""
        if node.tag == default:
            return
        written = node.tag.replace("tag:yaml.org,2002:", "!!")
        raise SpecError(f"unknown YAML tag '{written}'; a spec is plain YAML (numbers, strings, lists, mappings, "
                        "and the standard !!int, !!float, !!str, !!bool, !!null): remove the tag", _loc(path, node))

    def check_number(node: yaml.Node) -> None:
        """Integers YAML 1.1 reads in a base the writer rarely meant: ``010`` is octal 8, ``1:30`` base 60."""
        text = node.value.replace("_", "").lstrip("+-")
        if re.fullmatch(r"0[0-9]+", text):
            raise SpecError(f"'{node.value}' has a leading zero, which YAML 1.1 reads as octal "
                            f"({scalars.construct_object(node)}); write {int(text)} for decimal, or quote it for text",
                            _loc(path, node))
        if ":" in text:
            raise SpecError(f"'{node.value}' is a base-60 number in YAML 1.1 ({scalars.construct_object(node)}); "
                            "quote it for text", _loc(path, node))
        if node.tag == _INT_TAG and len(text) > MAX_INT_DIGITS:
            raise SpecError(f"an integer of {len(text):,} digits; cnnspec takes integers of up to "
                            f"{MAX_INT_DIGITS} digits (256 bits)", _loc(path, node))

    return convert(root)


# --- the expanded spec ------------------------------------------------------------------------

@dataclass
class NodeSpec:
    """One layer after expansion: everything the graph needs, and where it was written."""
    name: str
    type: str
    arguments: dict[str, Any]
    inputs: list[str]
    loc: Loc
    argument_locs: dict[str, Loc] = field(default_factory=dict)
    block: str | None = None  # the block instance it came from ("layer1.0"), for grouping
    trainable: bool = True


@dataclass
class Spec:
    name: str
    path: str
    input_shape: tuple[int, ...]
    nodes: list[NodeSpec]
    outputs: list[str]
    input_loc: Loc
    output_locs: list[Loc]
    description: str = ""
    expect: Any = None
    train: Any = None
    init: Any = None
    blocks: dict[str, str] = field(default_factory=dict)  # block instance -> block type
    variant: str | None = None  # the variant of a family spec this is ('efficientnet_b3'), if any
    variants: list[str] = field(default_factory=list)  # every variant the file defines


@dataclass
class Block:
    name: str
    args: dict[str, Any]
    arg_locs: dict[str, Loc]
    inputs: list[str]
    layers: Sequence
    output: str | None
    loc: Loc


Reference = tuple[str, Loc, bool]
"""An input as written: (name, where, already a global name)."""


class Names(collections.abc.Mapping):
    """What an expression in one layer entry sees: its scope's arguments (a block's over the top-level ones),
    ``index`` when repeated, and ``in_channels``/``in_shape`` of what it reads, inferred only when read."""
    __slots__ = ("values", "input_shape")

    def __init__(self, values: dict[str, Any], input_shape: Callable[[str], Shape]):
        self.values, self.input_shape = values, input_shape

    def __getitem__(self, key: str) -> Any:
        if key in self.values:
            return self.values[key]
        if key == "in_channels":
            return self.input_shape(key)[0]
        if key == "in_shape":
            return list(self.input_shape(key))
        raise KeyError(key)

    def __contains__(self, key: object) -> bool:
        return key in self.values or key in SHAPE_NAMES

    def __iter__(self):
        yield from self.values
        yield from SHAPE_NAMES

    def __len__(self) -> int:
        return len(self.values) + len(SHAPE_NAMES)


class ForwardReference(expr.ExpressionError):
    """in_channels or in_shape of a layer whose input is written after it."""


class Scope:
    """Names visible while expanding one block instance (or the top level)."""

    def __init__(self, prefix: str, values: dict[str, Any], inputs: dict[str, str]):
        self.prefix = prefix
        self.values = values
        self.names: dict[str, str] = dict(inputs)  # local name -> global node name
        self.counters: dict[str, int] = {}
        self.pending: list[str] = []  # its layers, whose inputs are resolved at scope end (forward references)

    def fresh_name(self, base: str) -> str:
        while True:
            self.counters[base] = self.counters.get(base, 0) + 1
            candidate = f"{base}{self.counters[base]}"
            if candidate not in self.names:
                return candidate


class Expander:
    def __init__(self, path: str, blocks: dict[str, Block], top_values: dict[str, Any], input_shape: Shape):
        self.path = path
        self.blocks = blocks
        self.nodes: list[NodeSpec] = []
        self.by_name: dict[str, NodeSpec] = {}
        self.aliases: dict[str, str] = {}  # a skipped layer or a block instance -> the node it stands for
        self.instances: dict[str, str] = {}
        self.top_values = top_values
        self.top = Scope("", top_values, {"input": "input"})
        self.unresolved: dict[str, tuple[Scope, list[Reference]]] = {}  # node -> its inputs as written
        self.shapes: dict[str, Shape] = {"input": input_shape}  # inferred on demand, for in_channels
        self.layers: dict = {}  # the layers made for those shapes, by type and arguments (graph.make_node)
        self.entries: dict[int, tuple] = {}  # each layer entry as read (split_entry)
        self.words: dict[tuple[str, Loc], Mapping] = {}  # the entries written as a bare word ('relu')
        self.block_path: list[str] = []  # the blocks being expanded, outermost first

    # names ---------------------------------------------------------------------------------
    def resolve(self, reference: str, scope: Scope | None, loc: Loc, layer: str | None, what: str = "input") -> str:
        """The node a reference stands for: a local name of ``scope``, else a global name."""
        name = scope.names.get(reference) if scope else None
        if name is None and (reference in self.by_name or reference in self.aliases or reference == "input"):
            name = reference
        if name is None:
            known = (list(scope.names) if scope else []) + list(self.by_name)
            raise SpecError(f"unknown {what} '{reference}'{closest(reference, known)}", loc, layer)
        seen = set()
        while name in self.aliases:
            if name in seen:
                raise SpecError(f"'{reference}' refers to itself through skipped layers", loc, layer)
            seen.add(name)
            name = self.aliases[name]
        return name

    def resolve_input(self, reference: Reference, scope: Scope, layer: str) -> str:
        name, loc, is_global = reference
        return self.resolve(name, None if is_global else scope, loc, layer)

    def is_defined(self, reference: Reference, scope: Scope) -> bool:
        name, _, is_global = reference
        return ((not is_global and name in scope.names) or name in self.by_name or name in self.aliases
                or name == "input")

    def define(self, local: str, global_name: str, scope: Scope, loc: Loc) -> None:
        if local in scope.names or global_name in self.by_name or global_name in self.aliases:
            raise SpecError(f"the name '{local}' is used twice", loc, global_name)
        scope.names[local] = global_name

    def stand_for(self, local: str, reference: Reference, scope: Scope, loc: Loc) -> str:
        """Define ``local`` as another name of what ``reference`` is (a skipped or zero-times repeated layer)."""
        global_name = scope.prefix + local
        if not self.is_defined(reference, scope):
            known = [*scope.names, *self.by_name]
            raise SpecError(f"skipped, it stands for its first input '{reference[0]}', which is not defined above "
                            f"it{closest(reference[0], known)}; a layer that may be skipped must come after its first "
                            "input", reference[1], global_name)
        self.define(local, global_name, scope, loc)
        self.aliases[global_name] = self.resolve_input(reference, scope, global_name)
        return global_name

    # shapes during expansion -----------------------------------------------------------------
    def names(self, values: dict[str, Any], reference: Reference, scope: Scope) -> Names:
        """The names of an entry that reads ``reference`` first."""
        def input_shape(key: str) -> Shape:
            if not self.is_defined(reference, scope):
                raise ForwardReference(f"{key} needs the shape of '{reference[0]}', which is written after this "
                                       f"layer; {key} can read only layers written before it")
            return self.shape_of(self.resolve_input(reference, scope, None), key)
        return Names(values, input_shape)

    def shape_of(self, name: str, key: str) -> Shape:
        """Output shape of an emitted layer, inferred from what it reads on demand and memoized; the graph
        infers every shape again once the whole spec is expanded."""
        from .graph import make_layer, output_shape  # graph builds on this module; one layer is all we need here
        path, on_path = [name], {name}
        while path:
            current = path[-1]
            if current in self.shapes:
                path.pop()
                continue
            node_spec = self.by_name[current]
            self.resolve_now(node_spec, key)
            waiting = [i for i in node_spec.inputs if i not in self.shapes]
            if waiting:
                if waiting[0] in on_path:
                    cycle = path[path.index(waiting[0]):] + [waiting[0]]
                    raise SpecError(f"the layers form a cycle: {' -> '.join(cycle)}", node_spec.loc, current)
                path.append(waiting[0])
                on_path.add(waiting[0])
                continue
            layer = make_layer(node_spec, self.layers)
            self.shapes[current] = output_shape(layer, [self.shapes[i] for i in node_spec.inputs], node_spec)
        return self.shapes[name]

    def resolve_now(self, node: NodeSpec, key: str) -> None:
        """Resolve a layer's inputs before its scope ends, as its shape is needed now."""
        if node.name not in self.unresolved:
            return
        scope, references = self.unresolved.pop(node.name)
        for reference in references:
            if not self.is_defined(reference, scope):
                raise ForwardReference(f"{key} needs the shape of '{node.name}', whose input '{reference[0]}' is "
                                       f"written after it; {key} can read only layers written before it")
        node.inputs = [self.resolve_input(reference, scope, node.name) for reference in references]

    def resolve_pending(self, scope: Scope) -> None:
        """Resolve the inputs of the scope's layers once all its names exist (forward references)."""
        for name in scope.pending:
            if name in self.unresolved:
                _, references = self.unresolved.pop(name)
                node = self.by_name[name]
                node.inputs = [self.resolve_input(reference, scope, name) for reference in references]
        scope.pending.clear()

    # expansion -----------------------------------------------------------------------------
    def expand_list(self, layers: Any, scope: Scope, previous: str) -> str:
        if not isinstance(layers, list):
            raise SpecError("layers must be a list", getattr(layers, "loc", Loc(self.path, 1, 1)))
        if not layers:
            raise SpecError("layers is empty", getattr(layers, "loc", Loc(self.path, 1, 1)))
        for entry, loc in zip(layers, layers.locs):
            previous = self.expand_entry(entry, loc, scope, previous)
        return previous

    def expand_entry(self, entry: Any, loc: Loc, scope: Scope, previous: str) -> str:
        if isinstance(entry, str):  # one mapping per bare word written, however often its block is used
            word, entry = entry, self.words.get((entry, loc))
            if entry is None:
                entry = self.words[word, loc] = _as_mapping({"type": word}, loc)
        if not isinstance(entry, Mapping):
            raise SpecError(f"a layer must be a mapping with a 'type' or a layer type name, not {entry!r}", loc)
        type_name, arguments, argument_locs = self.split_entry(entry, scope)
        references = self.input_references(entry, previous, loc)
        count = self.repeat_count(entry, self.names(scope.values, references[0], scope))
        if len(self.nodes) + count > MAX_LAYERS:
            repeat = f" with repeat={count:,}" if "repeat" in entry else ""
            raise SpecError(f"the spec expands to more than {MAX_LAYERS:,} layers{repeat} here; refusing to expand "
                            "it", entry.locs.get("repeat", loc))
        first = entry.get("first")
        if first is not None and not isinstance(first, Mapping):
            raise SpecError("first must be a mapping of argument overrides", entry.locs["first"])
        if first is not None and "repeat" not in entry:
            raise SpecError("first only makes sense with repeat", entry.locs["first"])
        if first is not None:
            check_not_split(first, first.locs, None)
        base_name = entry.get("name")  # may start with a digit: PyTorch names nn.Sequential's children '0', '1'
        if base_name is not None and (not isinstance(base_name, str) or not _NAME.fullmatch(base_name)):
            raise SpecError(f"a name must be a word (letters, digits, _ . -). Received: name={base_name!r}",
                            entry.locs["name"])
        if base_name is None:
            base_name = scope.fresh_name(self.short_name(type_name))
        if count == 0:
            return self.stand_for(base_name, references[0], scope, loc)
        output = previous
        for index in range(count):
            args, locs = dict(arguments), dict(argument_locs)
            if index == 0 and first is not None:
                for key, value in first.items():
                    args[key], locs[key] = value, first.locs[key]
            values = {**scope.values, "index": index} if "repeat" in entry else scope.values  # 0 for repeat: 1 too
            local = f"{base_name}.{index}" if count > 1 else base_name
            # the first repetition reads `inputs:` (or the previous layer); later ones chain
            inputs = references if index == 0 else [(output, loc, True)]
            output = self.emit(type_name, local, args, locs, inputs, entry, loc, scope,
                               self.names(values, inputs[0], scope))
        if count > 1:
            self.define(base_name, scope.prefix + base_name, scope, loc)
            self.aliases[scope.prefix + base_name] = output
        return output

    def input_references(self, entry: Mapping, previous: str, loc: Loc) -> list[Reference]:
        """(reference, where written, already a global name) for each input of the entry."""
        if "inputs" not in entry:
            return [(previous, loc, True)]
        raw, loc = entry["inputs"], entry.locs["inputs"]
        if isinstance(raw, str):
            return [(raw, loc, False)]
        if isinstance(raw, list) and raw and all(isinstance(r, str) for r in raw):
            return [(r, r_loc, False) for r, r_loc in zip(raw, raw.locs)]
        raise SpecError(f"inputs must be a layer name or a list of names. Received: inputs={raw!r}", loc)

    def emit(self, type_name, local, args, locs, inputs, entry, loc, scope, names: Names) -> str:
        """One layer or one block instance; returns the global name of what it outputs. Skipped by `when:`,
        it stands for its first input."""
        global_name = scope.prefix + local
        if "when" in entry and not self.condition(entry, names, global_name):
            return self.stand_for(local, inputs[0], scope, loc)
        written, args = args, {k: self.substitute(v, names, locs.get(k, loc), global_name) for k, v in args.items()}
        if type_name in self.blocks:
            return self.emit_block(self.blocks[type_name], local, args, locs, inputs, loc, scope)
        for key, value in args.items():
            if isinstance(value, str) and value is written[key] and value.isidentifier():
                self.check_word(type_name, key, value, names, locs.get(key, loc), global_name)
        trainable = entry.get("trainable", True)
        if not isinstance(trainable, bool):
            raise SpecError(f"trainable must be true or false. Received: trainable={trainable!r}",
                            entry.locs["trainable"], global_name)
        if len(self.nodes) == MAX_LAYERS:  # nested repeats: each below the limit, together above it
            raise SpecError(f"the spec expands to more than {MAX_LAYERS:,} layers; refusing to expand it", loc,
                            global_name)
        node = NodeSpec(global_name, type_name, args, [], loc, locs, scope.prefix.rstrip(".") or None, trainable)
        self.define(local, global_name, scope, loc)
        self.nodes.append(node)
        self.by_name[global_name] = node
        self.unresolved[global_name] = (scope, inputs)
        scope.pending.append(global_name)
        return global_name

    def emit_block(self, block: Block, local: str, args, locs, inputs, loc, scope) -> str:
        global_name = scope.prefix + local
        for key in args:
            if key not in block.args:
                raise SpecError(f"block '{block.name}' has no argument '{key}'{closest(key, block.args)}; "
                                f"its arguments are: {', '.join(block.args) or 'none'}", locs.get(key, loc),
                                global_name)
        if len(inputs) != len(block.inputs):
            raise SpecError(f"block '{block.name}' takes {len(block.inputs)} input(s) "
                            f"({', '.join(block.inputs)}), given {len(inputs)}", loc, global_name)
        if block.name in self.block_path:
            cycle = self.block_path[self.block_path.index(block.name):] + [block.name]
            through = f" through {', '.join(repr(b) for b in cycle[1:-1])}" if len(cycle) > 2 else ""
            raise SpecError(f"block '{block.name}' uses itself{through}: {' -> '.join(cycle)}", loc, global_name)
        if len(self.block_path) == MAX_BLOCK_DEPTH:
            raise SpecError(f"blocks nest more than {MAX_BLOCK_DEPTH:,} deep here ({self.block_path[0]} -> ... -> "
                            f"{self.block_path[-1]} -> {block.name}); refusing to expand them", loc)
        resolved = {formal: self.resolve_input(reference, scope, global_name)
                    for formal, reference in zip(block.inputs, inputs)}
        values = self.block_values(block, args, (resolved[block.inputs[0]], loc, True), scope, global_name)
        self.define(local, global_name, scope, loc)
        self.instances[global_name] = block.name
        inner = Scope(global_name + ".", values, resolved)
        self.block_path.append(block.name)
        last = self.expand_list(block.layers, inner, resolved[block.inputs[0]])
        self.block_path.pop()
        self.resolve_pending(inner)
        output = inner.names.get(block.output, block.output) if block.output else last
        if block.output and block.output not in inner.names:
            raise SpecError(f"block '{block.name}' names output '{block.output}', which it does not define",
                            block.loc)
        self.aliases[global_name] = output
        return global_name

    def block_values(self, block: Block, given: dict, first_input: Reference, scope: Scope, layer: str) -> dict:
        """The instance's arguments: the top-level ones, shadowed by the caller's values, then each default in
        order, which may be an expression over those, the defaults before it and in_channels/in_shape."""
        values = {k: v for k, v in self.top_values.items() if k not in block.args} | given
        names = self.names(values, first_input, scope)
        for key, default in block.args.items():
            if key in given:
                continue
            if default == REQUIRED:
                raise SpecError(f"block '{block.name}' needs argument '{key}'", first_input[1], layer)
            later = sorted(self.names_read(default, block.arg_locs[key], layer)
                           & {k for k in block.args if k not in values and k != key}) if isinstance(default, str) else []
            if later:
                raise SpecError(f"the default of '{key}' reads '{later[0]}', an argument after it that the caller "
                                "did not give; a default reads only the arguments before it", block.arg_locs[key],
                                layer)
            values[key] = self.substitute(default, names, block.arg_locs[key], layer)
        return values

    # pieces of an entry ----------------------------------------------------------------------
    def split_entry(self, entry: Mapping, scope: Scope) -> tuple[str, dict, dict]:
        """(type or block name, its arguments, their locations) from either layer form. What does not depend on
        the scope is read once per entry: a block instantiated 10,000 times has the same entries each time."""
        read = self.entries.get(id(entry))
        if read is None or read[0] is not entry:  # the entry is kept with it, so its id stays its own
            read = self.entries[id(entry)] = (entry, *self.read_entry(entry))
        _, written, type_loc, arguments, locs, layer = read
        return self.layer_type(written, type_loc, scope, layer), arguments, locs

    @staticmethod
    def read_entry(entry: Mapping) -> tuple[Any, Loc, dict, dict, str | None]:
        """(type as written, where, arguments, their locations, the layer's name) of an entry."""
        if "type" in entry:
            written = entry["type"]
            arguments = {k: v for k, v in entry.items() if k not in LAYER_KEYS}
            locs = {k: entry.locs[k] for k in arguments}
            type_loc = entry.locs["type"]
        else:
            candidates = [k for k in entry if k not in LAYER_KEYS]
            if len(candidates) != 1:
                raise SpecError("a layer needs 'type:', or a layer type as its one key "
                                f"(found keys: {', '.join(entry) or 'none'})", entry.loc)
            written = candidates[0]
            type_loc = entry.loc
            body = entry[written]
            if body is None:
                arguments, locs = {}, {}
            elif isinstance(body, Mapping):
                arguments, locs = dict(body), dict(body.locs)
            else:
                raise SpecError(f"the arguments of {written} must be a mapping. Received: {body!r}",
                                entry.locs[written])
        layer = entry.get("name") if isinstance(entry.get("name"), str) else None
        check_not_split(arguments, locs, layer)
        return written, type_loc, arguments, locs, layer

    def layer_type(self, written: Any, loc: Loc, scope: Scope, layer: str | None) -> str:
        """The layer type or block that ``type:`` names, directly or through an argument (``type: act``)."""
        if not isinstance(written, str):
            raise SpecError(f"type must be a layer type name. Received: type={written!r}", loc, layer)
        if written in LAYERS or written in self.blocks:
            return written
        if written in scope.values:
            value = scope.values[written]
            if isinstance(value, str) and (value in LAYERS or value in self.blocks):
                return value
            hint = type_hint(value, [*LAYERS, *self.blocks]) if isinstance(value, str) else ""
            raise SpecError(f"type: {written} is the argument {written}={value!r}, which is not a layer type "
                            f"or block{hint}", loc, layer)
        arguments = [k for k, v in scope.values.items() if isinstance(v, str) and (v in LAYERS or v in self.blocks)]
        nor = ", and no block or argument of that name" if self.blocks or arguments else ""
        hint = type_hint(written, [*LAYERS, *self.blocks, *arguments])
        if arguments and not hint:
            hint = f"; the arguments here that name a type: {', '.join(arguments)}"
        raise SpecError(f"cnnspec has no layer type '{written}'{nor}{hint}", loc, layer)

    def check_word(self, type_name: str, key: str, word: str, names: Names, loc: Loc, layer: str) -> None:
        """A bare word where the layer takes no string ('same', 'nearest') is a misspelt or missing name."""
        fields = LAYERS[type_name].arguments()
        if key in fields and word not in names and not _takes_words(fields[key][1]):
            raise SpecError(f"{key} must be {describe_type(fields[key][1])}, or a name in scope. Received: "
                            f"{key}={word!r}{closest(word, names)}; names in scope: {', '.join(sorted(names))}",
                            loc, layer)

    def repeat_count(self, entry: Mapping, names: Names) -> int:
        if "repeat" not in entry:
            return 1
        count = self.strictly(entry["repeat"], names, entry.locs["repeat"], None)
        if not isinstance(count, int) or isinstance(count, bool) or count < 0:
            raise SpecError(f"repeat must be an int, 0 or more. Received: repeat={_received(entry['repeat'], count)}",
                            entry.locs["repeat"])
        return count

    def condition(self, entry: Mapping, names: Names, layer: str) -> bool:
        """The value of ``when:``, which must be a boolean: a string or a number would silently keep the layer."""
        raw, loc = entry["when"], entry.locs["when"]
        if isinstance(raw, str) and raw.strip().lower() in ("true", "false", "yes", "no", "on", "off"):
            raise SpecError(f"when must be true or false, or an expression that gives one. Received: when={raw!r}, "
                            f"a string because of its quotes: write when: {raw.strip().lower()}", loc, layer)
        value = self.strictly(raw, names, loc, layer)
        if not isinstance(value, bool):
            raise SpecError("when must be true or false, or an expression that gives one (a comparison, and, or, "
                            f"not). Received: when={_received(raw, value)}", loc, layer)
        return value

    def strictly(self, raw: Any, names: Names, loc: Loc, layer: str | None) -> Any:
        """Evaluate a value that must be an expression: a bare word is an unknown name, not a string."""
        if not isinstance(raw, str):
            return raw
        try:
            tree = expr.parse(raw)
            if tree is None:
                return expr.substitute(raw, names)  # plain text or a broken expression, said so
            return expr.evaluate(tree, names, raw)
        except expr.ExpressionError as error:
            raise SpecError(str(error), loc, layer) from None

    def names_read(self, text: str, loc: Loc, layer: str | None) -> set[str]:
        try:
            return expr.names_read(text)
        except expr.ExpressionError as error:
            raise SpecError(str(error), loc, layer) from None

    def substitute(self, value: Any, values: collections.abc.Mapping, loc: Loc, layer: str | None) -> Any:
        try:
            return expr.substitute(value, values)
        except expr.ExpressionError as error:
            raise SpecError(str(error), loc, layer) from None

    def short_name(self, type_name: str) -> str:
        if type_name in self.blocks:
            return type_name
        prefixes = [prefix for prefix in SHORT_NAMES if type_name.startswith(prefix)]
        return SHORT_NAMES[max(prefixes, key=len)] if prefixes else type_name


def _takes_words(annotation: Any) -> bool:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return any(_takes_words(a) for a in typing.get_args(annotation))
    if origin is typing.Literal:
        return any(isinstance(a, str) for a in typing.get_args(annotation))
    return annotation is str


def _received(raw: Any, value: Any) -> str:
    return f"{raw!r}" if raw is value or raw == value else f"{raw!r}, which is {value!r}"


def check_not_split(arguments: dict, locs: dict, layer: str | None) -> None:
    """Refuse an expression that YAML split at its commas: ``{a: max(1, c)}`` reads as ``{a: 'max(1', 'c)': null}``."""
    keys = list(arguments)
    for i, key in enumerate(keys):
        parts = [arguments[key]]
        if not isinstance(parts[0], str) or ("(" not in parts[0] and "[" not in parts[0]) \
                or _open_brackets(parts[0]) <= 0:
            continue
        for follower in keys[i + 1:]:
            if arguments[follower] is not None:
                break
            parts.append(follower)
            if _open_brackets(", ".join(parts)) <= 0:
                text = ", ".join(parts)
                raise SpecError(f"YAML split the expression '{text}' at its comma{'s' if len(parts) > 2 else ''} "
                                f"(inside {{...}} an unquoted comma ends a value); quote it: {key}: '{text}'",
                                locs.get(key), layer)


def _open_brackets(text: str) -> int:
    return sum(text.count(c) for c in "([") - sum(text.count(c) for c in ")]")


TYPE_HINTS = {  # other frameworks' words for what cnnspec has under another name; shown when registered
    "transpose": ("for axis order see {}", ("permute",)),
    "view": ("for a new shape see {}", ("reshape", "flatten")),
    "squeeze": ("for a new shape see {}", ("reshape", "flatten")),
    "unsqueeze": ("for a new shape see {}", ("reshape",)),
    "droppath": ("for per-sample drop (drop path) see {}", ("stochastic_depth",)),
    "bn": ("for batch normalization see {}", ("batchnorm2d", "batchnorm1d")),
    "ln": ("for layer normalization see {}", ("layer_norm", "layer_norm2d")),
    "gn": ("for group normalization see {}", ("group_norm",)),
    "deconv": ("for a transposed convolution see {}", ("conv_transpose2d",)),
    "deconv2d": ("for a transposed convolution see {}", ("conv_transpose2d",)),
    "depthwiseconv": ("a depthwise conv is {} with groups: in_channels", ("conv2d",)),
    "depthwiseconv2d": ("a depthwise conv is {} with groups: in_channels", ("conv2d",)),
    "dwconv": ("a depthwise conv is {} with groups: in_channels", ("conv2d",)),
    "separableconv2d": ("a separable conv is {} with groups: in_channels, then a 1x1 conv2d", ("conv2d",)),
    "interpolate": ("for resizing see {}", ("upsample",)),
    "upsampling": ("for resizing see {}", ("upsample",)),
    "resize": ("for resizing see {}", ("upsample", "adaptive_avg_pool2d")),
    "concatenate": ("to join inputs along channels see {}", ("concat",)),
    "sum": ("to add inputs see {}", ("add",)),
    "residual": ("a residual connection is {} with inputs: [a, b]", ("add",)),
    "split": ("for a channel split see {}", ("slice",)),
    "chunk": ("for a channel split see {}", ("slice",)),
    "shuffle": ("see {}", ("channel_shuffle", "pixel_shuffle")),
    "hswish": ("see {}", ("hardswish",)),
    "hsigmoid": ("see {}", ("hardsigmoid",)),
    "se": ("write squeeze-excitation as a block of {}", ("global_avg_pool", "conv2d", "sigmoid", "multiply")),
    "squeezeexcitation": ("write squeeze-excitation as a block of {}",
                          ("global_avg_pool", "conv2d", "sigmoid", "multiply")),
    "pad": ("for padding see {}", ("zero_pad",)),
    "zeropad2d": ("for padding see {}", ("zero_pad",)),
    "pool": ("for pooling see {}", ("maxpool2d", "avgpool2d", "global_avg_pool")),
    "gap": ("for global average pooling see {}", ("global_avg_pool",)),
}


def type_hint(name: str, candidates: list[str]) -> str:
    """'; for axis order see 'permute'' for another framework's word, ' (did you mean X?)' for a typing slip,
    else nothing: no suggestion is better than a wrong one."""
    template, targets = TYPE_HINTS.get(_normal(name), ("", ()))
    targets = [t for t in targets if t in LAYERS]
    if targets:
        quoted = [f"'{t}'" for t in targets]
        return "; " + template.format(", ".join(quoted[:-1]) + " or " + quoted[-1] if len(quoted) > 1 else quoted[0])
    match = typing_slip(name, candidates)
    return f" (did you mean '{match}'?)" if match else ""


def typing_slip(name: str, candidates: list[str]) -> str | None:
    """The candidate ``name`` is a typo of: the same but for case and underscores, else one edit away (two for
    names of 8 letters or more, only a swap for 4 or fewer) with the same first letter and length within one.
    A different word that shares a part (transpose, conv_transpose; drop_path, dropout; elu, relu) is not one."""
    word = _normal(name)
    best, best_distance = None, None
    for candidate in candidates:
        other = _normal(candidate)
        if other == word:
            return candidate
        if not word or other[:1] != word[:1] or abs(len(other) - len(word)) > 1:
            continue
        distance = _edit_distance(word, other)
        allowed = 2 if len(word) >= 8 else 1
        if len(word) <= 4 and sorted(word) != sorted(other):
            continue
        if distance <= allowed and (best_distance is None or distance < best_distance):
            best, best_distance = candidate, distance
    return best


def _normal(name: str) -> str:
    return name.lower().replace("_", "").replace("-", "")


def _edit_distance(a: str, b: str) -> int:
    """Optimal string alignment distance: insertions, deletions, substitutions and swaps of neighbours."""
    previous2, previous = [], list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        current = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] != b[j - 1]))
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                current[j] = min(current[j], previous2[j - 2] + 1)
        previous2, previous = previous, current
    return previous[len(b)]


def _as_mapping(values: dict, loc: Loc) -> Mapping:
    out = Mapping(values)
    out.loc, out.locs, out.key_locs = loc, {k: loc for k in values}, {k: loc for k in values}
    return out


# --- top level -------------------------------------------------------------------------------

def parse_input_shape(value: Any, loc: Loc) -> tuple[int, ...]:
    if isinstance(value, str) and re.fullmatch(r"\d+(x\d+)*", value.strip()):
        value = [int(v) for v in value.strip().split("x")]
    if (not isinstance(value, list) or not 1 <= len(value) <= 4
            or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value)):
        raise SpecError("input must be a shape without the batch axis: [C, L], [C, H, W] or [C, D, H, W] "
                        f"of positive ints (or '3x224x224'). Received: input={value!r}", loc)
    return tuple(value)


def read_blocks(data: Mapping, path: str, seen: set[str]) -> dict[str, Block]:
    """Blocks defined in this file and in the files it includes (paths relative to it)."""
    blocks: dict[str, Block] = {}
    includes = data.get("include", [])
    includes = [includes] if isinstance(includes, str) else includes
    if not isinstance(includes, list):
        raise SpecError("include must be a file name or a list of them", data.locs["include"])
    for item, loc in zip(includes, getattr(includes, "locs", [data.locs.get("include")] * len(includes))):
        included = resolve_include(item, path, loc)
        if str(included) in seen:
            raise SpecError(f"'{item}' is included twice or includes itself", loc)
        seen.add(str(included))
        other = read_yaml(str(included), read_input(included, loc, f"included file '{item}'"))
        if not isinstance(other, Mapping):
            raise SpecError("an included file must be a mapping with blocks:", loc)
        for name, block in read_blocks(other, str(included), seen).items():
            if name in blocks:
                raise SpecError(f"block '{name}' is defined twice", block.loc)
            blocks[name] = block
    raw = data.get("blocks", {})
    if not isinstance(raw, dict):
        raise SpecError("blocks must be a mapping of block name to definition", data.locs["blocks"])
    for name, body in raw.items():
        loc = raw.key_locs[name]
        if name in LAYERS:
            raise SpecError(f"block '{name}' has the name of a layer type", loc)
        if name in blocks:
            raise SpecError(f"block '{name}' is defined twice", loc)
        blocks[name] = read_block(name, body, loc)
    return blocks


def read_block(name: str, body: Any, loc: Loc) -> Block:
    if not isinstance(body, Mapping) or "layers" not in body:
        raise SpecError(f"block '{name}' must be a mapping with layers:", loc)
    for key in body:
        if key not in BLOCK_KEYS:
            raise SpecError(f"block '{name}' has an unknown key '{key}'{closest(key, BLOCK_KEYS)}",
                            body.key_locs[key])
    args = body.get("args") or _as_mapping({}, loc)
    if isinstance(args, list) and all(isinstance(a, str) for a in args):  # [width, stride]: all required
        arg_locs = dict(zip(args, args.locs))
        args = dict.fromkeys(args, REQUIRED)
    elif isinstance(args, Mapping) and all(isinstance(k, str) for k in args):
        arg_locs = args.locs
        check_not_split(args, args.locs, None)
    else:
        raise SpecError(f"the args of block '{name}' must map names to defaults ('required' for none)",
                        body.locs.get("args", loc))
    check_argument_names(args, getattr(body.get("args"), "key_locs", arg_locs))  # list form: where each name is
    inputs = body.get("inputs", ["input"])
    inputs = [inputs] if isinstance(inputs, str) else inputs
    if not isinstance(inputs, list) or not inputs or not all(isinstance(i, str) for i in inputs):
        raise SpecError(f"the inputs of block '{name}' must be a list of names", body.locs.get("inputs", loc))
    output = body.get("output")
    return Block(name, dict(args), dict(arg_locs), list(inputs), body["layers"], output, loc)


def check_argument_names(args: dict, locs: dict[str, Loc]) -> None:
    for key in args:
        if key in RESERVED_NAMES:
            raise SpecError(f"'{key}' is {RESERVED_NAMES[key]}, a name cnnspec defines in every expression; "
                            "call the argument something else", locs[key])


def resolve_include(item: Any, path: str, loc: Loc) -> Path:
    if not isinstance(item, str):
        raise SpecError(f"include must name a file. Received: {item!r}", loc)
    candidates = [Path(path).parent / item, builtin_dir() / item]
    for candidate in candidates:
        if candidate.exists():  # a directory or a FIFO too: reading it says what it is
            return candidate.resolve()
    raise SpecError(f"included file '{item}' not found beside the spec or among the built-in specs", loc)


def builtin_dir() -> Path:
    return Path(__file__).parent / "specs"


def builtin_specs() -> dict[str, Path]:
    """The built-in spec files by name; a family file (``efficientnet``) is listed once, its variants not."""
    return {p.stem: p for p in sorted(builtin_dir().glob("*.yaml")) if not p.stem.startswith("_")}


def _defines_variant(text: str, name: str) -> bool:
    """A cheap look at the text before parsing it: a `variants:` section and a key of that name."""
    return (name in text and re.search(r"^variants\s*:", text, re.M) is not None
            and re.search(rf"^[ \t]+{re.escape(name)}\s*:", text, re.M) is not None)


def builtin_variants() -> dict[str, Path]:
    """Every variant of the built-in family specs ('resnext50_32x4d') -> the file that defines it."""
    found: dict[str, Path] = {}
    for path in builtin_specs().values():
        text = path.read_text()
        if re.search(r"^variants\s*:", text, re.M):
            found.update(dict.fromkeys(read_variants(read_yaml(str(path), text)), path))
    return found


def family_members(name_or_path: str) -> list[tuple[str, str | None]]:
    """(spec, variant) for each variant of a family spec ('resnet': resnet18 ... wide_resnet101_2), or the
    spec itself with no variant."""
    if not (Path(name_or_path).is_file() or name_or_path in builtin_specs()):
        return [(name_or_path, None)]  # a variant's name, a missing file: load says which
    path = find_spec(name_or_path)
    text = path.read_text()
    variants = list(read_variants(read_yaml(str(path), text))) if re.search(r"^variants\s*:", text, re.M) else []
    return [(name_or_path, variant) for variant in variants] or [(name_or_path, None)]


def find_variant(name: str) -> Path | None:
    """The family file that defines variant ``name``, parsing only files whose text mentions it."""
    for path in builtin_specs().values():
        text = path.read_text()
        if _defines_variant(text, name) and name in read_variants(read_yaml(str(path), text)):
            return path
    return None


def find_spec(name_or_path: str) -> Path:
    """A path, or the name of a built-in spec ('vgg16')."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    builtin = builtin_specs().get(name_or_path.removesuffix(".yaml"))
    if builtin is not None:
        return builtin
    if path.exists():
        return path  # a directory, a FIFO, a device: reading it says which, without blocking
    suggestion = closest(name_or_path, [*builtin_specs(), *builtin_variants()])
    raise SpecError(f"no spec file '{name_or_path}' and no built-in spec of that name{suggestion}; "
                    "`cnnspec list` shows the built-in specs")


def load_spec(name_or_path: str, input_shape: tuple[int, ...] | None = None,
              overrides: dict[str, Any] | None = None) -> Spec:
    """Read and expand a spec; ``input_shape`` and ``overrides`` (of top-level args) replace the file's.
    A built-in variant name ('efficientnet_b3') loads its family file with that variant."""
    name = str(name_or_path)
    path = None if Path(name).exists() or name.removesuffix(".yaml") in builtin_specs() else find_variant(name)
    if path is not None:
        overrides = {**(overrides or {}), "variant": name}
    else:
        path = find_spec(name)
    text = read_input(path, what=f"the spec {path}")
    return parse_spec(text, str(path), input_shape, overrides)


def read_variants(data: Mapping) -> dict[str, Mapping]:
    """The ``variants:`` of a family spec: name -> {args, input, description, expect}, each checked (the args
    it sets must be the spec's own)."""
    if "variants" not in data:
        return {}
    raw = data["variants"]
    if not isinstance(raw, Mapping):
        raise SpecError("variants must map each variant's name to its args, input, description and expect",
                        data.locs["variants"])
    for name, body in raw.items():
        loc = raw.key_locs[name]
        if not re.fullmatch(r"[A-Za-z_][\w.\-]*", name):
            raise SpecError(f"a variant name must be a word (letters, digits, _ . -). Received: {name!r}", loc)
        if body is None:
            body = raw[name] = _as_mapping({}, loc)
        if not isinstance(body, Mapping):
            raise SpecError(f"variant '{name}' must be a mapping of {', '.join(sorted(VARIANT_KEYS))}", loc)
        for key in body:
            if key not in VARIANT_KEYS:
                raise SpecError(f"variant '{name}' has an unknown key '{key}'{closest(key, VARIANT_KEYS)}; "
                                f"a variant sets {', '.join(sorted(VARIANT_KEYS))}", body.key_locs[key])
        for key in ("args", "expect"):
            if key in body and not isinstance(body[key], Mapping):
                raise SpecError(f"the {key} of variant '{name}' must be a mapping", body.locs[key])
        top = data.get("args") if isinstance(data.get("args"), Mapping) else {}
        for key in body.get("args", {}):
            if key not in top:
                raise SpecError(f"variant '{name}' sets argument '{key}', which the spec's args: do not define"
                                f"{closest(key, top)}", body["args"].key_locs[key])
    return raw


def select_variant(data: Mapping, variants: dict[str, Mapping], overrides: dict[str, Any]) -> tuple[str | None, Mapping]:
    """(name, body) of the variant ``--set variant=NAME`` (or a built-in variant name) asks for, taken out of
    ``overrides``; (None, {}) without one."""
    top = data.get("args", {})
    if "variant" in top:
        if variants:
            raise SpecError("a spec with variants: cannot have an argument named 'variant'", top.key_locs["variant"])
        return None, _as_mapping({}, data.loc)
    if "variant" not in overrides:
        return None, _as_mapping({}, data.loc)
    name = overrides.pop("variant")
    if name not in variants:
        listing = f"; its variants are: {', '.join(variants)}" if variants else " (it defines no variants:)"
        raise SpecError(f"the spec has no variant '{name}'{closest(str(name), variants)}{listing}",
                        data.locs.get("variants", data.loc))
    return name, variants[name]


@gc_paused
def parse_spec(text: str, path: str = "<spec>", input_shape: tuple[int, ...] | None = None,
               overrides: dict[str, Any] | None = None) -> Spec:
    data = read_yaml(path, text)
    if not isinstance(data, Mapping):
        raise SpecError("a spec must be a mapping with input: and layers:", Loc(path, 1, 1))
    for key in data:
        if key not in TOP_KEYS:
            raise SpecError(f"unknown top-level key '{key}'{closest(key, TOP_KEYS)}", data.key_locs[key])
    for key in ("input", "layers"):
        if key not in data:
            raise SpecError(f"the spec has no '{key}:'", data.loc)
    top_values = data.get("args", {})
    if not isinstance(top_values, dict):
        raise SpecError("args must be a mapping of names to values", data.locs["args"])
    check_argument_names(top_values, getattr(top_values, "key_locs", {}))
    overrides = dict(overrides or {})
    variants = read_variants(data)
    chosen, variant = select_variant(data, variants, overrides)
    for key in overrides:
        if key not in top_values:
            raise SpecError(f"the spec has no argument '{key}'{closest(key, top_values)}", data.locs.get("args"))
    top_values = {**top_values, **variant.get("args", {}), **overrides}
    input_loc = variant.locs["input"] if "input" in variant else data.locs["input"]
    shape = input_shape or parse_input_shape(variant.get("input", data["input"]), input_loc)
    blocks = read_blocks(data, path, {str(Path(path).resolve())})
    expander = Expander(path, blocks, dict(top_values), shape)
    with frames_for_nesting():
        last = expander.expand_list(data["layers"], expander.top, "input")
    expander.resolve_pending(expander.top)
    outputs, output_locs = read_outputs(data, expander, last)
    name = chosen or data.get("name", Path(path).stem)
    description = variant.get("description", data.get("description", ""))
    expect = variant.get("expect") if chosen else data.get("expect")
    return Spec(str(name), path, shape, expander.nodes, outputs, input_loc, output_locs,
                description=str(description), expect=expect, train=data.get("train"),
                init=read_init(data), blocks=expander.instances, variant=chosen, variants=list(variants))


@contextlib.contextmanager
def frames_for_nesting():
    """Room on Python's stack for blocks nested MAX_BLOCK_DEPTH deep: expansion recurses a few frames per level,
    which Python 3.11 keeps off the C stack."""
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(limit + 8 * MAX_BLOCK_DEPTH)
    try:
        yield
    finally:
        sys.setrecursionlimit(limit)


def read_init(data: Mapping) -> str | None:
    scheme = data.get("init")
    if scheme is not None and scheme not in INIT_SCHEMES:
        raise SpecError(f"unknown init '{scheme}'{closest(str(scheme), INIT_SCHEMES)}; "
                        f"choose from {', '.join(INIT_SCHEMES)}", data.locs["init"])
    return scheme


def read_outputs(data: Mapping, expander: Expander, last: str) -> tuple[list[str], list[Loc]]:
    raw = data.get("outputs")
    if raw is None:
        return [expander.resolve(last, expander.top, data.loc, None)], [data.locs["layers"]]
    raw = [raw] if isinstance(raw, str) else raw
    if not isinstance(raw, list) or not raw or not all(isinstance(r, str) for r in raw):
        raise SpecError("outputs must be a layer name or a list of names", data.locs["outputs"])
    locs = getattr(raw, "locs", [data.locs["outputs"]])
    return [expander.resolve(r, expander.top, loc, None, "output") for r, loc in zip(raw, locs)], locs
