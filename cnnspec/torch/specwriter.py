"""Imported layers -> a spec a person would write: module paths as names, a block per repeated module class.

The importers (PyTorch through torch.fx or torch.export, ONNX) hand over ``Item`` s: one layer each, with its
type, all of its arguments, the names of what it reads and the module instances (``Scope`` s) it sits in.
Here they become YAML:

- A module class used at least twice becomes a block; containers (nn.Sequential, nn.ModuleList) and classes
  used once are written inline, with dotted names (``features.3``, ``layer1.0.downsample.0``).
- Instances of one class that differ only in the layers they have (a Bottleneck with or without its
  ``downsample``) share one block with ``when:`` flags, when the spec's rule for a skipped layer (its name
  stands for its first input) gives each instance's wiring; otherwise they get blocks of their own.
- An argument that is the same in every instance is written in the block; one that varies becomes a block
  argument, shared by every layer whose values agree with it (conv2's and the shortcut's stride), written as
  ``4 * out_channels`` where it is a multiple of another, and as ``in_channels`` where it is always the input's
  channels (a depthwise conv's groups). Defaults are the values most instances take.
- A run of instances ``P.0`` .. ``P.n-1`` of one block, chained, with the same arguments after the first, is one
  entry with ``repeat: n`` and ``first:``: ResNet's ``layer1`` is one line.

Nothing here imports torch: the ONNX reader shares it.
"""
from __future__ import annotations

import keyword
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from ..layers import LAYERS
from ..spec import RESERVED_NAMES

COMMUTATIVE = {"add", "multiply"}


@dataclass(frozen=True)
class Scope:
    """A module instance layers sit in: its name in the spec (``layer1.0``), what makes two instances the same
    block (``mypkg.models.Bottleneck``; '' for a container that only holds others) and the block's name."""
    name: str
    kind: str
    block: str
    by_structure: bool = False  # the kind says little (ONNX keeps no classes): merge only where one body holds the other


@dataclass
class Item:
    """One imported layer: ``arguments`` hold every argument PyTorch gave it (the writer leaves out defaults)."""
    name: str
    type: str
    arguments: dict[str, Any]
    inputs: list[str]
    scopes: tuple[Scope, ...]
    out_shape: tuple[int, ...]
    trainable: bool = True


@dataclass
class Instance:
    """A node of the module tree: the root (scope None), a container or a module instance."""
    scope: Scope | None
    local: str  # its name relative to its parent
    children: list[Instance | Item] = field(default_factory=list)
    members: list[Item] = field(default_factory=list)  # every item under it, in order
    block: Block | None = None  # set once it is written as a block instance
    call: dict[str, Any] = field(default_factory=dict)  # its block's argument values
    inputs: list[str] = field(default_factory=list)  # what it reads from outside, in order of first use
    output: str | None = None  # the one member read from outside


@dataclass
class Entry:
    """A line of a body: a layer, or a block instance."""
    local: str
    item: Item | None = None
    instance: Instance | None = None

    @property
    def inputs(self) -> list[str]:
        return self.item.inputs if self.item else self.instance.inputs

    @property
    def output(self) -> str:
        return self.item.name if self.item else self.instance.output

    @property
    def what(self) -> tuple[str, str, str]:
        """('layer', type, swap) or ('block', name, ''): ``swap`` is set for an activation, which another of the
        same arguments may replace in another instance (``type:`` from a block argument)."""
        if self.instance:
            return "block", self.instance.block.name, ""
        if self.item.type not in swappable():
            return "layer", self.item.type, ""
        return "layer", self.item.type, repr((sorted(full_arguments(self.item).items()),
                                             sorted(layer_defaults(self.item.type).items())))


@dataclass
class Signature:
    """An instance's body without argument values: (local, what, local inputs) per entry and its output."""
    entries: list[tuple[str, tuple[str, str, str], tuple[str, ...]]]
    output: str
    inputs: int

    def key(self):
        return tuple(self.entries), self.output, self.inputs


