"""Analysis -> boxed text table, Markdown, CSV, JSON. Formatting only: no number is computed here."""
from __future__ import annotations

import csv
import dataclasses
import functools
import html
import io
import json
import os
import shutil
import textwrap
import unicodedata
from dataclasses import dataclass, field
from typing import Callable

from .analysis import Analysis, Row
from .memory import PRECISIONS
from .shape import format_shape

UNITS = [(10**12, "T"), (10**9, "G"), (10**6, "M"), (10**3, "K")]


def human(value: int | float, unit: str = "", digits: int = 4) -> str:
    """138357544 -> '138.4M': rounded to ``digits`` significant digits, in the largest unit below it
    (999,999 -> '1M' at 3 digits, never '1e+03K').

    >>> human(15470264320)
    '15.47G'
    >>> human(1792, digits=3), human(86704128, digits=3), human(999999, digits=3)
    ('1.79K', '86.7M', '1M')
    """
    if abs(value) < UNITS[-1][0]:
        return f"{value:g}{unit}" if isinstance(value, float) else f"{value}{unit}"
    for scale, prefix in reversed(UNITS):
        text = f"{value / scale:.{digits}g}"
        if abs(float(text)) < 1000:
            return f"{text}{prefix}{unit}"
    return f"{grouped(round(value / UNITS[0][0]))}{UNITS[0][1]}{unit}"


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
    "read": ("Bytes read", lambda r, a: r.bytes_read, "right"),
    "written": ("Bytes written", lambda r, a: r.bytes_written, "right"),
    "intensity": ("FLOPs/byte", lambda r, a: "-" if r.intensity is None else r.intensity, "right"),
    "bound": ("Bound (estimate)", lambda r, a: r.bound or "-", "left"),
    "time": ("Time >= (us, estimate)", lambda r, a: "-" if r.seconds is None else r.seconds * 1e6, "right"),
}
DEFAULT_COLUMNS = ["name", "type", "output", "params", "macs", "flops", "memory", "rf"]
ROOFLINE_COLUMNS = ["name", "type", "flops", "read", "written", "intensity", "bound", "time"]
"""The default with --roofline: traffic, intensity and the estimate."""
NEEDS_ROOFLINE = ("bound", "time")
TOTALS = {"params": "params", "trainable": "trainable", "buffers": "buffers", "macs": "macs", "flops": "flops",
          "memory": "memory"}


def cell(value: object) -> str:
    """An int grouped (1,792), a float to 4 significant digits (143.3), text as it is."""
    return grouped(value) if isinstance(value, int) else f"{value:.4g}" if isinstance(value, float) else str(value)


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
        elif c in ("read", "written"):
            totals.append(getattr(analysis.totals, f"bytes_{c}"))
        elif c == "intensity" and analysis.intensity is not None:
            totals.append(analysis.intensity)
        elif c == "time" and analysis.roofline is not None:
            totals.append(analysis.roofline.seconds * 1e6)
        else:
            totals.append("Total" if not totals else "")
    return totals


OPTIMIZER_STATE_NAMES = {"sgd": "", "sgd-momentum": "momentum", "adam": "Adam state", "adamw": "AdamW state"}


def priced(analysis: Analysis) -> str:
    """What is stored in which dtype, in words: 'weights, gradients and Adam state fp32, activations bf16 where
    autocast lowers them'."""
    mode = PRECISIONS[analysis.precision]
    state = OPTIMIZER_STATE_NAMES[analysis.training.optimizer]
    kept = f"weights, gradients and {state}" if state else "weights and gradients"
    if mode.autocast:
        return (f"{analysis.precision}: {kept} {mode.weights}, activations {mode.low} where autocast lowers them, "
                f"fp32 where it keeps them")
    return f"{analysis.precision}: everything in {mode.low}"


