"""`cnnspec check`: hand-written tables, expect: sections, unreadable input and the report formats."""
import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cnnspec.check import check_expect, check_paths, column_kind, exit_code
from cnnspec.cli import app

DATA = Path(__file__).parent / "data" / "tables"
ROWS = DATA / "cs231n_vgg16.md"  # one row per layer
SLIDE = DATA / "cs231n_vgg16_slide.md"  # as the slide writes it: "CONV3-256 (x3)", "800K each", "a; b; c"
ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()


def line_of(path: Path, start: str) -> int:
    return next(number for number, line in enumerate(path.read_text().splitlines(), 1) if line.startswith(start))


def checked(table: str, tmp_path, name: str = "t.md", spec: str = "vgg16"):
    path = tmp_path / name
    path.write_text(table)
    return check_paths([str(path)], spec)


def test_the_cs231n_table_passes_every_row_and_fails_its_memory_total():
    findings = check_paths([str(ROWS)], "vgg16")
    failed = [f for f in findings if f.status not in ("pass", "note")]
    (total,) = failed
    assert total.subject == "TOTAL [memory (values)] -> totals" and total.line == line_of(ROWS, "| TOTAL")
    assert total.message == "written 24M, true 15,237,608 values (2 significant digits)"
    assert sum(f.status == "pass" for f in findings) == 22 * 3 + 1  # 22 rows x 3 figures + the params total
    assert exit_code(findings) == 1


def test_the_slide_as_written_with_repeated_rows():
    findings = check_paths([str(SLIDE)], "vgg16")
    (note,) = [f for f in findings if f.status == "note"]
    assert "CONV3-256 (x3) -> block3.conv.0.conv+block3.conv.1.conv+block3.conv.2.conv" in note.message
    failed = {f.line: f.message for f in findings if f.status == "fail"}
    assert failed == {line_of(SLIDE, "| TOTAL |"): "written 24M, true 15,237,608 values (2 significant digits)",
                      line_of(SLIDE, "| TOTAL (fp32"):
                          "written ~96MB, true 60,950,432 bytes (values in fp32) (2 significant digits)"}
    row = line_of(SLIDE, "| CONV3-512 (x3) | 28x28x512")
    params = [f for f in findings if f.line == row and "params" in f.subject]
    assert [f.message.split(" (")[0] for f in params] == ["1,179,648 matches 1,179,648 params without bias",
                                                          "2,359,296 matches 2,359,296 params without bias",
                                                          "2,359,296 matches 2,359,296 params without bias"]


def test_the_readme_shows_what_check_prints(monkeypatch):
    readme = (ROOT / "README.md").read_text()
    command = "$ cnnspec check tests/data/tables/cs231n_vgg16_slide.md --spec vgg16\n"
    shown = readme[readme.index(command) + len(command):].split("```")[0].splitlines()
    monkeypatch.chdir(ROOT)
    printed = runner.invoke(app, command[2:].split()[1:]).stdout.splitlines()
    assert len(shown) == len(printed) == 4
    for line, actual in zip(shown, printed):
        assert actual.startswith(line.removesuffix("...")), line


def test_a_wrong_row_is_named_with_written_and_true_figures(tmp_path):
    table = ROWS.read_text().replace("| POOL2 | 28x28x256 | 200K | 0 |", "| POOL2 | 28x28x256 | 300K | 0 |")
    table = table.replace("| FC | 4096 | 4096 | 16,777,216 |", "| FC | 2048 | 4096 | 16,777,216 |")
    failed = [f for f in checked(table, tmp_path) if f.status == "fail"]
    assert [(f.subject, f.message) for f in failed] == [
        ("POOL2 [memory (values)] -> block3.pool", "written 300K, true 200,704 values (1 significant digit)"),
        ("FC [output] -> fc7", "written 2048, the spec gives 4096 (C x H x W)"),
        ("TOTAL [memory (values)] -> totals", "written 24M, true 15,237,608 values (2 significant digits)")]


