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
    Precision("fp64", "fp64", "fp64", False, "everything in fp64 (model.double())"),
)}
PURE = {p.low: p.name for p in PRECISIONS.values() if not p.autocast}
"""The precision that holds everything in one dtype, by dtype (``analyze(dtype=...)``)."""
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


OPTIMIZER_STATES = {"sgd": 0, "sgd-momentum": 1, "adam": 2, "adamw": 2}
"""Values of optimizer state per trainable parameter (momentum buffer; Adam's two moments)."""


@dataclass
class Footprint:
    """Bytes PyTorch holds for a batch of ``batch`` images, as the built model runs (see the module docstring).

    Inference is an eval forward under ``torch.no_grad``; a training step is ``zero_grad(set_to_none=True)``,
    the forward, the loss (the outputs' sum: its gradient is a broadcast scalar), backward and the optimizer's
    step, once its state exists."""
    precision: str
    device: str
    batch: int
    optimizer: str
    weights: int  # parameters, in the weights' dtype
    buffers: int  # at their own dtypes: running statistics as the weights, num_batches_tracked int64
    gradients: int
    optimizer_state: int
    saved: int  # kept for backward, each storage once
    eval_created: int  # every tensor an eval forward creates (outputs, autocast's copies), the input excluded
    eval_peak: int  # most bytes of activations alive at once in an eval forward, the input included
    eval_peak_at: str
    step_peak: int  # most bytes alive at once in a training step, weights and optimizer state included
    step_peak_at: str


def footprint(nodes: list[Node], outputs: list[str], precision: Precision, device: str, batch: int,
              optimizer: str) -> Footprint:
    weights = Walk(nodes, precision, device, 1, False)
    params = sum(n.layer.params(n.in_shapes) for n in nodes)
    trainable = sum(n.layer.params(n.in_shapes) for n in nodes if n.trainable)
    integers = sum(n.layer.integer_buffers(n.in_shapes) for n in nodes)
    floats = sum(n.layer.buffers(n.in_shapes) for n in nodes) - integers
    state = OPTIMIZER_STATES[optimizer] * weights.nbytes(trainable, precision.weights, False)
    fixed = Fixed(weights.nbytes(params, precision.weights, False),
                  weights.nbytes(floats, precision.weights, False) + weights.nbytes(integers, "int64", False),
                  weights.nbytes(trainable, precision.weights, False), state)
    created, eval_peak, eval_at = inference(Walk(nodes, precision, device, batch, False), outputs)
    train = Walk(nodes, precision, device, batch, True)
    kept = kept_for_backward(train)
    step_peak, step_at = training_step(train, outputs, kept, fixed, optimizer)
    return Footprint(precision.name, device, batch, optimizer, fixed.weights, fixed.buffers, fixed.gradients,
                     fixed.state, sum(t.nbytes for t in kept.values()), created, eval_peak, eval_at, step_peak, step_at)


@dataclass
class Fixed:
    weights: int
    buffers: int
    gradients: int
    state: int


def kept_for_backward(walk: Walk) -> dict[str, Tensor]:
    """Every storage autograd keeps, once, owned by its first saver in the forward order."""
    kept: dict[str, Tensor] = {}
    for node in walk.order:
        for tensor in walk.saved(node):
            kept.setdefault(tensor.name, tensor)
    return kept


def last_readers(walk: Walk, outputs: list[str]) -> dict[str, int]:
    """The step after which each storage is dropped: its last reader's, as the builder's forward drops names;
    the outputs live to the end, and so does a tensor nobody reads (the builder never drops it)."""
    end = len(walk.order)
    last: dict[str, int] = {}
    for index, node in enumerate(walk.order):
        last[walk.storage[node.name]] = max(last.get(walk.storage[node.name], index), index)
        for name in node.inputs:
            last[walk.storage[name]] = max(last.get(walk.storage[name], index), index)
        if not node.consumers:
            last[walk.storage[node.name]] = end
    for name in outputs:
        last[walk.storage[name]] = end
    return last


