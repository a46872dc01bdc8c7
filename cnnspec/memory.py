"""Memory as PyTorch spends it: dtypes, what autograd keeps, and the peaks of inference and training.

Generic over layer types: each layer declares what autograd saves for its backward
(``saved_for_backward``), how autocast treats it and whether it works in place; this module walks the
graph in the order the built model runs (cnnspec's builder drops each tensor after its last reader).

- Tensors share storage as PyTorch's do: a view or an in-place layer writes into its input's; a
  tensor saved by several layers is counted once (first saver in the forward order owns it).
- Precision (``PRECISIONS``): pure modes hold everything in one dtype; mixed modes (autocast) keep
  fp32 weights, gradients and optimizer state, run conv and linear layers in the lower precision on
  cast copies (the weights' copies are cached until the forward ends; inputs are cast per use), and
  every other layer in its inputs' dtype, or float32 where autocast's lists say so (per device).
- Not modelled: the scratch space of vendor libraries (oneDNN's reorders and im2col buffers on the
  CPU, cuDNN's workspace on a GPU), the allocator's caching and rounding, and Python's own objects.
"""
from __future__ import annotations

from dataclasses import dataclass

from .graph import Node
from .layers.base import Input, Saved
from .shape import numel

DTYPE_BYTES = {"fp32": 4, "fp16": 2, "bf16": 2, "int8": 1, "fp64": 8, "int64": 8, "bool": 1}


@dataclass(frozen=True)
class Precision:
    """How training (or inference) stores values: weights, gradients and optimizer state in ``weights``;
    activations in ``low`` where autocast lowers them (everything, in a pure mode)."""
    name: str
    weights: str
    low: str
    autocast: bool
    description: str


PRECISIONS = {p.name: p for p in (
    Precision("fp32", "fp32", "fp32", False, "everything in fp32"),
    Precision("bf16-mixed", "fp32", "bf16", True, "autocast to bf16: weights, gradients and optimizer state fp32"),
    Precision("fp16-mixed", "fp32", "fp16", True, "autocast to fp16: weights, gradients and optimizer state fp32"),
    Precision("bf16", "bf16", "bf16", False, "everything in bf16 (model.to(torch.bfloat16))"),
    Precision("fp16", "fp16", "fp16", False, "everything in fp16 (model.half())"),
    Precision("int8", "int8", "int8", False, "every value priced at one byte"),
)}
DEVICES = ("cuda", "cpu")
"""Whose rules apply where PyTorch's differ by device: autocast's lists, dropout's mask, the optimizer."""


@dataclass
class Tensor:
    """A storage: who made it, its bytes, and the last step that reads it."""
    name: str
    nbytes: int
    owner: str  # the layer it is attributed to