def memory_lines(analysis: Analysis) -> list[str]:
    """The bytes PyTorch spends (cnnspec/memory.py), each figure named by what it counts."""
    spent, train = analysis.footprint, analysis.training
    rules = "CUDA's autocast lists and foreach optimizer" if spent.device == "cuda" else "the CPU's"
    return [
        f"Memory as PyTorch spends it, batch {spent.batch}, {priced(analysis)} ({rules}):",
        f"  eval forward creates {human_bytes(spent.eval_created)}; eager peak {human_bytes(spent.eval_peak)} "
        f"(at {spent.eval_peak_at}: the built model's order, each tensor freed after its last reader)",
        f"  training, {train.optimizer}: {human_bytes(train.total)} = weights {human_bytes(train.weights)} + "
        f"gradients {human_bytes(train.gradients)} + optimizer {human_bytes(train.optimizer_state)} + "
        f"kept for backward {human_bytes(train.activations)}; step peak {human_bytes(train.peak)} "
        f"(at {train.peak_at})",
    ]


def summary_lines(analysis: Analysis) -> list[str]:
    t, size = analysis.totals, analysis.bytes_per_value
    last = analysis.row(analysis.outputs[0])
    outputs = ", ".join(f"{name} {format_shape(analysis.row(name).shape)}" for name in analysis.outputs)
    train = analysis.training
    lines = [
        f"Input {format_shape(analysis.input_shape)} -> {outputs}",
        f"Params: {grouped(t.params)} ({human(t.params)}); trainable {grouped(t.trainable)}, "
        f"non-trainable {grouped(t.non_trainable)}, buffers {grouped(t.buffers)}; "
        f"weights {human_bytes(analysis.weight_bytes)} in {PRECISIONS[analysis.precision].weights}",
        f"MACs: {grouped(t.macs)} ({human(t.macs)})   FLOPs: {grouped(t.flops)} ({human(t.flops)})",
        *per_output_lines(analysis),
        f"Forward memory per image: {grouped(t.memory)} values = {human_bytes(t.memory * size)} in {analysis.dtype}; "
        f"peak live {grouped(analysis.peak_memory)} values = {human_bytes(analysis.peak_memory * size)} "
        f"(at {analysis.peak_at}; layer outputs only, in layer order)",
        *memory_lines(analysis),
        traffic_line(analysis),
        *roofline_lines(analysis),
        f"Receptive field of {last.name}: {last.receptive_size}" + (
            " (the local field; through a pooled map broadcast back, it also sees the whole input)"
            if last.global_context else ""),
        f"Convention: {analysis.convention}",
    ]
    lines += [f"warning: {name}: {message}" for name, message in analysis.warnings]
    return lines


def traffic_line(analysis: Analysis) -> str:
    t, batch = analysis.totals, analysis.training.batch
    intensity = "" if analysis.intensity is None else f"; {analysis.intensity:.3g} FLOPs per byte"
    return (f"Memory traffic, one inference forward of batch {batch} in {analysis.dtype}: read "
            f"{human_bytes(t.bytes_read)}, written {human_bytes(t.bytes_written)}{intensity}")


def roofline_lines(analysis: Analysis) -> list[str]:
    """The estimate, labelled as one, with the peaks it used and where they come from."""
    r = analysis.roofline
    if r is None:
        return []
    return [f"Roofline estimate on {r.name}: at least {human_seconds(r.seconds)} per forward of batch "
            f"{analysis.training.batch} ({r.compute_bound} layers compute-bound, {r.memory_bound} memory-bound), "
            f"at {r.peak / 1e12:.4g} TFLOP/s {r.math} and {r.bandwidth / 1e12:.4g} TB/s (ridge "
            f"{r.ridge:.3g} FLOPs/byte); a lower bound from data-sheet peaks, not a measurement",
            f"  peaks from the data sheet: {r.source}"]


def human_seconds(seconds: float) -> str:
    """0.000649 -> '649 us'; 0.0123 -> '12.3 ms'."""
    for scale, unit in ((1, "s"), (1e-3, "ms"), (1e-6, "us")):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds * 1e9:.3g} ns"