def transients(walk: Walk, node: Node, kept: dict[str, Tensor] | None = None) -> int:
    """Bytes a layer allocates while it runs and frees when it returns: autocast's copies of its inputs and,
    at inference, its own tensors and the copies of frozen weights, unless autograd keeps them. (Autocast caches
    the copy of a weight that requires grad until the autocast region ends, under no_grad too.)"""
    copies = walk.casts(node)
    if kept is None:
        copies += [walk.weight_copy(node)] if walk.weight_copy(node) and not node.trainable else []
        copies += [Tensor(f"{node.name}:{item.what}", walk.nbytes(item.values, walk.own_dtype(node, item.dtype),
                                                                  item.per_image), node.name)
                   for item in node.layer.inference_tensors(node.in_shapes, node.out_shape, walk.device)]
    return sum(t.nbytes for t in copies if kept is None or t.name not in kept)


def inference(walk: Walk, outputs: list[str]) -> tuple[int, int, str]:
    """Bytes an eval forward creates, its peak of live activations (the input included) and where."""
    last = last_readers(walk, outputs)
    first = walk.order[0]
    alive = walk.tensor_bytes(first.name)
    created, peak, peak_at = 0, alive, first.name
    freed: dict[int, list[str]] = {}
    for name, index in last.items():
        if name != first.name:  # the caller holds the input
            freed.setdefault(index, []).append(name)
    for index, node in enumerate(walk.order[1:], 1):
        new = walk.tensor_bytes(node.name) if walk.storage[node.name] == node.name else 0
        copy = walk.weight_copy(node)
        new += copy.nbytes if copy and node.trainable else 0  # cached until the forward ends
        extra = transients(walk, node)
        created += new + extra
        alive += new
        if alive + extra > peak:
            peak, peak_at = alive + extra, node.name
        alive -= sum(walk.tensor_bytes(name) for name in freed.get(index, ()))
    return created, peak, peak_at


def training_step(walk: Walk, outputs: list[str], kept: dict[str, Tensor], fixed: Fixed,
                  optimizer: str) -> tuple[int, str]:
    """The most bytes alive in a training step, and when: the forward (saved tensors pile up), backward in
    reverse order (saved tensors freed after their first saver's backward, gradients of weights added, those
    of activations passed back), or the optimizer's step."""
    base = fixed.weights + fixed.buffers + fixed.state
    peak, peak_at = forward_peak(walk, outputs, kept, base)
    backward, backward_at = backward_peak(walk, outputs, kept, base)
    if backward > peak:
        peak, peak_at = backward, backward_at
    step = base + fixed.gradients + optimizer_scratch(walk, optimizer)
    return (step, "optimizer step") if step > peak else (peak, peak_at)


def forward_peak(walk: Walk, outputs: list[str], kept: dict[str, Tensor], base: int) -> tuple[int, str]:
    last = last_readers(walk, outputs)
    first = walk.order[0]
    alive = base + walk.tensor_bytes(first.name)
    peak, peak_at = alive, first.name
    freed: dict[int, list[str]] = {}
    for name, index in last.items():
        if name not in kept and name != first.name:  # the caller holds the input
            freed.setdefault(index, []).append(name)
    activations = set(walk.storage.values())
    for index, node in enumerate(walk.order[1:], 1):
        new = walk.tensor_bytes(node.name) if walk.storage[node.name] == node.name else 0
        saved_here = sum(t.nbytes for t in walk.saved(node) if kept[t.name].owner == node.name
                         and t.name not in activations)  # own tensors, cast and weight copies
        alive += new + saved_here
        extra = transients(walk, node, kept if walk.requires_grad[node.name] else None)  # no grad: as at inference
        if alive + extra > peak:
            peak, peak_at = alive + extra, node.name
        alive -= sum(walk.tensor_bytes(name) for name in freed.get(index, ()))
    return peak, f"forward {peak_at}"


