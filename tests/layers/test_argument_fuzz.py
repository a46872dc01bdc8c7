"""Every registered layer type, given drawn arguments and input shapes, either computes its figures or refuses
with the project's ArgumentError (which the graph turns into a located SpecError); never another exception."""
import dataclasses

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cnnspec.layers import LAYERS
from cnnspec.receptive import ReceptiveField
from cnnspec.shape import ArgumentError

SMALL = st.integers(-1, 4)
VALUES = st.one_of(  # mostly small sizes, so that most draws get past the first check to the arithmetic
    SMALL, SMALL, st.lists(SMALL, min_size=1, max_size=3), st.lists(SMALL, min_size=1, max_size=3), st.integers(-2**70, 2**70), st.sampled_from([0, 1, 2, 2**31, 10**30]),
    st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([0.0, 0.5, 1.5, -1.0, 1e300]),
    st.booleans(), st.none(), st.sampled_from(["same", "valid", "nearest", "bilinear", "row", "x", ""]),
    st.lists(SMALL, max_size=4), st.lists(st.floats(-2, 4), max_size=3), st.lists(st.booleans(), max_size=2),
)
SHAPE = st.lists(st.integers(1, 9), min_size=1, max_size=4).map(tuple)
TYPES = sorted({cls.type_name: cls for cls in LAYERS.values() if cls.type_name != "unsupported"}.values(),
               key=lambda cls: cls.type_name)


def figures(cls, arguments, shapes):
    try:
        layer = cls.from_arguments(arguments)
        out = tuple(layer.out_shape(shapes))
        layer.params(shapes), layer.buffers(shapes), layer.macs(shapes, out), layer.flops(shapes, out)
        layer.warnings(shapes)
        fields = [ReceptiveField.of_input(len(s) - 1) for s in shapes]
        layer.receptive_field(shapes, fields)
    except ArgumentError:
        pass


@pytest.mark.parametrize("cls", TYPES, ids=lambda cls: cls.type_name)
@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_drawn_arguments_work_or_are_refused(cls, data):
    names = [f.name for f in dataclasses.fields(cls)]
    chosen = data.draw(st.lists(st.sampled_from(names), unique=True, max_size=len(names))) if names else []
    arguments = {name: data.draw(VALUES, label=name) for name in chosen}
    low, high = cls.inputs_range
    count = data.draw(st.integers(low, min(high if high is not None else 3, 3)), label="inputs")
    first = data.draw(SHAPE, label="shape")
    shapes = [first] + [data.draw(st.one_of(st.just(first), SHAPE)) for _ in range(count - 1)]
    figures(cls, arguments, shapes)
