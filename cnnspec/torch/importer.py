"""A PyTorch module -> a spec: traced with torch.fx, or torch.export where fx cannot trace it.

The trace is walked node by node. A call of a module cnnspec knows (``convert.MODULES``) becomes one layer
named by the module's path, its arguments read back from the module; a function or method call becomes
the matching layer (``convert.FUNCTIONS``); anything else is reported, with the module path or the call,
and the import stops unless ``allow_unsupported`` keeps a placeholder layer of its shape (fvcore's lesson:
an operation silently left out is a wrong total). Shapes come from the analyzer for the layers it knows
and from running the rest on the meta device, so a ResNet-152 imports without a single real tensor.

Checks before a spec is handed back: it loads; every parameter of the module is held by exactly one layer
(a parameter used twice, or outside any module cnnspec knows, is reported); the spec's parameter count
equals the module's; every layer's output shape equals the trace's.
"""
from __future__ import annotations

import contextlib
import copy
import importlib
import importlib.util
import operator
import re
import sys
from pathlib import Path
from typing import Any

import torch
from torch import fx, nn

from . import convert
from .build import Container
from .imported import (Alias, Converted, Imported, Parts, Problem, Ref, Unsupported, UnsupportedModel, check_totals,
                       load_written)
from .specwriter import Item, Scope, SpecWriter, snake_case
from ..errors import SpecError
from ..graph import Graph
from ..layers import LAYERS
from ..shape import ArgumentError

BATCH = 2
"""The batch the trace runs at: 2, so that an operation that mixes the batch axis into the others shows."""
CONTAINERS = (nn.Sequential, nn.ModuleList, nn.ModuleDict)


# --- entry points -----------------------------------------------------------------------------

def from_torch(module: nn.Module, input_shape, *, name: str | None = None, allow_unsupported: bool = False,
               source: str | None = None) -> Imported:
    """``cnnspec.from_torch(model, (3, 224, 224))``: the spec of ``module`` at this input (no batch axis)."""
    shape = tuple(int(n) for n in input_shape)
    if not 1 <= len(shape) <= 4 or any(n < 1 for n in shape):
        raise SpecError(f"input_shape must be [C, L], [C, H, W] or [C, D, H, W] without the batch. Received: {shape}")
    trace = Trace(module, shape)
    trace.run()
    problems = trace.problems
    if problems and (not allow_unsupported or any(p.shape is None for p in problems) or None in trace.outputs):
        raise UnsupportedModel(problems)
    name = name or (source.rpartition(":")[2] if source and ":" in source else
                    getattr(module, "spec_name", None) or type(module).__name__.lower())
    origin = source or f"a {type(module).__module__}.{type(module).__qualname__} module"
    header = [f"Imported by `cnnspec import` from {origin} (torch {torch.__version__.split('+')[0]}), "
              f"input {'x'.join(map(str, shape))}.",
              "Layer names are the module paths; a block is a module class used more than once."]
    header += [f"NOTE: {note}" for note in trace.notes]
    header += [f"UNSUPPORTED (a placeholder, nothing counted): {p}" for p in problems]
    expect = trace.expect() if not problems else None
    text = SpecWriter(trace.items, trace.outputs, shape).write(name, header, expect)
    graph = load_written(text, f"<imported {name}>")
    check_totals(graph, trace.traced_shapes, trace.held(nn.Module.parameters), "the trace",
                 trace.held(nn.Module.buffers))
    return Imported(text, graph, problems, list(trace.notes))


