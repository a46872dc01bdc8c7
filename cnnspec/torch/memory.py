"""Measure the memory PyTorch spends on a built model, to hold cnnspec/memory.py's estimate to it.

Three measurements, on the CPU:
- saved for backward: ``torch.autograd.graph.saved_tensors_hooks`` in a training-mode forward, each storage
  once, parameters and buffers left out; attributed to the layer running when it is first saved;
- tensor lifetimes (``LiveTensors``): a ``TorchDispatchMode`` sees every tensor an operator returns, in the
  forward, in autograd's backward and in the optimizer's step, and a weak reference to its storage says
  when PyTorch frees it. It counts storages, as the estimate does, not the allocator's blocks or a
  library's scratch space. It runs as well on fake tensors (``FakeTensorMode``: shapes, dtypes, autocast
  and autograd as on the CPU, nothing allocated), which measures ResNet-50 at batch 32 in a few hundred MB;
- the allocator (``allocator_peaks``): ``torch.profiler`` with ``profile_memory`` records every allocation
  and free of PyTorch's CPU allocator, oneDNN's reorders of convolution inputs and weights included; real
  tensors, so only for what fits in memory.

An eval forward runs ``model.eval()`` under ``torch.no_grad()``; a training step is
``zero_grad(set_to_none=True)``, the forward, the outputs' sum as the loss, ``backward()`` and the
optimizer's step, measured after a first step has made the optimizer's state.
"""
from __future__ import annotations

import contextlib
import weakref
from dataclasses import dataclass, field

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from ..graph import Graph
from ..memory import PRECISIONS
from .build import SpecModule, build_module

TORCH_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16, "fp64": torch.float64}


class LiveTensors(TorchDispatchMode):
    """Bytes of the storages alive: those adopted, and every one an operator creates until PyTorch frees it."""

    def __init__(self):
        super().__init__()
        self.sizes: dict[int, int] = {}
        self.references: dict[int, weakref.ref] = {}
        self.current = self.peak = self.created = 0
        self.where = self.peak_at = ""

    def adopt(self, tensors) -> None:
        for tensor in tensors:
            self.track(tensor)
        self.created = 0

    def track(self, tensor: torch.Tensor) -> None:
        storage = tensor.untyped_storage()
        key = storage._cdata
        if key in self.sizes:
            return  # a view, an in-place result or a tensor seen before
        size = storage.nbytes()
        self.sizes[key] = size
        self.references[key] = weakref.ref(storage, lambda _, key=key: self.free(key))
        self.current += size
        self.created += size
        if self.current > self.peak:
            self.peak, self.peak_at = self.current, self.where

    def free(self, key: int) -> None:
        self.current -= self.sizes.pop(key)
        del self.references[key]

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        result = func(*args, **(kwargs or {}))
        for value in tree_flatten(result)[0]:
            if isinstance(value, torch.Tensor):
                self.track(value)
        return result


@dataclass
class Measured:
    """Bytes PyTorch spent, as the estimate's ``Footprint`` names them."""
    saved: int
    saved_by_layer: dict[str, int]
    eval_created: int
    eval_peak: int
    eval_peak_at: str
    step_peak: int
    step_peak_at: str
    how: str  # 'fake tensors' or 'CPU tensors'
    allocator: dict[str, int] = field(default_factory=dict)  # 'eval_peak', 'step_peak' from torch.profiler


