"""Each layer type's declared memory traffic, against the tensors PyTorch's operators touch.

The built module runs one inference forward under a dispatch mode that records, for every operator that
is not a view, which of the module's inputs, parameters and buffers it reads, and whether the module's
output is written by one. That is the compulsory traffic ``Layer.traffic`` declares: every outside tensor
read once, the output written once, intermediates left on the chip, views moving nothing.
"""
import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from cnnspec.layers import LAYERS
from tests.test_contract import CASE_PARAMS

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")
BATCH, FP32 = 2, 4


def storage(t: torch.Tensor) -> int:
    return t.untyped_storage().data_ptr()


class Touched(TorchDispatchMode):
    """The storages non-view operators read (of those in ``outside``) and write."""

    def __init__(self, outside: set[int]):
        super().__init__()
        self.outside, self.read, self.written = outside, set(), set()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if not func.is_view:
            self.read |= {storage(t) for t in tree_flatten((args, kwargs))[0]
                          if isinstance(t, torch.Tensor) and storage(t) in self.outside}
            self.written |= {storage(t) for t in tree_flatten(out)[0] if isinstance(t, torch.Tensor)}
            self.written |= {storage(t) for t, argument in zip(args, func._schema.arguments)
                             if isinstance(t, torch.Tensor) and argument.alias_info and argument.alias_info.is_write}
        return out


def measured_traffic(module, inputs: list[tuple[int, ...]]) -> tuple[int, int]:
    module.eval()
    xs = [torch.randn(BATCH, *shape) for shape in inputs]
    outside = {storage(t): t.untyped_storage().nbytes() for t in (*xs, *module.parameters(), *module.buffers())}
    with torch.no_grad(), Touched(set(outside)) as touched:
        out = module(*xs)
    written = out.untyped_storage().nbytes() if storage(out) in touched.written else 0
    return sum(outside[s] for s in touched.read), written


@pytest.mark.parametrize("type_name, inputs, arguments", CASE_PARAMS)
def test_declared_traffic_equals_what_the_operators_touch(type_name, inputs, arguments):
    inputs = inputs if isinstance(inputs, list) else [inputs]
    layer = LAYERS[type_name].from_arguments(dict(arguments))
    traffic = layer.traffic(inputs, layer.out_shape(inputs))
    read, written = measured_traffic(layer.to_torch(inputs), inputs)
    assert (read, written) == ((BATCH * traffic.read + traffic.weights) * FP32, BATCH * traffic.written * FP32)
