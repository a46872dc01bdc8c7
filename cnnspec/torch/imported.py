"""What both importers (PyTorch, ONNX) share, without importing either: the tensors and layers they hand
to the spec writer, the operations they report, and the checks every imported spec passes.

An importer never hands back a spec it has not read back: it must load, every layer must have the shape
the source graph gave it, and the parameters must add up to those the source holds.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import SpecError
from ..graph import Graph, build_graph
from ..spec import parse_spec


class Unsupported(Exception):
    """A module, function, node or argument the spec language cannot express; the message says why."""


@dataclass(frozen=True)
class Ref:
    """A tensor of the source graph: the layer that produced it ('input' for the input; None for a constant
    or a parameter used outside a layer) and its shape with the batch axis."""
    name: str | None
    shape: tuple[int, ...]
    what: str = ""  # for a constant: where it comes from ('parameter gamma')

    @property
    def sample(self) -> tuple[int, ...]:
        """The shape without the batch axis, as a spec writes it."""
        return self.shape[1:]


@dataclass
class Converted:
    """One layer: its type, its arguments (all of them; the writer leaves out the defaults) and the tensors
    it reads, in order."""
    type: str
    arguments: dict[str, Any]
    inputs: list[Ref]
    owns: list[str] = field(default_factory=list)  # parameters used outside a module that this layer holds


@dataclass
class Alias:
    """The result is one of the inputs, unchanged (``x.contiguous()``, ONNX's Identity)."""
    of: Ref


@dataclass
class Parts:
    """A tuple of tensors that become layers only when taken out of it (``torch.chunk`` then ``[i]``)."""
    parts: list[Converted]


@dataclass
class Problem:
    """An operation the spec cannot hold: where (module path or ONNX node), what (class, function, op) and
    why; ``shape``: its output's (no batch axis), where a placeholder can stand for it."""
    location: str
    what: str
    reason: str
    shape: tuple[int, ...] | None = None

    def __str__(self) -> str:
        return f"{self.location}: {self.what}: {self.reason}"


class UnsupportedModel(SpecError):
    """The model has operations a spec cannot express; ``problems`` lists each. Not bad input but a limit of
    cnnspec's: exit 1 on the command line."""
    exit_code = 1

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        listing = "\n".join(f"  {problem}" for problem in problems)
        keeps = ("--allow-unsupported keeps the rest with a placeholder of each one's shape"
                 if all(p.shape is not None for p in problems) else
                 "no placeholder can stand for those without one tensor of known shape, so --allow-unsupported "
                 "cannot help")
        super().__init__(f"{len(problems)} operation(s) cnnspec cannot import ({keeps}):\n{listing}")


@dataclass
class Imported:
    """An imported model: the spec's YAML text, the graph it loads into, and what was left out."""
    text: str
    graph: Graph
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def save(self, path: str | Path) -> None:
        from ..files import write_atomic
        write_atomic(path, self.text)


def load_written(text: str, path: str) -> Graph:
    """The graph of a written spec; a spec the writer got wrong is cnnspec's bug, said so."""
    try:
        return build_graph(parse_spec(text, path))
    except SpecError as error:
        raise RuntimeError(f"cnnspec wrote a spec it cannot read back ({error}); please report it with the model."
                           f"\n{text}") from error


def check_totals(graph: Graph, shapes: dict[str, tuple[int, ...]], params: int, source: str,
                 buffers: int | None = None) -> None:
    """The loaded spec agrees with its source: every layer's shape, and the parameters (and buffers, where the
    source knows them) its layers hold."""
    for name, shape in shapes.items():
        node = graph.by_name.get(name)
        if node is None or tuple(node.out_shape) != tuple(shape):
            raise RuntimeError(f"the written spec gives {name} {getattr(node, 'out_shape', 'nothing')}, {source} "
                               f"{tuple(shape)}; please report it")
    from ..analysis import analyze
    totals = analyze(graph).totals
    for what, counted, held in (("parameters", totals.params, params), ("buffer values", totals.buffers, buffers)):
        if held is not None and counted != held:
            raise RuntimeError(f"the written spec counts {counted:,} {what}, {source} holds {held:,} in its layers; "
                               "please report it")