class Run:
    """The built model, its input and optimizer in one precision, on CPU or fake tensors."""

    def __init__(self, graph: Graph, precision: str, batch: int, optimizer: str, fake: bool):
        self.graph, self.mode, self.batch = graph, PRECISIONS[precision], batch
        self.fake = fake_tensor_mode() if fake else None
        dtype = torch.float32 if self.mode.autocast else TORCH_DTYPES[self.mode.low]
        with self.tensors(), default_dtype(dtype):  # (fake parameters cannot be cast in place: made in it)
            self.model = SpecModule(graph) if fake else build_module(graph, dtype=dtype)
            self.input = torch.randn(batch, *graph.input_shape, dtype=dtype)
            self.optimizer = make_optimizer(optimizer, self.model.parameters())
        self.weights = [*self.model.parameters(), *self.model.buffers()]

    def tensors(self):
        return self.fake or contextlib.nullcontext()

    def autocast(self):
        return torch.autocast("cpu", dtype=TORCH_DTYPES[self.mode.low], enabled=self.mode.autocast)

    def layers(self, live: LiveTensors | None = None, saved: dict | None = None):
        """Forward pre-hooks that name the layer running (for the peak's place and the saver of a tensor)."""
        def hook(name):
            def enter(module, inputs):
                if live is not None:
                    live.where = f"forward {name}"
                if saved is not None:
                    saved["layer"] = name
            return enter
        return [self.model.get_submodule(node.name).register_forward_pre_hook(hook(node.name))
                for node in self.graph.nodes[1:]]

    def saved(self) -> dict[str, int]:
        """Bytes autograd keeps per layer (its first saver), each storage once, weights left out."""
        weights = {t.untyped_storage()._cdata for t in self.weights}
        seen: dict[int, tuple[str, int]] = {}
        current = {"layer": "input"}

        def pack(tensor):
            storage = tensor.untyped_storage()
            if storage._cdata not in weights and storage._cdata not in seen:
                seen[storage._cdata] = (current["layer"], storage.nbytes())
            return tensor

        hooks = self.layers(saved=current)
        try:
            with self.tensors(), torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t), self.autocast():
                outputs = self.model.train()(self.input)
            del outputs
        finally:
            for hook in hooks:
                hook.remove()
        by_layer: dict[str, int] = {}
        for layer, size in seen.values():
            by_layer[layer] = by_layer.get(layer, 0) + size
        return by_layer

    def eval_forward(self) -> None:
        self.model.eval()
        with torch.no_grad(), self.autocast():
            self.model(self.input)

    def step(self) -> None:
        self.model.train()
        self.optimizer.zero_grad(set_to_none=True)
        with self.autocast():
            outputs = self.model(self.input)
        loss = sum(o.sum() for o in (outputs if isinstance(outputs, tuple) else (outputs,)))
        del outputs
        loss.backward()
        del loss
        self.optimizer.step()

    def held(self) -> list[torch.Tensor]:
        state = [v for s in self.optimizer.state.values() for v in s.values() if isinstance(v, torch.Tensor)]
        return [*self.weights, self.input, *state]

    def live(self, run, name: str) -> LiveTensors:
        live = LiveTensors()
        hooks = self.layers(live)
        try:
            with self.tensors(), live:
                live.adopt(self.held())
                live.where = name
                run()
        finally:
            for hook in hooks:
                hook.remove()
        return live


@contextlib.contextmanager
def default_dtype(dtype: torch.dtype):
    before = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(before)


def make_optimizer(name: str, parameters):
    if name == "sgd":
        return torch.optim.SGD(parameters, lr=0.01)
    if name == "sgd-momentum":
        return torch.optim.SGD(parameters, lr=0.01, momentum=0.9)
    return (torch.optim.Adam if name == "adam" else torch.optim.AdamW)(parameters, lr=1e-3)


def measure(graph: Graph, precision: str = "fp32", batch: int = 2, optimizer: str = "adam",
            fake: bool = False) -> Measured:
    """Saved tensors, an eval forward and a training step of the built model, by tensor lifetimes."""
    run = Run(graph, precision, batch, optimizer, fake)
    saved = run.saved()
    weights = sum(t.untyped_storage().nbytes() for t in run.weights)
    evaluation = run.live(run.eval_forward, "eval forward")
    with run.tensors():
        run.step()  # the optimizer's state
    training = run.live(run.step, "training step")
    return Measured(sum(saved.values()), saved, evaluation.created, evaluation.peak - weights,
                    evaluation.peak_at, training.peak, training.peak_at or "backward or optimizer step",
                    "fake tensors" if fake else "CPU tensors")


def allocator_peaks(graph: Graph, precision: str = "fp32", batch: int = 2, optimizer: str = "adam") -> dict[str, int]:
    """The CPU allocator's peaks (torch.profiler, profile_memory) in an eval forward, above the weights, and in
    a training step (a first step included in the profile, which starts with only weights and the input)."""
    run = Run(graph, precision, batch, optimizer, fake=False)
    weights = sum(t.untyped_storage().nbytes() for t in run.weights)
    before = weights + run.input.untyped_storage().nbytes()
    run.eval_forward()  # oneDNN's first call primes caches of its own
    evaluation = profiled_peak(run.eval_forward)
    training = profiled_peak(lambda: (run.step(), run.step()))
    return {"eval_peak": before - weights + evaluation, "step_peak": before + training}


def profiled_peak(run) -> int:
    """Most bytes the CPU allocator held at once above what it held when ``run`` started."""
    from torch._C._profiler import _EventType
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as profiler:
        run()
    events = sorted((event for event in _events(profiler.profiler.kineto_results.experimental_event_tree())
                     if event.tag == _EventType.Allocation and event.extra_fields.device.type == "cpu"),
                    key=lambda event: event.start_time_ns)
    if not events:
        return 0
    first = events[0].extra_fields
    start = first.total_allocated - first.alloc_size  # the profiler's running total outlives one profile
    return max(0, max(event.extra_fields.total_allocated for event in events) - start)


