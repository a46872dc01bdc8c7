"""Analysis -> boxed text table, Markdown, CSV, JSON. Formatting only: no number is computed here."""
from __future__ import annotations

import csv
import io
import json
import os
import unicodedata
from typing import Callable

from .analysis import Analysis, Row
from .shape import format_shape

UNITS = [(10**12, "T"), (10**9, "G"), (10**6, "M"), (10**3, "K")]


def human(value: int | float, unit: str = "") -> str:
    """138357544 -> '138.4M'; keeps four significant digits at most.

    >>> human(15470264320)
    '15.47G'
    """
    for scale, prefix in UNITS:
        if abs(value) >= scale:
            return f"{value / scale:.4g}{prefix}{unit}"
    return f"{value:g}{unit}" if isinstance(value, float) else f"{value}{unit}"


def human_bytes(value: int) -> str:
    """Decimal units, as the course's '61 MB': 60950432 -> '60.95 MB'."""
    for scale, prefix in UNITS:
        if value >= scale:
            return f"{value / scale:.4g} {prefix if prefix != 'K' else 'k'}B"
    return f"{value} B"


def grouped(value: int) -> str:
    return f"{value:,}"


Column = tuple[str, Callable[[Row, Analysis], object], str]
COLUMNS: dict[str, Column] = {
    "name": ("Layer", lambda r, a: r.name, "left"),
    "type": ("Type", lambda r, a: r.type, "left"),
    "output": ("Output", lambda r, a: format_shape(r.shape), "left"),
    "params": ("Params", lambda r, a: r.params, "right"),
    "trainable": ("Trainable", lambda r, a: r.trainable, "right"),
    "weights": ("Weights (no bias)", lambda r, a: r.params - r.bias, "right"),
    "buffers": ("Buffers", lambda r, a: r.buffers, "right"),
    "macs": ("MACs", lambda r, a: r.macs, "right"),
    "flops": ("FLOPs", lambda r, a: r.flops, "right"),
    "memory": ("Memory (values)", lambda r, a: r.memory, "right"),
    "bytes": ("Memory (bytes)", lambda r, a: r.memory * a.bytes_per_value, "right"),
    "rf": ("Receptive field", lambda r, a: r.receptive_size, "right"),
}
DEFAULT_COLUMNS = ["name", "type", "output", "params", "macs", "flops", "memory", "rf"]
TOTALS = {"params": "params", "trainable": "trainable", "buffers": "buffers", "macs": "macs", "flops": "flops",
          "memory": "memory"}


def cell(value: object) -> str:
    return grouped(value) if isinstance(value, int) else str(value)


def table_cells(analysis: Analysis, columns: list[str]) -> tuple[list[str], list[list[str]], list[str]]:
    """Header, one row of strings per layer, and the totals row."""
    header = [COLUMNS[c][0] for c in columns]
    rows = [[cell(COLUMNS[c][1](row, analysis)) for c in columns] for row in analysis.rows]
    return header, rows, [cell(value) for value in column_totals(analysis, columns)]


def column_totals(analysis: Analysis, columns: list[str]) -> list[int | str]:
    """The totals row: the sum under each column that adds up, 'Total' under the first other one."""
    totals: list[int | str] = []
    for c in columns:
        if c in TOTALS:
            totals.append(getattr(analysis.totals, TOTALS[c]))
        elif c == "bytes":
            totals.append(analysis.totals.memory * analysis.bytes_per_value)
        elif c == "weights":
            totals.append(analysis.totals.params - analysis.totals.bias)
        else:
            totals.append("Total" if not totals else "")
    return totals