def per_output_lines(analysis: Analysis) -> list[str]:
    """With several outputs, which figure is which: the totals above count every layer once; each output's
    count the layers that feed it (what ``--output NAME`` analyzes)."""
    if len(analysis.output_totals) < 2:
        return []
    lines = [f"Params and MACs above: all {len(analysis.output_totals)} outputs. Each output with the layers that "
             "feed it (--output NAME):"]
    for name, t in analysis.output_totals.items():
        lines.append(f"  {name}: {grouped(t.params)} params ({human(t.params)}), {grouped(t.macs)} MACs "
                     f"({human(t.macs)})")
    return lines


def to_markdown(analysis: Analysis, columns: list[str] = DEFAULT_COLUMNS) -> str:
    header, rows, totals = table_cells(analysis, columns)
    align = ["---:" if COLUMNS[c][2] == "right" else "---" for c in columns]
    lines = ["| " + " | ".join(cells) + " |" for cells in (header, align, *rows)]
    lines.append("| " + " | ".join(f"**{v}**" if v else "" for v in totals) + " |")
    return "\n".join(lines) + "\n"


def published(expect, key: str) -> str:
    """A figure of a spec's expect: as it is written there (an exact int grouped, '4.089G' as is), or ''."""
    value = expect.get(key, "") if isinstance(expect, dict) else ""
    value = value.get("value", "") if isinstance(value, dict) else value
    return cell(value)


ModelColumn = tuple[str, Callable[[Analysis, object], object]]
MODEL_COLUMNS: dict[str, ModelColumn] = {
    "name": ("Model", lambda a, expect: a.name),
    "input": ("Input", lambda a, expect: format_shape(a.input_shape)),
    "params": ("Params", lambda a, expect: a.totals.params),
    "macs": ("MACs", lambda a, expect: a.totals.macs),
    "memory": ("Memory (values)", lambda a, expect: a.totals.memory),
    "peak_memory": ("Peak memory (values)", lambda a, expect: a.peak_memory),
    "published_params": ("Published params", lambda a, expect: published(expect, "params")),
    "published_macs": ("Published MACs", lambda a, expect: published(expect, "macs")),
}
"""Columns of a table with one row per model (a managed ``models=`` table); 'published' is the spec's expect:."""


def models_to_markdown(models: list[tuple[Analysis, object]], columns: list[str]) -> str:
    """One row per (analysis, its spec's expect:) pair; the name and input left, figures right."""
    align = ["---" if c in ("name", "input") else "---:" for c in columns]
    rows = [[cell(MODEL_COLUMNS[c][1](analysis, expect)) for c in columns] for analysis, expect in models]
    lines = ["| " + " | ".join(cells) + " |" for cells in ([MODEL_COLUMNS[c][0] for c in columns], align, *rows)]
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


SHORT_HEADERS = {"weights": "Weights", "memory": "Memory", "bytes": "Bytes", "rf": "RF", "read": "Read",
                 "written": "Written", "intensity": "FLOP/B", "bound": "Bound est.", "time": "Est. us"}
HIDE_ORDER = ("type", "flops", "rf", "trainable", "buffers", "weights", "bytes", "written", "read", "memory", "output",
              "intensity")
"""Columns hidden first on a narrow terminal; the name, params and MACs stay (FLOPs too, shown alone)."""
FIT_HINT = "Exact, every column: --format md, csv or json, or a pipe; choose with --columns."


def records(analysis: Analysis) -> list[dict]:
    """One plain dict per layer: shapes as tuples, the receptive field as text ('3x3', None if none)."""
    return [{"name": r.name, "type": r.type, "block": r.block, "inputs": tuple(r.inputs), "output": format_shape(r.shape),
             "shape": tuple(r.shape), "params": r.params, "trainable": r.trainable, "bias": r.bias,
             "buffers": r.buffers, "macs": r.macs, "flops": r.flops, "values": r.values, "memory": r.memory,
             "receptive_field": None if r.receptive_size == "-" else r.receptive_size, "warnings": list(r.warnings),
             "bytes_read": r.bytes_read, "bytes_written": r.bytes_written, "intensity": r.intensity,
             "seconds": r.seconds, "bound": r.bound}
            for r in analysis.rows]