def test_cli_exit_codes_and_formats():
    result = runner.invoke(app, ["check", str(ROWS), "--spec", "vgg16"])
    assert result.exit_code == 1 and result.stdout.endswith("67 passed, 1 failed\n")
    assert (f"{ROWS}:6: NOTE rows: matched by order over the layers that store a tensor or hold "
            "parameters: INPUT -> input, CONV3-64 -> block1.conv.0.conv") in result.stdout
    github = runner.invoke(app, ["check", str(ROWS), "--spec", "vgg16", "--format", "github"]).stdout
    assert github.splitlines()[0] == (f"::error file={ROWS},line=30,title=TOTAL [memory (values)] -> totals::"
                                      "written 24M, true 15,237,608 values (2 significant digits)")
    junit = ET.fromstring(runner.invoke(app, ["check", str(ROWS), "--spec", "vgg16", "-f", "junit"]).stdout)
    assert (junit.get("failures"), junit.get("tests"), junit.get("errors")) == ("1", "68", "0")
    (failure,) = junit.iter("failure")
    assert failure.get("message") == "written 24M, true 15,237,608 values (2 significant digits)"
    data = json.loads(runner.invoke(app, ["check", str(ROWS), "--spec", "vgg16", "-f", "json"]).stdout)
    assert data["summary"] == "67 passed, 1 failed" and data["exit_code"] == 1
    assert runner.invoke(app, ["check", str(ROWS), "--spec", "vgg16", "-v"]).stdout.count(": PASS ") == 67


def test_github_escapes_properties_and_messages(tmp_path):
    spec = tmp_path / "net,1.yaml"
    spec.write_text("input: [3, 8, 8]\nlayers: [relu]\nexpect:\n  params: 5\n")
    line = runner.invoke(app, ["check", str(spec), "-f", "github"]).stdout.splitlines()[0]
    assert line == (f"::error file={str(spec).replace(',', '%2C')},line=4,title=expect%3A params::"
                    "written 5, true 0 params (exact)")


def test_by_name_csv_with_header_units(tmp_path):
    table = "layer,params,MACs,Memory (KB)\nfc6,102.8M,102760448,16.4\nfc7,16.78M,16.8M,16.38\nfc8,4.1M,4.096M,4 kB\n"
    findings = checked(table, tmp_path, "fc.csv")
    assert [f.status for f in findings] == ["note"] + ["pass"] * 9
    assert findings[0].message == "matched by name: fc6 -> fc6, fc7 -> fc7, fc8 -> fc8"


def test_a_table_of_every_layer_matches_by_order(tmp_path):
    """A summary that lists the ReLUs too (as torchinfo prints one) matches every layer, input left out."""
    spec = tmp_path / "net.yaml"
    spec.write_text("input: [3, 8, 8]\nlayers:\n  - {conv2d: {out_channels: 4, kernel_size: 3}}\n  - relu\n"
                    "  - flatten\n  - {linear: {out_features: 10}}\n")
    table = "| | Output Shape | Param # |\n|---|---|---|\n| Conv2d | [4, 6, 6] | 112 |\n| ReLU | [4, 6, 6] | - |\n" \
            "| Flatten | [144] | 0 |\n| Linear | [10] | 1,450 |\n| Total | | 1,562 |\n"
    findings = checked(table, tmp_path, spec=str(spec))
    assert findings[0].message == ("matched by order over every layer: Conv2d -> conv1, ReLU -> relu1, "
                                   "Flatten -> flatten1, Linear -> fc1")
    assert [f.status for f in findings[1:]] == ["pass"] * 8


def test_blocks_match_by_name_with_summed_figures(tmp_path):
    table = "| Module | params | Output size |\n|---|---|---|\n| block1 | 38,720 | 64x112x112 |\n| block5 | 7.08M | |\n"
    findings = checked(table, tmp_path)
    assert [f.status for f in findings] == ["note", "pass", "pass", "pass"]


def test_flops_column_is_ambiguous_not_guessed(tmp_path):
    table = "| layer | GFLOPs |\n| --- | --- |\n| fc6 | 0.1028 |\n| fc7 | 0.0336 |\n| fc8 | 1G |\n"
    findings = [f for f in checked(table, tmp_path) if f.status != "note"]
    assert [f.status for f in findings] == ["ambiguous", "pass", "fail"]
    assert "ambiguous" in findings[0].message and "MAC count 102,760,448" in findings[0].message
    assert exit_code(findings) == 1
    assert exit_code(findings[:2]) == 0  # ambiguous is a warning, not a failure