def load_callable(reference: str):
    """'mypkg.models:resnet50' or 'path/to/file.py:resnet50' -> the callable (a class is a callable too)."""
    target, sep, attribute = reference.rpartition(":")
    if not sep or not target or not attribute:
        raise SpecError(f"name a callable as MODULE:CALLABLE or FILE.py:CALLABLE. Received: {reference!r}")
    try:
        if target.endswith(".py") or "/" in target:
            path = Path(target)
            if not path.is_file():
                raise SpecError(f"no Python file '{target}'")
            spec = importlib.util.spec_from_file_location(path.stem, path)
            module = importlib.util.module_from_spec(spec)
            sys.path.insert(0, str(path.parent.resolve()))
            try:
                spec.loader.exec_module(module)
            finally:
                sys.path.remove(str(path.parent.resolve()))
        else:
            if "" not in sys.path and "." not in sys.path:
                sys.path.insert(0, "")
            module = importlib.import_module(target)
    except SpecError:
        raise
    except Exception as error:  # the user's code: any failure is theirs to read, in one line
        raise SpecError(f"importing {target} failed: {type(error).__name__}: {error}") from None
    try:
        return getattr(module, attribute)
    except AttributeError:
        raise SpecError(f"{target} has no '{attribute}'") from None


def make_module(reference: str) -> nn.Module:
    """Call the callable, on the meta device where it allows (no weights drawn), else normally."""
    function = load_callable(reference)
    failure = None
    for device in ("meta", None):
        try:
            with torch.device(device) if device else contextlib.nullcontext():
                module = function()
            break
        except Exception as error:  # noqa: BLE001 - the user's constructor; retried off the meta device
            failure = error
    else:
        raise SpecError(f"calling {reference}() failed: {type(failure).__name__}: {failure}")
    if not isinstance(module, nn.Module):
        raise SpecError(f"{reference}() returned a {type(module).__name__}, not a torch.nn.Module")
    return module


def import_callable(reference: str, input_shape, **options) -> Imported:
    return from_torch(make_module(reference), input_shape, source=reference, **options)


# --- tracing ----------------------------------------------------------------------------------

class CustomFunction:
    """A call of a custom torch.autograd.Function, kept as one node: its forward is the user's own."""

    def __init__(self, function: type):
        self.function = function
        self.__name__ = function.__name__

    def __call__(self, *args, **kwargs):
        return _original_apply.__func__(self.function, *args, **kwargs)


_original_apply = torch.autograd.Function.__dict__["apply"]
"""Function.apply itself, the classmethod (the attribute would be a method bound to Function: put back, every
subclass's apply would call Function's forward)."""


class InplaceProxy(fx.Proxy):
    """``out += identity`` traced as an in-place add, as it runs (fx's Proxy would record ``out + identity``)."""

    def __iadd__(self, other):
        return self.tracer.create_proxy("call_function", operator.iadd, (self, other), {})

    def __imul__(self, other):
        return self.tracer.create_proxy("call_function", operator.imul, (self, other), {})


class ImportTracer(fx.Tracer):
    """fx's tracer with cnnspec's converters as leaves: a module cnnspec knows is one node, whatever its
    forward does; torch.nn's others stay leaves too, so that they are reported rather than traced into."""

    def is_leaf_module(self, module: nn.Module, qualified_name: str) -> bool:
        if convert.converter_for(module) is not None:
            return True
        return super().is_leaf_module(module, qualified_name)

    def proxy(self, node: fx.Node) -> fx.Proxy:
        return InplaceProxy(node, self)

    def trace(self, root, concrete_args=None):
        def apply(cls, *args, **kwargs):
            if any(isinstance(a, fx.Proxy) for a in args):
                return self.create_proxy("call_function", CustomFunction(cls), args, kwargs)
            return _original_apply.__func__(cls, *args, **kwargs)
        torch.autograd.Function.apply = classmethod(apply)  # for the trace only: a custom Function is one node
        try:
            return super().trace(root, concrete_args)
        finally:
            torch.autograd.Function.apply = _original_apply


@contextlib.contextmanager
def evaluating(module: nn.Module):
    """Trace in eval mode (dropout and batch norm as at inference), and leave the module as it was."""
    modes = {m: m.training for m in module.modules()}
    module.eval()
    try:
        yield
    finally:
        for m, training in modes.items():
            m.training = training