def to_pandas(analysis: Analysis):
    """``records`` as a DataFrame indexed by layer name; pandas is imported only here."""
    try:
        import pandas
    except ModuleNotFoundError:
        raise ModuleNotFoundError("Analysis.to_pandas needs pandas: pip install pandas", name="pandas") from None
    return pandas.DataFrame.from_records(records(analysis), index="name")


HTML_ROWS = 40
"""Above this many layers, the notebook table collapses blocks (as --depth) until it fits."""


def to_html(analysis: Analysis) -> str:
    """A compact HTML table for Jupyter: the totals, then one row per layer (or per block, deep
    blocks collapsed, when there are more than HTML_ROWS layers)."""
    from .collapse import collapse
    shown, note = analysis, ""
    for depth in range(max((r.block or "").count(".") + 1 for r in analysis.rows) - 1, -1, -1):
        if len(shown.rows) <= HTML_ROWS:
            break
        shown = collapse(analysis, depth)
        note = f"blocks collapsed as by --depth {depth}; every layer: .rows or .to_pandas()"
    columns = ["name", "type", "output", "params", "macs", "memory", "rf"]
    header, rows, totals = table_cells(shown, columns)

    def line(cells, tag="td"):
        return "<tr>" + "".join(f'<{tag} style="text-align:{"right" if COLUMNS[c][2] == "right" else "left"}">'
                                f"{html.escape(text)}</{tag}>" for c, text in zip(columns, cells)) + "</tr>"

    t = analysis.totals
    caption = (f"{analysis.name}: input {format_shape(analysis.input_shape)}, {grouped(t.params)} params, "
               f"{grouped(t.macs)} MACs, {grouped(t.memory)} values of forward memory"
               + (f" ({note})" if note else ""))
    return (f"<table><caption>{html.escape(caption)}</caption><thead>{line(header, 'th')}</thead><tbody>"
            + "".join(line(cells) for cells in rows) + f"</tbody><tfoot>{line(totals, 'th')}</tfoot></table>")


def to_text(analysis: Analysis, columns: list[str] = DEFAULT_COLUMNS, color: bool = False,
            box: tuple[str, ...] | None = None, width: int | None = None, hint: str = FIT_HINT) -> str:
    """The boxed per-layer table with totals as its last row, and the title above it; warned rows yellow.

    With ``width`` (a terminal's), fitted to it (see ``fit``), with a note of what was given up."""
    fitted = fit(analysis_columns(analysis, columns, rounding=width is not None), width)
    warned = {name for name, _ in analysis.warnings}
    text = draw(f"{analysis.name}  ({shown_path(analysis.path)})", fitted, True,
                ["yellow" if row.name in warned else None for row in analysis.rows], color, box, width)
    note = fitted.note(width, hint)
    return text + (note + "\n" if note else "")


def analysis_columns(analysis: Analysis, columns: list[str], rounding: bool = False) -> list[TextColumn]:
    """One TextColumn per chosen column, totals last; with ``rounding``, the human-unit cells too."""
    totals = column_totals(analysis, columns)
    hide = [c for c in HIDE_ORDER if c != "flops" or "macs" in columns]
    made = []
    for key, total in zip(columns, totals):
        header, value, align = COLUMNS[key]
        values = [value(row, analysis) for row in analysis.rows] + [total]
        figures = rounding and align == "right" and key != "rf"
        made.append(TextColumn(header, [cell(v) for v in values], align == "right",
                               [human(v, digits=3) if isinstance(v, int) else cell(v) for v in values] if figures else None,
                               SHORT_HEADERS.get(key), hide.index(key) if key in hide else None, key=key))
    return made


