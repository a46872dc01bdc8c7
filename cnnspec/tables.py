"""Tables in documents: reading Markdown and CSV tables, and the managed tables cnnspec keeps current.

A managed table sits between two comments in a Markdown file::

    <!-- cnnspec table specs/vgg.yaml columns=name,output,params,macs -->
    | Layer | Output | Params | MACs |
    ...
    <!-- /cnnspec -->

The spec is found relative to the Markdown file, then to the working directory, then among the
built-in specs. Optional ``input=3x320x320``, ``dtype=fp16`` and ``roofline=h100`` (for the bound and
time columns) follow the columns. Only the lines
between the two comments are ever rewritten, with the file's own line endings; markers inside fenced
code blocks are examples, not tables.
"""
from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from pathlib import Path

from markdown_it import MarkdownIt
from markdown_it.rules_block.table import escapedSplit

from . import render
from .analysis import DTYPE_BYTES, analyze
from .errors import Loc, SpecError
from .figures import FigureError, parse_shape
from .files import read_exact, read_input, write_atomic
from .graph import load
from .roofline import choose
from .spec import family_members

MARKER = re.compile(r"^<!--\s*cnnspec table\s+(?P<args>.*?)\s*-->\s*$")
END_MARKER = re.compile(r"^<!--\s*/cnnspec\s*-->\s*$")
FENCE = ("```", "~~~")


@dataclass
class Table:
    path: str
    header: list[str]
    rows: list[list[str]]  # as a Markdown viewer shows them: padded or cut to the header's width
    lines: list[int]  # the file line of each row (1-based)
    header_line: int
    widths: list[int] = field(default_factory=list)  # cells each row has as written (ragged rows differ)

    def ragged(self) -> list[tuple[int, int]]:
        """(line, cells written) of every row whose cell count differs from the header's."""
        return [(line, width) for line, width in zip(self.lines, self.widths) if width != len(self.header)]


_MARKDOWN = MarkdownIt("commonmark").enable("table")
_QUOTE = re.compile(r"^\s*(?:>\s?)*")


def written_cells(line: str) -> int:
    """Cells in a table line as the GFM parser splits it (escaped pipes do not split), before it pads
    or cuts the row to the header's width."""
    cells = escapedSplit(_QUOTE.sub("", line).strip())
    return len(cells) - (cells[0] == "") - (len(cells) > 1 and cells[-1] == "")


def plain_text(inline) -> str:
    """A cell's text as a viewer shows it: emphasis markers dropped, code spans and escapes kept."""
    return "".join(child.content for child in inline.children or ()
                   if child.type in ("text", "code_inline", "text_special", "html_inline")).strip()


def markdown_tables(path: str, text: str) -> list[Table]:
    """Every GFM pipe table of a Markdown text (markdown-it-py, as rich renders Markdown), with the
    file line of each row; tables in code blocks are text, as a viewer shows them."""
    lines = text.splitlines()
    tables, table, row, header = [], None, [], False
    for token in _MARKDOWN.parse(text):
        if token.type == "table_open":
            table = Table(path, [], [], [], token.map[0] + 1)
        elif token.type == "thead_open":
            header = True
        elif token.type == "tbody_open":
            header = False
        elif token.type == "tr_open":
            row, row_line = [], token.map[0]
        elif token.type == "inline" and table is not None:
            row.append(plain_text(token))
        elif token.type == "tr_close":
            if header:
                table.header = row
            else:
                table.rows.append(row)
                table.lines.append(row_line + 1)
                table.widths.append(written_cells(lines[row_line]))
        elif token.type == "table_close":
            tables.append(table)
            table = None
    return tables


def csv_table(path: str, text: str) -> Table:
    rows = [(number, row) for number, row in enumerate(csv.reader(io.StringIO(text)), 1)
            if any(cell.strip() for cell in row)]
    if not rows:
        raise SpecError("the CSV file has no rows", Loc(path, 1, 1))
    (header_line, header), body = rows[0], rows[1:]
    return Table(path, [c.strip() for c in header], [[c.strip() for c in row] for _, row in body],
                 [number for number, _ in body], header_line, [len(row) for _, row in body])


