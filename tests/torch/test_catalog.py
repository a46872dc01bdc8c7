"""The torch module `cnnspec layers` names for a type is what its to_torch builds, for every contract case."""
import importlib

import pytest

from cnnspec.catalog import torch_modules
from cnnspec.layers import LAYERS
from tests.test_contract import CASES


def resolve(path: str) -> type:
    module, _, name = path.rpartition(".")
    return getattr(importlib.import_module(module), name)


@pytest.mark.parametrize("type_name", sorted(CASES))
def test_listed_torch_modules_are_those_built(type_name):
    listed = [resolve(path) for path in torch_modules(LAYERS[type_name])]
    built = {type(LAYERS[type_name].from_arguments(dict(arguments)).to_torch(inputs if isinstance(inputs, list)
                                                                             else [inputs]))
             for inputs, arguments in CASES[type_name]}
    assert built <= set(listed), (built, listed)
    if getattr(LAYERS[type_name], "ndim", None):
        assert len(listed) == 1, f"{type_name} is fixed to one rank: {listed}"