def backward_peak(walk: Walk, outputs: list[str], kept: dict[str, Tensor], base: int) -> tuple[int, str]:
    """Backward as autograd's engine runs it on one device: the nodes in reverse order of the forward."""
    freed_after: dict[str, list[Tensor]] = {}
    for tensor in kept.values():
        freed_after.setdefault(tensor.owner, []).append(tensor)
    saved = sum(t.nbytes for t in kept.values())
    first = walk.order[0].name
    if walk.storage[first] not in kept:
        base += walk.tensor_bytes(first)  # the caller holds the input
    gradients = 0
    grad_of: dict[str, str] = {name: "loss" for name in outputs}  # activation -> the storage of its gradient
    sizes: dict[str, int] = {"loss": 0}  # the loss's gradient, broadcast to the outputs: no storage
    users: dict[str, int] = {"loss": len(outputs)}
    peak, peak_at = 0, "backward"

    def release(storage: str) -> None:
        users[storage] -= 1
        if not users[storage]:
            del users[storage], sizes[storage]

    for node in reversed(walk.order):
        if not walk.requires_grad[node.name] or node.name not in grad_of:
            continue
        weight_grad = walk.nbytes(node.layer.params(node.in_shapes), walk.precision.weights, False) \
            if node.trainable else 0
        copy = walk.weight_copy(node)
        low_grad = copy.nbytes if copy and node.trainable else 0  # the copy's gradient, cast back to fp32
        through = node.layer.gradient_passes_through() and not creates_in_training(node)
        incoming = [name for name in dict.fromkeys(node.inputs) if walk.requires_grad[name]]
        new = {name: 0 if through else walk.nbytes(numel(walk.nodes[name].out_shape), walk.dtype[name])
               for name in incoming}
        target = walk.cast_target(node)
        cast_grads = 0 if through or not target else sum(  # gradients of autocast's copies, cast back
            walk.nbytes(numel(walk.nodes[name].out_shape), target) for name in incoming if walk.dtype[name] != target)
        alive = base + gradients + saved + sum(sizes.values()) + sum(new.values())
        here = freed_after.get(node.name, ())
        # the layer's backward; under autocast, then the weight gradient's cast back to fp32 once the node (and
        # what it saved) is released
        moments = [alive + cast_grads + (low_grad or weight_grad)]
        if low_grad:
            moments.append(alive - sum(t.nbytes for t in here) + low_grad + weight_grad)
        if max(moments) > peak:
            peak, peak_at = max(moments), f"backward {node.name}"
        gradients += weight_grad
        mine = grad_of.pop(node.name)
        for name in incoming:
            if through:
                storage = mine
                users[mine] += 1
            else:
                storage = f"grad {name} from {node.name}"
                sizes[storage], users[storage] = new[name], 1
            if name in grad_of:  # a second reader's gradient: the engine adds the two into a new tensor
                release(grad_of[name])
                release(storage)
                storage = f"grad sum {name} {node.name}"
                sizes[storage], users[storage] = walk.nbytes(numel(walk.nodes[name].out_shape), walk.dtype[name]), 1
            grad_of[name] = storage
        release(mine)
        saved -= sum(t.nbytes for t in here)
    return peak, peak_at


def optimizer_scratch(walk: Walk, optimizer: str) -> int:
    """Temporaries of the optimizer's step, which PyTorch runs per tensor on the CPU and as one foreach over
    all of them on a GPU: Adam's ``exp_avg_sq.sqrt() / bias_correction2_sqrt`` makes two of a parameter's size
    per tensor, one copy of every parameter in foreach; SGD updates in place."""
    if optimizer not in ("adam", "adamw"):
        return 0
    sizes = [walk.nbytes(node.layer.params(node.in_shapes) - node.layer.bias_params(node.in_shapes),
                         walk.precision.weights, False) for node in walk.order if node.trainable]
    return 2 * max(sizes, default=0) if walk.device == "cpu" else sum(sizes)