def read_document(path: str) -> tuple[list[Table], list[Breakdown]]:
    """The table of a CSV file; the pipe tables and line-by-line breakdowns of a Markdown file; the
    breakdowns of any other text (a slide's text, a LaTeX source)."""
    text = read_input(path)
    if path.endswith(".csv"):
        return [csv_table(path, text)], []
    tables = markdown_tables(path, text) if path.endswith((".md", ".markdown")) else []
    breakdowns = read_breakdowns(path, text)
    if not tables and not breakdowns:
        raise SpecError("no Markdown table (| header | ... | with a |---| rule) or line-by-line breakdown "
                        "(NAME: [shape] memory: ... params: ...) found", Loc(path, 1, 1))
    return tables, breakdowns


# --- line-by-line breakdowns ------------------------------------------------------------------
# The course writes VGG16's memory and parameters one layer a line, not as a table:
#     CONV3-64: [224x224x64] memory: $224 \times 224 \times 64 = 3.2M$ params: $(3 \times 3 \times 3) \times 64 = 1,728$
#     CONV3-64: [224x224x64]  memory:  224*224*64=3.2M   weights: (3*3*3)*64 = 1,728
#     TOTAL memory: 24M * 4 bytes ~= 93MB / image (only forward! ~*2 for bwd)
# A run of such lines becomes a Table (a row per line, a column per key, the written results as
# cells) plus the written arithmetic, each checked on its own.

@dataclass
class Arithmetic:
    """A figure written with its working: '224 × 224 × 64 = 3.2M'."""
    line: int
    label: str
    key: str
    expression: str
    result: str


@dataclass
class Breakdown:
    table: Table
    arithmetic: list[Arithmetic]


_LATEX = [(r"\times", "×"), (r"\cdot", "×"), (r"\approx", "≈"), ("~=", "≈"), ("{,}", ","), (r"\,", " "),
          (r"\;", " "), (r"\ ", " "), ("$", "")]
_TEXT_MACRO = re.compile(r"\\(?:text|mathrm|textrm|mbox)\{([^{}]*)\}")
_KEY = re.compile(r"(?:^|(?<=\s))([A-Za-z#][\w#\-]*):(?=\s|$)")
_REMARK = re.compile(r"\(([^()]*[A-Za-z][^()]*)\)")  # '(not counting biases)', not '(3*3*3)'
_NO_BIAS = re.compile(r"not counting bias|no bias|without bias|excl\w*\.? bias", re.I)
_PER_IMAGE = re.compile(r"\s*/\s*(?:image|img|example|sample)\b.*$", re.I)
_TIMES_BYTES = re.compile(r"^(?P<values>.+?)\s*[*×x]\s*(?P<size>\d+)\s*bytes?$", re.I)


def plain(line: str) -> str:
    """LaTeX spelled plainly: \\times -> ×, \\approx -> ≈, \\text{MB} -> MB, $ dropped."""
    line = _TEXT_MACRO.sub(r"\1", line)
    for latex, text in _LATEX:
        line = line.replace(latex, text)
    return line


def breakdown_line(text: str) -> tuple[str, str, list[tuple[str, str]], list[str]] | None:
    """(name, shape, [(key, value)], remarks) of 'NAME: [shape] key: value key: value', or None for prose."""
    line = plain(text)
    remarks = _REMARK.findall(line)
    parts = _KEY.split(_REMARK.sub(" ", line))
    before, pairs = parts[0].strip(), list(zip(parts[1::2], (value.strip() for value in parts[2::2])))
    if not pairs or "|" in line:
        return None
    shape = ""
    if not before:
        (before, value), pairs = pairs[0], pairs[1:]
        if value and not re.fullmatch(r"\[[^\]]*\]", value):
            return None  # 'Note: 3 things' is prose
        shape = value
    if not re.fullmatch(r"[\w\-.]+(?: \w+)?", before) or not any(re.search(r"\d", v) for _, v in pairs):
        return None
    return before, shape, pairs, remarks


