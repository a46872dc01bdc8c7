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
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal
from xml.sax.saxutils import quoteattr

from .analysis import Analysis, Row, analyze
from .errors import Loc, SpecError
from .files import read_exact
from .figures import Figure, FigureError, format_exact, parse_figure, parse_shape, shape_matches
from .graph import load
from .shape import format_shape
from .spec import Mapping, read_yaml
from .tables import Table, managed_tables, read_table, updated_text

Status = Literal["pass", "fail", "ambiguous", "error"]
INPUT_NAMES = {"input", "data", "image", "images"}


@dataclass
class Finding:
    path: str
    line: int
    subject: str  # what was checked: "row 3 (CONV3-64) params", "expect: params"
    status: Status
    message: str


# --- what a column means ----------------------------------------------------------------------

ColumnKind = Literal["name", "output", "params", "weights", "memory", "macs", "flops?"]


def column_kind(header: str) -> ColumnKind | None:
    """Interpret a header as people write it; 'FLOPs' and 'ops' are ambiguous (MACs or 2 x MACs + ...)."""
    h = header.lower()
    if re.search(r"no bias|without bias|excl\.? bias|w/o bias", h):
        return "weights"
    if re.search(r"param|weight|#w", h):
        return "params"
    if re.search(r"mac|mult-?add|multiply-?add|madd", h):
        return "macs"
    if re.search(r"flop|\bops\b|operations|compute", h):
        return "flops?"
    if re.search(r"memory|activation|\bmem\b", h):
        return "memory"
    if re.search(r"output|shape|size|dimension", h):
        return "output"
    if re.search(r"layer|name|module|stage|type", h):
        return "name"
    return None


def header_prefix(header: str) -> str:
    """The unit prefix a header gives its bare numbers: 'GFLOPs' -> 'G', 'Params (M)' -> 'M', 'millions' -> 'M'."""
    h = header.replace(" ", "")
    found = (re.search(r"(?<![A-Za-z])([kKMGT])(?:i?B|FLOPs?|flops?|MACs?|macs?|ops|params)", h)
             or re.search(r"\(([kKMGT])\)", h))
    if found:
        return found[1]
    words = {"thousand": "K", "million": "M", "billion": "G"}
    return next((prefix for word, prefix in words.items() if word in header.lower()), "")


def memory_in_bytes(header: str, figure: Figure) -> bool:
    return figure.unit == "bytes" or bool(re.search(r"byte|\b[kmg]i?b\b", header.lower()))


# --- one cell ---------------------------------------------------------------------------------

def compare_cell(kind: ColumnKind, header: str, text: str, row: Row | None, totals, analysis: Analysis) -> tuple[Status, str]:
    """(status, message) for one cell against a layer row (or the totals when row is None)."""
    if kind == "output":
        written = parse_shape(text)
        if row is None:
            return "pass", "not checked on a totals row"
        how = shape_matches(written, row.shape)
        if how:
            return "pass", f"{text} matches {format_shape(row.shape)} ({how})"
        return "fail", f"written {text}, the spec gives {format_shape(row.shape)} (C x H x W)"
    figure = parse_figure(text + header_prefix(header) if re.fullmatch(r"[\d.,]+", text) else text)
    source = row if row is not None else totals
    if kind == "params":
        return judge(figure, source.params, "params")
    if kind == "weights":
        return judge(figure, source.params - source.bias, "params without bias")
    if kind == "memory":
        values = source.memory
        if memory_in_bytes(header, figure):
            return judge(figure, values * analysis.bytes_per_value, f"bytes in {analysis.dtype}")
        return judge(figure, values, "values")
    if kind == "macs" or figure.unit == "macs":
        return judge(figure, source.macs, "MACs")
    if figure.unit == "flops" and kind != "flops?":
        return judge(figure, source.flops, "FLOPs")
    as_flops, as_macs = figure.matches(source.flops), figure.matches(source.macs)
    if as_flops and as_macs:
        return "pass", f"{text} matches (FLOPs and MACs agree here)"
    if as_flops:
        return "pass", f"{text} matches FLOPs {format_exact(source.flops)}"
    if as_macs:
        return "ambiguous", (f"'{header}' is ambiguous: {text} is the MAC count {format_exact(source.macs)} "
                             f"(as torchvision and fvcore say FLOPs), not FLOPs {format_exact(source.flops)}")
    return "fail", (f"written {text}; the spec gives {format_exact(source.macs)} MACs and "
                    f"{format_exact(source.flops)} FLOPs ('{header}' could mean either)")


