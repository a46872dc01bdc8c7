"""The boxed text table: alignment, totals, colour only on a terminal, wide characters."""
import io
import json
import os
import subprocess
import sys

import cnnspec
from cnnspec import render
from cnnspec.graph import build_graph


def test_box_table_aligns_columns_and_draws_totals_below_a_rule():
    text = render.box_table("title", ["Name", "Params"], [["conv1", "1,792"], ["fc", "4,097,000"]],
                            ["Total", "4,098,792"], [False, True])
    assert text.splitlines() == [
        "        title",
        "┏━━━━━━━┳━━━━━━━━━━━┓",
        "┃ Name  ┃    Params ┃",
        "┡━━━━━━━╇━━━━━━━━━━━┩",
        "│ conv1 │     1,792 │",
        "│ fc    │ 4,097,000 │",
        "├───────┼───────────┤",
        "│ Total │ 4,098,792 │",
        "└───────┴───────────┘",
    ]


def test_colour_wraps_cells_only_and_keeps_the_layout():
    plain = render.box_table("t", ["a", "b"], [["x", "1"]], None, [False, True], ["yellow"])
    painted = render.box_table("t", ["a", "b"], [["x", "1"]], None, [False, True], ["yellow"], color=True)
    assert "│\x1b[33m x \x1b[0m│" in painted and "┃\x1b[1m a \x1b[0m┃" in painted
    assert "\x1b" not in plain
    assert painted.replace("\x1b[33m", "").replace("\x1b[1m", "").replace("\x1b[3m", "").replace(
        "\x1b[0m", "") == plain


def test_wide_characters_take_two_columns():
    text = render.box_table("", ["名前", "n"], [["ab", "1"]], None, [False, True])
    header, row = text.splitlines()[2], text.splitlines()[4]
    assert header == "┃ 名前 ┃ n ┃" and row == "│ ab   │ 1 │"


class Stream(io.StringIO):
    def __init__(self, terminal: bool, encoding: str = "utf-8"):
        super().__init__()
        self.terminal, self._encoding = terminal, encoding

    def isatty(self):
        return self.terminal

    @property
    def encoding(self):
        return self._encoding


