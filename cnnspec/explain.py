"""`cnnspec explain`: the working behind every figure, as the course writes it.

Each layer type declares its formulas next to the code that computes the figures
(``Layer.formulas``, ``Layer.receptive_field_formulas``); this module only gathers them, adds what
is the same for every layer (the memory of an output tensor) and sums: a network's or a block's totals
as the sum of their parts, an inception module's branches, the training memory term by term, all read
from the Analysis. Rendered as text (Unicode where the output's encoding allows, else ASCII),
Markdown with LaTeX math, or JSON.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from fractions import Fraction

from .analysis import Analysis, Row
from .errors import SpecError
from .formula import ASCII, LATEX, TEXT, Formula, Num, Style, Sym, Term, format_number, positions, times, total, values
from .graph import Graph, Node
from .layers.base import closest
from .shape import format_shape


@dataclass
class Section:
    """One subject explained: a layer, a block, a branch, a network's totals."""
    title: str
    formulas: list[Formula] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    subject: str = ""  # the layer or block name ('' for the whole network)


# --- layers -----------------------------------------------------------------------------------

def layer_formulas(graph: Graph, analysis: Analysis, node: Node) -> list[Formula]:
    """The layer's own formulas, then its output's memory and its receptive field."""
    row = analysis.row(node.name)
    formulas = list(node.layer.formulas(node.in_shapes, node.out_shape))
    formulas += memory_formulas(row, analysis)
    formulas += traffic_formulas(node, row, analysis)
    fields_in = [analysis.row(name).receptive_field for name in node.inputs]
    if row.receptive_field is not None and all(f is not None for f in fields_in):
        formulas += node.layer.receptive_field_formulas(node.in_shapes, fields_in)
    return formulas


def memory_formulas(row: Row, analysis: Analysis) -> list[Formula]:
    """The values of the tensor a layer stores (cs231n's "memory"), and its bytes at the dtype."""
    if not row.memory:
        return []
    stored = values(row.shape) if row.memory == row.values else Num(row.memory)
    size = analysis.bytes_per_value
    return [Formula("memory", stored, note="the output tensor"),
            Formula("bytes", times(Term("memory", Num(row.memory)), Num(size)),
                    note=f"{size} bytes per value in {analysis.dtype}")]


def traffic_formulas(node: Node, row: Row, analysis: Analysis) -> list[Formula]:
    """The bytes one inference forward of the batch reads and writes: the layer's traffic at the dtype."""
    traffic = node.layer.traffic(node.in_shapes, node.out_shape)
    batch, size = Sym("batch", analysis.training.batch), Num(analysis.bytes_per_value)
    found = []
    if row.bytes_read:
        parts = [times(batch, Term("inputs", Num(traffic.read)), size)] if traffic.read else []
        parts += [times(Term("weights", Num(traffic.weights)), size)] if traffic.weights else []
        found.append(Formula("bytes_read", total(parts), note="the batch's inputs, the weights and buffers once, "
                                                              f"{analysis.bytes_per_value} bytes per value"))
    if row.bytes_written:
        found.append(Formula("bytes_written", times(batch, Term("output", values(row.shape)), size),
                             note="the batch's outputs"))
    return found


def explain_layer(graph: Graph, analysis: Analysis, name: str) -> Section:
    node, row = graph[name], analysis.row(name)
    inputs = ", ".join(format_shape(shape) for shape in node.in_shapes)
    section = Section(f"{name} ({node.type}): {inputs + ' -> ' if inputs else ''}{format_shape(row.shape)}",
                      layer_formulas(graph, analysis, node), subject=name)
    zero = [what for what, value in (("params", row.params), ("MACs", row.macs), ("FLOPs", row.flops)) if not value]
    if zero:
        section.notes.append(f"no {', no '.join(zero)}")
    if not row.memory and node.inputs:
        kind = {"inplace": "it runs in place on its input", "view": "its output is a view of its input"}
        section.notes.append(f"memory 0: {kind.get(node.layer.memory, 'it stores no tensor of its own')}")
    if not any(f.figure == "output" for f in section.formulas) and node.in_shapes \
            and node.in_shapes[0] == row.shape:
        section.notes.append("output: the shape of its input")
    section.notes += [f"warning: {warning}" for warning in row.warnings]
    return section