def test_units_in_cells_are_interpreted(tmp_path):
    table = ("| layer | compute | params |\n| --- | --- | --- |\n| fc6 | 102.76 MMACs | 411 MB |\n"
             "| fc7 | 33.56M FLOPs | 16.78M params |\n| fc8 | 4.1M | 96 GFLOPs |\n")
    findings = [f for f in checked(table, tmp_path) if f.status != "note"]
    assert [f.status for f in findings] == ["pass", "pass", "pass", "pass", "ambiguous", "error"]
    assert "bytes (params in fp32)" in findings[1].message
    assert findings[-1].message == "row 'fc8', column 'params': '96 GFLOPs' is a figure in flops, which a 'params' " \
                                   "column cannot hold"


@pytest.mark.parametrize("header, kind", [
    ("Layer", "name"), ("type", "name"), ("Output size", "output"), ("patch size/stride", None),
    ("Kernel size", None), ("Activations", "memory"), ("params (no bias)", "weights"), ("#params", "params"),
    ("Mult-Adds", "macs"), ("ops", "flops?"), ("GFLOPs", "flops?"), ("Top-1 (%)", None),
])
def test_column_kinds(header, kind):
    assert column_kind(header) == kind


def test_bad_cell_names_row_and_column_and_exits_2(tmp_path):
    table = tmp_path / "t.md"
    table.write_text("| layer | params |\n| --- | --- |\n| fc6 | lots |\n| fc7 | 16.8M |\n| fc8 | 4.1M |\n")
    result = runner.invoke(app, ["check", str(table), "--spec", "vgg16"])
    assert result.exit_code == 2
    assert f"{table}:3: ERROR fc6 [params]: row 'fc6', column 'params': 'lots' is not a number" in result.stdout
    assert result.stdout.endswith("2 passed, 0 failed, 1 unreadable\n")


def test_repeated_row_with_the_wrong_count_of_figures(tmp_path):
    table = SLIDE.read_text().replace("294,912; 589,824; 589,824", "294,912; 589,824")
    (error,) = [f for f in checked(table, tmp_path) if f.status == "error"]
    assert error.message == ("row 'CONV3-256 (x3)', column 'params (no bias)': '294,912; 589,824' gives 2 figures "
                             "for 3 layers")


def test_rows_that_cannot_be_matched_are_unreadable_and_others_still_checked(tmp_path):
    bad = tmp_path / "bad.md"
    bad.write_text("| layer | params |\n| --- | --- |\n| A | 1 |\n| B | 2 |\n")
    result = runner.invoke(app, ["check", str(bad), str(ROWS), "--spec", "vgg16"])
    assert result.exit_code == 2
    assert (f"{bad}:1: ERROR unreadable: cannot match the table's 2 layer rows by order: the spec has 22 layers "
            "that store a tensor or hold parameters and 40 in all, the input included") in result.stdout
    assert result.stdout.endswith("67 passed, 1 failed, 1 unreadable\n")


def test_a_table_without_checkable_columns_is_unreadable(tmp_path):
    (finding,) = checked("| layer | note |\n| --- | --- |\n| fc6 | big |\n", tmp_path)
    assert finding.status == "error" and "no table or breakdown that names a figure to check" in finding.message


def test_csv_without_spec_is_a_usage_error(tmp_path):
    table = tmp_path / "t.csv"
    table.write_text("layer,params\nfc6,1\n")
    result = runner.invoke(app, ["check", str(table)])
    assert result.exit_code == 2 and "a hand-written table takes --spec SPEC" in result.stdout


def test_missing_path_exits_2(tmp_path):
    result = subprocess.run([sys.executable, "-m", "cnnspec", "check", str(tmp_path / "nope.md")],
                            capture_output=True, text=True)
    assert result.returncode == 2 and result.stderr == f"error: no such file or directory: {tmp_path / 'nope.md'}\n"


EXPECT = """input: [3, 8, 8]
layers:
  - {conv2d: {out_channels: 4, kernel_size: 3}, name: conv}
  - {type: flatten}
expect:
  source: "hand arithmetic"
  params: 112
  macs: {value: 3.9K, source: "4 x 36 x 27"}
  memory: 500
  output: [144]
  layers:
    conv: {params: 112, output: 4x6x6, flops: 7.9K, memory: 576 B}
"""


