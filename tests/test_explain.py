"""`cnnspec explain`: every formula it prints, parsed back into arithmetic and evaluated here (not with
cnnspec's expression evaluator), equals the analyzer's figure; every layer type declares formulas."""
import ast
import json
import re
from fractions import Fraction
from math import ceil, floor, gcd
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cnnspec import explain
from cnnspec.analysis import analyze
from cnnspec.cli import app
from cnnspec.formula import AXES, ASCII, LATEX, TEXT
from cnnspec.graph import load
from cnnspec.layers import LAYERS, Layer
from cnnspec.receptive import ReceptiveField
from cnnspec.spec import builtin_specs, builtin_variants
from tests.test_contract import CASE_PARAMS

runner = CliRunner()

# --- an evaluator of its own: printed arithmetic -> exact number ------------------------------

_SPELLINGS = [(r"\lfloor", "floor("), (r"\rfloor", ")"), (r"\lceil", "ceil("), (r"\rceil", ")"), (r"\cdot", "*"),
              (r"\times", "*"), (r"\max", "max"), (r"\min", "min"), ("{,}", ","), ("⌊", "floor("), ("⌋", ")"),
              ("⌈", "ceil("), ("⌉", ")"), ("×", "*"), (" x ", " * ")]
_FUNCTIONS = {"floor": floor, "ceil": ceil, "max": max, "min": min,
              "gcd": lambda *numbers: gcd(*(int(n) for n in numbers if n.denominator == 1))}


def evaluate(text: str) -> Fraction:
    """Exact value of arithmetic as explain prints it: 1,792; 54.25; x, ×, \\cdot; floor brackets."""
    for spelling, python in _SPELLINGS:
        text = text.replace(spelling, python)
    text = re.sub(r"(?<=\d),(?=\d{3}(?!\d))", "", text)
    return _value(ast.parse(text.strip(), mode="eval").body)


def _value(node) -> Fraction:
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
        return Fraction(ast.unparse(node))  # '54.25' exactly, not the float
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return -_value(node.operand)
    if isinstance(node, ast.BinOp):
        a, b = _value(node.left), _value(node.right)
        return {ast.Add: a + b, ast.Sub: a - b, ast.Mult: a * b}.get(type(node.op)) if not isinstance(
            node.op, ast.Div) else a / b
    if isinstance(node, ast.Call) and node.func.id in _FUNCTIONS:
        return Fraction(_FUNCTIONS[node.func.id](*(_value(a) for a in node.args)))
    raise ValueError(f"not arithmetic: {ast.dump(node)}")


def test_the_evaluator():
    assert evaluate("⌊(224 + 2×0 - 11)/4⌋ + 1") == 54
    assert evaluate("(224 + 2*0 - 11)/4 + 1") == Fraction(217, 4)
    assert evaluate(r"\lfloor (224 + 2 \cdot 1 - 3)/1 \rfloor + 1") == 224
    assert evaluate("2*102,760,448 + 4,096") == 205_524_992
    assert evaluate("3*(8 + 9 - gcd(8, 9))") == 48 and evaluate("max(1.5, (1/3))") == Fraction(3, 2)


# --- held to the analyzer ---------------------------------------------------------------------

def axis_indexes(axis: str, ndim: int) -> list[int]:
    """Shape indexes a formula's axis names: 'channels', 'height and width', 'axis 2' (torch's dim)."""
    indexes = []
    for name in axis.split(" and "):
        if name in ("channels", "features"):
            indexes.append(0)
        elif name.startswith("axis "):
            indexes.append(int(name.split()[1]) - 1)
        else:
            indexes.append(1 + AXES[ndim - 1].index(name))
    return indexes


def printed(formula, style) -> tuple[Fraction, Fraction]:
    """(the printed substitution evaluated, the printed result evaluated). A step that reads as the
    result is not printed twice: 'C_out = 64' has no substitution of its own."""
    parts = formula.parts(style)
    substituted = parts[1] if len(parts) == 3 else parts[0]
    try:
        return evaluate(substituted), evaluate(parts[-1])
    except (ValueError, SyntaxError):  # a symbol: the substitution was the result itself
        return evaluate(parts[-1]), evaluate(parts[-1])


