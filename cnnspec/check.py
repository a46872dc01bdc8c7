"""`cnnspec check`: hold tables and `expect:` figures against what the spec gives now.

Three sources of claims: hand-written tables (Markdown or CSV) checked against one spec, managed
tables in Markdown (must equal their regenerated text), and a spec's own ``expect:`` section.
Each claim becomes a Finding; reports are text, GitHub annotations, JUnit XML or JSON.
Exit codes: 0 all true, 1 something false, 2 unreadable input.
"""
from __future__ import annotations

import difflib
import json
import re
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Literal
from xml.sax.saxutils import escape, quoteattr

from .analysis import Analysis, Row, Totals, analyze
from .errors import Loc, SpecError
from .figures import (BINARY, SCALES, Figure, FigureError, format_exact, parse_arithmetic, parse_figure,
                      parse_shape, shape_matches)
from .files import read_exact
from .graph import load
from .shape import format_shape
from .spec import Mapping
from .tables import Arithmetic, Table, managed_tables, read_document, replace_tables

Status = Literal["pass", "fail", "ambiguous", "error", "note"]
INPUT_NAMES = {"input", "data", "image", "images"}
BLANK = {"", "-", "–", "—", "n/a"}


@dataclass
class Finding:
    path: str
    line: int
    subject: str  # what was checked: "CONV3-64 [params (no bias)] -> block1.conv.0.conv", "expect: params"
    status: Status
    message: str


# --- what a column means ----------------------------------------------------------------------

ColumnKind = Literal["name", "output", "params", "weights", "memory", "macs", "flops?"]


COLUMN_PATTERNS: list[tuple[str, ColumnKind | None]] = [  # first match wins
    (r"kernel|filter|patch|window|stride|receptive|padding", None),  # the layer's window, not its output
    (r"no bias|without bias|excl\.? bias|w/o bias", "weights"),
    (r"^\W*(?:#\s*)?weights?\W*$", "weights"),  # the course's "weights: (3*3*3)*64 = 1,728", biases apart
    (r"param|weight|#w", "params"),
    (r"mac|mult-?add|multiply-?add|madd", "macs"),
    (r"flop|\bops\b|operations|compute", "flops?"),
    (r"memory|activations|\bmem\b", "memory"),
    (r"output|shape|size|dimension", "output"),
    (r"layer|name|module|stage|type", "name"),
]


def column_kind(header: str) -> ColumnKind | None:
    """Interpret a header as people write it; 'FLOPs' and 'ops' are ambiguous (MACs or 2 x MACs + ...)."""
    h = header.lower()
    return next((kind for pattern, kind in COLUMN_PATTERNS if re.search(pattern, h)), None)


_HEADER_UNITS = [  # (pattern, how the matched text gives the scale), first match wins
    (r"(?<![A-Za-z])([KMGT]i)B", lambda m: BINARY[m[1]]),  # 'Memory (KiB)', 'MiB'
    (r"(?<![A-Za-z])([kKMGT])(?:B|FLOPs?|flops?|MACs?|macs?|ops|params)", lambda m: SCALES[m[1]]),  # 'GFLOPs'
    (r"\(([kKMGT])\)", lambda m: SCALES[m[1]]),  # 'Params (M)'
    (r"[x×]\s*10\s*\^\s*(\d{1,2})\b", lambda m: 10 ** int(m[1])),  # 'FLOPs (x10^9)'
    (r"[x×]\s*1e(\d{1,2})\b", lambda m: 10 ** int(m[1])),  # 'x1e6'
    (r"[x×]\s*(1(?:,?000)+)\b", lambda m: int(m[1].replace(",", ""))),  # 'Params (x1000)', 'x 1,000,000'
    (r"(?i)\b(thousand|million|billion)s?\b", lambda m: {"thousand": 10**3, "million": 10**6,
                                                           "billion": 10**9}[m[1].lower()]),
]


def header_scale(header: str) -> tuple[int, str]:
    """The unit a header gives its bare numbers, and how it is written: 'Memory (KiB)' -> (1024, 'KiB'),
    'GFLOPs' -> (10^9, 'GFLOPs'), 'Params (x1000)' -> (1000, 'x1000'), 'millions' -> (10^6, 'million')."""
    for pattern, scale in _HEADER_UNITS:
        found = re.search(pattern, header)
        if found:
            return scale(found), found[0].strip("()").replace(" ", "")
    return 1, ""


