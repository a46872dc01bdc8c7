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

import functools
import gc
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from . import expr
from .errors import Loc, SpecError
from .layers import LAYERS
from .layers.base import closest

LAYER_KEYS = {"type", "name", "inputs", "repeat", "first", "when", "trainable"}
TOP_KEYS = {"name", "description", "input", "include", "args", "blocks", "layers", "outputs", "expect",
            "train", "init"}
BLOCK_KEYS = {"args", "inputs", "layers", "output", "description"}
REQUIRED = "required"
INIT_SCHEMES = ("default", "kaiming", "kaiming_uniform", "xavier", "xavier_normal", "orthogonal")
"""Weight initializations ``init:`` may name; cnnspec.build implements them."""
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when the wheel has it
MAX_EXPANDED_VALUES = 1_000_000
MAX_LAYERS = 100_000
"""More layers than any network needs (the benchmark's generated spec has 10,000); a `repeat:` beyond
it is refused before it is expanded, rather than running for minutes."""
_STR_TAG, _INT_TAG = "tag:yaml.org,2002:str", "tag:yaml.org,2002:int"
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


def _expanded_size(root: yaml.Node) -> int:
    """Values the document expands to with aliases followed, counted without expanding them."""
    sizes: dict[int, int] = {}
    stack = [(root, False)]
    while stack:
        node, done = stack.pop()
        if id(node) in sizes:
            continue
        children = ([c for pair in node.value for c in pair] if isinstance(node, yaml.MappingNode)
                    else node.value if isinstance(node, yaml.SequenceNode) else [])
        if done:
            sizes[id(node)] = min(1 + sum(sizes[id(c)] for c in children), MAX_EXPANDED_VALUES + 1)
        else:
            stack.append((node, True))
            stack.extend((c, False) for c in children if id(c) not in sizes)
    return sizes[id(root)]


def read_yaml(path: str, text: str) -> Any:
    """Parse YAML safely into Mapping/Sequence/scalars with locations; SpecError on bad YAML."""
    loader = _LOADER(text)
    try:
        root = loader.get_single_node()
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = Loc(path, mark.line + 1, mark.column + 1) if mark else Loc(path, 1, 1)
        raise SpecError(f"malformed YAML: {error.problem or error.context}", where) from None
    except yaml.YAMLError as error:
        raise SpecError(f"malformed YAML: {error}", Loc(path, 1, 1)) from None
    finally:
        loader.dispose()
    if root is None:
        raise SpecError("the spec is empty", Loc(path, 1, 1))
    if "&" in text and _expanded_size(root) > MAX_EXPANDED_VALUES:  # no anchor, no alias to follow
        raise SpecError(f"the spec expands to more than {MAX_EXPANDED_VALUES:,} values through YAML aliases "
                        "(an alias bomb?); refusing to load it", _loc(path, root))

    scalars = yaml.constructor.SafeConstructor()

    def convert(node: yaml.Node) -> Any:
        if isinstance(node, yaml.MappingNode):
            out = Mapping()
            out.loc, out.locs, out.key_locs = _loc(path, node), {}, {}
            for key_node, value_node in node.value:
                key = convert(key_node)
                if not isinstance(key, (str, int)):
                    raise SpecError(f"a mapping key must be a word, not {key!r}", _loc(path, key_node))
                key = str(key)
                if key in out:
                    raise SpecError(f"duplicate key '{key}'", _loc(path, key_node))
                out[key], out.locs[key] = convert(value_node), _loc(path, value_node)
                out.key_locs[key] = _loc(path, key_node)
            return out
        if isinstance(node, yaml.SequenceNode):
            out = Sequence(convert(item) for item in node.value)
            out.loc, out.locs = _loc(path, node), [_loc(path, item) for item in node.value]
            return out
        if node.tag == _STR_TAG:  # the common scalars directly; the constructor costs ~4 us each
            return node.value
        digits = node.value
        if node.tag == _INT_TAG and digits.isascii() and digits.isdigit() and (digits == "0" or digits[0] != "0"):
            return int(digits)  # YAML 1.1 reads a leading 0 as octal: left to the constructor
        try:
            return scalars.construct_object(node)
        except yaml.MarkedYAMLError as error:
            raise SpecError(f"malformed value: {error.problem}", _loc(path, node)) from None
        except (yaml.YAMLError, ValueError, LookupError):  # a tag the value does not fit: `!!bool maybe`
            raise SpecError(f"malformed value: {node.value!r} is not a valid {node.tag.rpartition(':')[2]}",
                            _loc(path, node)) from None

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