# --- totals as sums ---------------------------------------------------------------------------

FIGURES = ("params", "macs", "flops", "memory")


def parts_of(analysis: Analysis, prefix: str) -> list[tuple[str, list[Row]]]:
    """The rows under ``prefix`` grouped by their next name component (a network's top-level blocks and
    layers; a block's sub-blocks and layers), in order."""
    groups: dict[str, list[Row]] = {}
    for row in analysis.rows:
        if prefix and not row.name.startswith(prefix + "."):
            continue
        rest = row.name[len(prefix) + 1:] if prefix else row.name
        groups.setdefault(rest.split(".")[0], []).append(row)
    return list(groups.items())


def sum_formula(figure: str, groups: list[tuple[str, list[Row]]], note: str = "") -> Formula:
    """``figure`` as the sum of its nonzero parts, each part named."""
    terms = [Term(name, Num(value)) for name, rows in groups if (value := sum(getattr(r, figure) for r in rows))]
    return Formula(figure, total(terms) if terms else Num(0), note=note)


def where(figure: str, groups: list[tuple[str, list[Row]]], whole: int) -> str:
    """'most in fc6: 102,764,544 (74%)', the course's "where the parameters are"."""
    name, rows = max(groups, key=lambda group: sum(getattr(r, figure) for r in group[1]))
    largest = sum(getattr(r, figure) for r in rows)
    return f"{Formula.LABELS[figure]}: most in {name}, {largest:,} ({largest / whole:.0%})" if whole else ""


def explain_network(graph: Graph, analysis: Analysis) -> list[Section]:
    groups = parts_of(analysis, "")
    totals = analysis.totals
    section = Section(f"{analysis.name}: {format_shape(analysis.input_shape)} -> "
                      + ", ".join(format_shape(analysis.row(o).shape) for o in analysis.outputs))
    for figure in FIGURES:
        section.formulas.append(sum_formula(figure, groups, "values, the input included" if figure == "memory"
                                            else ""))
    section.formulas.append(Formula("bytes", times(Term("memory", Num(totals.memory)), Num(analysis.bytes_per_value)),
                                    note=f"forward memory per image in {analysis.dtype}"))
    traffic = f"one inference forward of batch {analysis.training.batch} in {analysis.dtype}"
    section.formulas += [sum_formula(figure, groups, traffic) for figure in ("bytes_read", "bytes_written")
                         if getattr(totals, figure)]
    section.notes += [text for figure in (*FIGURES, "bytes_read")
                      if (text := where(figure, groups, getattr(totals, figure)))]
    section.notes.append(f"peak live memory: {analysis.peak_memory:,} values "
                         f"({analysis.peak_memory * analysis.bytes_per_value:,} bytes) while {analysis.peak_at} runs")
    return [section, training_section(analysis), *branch_sections(graph, analysis, "")]


def training_section(analysis: Analysis) -> Section:
    """The training-memory estimate, term by term, as the Analysis holds it."""
    training = analysis.training
    terms = [Term(name, Num(getattr(training, name))) for name in training.TERMS]
    return Section(f"training memory, batch {training.batch}, {training.optimizer} ({training.precision})",
                   [Formula("training", total(terms), note="bytes")], subject="training")


def block_rows(analysis: Analysis, prefix: str) -> list[Row]:
    return [row for row in analysis.rows if row.name.startswith(prefix + ".")]