def check(formulas, figures: dict, shape_in, shape_out, field_in=None, field_out=None):
    """Every formula equals the figure it names, in all three renderings; every nonzero figure, changed
    output axis and changed receptive field has one."""
    covered = set()
    for formula in formulas:
        data = formula.to_dict()
        substituted, result = evaluate(data["substituted"]), Fraction(data["value"])
        assert substituted == result == printed(formula, TEXT)[0] == printed(formula, LATEX)[0], data
        if formula.figure == "output":
            for index in axis_indexes(formula.axis, len(shape_out)):
                assert result == shape_out[index], data
                covered.add(("output", index))
        elif formula.figure in ("field", "jump"):
            for index in axis_indexes(formula.axis, len(field_out.size) + 1):
                actual = (field_out.size if formula.figure == "field" else field_out.jump)[index - 1]
                assert result == actual, data
                covered.add((formula.figure, index))
        elif formula.figure != "tiling":
            assert result == figures[formula.figure], data
            covered.add(formula.figure)
    missing = [name for name, value in figures.items() if value and name not in covered and name != "weights"]
    def kept(i):  # the same size at the same place, counted from the left or from the right
        return i < len(shape_in) and (shape_in[i] == shape_out[i]
                                      or shape_in[i - len(shape_out)] == shape_out[i - len(shape_out)])
    missing += [("output", i) for i in range(len(shape_out) if shape_in is not None else 0)  # the input is given
                if ("output", i) not in covered and not kept(i)]
    if field_in is not None and field_out is not None:
        for name, before, after in (("field", field_in.size, field_out.size), ("jump", field_in.jump, field_out.jump)):
            missing += [(name, i + 1) for i, (a, b) in enumerate(zip(before, after)) if a != b
                        and (name, i + 1) not in covered]
    assert not missing, f"no formula for {missing}"


SPECS = sorted({*builtin_specs(), *builtin_variants()})  # every family's variants too


@pytest.mark.parametrize("name", SPECS)
def test_every_formula_of_every_layer_of_every_builtin_spec_equals_the_analyzer(name):
    graph = load(name)
    analysis = analyze(graph)
    for node in graph.nodes:
        row = analysis.row(node.name)
        section = explain.explain_layer(graph, analysis, node.name)
        figures = {"params": row.params, "weights": row.params - row.bias, "buffers": row.buffers, "macs": row.macs,
                   "flops": row.flops, "memory": row.memory, "bytes": row.memory * analysis.bytes_per_value,
                   "bytes_read": row.bytes_read, "bytes_written": row.bytes_written}
        fields_in = [analysis.row(i).receptive_field for i in node.inputs]
        field_in = fields_in[0] if len(set(fields_in)) == 1 else None
        check(section.formulas, figures, node.in_shapes[0] if node.in_shapes else None, row.shape,
              field_in, row.receptive_field)


def test_every_registered_type_declares_formulas():
    """A new layer type (or one inherited from a base that has none) fails here until it explains itself."""
    for cls in set(LAYERS.values()):
        assert cls.formulas is not Layer.formulas, f"{cls.type_name} declares no formulas"
        mro = cls.__mro__
        field_owner = next(c for c in mro if "receptive_field" in vars(c))
        formulas_owner = next(c for c in mro if "receptive_field_formulas" in vars(c))
        assert mro.index(formulas_owner) <= mro.index(field_owner), \
            f"{cls.type_name} overrides receptive_field but not receptive_field_formulas"


@pytest.mark.parametrize("type_name, inputs, arguments", CASE_PARAMS)
def test_every_type_with_a_spread_of_arguments(type_name, inputs, arguments):
    """The contract cases (odd sizes, dilation, groups, 'same' padding, ceil_mode...), through a field that
    already grew (size 3, jump 2), so that the recurrence's terms all count."""
    inputs = inputs if isinstance(inputs, list) else [inputs]
    layer = LAYERS[type_name].from_arguments(dict(arguments))
    out = layer.out_shape(inputs)
    figures = {"params": layer.params(inputs), "weights": layer.params(inputs) - layer.bias_params(inputs),
               "buffers": layer.buffers(inputs), "macs": layer.macs(inputs, out), "flops": layer.flops(inputs, out)}
    ndim = len(inputs[0]) - 1
    fields = [ReceptiveField((3,) * ndim, (2,) * ndim, (1,) * ndim) for _ in inputs]
    formulas = layer.formulas(inputs, out) + layer.receptive_field_formulas(inputs, fields)
    check(formulas, figures, inputs[0], out, fields[0], layer.receptive_field(inputs, fields))


