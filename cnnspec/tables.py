"""Tables in documents: reading Markdown and CSV tables, and the managed tables cnnspec keeps current.

A managed table sits between two comments in a Markdown file::

    <!-- cnnspec table specs/vgg16.yaml columns=name,output,params,macs -->
    | Layer | Output | Params | MACs |
    ...
    <!-- /cnnspec -->

The spec is found relative to the Markdown file, then to the working directory, then among the
built-in specs. Optional ``input=3x320x320`` and ``dtype=fp16`` follow the columns. Only the lines
between the two comments are ever rewritten; markers inside fenced code blocks are examples, not tables.
"""
from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path

from . import render
from .analysis import analyze
from .errors import Loc, SpecError
from .graph import load

MARKER = re.compile(r"^<!--\s*cnnspec table\s+(?P<args>.*?)\s*-->\s*$")
END_MARKER = re.compile(r"^<!--\s*/cnnspec\s*-->\s*$")


@dataclass
class Table:
    path: str
    header: list[str]
    rows: list[list[str]]
    lines: list[int]  # the file line of each row (1-based)
    header_line: int


def split_row(line: str) -> list[str]:
    cells = line.strip().strip("|").split("|")
    return [cell.strip().replace("**", "").strip() for cell in cells]


def markdown_tables(path: str, text: str) -> list[Table]:
    """Every pipe table in a Markdown text, with the line of each row."""
    tables, lines = [], text.splitlines()
    index = 0
    while index < len(lines) - 1:
        header, rule = lines[index], lines[index + 1]
        if header.lstrip().startswith("|") and re.fullmatch(r"\s*\|?[\s:\-|]+\|?\s*", rule) and "-" in rule:
            table = Table(path, split_row(header), [], [], index + 1)
            index += 2
            while index < len(lines) and lines[index].lstrip().startswith("|"):
                table.rows.append(split_row(lines[index]))
                table.lines.append(index + 1)
                index += 1
            tables.append(table)
        else:
            index += 1
    return tables


def csv_table(path: str, text: str) -> Table:
    rows = [row for row in csv.reader(io.StringIO(text)) if any(cell.strip() for cell in row)]
    if not rows:
        raise SpecError("the CSV file has no rows", Loc(path, 1, 1))
    return Table(path, [c.strip() for c in rows[0]], [[c.strip() for c in row] for row in rows[1:]],
                 list(range(2, len(rows) + 1)), 1)


def read_table(path: str) -> Table:
    """The table in a CSV file, or the first pipe table of a Markdown file."""
    try:
        text = Path(path).read_text()
    except (OSError, UnicodeDecodeError) as error:
        raise SpecError(f"cannot read the table: {error}", Loc(path, 1, 1)) from None
    if path.endswith(".csv"):
        return csv_table(path, text)
    tables = markdown_tables(path, text)
    if not tables:
        raise SpecError("no Markdown table (| header | ... | with a |---| rule) found", Loc(path, 1, 1))
    return tables[0]


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

    def render(self) -> str:
        analysis = analyze(load(self.spec, self.input_shape), self.dtype)
        return render.to_markdown(analysis, self.columns)


def parse_marker(path: str, line_number: int, args: str) -> tuple[str, list[str], tuple[int, ...] | None, str]:
    parts = args.split()
    loc = Loc(path, line_number, 1)
    if not parts:
        raise SpecError("a managed table names its spec: <!-- cnnspec table SPEC columns=... -->", loc)
    options = {}
    for part in parts[1:]:
        key, sep, value = part.partition("=")
        if not sep or key not in ("columns", "input", "dtype"):
            raise SpecError(f"unknown option '{part}' in the cnnspec table comment (columns=, input=, dtype=)", loc)
        options[key] = value
    columns = options.get("columns", ",".join(render.DEFAULT_COLUMNS)).split(",")
    unknown = [c for c in columns if c not in render.COLUMNS]
    if unknown:
        raise SpecError(f"unknown column '{unknown[0]}'; columns are: {', '.join(render.COLUMNS)}", loc)
    shape = tuple(int(v) for v in options["input"].split("x")) if "input" in options else None
    return parts[0], columns, shape, options.get("dtype", "fp32")


def resolve_spec(reference: str, document: str) -> str:
    beside = Path(document).parent / reference
    if beside.is_file():
        return str(beside)
    return reference  # the working directory, then the built-in names (graph.load looks there)


def managed_tables(path: str, text: str) -> list[ManagedTable]:
    found, lines, open_marker, fenced = [], text.splitlines(), None, False
    for index, line in enumerate(lines):
        if line.lstrip().startswith(("```", "~~~")):
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
            spec, columns, shape, dtype = parse_marker(path, first + 1, args)
            found.append(ManagedTable(path, first, index, resolve_spec(spec, path), columns, shape, dtype))
            open_marker = None
    if open_marker is not None:
        raise SpecError("the cnnspec table comment is never closed with <!-- /cnnspec -->",
                        Loc(path, open_marker[0] + 1, 1))
    return found


def updated_text(path: str, text: str) -> str:
    """The document with every managed table regenerated; everything else byte-for-byte."""
    lines = text.splitlines(keepends=True)
    for table in reversed(managed_tables(path, text)):
        lines[table.start + 1:table.end] = [table.render()]
    return "".join(lines)