def explain_block(graph: Graph, analysis: Analysis, prefix: str) -> list[Section]:
    rows = block_rows(analysis, prefix)
    first, last = graph[rows[0].name], rows[-1]
    inputs = ", ".join(format_shape(s) for s in first.in_shapes)
    section = Section(f"{prefix} (block of {len(rows)} layers): {inputs} -> {format_shape(last.shape)}", subject=prefix)
    groups = parts_of(analysis, prefix)
    section.formulas = [sum_formula(figure, groups) for figure in FIGURES]
    section.notes += [text for figure in FIGURES
                      if (text := where(figure, groups, sum(getattr(r, figure) for r in rows)))]
    return [section, *branch_sections(graph, analysis, prefix)]


# --- branches ---------------------------------------------------------------------------------

def branches(graph: Graph, prefix: str) -> list[tuple[str, list[Node]]]:
    """The parallel paths into a module's last merge (an inception module's four branches, a residual
    block's main path and shortcut), when nothing but the merge's output follows them and no layer
    before them is shared; [] otherwise."""
    members = [n for n in graph.nodes[1:] if not prefix or n.name.startswith(prefix + ".")]
    inside = {n.name for n in members}
    merges = [n for n in members if len(n.inputs) > 1]
    if not merges:
        return []
    merge = merges[-1]
    ancestry = [ancestors(graph, name, inside) for name in merge.inputs]
    shared = set.union(*(a & b for i, a in enumerate(ancestry) for b in ancestry[i + 1:]), set())
    paths = [a - shared for a in ancestry]
    after = members[members.index(merge):]
    if shared or sum(map(len, paths)) + len(after) != len(members):
        return []
    found = []
    for name, path in zip(merge.inputs, paths):
        label = name[len(prefix) + 1:].split(".")[0] if prefix else name.split(".")[0]
        found.append((label if path else f"{name} (the input, unchanged)", [n for n in members if n.name in path]))
    return found


def ancestors(graph: Graph, name: str, inside: set[str]) -> set[str]:
    found, stack = set(), [name]
    while stack:
        current = stack.pop()
        if current in inside and current not in found:
            found.add(current)
            stack.extend(graph[current].inputs)
    return found


def branch_sections(graph: Graph, analysis: Analysis, prefix: str) -> list[Section]:
    return [branch_section(graph, analysis, prefix, label, nodes) for label, nodes in branches(graph, prefix)]


def branch_section(graph: Graph, analysis: Analysis, prefix: str, label: str, nodes: list[Node]) -> Section:
    """A branch's weights as the sum of its layers' formulas (1*1*480*16 + 5*5*16*48 = 26,880), its
    params, and its MACs as the course writes them: (7,680 + 19,200) x 14 x 14 when every layer's MACs
    are its weights at every output position."""
    relative = lambda name: name[len(prefix) + 1:] if prefix else name  # noqa: E731
    first = relative(nodes[0].name).split(".")[0] if nodes else label
    path = label if first == label else f"{first} -> {label}"  # 'conv1 -> bn3', a residual block's main path
    section = Section(f"branch {path}" + (f" of {prefix}" if prefix else ""), subject=label)
    if not nodes:
        section.notes.append("no layers: no params, no MACs")
        return section
    weights, params, macs = [], [], []
    for node in nodes:
        row = analysis.row(node.name)
        own = {f.figure: f for f in node.layer.formulas(node.in_shapes, node.out_shape)}
        if row.macs:
            working = own.get("weights") or own.get("params")
            weights.append((node, row, Term(relative(node.name), working.expression)))
            macs.append(Term(relative(node.name), own["macs"].expression))
        if row.params:
            params.append(Term(relative(node.name), Num(row.params)))
    if weights:
        section.formulas.append(Formula("weights", total([term for _, _, term in weights]),
                                        note="conv and linear weights, as the course counts them"))
    if params:
        section.formulas.append(Formula("params", total(params)))
    grid = {row.shape[1:] for _, row, _ in weights}
    if len(grid) == 1 and all(row.macs == (row.params - row.bias) * row.values // row.shape[0]
                              for _, row, _ in weights):
        shape = weights[0][1].shape
        section.formulas.append(Formula("macs", times(total([Term(t.name, Num(t.value)) for _, _, t in weights]),
                                                      positions(shape, "_out")),
                                        note="every weight once per output position"))
    elif macs:
        section.formulas.append(Formula("macs", total(macs)))
    return section