def shown_path(path: str) -> str:
    """A spec's path as the title shows it: relative to the working directory when inside it."""
    try:
        relative = os.path.relpath(path)
    except ValueError:  # another drive on Windows
        return path
    return path if relative.startswith("..") else relative


# --- boxed text tables --------------------------------------------------------------------------
# The analyze table is drawn here rather than by rich: rich's import and layout took ~60 ms of the
# ~0.25 s that `cnnspec analyze` used to take, a quarter of the command (bench/analyze_speed.py).

ANSI = {"bold": "\x1b[1m", "italic": "\x1b[3m", "yellow": "\x1b[33m", "red": "\x1b[31m", "green": "\x1b[32m"}
UNICODE_BOX = ("┏━┳┓", "┃", "┡━╇┩", "│", "├─┼┤", "└─┴┘")
"""Top rule, header edge, header rule, body edge, footer rule, bottom rule (left, fill, cross, right)."""
ASCII_BOX = ("+-++", "|", "+=++", "|", "+-++", "+-++")


def text_options(stream) -> dict:
    """How to draw for ``stream``: colour only for a terminal, and never when NO_COLOR is set
    (no-color.org) or TERM is dumb; ASCII boxes where the encoding lacks the box characters; on a
    terminal, the width to fit (None when piped: every column, exact digits)."""
    terminal = stream.isatty()
    color = terminal and "NO_COLOR" not in os.environ and os.environ.get("TERM") != "dumb"
    width = shutil.get_terminal_size().columns if terminal else None
    try:
        "".join(UNICODE_BOX).encode(stream.encoding or "utf-8")
    except (UnicodeEncodeError, LookupError):
        return {"color": color, "box": ASCII_BOX, "width": width}
    return {"color": color, "box": UNICODE_BOX, "width": width}


def paint(text: str, style: str | None, color: bool) -> str:
    return f"{ANSI[style]}{text}\x1b[0m" if color and style and text else text


def text_width(text: str) -> int:
    """Terminal columns: East Asian wide characters take two."""
    if text.isascii():
        return len(text)
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def wrapped(text: str, width: int | None, indent: str = "") -> str:
    """``text`` wrapped to ``width`` columns between words (so never inside a figure); as it is
    when ``width`` is None or a word is longer."""
    if width is None or text_width(text) <= width:
        return text
    return "\n".join(textwrap.wrap(text, width, subsequent_indent=indent, break_long_words=False,
                                   break_on_hyphens=False)) or text


@dataclass
class TextColumn:
    """A column of a text table: its exact cells, and what it may give up to fit a narrow terminal."""
    header: str
    cells: list[str]  # one per body row, then the footer's
    right: bool = False
    human: list[str] | None = None  # the same figures rounded to 3 significant digits ('1.79K', '86.7M')
    short: str | None = None  # a shorter header
    hide: int | None = None  # hidden in this order (lowest first) when nothing else fits; None: always shown
    wrap: bool = False  # text that may wrap onto several lines between words
    key: str = ""  # the name a note calls it by (an option's value: --columns flops); default the header
    wrap_width: int | None = None  # where ``fit`` wraps it

    @functools.cached_property
    def lines(self) -> list[str]:
        """The cells as drawn: wrapped at ``wrap_width``."""
        return self.cells if self.wrap_width is None else [wrapped(text, self.wrap_width) for text in self.cells]

    @functools.cached_property
    def width(self) -> int:
        return max(text_width(line) for text in (self.header, *self.lines) for line in text.split("\n"))

    @property
    def narrowest(self) -> int:
        """The width of its longest word: narrower than that, wrapping would cut a word."""
        return max(text_width(word) for text in (self.header, *self.cells) for word in text.split() or [""])

    @property
    def name(self) -> str:
        return self.key or self.header


def table_width(columns: list[TextColumn]) -> int:
    return sum(column.width for column in columns) + 3 * len(columns) + 1