def test_colour_only_for_a_terminal_without_no_color(monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    assert render.text_options(Stream(True))["color"] and not render.text_options(Stream(False))["color"]
    monkeypatch.setenv("NO_COLOR", "1")
    assert not render.text_options(Stream(True))["color"]
    monkeypatch.delenv("NO_COLOR")
    monkeypatch.setenv("TERM", "dumb")
    assert not render.text_options(Stream(True))["color"]


def test_ascii_boxes_where_the_encoding_lacks_box_characters():
    assert render.text_options(Stream(False, "utf-8"))["box"] == render.UNICODE_BOX
    box = render.text_options(Stream(False, "latin-1"))["box"]
    assert box == render.ASCII_BOX
    text = render.box_table("t", ["a", "b"], [["x", "1"]], ["Total", "1"], [False, True], box=box)
    assert text.splitlines()[1:] == ["+-------+---+", "| a     | b |", "+=======+===+", "| x     | 1 |",
                                     "+-------+---+", "| Total | 1 |", "+-------+---+"]
    text.encode("ascii")


def test_analyze_prints_on_a_latin_1_terminal():
    env = {**os.environ, "PYTHONIOENCODING": "latin-1"}
    result = subprocess.run([sys.executable, "-m", "cnnspec", "analyze", "lenet5"], capture_output=True, env=env,
                            timeout=60)
    assert result.returncode == 0 and b"| Total " in result.stdout and b"61,706" in result.stdout, result.stderr


def test_analysis_table_has_one_line_per_layer_and_marks_warned_rows():
    spec = ("input: [3, 224, 224]\nlayers:\n  - {type: conv2d, out_channels: 96, kernel_size: 11, stride: 4}\n"
            "  - relu\n  - flatten\n  - {type: linear, out_features: 10}\n")
    analysis = cnnspec.analyze(build_graph(cnnspec.parse_spec(spec, "floored.yaml")))
    warned = {name for name, _ in analysis.warnings}
    assert warned == {"conv1"}, "(224 - 11)/4 + 1 = 54.25 is floored"
    lines = render.to_text(analysis, color=True).splitlines()
    body = lines[4:4 + len(analysis.rows)]
    assert len(lines) == len(analysis.rows) + 7
    for row, line in zip(analysis.rows, body):
        assert line.startswith(f"│\x1b[33m {row.name} ") == (row.name in warned)
    assert "2,834,314" in lines[-2] and lines[-2].startswith("│\x1b[1m Total ")


def test_analyze_never_imports_rich():
    script = ("import sys\nfrom cnnspec.cli import app\n"
              "try:\n    app(['analyze', 'vgg16'])\nexcept SystemExit as exit:\n    assert exit.code in (0, None)\n"
              "print('rich imported' if 'rich' in sys.modules else 'no rich')")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.stdout.strip().endswith("no rich"), result.stderr


def test_json_is_the_analysis_with_one_layer_per_line():
    analysis = cnnspec.analyze(cnnspec.load("resnet18"))
    text = render.to_json(analysis)
    assert json.loads(text) == json.loads(json.dumps(analysis.to_dict()))
    row_lines = [line for line in text.splitlines() if line.startswith('    {"name": ')]
    assert len(row_lines) == len(analysis.rows) == 70
    assert '"totals": {\n    "params": 11689512,' in text


def test_human_units_round_to_significant_digits_and_roll_over():
    assert [render.human(v, digits=3) for v in (0, 999, 1792, 36928, 86_704_128, 999_999, 999_499, 138_357_544)] == [
        "0", "999", "1.79K", "36.9K", "86.7M", "1M", "999K", "138M"]
    assert render.human(999_999_999) == "1G" and render.human(5 * 10**16) == "50,000T"


def columns_for_fitting():
    return [render.TextColumn("name", ["conv1", "fc", "Total"]),
            render.TextColumn("kind", ["conv2d", "linear", ""], hide=0),
            render.TextColumn("Params", ["1,792", "102,764,544", "102,766,336"], True, ["1.79K", "103M", "103M"]),
            render.TextColumn("note", ["a long remark about the layer", "short", ""], wrap=True)]


def test_fit_rounds_then_wraps_then_hides_and_never_cuts_a_figure():
    columns = columns_for_fitting()
    assert render.fit(columns, None).columns == columns and render.fit(columns, 200).columns == columns
    fitted = render.fit(columns, 50)
    assert [c.header for c in fitted.columns] == ["name", "kind", "Params", "note"]
    assert fitted.rounded == ["Params"] and fitted.hidden == [] and fitted.columns[2].cells[1] == "103M"
    assert render.table_width(fitted.columns) <= 50
    narrow = render.fit(columns, 30)
    assert narrow.hidden == ["kind"] and narrow.columns[-1].lines[0] == "a long\nremark\nabout the\nlayer"
    text = render.draw("t", narrow, True, width=30)
    assert max(map(len, text.splitlines())) <= 30 and "103M" in text
    assert "hidden: kind" in " ".join(narrow.note(30, "See --columns.").split())
    tiny = render.fit(columns, 5)
    assert [c.cells[1] for c in tiny.columns if c.header == "Params"] == ["103M"], "too narrow: drawn wider, uncut"


def test_a_fitted_analysis_keeps_every_row_and_the_totals():
    analysis = cnnspec.analyze(cnnspec.load("vgg16"))
    text = render.to_text(analysis, width=80)
    assert max(map(render.text_width, text.splitlines())) <= 80
    assert "│ Total              │             │   138M │ 15.5G │   31G │  15.2M │" in text
    assert "Fitted to 80 columns" in text and "hidden: type" in " ".join(text.split())
    assert "Fitted" not in render.to_text(analysis) and "138,357,544" in render.to_text(analysis)