def read_breakdowns(path: str, text: str) -> list[Breakdown]:
    """Every run of breakdown lines (blank lines may separate them; any other line ends a run)."""
    runs, run = [], []
    for number, line in enumerate(text.splitlines(), 1):
        parsed = breakdown_line(line)
        if parsed:
            run.append((number, parsed))
        elif line.strip() and run:
            runs.append(run)
            run = []
    return [make_breakdown(path, run) for run in runs + [run] if run]


def make_breakdown(path: str, run) -> Breakdown:
    """Columns named by the keys, in order; 'params' read as 'params (no bias)' where a remark says the
    figures do not count biases (the slide says so once, on its first line)."""
    no_bias = any(_NO_BIAS.search(remark) for _, (_, _, _, remarks) in run for remark in remarks)
    rows, arithmetic = [], []
    for number, (name, shape, pairs, _) in run:
        cells = {"layer": name, "output": shape}
        for key, value in pairs:
            key = "params (no bias)" if key.lower() == "params" and no_bias else key
            claims, working = claims_of(value)
            cells.update({key + suffix: claim for suffix, claim in claims.items()})
            arithmetic += [Arithmetic(number, name, key + suffix, expression, result)
                           for suffix, expression, result in working]
        rows.append((number, cells))
    header = list(dict.fromkeys(key for _, cells in rows for key in cells))
    table = Table(path, header, [[cells.get(key, "") for key in header] for _, cells in rows],
                  [number for number, _ in rows], run[0][0], [len(header)] * len(rows))
    return Breakdown(table, arithmetic)


def claims_of(value: str) -> tuple[dict[str, str], list[tuple[str, str, str]]]:
    """The figures a value claims, by column suffix, and its working as (suffix, expression, result):
    '224*224*64=3.2M' claims 3.2M; '24M * 4 bytes ~= 93MB' claims 24M values and ~93MB bytes."""
    steps = [step.strip() for step in re.split(r"[=≈]", _PER_IMAGE.sub("", value)) if step.strip()]
    if not steps:
        return {}, []
    result = ("~" if "≈" in value and not steps[-1].startswith("~") else "") + steps[-1]
    bytes_form = _TIMES_BYTES.match(steps[0]) if len(steps) > 1 else None
    if bytes_form:
        return ({"": bytes_form["values"], " (bytes)": result},
                [(" (bytes)", f"{bytes_form['values']} × {bytes_form['size']}", result)])
    return {"": result}, [("", expression, result) for expression in steps[:-1]]


# --- managed tables ---------------------------------------------------------------------------

@dataclass
class ManagedTable:
    path: str
    start: int  # index of the opening comment line (0-based)
    end: int  # index of the closing comment line
    spec: str
    columns: list[str]
    input_shape: tuple[int, ...] | None
    dtype: str
    written: str  # the lines between the comments as the file has them now
    newline: str  # the file's line ending at the opening comment
    models: bool = False  # `models=a,b,...`: one row per model (a family: one per variant), not per layer
    roofline: str | None = None  # the device of a roofline estimate (`roofline=h100`)

    @property
    def loc(self) -> Loc:
        return Loc(self.path, self.start + 1, 1)

    def render(self) -> str:
        """The table as the spec (or the models) give it now, in the file's line endings."""
        members = [m for spec in self.spec.split(",") for m in family_members(spec)] if self.models else [(self.spec, None)]
        graphs = []
        for spec, variant in members:
            try:
                graphs.append(load(spec, self.input_shape, {"variant": variant} if variant else None))
            except SpecError as error:
                raise SpecError(f"the managed table's spec '{variant or spec}': {error}", self.loc) from None
        if self.models:
            table = render.models_to_markdown([(analyze(g, self.dtype), g.spec.expect) for g in graphs], self.columns)
        else:
            table = render.to_markdown(analyze(graphs[0], self.dtype, roofline=self.roofline), self.columns)
        return table.replace("\n", self.newline)