@dataclass
class Fitted:
    columns: list[TextColumn]
    rounded: list[str] = field(default_factory=list)  # the columns shown in human units
    hidden: list[str] = field(default_factory=list)

    def note(self, width: int | None, hint: str = "") -> str:
        """What was given up to fit, and how to see all of it; '' when nothing was."""
        parts = (["figures with K, M, G, T rounded to 3 significant digits"] if self.rounded else []) + (
            [f"hidden: {', '.join(self.hidden)}"] if self.hidden else [])
        if not parts:
            return ""
        return wrapped(f"Fitted to {width} columns: {'; '.join(parts)}. {hint}".strip(), width)


def fit(columns: list[TextColumn], width: int | None) -> Fitted:
    """The table made to fit ``width`` terminal columns, giving up as little as it can, in this order:
    shorter headers, figures in human units (the column that gains most first), text wrapped between
    words, columns hidden (in their ``hide`` order). A figure is never cut; a table that still does
    not fit (a name longer than the terminal) is drawn wider."""
    fitted = Fitted(list(columns))
    shown = fitted.columns
    if width is None or table_width(shown) <= width:
        return fitted
    shown[:] = [dataclasses.replace(c, header=c.short) if c.short else c for c in shown]
    rounded = {i: dataclasses.replace(c, cells=c.human) for i, c in enumerate(shown) if c.human}
    for index in sorted(rounded, key=lambda i: rounded[i].width - shown[i].width):
        if table_width(shown) <= width or rounded[index].width >= shown[index].width:
            break
        shown[index] = rounded[index]
        fitted.rounded.append(shown[index].name)
    _wrap_to(shown, width)
    for column in sorted((c for c in shown if c.hide is not None), key=lambda c: c.hide):
        if table_width(shown) <= width:
            break
        shown.remove(column)
        fitted.hidden.append(column.name)
    _wrap_to(shown, width)
    return fitted


def _wrap_to(shown: list[TextColumn], width: int) -> None:
    """Wrap the text columns, widest first, as far as it takes to bring the table within ``width``
    (and no further: after columns are hidden, a second call gives the room back)."""
    for index in sorted((i for i, c in enumerate(shown) if c.wrap), key=lambda i: -shown[i].width):
        column = dataclasses.replace(shown[index], wrap_width=None)
        room = width - (table_width(shown) - shown[index].width)
        shown[index] = column if room >= column.width else dataclasses.replace(
            column, wrap_width=max(column.narrowest, room))


def draw(title: str, fitted: Fitted, footer: bool, row_styles: list[str | None] | None = None,
         color: bool = False, box: tuple[str, ...] | None = None, width: int | None = None) -> str:
    """The fitted columns as a boxed table, the title wrapped to ``width``."""
    columns = fitted.columns
    table = [list(cells) for cells in zip(*(c.lines for c in columns))]
    body, last = (table[:-1], table[-1]) if footer else (table, None)
    return box_table(wrapped(title, width), [c.header for c in columns], body, last, [c.right for c in columns],
                     row_styles, color, box)