# --- what to explain --------------------------------------------------------------------------

def explain(graph: Graph, analysis: Analysis, subjects: list[str]) -> list[Section]:
    """Sections for each named layer or block; the network's totals when none is named."""
    if not subjects:
        return explain_network(graph, analysis)
    sections = []
    for subject in subjects:
        if subject in graph.by_name:
            sections.append(explain_layer(graph, analysis, subject))
        elif block_rows(analysis, subject):
            sections += explain_block(graph, analysis, subject)
        else:
            blocks = {row.name.rsplit(".", i)[0] for row in analysis.rows for i in range(1, row.name.count(".") + 1)}
            raise SpecError(f"no layer or block '{subject}' in {analysis.name}"
                            f"{closest(subject, [*graph.by_name, *blocks])}")
    return sections


# --- rendering --------------------------------------------------------------------------------

def text_style(encoding: str | None) -> Style:
    """Unicode x, subscripts and floor brackets where the output can encode them; ASCII otherwise."""
    try:
        "×⌊⌋ₒᵤₜᵢₙ".encode(encoding or "ascii")
        return TEXT
    except (UnicodeEncodeError, LookupError):
        return ASCII


def to_text(sections: list[Section], style: Style = TEXT, width: int = 100) -> str:
    """Label, formula, then the note in parentheses: on the same line where it fits ``width``, else on
    the next, under the formula."""
    lines = []
    for section in sections:
        lines.append(section.title)
        labels = max((len(f.label) for f in section.formulas), default=0)
        for formula in section.formulas:
            line = f"  {formula.label:<{labels}}  {' = '.join(formula.parts(style))}"
            note = f"({formula.note})" if formula.note else ""
            if note and len(line) + 2 + len(note) > width:
                lines += [line, " " * (labels + 4) + note]
            else:
                lines.append(f"{line}  {note}" if note else line)
        lines += [f"  {note}" for note in section.notes]
        lines.append("")
    return "\n".join(lines).rstrip("\n")


def to_markdown(sections: list[Section]) -> str:
    """Headings and lists with LaTeX math, for lecture notes and Jupyter (named parts of a total are
    listed beside the equation, in code spans, so that no name is read as LaTeX)."""
    lines = []
    for section in sections:
        lines += [f"### {section.title}", ""]
        for formula in section.formulas:
            note = f" ({formula.note})" if formula.note else ""
            names = term_names(formula)
            named = f"; {', '.join(f'`{name}`' for name in names)}" if names else ""
            lines.append(f"- {formula.label}: ${' = '.join(formula.parts(LATEX))}${note}{named}")
        lines += [f"- {note}" for note in section.notes]
        lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"


def term_names(formula: Formula) -> list[str]:
    names, stack = [], [formula.expression]
    while stack:
        expr = stack.pop()
        if isinstance(expr, Term):
            names.append(expr.name)
        else:
            stack += [getattr(expr, side) for side in ("right", "left") if hasattr(expr, side)]
    return names


def to_json(sections: list[Section]) -> str:
    return json.dumps({"sections": [{"title": s.title, "subject": s.subject,
                                     "formulas": [f.to_dict() for f in s.formulas], "notes": s.notes}
                                    for s in sections]}, indent=2)


# --- a hand-written table or breakdown ---------------------------------------------------------

KIND_FIGURES = {"params": ("weights", "params"), "weights": ("weights", "params"), "memory": ("memory", "bytes"),
                "macs": ("macs",), "flops?": ("macs", "flops"), "output": ("output",)}