def in_bytes(header: str, figure: Figure) -> bool:
    return figure.unit == "bytes" or bool(re.search(r"byte|\b(?:[kmgt]i?)?b\b", header.lower()))


# --- one cell ---------------------------------------------------------------------------------

COUNTS = {"params": ("params", lambda s: s.params), "weights": ("params without bias", lambda s: s.params - s.bias),
          "memory": ("values", lambda s: s.memory)}
UNITS_ALLOWED = {"params": {None, "count", "bytes"}, "weights": {None, "count", "bytes"},
                 "memory": {None, "count", "bytes"}, "macs": {None, "macs", "flops", "ops"},
                 "flops?": {None, "macs", "flops", "ops"}}


def read_figure(text: str, header: str, kind: ColumnKind) -> Figure:
    """A cell's figure; a bare number takes the header's unit ('GFLOPs' column: '15.47')."""
    figure = parse_figure(text)
    scale, label = header_scale(header)
    if scale != 1 and re.fullmatch(r"[~≈]?\s*[\d.,]+", text):
        figure = figure.scaled(scale, label)
    if figure.unit not in UNITS_ALLOWED[kind]:
        raise FigureError(f"'{text}' is a figure in {figure.unit}, which a '{header}' column cannot hold")
    return figure


def compare_cell(kind: ColumnKind, header: str, text: str, source: Row | Totals,
                 analysis: Analysis) -> tuple[Status, str]:
    """(status, message) for one cell against a layer's row (or the totals)."""
    if kind == "output":
        return compare_shape(text, source.shape)
    figure = read_figure(text, header, kind)
    if kind in COUNTS:
        what, count = COUNTS[kind]
        if in_bytes(header, figure):
            return judge(figure, count(source) * analysis.bytes_per_value, f"bytes ({what} in {analysis.dtype})")
        return judge(figure, count(source), what)
    if figure.unit == "macs" or (kind == "macs" and figure.unit is None):
        return judge(figure, source.macs, "MACs")
    return compare_ops(figure, header, source)


def compare_ops(figure: Figure, header: str, source: Row | Totals) -> tuple[Status, str]:
    """A figure called FLOPs or ops may count MACs (as torchvision and fvcore do): say so, don't guess."""
    as_flops, as_macs = figure.matches(source.flops), figure.matches(source.macs)
    if as_flops and as_macs:
        return "pass", f"{figure.text} matches (FLOPs and MACs agree here)"
    if as_flops:
        return "pass", f"{figure.text} matches FLOPs {format_exact(source.flops)} ({figure.precision})"
    if as_macs:
        return "ambiguous", (f"'{header}' is ambiguous: {figure.text} is the MAC count {format_exact(source.macs)} "
                             f"(as torchvision and fvcore say FLOPs), not FLOPs {format_exact(source.flops)}")
    return "fail", (f"written {figure.text}; the spec gives {format_exact(source.macs)} MACs and "
                    f"{format_exact(source.flops)} FLOPs ('{header}' could mean either)")


def compare_shape(text: str, shape: tuple[int, ...]) -> tuple[Status, str]:
    how = shape_matches(parse_shape(text), shape)
    if how:
        return "pass", f"{text} matches {format_shape(shape)} ({how})"
    return "fail", f"written {text}, the spec gives {format_shape(shape)} (C x H x W)"


def judge(figure: Figure, true: int, what: str) -> tuple[Status, str]:
    if figure.matches(true):
        return "pass", f"{figure.text} matches {format_exact(true)} {what} ({figure.precision})"
    return "fail", f"written {figure.text}, true {format_exact(true)} {what} ({figure.precision})"


# --- hand-written tables ----------------------------------------------------------------------

REPEAT = re.compile(r"(?:^|\s)\(?[x×]\s*(\d+)\s*\)?$")  # 'CONV3-256 (x3)': three layers in one row


def label_of(cells: list[str], name_column: int | None) -> str:
    if name_column is None:
        return cells[0] if cells else ""
    return cells[name_column] if name_column < len(cells) else ""


def is_totals(cells: list[str], name_column: int | None) -> bool:
    return bool(re.match(r"^\W*(grand\s+)?total", label_of(cells, name_column), re.I))