def test_branches_meet_with_the_span_of_their_fields():
    """Inception v3 concatenates a 1x3 and a 3x1 branch: the union is 3 wide on both axes."""
    fields = [ReceptiveField((1, 3), (1, 1), (0, 0)), ReceptiveField((3, 1), (1, 1), (0, 0))]
    layer = LAYERS["concat"].from_arguments({})
    shapes = [(4, 8, 8), (4, 8, 8)]
    out = layer.out_shape(shapes)
    formulas = layer.formulas(shapes, out) + layer.receptive_field_formulas(shapes, fields)
    assert [f.figure for f in formulas] == ["output", "field", "field"]
    check(formulas, {}, shapes[0], out, fields[0], layer.receptive_field(shapes, fields))


# --- totals, blocks and branches -----------------------------------------------------------------

def test_totals_are_sums_of_their_parts_and_training_memory_is_read_from_the_analysis():
    graph = load("vgg16")
    analysis = analyze(graph, batch=8, optimizer="adam")
    network, training = explain.explain(graph, analysis, [])
    values = {f.figure: evaluate(f.to_dict()["substituted"]) for f in network.formulas}
    assert values == {"params": 138_357_544, "macs": 15_470_264_320, "flops": analysis.totals.flops,
                      "memory": 15_237_608, "bytes": 60_950_432,
                      "bytes_read": analysis.totals.bytes_read, "bytes_written": analysis.totals.bytes_written}
    assert analysis.totals.bytes_read == sum(row.bytes_read for row in analysis.rows)
    assert "params: most in fc6, 102,764,544 (74%)" in network.notes
    assert "memory (values): most in block1, 7,225,344 (47%)" in network.notes
    assert f"peak live memory: {analysis.peak_memory:,} values" in network.notes[-1]
    (formula,) = training.formulas
    assert evaluate(formula.to_dict()["substituted"]) == analysis.training.total
    assert formula.to_dict()["symbolic"] == "weights + gradients + optimizer_state + activations"


def branch_figures(spec: str, block: str, branch: str, *options) -> dict:
    result = runner.invoke(app, ["explain", spec, block, "-f", "json", *options])
    assert result.exit_code == 0, result.output
    (section,) = [s for s in json.loads(result.stdout)["sections"] if s["subject"] == branch]
    return {f["figure"]: (f["substituted"], f["value"]) for f in section["formulas"]}


def test_the_course_1x1_reduction_reads_as_the_course_writes_it():
    """GoogLeNet inception(4a)'s 5x5 branch on 14x14x480 (the paper's 5x5, --set k5=5): 26,880 weights
    and 5,268,480 MACs (seed_facts.md), worked as (7,680 + 19,200) x 14 x 14."""
    figures = branch_figures("googlenet", "inception4a", "branch3", "--set", "k5=5")
    assert figures["weights"] == ("1*1*480*16 + 5*5*16*48", 26_880)
    assert figures["macs"] == ("(7,680 + 19,200) x 14*14", 5_268_480)


def test_inception3a_branches_with_and_without_the_reduction():
    result = json.loads(runner.invoke(app, ["explain", "inception3a", "-f", "json"]).stdout)
    (reduced,) = [s for s in result["sections"] if s["subject"] == "b5x5"]
    assert [(f["figure"], f["value"]) for f in reduced["formulas"]] == [
        ("weights", 15_872), ("params", 15_920), ("macs", 12_443_648)]
    naive = json.loads(runner.invoke(app, ["explain", "inception3a_naive", "-f", "json"]).stdout)
    (direct,) = [s for s in naive["sections"] if s["subject"] == "b5x5"]
    assert [(f["figure"], f["value"]) for f in direct["formulas"]] == [
        ("weights", 153_600), ("params", 153_632), ("macs", 120_422_400)]
    assert [s["subject"] for s in naive["sections"][2:]] == ["b1x1", "b3x3", "b5x5", "pool"]


def test_a_residual_block_splits_into_its_main_path_and_shortcut():
    graph = load("resnet50")
    analysis = analyze(graph)
    block, main, shortcut = explain.explain(graph, analysis, ["layer1.0"])
    params = next(f for f in block.formulas if f.figure == "params")
    assert params.value == sum(r.params for r in analysis.rows if r.name.startswith("layer1.0."))
    assert {main.subject, shortcut.subject} == {"bn3", "downsample"}
    identity = explain.explain(graph, analysis, ["layer1.1"])
    assert [s.subject for s in identity[1:]] == ["bn3", "layer1.0.relu3 (the input, unchanged)"]