@dataclass
class Block:
    name: str
    args: dict[str, Any]
    inputs: list[str]
    layers: Sequence
    output: str | None
    loc: Loc


class Scope:
    """Names visible while expanding one block instance (or the top level)."""

    def __init__(self, prefix: str, values: dict[str, Any], inputs: dict[str, str], parent: Scope | None):
        self.prefix = prefix
        self.values = values
        self.names: dict[str, str] = dict(inputs)  # local name -> global node name
        self.counters: dict[str, int] = {}
        self.pending: list[tuple[NodeSpec, list[tuple[str, Loc, bool]]]] = []  # inputs resolved at scope end
        self.parent = parent

    def fresh_name(self, base: str) -> str:
        while True:
            self.counters[base] = self.counters.get(base, 0) + 1
            candidate = f"{base}{self.counters[base]}"
            if candidate not in self.names:
                return candidate


class Expander:
    def __init__(self, path: str, blocks: dict[str, Block], top_values: dict[str, Any]):
        self.path = path
        self.blocks = blocks
        self.nodes: list[NodeSpec] = []
        self.by_name: dict[str, NodeSpec] = {}
        self.aliases: dict[str, str] = {}  # a skipped layer or a block instance -> the node it stands for
        self.instances: dict[str, str] = {}
        self.top = Scope("", top_values, {"input": "input"}, None)

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

    def resolve_input(self, reference: tuple[str, Loc, bool], scope: Scope, layer: str) -> str:
        name, loc, is_global = reference
        return self.resolve(name, None if is_global else scope, loc, layer)

    def define(self, local: str, global_name: str, scope: Scope, loc: Loc) -> None:
        if local in scope.names or global_name in self.by_name or global_name in self.aliases:
            raise SpecError(f"the name '{local}' is used twice", loc, global_name)
        scope.names[local] = global_name

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
        if isinstance(entry, str):
            entry = _as_mapping({"type": entry}, loc)
        if not isinstance(entry, Mapping):
            raise SpecError(f"a layer must be a mapping with a 'type' or a layer type name, not {entry!r}", loc)
        type_name, arguments, argument_locs = self.split_entry(entry, scope)
        count = self.value(entry, "repeat", scope, 1)
        if not isinstance(count, int) or isinstance(count, bool) or count < 1:
            raise SpecError(f"repeat must be a positive int. Received: repeat={count!r}", entry.locs["repeat"])
        if len(self.nodes) + count > MAX_LAYERS:
            raise SpecError(f"the spec expands to more than {MAX_LAYERS:,} layers with repeat={count:,} here; "
                            "refusing to expand it", entry.locs["repeat"])
        first = entry.get("first")
        if first is not None and not isinstance(first, Mapping):
            raise SpecError("first must be a mapping of argument overrides", entry.locs["first"])
        if first is not None and count == 1 and "repeat" not in entry:
            raise SpecError("first only makes sense with repeat", entry.locs["first"])
        base_name = entry.get("name")
        if base_name is not None and (not isinstance(base_name, str) or not re.fullmatch(r"[A-Za-z_][\w.\-]*",
                                                                                         base_name)):
            raise SpecError(f"a name must be a word (letters, digits, _ . -). Received: name={base_name!r}",
                            entry.locs["name"])
        if base_name is None:
            base_name = scope.fresh_name(self.short_name(type_name))
        output = previous
        for index in range(count):
            args, locs = dict(arguments), dict(argument_locs)
            if index == 0 and first is not None:
                for key, value in first.items():
                    args[key], locs[key] = value, first.locs[key]
            values = {**scope.values, "index": index} if count > 1 else scope.values
            args = {k: self.substitute(v, values, locs.get(k, loc), base_name) for k, v in args.items()}
            local = f"{base_name}.{index}" if count > 1 else base_name
            # the first repetition reads `inputs:` (or the previous layer); later ones chain
            inputs = self.input_references(entry, output, loc) if index == 0 else [(output, loc, True)]
            output = self.emit(type_name, local, args, locs, inputs, entry, loc, scope, values)
        if count > 1:
            self.define(base_name, scope.prefix + base_name, scope, loc)
            self.aliases[scope.prefix + base_name] = output
        return output

    def input_references(self, entry: Mapping, previous: str, loc: Loc) -> list[tuple[str, Loc, bool]]:
        """(reference, where written, already a global name) for each input of the entry."""
        if "inputs" not in entry:
            return [(previous, loc, True)]
        raw, loc = entry["inputs"], entry.locs["inputs"]
        if isinstance(raw, str):
            return [(raw, loc, False)]
        if isinstance(raw, list) and raw and all(isinstance(r, str) for r in raw):
            return [(r, r_loc, False) for r, r_loc in zip(raw, raw.locs)]
        raise SpecError(f"inputs must be a layer name or a list of names. Received: inputs={raw!r}", loc)

    def emit(self, type_name, local, args, locs, inputs, entry, loc, scope, values) -> str:
        """One layer or one block instance; returns the global name of what it outputs."""
        global_name = scope.prefix + local
        when = self.value(entry, "when", scope, True, values)
        if not when:
            if len(inputs) != 1:
                raise SpecError("a layer skipped by 'when' must have exactly one input", loc, global_name)
            self.define(local, global_name, scope, loc)
            self.aliases[global_name] = self.resolve_input(inputs[0], scope, global_name)
            return global_name
        if type_name in self.blocks:
            return self.emit_block(self.blocks[type_name], local, args, locs, inputs, loc, scope)
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
        scope.pending.append((node, inputs))
        return global_name

    def emit_block(self, block: Block, local: str, args, locs, inputs, loc, scope) -> str:
        global_name = scope.prefix + local
        for key in args:
            if key not in block.args:
                raise SpecError(f"block '{block.name}' has no argument '{key}'{closest(key, block.args)}; "
                                f"its arguments are: {', '.join(block.args) or 'none'}", locs.get(key, loc),
                                global_name)
        values = {**block.args, **args}
        missing = [k for k, v in values.items() if v == REQUIRED]
        if missing:
            raise SpecError(f"block '{block.name}' needs argument '{missing[0]}'", loc, global_name)
        if len(inputs) != len(block.inputs):
            raise SpecError(f"block '{block.name}' takes {len(block.inputs)} input(s) "
                            f"({', '.join(block.inputs)}), given {len(inputs)}", loc, global_name)
        resolved = {formal: self.resolve_input(reference, scope, global_name)
                    for formal, reference in zip(block.inputs, inputs)}
        self.define(local, global_name, scope, loc)
        self.instances[global_name] = block.name
        inner = Scope(global_name + ".", values, resolved, scope)
        last = self.expand_list(block.layers, inner, resolved[block.inputs[0]])
        self.resolve_pending(inner)
        output = inner.names.get(block.output, block.output) if block.output else last
        if block.output and block.output not in inner.names:
            raise SpecError(f"block '{block.name}' names output '{block.output}', which it does not define",
                            block.loc)
        self.aliases[global_name] = output
        return global_name

    def resolve_pending(self, scope: Scope) -> None:
        """Resolve the inputs of the scope's layers once all its names exist (forward references)."""
        for node, references in scope.pending:
            node.inputs = [self.resolve_input(reference, scope, node.name) for reference in references]
        scope.pending.clear()

    # pieces of an entry ----------------------------------------------------------------------
    def split_entry(self, entry: Mapping, scope: Scope) -> tuple[str, dict, dict]:
        """(type or block name, its arguments, their locations) from either layer form."""
        if "type" in entry:
            type_name = entry["type"]
            arguments = {k: v for k, v in entry.items() if k not in LAYER_KEYS}
            locs = {k: entry.locs[k] for k in arguments}
            type_loc = entry.locs["type"]
        else:
            candidates = [k for k in entry if k not in LAYER_KEYS]
            if len(candidates) != 1:
                raise SpecError("a layer needs 'type:', or a layer type as its one key "
                                f"(found keys: {', '.join(entry) or 'none'})", entry.loc)
            type_name = candidates[0]
            type_loc = entry.loc
            body = entry[type_name]
            if body is None:
                arguments, locs = {}, {}
            elif isinstance(body, Mapping):
                arguments, locs = dict(body), dict(body.locs)
            else:
                raise SpecError(f"the arguments of {type_name} must be a mapping. Received: {body!r}",
                                entry.locs[type_name])
        if not isinstance(type_name, str):
            raise SpecError(f"type must be a layer type name. Received: type={type_name!r}", type_loc)
        if type_name not in LAYERS and type_name not in self.blocks:
            known = list(LAYERS) + list(self.blocks)
            raise SpecError(f"unknown layer type '{type_name}'{closest(type_name, known)}", type_loc,
                            entry.get("name") if isinstance(entry.get("name"), str) else None)
        return type_name, arguments, locs

    def value(self, entry: Mapping, key: str, scope: Scope, default: Any, values: dict | None = None) -> Any:
        if key not in entry:
            return default
        return self.substitute(entry[key], scope.values if values is None else values, entry.locs[key], None)

    def substitute(self, value: Any, values: dict, loc: Loc, layer: str | None) -> Any:
        try:
            return expr.substitute(value, values)
        except expr.ExpressionError as error:
            raise SpecError(str(error), loc, layer) from None

    def short_name(self, type_name: str) -> str:
        if type_name in self.blocks:
            return type_name
        prefixes = [prefix for prefix in SHORT_NAMES if type_name.startswith(prefix)]
        return SHORT_NAMES[max(prefixes, key=len)] if prefixes else type_name


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
        other = read_yaml(str(included), included.read_text())
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
    args = body.get("args", {})
    if isinstance(args, list) and all(isinstance(a, str) for a in args):  # [width, stride]: all required
        args = dict.fromkeys(args, REQUIRED)
    if not isinstance(args, dict) or not all(isinstance(k, str) for k in args):
        raise SpecError(f"the args of block '{name}' must map names to defaults ('required' for none)",
                        body.locs.get("args", loc))
    inputs = body.get("inputs", ["input"])
    inputs = [inputs] if isinstance(inputs, str) else inputs
    if not isinstance(inputs, list) or not inputs or not all(isinstance(i, str) for i in inputs):
        raise SpecError(f"the inputs of block '{name}' must be a list of names", body.locs.get("inputs", loc))
    output = body.get("output")
    return Block(name, dict(args), list(inputs), body["layers"], output, loc)