class Trace:
    """Walk one traced graph of ``module`` into Items."""

    def __init__(self, module: nn.Module, shape: tuple[int, ...]):
        self.module, self.shape = module, shape
        self.items: list[Item] = []
        self.outputs: list[str] = []
        self.problems: list[Problem] = []
        self.notes: list[str] = []
        self.owned: dict[int, tuple[str, torch.Tensor]] = {}  # id of a parameter -> the layer holding it, and it
        self.holders: list[nn.Module] = []  # the modules that became layers
        self.read: set[int] = set()  # ids of the tensors forward reads as attributes (self.gamma)
        self.calls: dict[str, int] = {}  # module path -> calls so far
        self.names: set[str] = {"input"}
        self.counters: dict[tuple[str, str], int] = {}
        self.traced_shapes: dict[str, tuple[int, ...]] = {}
        self.scopes: dict[str, Scope] = {}

    def run(self) -> None:
        with evaluating(self.module):
            try:
                graph = ImportTracer().trace(self.module)
            except Exception as failure:  # noqa: BLE001 - fx refuses Python control flow on tensors, and more
                self.notes.append(f"torch.fx could not trace it ({type(failure).__name__}: "
                                  f"{str(failure).splitlines()[0][:160]}); traced with torch.export")
                self.run_export()
                return
            self.run_fx(graph)
        self.check_parameters()

    # --- fx ---------------------------------------------------------------------------------
    def run_fx(self, graph: fx.Graph) -> None:
        values: dict[fx.Node, Any] = {}
        refs: dict[fx.Node, Any] = {}
        placeholders = 0
        for node in graph.nodes:
            if node.op == "placeholder":
                placeholders += 1
                if placeholders > 1:
                    if node.args:  # an argument with a default: the default it runs with
                        values[node] = node.args[0]
                        continue
                    raise SpecError(f"the module's forward takes {placeholders} inputs ({node.target} too); a spec "
                                    "has one input")
                values[node] = torch.empty(BATCH, *self.shape, device="meta")
                refs[node] = Ref("input", values[node].shape)
            elif node.op == "get_attr":
                value = _attribute(self.module, node.target)
                if isinstance(value, torch.Tensor):
                    self.read.add(id(value))
                    kind = "parameter" if isinstance(value, nn.Parameter) else "buffer" if any(
                        value is b for b in self.module.buffers()) else "constant"
                    values[node] = torch.empty(value.shape, dtype=value.dtype, device="meta")
                    refs[node] = Ref(None, tuple(value.shape), f"{kind} {node.target}")
                else:
                    values[node] = value
            elif node.op == "output":
                self.outputs = [self.output_name(refs.get(n), n) for n in _flat(node.args[0])]
            else:
                stack = _fx_stack(node)
                self.fx_call(node, stack, values, refs)

    def output_name(self, ref, node) -> str | None:
        """The layer an output of forward is; None after a problem (reported already)."""
        if isinstance(ref, Ref) and ref.name is not None and ref.name != "input":
            return ref.name
        if self.problems:
            return None
        raise SpecError(f"the module returns {node!r}, which is not the result of a layer")

    def fx_call(self, node: fx.Node, stack: list[tuple[str, str, type]], values: dict, refs: dict) -> None:
        args = fx.node.map_arg(node.args, lambda n: values[n])
        kwargs = fx.node.map_arg(node.kwargs, lambda n: values[n])
        ref_args = fx.node.map_arg(node.args, lambda n: refs.get(n, values[n]))
        ref_kwargs = fx.node.map_arg(node.kwargs, lambda n: refs.get(n, values[n]))
        if node.op == "call_module":
            module = self.module.get_submodule(node.target)
            inputs = [r for r in _flat((ref_args, ref_kwargs)) if isinstance(r, Ref)]
            ref, value = self.module_call(module, node.target, stack, inputs,
                                          lambda: _run_unsupported(module, args, kwargs))
            values[node], refs[node] = value, ref
            return
        refs[node], values[node] = self.function_call(node.target, stack, ref_args, ref_kwargs,
                                                      lambda: _run(node.op, node.target, args, kwargs))
        if refs[node] is None:
            del refs[node]  # x.size(0), x.shape: a plain value the next calls take as an argument

    def module_call(self, module: nn.Module, path: str, stack, inputs: list[Ref], run):
        """One call of a leaf module: a layer named by its path, or a reported problem (``run`` gives the
        output it has in PyTorch, for the placeholder's shape)."""
        scopes, name = self.scope_names(stack)
        converter = convert.converter_for(module)
        count = self.calls.get(path, 0)
        self.calls[path] = count + 1
        what = f"{type(module).__module__}.{type(module).__qualname__}"
        problem = None
        if converter is None:
            problem = "cnnspec has no layer type for it"
        elif count and any(True for _ in module.parameters()):
            problem = (f"call {count + 1} of a module with parameters: a spec layer has weights of its own, so "
                       "shared weights would be counted again")
        if problem is None:
            try:
                converted = converter(module, inputs)
                ref = self.add(name, scopes, converted, all(p.requires_grad for p in module.parameters()))
            except Unsupported as reason:
                problem = str(reason)
            except ArgumentError as error:  # the layer refuses what the module was given: PyTorch would too
                problem = f"as cnnspec's {converted.type}: {error}"
        if problem is not None:
            value = run()
            return self.placeholder(name, scopes, path, what, problem, inputs, value, "module"), value
        for parameter in module.parameters():
            self.own(parameter, name)
        self.holders.append(module)
        return ref, torch.empty(ref.shape, device="meta")

    def function_call(self, target, stack, args, kwargs, run, known=None):
        """A function or method call -> (its Ref, its value on the meta device). The converter decides; an
        operation without one runs on the meta device: a plain value (x.size(0)) or a constant passes, a
        tensor computed from the layers' results is a problem. ``known``: the value a tracer recorded."""
        scopes, scope_name = self.scope_names(stack, leaf=False)
        key, what = convert.function_name(target), convert.describe_target(target)
        location = scope_name or "the top-level forward"
        converter = convert.FUNCTIONS.get(key)
        converted, reason = None, "cnnspec has no layer type for it"
        if isinstance(target, CustomFunction):
            converter, reason = None, "a custom torch.autograd.Function: its forward and backward are its own code"
        if converter is not None:
            try:
                converted = converter(*args, **kwargs)
                if isinstance(converted, Converted):
                    shape_of(converted)
            except Unsupported as problem:
                converted, reason = None, str(problem)
            except TypeError as problem:
                converted, reason = None, f"called with arguments cnnspec does not read ({problem})"
            except ArgumentError as error:  # the layer refuses the call's arguments: PyTorch would too
                converted, reason = None, f"as cnnspec's {converted.type}: {error}"
        if converted is None:
            try:
                value = run()
            except Exception as failure:  # noqa: BLE001 - it fails on the meta device too: no shape
                value, reason = None, f"{reason}; it fails on the meta device ({type(failure).__name__})"
            else:
                data = [r for r in _refs(args, kwargs) if r.name is not None]
                if not _has_tensor(value) or (not data and not isinstance(target, CustomFunction)):
                    constant = next((r.what for r in _refs(args, kwargs)), "") or f"a constant made by {what}"
                    return (Ref(None, tuple(value.shape), constant) if isinstance(value, torch.Tensor) else None), value
            base = snake_case(target.__name__) if isinstance(target, CustomFunction) else key.strip("_") or "op"
            kind = "autograd Function" if isinstance(target, CustomFunction) else "function"
            return self.placeholder(self.fresh(scope_name, base), scopes, location, what, reason,
                                    _refs(args, kwargs), value, kind), value
        if isinstance(converted, Alias):
            return converted.of, torch.empty(converted.of.shape, device="meta")
        if isinstance(converted, Parts):
            return converted, tuple(torch.empty(BATCH, *shape_of(part), device="meta") for part in converted.parts)
        for owned in converted.owns:
            self.own(_attribute(self.module, owned), scope_name or owned)
        ref = self.add(self.fresh(scope_name, converted.type), scopes, converted, True)
        if known is not None and tuple(known.shape) != ref.shape:
            raise RuntimeError(f"cnnspec's {converted.type} gives {list(ref.shape)} where {what} gives "
                               f"{list(known.shape)} at {location}; please report it")
        return ref, torch.empty(ref.shape, device="meta")

    def placeholder(self, name: str, scopes, location: str, what: str, reason: str, inputs: list[Ref], value,
                    kind: str):
        """Report the operation; keep an ``unsupported`` layer of its shape for --allow-unsupported (where the
        shape is known and keeps the batch axis first: a placeholder can stand for nothing else)."""
        data = [r for r in inputs if isinstance(r, Ref) and r.name is not None]
        shape = tuple(value.shape) if isinstance(value, torch.Tensor) else None
        problem = Problem(location, what, reason, shape[1:] if shape and shape[0] == BATCH else None)
        self.problems.append(problem)
        if problem.shape is None:
            problem.reason += ("; its output is not one tensor of known shape, so no placeholder can stand for it"
                               if shape is None else f"; its output {list(shape)} moves the batch axis (traced at "
                               f"batch {BATCH}), so no placeholder can stand for it")
        if problem.shape is None or not 1 <= len(problem.shape) <= 4:
            return Ref(None, shape or (), f"the result of {what}")
        described = kind + " " + re.sub(r"[^\w.@]", " ", what)  # words: a spec never reads it as an expression
        converted = Converted("unsupported", {"shape": list(problem.shape), "what": described},
                              data[:1] or [Ref("input", (BATCH, *self.shape))])
        return self.add(name, scopes, converted, True)

    def add(self, name: str, scopes: tuple[Scope, ...], converted: Converted, trainable: bool) -> Ref:
        out = shape_of(converted)
        self.items.append(Item(name, converted.type, converted.arguments, [ref.name for ref in converted.inputs],
                               scopes, out, trainable))
        self.traced_shapes[name] = out
        return Ref(name, (BATCH, *out))

    def own(self, parameter: torch.Tensor, layer: str) -> None:
        if id(parameter) in self.owned:
            self.problems.append(Problem(layer, "a shared parameter", f"its parameter is {self.owned[id(parameter)][0]}'s "
                                         "too: a spec layer has weights of its own, so it would be counted twice"))
        else:
            self.owned[id(parameter)] = layer, parameter

    # --- names ------------------------------------------------------------------------------
    def scope_names(self, stack: list[tuple[str, str, type]], leaf: bool = True):
        """(the scopes around, the name) from the module stack, a second call ``relu@1`` named ``relu_1``.
        Modules the stack skips are scopes too: a model cnnspec built calls its layers from the top, its
        block instances are namespaces."""
        calls = {path: key for key, path, _ in stack}
        innermost = stack[-1][1] if stack else ""
        parts = innermost.split(".") if innermost else []
        scopes, name = [], ""
        for depth in range(1, len(parts) + 1):
            path = ".".join(parts[:depth])
            key = calls.get(path, path)
            name = f"{name}.{parts[depth - 1]}" if name else parts[depth - 1]
            call = key.rpartition("@")[2] if "@" in key else ""
            if call.isdigit():
                name += f"_{call}"
            scopes.append((name, path))
        around = scopes[:-1] if leaf and scopes else scopes
        found = tuple(self.scope(n, p) for n, p in around)
        if leaf:
            self.names.add(name)
        return found, (name if leaf else (around[-1][0] if around else ""))

    def scope(self, name: str, path: str) -> Scope:
        if name not in self.scopes:
            module = self.module.get_submodule(path)
            if type(module) in CONTAINERS or isinstance(module, Container) and module._block is None:
                kind, block = "", ""
            else:
                block = module._block if isinstance(module, Container) else snake_case(type(module).__name__)
                kind = f"{type(module).__module__}.{type(module).__qualname__}:{block}"
            self.scopes[name] = Scope(name, kind, block)
        return self.scopes[name]

    def fresh(self, scope: str, base: str) -> str:
        """A functional call's name: its layer type, numbered within its module (``add``, ``add_1``)."""
        while True:
            count = self.counters.get((scope, base), 0)
            self.counters[(scope, base)] = count + 1
            local = base if count == 0 else f"{base}_{count}"
            name = f"{scope}.{local}" if scope else local
            if name not in self.names:
                self.names.add(name)
                return name

    # --- torch.export -------------------------------------------------------------------------
    def run_export(self) -> None:
        try:
            example = torch.empty(BATCH, *self.shape, device=_device(self.module))
            exported = torch.export.export(self.module, (example,), strict=False)
        except Exception as failure:  # noqa: BLE001 - neither tracer can follow the model
            raise SpecError(f"neither torch.fx nor torch.export can trace the module: {type(failure).__name__}: "
                            f"{str(failure).splitlines()[0][:300]}") from None
        signature = exported.graph_signature
        constants = {**signature.inputs_to_parameters, **signature.inputs_to_buffers}
        refs: dict[fx.Node, Any] = {}
        nodes = list(exported.graph_module.graph.nodes)
        index = 0
        while index < len(nodes):
            node = nodes[index]
            if node.op == "placeholder":
                value = node.meta.get("val")
                refs[node] = Ref(None, tuple(value.shape), constants[node.name]) if node.name in constants else \
                    Ref("input", tuple(value.shape))
                if node.name not in constants and node.name in signature.user_inputs[1:]:
                    raise SpecError("the module's forward takes more than one input; a spec has one input")
            elif node.op == "output":
                self.outputs = [self.output_name(refs.get(n), n) for n in _flat(node.args[0])]
            elif node.op == "call_function":
                stack = _export_stack(self.module, node)
                leaf = stack[-1] if stack else None
                module = self.module.get_submodule(leaf[1]) if leaf else None
                if module is not None and self.is_export_leaf(module):
                    group = [node]
                    while index + 1 < len(nodes) and nodes[index + 1].op == "call_function" and \
                            (_export_stack(self.module, nodes[index + 1]) or [None])[-1] == leaf:
                        index += 1
                        group.append(nodes[index])
                    self.export_module_call(module, leaf[1], stack, group, refs)
                else:
                    args = fx.node.map_arg(node.args, lambda n: refs.get(n, n.meta.get("val")))
                    kwargs = fx.node.map_arg(node.kwargs, lambda n: refs.get(n, n.meta.get("val")))
                    value = node.meta.get("val")
                    ref, _ = self.function_call(node.target, stack, args, kwargs, lambda: value,
                                                value if isinstance(value, torch.Tensor) else None)
                    if ref is not None:
                        refs[node] = ref
            index += 1

    @staticmethod
    def is_export_leaf(module: nn.Module) -> bool:
        return convert.converter_for(module) is not None or (
            type(module).__module__.startswith("torch.nn") and not isinstance(module, CONTAINERS))

    def export_module_call(self, module: nn.Module, path: str, stack, group: list[fx.Node], refs: dict) -> None:
        inside = set(group)
        inputs = []
        for node in group:
            for arg in _flat((node.args, node.kwargs)):
                if isinstance(arg, fx.Node) and arg not in inside and isinstance(refs.get(arg), Ref) \
                        and refs[arg].name is not None and refs[arg] not in inputs:
                    inputs.append(refs[arg])
        output = next((n for n in reversed(group) if any(u not in inside for u in n.users)), group[-1])
        value = output.meta.get("val")
        ref, _ = self.module_call(module, path, stack, inputs, lambda: value)
        for node in group:
            refs[node] = ref

    # --- checks -----------------------------------------------------------------------------
    def check_parameters(self) -> None:
        """Parameters and buffers no layer holds: of an unsupported module, or read by forward outside any module
        cnnspec knows (both reported already: the operation that reads them is one), or never used by forward
        at this input (a note: the spec leaves them out)."""
        reported = {p.location for p in self.problems}
        unused = []
        held = {*self.owned, *(id(b) for m in self.holders for b in m.buffers())}
        for path, tensor in [*self.module.named_parameters(), *self.module.named_buffers()]:
            owner = path.rpartition(".")[0]
            if id(tensor) in held or id(tensor) in self.read or any(
                    owner == r or owner.startswith(r + ".") for r in reported):
                continue
            unused.append((path, tensor.numel()))
        if unused:
            listing = ", ".join(p for p, _ in unused[:5]) + (", ..." if len(unused) > 5 else "")
            self.notes.append(f"{len(unused)} parameter(s) or buffer(s) ({sum(n for _, n in unused):,} values) are not "
                              f"used by forward at this input and are not in the spec: {listing}")

    def held(self, tensors) -> int:
        """Values of the parameters the layers hold (``nn.Module.parameters``; a functional layer's own too) or of
        the buffers their modules hold (``nn.Module.buffers``), each once."""
        found = {id(t): t.numel() for m in self.holders for t in tensors(m)}
        if tensors is nn.Module.parameters:
            found.update({key: tensor.numel() for key, (_, tensor) in self.owned.items()})
        return sum(found.values())

    def expect(self) -> dict[str, Any]:
        """The module's own figures, which `cnnspec check` holds the spec to."""
        outputs = {name: list(self.traced_shapes[name]) for name in self.outputs}
        return {"source": "PyTorch: the imported module's parameters and buffers, and its output at this input",
                "params": self.held(nn.Module.parameters), "buffers": self.held(nn.Module.buffers),
                "output": next(iter(outputs.values())) if len(outputs) == 1 else outputs}