def test_an_unknown_layer_is_a_usage_error():
    result = runner.invoke(app, ["explain", "vgg16", "fc9"])
    assert result.exit_code != 0 and "no layer or block 'fc9' in vgg16 (did you mean 'fc8'?)" in str(result.exception)


# --- golden outputs -------------------------------------------------------------------------------

DATA = Path(__file__).parent / "data" / "explain"
GOLDEN = {  # name: (command arguments, figures the output must show)
    "vgg16_block1_conv0": (["vgg16", "block1.conv.0.conv"], ["= 1,792", "= 86,704,128"]),
    "alexnet_original_conv1_224": (["alexnet_original", "conv1.conv", "--input", "3x224x224"],
                                   ["= 54.25", "floored to 54", "an input of 227 tiles exactly"]),
    "inception3a": (["inception3a"], ["1×1×192×16 + 5×5×16×32 = 15,872", "(3,072 + 12,800) × 28×28 = 12,443,648"]),
    "inception3a_naive": (["inception3a_naive"], ["5×5×192×32 = 153,600", "153,600 × 28×28 = 120,422,400"]),
    "course_1x1_reduction": ([str(DATA / "course_1x1_reduction.yaml")],
                             ["5×5×480×48 = 576,000", "576,000 × 14×14 = 112,896,000",
                              "1×1×480×16 + 5×5×16×48 = 26,880", "(7,680 + 19,200) × 14×14 = 5,268,480"]),
    "mnist1d_cnn_conv0": (["mnist1d_cnn", "conv.0.conv"], ["⌊(40 + 2×0 - 3)/2⌋ + 1 = 19", "K×Cᵢₙ×Cₒᵤₜ + Cₒᵤₜ"]),
    "unet_upconv": (["unet", "dec4.upconv"], ["(28 - 1)×2 - 2×0 + 2 = 56"]),
    "depthwise": ([str(DATA / "depthwise.yaml"), "depthwise"], ["3×3×32/32×32 = 288"]),
    "stacked_3x3": ([str(DATA / "stacked_3x3.yaml"), "conv.1", "conv.2"],
                    ["3 + (3 - 1)×1 = 5", "5 + (3 - 1)×1 = 7"]),
}


@pytest.mark.parametrize("name", GOLDEN)
def test_golden_output(name, overwrite):
    """What explain prints for the course's worked examples; `pytest --overwrite` rewrites the files."""
    arguments, shown = GOLDEN[name]
    result = runner.invoke(app, ["explain", *arguments])
    assert result.exit_code == 0, result.output
    for text in shown:
        assert text in result.stdout, text
    golden = DATA / "golden" / f"{name}.txt"
    if overwrite:
        golden.write_text(result.stdout, encoding="utf-8")
    assert result.stdout == golden.read_text(encoding="utf-8")


def test_markdown_renders_with_its_math_intact():
    """`explain vgg16 --format md` through markdown-it-py (rich's parser): every $...$ comes out of the
    renderer character for character, so MathJax in Jupyter or a notes site gets it whole."""
    import html

    from markdown_it import MarkdownIt
    result = runner.invoke(app, ["explain", "vgg16", "block1.conv.0.conv", "block1.pool", "fc6", "-f", "md"])
    source = runner.invoke(app, ["explain", "vgg16", "-f", "md"]).stdout + result.stdout
    rendered = html.unescape(MarkdownIt("commonmark").enable("table").render(source))
    math = re.findall(r"\$([^$]+)\$", source)
    assert len(math) > 20 and all(f"${m}$" in rendered for m in math)
    assert r"$\lfloor (N + 2P - K)/S \rfloor + 1 = \lfloor (224 + 2 \cdot 1 - 3)/1 \rfloor + 1 = 224$" in source
    assert r"K \cdot K \cdot C_{\text{in}} \cdot C_{\text{out}} + C_{\text{out}} = " in source
    assert "<h3>block1.conv.0.conv (conv2d): 3x224x224 -> 64x224x224</h3>" in rendered
    totals = next(line for line in source.splitlines() if line.startswith("- params: "))
    assert "`block1`" in totals and "`fc6`" in totals and "= 138{,}357{,}544$" in totals


