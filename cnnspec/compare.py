"""Designs side by side: totals with ratios to the first, rows aligned by block or layer name,
and resolution sweeps (what scales with H x W and what does not).

Every figure is read from ``cnnspec.analysis``; 'weights' is params without bias (the course's count).
"""
from __future__ import annotations

from dataclasses import dataclass
from math import prod

from .analysis import Analysis, Row, analyze
from .errors import SpecError
from .graph import load
from .shape import Shape

FIELDS = ("params", "weights", "macs", "flops", "memory", "peak_memory")
ROW_FIELDS = ("params", "weights", "macs", "flops", "memory")


@dataclass
class Column:
    label: str  # the spec's name, or its input shape in a sweep
    analysis: Analysis

    def total(self, field: str) -> int:
        totals = self.analysis.totals
        if field == "weights":
            return totals.params - totals.bias
        return self.analysis.peak_memory if field == "peak_memory" else getattr(totals, field)

    @property
    def receptive_field(self) -> str:
        return self.analysis.row(self.analysis.outputs[0]).receptive_size


def designs(specs: list[str], shapes: list[Shape]) -> list[Column]:
    """Two or more specs (each at its own input, or all at one ``shapes[0]``), or one spec at several inputs."""
    if len(specs) == 1 and len(shapes) >= 2:
        return [Column("x".join(map(str, shape)), analyze(load(specs[0], shape))) for shape in shapes]
    if len(specs) < 2 or len(shapes) > 1:
        raise SpecError("compare takes two or more specs, or one spec with --input 3x224x224,3x320x320")
    analyses = [analyze(load(spec, shapes[0] if shapes else None)) for spec in specs]
    names = [a.name for a in analyses]
    labels = names if len(set(names)) == len(names) else specs
    return [Column(label, analysis) for label, analysis in zip(labels, analyses)]


def is_sweep(columns: list[Column]) -> bool:
    return len({c.analysis.path for c in columns}) == 1 and len({c.analysis.input_shape for c in columns}) > 1


@dataclass
class Line:
    """One compared quantity: its value per column and the ratio of each to the first."""
    label: str
    values: list[int | str]

    @property
    def ratios(self) -> list[float | None]:
        first = self.values[0]
        if not isinstance(first, int) or not first:
            return [None] * len(self.values)
        return [v / first if isinstance(v, int) else None for v in self.values]


def totals(columns: list[Column]) -> list[Line]:
    lines = [Line(field, [c.total(field) for c in columns]) for field in FIELDS]
    return lines + [Line("receptive_field", [c.receptive_field for c in columns])]


def group_of(name: str, by: str) -> str:
    """The block a layer belongs to: its first name component ('layer1.0.conv1' -> 'layer1')."""
    return name if by == "layer" else name.split(".")[0]


def row_value(row: Row, field: str) -> int:
    return row.params - row.bias if field == "weights" else getattr(row, field)


def aligned(columns: list[Column], by: str, field: str) -> list[Line]:
    """Per-block (or per-layer) sums of ``field``, rows aligned by name across the designs, then the total;
    '-' where a design has no such block."""
    order: list[str] = []
    sums: list[dict[str, int]] = []
    for column in columns:
        per_group: dict[str, int] = {}
        for row in column.analysis.rows:
            group = group_of(row.name, by)
            per_group[group] = per_group.get(group, 0) + row_value(row, field)
            if group not in order:
                order.append(group)
        sums.append(per_group)
    lines = [Line(group, [s.get(group, "-") for s in sums]) for group in order]
    return lines + [Line("(total)", [sum(s.values()) for s in sums])]


def unshared(columns: list[Column], by: str) -> str | None:
    """What to say when no block (or layer) name is common to every design, so that no row lines up."""
    def names(column: Column, by: str) -> set[str]:
        groups = {group_of(row.name, by) for row in column.analysis.rows if by == "layer" or "." in row.name}
        return groups - {"input"}

    if set.intersection(*(names(c, by) for c in columns)):
        return None
    designs = " and ".join(c.label for c in columns) if len(columns) == 2 else "these designs"
    advice = "compare the totals (without --by)"
    if by == "block":
        layers = len(set.intersection(*(names(c, "layer") for c in columns)))
        advice += f", or layers by name with --by layer ({layers} layer name{'s' * (layers != 1)} shared)"
    return f"{designs} share no {by} names, so no row lines up ('-': the design has none); {advice}."


def scaling(columns: list[Column]) -> dict[str, str]:
    """For a sweep: how each total grows against the input's spatial size (pixels)."""
    pixels = [prod(c.analysis.input_shape[1:]) for c in columns]
    verdicts = {}
    for field in FIELDS:
        values = [c.total(field) for c in columns]
        if len(set(values)) == 1:
            verdicts[field] = "constant"
        elif all(v * pixels[0] == values[0] * p for v, p in zip(values, pixels)):
            verdicts[field] = "proportional to H x W"
        else:
            growth = values[-1] / values[0] if values[0] else float("inf")
            verdicts[field] = f"grows {growth:.2f}x for {pixels[-1] / pixels[0]:.2f}x the pixels"
    return verdicts