def test_expect_section(tmp_path):
    spec = tmp_path / "net.yaml"
    spec.write_text(EXPECT)
    findings = check_expect(str(spec))
    assert {f.subject: f.status for f in findings} == {
        "expect: params": "pass", "expect: macs": "pass", "expect: memory": "fail", "expect: output": "pass",
        "expect: layers: conv: params": "pass", "expect: layers: conv: output": "pass",
        "expect: layers: conv: flops": "pass", "expect: layers: conv: memory": "pass"}
    memory = next(f for f in findings if f.subject == "expect: memory")
    assert memory.line == 9 and memory.message == "written 500, true 336 values (exact)"
    macs = next(f for f in findings if f.subject == "expect: macs")
    assert macs.message == "3.9K matches 3,888 MACs (2 significant digits) [4 x 36 x 27]"
    conv_memory = next(f for f in findings if f.subject == "expect: layers: conv: memory")
    assert conv_memory.message == "576 B matches 576 bytes (values in fp32) (exact)"


def test_expect_several_outputs_and_blocks(tmp_path):
    spec = tmp_path / "net.yaml"
    spec.write_text("""input: [3, 8, 8]
blocks:
  pair: {layers: [{conv2d: {out_channels: 4, kernel_size: 3, padding: 1}}, relu]}
layers:
  - {type: pair, name: stem}
  - {type: global_avg_pool, name: gap}
  - {linear: {out_features: 2}, name: head, inputs: gap}
  - {linear: {out_features: 3}, name: aux, inputs: gap}
outputs: [head, aux]
expect:
  output: {head: [2], aux: [4]}
  layers:
    stem: {params: 112, memory: 256}
""")
    findings = check_expect(str(spec))
    assert [(f.line, f.subject, f.status) for f in findings] == [
        (11, "expect: output: head", "pass"), (11, "expect: output: aux", "fail"),
        (13, "expect: layers: stem: params", "pass"), (13, "expect: layers: stem: memory", "pass")]


@pytest.mark.parametrize("expect, message", [
    ("  parmas: 0", "4:3: unknown expectation 'parmas'"),
    ("  params: 1.5", "4:11: expect: params must be an integer or a figure like 138M"),
    ("  params: lots", "4:11: 'lots' is not a number"),
    ("  params: 3 GFLOPs", "4:11: expect: params: '3 GFLOPs' is a figure in flops, not in params"),
    ("  flops: 3 GMACs", "4:10: expect: flops: '3 GMACs' is a figure in macs, not in FLOPs"),
    ("  output: {fc: [1]}", "4:13: 'fc' is not an output of the spec"),
    ("  output: [a]", "4:11: an expected shape is a list like [256, 28, 28]"),
    ("  layers: {nope: {params: 1}}", "4:13: expect: layers: no layer or block 'nope' in the spec"),
    ("  layers: {relu1: {parms: 1}}", "4:22: unknown figure 'parms' for layer relu1"),
])
def test_bad_expectations_point_at_their_line(tmp_path, expect, message):
    spec = tmp_path / "net.yaml"
    spec.write_text(f"input: [3, 8, 8]\nlayers: [relu]\nexpect:\n{expect}\n")
    result = runner.invoke(app, ["check", str(spec)])
    assert result.exit_code == 2
    line, col, text = message.split(":", 2)
    assert f"{spec}:{line}: ERROR unreadable:{text}" in result.stdout


def test_yaml_without_expect_is_not_read(tmp_path):
    (tmp_path / "config.yaml").write_text("a: 1\n---\nb: !ENV X\n")  # two documents and a custom tag
    (tmp_path / "net.yml").write_text("input: [3, 8, 8]\nlayers: [relu]\n")
    assert check_paths([str(tmp_path)]) == []


def test_expect_must_be_a_mapping(tmp_path):
    spec = tmp_path / "net.yaml"
    spec.write_text("input: [3, 8, 8]\nlayers: [relu]\nexpect: 138M\n")
    (finding,) = check_paths([str(spec)])
    assert (finding.line, finding.status, finding.message) == (3, "error", "expect: must be a mapping of figures")


def test_builtin_specs_meet_their_expectations():
    findings = check_paths([str(ROOT / "specs")])
    assert findings and [f for f in findings if f.status != "pass"] == []



SMALL = "input: [3, 32, 32]\nlayers:\n  - {conv2d: {out_channels: 8, kernel_size: 1}, name: conv}\n"  # 8,192 values