def judge(figure: Figure, true: int, what: str) -> tuple[Status, str]:
    if figure.matches(true):
        return "pass", f"{figure.text} matches {format_exact(true)} {what} ({figure.precision})"
    return "fail", f"written {figure.text}, true {format_exact(true)} {what} ({figure.precision})"


# --- hand-written tables ----------------------------------------------------------------------

def is_totals(cells: list[str]) -> bool:
    return bool(cells) and bool(re.match(r"^\W*total", cells[0], re.I))


def match_rows(table: Table, name_column: int | None, analysis: Analysis) -> tuple[list[Row | None], str]:
    """Each table row's layer: by name when the names are the spec's, else by order over the layers
    that store a tensor or hold parameters (in-place activations and views fold into them)."""
    body = [cells for cells in table.rows if not is_totals(cells)]
    by_name = {row.name.lower(): row for row in analysis.rows}
    if name_column is not None:
        named = [by_name.get(cells[name_column].lower()) for cells in body]
        if sum(row is not None for row in named) * 2 >= len(body):
            return named, "by name"
    candidates = [row for row in analysis.rows if row.memory or row.params]
    if name_column is not None and body and body[0][name_column].lower() not in INPUT_NAMES:
        candidates = candidates[1:]  # the table starts at the first layer, not the input
    if len(candidates) != len(body):
        raise SpecError(f"cannot match the table's {len(body)} rows to the spec's {len(candidates)} layers that "
                        "store a tensor or hold parameters, by order; name the spec's layers in the table",
                        Loc(table.path, table.header_line, 1))
    return list(candidates), "by order"


def check_table(table: Table, analysis: Analysis) -> list[Finding]:
    kinds = [column_kind(h) for h in table.header]
    name_column = kinds.index("name") if "name" in kinds else None
    if not any(k not in (None, "name") for k in kinds):
        raise SpecError(f"no column to check in header {table.header} (expected e.g. output, params, memory, MACs)",
                        Loc(table.path, table.header_line, 1))
    layers, how = match_rows(table, name_column, analysis)
    findings, layer_iter = [], iter(layers)
    for cells, line in zip(table.rows, table.lines):
        totals = is_totals(cells)
        row = None if totals else next(layer_iter)
        label = cells[name_column] if name_column is not None and name_column < len(cells) else f"line {line}"
        target = "totals" if totals else (row.name if row else "?")
        if not totals and row is None:
            findings.append(Finding(table.path, line, label, "fail", f"no layer named '{label}' in the spec"))
            continue
        for column, (kind, header) in enumerate(zip(kinds, table.header)):
            text = cells[column] if column < len(cells) else ""
            if kind in (None, "name") or not text or text in ("-", "—"):
                continue
            subject = f"{label} [{header}] -> {target} ({how})"
            try:
                status, message = compare_cell(kind, header, text, row, analysis.totals, analysis)
            except FigureError as error:
                status, message = "error", f"row {line}, column '{header}': {error}"
            findings.append(Finding(table.path, line, subject, status, message))
    return findings


# --- managed tables ---------------------------------------------------------------------------

def check_managed(path: str) -> list[Finding]:
    text = read_exact(path)
    tables = managed_tables(path, text)
    if not tables:
        return []
    expected = updated_text(path, text)
    if expected == text:
        return [Finding(path, t.start + 1, f"managed table of {t.spec}", "pass", "up to date") for t in tables]
    diff = "".join(difflib.unified_diff(text.splitlines(keepends=True), expected.splitlines(keepends=True),
                                        f"{path} (written)", f"{path} (from the spec now)"))
    first = next(t for t in tables if t.render() != "\n".join(text.splitlines()[t.start + 1:t.end]) + "\n")
    return [Finding(path, first.start + 1, f"managed table of {first.spec}", "fail",
                    f"the table differs from what the spec gives now (run `cnnspec table --update {path}`):\n{diff}")]