def test_json_has_formula_strings_and_values():
    data = json.loads(runner.invoke(app, ["explain", "vgg16", "block1.conv.0.conv", "-f", "json"]).stdout)
    (section,) = data["sections"]
    params = next(f for f in section["formulas"] if f["figure"] == "params")
    assert params == {"figure": "params", "axis": "", "symbolic": "K*K*C_in*C_out + C_out",
                      "substituted": "3*3*3*64 + 64", "value": 1792, "note": "",
                      "latex": r"K \cdot K \cdot C_{\text{in}} \cdot C_{\text{out}} + C_{\text{out}} = "
                               r"3 \cdot 3 \cdot 3 \cdot 64 + 64 = 1{,}792"}


def test_ascii_where_the_output_cannot_encode_unicode():
    import os
    import subprocess
    import sys
    env = {**os.environ, "PYTHONIOENCODING": "ascii"}
    out = subprocess.run([sys.executable, "-m", "cnnspec", "explain", "vgg16", "block1.conv.0.conv"],
                         capture_output=True, text=True, env=env, check=True).stdout
    assert "floor((N + 2P - K)/S) + 1 = floor((224 + 2*1 - 3)/1) + 1 = 224" in out
    assert "H_out*W_out*C_out x K*K*C_in = 224*224*64 x 3*3*3 = 86,704,128" in out
    assert explain.text_style("utf-8") is TEXT and explain.text_style("cp1252") is ASCII


def test_the_readme_shows_what_explain_prints():
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    command = "$ cnnspec explain vgg16 block1.conv.0.conv\n"
    shown = readme[readme.index(command) + len(command):].split("```")[0]
    assert runner.invoke(app, command[2:].split()[1:]).stdout == shown


# --- explain --table --------------------------------------------------------------------------------

TABLES = Path(__file__).parent / "data" / "tables"


@pytest.mark.parametrize("document", ["cs231n_vgg16_slide.txt", "cs231n_notes_vgg16.md", "cs231n_vgg16_slide.md"])
def test_explain_table_works_out_the_wrong_totals(document):
    """The rows sum to 15,237,608 values (about 61 MB in fp32); the written 24M is not a sum of the rows."""
    result = runner.invoke(app, ["explain", "--table", str(TABLES / document), "--spec", "vgg16", "-f", "json"])
    assert result.exit_code == 0, result.output
    sections = json.loads(result.stdout)["sections"]
    values = next(s for s in sections if "[memory" in s["title"] and "bytes" not in s["title"] and
                  "arithmetic" not in s["title"])
    sums = [(f["note"], f["value"], evaluate(f["substituted"])) for f in values["formulas"]]
    assert sums[1] == ("the layers they match in vgg16", 15_237_608, 15_237_608)
    assert sums[0][0] == "the rows as written" and sums[0][1] == sums[0][2] == 15_184_192
    assert any("24M is not a sum of the rows" in note for note in values["notes"])
    assert any("60,950,432 bytes, about 61 MB" in note for s in sections for note in s["notes"])


def test_explain_table_shows_a_wrong_layers_formula(tmp_path):
    table = (TABLES / "cs231n_vgg16_slide.md").read_text().replace("| params (no bias) |", "| params |")
    path = tmp_path / "slide.md"
    path.write_text(table)
    result = runner.invoke(app, ["explain", "--table", str(path), "--spec", "vgg16"])
    section = result.stdout.split("\n\n")[0]
    assert section.splitlines()[0].endswith(": CONV3-64 [params] -> block1.conv.0.conv")
    assert "K×K×Cᵢₙ×Cₒᵤₜ + Cₒᵤₜ = 3×3×3×64 + 64 = 1,792" in section
    assert "1,728 is the weights without bias: call the column 'params (no bias)' or 'weights'" in section


def test_explain_table_of_a_true_table(tmp_path):
    path = tmp_path / "t.md"
    path.write_text("| layer | params |\n|---|---|\n| fc6 | 102.8M |\n| fc7 | 16.8M |\n| fc8 | 4.1M |\n")
    result = runner.invoke(app, ["explain", "--table", str(path), "--spec", "vgg16"])
    assert result.stdout == f"{path}: every figure agrees with vgg16\n"
    assert runner.invoke(app, ["explain", "--table", str(path)]).exit_code != 0  # --spec is required
