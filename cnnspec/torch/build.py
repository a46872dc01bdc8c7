"""Graph -> torch.nn.Module, weights and exports.

Submodules carry the spec's layer names, nested at the dots (``layer1.0.conv1``), so the
``state_dict`` keys read like torchvision's. ``forward`` walks the nodes in topological order and
drops each tensor after its last reader, as the analyzer's peak-memory figure assumes; it is plain
Python over a fixed list, so ``torch.fx.symbolic_trace`` and ``torch.compile`` see a static graph.

Initialization (``init:`` in the spec): PyTorch's defaults, or one scheme for every conv, linear
and locally connected weight with zero biases: ``kaiming`` is He et al. 2015's normal with fan-out
for ReLU, as torchvision's ResNet initializes; ``xavier`` is Glorot & Bengio 2010's uniform.
Weights are drawn on the CPU from a seeded generator, so a spec and a seed give the same weights
on every device and the caller's random state is left untouched.
"""
from __future__ import annotations

import contextlib
import io
import math
import os
import sys
import warnings
from pathlib import Path

import torch
from torch import nn

from .modules import LocallyConnected
from ..errors import SpecError
from ..files import write_atomic
from ..graph import Graph, load
from ..shape import ArgumentError, numel
from ..spec import INIT_SCHEMES


class Container(nn.Module):
    """A namespace for the layers of one block instance (``layer1.0``, ``_block`` its block's name) or of a
    repeated entry (``layer1``, no block); `cnnspec import` reads the block back. (Underscored: a layer may
    be named ``block``.)"""

    def __init__(self, block: str | None = None):
        super().__init__()
        self._block = block

    def __getitem__(self, name: str) -> nn.Module:
        """``model.layer1["0"]``: block instances named by a number are not attributes."""
        return self._modules[name]


class SpecModule(nn.Module):
    """The network a spec describes. Returns one tensor, or a tuple for several ``outputs:``."""

    def __init__(self, graph: Graph):
        super().__init__()
        self.spec_name = graph.name
        self.input_shape = tuple(graph.input_shape)
        self.output_names = list(graph.outputs)
        steps, last_use = [], {}
        for index, node in enumerate(graph.nodes[1:]):
            for name in node.inputs:
                last_use[name] = index
            try:
                module = node.layer.to_torch(node.in_shapes)
            except ArgumentError as error:  # a layer that cannot be built (an unsupported placeholder)
                raise SpecError(str(error), node.loc, node.name) from None
            if not node.trainable:
                module.requires_grad_(False)
            self._place(node, module, graph.spec.blocks)
            steps.append((node.name, module, tuple(node.inputs)))
        keep = set(self.output_names)
        # after step i, drop the tensors whose last reader was step i (once each: concat [a, a] reads a twice)
        self._steps = [(name, module, inputs,
                        tuple(dict.fromkeys(i for i in inputs if last_use[i] == index and i not in keep)))
                       for index, (name, module, inputs) in enumerate(steps)]

    def __getitem__(self, name: str) -> nn.Module:
        return self._modules[name]

    def _place(self, node, module: nn.Module, blocks: dict[str, str]) -> None:
        parent: nn.Module = self
        *path, leaf = node.name.split(".")
        for depth, part in enumerate(path, 1):
            child = parent._modules.get(part)
            if child is None:
                child = _add(parent, part, Container(blocks.get(".".join(path[:depth]))), node)
            parent = child
        _add(parent, leaf, module, node)

    def forward(self, x: torch.Tensor):
        values = {"input": x}
        for name, module, inputs, done in self._steps:
            values[name] = module(*[values[i] for i in inputs])
            for i in done:
                del values[i]
        if len(self.output_names) == 1:
            return values[self.output_names[0]]
        return tuple(values[name] for name in self.output_names)

    def example_input(self, batch: int = 1) -> torch.Tensor:
        """A random input of the spec's shape, on the model's device and in its dtype."""
        reference = next(self.parameters(), None)
        device = reference.device if reference is not None else None
        dtype = reference.dtype if reference is not None else None
        return torch.randn(batch, *self.input_shape, device=device, dtype=dtype)