def summary_lines(analysis: Analysis) -> list[str]:
    t, size = analysis.totals, analysis.bytes_per_value
    last = analysis.row(analysis.outputs[0])
    outputs = ", ".join(f"{name} {format_shape(analysis.row(name).shape)}" for name in analysis.outputs)
    train = analysis.training
    lines = [
        f"Input {format_shape(analysis.input_shape)} -> {outputs}",
        f"Params: {grouped(t.params)} ({human(t.params)}); trainable {grouped(t.trainable)}, "
        f"non-trainable {grouped(t.non_trainable)}, buffers {grouped(t.buffers)}; "
        f"weights {human_bytes(analysis.weight_bytes)} in {analysis.dtype}",
        f"MACs: {grouped(t.macs)} ({human(t.macs)})   FLOPs: {grouped(t.flops)} ({human(t.flops)})",
        f"Forward memory per image: {grouped(t.memory)} values = {human_bytes(t.memory * size)} in {analysis.dtype}; "
        f"peak live {grouped(analysis.peak_memory)} values = {human_bytes(analysis.peak_memory * size)} "
        f"(at {analysis.peak_at})",
        f"Training memory, batch {train.batch}, {train.optimizer}: {human_bytes(train.total)} "
        f"(weights {human_bytes(train.weights)}, gradients {human_bytes(train.gradients)}, "
        f"optimizer {human_bytes(train.optimizer_state)}, activations {human_bytes(train.activations)})",
        f"Receptive field of {last.name}: {last.receptive_size}",
        f"Convention: {analysis.convention}",
    ]
    lines += [f"warning: {name}: {message}" for name, message in analysis.warnings]
    return lines


def to_markdown(analysis: Analysis, columns: list[str] = DEFAULT_COLUMNS) -> str:
    header, rows, totals = table_cells(analysis, columns)
    align = ["---:" if COLUMNS[c][2] == "right" else "---" for c in columns]
    lines = ["| " + " | ".join(cells) + " |" for cells in (header, align, *rows)]
    lines.append("| " + " | ".join(f"**{v}**" if v else "" for v in totals) + " |")
    return "\n".join(lines) + "\n"