@dataclass
class Template:
    """A block: the union of its instances' entries, and for each entry the instances that have it."""
    name: str
    kind: str
    entries: list[tuple[str, tuple[str, str, str], list[str]]]  # local, what, local inputs
    output: str
    inputs: int
    signatures: list[Signature] = field(default_factory=list)
    instances: list[Instance] = field(default_factory=list)
    args: dict[str, Any] = field(default_factory=dict)  # name -> default (or 'required')
    body: list[dict[str, Any]] = field(default_factory=list)  # per entry: argument -> literal or expression
    flags: dict[str, str] = field(default_factory=dict)  # entry local -> the flag of its when:


Block = Template


def relative(name: str, base: str) -> str:
    return name[len(base) + 1:] if base else name


def snake_case(name: str) -> str:
    """'InvertedResidual' -> 'inverted_residual', 'ConvBNReLU6' -> 'conv_bn_relu6'."""
    for word in ("PReLU", "ReLU", "GELU", "SiLU", "ELU"):
        name = name.replace(word, word.capitalize())
    name = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name))
    return re.sub(r"\W+", "_", name).strip("_").lower() or "block"


def identifier(text: str) -> str:
    """A name an expression can use: dots and dashes to underscores, never a keyword or a name cnnspec binds."""
    name = re.sub(r"\W", "_", text)
    name = name if re.match(r"[A-Za-z_]", name) else "_" + name
    return name + "_" if keyword.iskeyword(name) or name in RESERVED_NAMES or name in ("true", "false") else name


def layer_defaults(type_name: str) -> dict[str, Any]:
    """Each argument's default for a layer type (required ones absent)."""
    import dataclasses
    found = {}
    for name, (f, _) in LAYERS[type_name].arguments().items():
        if f.default is not dataclasses.MISSING:
            found[name] = f.default
        elif f.default_factory is not dataclasses.MISSING:
            found[name] = f.default_factory()
    return found


def swappable() -> frozenset[str]:
    """Layer types one may stand for another in a block (``type: activation``): elementwise, shape-keeping and
    without parameters (relu, hardswish, sigmoid...; identity)."""
    from ..layers.activation import Activation
    from ..layers.base import Layer
    return frozenset(name for name, cls in LAYERS.items()
                     if issubclass(cls, Activation) and cls.params is Layer.params or name == "identity")


def full_arguments(item: Item) -> dict[str, Any]:
    return {**layer_defaults(item.type), **item.arguments}