@pytest.mark.parametrize("header, cell, status", [
    ("Memory (KiB)", "32", "pass"), ("Memory (MiB)", "0.03125", "pass"), ("Memory (KB)", "32.768", "pass"),
    ("Memory (KB)", "32", "fail"), ("Memory (B)", "32,768", "pass"), ("Memory (KiB)", "33", "fail"),
])
def test_binary_and_decimal_units_in_headers(tmp_path, header, cell, status):
    """32,768 bytes: 32 KiB or 0.03125 MiB, but 32.768 KB (so '32' in a KB column is wrong)."""
    spec = tmp_path / "net.yaml"
    spec.write_text(SMALL)
    findings = checked(f"| layer | {header} |\n| --- | --- |\n| conv | {cell} |\n", tmp_path, spec=str(spec))
    (finding,) = [f for f in findings if f.status != "note"]
    assert finding.status == status, finding.message
    unit = "" if header.endswith("(B)") else " " + header.split("(")[1].rstrip(")")
    assert finding.message.startswith(f"{cell}{unit} matches 32,768 bytes" if status == "pass"
                                      else f"written {cell}{unit}, true 32,768 bytes")


def test_binary_figures_round_in_their_unit():
    from cnnspec.figures import parse_figure
    assert parse_figure("1.5 KiB").matches(1560)  # 1.523 KiB
    assert not parse_figure("1.5 KiB").matches(1600)  # 1.5625 KiB


@pytest.mark.parametrize("header, cells, statuses", [
    ("Params (x1000)", ("102,765", "16,781", "4,097"), ["pass"] * 3),
    ("Params (× 1,000)", ("102,765", "16,781", "4,097"), ["pass"] * 3),
    ("Params (x10^6)", ("102.8", "16.8", "4.1"), ["pass"] * 3),
    ("params (thousands)", ("102,765", "16,700", "4,097"), ["pass", "fail", "pass"]),
])
def test_scaled_headers(tmp_path, header, cells, statuses):
    rows = "".join(f"| {name} | {cell} |\n" for name, cell in zip(("fc6", "fc7", "fc8"), cells))
    findings = [f for f in checked(f"| layer | {header} |\n|---|---|\n{rows}", tmp_path) if f.status != "note"]
    assert [f.status for f in findings] == statuses
    assert findings[1].message.startswith(f"{cells[1]} ") or findings[1].message.startswith(f"written {cells[1]} ")


def test_ragged_rows_are_notes_at_their_line(tmp_path):
    table = "| layer | params |\n|---|---|\n| fc6 | 102.8M | extra |\n| fc7 |\n| fc8 | 4.1M |\n"
    path = tmp_path / "t.md"
    path.write_text(table)
    result = runner.invoke(app, ["check", str(path), "--spec", "vgg16"])
    assert result.exit_code == 0
    assert (f"{path}:3: NOTE ragged row: the row has 3 cells, the header 2; read as a Markdown viewer shows it, "
            "the cells past the header's dropped") in result.stdout
    assert f"{path}:4: NOTE ragged row: the row has 1 cell, the header 2" in result.stdout
    assert result.stdout.endswith("2 passed, 0 failed\n")


def test_escaped_pipes_and_code_spans_stay_in_their_cell(tmp_path):
    table = ("| layer | note | params |\n|---|---|---|\n| `fc6` | a \\| b | 102.8M |\n"
             "| **fc7** | `x \\| y` | 16.8M |\n")
    findings = checked(table, tmp_path)
    assert [f.status for f in findings] == ["note", "pass", "pass"]
    assert findings[0].message == "matched by name: fc6 -> fc6, fc7 -> fc7"


def test_params_without_bias_under_a_params_header_get_one_hint(tmp_path):
    """The cs231n slide's params column copied under a plain 'params' header."""
    table = SLIDE.read_text().replace("| params (no bias) |", "| params |")
    findings = checked(table, tmp_path)
    (hint,) = [f for f in findings if f.subject == "[params]"]
    assert (hint.status, hint.line) == ("note", line_of(SLIDE, "| layer |"))
    assert hint.message == ("the 16 failing values of 'params' are the weights without bias; call the column "
                            "'params (no bias)' or 'weights'")
    assert sum(f.status == "fail" and "[params]" in f.subject for f in findings) == 16
    wrong = table.replace("| 36,864 |", "| 36,000 |")  # one value that is neither: no hint
    assert not [f for f in checked(wrong, tmp_path) if f.subject == "[params]"]


# --- line-by-line breakdowns: the course's slide text ---------------------------------------------

SLIDE_TEXT = DATA / "cs231n_vgg16_slide.txt"  # ../shared/reference/cs231n_vgg16_slide.txt, as the slide writes it
NOTES = DATA / "cs231n_notes_vgg16.md"  # the cs231n notes' plain-text version, in a code block