def to_csv(analysis: Analysis, columns: list[str] = DEFAULT_COLUMNS) -> str:
    """Raw integers (no thousands separators), one row per layer, then the totals."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in analysis.rows:
        writer.writerow([COLUMNS[c][1](row, analysis) for c in columns])
    writer.writerow(column_totals(analysis, columns))
    return out.getvalue()


def columns_json(analysis: Analysis, columns: list[str]) -> str:
    """The chosen columns only, with the raw values of the CSV: one object per layer, then the totals."""
    rows = [{c: COLUMNS[c][1](row, analysis) for c in columns} for row in analysis.rows]
    totals = {c: value for c, value in zip(columns, column_totals(analysis, columns)) if isinstance(value, int)}
    return json.dumps({"name": analysis.name, "path": analysis.path, "dtype": analysis.dtype, "columns": columns,
                       "rows": rows, "totals": totals, "convention": analysis.convention}, indent=2) + "\n"


def to_json(analysis: Analysis) -> str:
    """Indented, one layer per line: readable and diffable, and fast (json's indenting encoder is pure
    Python and took 0.3 s on a 10,000-layer spec, the compact one 0.05 s)."""
    data = analysis.to_dict()
    rows = ",\n".join(f"    {json.dumps(row)}" for row in data["rows"])
    fields = []
    for key, value in data.items():
        if key == "rows" and rows:
            text = f"[\n{rows}\n  ]"
        elif isinstance(value, dict):
            text = json.dumps(value, indent=2).replace("\n", "\n  ")
        else:
            text = json.dumps(value)
        fields.append(f"  {json.dumps(key)}: {text}")
    return "{\n" + ",\n".join(fields) + "\n}\n"


def to_text(analysis: Analysis, columns: list[str] = DEFAULT_COLUMNS, color: bool = False,
            box: tuple[str, ...] | None = None) -> str:
    """The boxed per-layer table with totals as its last row, and the title above it; warned rows yellow."""
    header, rows, totals = table_cells(analysis, columns)
    warned = {name for name, _ in analysis.warnings}
    return box_table(f"{analysis.name}  ({analysis.path})", header, rows, totals,
                     [COLUMNS[c][2] == "right" for c in columns],
                     ["yellow" if row.name in warned else None for row in analysis.rows], color, box)


# --- boxed text tables --------------------------------------------------------------------------
# The analyze table is drawn here rather than by rich: rich's import and layout took ~60 ms of the
# ~0.25 s that `cnnspec analyze` used to take, a quarter of the command (bench/analyze_speed.py).

ANSI = {"bold": "\x1b[1m", "italic": "\x1b[3m", "yellow": "\x1b[33m"}
UNICODE_BOX = ("┏━┳┓", "┃", "┡━╇┩", "│", "├─┼┤", "└─┴┘")
"""Top rule, header edge, header rule, body edge, footer rule, bottom rule (left, fill, cross, right)."""
ASCII_BOX = ("+-++", "|", "+=++", "|", "+-++", "+-++")


def text_options(stream) -> dict:
    """How to draw for ``stream``: colour only for a terminal, and never when NO_COLOR is set
    (no-color.org) or TERM is dumb; ASCII boxes where the encoding lacks the box characters."""
    color = stream.isatty() and "NO_COLOR" not in os.environ and os.environ.get("TERM") != "dumb"
    try:
        "".join(UNICODE_BOX).encode(stream.encoding or "utf-8")
    except (UnicodeEncodeError, LookupError):
        return {"color": color, "box": ASCII_BOX}
    return {"color": color, "box": UNICODE_BOX}


def paint(text: str, style: str | None, color: bool) -> str:
    return f"{ANSI[style]}{text}\x1b[0m" if color and style and text else text


def text_width(text: str) -> int:
    """Terminal columns: East Asian wide characters take two."""
    if text.isascii():
        return len(text)
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def box_table(title: str, header: list[str], rows: list[list[str]], footer: list[str] | None,
              right_aligned: list[bool], row_styles: list[str | None] | None = None, color: bool = False,
              box: tuple[str, ...] | None = None) -> str:
    """A table drawn with box characters (heavy header, light body), never truncated or wrapped.

    Padded column by column with str.rjust/ljust: a 10,000-layer table takes ~0.05 s."""
    top, header_edge, header_rule, body_edge, footer_rule, bottom = box or UNICODE_BOX
    table = [header, *rows, *([footer] if footer else [])]
    styles = ["bold", *(row_styles or [None] * len(rows)), "bold"]
    widths, columns = [], []
    for column, right in zip(zip(*table), right_aligned):
        width = max(map(text_width, column))
        widths.append(width)
        columns.append([f" {_aligned(text, width, right)} " for text in column])
    lines = []
    for index, cells in enumerate(zip(*columns)):
        if color and styles[index]:
            cells = [paint(text, styles[index], color) for text in cells]
        edge = header_edge if index == 0 else body_edge
        lines.append(edge + edge.join(cells) + edge)

    def rule(left: str, fill: str, cross: str, right: str) -> str:
        return left + cross.join(fill * (w + 2) for w in widths) + right

    table_width = sum(widths) + 3 * len(widths) + 1
    indent = " " * max(0, (table_width - text_width(title)) // 2)
    drawn = [indent + paint(title, "italic", color), rule(*top), lines[0], rule(*header_rule),
             *lines[1:len(rows) + 1]]
    if footer:
        drawn += [rule(*footer_rule), lines[-1]]
    drawn.append(rule(*bottom))
    return "\n".join(drawn) + "\n"


def _aligned(text: str, width: int, right: bool) -> str:
    if not text.isascii():
        width -= text_width(text) - len(text)
    return text.rjust(width) if right else text.ljust(width)


# --- comparisons (cnnspec compare) -----------------------------------------------------------

def comparison_cells(labels: list[str], lines) -> tuple[list[str], list[list[str]]]:
    """Header and rows for compared quantities; each value after the first carries its ratio."""
    rows = []
    for line in lines:
        cells = [line.label]
        for index, (value, ratio) in enumerate(zip(line.values, line.ratios)):
            text = cell(value)
            cells.append(text if index == 0 or ratio is None else f"{text} ({ratio:.3g}x)")
        rows.append(cells)
    return ["", *labels], rows


def comparison_markdown(labels: list[str], lines) -> str:
    header, rows = comparison_cells(labels, lines)
    align = ["---", *["---:"] * len(labels)]
    return "\n".join("| " + " | ".join(cells) + " |" for cells in (header, align, *rows)) + "\n"


def comparison_csv(labels: list[str], lines) -> str:
    """Raw values, then one ratio column per compared design after the first."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["quantity", *labels, *(f"{label}/{labels[0]}" for label in labels[1:])])
    for line in lines:
        ratios = ["" if r is None else f"{r:.6g}" for r in line.ratios[1:]]
        writer.writerow([line.label, *line.values, *ratios])
    return out.getvalue()