# --- expect: in specs -------------------------------------------------------------------------

TOTALS_KEYS = {"params": "params", "trainable": "trainable", "buffers": "buffers", "macs": "macs", "flops": "flops",
               "memory": "memory"}
ROW_KEYS = {"params", "macs", "flops", "memory", "output"}
UNIT_WORDS = {"memory": "values", "macs": "MACs", "flops": "FLOPs"}


def check_expect(spec_path: str) -> list[Finding]:
    data = read_yaml(spec_path, Path(spec_path).read_text())
    expect = data.get("expect") if isinstance(data, Mapping) else None
    if expect is None:
        return []
    if not isinstance(expect, Mapping):
        raise SpecError("expect: must be a mapping of figures", data.locs["expect"])
    analysis = analyze(load(spec_path))
    findings = []
    for key, value in expect.items():
        loc = expect.locs[key]
        if key == "source":
            continue
        if key == "layers":
            findings += check_layer_expectations(spec_path, value, loc, analysis)
        elif key == "output":
            findings.append(check_outputs(spec_path, value, loc, analysis))
        elif key in TOTALS_KEYS:
            findings.append(expect_figure(spec_path, f"expect: {key}", value, loc,
                                          getattr(analysis.totals, TOTALS_KEYS[key]), UNIT_WORDS.get(key, key)))
        else:
            known = ", ".join([*TOTALS_KEYS, "output", "layers", "source"])
            raise SpecError(f"unknown expectation '{key}'; expect: takes {known}", expect.key_locs[key])
    return findings


def expect_figure(path: str, subject: str, value: Any, loc: Loc, true: int, what: str) -> Finding:
    source = ""
    if isinstance(value, dict):
        source = f" [{value.get('source')}]" if value.get("source") else ""
        value = value.get("value")
    if isinstance(value, bool) or not isinstance(value, (int, str, float)):
        raise SpecError(f"{subject} must be a number or a figure like 138M. Received: {value!r}", loc)
    try:
        figure = parse_figure(str(value))
    except FigureError as error:
        raise SpecError(str(error), loc) from None
    status, message = judge(figure, true, what)
    return Finding(path, loc.line, subject, status, message + source)


def check_outputs(path: str, value: Any, loc: Loc, analysis: Analysis) -> Finding:
    expected = value if isinstance(value, dict) else {analysis.outputs[0]: value}
    for name, shape in expected.items():
        if name not in analysis.outputs:
            return Finding(path, loc.line, "expect: output", "fail", f"'{name}' is not an output of the spec")
        actual = analysis.row(name).shape
        if not isinstance(shape, list) or tuple(shape) != actual:
            return Finding(path, loc.line, "expect: output", "fail",
                           f"written {shape}, the spec's output {name} is {list(actual)}")
    return Finding(path, loc.line, "expect: output", "pass", f"outputs {', '.join(map(str, expected.values()))}")


def check_layer_expectations(path: str, layers: Any, loc: Loc, analysis: Analysis) -> list[Finding]:
    if not isinstance(layers, Mapping):
        raise SpecError("expect: layers: maps layer names to figures", loc)
    findings = []
    names = {row.name for row in analysis.rows}
    for name, figures in layers.items():
        layer_loc = layers.locs[name]
        if name not in names:
            raise SpecError(f"expect: layers: no layer '{name}' in the spec", layers.key_locs[name])
        row = layer_totals(analysis, name)
        if not isinstance(figures, Mapping):
            raise SpecError(f"expect: layers: {name} takes a mapping of figures", layer_loc)
        for key, value in figures.items():
            if key not in ROW_KEYS:
                raise SpecError(f"unknown figure '{key}' for layer {name}; use {', '.join(sorted(ROW_KEYS))}",
                                figures.key_locs[key])
            if key == "output":
                ok = isinstance(value, list) and tuple(value) == row.shape
                findings.append(Finding(path, figures.locs[key].line, f"expect: layers: {name}: output",
                                        "pass" if ok else "fail", f"written {value}, the spec gives {list(row.shape)}"))
            else:
                findings.append(expect_figure(path, f"expect: layers: {name}: {key}", value, figures.locs[key],
                                              getattr(row, key), UNIT_WORDS.get(key, key)))
    return findings