def parse_marker(path: str, line_number: int, args: str) -> tuple[str, list[str], tuple[int, ...] | None, str,
                                                                 str | None]:
    parts = args.split()
    loc = Loc(path, line_number, 1)
    if not parts:
        raise SpecError("a managed table names its spec: <!-- cnnspec table SPEC columns=... -->", loc)
    options = {}
    for part in parts[1:]:
        key, sep, value = part.partition("=")
        if not sep or key not in ("columns", "input", "dtype", "roofline"):
            raise SpecError(f"unknown option '{part}' in the cnnspec table comment (columns=, input=, dtype=, "
                            "roofline=)", loc)
        options[key] = value
    known = render.MODEL_COLUMNS if parts[0].startswith("models=") else render.COLUMNS
    columns = options.get("columns", ",".join(render.DEFAULT_COLUMNS if known is render.COLUMNS else known)).split(",")
    unknown = [c for c in columns if c not in known]
    if unknown:
        raise SpecError(f"unknown column '{unknown[0]}'; columns are: {', '.join(known)}", loc)
    dtype = options.get("dtype", "fp32")
    if dtype not in DTYPE_BYTES:
        raise SpecError(f"dtype= must be one of {', '.join(DTYPE_BYTES)}. Received: {dtype!r}", loc)
    roofline = options.get("roofline")
    if roofline is not None:
        try:
            choose(roofline, dtype)
        except ValueError as error:
            raise SpecError(f"roofline=: {error}", loc) from None
    elif needing := [c for c in columns if c in render.NEEDS_ROOFLINE]:
        raise SpecError(f"column '{needing[0]}' needs roofline=DEVICE in the cnnspec table comment", loc)
    try:
        shape = parse_shape(options["input"]) if "input" in options else None
    except FigureError as error:
        raise SpecError(f"input=: {error}", loc) from None
    return parts[0], columns, shape, dtype, roofline


def resolve_spec(reference: str, document: str) -> str:
    beside = Path(document).parent / reference
    if beside.is_file():
        return str(beside)
    return reference  # the working directory, then the built-in names (graph.load looks there)


def managed_tables(path: str, text: str) -> list[ManagedTable]:
    found, lines, open_marker, fenced = [], text.splitlines(keepends=True), None, False
    for index, line in enumerate(lines):
        if line.lstrip().startswith(FENCE):
            fenced = not fenced  # an example marker inside a code block is text, not a table
        if fenced:
            continue
        start = MARKER.match(line)
        if start:
            if open_marker is not None:
                raise SpecError("a cnnspec table comment inside another (missing <!-- /cnnspec -->)",
                                Loc(path, index + 1, 1))
            open_marker = (index, start["args"])
        elif END_MARKER.match(line):
            if open_marker is None:
                raise SpecError("<!-- /cnnspec --> without an opening cnnspec table comment", Loc(path, index + 1, 1))
            first, args = open_marker
            spec, columns, shape, dtype, roofline = parse_marker(path, first + 1, args)
            newline = lines[first][len(lines[first].rstrip("\r\n")):] or "\n"
            models = spec.startswith("models=")
            spec = ",".join(resolve_spec(s, path) for s in spec.removeprefix("models=").split(",")) if models \
                else resolve_spec(spec, path)
            found.append(ManagedTable(path, first, index, spec, columns, shape, dtype,
                                      "".join(lines[first + 1:index]), newline, models, roofline))
            open_marker = None
    if open_marker is not None:
        raise SpecError("the cnnspec table comment is never closed with <!-- /cnnspec -->",
                        Loc(path, open_marker[0] + 1, 1))
    return found


def replace_tables(text: str, new: dict[int, str], tables: list[ManagedTable]) -> str:
    """``text`` with the body of each table whose start is in ``new`` replaced; the rest byte-for-byte."""
    lines = text.splitlines(keepends=True)
    for table in reversed(tables):
        if table.start in new:
            lines[table.start + 1:table.end] = [new[table.start]]
    return "".join(lines)


def updated_text(path: str, text: str) -> str:
    """The document with every managed table regenerated."""
    tables = managed_tables(path, text)
    return replace_tables(text, {table.start: table.render() for table in tables}, tables)


def update_file(path: str | Path, force: bool = False) -> bool:
    """Regenerate the managed tables of one Markdown file in place (atomically, through a symlink; a
    read-only file only with ``force``); True when it changed."""
    text = read_exact(path)
    new = updated_text(str(path), text)
    if new != text:
        write_atomic(path, new, force)
    return new != text