def comparison_json(labels: list[str], lines, extra: dict | None = None) -> str:
    data = {"designs": labels, "rows": [{"quantity": line.label, "values": line.values, "ratios": line.ratios}
                                        for line in lines]}
    return json.dumps({**data, **(extra or {})}, indent=2) + "\n"


def comparison_rich(title: str, labels: list[str], lines):
    from rich.table import Table

    header, rows = comparison_cells(labels, lines)
    table = Table(title=title, header_style="bold")
    for index, label in enumerate(header):
        table.add_column(label, justify="left" if index == 0 else "right", no_wrap=True)
    for cells in rows:
        table.add_row(*cells)
    return table


# --- what-if savings (cnnspec whatif) ----------------------------------------------------------

SAVING_FIGURES = ("weights_before", "weights_after", "params_before", "params_after", "macs_before", "macs_after",
                  "macs_saved")
SAVING_HEADER = ["transform", "change", "weights", "after", "params", "after", "MACs", "after", "MACs saved"]


def saving_cells(saving) -> list[str]:
    figures = [cell(getattr(saving, name)) for name in SAVING_FIGURES[:-1]]
    share = f"{saving.macs_saved / saving.macs_before:.0%}" if saving.macs_before else "-"
    return [saving.transform, saving.description, *figures, share]


def savings_markdown(found) -> str:
    align = ["---", "---", *["---:"] * (len(SAVING_HEADER) - 2)]
    rows = [SAVING_HEADER, align, *(saving_cells(s) for s in found)]
    return "\n".join("| " + " | ".join(cells) + " |" for cells in rows) + "\n"


def savings_csv(found) -> str:
    """Raw integers, one row per transform; 'weights' are params without bias."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["transform", "layer", "change", *SAVING_FIGURES])
    for s in found:
        writer.writerow([s.transform, s.layer, s.description, *(getattr(s, name) for name in SAVING_FIGURES)])
    return out.getvalue()


def savings_json(found, extra: dict) -> str:
    records = [{"transform": s.transform, "layer": s.layer, "change": s.description,
                **{name: getattr(s, name) for name in SAVING_FIGURES}} for s in found]
    return json.dumps({"savings": records, **extra}, indent=2) + "\n"


def savings_rich(title: str, found):
    from rich.table import Table

    table = Table(title=title, header_style="bold")
    for index, label in enumerate(SAVING_HEADER):
        table.add_column(label, justify="left" if index < 2 else "right", no_wrap=index < 1)
    for s in found:
        table.add_row(*saving_cells(s))
    return table


def mlp_line(mlp, analysis: Analysis) -> str:
    totals = analysis.totals
    return (f"MLP equivalent (a dense layer between the same tensors for every layer with weights): "
            f"{grouped(mlp.weights)} weights, {grouped(mlp.params)} with bias; this design has "
            f"{grouped(totals.params - totals.bias)} weights, {grouped(totals.params)} with bias")