def layer_figures(analysis: Analysis, name: str) -> Row | None:
    """A layer's row, or for a block instance ('inception3a') its layers summed, shaped like a Row."""
    inner = [row for row in analysis.rows if row.name == name or row.name.startswith(name + ".")]
    if not inner or inner[0].name == name:
        return inner[0] if inner else None
    sums = {key: sum(getattr(row, key) for row in inner)
            for key in ("params", "trainable", "bias", "buffers", "macs", "flops", "memory")}
    return Row(name=name, type="block", block=None, inputs=[], shape=inner[-1].shape, values=inner[-1].values,
               receptive_field=None, **sums)


def match_rows(table: Table, name_column: int | None, analysis: Analysis) -> tuple[list[list[Row]], str]:
    """Each table row's layers: by name when the names are the spec's (or its blocks'), else by order;
    a row named 'CONV3-256 (x3)' takes three layers."""
    labels = [label_of(cells, name_column) for cells in table.rows if not is_totals(cells, name_column)]
    if name_column is not None:
        lowered = {row.name.lower(): row.name for row in analysis.rows}
        named = [layer_figures(analysis, lowered.get(label.lower(), label)) for label in labels]
        if sum(row is not None for row in named) * 2 >= len(labels):
            return [[row] if row else [] for row in named], "by name"
    counts = [int(repeat[1]) if (repeat := REPEAT.search(label)) else 1 for label in labels]
    starts_at_input = bool(labels) and labels[0].lower() in INPUT_NAMES
    layers, which = layers_in_order(analysis, sum(counts), starts_at_input, table)
    groups, position = [], 0
    for count in counts:
        groups.append(layers[position:position + count])
        position += count
    return groups, f"by order over {which}"


def layers_in_order(analysis: Analysis, wanted: int, starts_at_input: bool, table: Table) -> tuple[list[Row], str]:
    """The layers a table lists in order: those that store a tensor or hold parameters (the cs231n
    convention: in-place ReLUs and views fold into them), else every layer; with or without the input."""
    storing = [row for row in analysis.rows if row.memory or row.params]
    for layers, which in ((storing, "the layers that store a tensor or hold parameters"),
                          (analysis.rows, "every layer")):
        for start in (0,) if starts_at_input else (0, 1):
            if len(layers) - start == wanted:
                return layers[start:], which
    raise SpecError(f"cannot match the table's {wanted} layer rows by order: the spec has {len(storing)} layers that "
                    f"store a tensor or hold parameters and {len(analysis.rows)} in all, the input included; "
                    "name the spec's layers in the table", Loc(table.path, table.header_line, 1))


def cell_parts(text: str, count: int) -> list[str]:
    """'294,912; 589,824; 589,824' gives one figure per layer of a repeated row; one figure is each layer's."""
    if ";" not in text:
        return [text] * count
    parts = [part.strip() for part in text.split(";")]
    if len(parts) != count:
        raise FigureError(f"'{text}' gives {len(parts)} figures for {count} layers")
    return parts


@dataclass
class Claim:
    """One written figure held to the spec: its finding, and what ``explain --table`` needs to show why."""
    finding: Finding
    table: Table
    label: str  # the row's name as written ('CONV3-64', 'TOTAL')
    kind: ColumnKind
    header: str
    text: str  # the figure as written (one layer's part of a 'a; b; c' cell)
    source: Row | Totals | None  # the layer, block or totals it was held to


