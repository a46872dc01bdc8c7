"""cnnspec: CNN architectures as YAML specs, analyzed exactly without building the model.

>>> import cnnspec
>>> cnnspec.analyze("vgg16").totals.params
138357544
>>> net = cnnspec.loads("input: [3, 32, 32]\\nlayers:\\n  - {type: conv2d, out_channels: 8, kernel_size: 3}\\n")
>>> cnnspec.analyze(net).rows[-1].shape
(8, 30, 30)

The analysis is plain data (``Analysis``: ``rows``, ``totals``, ``peak_memory``, ``training``); in
Jupyter it shows as a table, and ``to_pandas()`` makes a DataFrame. ``build`` needs PyTorch.
"""
from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Union

from .analysis import Analysis, Row, Totals, TrainingMemory
from .analysis import analyze as _analyze_graph
from .errors import Loc, SpecError
from .graph import Graph, build_graph, load
from .shape import Shape
from .spec import Spec, load_spec, parse_spec

if TYPE_CHECKING:
    import torch

    from .torch.imported import Imported

__version__ = "0.1.0"

SpecSource = Union[str, "os.PathLike[str]", Graph, Spec]
"""What the API takes for a spec: a file path, a built-in name ('vgg16'), or a loaded Graph or Spec."""


def loads(text: str, *, input_shape: Shape | None = None, overrides: dict[str, Any] | None = None,
          path: str = "<string>") -> Graph:
    """A spec written as YAML text -> a shape-checked Graph. Errors are SpecErrors naming ``path``
    and the line, as for a file; ``overrides`` replace top-level ``args:``."""
    return build_graph(parse_spec(text, path, input_shape, overrides))


def graph_of(spec: SpecSource, input_shape: Shape | None = None, overrides: dict[str, Any] | None = None) -> Graph:
    """A Graph from any SpecSource; ``input_shape`` and ``overrides`` apply to a path or name."""
    if isinstance(spec, (Graph, Spec)):
        if input_shape is not None or overrides:
            raise ValueError("input_shape and overrides apply when loading: cnnspec.load(path, input_shape, "
                             "overrides) or cnnspec.loads(text, input_shape=..., overrides=...)")
        return spec if isinstance(spec, Graph) else build_graph(spec)
    if isinstance(spec, str) and "\n" in spec:
        raise ValueError("this looks like YAML text, not a path or name: use cnnspec.loads(text)")
    return load(os.fspath(spec), input_shape, overrides)


def analyze(spec: SpecSource, *, input_shape: Shape | None = None, overrides: dict[str, Any] | None = None,
            dtype: str = "fp32", batch: int = 1, optimizer: str = "sgd-momentum", roofline: str | None = None,
            precision: str | None = None, memory_device: str = "cuda") -> Analysis:
    """Every layer's output shape, params, MACs, FLOPs, memory, traffic and receptive field, with totals.

    ``spec``: a path, a built-in name or a Graph. ``dtype`` (fp32, fp16, bf16, int8, fp64) sets the
    bytes per value of memory figures; ``precision`` (fp32, bf16-mixed, fp16-mixed, bf16, fp16: see
    cnnspec.memory.PRECISIONS) instead prices them as training stores them, autocast's mixed modes with
    fp32 weights, gradients and optimizer state; ``batch`` and ``optimizer`` (sgd, sgd-momentum, adam,
    adamw) set those of the training memory, ``batch`` that of the traffic too; ``memory_device`` ('cuda'
    or 'cpu') whose autocast lists and optimizer implementation apply. ``roofline`` (h100, h200, a100, l4,
    t4, cpu; 'h100:tf32' for another dtype's peak) adds a roofline estimate of each layer's time. Bad input
    raises SpecError (file, line, layer).
    """
    return _analyze_graph(graph_of(spec, input_shape, overrides), dtype, batch, optimizer, roofline, precision,
                          memory_device)


def build(spec: SpecSource, *, seed: int = 0, init: str | None = None, device: str | torch.device | None = None,
          dtype: torch.dtype | None = None) -> torch.nn.Module:
    """The spec as a torch.nn.Module whose submodules carry the spec's names (``model.layer1["0"].conv1``).

    ``seed`` draws the initial weights on the CPU (the same on every device); ``init`` is default,
    kaiming, kaiming_uniform, xavier, xavier_normal or orthogonal (default: the spec's ``init:``);
    ``device="meta"`` allocates nothing. Imports torch only when called: pip install cnnspec[torch].
    """
    try:
        from .torch.build import build_module
    except ModuleNotFoundError as error:
        if error.name and error.name.split(".")[0] == "torch":
            raise ModuleNotFoundError("cnnspec.build needs PyTorch: pip install cnnspec[torch]",
                                      name=error.name) from error
        raise
    return build_module(graph_of(spec), seed=seed, init=init, device=device, dtype=dtype)


def from_torch(module: torch.nn.Module, input_shape: Shape, *, name: str | None = None,
               allow_unsupported: bool = False) -> Imported:
    """A torch.nn.Module -> its spec: ``.text`` the YAML, ``.graph`` to analyze or build, ``.save(path)``.

    ``input_shape`` has no batch axis: (3, 224, 224). What a spec cannot express raises UnsupportedModel (a
    SpecError) listing each operation, unless ``allow_unsupported`` keeps placeholders. Imports torch only
    when called.
    """
    try:
        from .torch.importer import from_torch as import_module
    except ModuleNotFoundError as error:
        if error.name and error.name.split(".")[0] == "torch":
            raise ModuleNotFoundError("cnnspec.from_torch needs PyTorch: pip install cnnspec[torch]",
                                      name=error.name) from error
        raise
    return import_module(module, input_shape, name=name, allow_unsupported=allow_unsupported)


__all__ = ["Analysis", "Graph", "Loc", "Row", "Spec", "SpecError", "SpecSource", "Totals", "TrainingMemory",
           "analyze", "build", "from_torch", "load", "load_spec", "loads", "parse_spec"]