def explain_table(path: str, graph: Graph, analysis: Analysis) -> list[Section]:
    """Each wrong figure of a hand-written table or line-by-line breakdown, worked out: the layer's
    formulas for it, or for a total the rows' sum as written beside the spec's sum."""
    from .check import hand_claims
    findings, claims = hand_claims(path, analysis)
    sections = [(f.line, Section(f"{path}:{f.line}: {f.subject}", notes=[f.message]))
                for f in findings if f.status == "fail"]
    for claim in claims:
        if claim.finding.status != "fail":
            continue
        title = f"{path}:{claim.finding.line}: {claim.finding.subject}"
        if isinstance(claim.source, Row):
            section = row_section(graph, analysis, claim, title)
        elif claim.source is not None:
            section = total_section(analysis, claim, claims, title)
        else:
            section = Section(title, notes=[claim.finding.message])
        sections.append((claim.finding.line, section))
    if not sections:
        return [Section(f"{path}: every figure agrees with {analysis.name}")]
    return [section for _, section in sorted(sections, key=lambda pair: pair[0])]


def row_section(graph: Graph, analysis: Analysis, claim, title: str) -> Section:
    from .check import compare_cell
    name = claim.source.name
    wanted = KIND_FIGURES.get(claim.kind, ())
    if name in graph.by_name:
        formulas = layer_formulas(graph, analysis, graph[name])
    else:
        formulas = [sum_formula(figure, parts_of(analysis, name)) for figure in FIGURES]
    section = Section(title, [f for f in formulas if f.figure in wanted], [claim.finding.message], subject=name)
    if claim.kind == "params" and compare_cell("weights", claim.header, claim.text, claim.source, analysis)[0] == "pass":
        section.notes.append(f"{claim.text} is the weights without bias: call the column 'params (no bias)' or 'weights'")
    return section


def total_section(analysis: Analysis, claim, claims, title: str) -> Section:
    """A totals figure against the sum of the rows as written and of the layers they match; in bytes,
    against the spec's total values times the bytes per value."""
    from .check import in_bytes, read_figure
    written = read_figure(claim.text, claim.header, claim.kind)
    in_bytes_here = in_bytes(claim.header, written)
    rows = [c for c in claims if c.table is claim.table and c.kind == claim.kind and isinstance(c.source, Row)
            and in_bytes(c.header, read_figure(c.text, c.header, c.kind)) == in_bytes_here]
    size = analysis.bytes_per_value if in_bytes_here else 1
    figure = "bytes" if in_bytes_here else KIND_FIGURES[claim.kind][-1 if claim.kind in ("params", "weights") else 0]
    whole = true_value(analysis.totals, claim.kind)
    section = Section(title, subject="totals")
    if rows:
        as_written = total([Num(int(read_figure(c.text, c.header, c.kind).value)) for c in rows])
        true = total([Num(true_value(c.source, claim.kind) * size) for c in rows])
        section.formulas += [Formula(figure, as_written, note="the rows as written"),
                             Formula(figure, true, note=f"the layers they match in {analysis.name}")]
        section.notes.append(f"written {claim.text}: the rows sum to {as_written.value:,} as written and "
                             f"{true.value:,} in the spec; {claim.text} is not a sum of the rows")
    if in_bytes_here:
        section.formulas.append(Formula("bytes", times(Term("memory", Num(whole)), Num(size)),
                                        note=f"{size} bytes per value in {analysis.dtype}"))
        section.notes.append(f"written {claim.text} = {format_number(Fraction(written.value) / size)} values x {size} "
                             f"bytes; the spec has {whole:,} values: {whole * size:,} bytes, about "
                             f"{whole * size / 1e6:.0f} MB")
    elif claim.kind == "memory":
        section.notes.append(f"the spec's {whole:,} values are {whole * analysis.bytes_per_value:,} bytes, about "
                             f"{whole * analysis.bytes_per_value / 1e6:.0f} MB in {analysis.dtype}")
    return section


def true_value(source, kind: str) -> int:
    return {"params": source.params, "weights": source.params - source.bias, "memory": source.memory,
            "macs": source.macs, "flops?": source.flops}[kind]