def table_claims(table: Table, analysis: Analysis) -> tuple[list[Finding], list[Claim]]:
    """Notes on the table (how rows matched, ragged rows, the no-bias hint) and a claim per figure."""
    kinds = [column_kind(h) for h in table.header]
    name_column = kinds.index("name") if "name" in kinds else None
    groups, how = match_rows(table, name_column, analysis)
    notes = [Finding(table.path, table.header_line, "rows", "note",
                     f"matched {how}: {describe_matching(table, name_column, groups)}")]
    notes += [Finding(table.path, line, "ragged row", "note", f"the row has {width} cell{'s' * (width != 1)}, "
                      f"the header {len(table.header)}; read as a Markdown viewer shows it"
                      + (", the cells past the header's dropped" if width > len(table.header) else
                         ", the missing cells blank"))
              for line, width in table.ragged()]
    groups_left = iter(groups)
    claims = []
    for cells, line in zip(table.rows, table.lines):
        label = label_of(cells, name_column) or f"line {line}"
        totals = is_totals(cells, name_column)
        targets = [("totals", analysis.totals)] if totals else [(row.name, row) for row in next(groups_left)]
        if not targets:
            finding = Finding(table.path, line, label, "fail", f"no layer or block named '{label}' in the spec")
            claims.append(Claim(finding, table, label, "name", "", label, None))
            continue
        for column, (kind, header) in enumerate(zip(kinds, table.header)):
            text = cells[column] if column < len(cells) else ""
            if kind in (None, "name") or text.lower() in BLANK or (kind == "output" and totals):
                continue  # the totals have no output shape
            claims += [Claim(finding, table, label, kind, header, part, source) for finding, part, source in
                       check_cell(table.path, line, label, header, kind, text, targets, analysis)]
    failed_params: dict[str, list[Claim]] = {}
    for claim in claims:
        if claim.kind == "params" and claim.finding.status == "fail":
            failed_params.setdefault(claim.header, []).append(claim)
    notes += [hint for header, failed in failed_params.items() if (hint := bias_hint(table, header, failed, analysis))]
    return notes, claims


def check_table(table: Table, analysis: Analysis) -> list[Finding]:
    notes, claims = table_claims(table, analysis)
    return notes + [claim.finding for claim in claims]


def bias_hint(table: Table, header: str, failed: list[Claim], analysis: Analysis) -> Finding | None:
    """One note when every failing value of a 'params' column is the weights without bias (the cs231n
    slide's params, copied under a plain 'params' header)."""
    if any(compare_cell("weights", header, c.text, c.source, analysis)[0] != "pass" for c in failed):
        return None
    return Finding(table.path, table.header_line, f"[{header}]", "note",
                   f"the {len(failed)} failing value{'s' * (len(failed) > 1)} of '{header}' "
                   f"{'are' if len(failed) > 1 else 'is'} the weights without bias; "
                   "call the column 'params (no bias)' or 'weights'")


def check_arithmetic(path: str, working: Arithmetic) -> Finding:
    """Does the written working give the written result ('224 × 224 × 64 = 3.2M'), at the result's precision?"""
    subject = f"{working.label} [{working.key}] arithmetic"
    try:
        value, result = parse_arithmetic(working.expression), parse_figure(working.result)
    except FigureError as error:
        return Finding(path, working.line, subject, "error", f"'{working.label}', {working.key}: {error}")
    worked = f"{working.expression} = {format_exact(value)}"
    if result.matches(value):
        return Finding(path, working.line, subject, "pass", f"{worked}: written {working.result} ({result.precision})")
    return Finding(path, working.line, subject, "fail", f"{worked}, not {working.result} ({result.precision})")


def describe_matching(table: Table, name_column: int | None, groups: list[list[Row]]) -> str:
    body = [(cells, line) for cells, line in zip(table.rows, table.lines) if not is_totals(cells, name_column)]
    return ", ".join(f"{label_of(cells, name_column) or f'line {line}'} -> {'+'.join(r.name for r in group) or '?'}"
                     for (cells, line), group in zip(body, groups))


def check_cell(path: str, line: int, label: str, header: str, kind: ColumnKind, text: str,
               targets: list[tuple[str, Row | Totals]],
               analysis: Analysis) -> list[tuple[Finding, str, Row | Totals | None]]:
    """A finding per layer the cell speaks for, each with the figure's text and the layer it was held to."""
    try:
        parts = cell_parts(text, len(targets))
        results = [(name, part, source, *compare_cell(kind, header, part, source, analysis))
                   for (name, source), part in zip(targets, parts)]
    except FigureError as error:
        return [(Finding(path, line, f"{label} [{header}]", "error", f"row '{label}', column '{header}': {error}"),
                 text, None)]
    return [(Finding(path, line, f"{label} [{header}] -> {name}", status, message), part, source)
            for name, part, source, status, message in results]