def test_the_slide_text_passes_every_layer_line_and_fails_exactly_the_memory_total():
    findings = check_paths([str(SLIDE_TEXT)], "vgg16")
    total = line_of(SLIDE_TEXT, "TOTAL memory")
    failed = [(f.line, f.subject, f.message) for f in findings if f.status not in ("pass", "note")]
    assert failed == [
        (total, "TOTAL [memory] -> totals", "written 24M, true 15,237,608 values (2 significant digits)"),
        (total, "TOTAL [memory (bytes)] -> totals",
         "written ~96MB, true 60,950,432 bytes (values in fp32) (2 significant digits)")]
    layer_lines = {f.line for f in findings if f.status == "pass" and f.line < line_of(SLIDE_TEXT, "FC: [1x1x1000]") + 1}
    assert layer_lines == set(range(1, 23))  # every layer line has passing figures
    written = {f.message for f in findings if f.subject == "CONV3-64 [memory] arithmetic"}
    assert written == {"224 × 224 × 64 = 3,211,264: written 3.2M (2 significant digits)"}
    conv = next(f for f in findings if f.line == 2 and "params" in f.subject and "->" in f.subject)
    assert conv.message == "1,728 matches 1,728 params without bias (exact)"  # '(not counting biases)', line 1
    (params_total,) = [f for f in findings if f.line == line_of(SLIDE_TEXT, "TOTAL params")]
    assert params_total.status == "pass" and "138M" in params_total.message


def test_the_notes_code_block_passes_every_layer_line_and_fails_the_memory_total_at_its_line():
    findings = check_paths([str(NOTES)], "vgg16")
    total = line_of(NOTES, "TOTAL memory")
    failed = [(f.line, f.subject, f.message) for f in findings if f.status not in ("pass", "note")]
    assert failed == [
        (total, "TOTAL [memory (bytes)] arithmetic", "24M × 4 = 96,000,000, not ~93MB (2 significant digits)"),
        (total, "TOTAL [memory] -> totals", "written 24M, true 15,237,608 values (2 significant digits)"),
        (total, "TOTAL [memory (bytes)] -> totals",
         "written ~93MB, true 60,950,432 bytes (values in fp32) (2 significant digits)")]
    weights = [f for f in findings if "[weights] -> " in f.subject]
    assert len(weights) == 22 and all(f.status == "pass" for f in weights)  # 'weights' leave the biases out
    result = runner.invoke(app, ["check", str(NOTES), "--spec", "vgg16"])
    assert result.exit_code == 1 and result.stdout.endswith("102 passed, 3 failed\n")


def test_wrong_arithmetic_and_wrong_results_are_told_apart(tmp_path):
    text = SLIDE_TEXT.read_text().replace(r"$224 \times 224 \times 64 = 3.2M$", r"$224 \times 224 \times 64 = 2.2M$", 1)
    text = text.replace(r"$(3 \times 3 \times 64) \times 128 = 73,728$", r"$(3 \times 3 \times 32) \times 128 = 36,864$")
    findings = [f for f in checked(text, tmp_path, "slide.txt") if f.status == "fail" and f.line < 20]
    assert [(f.line, f.subject, f.message) for f in findings] == [
        (2, "CONV3-64 [memory] arithmetic", "224 × 224 × 64 = 3,211,264, not 2.2M (2 significant digits)"),
        (2, "CONV3-64 [memory] -> block1.conv.0.conv", "written 2.2M, true 3,211,264 values (2 significant digits)"),
        (5, "CONV3-128 [params (no bias)] -> block2.conv.0.conv",
         "written 36,864, true 73,728 params without bias (exact)")]  # right arithmetic, wrong layer


@pytest.mark.parametrize("line", [
    "Note: 3 things to remember", "Figure 2: the network", "See https://cs231n.github.io: memory 3",
    "| CONV3-64 | memory: 3.2M |",
])
def test_prose_is_not_a_breakdown(line):
    from cnnspec.tables import breakdown_line
    assert breakdown_line(line) is None


def test_a_breakdown_with_unreadable_arithmetic_names_its_line(tmp_path):
    findings = checked("INPUT: [224x224x3] memory: 224*224*3=150K\nCONV: [224x224x64] memory: 224**64 = 3.2M\n",
                       tmp_path, "s.txt")
    (error,) = [f for f in findings if f.status == "error"]
    assert (error.line, error.subject) == (2, "CONV [memory] arithmetic")
    assert "'224**64' is not arithmetic" in error.message
