"""Mutated specs either analyze or fail with a located SpecError: never another exception.

Hypothesis takes a built-in spec, changes one value, key or list item somewhere in it, and runs
load -> graph -> analysis -> every report format, as `cnnspec analyze` does; where torch is installed,
what analyzes must also build with the analyzed parameter count and output shapes.
"""
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cnnspec
from cnnspec import render
from cnnspec.errors import SpecError
from cnnspec.graph import build_graph
from cnnspec.spec import builtin_specs

SPECS = ["lenet5", "alexnet", "resnet", "googlenet", "unet", "densenet", "mnist1d_cnn", "inception3a"]
TEXTS = {name: builtin_specs()[name].read_text() for name in SPECS}

ODD_VALUES = st.one_of(
    st.integers(-3, 3), st.integers(min_value=10**6), st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(), st.none(), st.sampled_from(["", "same", "valid", "x", "relu", "3x3", "input", "c // 0",
                                               "2 ** 200", "width * "]),
    st.lists(st.integers(-1, 4), max_size=4), st.dictionaries(st.sampled_from(["type", "a"]), st.integers(0, 2),
                                                              max_size=2))


def paths(data, prefix=()):
    """Every place in the YAML tree: mapping keys and list items, at any depth."""
    if isinstance(data, dict):
        for key, value in data.items():
            yield (*prefix, key)
            yield from paths(value, (*prefix, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield (*prefix, index)
            yield from paths(value, (*prefix, index))


def mutate(data, path, action, value):
    *parents, last = path
    holder = data
    for step in parents:
        holder = holder[step]
    if action == "replace":
        holder[last] = value
    elif action == "delete":
        del holder[last]
    elif action == "rename" and isinstance(last, str):
        holder[f"{last}_"] = holder.pop(last)
    elif action == "duplicate" and isinstance(last, int):
        holder.insert(last, holder[last])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), name=st.sampled_from(SPECS),
       action=st.sampled_from(["replace", "replace", "replace", "delete", "rename", "duplicate"]))
def test_a_mutated_spec_analyzes_or_is_a_located_spec_error(data, name, action):
    tree = yaml.safe_load(TEXTS[name])
    path = data.draw(st.sampled_from(list(paths(tree))), label="path")
    mutate(tree, path, action, data.draw(ODD_VALUES, label="value"))
    text = yaml.safe_dump(tree, sort_keys=False)
    try:
        analysis = cnnspec.analyze(build_graph(cnnspec.parse_spec(text, f"{name}.yaml")))
    except SpecError as error:
        assert error.loc is not None and error.loc.line >= 1, str(error)  # in the spec or a file it includes
    else:  # every report renders
        render.to_text(analysis), render.to_json(analysis), render.to_csv(analysis), render.to_markdown(analysis)
        render.summary_lines(analysis)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), name=st.sampled_from(SPECS), action=st.sampled_from(["replace", "delete", "duplicate"]))
def test_a_mutated_spec_that_analyzes_builds_with_the_analyzed_params_and_shapes(data, name, action):
    torch = pytest.importorskip("torch")
    tree = yaml.safe_load(TEXTS[name])
    path = data.draw(st.sampled_from(list(paths(tree))), label="path")
    mutate(tree, path, action, data.draw(ODD_VALUES, label="value"))
    try:
        graph = build_graph(cnnspec.parse_spec(yaml.safe_dump(tree, sort_keys=False), f"{name}.yaml"))
        analysis = cnnspec.analyze(graph)
        model = cnnspec.build(graph, device="meta")
    except SpecError:
        return
    assert sum(p.numel() for p in model.parameters()) == analysis.totals.params
    with torch.no_grad():
        outputs = model.eval()(torch.empty(1, *graph.input_shape, device="meta"))
    outputs = outputs if isinstance(outputs, tuple) else (outputs,)
    assert [tuple(o.shape[1:]) for o in outputs] == [analysis.row(n).shape for n in graph.outputs]