def hand_claims(path: str, analysis: Analysis) -> tuple[list[Finding], list[Claim]]:
    """Every table of the file whose header names a column to check, and every line-by-line breakdown:
    notes and checked arithmetic, and the claims."""
    tables, breakdowns = read_document(path)
    tables = [t for t in tables + [b.table for b in breakdowns]
              if any(column_kind(h) not in (None, "name") for h in t.header)]
    if not tables:
        raise SpecError("no table or breakdown that names a figure to check (output, params, memory, MACs, FLOPs)",
                        Loc(path, 1, 1))
    findings, claims = [], []
    for table in tables:
        notes, found = table_claims(table, analysis)
        findings += notes
        claims += found
    findings += [check_arithmetic(path, working) for breakdown in breakdowns for working in breakdown.arithmetic]
    return findings, claims


def check_hand_tables(path: str, analysis: Analysis) -> list[Finding]:
    findings, claims = hand_claims(path, analysis)
    return sorted(findings + [claim.finding for claim in claims], key=lambda f: f.line)


# --- managed tables ---------------------------------------------------------------------------

def check_managed(path: str) -> list[Finding]:
    text = read_exact(path)
    findings = []
    tables = managed_tables(path, text)
    for table in tables:
        subject = f"managed table of {table.spec}"
        try:
            generated = table.render()
        except SpecError as error:
            findings.append(unreadable(error, path))
            continue
        if generated == table.written:
            findings.append(Finding(path, table.start + 1, subject, "pass", "up to date"))
            continue
        expected = replace_tables(text, {table.start: generated}, tables)
        diff = "".join(difflib.unified_diff(text.splitlines(keepends=True), expected.splitlines(keepends=True),
                                            f"{path} (written)", f"{path} (from {table.spec} now)", n=1))
        findings.append(Finding(path, table.start + 1, subject, "fail", "the table differs from what the spec gives "
                                f"now (run `cnnspec table --update {path}`):\n{diff}"))
    return findings


# --- expect: in specs -------------------------------------------------------------------------

TOTALS_KEYS = {"params", "trainable", "buffers", "macs", "flops", "memory"}
ROW_KEYS = {"params", "macs", "flops", "memory", "output"}
UNIT_WORDS = {"memory": "values", "macs": "MACs", "flops": "FLOPs"}


def check_expect(spec_path: str) -> list[Finding]:
    """The figures of a spec's ``expect:`` section, and of each of its variants' (subjects named after the
    variant). YAML files with neither (other configs) are not read."""
    text = read_exact(spec_path)
    if not re.search(r"^(expect|variants)\s*:", text, re.M):
        return []
    graph = load(spec_path)
    findings = expect_findings(spec_path, text, graph)
    for variant in graph.spec.variants:
        findings += [replace(finding, subject=f"{variant}: {finding.subject}")
                     for finding in expect_findings(spec_path, text, load(spec_path, overrides={"variant": variant}))]
    return findings


def expect_findings(spec_path: str, text: str, graph) -> list[Finding]:
    expect = graph.spec.expect
    if expect is None:
        return []
    if not isinstance(expect, Mapping):
        top_level = re.search(r"^expect\s*:", text, re.M)
        line = text.count("\n", 0, top_level.start()) + 1
        raise SpecError("expect: must be a mapping of figures", Loc(spec_path, line, 1))
    analysis = analyze(graph)
    findings = []
    for key, value in expect.items():
        loc = expect.locs[key]
        if key == "layers":
            findings += check_layer_expectations(spec_path, value, loc, analysis)
        elif key == "output":
            findings += check_outputs(spec_path, value, loc, analysis)
        elif key in TOTALS_KEYS:
            findings.append(expect_figure(spec_path, f"expect: {key}", key, value, loc, analysis.totals, analysis))
        elif key != "source":
            known = ", ".join([*sorted(TOTALS_KEYS), "output", "layers", "source"])
            raise SpecError(f"unknown expectation '{key}'; expect: takes {known}", expect.key_locs[key])
    return findings


EXPECT_UNITS = {"params": {None, "count"}, "trainable": {None, "count"}, "buffers": {None, "count"},
                "memory": {None, "count", "bytes"}, "macs": {None, "macs", "flops", "ops"},
                "flops": {None, "flops", "ops"}}


