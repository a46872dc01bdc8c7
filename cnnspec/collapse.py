"""Rows collapsed by block: every block nested deeper than ``depth`` becomes one row, as torchinfo's
``depth`` and fvcore's ``max_depth`` show a model.

Depth counts the components of a block's dotted name, as ``cnnspec graph --depth`` does: at depth 0
ResNet-50 shows ``stem``, ``layer1`` ... ``layer4``; at depth 1 ``layer1.0``, ``layer1.1`` ...
A collapsed row sums its layers' params, bias, buffers, MACs, FLOPs, stored memory, traffic and roofline
time exactly (its intensity is its sums' ratio; it is bound by what bounds most of its time); its
output shape, output size and receptive field are those of the block's output: the layer that is
read from outside the block (or a model output).
"""
from __future__ import annotations

import dataclasses

from . import roofline
from .analysis import Analysis, Row

SUMMED = ("params", "trainable", "bias", "buffers", "macs", "flops", "memory", "bytes_read", "bytes_written")


def block_path(block: str | None, depth: int | None) -> tuple[list[str], str | None]:
    """The expanded blocks around a layer of ``block`` (outermost first) and the block it collapses
    into, if any: 'layer1.0.downsample' at depth 1 -> (['layer1'], 'layer1.0')."""
    parts = block.split(".") if block else []
    prefixes = [".".join(parts[:i]) for i in range(1, len(parts) + 1)]
    if depth is None or len(prefixes) <= depth:
        return prefixes, None
    return prefixes[:depth], prefixes[depth]


def collapse(analysis: Analysis, depth: int | None) -> Analysis:
    """The analysis with blocks deeper than ``depth`` as one row each (totals unchanged)."""
    if depth is None:
        return analysis
    groups: dict[str, list[Row]] = {}
    group_of: dict[str, str] = {}
    for row in analysis.rows:
        key = block_path(row.block, depth)[1] or row.name
        groups.setdefault(key, []).append(row)
        group_of[row.name] = key
    outputs = set(analysis.outputs)
    read_outside = {name for row in analysis.rows for name in row.inputs if group_of[name] != group_of[row.name]}
    rows = [layer_row(members[0], group_of) if len(members) == 1 and members[0].name == key else
            block_row(key, members, read_outside | outputs, group_of, block_type(analysis.blocks, key),
                      analysis.training.batch)
            for key, members in groups.items()]
    return dataclasses.replace(analysis, rows=rows, outputs=list(dict.fromkeys(group_of[o] for o in analysis.outputs)),
                               peak_at=group_of.get(analysis.peak_at, analysis.peak_at))


def layer_row(row: Row, group_of: dict[str, str]) -> Row:
    """A layer left as it is, reading from the collapsed rows."""
    inputs = [group_of[name] for name in row.inputs]
    return row if inputs == row.inputs else dataclasses.replace(row, inputs=inputs)


def block_row(key: str, members: list[Row], read_outside: set[str], group_of: dict[str, str], type_name: str,
              batch: int) -> Row:
    exits = [row for row in members if row.name in read_outside]
    out = exits[-1] if exits else members[-1]
    inputs = list(dict.fromkeys(group_of[name] for row in members for name in row.inputs if group_of[name] != key))
    sums = {name: sum(getattr(row, name) for row in members) for name in SUMMED}
    return Row(name=key, type=type_name, block=key.rpartition(".")[0] or None, inputs=inputs, shape=out.shape,
               values=out.values, receptive_field=out.receptive_field,
               warnings=[f"{row.name}: {warning}" for row in members for warning in row.warnings],
               intensity=roofline.intensity(batch * sums["flops"], sums["bytes_read"] + sums["bytes_written"]),
               **sums, **block_bound(members))


def block_bound(members: list[Row]) -> dict:
    """The block's roofline time (its layers', one after another) and what bounds most of it."""
    if all(row.seconds is None for row in members):
        return {}
    spent = {bound: sum(row.seconds for row in members if row.bound == bound) for bound in ("compute", "memory")}
    seconds = sum(spent.values())
    return {"seconds": seconds, "bound": max(spent, key=spent.get) if seconds else None}


def block_type(blocks: dict[str, str], key: str) -> str:
    """The block's type ('bottleneck'); for a repeated block, its type and count ('bottleneck x3')."""
    if key in blocks:
        return blocks[key]
    depth = key.count(".") + 1
    children = [kind for name, kind in blocks.items() if name.startswith(key + ".") and name.count(".") == depth]
    if children and len(set(children)) == 1:
        return f"{children[0]} x{len(children)}"
    return "block"