class Walk:
    """Dtypes, storages and autograd facts of every node for one precision, device and batch.

    ``inputs`` (name -> dtype) stand for the graph's input: the network's image batch, which needs no
    gradient, or, in the layer contract test, activations that do."""

    def __init__(self, nodes: list[Node], precision: Precision, device: str, batch: int, training: bool,
                 inputs: dict[str, str] | None = None):
        self.nodes, self.precision, self.device, self.batch = {n.name: n for n in nodes}, precision, device, batch
        self.order = nodes
        self.dtype: dict[str, str] = dict(inputs or {})
        self.storage: dict[str, str] = {name: name for name in self.dtype}
        self.requires_grad: dict[str, bool] = {name: True for name in self.dtype}
        for node in nodes:
            self.dtype[node.name] = self.output_dtype(node)
            self.storage[node.name] = self.storage_of(node, training)
            self.requires_grad[node.name] = not isinstance(node.layer, Input) and (
                any(self.requires_grad[i] for i in node.inputs) or (node.trainable and node.layer.params(node.in_shapes) > 0))

    @classmethod
    def of_layer(cls, layer, inputs: list, dtypes: list[str], precision: Precision, device: str, batch: int) -> Walk:
        """One layer reading activations ``in0``, ``in1`` ... of the given shapes and dtypes."""
        names = [f"in{index}" for index in range(len(inputs))]
        sources = [Node(name, Input(shape=shape), [], None, out_shape=tuple(shape)) for name, shape in zip(names, inputs)]
        node = Node("layer", layer, names, None, in_shapes=[tuple(x) for x in inputs],
                    out_shape=tuple(layer.out_shape(inputs)))
        walk = cls([node], precision, device, batch, True, dict(zip(names, dtypes)))
        walk.nodes.update({source.name: source for source in sources})
        return walk

    def output_dtype(self, node: Node) -> str:
        p = self.precision
        if isinstance(node.layer, Input):
            return "fp32" if p.autocast else p.low
        if not p.autocast:
            return p.low
        dtypes = [self.dtype[i] for i in node.inputs]
        if node.layer.memory == "inplace":
            return dtypes[0]  # an in-place result keeps its tensor's dtype
        return node.layer.autocast_dtype(node.in_shapes, dtypes, p.low, self.device)

    def storage_of(self, node: Node, training: bool) -> str:
        if node.layer.memory == "new" or (training and creates_in_training(node)) or isinstance(node.layer, Input):
            return node.name
        return self.storage[node.inputs[0]]

    def nbytes(self, values: int, dtype: str, per_image: bool = True) -> int:
        return values * (self.batch if per_image else 1) * DTYPE_BYTES[dtype]

    def tensor_bytes(self, name: str) -> int:
        return self.nbytes(numel(self.nodes[name].out_shape), self.dtype[name])

    def cast_target(self, node: Node) -> str | None:
        """The dtype autocast casts this layer's inputs to, if it casts them."""
        if not self.precision.autocast:
            return None
        policy = node.layer.autocast_policy(node.in_shapes, self.device)
        return self.precision.low if policy == "lower" else "fp32" if policy == "fp32" else None

    def casts(self, node: Node) -> list[Tensor]:
        """The cast copies autocast makes of this layer's inputs (new storage per use)."""
        target = self.cast_target(node)
        return [Tensor(f"{node.name}:cast{index}", self.nbytes(numel(node.in_shapes[index]), target), node.name)
                for index, name in enumerate(node.inputs) if target and self.dtype[name] != target]

    def weight_copy(self, node: Node) -> Tensor | None:
        """Autocast's cached lower-precision copy of a conv or linear layer's parameters (weight and bias)."""
        if not self.precision.autocast or node.layer.autocast != "lower":
            return None
        params = node.layer.autocast_params(node.in_shapes)
        return Tensor(f"{node.name}:weight copy", self.nbytes(params, self.precision.low, False), node.name) \
            if params else None

    def saved(self, node: Node) -> list[Tensor]:
        """The storages autograd keeps for this node's backward (none without an autograd node)."""
        if not self.requires_grad[node.name]:
            return []
        casts = {t.name: t for t in self.casts(node)}
        kept = []
        for index, item in enumerate(node.layer.saved_for_backward(node.in_shapes, node.out_shape, self.device)):
            tensor = self.resolve(node, item, index, casts)
            if tensor is not None:
                kept.append(tensor)
        return kept

    def resolve(self, node: Node, item: Saved, index: int, casts: dict[str, Tensor]) -> Tensor | None:
        if item.tensor == "input":
            cast = casts.get(f"{node.name}:cast{item.index}")
            name = node.inputs[item.index]
            return cast or Tensor(self.storage[name], self.tensor_bytes(self.storage[name]), node.name)
        if item.tensor == "output":
            return Tensor(self.storage[node.name], self.tensor_bytes(self.storage[node.name]), node.name)
        if item.tensor == "weight":
            copy = self.weight_copy(node)
            if copy is None:
                return None  # the parameter itself: counted with the weights
            weights = node.layer.params(node.in_shapes) - node.layer.bias_params(node.in_shapes)
            return Tensor(f"{node.name}:weight copy", self.nbytes(weights, self.precision.low, False), node.name)
        dtype = self.own_dtype(node, item.dtype)
        return Tensor(f"{node.name}:{item.what}", self.nbytes(item.values, dtype, item.per_image), node.name)

    def own_dtype(self, node: Node, dtype: str) -> str:
        p = self.precision
        return {"output": self.dtype[node.name], "input": self.dtype[node.inputs[0]], "low": p.low,
                "float32": p.weights, "param": p.weights}.get(dtype, dtype)


def creates_in_training(node: Node) -> bool:
    """Layers that are views at inference but compute a new tensor in training (dropout's product)."""
    return node.layer.memory == "view" and any(s.tensor == "own" and s.per_image for s in
                                                node.layer.saved_for_backward(node.in_shapes, node.out_shape, "cpu"))