def expect_figure(path: str, subject: str, key: str, value: Any, loc: Loc, source: Row | Totals,
                  analysis: Analysis) -> Finding:
    """An int is exact; a string is a figure with its precision; {value:, source:} cites where it is from.
    ``macs: 15.47 GFLOPs`` is allowed (torchvision's name for MACs); ``memory: 61MB`` counts bytes."""
    cited = ""
    if isinstance(value, dict):
        cited = f" [{value.get('source')}]" if value.get("source") else ""
        value = value.get("value")
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise SpecError(f"{subject} must be an integer or a figure like 138M or '15.47G'. Received: {value!r}", loc)
    try:
        figure = parse_figure(str(value))
    except FigureError as error:
        raise SpecError(str(error), loc) from None
    if figure.unit not in EXPECT_UNITS[key]:
        raise SpecError(f"{subject}: '{value}' is a figure in {figure.unit}, not in {UNIT_WORDS.get(key, key)}", loc)
    true, what = getattr(source, key), UNIT_WORDS.get(key, key)
    if figure.unit == "bytes":
        true, what = true * analysis.bytes_per_value, f"bytes ({what} in {analysis.dtype})"
    status, message = judge(figure, true, what)
    return Finding(path, loc.line, subject, status, message + cited)


def expected_shape(value: Any, loc: Loc) -> tuple[int, ...]:
    if isinstance(value, list) and all(isinstance(n, int) and not isinstance(n, bool) for n in value):
        return tuple(value)
    if isinstance(value, str):
        try:
            return parse_shape(value)
        except FigureError:
            pass
    raise SpecError(f"an expected shape is a list like [256, 28, 28]. Received: {value!r}", loc)


def shape_finding(path: str, subject: str, value: Any, loc: Loc, actual: tuple[int, ...]) -> Finding:
    shape = expected_shape(value, loc)
    if shape == actual:
        return Finding(path, loc.line, subject, "pass", f"{list(shape)} as the spec gives")
    return Finding(path, loc.line, subject, "fail", f"written {list(shape)}, the spec gives {list(actual)}")


def check_outputs(path: str, value: Any, loc: Loc, analysis: Analysis) -> list[Finding]:
    """``output: [1000]`` for the first output, or a mapping output-name -> shape for several."""
    if not isinstance(value, Mapping):
        return [shape_finding(path, "expect: output", value, loc, analysis.row(analysis.outputs[0]).shape)]
    findings = []
    for name, shape in value.items():
        if name not in analysis.outputs:
            raise SpecError(f"'{name}' is not an output of the spec (outputs: {', '.join(analysis.outputs)})",
                            value.key_locs[name])
        findings.append(shape_finding(path, f"expect: output: {name}", shape, value.locs[name],
                                      analysis.row(name).shape))
    return findings


def check_layer_expectations(path: str, layers: Any, loc: Loc, analysis: Analysis) -> list[Finding]:
    if not isinstance(layers, Mapping):
        raise SpecError("expect: layers: maps layer names to figures", loc)
    findings = []
    for name, figures in layers.items():
        row = layer_figures(analysis, name)
        if row is None:
            raise SpecError(f"expect: layers: no layer or block '{name}' in the spec", layers.key_locs[name])
        if not isinstance(figures, Mapping):
            raise SpecError(f"expect: layers: {name} takes a mapping of figures", layers.locs[name])
        for key, value in figures.items():
            subject = f"expect: layers: {name}: {key}"
            if key not in ROW_KEYS:
                raise SpecError(f"unknown figure '{key}' for layer {name}; use {', '.join(sorted(ROW_KEYS))}",
                                figures.key_locs[key])
            if key == "output":
                findings.append(shape_finding(path, subject, value, figures.locs[key], row.shape))
            else:
                findings.append(expect_figure(path, subject, key, value, figures.locs[key], row, analysis))
    return findings


# --- walking paths ----------------------------------------------------------------------------

DOCUMENTS = (".md", ".yaml", ".yml")
HAND_TABLES = (".md", ".csv")  # in directories; a file named is read whatever its suffix


def collect(paths: list[str], suffixes: tuple[str, ...] = DOCUMENTS) -> list[Path]:
    """Files named, and in directories the files with these suffixes (hidden ones skipped)."""
    files = []
    for path in map(Path, paths):
        if path.is_dir():
            files += sorted(p for p in path.rglob("*") if p.suffix in suffixes and p.is_file()
                            and not any(part.startswith(".") for part in p.relative_to(path).parts))
        elif path.is_file():
            files.append(path)
        elif path.exists():
            raise SpecError(f"{path}: not a regular file or a directory")
        else:
            raise SpecError(f"no such file or directory: {path}")
    return files