def in_field_order(type_name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    """Arguments in the order the layer type declares them (out_channels, kernel_size, stride...)."""
    order = {name: i for i, name in enumerate(LAYERS[type_name].arguments())}
    return dict(sorted(arguments.items(), key=lambda kv: order.get(kv[0], len(order))))


class SpecWriter:
    def __init__(self, items: list[Item], outputs: list[str], input_shape: tuple[int, ...]):
        self.items = items
        self.outputs = outputs
        self.input_shape = input_shape
        self.shapes = {"input": input_shape, **{item.name: item.out_shape for item in items}}
        self.consumers: dict[str, set[str]] = {}
        for item in items:
            for name in item.inputs:
                self.consumers.setdefault(name, set()).add(item.name)
        for name in outputs:
            self.consumers.setdefault(name, set()).add("<output>")
        self.root = self.tree()
        self.templates: list[Template] = []

    # --- the module tree ------------------------------------------------------------------------
    def tree(self) -> Instance:
        root = Instance(None, "")
        by_name: dict[str, Instance] = {}
        for item in self.items:
            parent, parent_name = root, ""
            for scope in item.scopes:
                instance = by_name.get(scope.name)
                if instance is None:
                    local = scope.name[len(parent_name) + 1:] if parent_name else scope.name
                    instance = by_name[scope.name] = Instance(scope, local)
                    parent.children.append(instance)
                instance.members.append(item)
                parent, parent_name = instance, scope.name
            parent.children.append(item)
            root.members.append(item)
        return root

    def instances(self, instance: Instance | None = None) -> list[Instance]:
        """Every instance under ``instance``, children before parents."""
        found = []
        for child in (instance or self.root).children:
            if isinstance(child, Instance):
                found += self.instances(child)
                found.append(child)
        return found

    def wire(self, instance: Instance) -> bool:
        """Find what the instance reads and its one output; False where it has none or several."""
        members = {item.name for item in instance.members}
        outputs = [item.name for item in instance.members if self.consumers.get(item.name, set()) - members]
        inputs = list(dict.fromkeys(name for item in instance.members for name in item.inputs if name not in members))
        if len(outputs) != 1 or not inputs:
            return False
        instance.inputs, instance.output = inputs, outputs[0]
        return True

    # --- bodies ---------------------------------------------------------------------------------
    def body(self, instance: Instance, base: str | None = None) -> list[Entry]:
        """The instance's lines: its layers, and its children's, inlined with dotted names, except those
        written as block instances. Names are relative to ``base``, the instance whose body this is."""
        if base is None:
            base = instance.scope.name if instance.scope else ""
        entries = []
        for child in instance.children:
            if isinstance(child, Item):
                entries.append(Entry(relative(child.name, base), item=child))
            elif child.block is not None:
                entries.append(Entry(relative(child.scope.name, base), instance=child))
            else:
                entries += self.body(child, base)
        return entries

    def signature(self, instance: Instance) -> Signature:
        entries = self.body(instance)
        formal = {name: self.formal(i) for i, name in enumerate(instance.inputs)}
        local = {entry.output: entry.local for entry in entries}
        return Signature([(e.local, e.what, tuple(formal.get(i) or local[i] for i in e.inputs)) for e in entries],
                         local[instance.output], len(instance.inputs))

    @staticmethod
    def formal(index: int) -> str:
        return "input" if index == 0 else f"input_{index}"

    # --- blocks ---------------------------------------------------------------------------------
    def find_blocks(self) -> None:
        """Group instances by kind, children's kinds first, into templates; a kind used once stays inline."""
        by_kind: dict[str, list[Instance]] = {}
        for instance in self.instances():
            if instance.scope.kind and self.wire(instance):
                by_kind.setdefault(instance.scope.kind, []).append(instance)
        for kind in self.kinds_in_order(by_kind):
            instances = by_kind[kind]
            if len(instances) < 2:
                continue
            templates = self.merge_kind(kind, instances)
            for template in templates:
                if len(template.instances) < 2:
                    continue  # not repeated after all: inline
                template.name = self.block_name(instances[0].scope.block)
                for instance in template.instances:
                    instance.block = template
                self.templates.append(template)
                self.arguments(template)

    def kinds_in_order(self, by_kind: dict[str, list[Instance]]) -> list[str]:
        """Kinds whose instances sit inside another kind's come before it (its body needs their blocks)."""
        depth: dict[str, int] = {}
        for kind, instances in by_kind.items():
            depth[kind] = max(self.height(instance) for instance in instances)
        return sorted(by_kind, key=lambda k: depth[k])

    def height(self, instance: Instance) -> int:
        return 1 + max((self.height(c) for c in instance.children if isinstance(c, Instance)), default=0)

    def block_name(self, wanted: str) -> str:
        name = identifier(wanted)
        if name in LAYERS:
            name += "_block"
        taken = {t.name for t in self.templates}
        candidate, number = name, 2
        while candidate in taken:
            candidate, number = f"{name}_{number}", number + 1
        return candidate

    def merge_kind(self, kind: str, instances: list[Instance]) -> list[Template]:
        """One template per set of instances whose bodies fit one union (with when: flags)."""
        signatures: dict[Any, tuple[Signature, list[Instance]]] = {}
        for instance in instances:
            signature = self.signature(instance)
            signatures.setdefault(signature.key(), (signature, []))[1].append(instance)
        templates: list[Template] = []
        for signature, members in sorted(signatures.values(), key=lambda s: -len(s[0].entries)):
            for template in templates:
                if self.absorb(template, signature):
                    template.instances += members
                    break
            else:
                template = Template("", kind, [(l, w, list(i)) for l, w, i in signature.entries], signature.output,
                                    signature.inputs, [signature], list(members))
                templates.append(template)
        return templates

    def absorb(self, template: Template, signature: Signature) -> bool:
        """Add ``signature`` to the template if one union with when: flags gives every member's wiring."""
        if signature.inputs != template.inputs:
            return False
        if template.instances[0].scope.by_structure and not (
                {e[0] for e in signature.entries} <= {e[0] for e in template.entries}):
            return False
        union = [list(e) for e in template.entries]
        known = {e[0] for e in union}
        position = -1
        for local, what, inputs in signature.entries:
            if local in known:
                position = next(i for i, e in enumerate(union) if e[0] == local)
            else:
                position += 1
                union.insert(position, [local, what, list(inputs)])
        members = [*template.signatures, signature]
        optional = [e for e in union if e[1][0] == "layer" and e[1][1] in COMMUTATIVE and len(e[2]) == 2
                    and not all(any(s[0] == e[0] for s in m.entries) for m in members)][:4]
        for flips in range(2 ** len(optional)):
            trial = [list(e) for e in union]
            for bit, entry in enumerate(optional):
                if flips >> bit & 1:
                    target = next(e for e in trial if e[0] == entry[0])
                    target[2] = target[2][::-1]
            if all(self.fits(trial, template.output, m) for m in members):
                template.entries = [tuple(e) for e in trial]
                template.signatures.append(signature)
                return True
        return False

    @staticmethod
    def fits(union: list, output: str, signature: Signature) -> bool:
        """The union gives this signature's wiring once the entries it lacks stand for their first inputs."""
        present = {local: (what, inputs) for local, what, inputs in signature.entries}
        first_input = {e[0]: e[2][0] if e[2] else None for e in union}
        order = [e[0] for e in union if e[0] in present]
        if order != [e[0] for e in signature.entries]:
            return False

        def resolve(name):
            seen = set()
            while name in first_input and name not in present and name not in seen:
                seen.add(name)
                name = first_input[name]
            return name

        for local, what, inputs in union:
            if local not in present:
                continue
            their_what, their_inputs = present[local]
            resolved = [resolve(i) for i in inputs]
            same = (sorted(resolved) == sorted(their_inputs) if what[0] == "layer" and what[1] in COMMUTATIVE
                    else resolved == list(their_inputs))
            if not (their_what == what or what[2] and their_what[2] == what[2]) or not same:
                return False
        return resolve(output) == signature.output

    # --- arguments ------------------------------------------------------------------------------
    def arguments(self, template: Template) -> None:
        """Literals where every instance agrees; block arguments, shared and scaled, where they vary."""
        bodies = [{e.local: e for e in self.body(instance)} for instance in template.instances]
        groups: list[dict] = []  # {"name", "values": [value or MISSING per instance], "columns": [...]}
        template.body = []
        for local, what, _ in template.entries:
            present = [body.get(local) for body in bodies]
            columns = self.columns(present)
            written = {}
            types = [entry.item.type if entry is not None and entry.item else _MISSING for entry in present]
            if what[0] == "layer" and len({t for t in types if t is not _MISSING}) > 1:
                written["type"] = self.share(groups, "type", local, types)
            for argument, values in columns.items():
                defined = [v for v in values if v is not _MISSING]
                if all(same(v, defined[0]) for v in defined):
                    written[argument] = ("literal", defined[0])
                elif argument == "groups" and self.is_in_channels(present, values):  # depthwise, as people write it
                    written[argument] = ("expression", "in_channels")
                else:
                    written[argument] = (self.share(groups, argument, local, values, exact=True)
                                         or (("expression", "in_channels") if self.is_in_channels(present, values)
                                             else self.share(groups, argument, local, values)))
            template.body.append(written)
            flags = [entry is not None for entry in present]
            if not all(flags):
                template.flags[local] = self.share_flag(groups, local, what, flags)
        names = self.name_groups(groups, [local for local, _, _ in template.entries])
        for written in template.body:
            for argument, (kind, value) in written.items():
                if kind == "group":
                    group, factor = value
                    written[argument] = ("expression", names[id(group)] if factor == 1 else f"{factor} * {names[id(group)]}")
        template.flags = {local: names[id(group)] for local, group in template.flags.items()}
        for group in groups:
            template.args[names[id(group)]] = self.default(group["values"])
        for index, instance in enumerate(template.instances):
            instance.call = {}
            for group in groups:  # an argument only the layers this instance lacks use: any value does
                value = group["values"][index]
                if value is _MISSING:
                    default = template.args[names[id(group)]]
                    value = default if default != "required" else next(v for v in group["values"] if v is not _MISSING)
                instance.call[names[id(group)]] = value

    def columns(self, present: list[Entry | None]) -> dict[str, list[Any]]:
        """Each argument's value per instance (_MISSING where the instance lacks the entry)."""
        found: dict[str, list[Any]] = {}
        sample = next(entry for entry in present if entry is not None)
        fields = LAYERS[sample.item.type].arguments() if sample.item else sample.instance.block.args
        order = {name: i for i, name in enumerate(fields)}
        for index, entry in enumerate(present):
            if entry is None:
                continue
            values = full_arguments(entry.item) if entry.item else entry.instance.call
            for argument, value in sorted(values.items(), key=lambda kv: order.get(kv[0], len(order))):
                found.setdefault(argument, [_MISSING] * len(present))[index] = value
        return found

    def is_in_channels(self, present: list[Entry | None], values: list[Any]) -> bool:
        pairs = [(entry, value) for entry, value in zip(present, values) if entry is not None and value is not _MISSING]
        return all(isinstance(v, int) and not isinstance(v, bool) and len(self.shapes[e.inputs[0]]) > 0
                   and v == self.shapes[e.inputs[0]][0] for e, v in pairs)

    def share(self, groups: list[dict], argument: str, local: str, values: list[Any], exact: bool = False):
        """The group this column joins (equal, or a whole multiple of it where both are set), else a new one
        (with ``exact``: only an equal group, else None)."""
        for group in groups:
            if group.get("flag"):
                continue
            factor = self.factor(group["values"], values)
            if factor is not None and (factor == 1 or not exact):
                for i, v in enumerate(values):
                    if group["values"][i] is _MISSING and v is not _MISSING and factor == 1:
                        group["values"][i] = v
                group["columns"].append((local, argument))
                return ("group", (group, factor))
        if exact:
            return None
        group = {"values": list(values), "columns": [(local, argument)]}
        groups.append(group)
        return ("group", (group, 1))

    @staticmethod
    def factor(base: list[Any], values: list[Any]) -> int | None:
        """1 where the two agree wherever both are set, k where ``values`` is always k times ``base``."""
        pairs = [(b, v) for b, v in zip(base, values) if b is not _MISSING and v is not _MISSING]
        if not pairs:
            return None
        if all(b == v and type(b) is type(v) for b, v in pairs):
            return 1
        if len(pairs) < 2 or not all(isinstance(x, int) and not isinstance(x, bool) for p in pairs for x in p):
            return None
        if pairs[0][0] == 0 or pairs[0][1] % pairs[0][0]:
            return None
        k = pairs[0][1] // pairs[0][0]
        covered = all(v is _MISSING or b is not _MISSING for b, v in zip(base, values))
        return k if k > 1 and covered and all(v == k * b for b, v in pairs) else None

    @staticmethod
    def share_flag(groups: list[dict], local: str, what: tuple[str, str], flags: list[bool]):
        for group in groups:
            if group.get("flag") and group["values"] == flags:
                group["columns"].append((local, "when"))
                group["merges"] &= what[:2] == ("layer", "add")
                return group
        group = {"values": flags, "columns": [(local, "when")], "flag": True, "merges": what[:2] == ("layer", "add")}
        groups.append(group)
        return group

    @staticmethod
    def name_groups(groups: list[dict], entries: list[str]) -> dict[int, str]:
        """An argument's own name where one group has it (stride), else the entry's and the argument's
        (conv1_out_channels); a flag: has_ and the entries' common prefix (has_downsample for downsample.0 and
        downsample.1, or downsample.0 alone where no other entry is under downsample), or has_residual for an
        add alone."""
        names: dict[int, str] = {}
        plain = Counter(g["columns"][0][1] for g in groups if not g.get("flag"))
        for group in groups:
            if group.get("flag"):
                locals_ = [local for local, _ in group["columns"]]
                prefix = locals_[0].split(".")
                for local in locals_[1:]:
                    parts = local.split(".")
                    common = 0
                    while common < min(len(prefix), len(parts)) and prefix[common] == parts[common]:
                        common += 1
                    prefix = prefix[:common]
                while len(prefix) > 1 and prefix[-1].isdigit() and not any(
                        e.startswith(".".join(prefix[:-1]) + ".") for e in entries if e not in locals_):
                    prefix = prefix[:-1]
                wanted = "has_residual" if group["merges"] else "has_" + identifier(
                    "_".join(prefix or locals_[0].split(".")))
            else:
                local, argument = group["columns"][0]
                same_name = all(a == argument for _, a in group["columns"])
                word = "activation" if argument == "type" else argument  # type: activation, the layer type it names
                wanted = identifier(word if same_name and plain[argument] == 1 else f"{local}_{word}")
            name, number = wanted, 2
            while name in names.values():
                name, number = f"{wanted}_{number}", number + 1
            names[id(group)] = name
        return names

    @staticmethod
    def default(values: list[Any]):
        """The value most instances take where more than half take it (flags: always the commoner), else
        required."""
        defined = [v for v in values if v is not _MISSING]
        counts = Counter(repr(v) for v in defined)
        best, count = counts.most_common(1)[0]
        value = next(v for v in defined if repr(v) == best)
        return value if isinstance(value, bool) or 2 * count > len(defined) else "required"

    # --- writing --------------------------------------------------------------------------------
    def lines(self, entries: list[Entry], indent: str) -> list[str]:
        """YAML lines for the top-level body."""
        local = {entry.output: entry.local for entry in entries}
        local["input"] = "input"
        out, index, previous_output = [], 0, "input"
        while index < len(entries):
            run = self.repeat_run(entries, index)
            entry = entries[index]
            fields: dict[str, Any] = {}
            if run > 1:
                fields.update(self.repeat_fields(entries[index:index + run]))
            elif entry.item:
                fields = {"type": entry.item.type, **self.layer_arguments(entry.item)}
            else:
                fields = {"type": entry.instance.block.name, **self.call_arguments(entry.instance)}
            fields["name"] = entry.local if run == 1 else entry.local.rsplit(".", 1)[0]
            refs = [local[i] for i in entry.inputs]
            if entry.inputs != [previous_output]:
                fields["inputs"] = refs[0] if len(refs) == 1 else refs
            if entry.item and not entry.item.trainable:
                fields["trainable"] = False
            out.append(f"{indent}- {flow(fields)}")
            previous_output = entries[index + run - 1].output
            index += run
        return out

    def layer_arguments(self, item: Item) -> dict[str, Any]:
        defaults = layer_defaults(item.type)
        return in_field_order(item.type, {k: v for k, v in item.arguments.items()
                                          if k not in defaults or not same(defaults[k], v)})

    def call_arguments(self, instance: Instance) -> dict[str, Any]:
        args = instance.block.args
        return {k: v for k, v in instance.call.items() if args[k] == "required" or not same(args[k], v)}

    def repeat_run(self, entries: list[Entry], start: int) -> int:
        """How many entries from ``start`` are instances P.0 .. P.n-1 of one block, each reading only the one
        before (which nothing else reads), argued alike after the first, and nothing else is under P."""
        first = entries[start]
        if first.instance is None or not first.local.endswith(".0"):
            return 1
        prefix = first.local[:-2]
        count = 1
        while start + count < len(entries):
            entry, previous = entries[start + count], entries[start + count - 1]
            members = {item.name for item in entry.instance.members} if entry.instance else set()
            if (entry.instance is None or entry.local != f"{prefix}.{count}"
                    or entry.instance.block is not first.instance.block or entry.inputs != [previous.output]
                    or not self.consumers.get(previous.output, set()) <= members
                    or count > 1 and entry.instance.call != entries[start + 1].instance.call):
                break
            count += 1
        rest = [e.local for e in entries[:start] + entries[start + count:]]
        whole = not any(local == prefix or local.startswith(prefix + ".") for local in rest)  # all of P, or no repeat
        return count if count > 1 and whole else 1

    def repeat_fields(self, run: list[Entry]) -> dict[str, Any]:
        block = run[0].instance.block
        rest = self.call_arguments(run[1].instance)
        first = {k: v for k, v in run[0].instance.call.items() if not same(v, run[1].instance.call[k])}
        fields = {"type": block.name, **rest, "repeat": len(run)}
        if first:
            fields["first"] = first
        return fields

    def block_lines(self, template: Template) -> list[str]:
        kind = template.kind.rsplit(":", 1)[0]
        out = [f"  {template.name}:  # {kind}, used {len(template.instances)} times"]
        if template.args:
            out.append(f"    args: {flow(template.args)}")
        if template.inputs > 1:
            out.append(f"    inputs: {flow([self.formal(i) for i in range(template.inputs)])}")
        out.append("    layers:")
        previous = "input"
        for (local, what, inputs), written in zip(template.entries, template.body):
            fields: dict[str, Any] = {"type": what[1]}
            defaults = layer_defaults(what[1]) if what[0] == "layer" else {
                t.name: t for t in self.templates}[what[1]].args
            for argument, (kind_, value) in written.items():  # 'type' first where it is an argument

                if kind_ == "literal" and argument in defaults and same(defaults[argument], value) \
                        and defaults[argument] != "required":
                    continue
                fields[argument] = Expression(value) if kind_ == "expression" else value
            fields["name"] = local
            if list(inputs) != [previous]:
                fields["inputs"] = inputs[0] if len(inputs) == 1 else list(inputs)
            if local in template.flags:
                fields["when"] = Expression(template.flags[local])
            out.append(f"      - {flow(fields)}")
            previous = local
        if template.output != template.entries[-1][0]:
            out.append(f"    output: {scalar(template.output)}")
        return out

    def write(self, name: str, header: list[str], expect: dict[str, Any] | None = None, description: str = "") -> str:
        self.find_blocks()
        lines = [f"# {line}" if line else "#" for line in header]
        lines.append(f"name: {scalar(name)}")
        if description:
            lines.append(f"description: {scalar(description)}")
        lines.append(f"input: {flow(list(self.input_shape))}")
        if self.templates:
            lines.append("blocks:")
            for template in self.templates:
                lines += self.block_lines(template)
        lines.append("layers:")
        lines += self.lines(self.body(self.root), "  ")
        if self.outputs != [self.items[-1].name]:
            lines.append(f"outputs: {flow(self.outputs)}")
        if expect:
            lines.append("expect:")
            lines += [f"  {key}: {flow(value) if isinstance(value, (list, dict)) else scalar(value)}"
                      for key, value in expect.items()]
        return "\n".join(lines) + "\n"


class _Missing:
    def __repr__(self):
        return "MISSING"


_MISSING = _Missing()


class Expression(str):
    """A value the spec evaluates (``4 * out_channels``), written without quotes where YAML allows."""


def same(a: Any, b: Any) -> bool:
    return type(a) is type(b) and a == b


_PLAIN = re.compile(r"[A-Za-z_][\w.\-]*")
_YAML_WORDS = {"true", "false", "yes", "no", "on", "off", "null", "y", "n", "~"}


def scalar(value: Any) -> str:
    """One YAML value in flow style: names plain, other strings quoted, floats as floats."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        text = repr(value)
        return text.replace("e", ".0e", 1) if "e" in text and "." not in text else text
    if isinstance(value, list):
        return flow(value)
    if isinstance(value, dict):
        return flow(value)
    text = str(value)
    if isinstance(value, Expression) and re.fullmatch(r"\w[\w .*+\-/()]*", text) or _PLAIN.fullmatch(text) and text.lower() not in _YAML_WORDS:
        return text
    return "'" + text.replace("'", "''") + "'"


def flow(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{scalar(k)}: {scalar(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(scalar(v) for v in value) + "]"
    return scalar(value)