# --- small helpers ------------------------------------------------------------------------------

def shape_of(converted: Converted) -> tuple[int, ...]:
    """The layer's output shape (no batch axis) by the analyzer; ArgumentError where it refuses the arguments."""
    layer = LAYERS[converted.type].from_arguments(converted.arguments)
    return tuple(layer.out_shape([ref.sample for ref in converted.inputs]))


def _attribute(module: nn.Module, target: str):
    value = module
    for part in target.split("."):
        value = getattr(value, part)
    return value


def _flat(value) -> list:
    if isinstance(value, (list, tuple)):
        return [x for v in value for x in _flat(v)]
    if isinstance(value, dict):
        return [x for v in value.values() for x in _flat(v)]
    return [value]


def _has_tensor(value) -> bool:
    return any(isinstance(v, torch.Tensor) for v in _flat(value))


def _refs(args, kwargs) -> list[Ref]:
    return [r for r in _flat((args, kwargs)) if isinstance(r, Ref)]


OUT_OF_PLACE = {operator.iadd: operator.add, operator.imul: operator.mul}


def _run(op: str, target, args, kwargs):
    """The call on meta tensors. An in-place one runs out of place (the meta kernels of in-place ops import
    sympy, a second), its result held to the first operand's shape as the in-place op would be."""
    in_place = target in OUT_OF_PLACE or op == "call_method" and target.endswith("_") and not target.endswith("__")
    if op == "call_method":
        result = getattr(args[0], target.removesuffix("_") if in_place else target)(*args[1:], **kwargs)
    else:
        result = OUT_OF_PLACE.get(target, target)(*args, **kwargs)
    if in_place and isinstance(result, torch.Tensor) and result.shape != args[0].shape:
        raise RuntimeError(f"the in-place result {list(result.shape)} does not fit {list(args[0].shape)}")
    return result


def _run_unsupported(module: nn.Module, args, kwargs):
    """The output of a module cnnspec cannot express, on the meta device (a copy moved there if need be)."""
    for attempt in (module, None):
        try:
            with torch.no_grad():
                if attempt is None:
                    attempt = copy.deepcopy(module).to("meta")
                return attempt(*args, **kwargs)
        except Exception:  # noqa: BLE001 - its shape stays unknown; reported as such
            continue
    return None


def _device(module: nn.Module):
    tensor = next(iter(module.parameters()), None)
    return tensor.device if tensor is not None else "cpu"


def _fx_stack(node: fx.Node) -> list[tuple[str, str, type]]:
    return [(key, path, cls) for key, (path, cls) in node.meta.get("nn_module_stack", {}).items() if path]


def _export_stack(root: nn.Module, node: fx.Node) -> list[tuple[str, str, str]]:
    return [(key, path, cls) for key, (path, cls) in node.meta.get("nn_module_stack", {}).items() if path]