def check_document(path: str) -> list[Finding]:
    if path.endswith(".md"):
        return check_managed(path)
    if path.endswith((".yaml", ".yml")):
        return check_expect(path)
    raise SpecError("nothing to check here without --spec: cnnspec check reads managed tables in Markdown and "
                    "expect: in specs; a hand-written table takes --spec SPEC", Loc(path, 1, 1))


def check_paths(paths: list[str], spec: str | None = None, dtype: str = "fp32") -> list[Finding]:
    """Check every file; with ``spec``, as hand-written tables of that spec. A file that cannot be read
    becomes an error finding at its line, and the others are still checked."""
    analysis = analyze(load(spec), dtype) if spec else None
    findings = []
    for path in collect(paths, HAND_TABLES if analysis else DOCUMENTS):
        try:
            findings += check_hand_tables(str(path), analysis) if analysis else check_document(str(path))
        except SpecError as error:
            findings.append(unreadable(error, str(path)))
        except (OSError, UnicodeDecodeError) as error:
            findings.append(Finding(str(path), 1, "unreadable", "error", f"cannot read the file: {error}"))
    return findings


def unreadable(error: SpecError, path: str) -> Finding:
    where = error.loc or Loc(path, 1, 1)
    layer = f"layer '{error.layer}': " if error.layer else ""
    return Finding(where.path, where.line, "unreadable", "error", layer + error.message)


# --- reports ----------------------------------------------------------------------------------

def exit_code(findings: list[Finding]) -> int:
    if any(f.status == "error" for f in findings):
        return 2
    return 1 if any(f.status == "fail" for f in findings) else 0


def summary(findings: list[Finding]) -> str:
    counts = {status: sum(f.status == status for f in findings) for status in ("pass", "fail", "ambiguous", "error")}
    return (f"{counts['pass']} passed, {counts['fail']} failed"
            + (f", {counts['ambiguous']} ambiguous" if counts["ambiguous"] else "")
            + (f", {counts['error']} unreadable" if counts["error"] else ""))


def report(findings: list[Finding], format: str, verbose: bool = False) -> str:
    if format == "json":
        return json.dumps({"findings": [asdict(f) for f in findings], "summary": summary(findings),
                           "exit_code": exit_code(findings)}, indent=2)
    if format == "github":
        return github(findings)
    if format == "junit":
        return junit(findings)
    troubled = {f.path for f in findings if f.status not in ("pass", "note")}
    shown = [f for f in findings if verbose or f.status not in ("pass", "note")
             or (f.status == "note" and (f.subject != "rows" or f.path in troubled))]  # how rows matched
    # explains a failure; other notes (a ragged row, the no-bias hint) always show
    return "\n".join([f"{f.path}:{f.line}: {f.status.upper()} {f.subject}: {f.message}" for f in shown]
                     + [summary(findings)])


def github(findings: list[Finding]) -> str:
    """Workflow commands: ``::error file=F,line=L,title=T::message``; GitHub shows them on the line."""
    def data(text: str) -> str:
        return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")

    def prop(text: str) -> str:
        return data(text).replace(":", "%3A").replace(",", "%2C")

    level = {"fail": "error", "error": "error", "ambiguous": "warning"}
    lines = [f"::{level[f.status]} file={prop(f.path)},line={f.line},title={prop(f.subject)}::{data(f.message)}"
             for f in findings if f.status in level]
    return "\n".join(lines + [summary(findings)])


def junit(findings: list[Finding]) -> str:
    cases = [f for f in findings if f.status != "note"]
    failures = sum(f.status == "fail" for f in cases)
    errors = sum(f.status == "error" for f in cases)
    lines = []
    for f in cases:
        name = quoteattr(f"{f.path}:{f.line}: {f.subject}")
        body = {"fail": f"<failure message={quoteattr(f.message)}/>",
                "error": f"<error message={quoteattr(f.message)}/>",
                "ambiguous": f"<system-out>{escape(f.message)}</system-out>"}.get(f.status, "")
        lines.append(f'  <testcase classname="cnnspec.check" name={name}>{body}</testcase>')
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<testsuite name="cnnspec check" tests="{len(cases)}" '
            f'failures="{failures}" errors="{errors}">\n' + "\n".join(lines) + "\n</testsuite>")