def _events(nodes):
    for node in nodes:
        yield node
        yield from _events(node.children)


def fake_tensor_mode():
    from torch._subclasses.fake_tensor import FakeTensorMode
    return FakeTensorMode()


# --- the estimate beside the measurement ------------------------------------------------------------------

TOLERANCES = {"saved": 0.03, "eval_created": 0.10, "eval_peak": 0.10, "step_peak": 0.10}
QUANTITIES = {"saved": "kept for backward", "eval_created": "tensors an eval forward creates",
              "eval_peak": "eval forward's eager peak", "step_peak": "training step's peak"}


@dataclass
class MemoryFigure:
    quantity: str  # a key of QUANTITIES
    estimate: int
    measured: int
    tolerance: float | None  # None: shown, not held to one

    @property
    def error(self) -> float:
        return (self.estimate - self.measured) / self.measured if self.measured else float(self.estimate != 0)

    @property
    def ok(self) -> bool:
        return self.tolerance is None or abs(self.error) <= self.tolerance


@dataclass
class MemoryCheck:
    name: str
    precision: str
    batch: int
    optimizer: str
    how: str
    figures: list[MemoryFigure]
    layers: list[tuple[str, int, int]]  # kept for backward per layer: name, estimate, measured

    @property
    def ok(self) -> bool:
        return all(figure.ok for figure in self.figures)


def verify_memory(graph: Graph, precision: str = "fp32", batch: int = 2, optimizer: str = "adam",
                  fake: bool = False, allocator: bool = False) -> MemoryCheck:
    """The analyzer's footprint (the CPU's rules) beside what the built model spends at ``batch``."""
    from ..analysis import analyze
    from ..memory import Walk, kept_for_backward

    estimate = analyze(graph, batch=batch, optimizer=optimizer, precision=precision, memory_device="cpu").footprint
    measured = measure(graph, precision, batch, optimizer, fake)
    figures = [MemoryFigure(key, getattr(estimate, key), getattr(measured, key), TOLERANCES[key]) for key in QUANTITIES]
    how = measured.how
    if allocator and not fake:
        peaks = allocator_peaks(graph, precision, batch, optimizer)
        figures += [MemoryFigure(key, getattr(estimate, key), peaks[key], None) for key in ("eval_peak", "step_peak")]
        how += "; allocator: torch.profiler"
    walk = Walk(graph.nodes, PRECISIONS[precision], "cpu", batch, True)
    by_layer: dict[str, int] = {}
    for tensor in kept_for_backward(walk).values():
        by_layer[tensor.owner] = by_layer.get(tensor.owner, 0) + tensor.nbytes
    layers = [(node.name, by_layer.get(node.name, 0), measured.saved_by_layer.get(node.name, 0))
              for node in graph.nodes if by_layer.get(node.name) or measured.saved_by_layer.get(node.name)]
    return MemoryCheck(graph.name, precision, batch, optimizer, how, figures, layers)


def memory_text(check: MemoryCheck, every_layer: bool = False) -> str:
    """The figures, estimate beside measured, then the layers whose kept-for-backward bytes differ (all of
    them with ``every_layer``)."""
    from ..render import human_bytes

    allocator = [f for f in check.figures if f.tolerance is None]
    lines = [f"{check.name}: memory at batch {check.batch}, {check.precision}, {check.optimizer}; measured on "
             f"{check.how}, estimated with the CPU's rules",
             f"  {'':34} {'estimate':>11} {'measured':>11} {'error':>8} {'tolerance':>9}"]
    for figure in check.figures:
        name = QUANTITIES[figure.quantity] + (" (allocator)" if figure.tolerance is None else "")
        tolerance = f"{figure.tolerance:.0%}" if figure.tolerance is not None else "-"
        verdict = "" if figure.tolerance is None else "ok" if figure.ok else "OFF"
        lines.append(f"  {name:34} {human_bytes(figure.estimate):>11} {human_bytes(figure.measured):>11} "
                     f"{figure.error:+8.2%} {tolerance:>9}  {verdict}")
    if allocator:
        lines.append("  (allocator: PyTorch's CPU allocator, oneDNN's reorders of convolution inputs and weights "
                     "included, which the estimate leaves out)")
    shown = [layer for layer in check.layers if every_layer or layer[1] != layer[2]]
    agree = sum(1 for _, estimate, measured in check.layers if estimate == measured)
    lines.append(f"  kept for backward per layer: {agree} of {len(check.layers)} layers exact"
                 + (":" if shown else ""))
    lines += [f"    {name:40} {human_bytes(estimate):>11} {human_bytes(measured):>11}" for name, estimate, measured
              in shown]
    return "\n".join(lines)