def box_table(title: str, header: list[str], rows: list[list[str]], footer: list[str] | None,
              right_aligned: list[bool], row_styles: list[str | None] | None = None, color: bool = False,
              box: tuple[str, ...] | None = None) -> str:
    """A table drawn with box characters (heavy header, light body), never truncated; a cell with
    newlines takes several lines.

    Padded column by column with str.rjust/ljust: a 10,000-layer table takes ~0.05 s."""
    top, header_edge, header_rule, body_edge, footer_rule, bottom = box or UNICODE_BOX
    table = [header, *rows, *([footer] if footer else [])]
    styles = ["bold", *(row_styles or [None] * len(rows)), "bold"]
    widths, columns = [], []
    for column, right in zip(zip(*table), right_aligned):
        if any("\n" in text for text in column):
            width = max(text_width(line) for text in column for line in text.split("\n"))
            columns.append(["\n".join(f" {_aligned(line, width, right)} " for line in text.split("\n"))
                            for text in column])
        else:
            width = max(map(text_width, column))
            columns.append([f" {_aligned(text, width, right)} " for text in column])
        widths.append(width)
    lines = []
    for index, cells in enumerate(zip(*columns)):
        edge = header_edge if index == 0 else body_edge
        if any("\n" in text for text in cells):
            split = [text.split("\n") for text in cells]
            height = max(map(len, split))
            lines.append("\n".join(edge + edge.join(
                paint(parts[line] if line < len(parts) else " " * (w + 2), styles[index], color)
                for parts, w in zip(split, widths)) + edge for line in range(height)))
        else:
            if color and styles[index]:
                cells = [paint(text, styles[index], color) for text in cells]
            lines.append(edge + edge.join(cells) + edge)

    def rule(left: str, fill: str, cross: str, right: str) -> str:
        return left + cross.join(fill * (w + 2) for w in widths) + right

    table_width = sum(widths) + 3 * len(widths) + 1
    drawn = [" " * max(0, (table_width - text_width(line)) // 2) + paint(line, "italic", color)
             for line in title.split("\n")]
    drawn += [rule(*top), lines[0], rule(*header_rule), *lines[1:len(rows) + 1]]
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


def comparison_text(title: str, labels: list[str], lines, width: int | None = None, color: bool = False,
                    box: tuple[str, ...] | None = None) -> str:
    """The boxed comparison, fitted to ``width``: figures rounded, ratios wrapped below their value."""
    columns = [TextColumn("", [line.label for line in lines])]
    for index, label in enumerate(labels):
        exact, rounded = [], []
        for line in lines:
            value, ratio = line.values[index], line.ratios[index]
            suffix = "" if index == 0 or ratio is None else f" ({ratio:.3g}x)"
            exact.append(cell(value) + suffix)
            rounded.append((human(value, digits=3) if isinstance(value, int) else str(value)) + suffix)
        columns.append(TextColumn(label, exact, True, rounded, wrap=True))
    fitted = fit(columns, width)
    note = fitted.note(width, "Exact: --format md, csv or json, or a pipe.")
    return draw(title, fitted, False, None, color, box, width) + (note + "\n" if note else "")


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


SAVING_KEYS = ("transform", "change", "weights", "weights_after", "params", "params_after", "macs", "macs_after",
               "saved")
SAVING_HIDE = ("params", "params_after", "change", "weights", "weights_after")
"""Hidden first on a narrow terminal: params differ from weights only by the bias."""


def savings_text(title: str, found, width: int | None = None, color: bool = False,
                 box: tuple[str, ...] | None = None) -> str:
    """The boxed savings, fitted to ``width``: figures rounded, then columns hidden (the transform says the
    change in short)."""
    rows = [saving_cells(s) for s in found]
    columns = []
    for index, (key, header) in enumerate(zip(SAVING_KEYS, SAVING_HEADER)):
        figure = SAVING_FIGURES[index - 2] if 2 <= index < len(SAVING_FIGURES) + 1 else None
        columns.append(TextColumn(header, [row[index] for row in rows], index >= 2,
                                  [human(getattr(s, figure), digits=3) for s in found] if figure else None,
                                  "saved" if key == "saved" else None,
                                  SAVING_HIDE.index(key) if key in SAVING_HIDE else None, key=key))
    fitted = fit(columns, width)
    note = fitted.note(width, "Exact, every column: --format md, csv or json, or a pipe.")
    return draw(title, fitted, False, None, color, box, width) + (note + "\n" if note else "")


def mlp_line(mlp, analysis: Analysis) -> str:
    totals = analysis.totals
    return (f"MLP equivalent (a dense layer between the same tensors for every layer with weights): "
            f"{grouped(mlp.weights)} weights, {grouped(mlp.params)} with bias; this design has "
            f"{grouped(totals.params - totals.bias)} weights, {grouped(totals.params)} with bias")