def _add(parent: nn.Module, name: str, module: nn.Module, node) -> nn.Module:
    """``parent.name = module``; a name that nn.Module already uses (train, eval, to ...) is a spec error."""
    if hasattr(parent, name) and name not in parent._modules:
        owner = "nn.Module" if hasattr(nn.Module, name) else f"cnnspec's {type(parent).__name__}"
        raise SpecError(f"'{name}' cannot name a PyTorch submodule: it is {owner}.{name}; rename the layer",
                        node.loc, node.name)
    parent.add_module(name, module)
    return module


# --- initialization ---------------------------------------------------------------------------

def _kaiming(weight):
    nn.init.kaiming_normal_(weight, mode="fan_out", nonlinearity="relu")


def _kaiming_uniform(weight):
    nn.init.kaiming_uniform_(weight, mode="fan_in", nonlinearity="relu")


SCHEMES = {
    "default": None,
    "kaiming": _kaiming,
    "kaiming_uniform": _kaiming_uniform,
    "xavier": nn.init.xavier_uniform_,
    "xavier_normal": nn.init.xavier_normal_,
    "orthogonal": nn.init.orthogonal_,
}
assert set(SCHEMES) == set(INIT_SCHEMES), "spec.INIT_SCHEMES names the schemes a spec may ask for"

WEIGHTED = (nn.modules.conv._ConvNd, nn.Linear, LocallyConnected)