def layer_totals(analysis: Analysis, name: str) -> Row:
    """A layer's row, or for a block instance (inception3a) the sum over its layers, shaped like a Row."""
    inner = [row for row in analysis.rows if row.name == name or row.name.startswith(name + ".")]
    if len(inner) == 1:
        return inner[0]
    last = inner[-1]
    return Row(name, "block", None, [], analysis.row(last.name).shape, *(
        sum(getattr(r, f) for r in inner) for f in ("params", "trainable", "bias", "buffers", "macs", "flops",
                                                    "values", "memory")), None)


# --- walking paths and reporting ----------------------------------------------------------------

def collect(paths: list[str]) -> list[Path]:
    files = []
    for path in map(Path, paths):
        if path.is_dir():
            files += sorted(p for p in path.rglob("*") if p.suffix in (".md", ".yaml", ".yml")
                            and not any(part.startswith(".") for part in p.relative_to(path).parts))
        elif path.is_file():
            files.append(path)
        else:
            raise SpecError(f"no such file or directory: {path}")
    return files


def check_paths(paths: list[str]) -> list[Finding]:
    findings = []
    for path in collect(paths):
        if path.suffix == ".md":
            findings += check_managed(str(path))
        elif path.suffix in (".yaml", ".yml"):
            findings += check_expect(str(path))
    return findings


def exit_code(findings: list[Finding]) -> int:
    if any(f.status == "error" for f in findings):
        return 2
    return 1 if any(f.status == "fail" for f in findings) else 0


def summary(findings: list[Finding]) -> str:
    counts = {status: sum(f.status == status for f in findings) for status in ("pass", "fail", "ambiguous", "error")}
    return (f"{counts['pass'] + counts['ambiguous']} passed, {counts['fail']} failed"
            + (f" ({counts['ambiguous']} ambiguous)" if counts["ambiguous"] else "")
            + (f", {counts['error']} unreadable" if counts["error"] else ""))


def report(findings: list[Finding], format: str, verbose: bool = False) -> str:
    if format == "json":
        return json.dumps({"findings": [asdict(f) for f in findings], "summary": summary(findings)}, indent=2)
    if format == "github":
        level = {"fail": "error", "error": "error", "ambiguous": "warning"}
        lines = [f"::{level[f.status]} file={f.path},line={f.line},title={f.subject}::"
                 + f.message.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
                 for f in findings if f.status in level]
        return "\n".join(lines + [summary(findings)])
    if format == "junit":
        return junit(findings)
    shown = [f for f in findings if verbose or f.status != "pass"]
    return "\n".join([f"{f.path}:{f.line}: {f.status.upper()} {f.subject}: {f.message}" for f in shown]
                     + [summary(findings)])


def junit(findings: list[Finding]) -> str:
    failures = sum(f.status == "fail" for f in findings)
    errors = sum(f.status == "error" for f in findings)
    cases = []
    for f in findings:
        name = quoteattr(f"{f.path}:{f.line}: {f.subject}")
        body = {"fail": f"<failure message={quoteattr(f.message)}/>", "error": f"<error message={quoteattr(f.message)}/>",
                "ambiguous": f"<system-out>{quoteattr(f.message)[1:-1]}</system-out>"}.get(f.status, "")
        cases.append(f'  <testcase classname="cnnspec.check" name={name}>{body}</testcase>')
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<testsuite name="cnnspec check" tests="{len(findings)}" '
            f'failures="{failures}" errors="{errors}">\n' + "\n".join(cases) + "\n</testsuite>")


def check_hand_table(table_path: str, spec: str, dtype: str = "fp32") -> list[Finding]:
    return check_table(read_table(table_path), analyze(load(spec), dtype))
