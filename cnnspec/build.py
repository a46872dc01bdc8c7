"""Graph -> torch.nn.Module.

Submodules carry the spec's layer names, nested at the dots (``layer1.0.conv1``), so the
``state_dict`` keys read like torchvision's. ``forward`` walks the nodes in topological order and
drops each tensor after its last reader, as the analyzer's peak-memory figure assumes.
"""
from __future__ import annotations

import torch
from torch import nn

from .graph import Graph, load


class Container(nn.Module):
    """A namespace for the layers of one block instance (``layer1``, ``layer1.0``)."""


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
            module = node.layer.to_torch(node.in_shapes)
            if not node.trainable:
                module.requires_grad_(False)
            self._place(node.name, module)
            steps.append((node.name, module, tuple(node.inputs)))
        keep = set(self.output_names)
        # after step i, drop the tensors whose last reader was step i
        self._steps = [(name, module, inputs, tuple(i for i in inputs if last_use[i] == index and i not in keep))
                       for index, (name, module, inputs) in enumerate(steps)]

    def _place(self, name: str, module: nn.Module) -> None:
        parent: nn.Module = self
        *path, leaf = name.split(".")
        for part in path:
            child = parent._modules.get(part)
            if child is None:
                child = Container()
                parent.add_module(part, child)
            parent = child
        parent.add_module(leaf, module)

    def forward(self, x: torch.Tensor):
        values = {"input": x}
        for name, module, inputs, done in self._steps:
            values[name] = module(*[values[i] for i in inputs])
            for i in done:
                del values[i]
        if len(self.output_names) == 1:
            return values[self.output_names[0]]
        return tuple(values[name] for name in self.output_names)


def build_module(graph: Graph) -> SpecModule:
    """Build the graph's module with PyTorch's default initialization."""
    return SpecModule(graph)


def build(spec: str | Graph) -> SpecModule:
    """``cnnspec.build('vgg16')``: a spec path, built-in name or loaded Graph -> nn.Module."""
    return build_module(spec if isinstance(spec, Graph) else load(spec))