def filter_banks(module: nn.Module) -> list[torch.Tensor]:
    """Views of a module's weight shaped as the conv or linear weight a scheme expects.

    A locally connected layer is one convolution per output position, so each position's bank is
    initialized as that convolution's weight [C_out, C_in, *kernel].
    """
    if isinstance(module, LocallyConnected):
        positions, out_channels, fan_in = module.weight.shape
        kernel = module.kernel
        return list(module.weight.view(positions, out_channels, fan_in // math.prod(kernel), *kernel))
    return [module.weight]


@torch.no_grad()
def initialize(model: nn.Module, scheme: str) -> None:
    """Apply ``scheme`` to every conv, linear and locally connected weight; zero their biases."""
    draw = SCHEMES[scheme]
    if draw is None:
        return
    for module in model.modules():
        if isinstance(module, WEIGHTED):
            for bank in filter_banks(module):
                draw(bank)
            if module.bias is not None:
                nn.init.zeros_(module.bias)


# --- building ---------------------------------------------------------------------------------

def build_module(graph: Graph, *, seed: int = 0, init: str | None = None, device=None, dtype=None) -> SpecModule:
    """Build ``graph``: weights drawn on the CPU with ``seed`` by ``init`` (default: the spec's ``init:``,
    else PyTorch's), then moved to ``device`` and ``dtype``. On the meta device nothing is drawn or allocated."""
    scheme = init or graph.spec.init or "default"
    if scheme not in SCHEMES:
        raise SpecError(f"unknown init scheme '{scheme}'; choose from {', '.join(SCHEMES)}")
    for node in graph.nodes:
        if numel(node.out_shape) >= 2**63:
            raise SpecError(f"its output has {numel(node.out_shape):,} values per image, more than a PyTorch tensor "
                            "can hold (2**63 - 1)", node.loc, node.name)
    with allocating(graph, dtype):
        if device is not None and torch.device(device).type == "meta":
            with torch.device("meta"):
                model = SpecModule(graph)
        else:
            with torch.random.fork_rng(devices=[]), torch.device("cpu"):
                torch.random.default_generator.manual_seed(seed)
                model = SpecModule(graph)
                initialize(model, scheme)
        return model.to(device=device, dtype=dtype)


ALLOCATION_FAILURES = ("allocate", "out of memory", "overflow")


@contextlib.contextmanager
def allocating(graph: Graph, dtype=None):
    """Turn a failure to allocate the model's tensors into a located SpecError that says how large
    the analyzer counts them; other errors pass through."""
    try:
        yield
    except (RuntimeError, MemoryError) as error:  # torch.OutOfMemoryError is a RuntimeError
        if not any(sign in str(error).lower() for sign in ALLOCATION_FAILURES):
            raise
        from ..analysis import analyze
        from ..render import human_bytes
        totals = analyze(graph).totals
        dtype = dtype or torch.get_default_dtype()
        size = (totals.params + totals.buffers) * torch.empty((), dtype=dtype, device="meta").element_size()
        reason = str(error).strip().splitlines()[-1][:200]
        raise SpecError(f"cannot build it: its {totals.params:,} parameters and {totals.buffers:,} buffers take "
                        f"{human_bytes(size)} in {str(dtype).removeprefix('torch.')}, and allocating them "
                        f"failed ({reason})", graph.spec.input_loc) from None


def build(spec: str | Graph, *, seed: int = 0, init: str | None = None, device=None, dtype=None) -> SpecModule:
    """``cnnspec.build('vgg16')``: a spec path, built-in name or loaded Graph -> nn.Module."""
    graph = spec if isinstance(spec, Graph) else load(spec)
    return build_module(graph, seed=seed, init=init, device=device, dtype=dtype)


def describe(model: SpecModule) -> str:
    """A short summary: name, input and output shapes, parameters, device and dtype."""
    parameters = list(model.parameters())
    count = sum(p.numel() for p in parameters)
    trainable = sum(p.numel() for p in parameters if p.requires_grad)
    where = f"{parameters[0].device}, {parameters[0].dtype}".replace("torch.", "") if parameters else "no weights"
    outputs = ", ".join(model.output_names)
    return (f"{model.spec_name}: input [N, {', '.join(map(str, model.input_shape))}] -> {outputs}; "
            f"{count:,} params ({trainable:,} trainable); {len(model._steps)} layers; {where}")


# --- saving -----------------------------------------------------------------------------------

def save_weights(model: nn.Module, path: str | Path, force: bool = False) -> None:
    """The state_dict as safetensors (path ending .safetensors) or torch.save, written atomically."""
    state = {key: value.detach().contiguous() for key, value in model.state_dict().items()}
    if str(path).endswith(".safetensors"):
        from safetensors.torch import save
        data = save(state, metadata={"spec": getattr(model, "spec_name", "")})
    else:
        buffer = io.BytesIO()
        torch.save(state, buffer)
        data = buffer.getvalue()
    write_atomic(path, data, force)


def load_weights(model: nn.Module, path: str | Path) -> None:
    """Load weights saved by ``save_weights`` (either format) into ``model``, strictly."""
    if str(path).endswith(".safetensors"):
        from safetensors.torch import load_file
        state = load_file(str(path))
    else:
        state = torch.load(path, map_location="cpu", weights_only=True)
    model.load_state_dict(state)


def export_onnx(model: SpecModule, path: str | Path, opset: int = 17, force: bool = False) -> str:
    """ONNX through the TorchScript exporter (the dynamo one needs onnxscript), checked by onnx.checker.

    The batch axis is dynamic where the exporter can keep the other shapes known; otherwise (ONNX
    infers no spatial size after a transposed convolution, which adaptive pooling needs) the batch
    is fixed at 1. Returns which it did.
    """
    import onnx
    model = model.eval()
    error = None
    for batch in ("dynamic", "1"):
        buffer = io.BytesIO()
        try:
            _trace_to_onnx(model, buffer, opset, dynamic_batch=batch == "dynamic")
            break
        except torch.onnx.errors.OnnxExporterError as failure:
            error = str(failure).split(" [Caused by")[0].splitlines()[0]
    else:
        raise SpecError(f"ONNX export of {model.spec_name} failed: {error}")
    onnx.checker.check_model(onnx.load_from_string(buffer.getvalue()))
    write_atomic(path, buffer.getvalue(), force)
    return f"batch {batch}"


def _trace_to_onnx(model: SpecModule, buffer: io.BytesIO, opset: int, dynamic_batch: bool) -> None:
    names = [name.replace(".", "_") for name in model.output_names]
    with warnings.catch_warnings(), _silent_stdout():  # on failure, it prints its graph from C++
        warnings.simplefilter("ignore")  # the TorchScript exporter is deprecated but needs no extra package
        torch.onnx.export(model, (model.example_input(),), buffer, dynamo=False, opset_version=opset,
                          input_names=["input"], output_names=names,
                          dynamic_axes={"input": {0: "batch"}, **{n: {0: "batch"} for n in names}}
                          if dynamic_batch else None)


@contextlib.contextmanager
def _silent_stdout():
    """Send file descriptor 1 to /dev/null, as C++ code writes there past sys.stdout."""
    sys.stdout.flush()
    saved = os.dup(1)
    with open(os.devnull, "w") as devnull:
        os.dup2(devnull.fileno(), 1)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)
