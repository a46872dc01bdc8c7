"""The spec writer (cnnspec/torch/specwriter.py): imported layers -> YAML with blocks, whose expansion must give
back every layer with its name, type, arguments and inputs. No torch: the items are written by hand."""
import pytest
import yaml

from cnnspec.graph import build_graph
from cnnspec.spec import parse_spec
from cnnspec.torch.specwriter import Item, Scope, SpecWriter, flow, scalar, snake_case


def block(name: str, kind: str = "pkg.Block") -> Scope:
    return Scope(name, kind, snake_case(kind.rpartition(".")[2]))


def conv(name, inputs, scopes=(), shape=(8, 8, 8), **arguments):
    return Item(name, "conv2d", {"out_channels": shape[0], "kernel_size": 3, "padding": 1, **arguments}, inputs,
                tuple(scopes), shape)


def layer(name, type_name, inputs, scopes=(), shape=(8, 8, 8), **arguments):
    return Item(name, type_name, arguments, inputs, tuple(scopes), shape)


def residual_block(name: str, previous: str, width: int, downsample: bool, stride: int = 1, size: int = 8):
    """conv, relu, conv, (a 1x1 projection), add, relu: a ResNet basic block as an importer hands it over."""
    scope = block(name)
    shape = (width, size // stride, size // stride)
    items = [conv(f"{name}.conv1", [previous], [scope], shape, stride=stride),
             layer(f"{name}.relu", "relu", [f"{name}.conv1"], [scope], shape),
             conv(f"{name}.conv2", [f"{name}.relu"], [scope], shape)]
    shortcut = previous
    if downsample:
        items.append(Item(f"{name}.downsample.0", "conv2d", {"out_channels": width, "kernel_size": 1, "stride": stride},
                          [previous], (scope, Scope(f"{name}.downsample", "", "")), shape))
        shortcut = f"{name}.downsample.0"
    items += [layer(f"{name}.add", "add", [f"{name}.conv2", shortcut], [scope], shape),
              layer(f"{name}.relu_1", "relu", [f"{name}.add"], [scope], shape)]
    return items


def written(items, outputs=None, shape=(8, 8, 8)):
    text = SpecWriter(items, outputs or [items[-1].name], shape).write("net", ["a test"])
    return text, build_graph(parse_spec(text, "net.yaml"))


def assert_expands_back(items, graph):
    """Every item is a layer of the expanded spec, with its type, its arguments (those not at their defaults)
    and its inputs; and nothing else is."""
    assert [n.name for n in graph.nodes[1:]] == [item.name for item in items]
    for item in items:
        node = graph[item.name]
        assert (node.type, node.inputs, node.out_shape) == (item.type, item.inputs, item.out_shape), item.name
        for key, value in item.arguments.items():
            assert getattr(node.layer, key) == value, (item.name, key)


def test_instances_of_a_class_become_one_block_with_its_varying_arguments():
    items = [conv("stem", ["input"])]
    items += residual_block("stage.0", "stem", 8, False)
    items += residual_block("stage.1", "stage.0.relu_1", 16, True, stride=2)
    items += residual_block("stage.2", "stage.1.relu_1", 16, False, size=4)
    text, graph = written(items)
    assert_expands_back(items, graph)
    spec = yaml.safe_load(text)
    assert list(spec["blocks"]) == ["block"]
    body = {entry["name"]: entry for entry in spec["blocks"]["block"]["layers"]}
    assert body["downsample.0"]["when"] == "has_downsample" and body["conv1"]["stride"] == "stride"
    assert spec["blocks"]["block"]["args"] == {"out_channels": 16, "stride": 1, "has_downsample": False}
    assert spec["layers"][1:] == [{"type": "block", "out_channels": 8, "name": "stage.0"},
                                  {"type": "block", "stride": 2, "has_downsample": True, "name": "stage.1"},
                                  {"type": "block", "name": "stage.2"}]


def test_a_chained_run_of_instances_is_one_repeat_with_first():
    items = [conv("stem", ["input"])]
    previous = "stem"
    for index, (width, downsample) in enumerate([(16, True), (16, False), (16, False)]):
        items += residual_block(f"layer1.{index}", previous, width, downsample)
        previous = f"layer1.{index}.relu_1"
    items.append(layer("pool", "global_avg_pool", [previous], shape=(16,)))
    text, graph = written(items)
    assert_expands_back(items, graph)
    assert yaml.safe_load(text)["layers"][1] == {"type": "block", "repeat": 3, "first": {"has_downsample": True},
                                                  "name": "layer1"}


def test_an_argument_that_is_a_multiple_of_another_is_written_so():
    def expand_block(name, previous, width):
        scope = block(name, "pkg.Expand")
        return [conv(f"{name}.reduce", [previous], [scope], (width, 8, 8)),
                conv(f"{name}.expand", [f"{name}.reduce"], [scope], (4 * width, 8, 8))]
    items = [*expand_block("a", "input", 4), *expand_block("b", "a.expand", 8), *expand_block("c", "b.expand", 2)]
    text, graph = written(items)
    assert_expands_back(items, graph)
    body = yaml.safe_load(text)["blocks"]["expand"]["layers"]
    assert [entry["out_channels"] for entry in body] == ["out_channels", "4 * out_channels"]


def test_groups_equal_to_the_input_channels_are_in_channels():
    def depthwise(name, previous, channels):
        scope = block(name, "pkg.Depthwise")
        return [conv(f"{name}.dw", [previous], [scope], (channels, 8, 8), groups=channels),
                conv(f"{name}.pw", [f"{name}.dw"], [scope], (2 * channels, 8, 8))]
    items = [conv("stem", ["input"], shape=(4, 8, 8)), *depthwise("a", "stem", 4), *depthwise("b", "a.pw", 8)]
    text, graph = written(items)
    assert_expands_back(items, graph)
    first = yaml.safe_load(text)["blocks"]["depthwise"]["layers"][0]
    assert first["groups"] == "in_channels" and first["out_channels"] == "in_channels"


def test_an_optional_add_reads_its_wiring_from_either_order():
    """x + f(x) where some instances have no residual: the add's inputs are put so that, skipped, it stands
    for f(x), its first input."""
    def inverted(name, previous, residual):
        scope = block(name, "pkg.Inverted")
        items = [conv(f"{name}.conv", [previous], [scope])]
        if residual:
            items.append(layer(f"{name}.add", "add", [previous, f"{name}.conv"], [scope]))
        return items
    items = [*inverted("a", "input", False), *inverted("b", "a.conv", True), *inverted("c", "b.add", True)]
    text, graph = written(items)
    assert [n.name for n in graph.nodes[1:]] == ["a.conv", "b.conv", "b.add", "c.conv", "c.add"]
    assert sorted(graph["b.add"].inputs) == sorted(["a.conv", "b.conv"]) and graph["c.conv"].inputs == ["b.add"]
    body = yaml.safe_load(text)["blocks"]["inverted"]["layers"]
    assert body[1] == {"type": "add", "name": "add", "inputs": ["conv", "input"], "when": "has_residual"}


def test_instances_whose_bodies_do_not_fit_one_union_get_blocks_of_their_own():
    def two(name, previous, second):
        scope = block(name, "pkg.Two")
        return [conv(f"{name}.first", [previous], [scope]), layer(f"{name}.second", second, [f"{name}.first"], [scope])]
    items = [*two("a", "input", "relu"), *two("b", "a.second", "relu"), *two("c", "b.second", "sigmoid"),
             *two("d", "c.second", "sigmoid")]
    text, graph = written(items)
    assert_expands_back(items, graph)
    assert list(yaml.safe_load(text)["blocks"]) == ["two", "two_2"]


def test_an_activation_that_differs_between_instances_is_a_type_argument():
    def conv_act(name, previous, act):
        scope = block(name, "pkg.ConvAct")
        return [conv(f"{name}.conv", [previous], [scope]), layer(f"{name}.act", act, [f"{name}.conv"], [scope])]
    items = [*conv_act("a", "input", "relu"), *conv_act("b", "a.act", "hardswish"), *conv_act("c", "b.act", "hardswish")]
    text, graph = written(items)
    assert_expands_back(items, graph)
    spec = yaml.safe_load(text)
    assert spec["blocks"]["conv_act"]["layers"][1] == {"type": "activation", "name": "act"}
    assert spec["blocks"]["conv_act"]["args"] == {"activation": "hardswish"}
    assert spec["layers"][0] == {"type": "conv_act", "activation": "relu", "name": "a"}


def test_a_class_used_once_and_containers_are_written_inline():
    items = [conv("features.0", ["input"], [Scope("features", "", "")]),
             layer("features.1", "relu", ["features.0"], [Scope("features", "", "")]),
             conv("head.conv", ["features.1"], [block("head", "pkg.Head")])]
    text, graph = written(items)
    assert_expands_back(items, graph)
    spec = yaml.safe_load(text)
    assert "blocks" not in spec and [e["name"] for e in spec["layers"]] == ["features.0", "features.1", "head.conv"]


def test_an_instance_with_two_outputs_is_written_inline():
    scope = block("a")
    items = [conv("a.one", ["input"], [scope]), conv("a.two", ["a.one"], [scope]),
             layer("cat", "concat", ["a.one", "a.two"], shape=(16, 8, 8))]
    scope_b = block("b")
    items += [conv("b.one", ["cat"], [scope_b]), conv("b.two", ["b.one"], [scope_b])]
    text, graph = written(items)
    assert_expands_back(items, graph)
    assert "blocks" not in yaml.safe_load(text)  # 'a' has two outputs, so 'b' is the class's only block instance


def test_outputs_other_than_the_last_layer_are_listed():
    items = [conv("a", ["input"]), conv("b", ["a"]), conv("c", ["a"])]
    text, graph = written(items, outputs=["b", "c"])
    assert graph.outputs == ["b", "c"] and yaml.safe_load(text)["outputs"] == ["b", "c"]


@pytest.mark.parametrize("value, text", [
    (1e-05, "1.0e-05"), (0.1, "0.1"), (3, "3"), (True, "true"), (None, "null"), ("same", "same"),
    ("true", "'true'"), ("0", "'0'"), ("it's", "'it''s'"), ([1, 2], "[1, 2]"), ("conv.0", "conv.0"),
])
def test_scalars_read_back_as_written(value, text):
    assert scalar(value) == text
    assert yaml.safe_load(f"x: {text}")["x"] == value


def test_flow_mappings_read_back():
    value = {"type": "conv2d", "kernel_size": [3, 1], "name": "0", "eps": 1e-3}
    assert yaml.safe_load(flow(value)) == value


@pytest.mark.parametrize("name, snake", [("InvertedResidual", "inverted_residual"), ("ConvBNReLU6", "conv_bn_relu6"),
                                         ("Bottleneck", "bottleneck"), ("SEBlock", "se_block"), ("MBConv", "mb_conv")])
def test_block_names_are_the_class_names_in_snake_case(name, snake):
    assert snake_case(name) == snake