def resolve_include(item: Any, path: str, loc: Loc) -> Path:
    if not isinstance(item, str):
        raise SpecError(f"include must name a file. Received: {item!r}", loc)
    candidates = [Path(path).parent / item, builtin_dir() / item]
    for candidate in candidates:
        if candidate.is_file():
            return candidate.resolve()
    raise SpecError(f"included file '{item}' not found beside the spec or among the built-in specs", loc)


def builtin_dir() -> Path:
    return Path(__file__).parent / "specs"


def builtin_specs() -> dict[str, Path]:
    return {p.stem: p for p in sorted(builtin_dir().glob("*.yaml")) if not p.stem.startswith("_")}


def find_spec(name_or_path: str) -> Path:
    """A path, or the name of a built-in spec ('vgg16')."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    builtin = builtin_specs().get(name_or_path.removesuffix(".yaml"))
    if builtin is not None:
        return builtin
    if path.exists():
        raise SpecError(f"'{name_or_path}' is not a file")
    suggestion = closest(name_or_path, builtin_specs())
    raise SpecError(f"no spec file '{name_or_path}' and no built-in spec of that name{suggestion}; "
                    "`cnnspec list` shows the built-in specs")


def load_spec(name_or_path: str, input_shape: tuple[int, ...] | None = None,
              overrides: dict[str, Any] | None = None) -> Spec:
    """Read and expand a spec; ``input_shape`` and ``overrides`` (of top-level args) replace the file's."""
    path = find_spec(str(name_or_path))
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as error:
        raise SpecError(f"cannot read the spec: {error}", Loc(str(path), 1, 1)) from None
    return parse_spec(text, str(path), input_shape, overrides)


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
    for key in overrides or {}:
        if key not in top_values:
            raise SpecError(f"the spec has no argument '{key}'{closest(key, top_values)}", data.locs.get("args"))
    top_values = {**top_values, **(overrides or {})}
    shape = input_shape or parse_input_shape(data["input"], data.locs["input"])
    blocks = read_blocks(data, path, {str(Path(path).resolve())})
    expander = Expander(path, blocks, dict(top_values))
    last = expander.expand_list(data["layers"], expander.top, "input")
    expander.resolve_pending(expander.top)
    outputs, output_locs = read_outputs(data, expander, last)
    name = data.get("name", Path(path).stem)
    return Spec(str(name), path, shape, expander.nodes, outputs, data.locs["input"], output_locs,
                description=str(data.get("description", "")), expect=data.get("expect"), train=data.get("train"),
                init=read_init(data), blocks=expander.instances)


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
