"""The layer graph as a picture: Graphviz DOT, Mermaid (for Markdown), SVG and PNG.

Boxes are layers (or whole blocks, collapsed below ``depth`` levels of nesting) labelled with their
arguments; blocks are clusters; every edge carries the shape of the tensor it moves, and each output
runs into an "output" terminal on an edge with its shape. Branches are drawn the way the
papers draw them: parallel branches side by side (inception, Szegedy et al. 2015, Figure 2), and an
edge that jumps over a path to the same merge (a residual shortcut, He et al. 2016, Figure 2; a
dense connection; a U-Net copy, Ronneberger et al. 2015, Figure 1) dashed, beside the main path.
A network that upsamples (an encoder-decoder) is drawn as a U with Graphviz: one row per
resolution, so each copy edge runs level from the encoder on the left to the decoder on the right.

SVG, PDF and PNG come from Graphviz's ``dot`` when it is installed. Without it, SVG comes from a small
built-in layered layout (ranks by longest path, rows ordered by their parents' positions, each skip
edge in a lane of its own with its shape written along it), so the HTML report always has a graph;
PNG and PDF need ``dot``. A pure-Python layout library (grandalf, the one on PyPI) was considered and
not taken: it places nodes only, with no clusters, edge labels or rank constraints, so this module's
cluster and label code would stay, and it adds a dependency last released in 2023.
"""
from __future__ import annotations

import bisect
import html
import shutil
import subprocess
from dataclasses import dataclass, field, fields

from .collapse import block_path
from .errors import SpecError
from .graph import Graph
from .plot import family
from .shape import format_shape, numel

FILLS = {"conv": "#c6dbef", "pool": "#fdd0c7", "norm": "#fcefb4", "activation": "#e8e8e8", "linear": "#e2cfe0",
         "merge": "#c7e9c0", "reshape": "#eeeeee", "resize": "#cdeae7", "base": "#ffffff", "block": "#f2f2f2",
         "output": "#ffffff"}
ABBREVIATIONS = {"out_channels": "", "out_features": "", "kernel_size": "k", "stride": "s", "padding": "p",
                 "dilation": "d", "groups": "g", "output_padding": "op", "scale_factor": "x", "p": "p"}
"""Argument names shortened in box labels: 'conv2d 64 k3 s2 p1'."""
HIDDEN = ("inplace", "bias")
"""Arguments papers leave out of their figures."""
SHORT_TYPES = {"batchnorm": "bn"}
"""Folded layers by a shorter name: 'conv2d 64 k3 + bn + relu'."""
FORMATS = ("svg", "pdf", "png", "dot", "mmd")


@dataclass
class Box:
    """One drawn node: a layer, or a block collapsed into one box."""
    id: str  # the layer's full name, or the block's dotted path
    title: str  # the name inside its cluster
    detail: str
    family: str
    cluster: str | None  # the innermost expanded block around it
    layers: list[str] = field(default_factory=list)  # the layers drawn in it


@dataclass
class Edge:
    source: str
    target: str
    shape: str
    skip: bool  # jumps over another path to the same merge: drawn dashed, beside the main path


@dataclass
class Drawing:
    name: str
    boxes: list[Box]
    edges: list[Edge]
    clusters: list[str] = field(default_factory=list)  # expanded blocks, each after its parent
    levels: list[list[str]] = field(default_factory=list)  # encoder-decoder: boxes by resolution, finest first


@dataclass
class Tree:
    """Who sits directly inside whom (None: the top level); built once per use, linear in the drawing."""
    parent: dict[str, str | None]
    clusters: dict[str | None, list[str]]
    boxes: dict[str | None, list[Box]]

    def children(self, cluster: str | None) -> tuple[list[str], list[Box]]:
        return self.clusters.get(cluster, []), self.boxes.get(cluster, [])


def cluster_tree(drawing: Drawing) -> Tree:
    known = set(drawing.clusters)
    parent = {cluster: parent_cluster(cluster, known) for cluster in drawing.clusters}
    clusters: dict[str | None, list[str]] = {}
    for cluster in drawing.clusters:
        clusters.setdefault(parent[cluster], []).append(cluster)
    boxes: dict[str | None, list[Box]] = {}
    for box in drawing.boxes:
        boxes.setdefault(box.cluster, []).append(box)
    return Tree(parent, clusters, boxes)


def parent_cluster(cluster: str, clusters: set[str]) -> str | None:
    """The nearest enclosing block that is drawn as a cluster."""
    parts = cluster.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        if ".".join(parts[:cut]) in clusters:
            return ".".join(parts[:cut])
    return None


def layer_detail(node) -> str:
    """Type and the arguments that differ from their defaults: 'conv2d 64 k3 p1'."""
    if not node.inputs:
        return f"input {format_shape(node.out_shape)}"
    words = [node.type]
    for f in fields(node.layer):
        value = getattr(node.layer, f.name)
        if f.name in HIDDEN or value == f.default or (isinstance(value, (list, tuple)) and len(
                set(value)) == 1 and value[0] == f.default):
            continue
        if isinstance(value, (list, tuple)):
            value = value[0] if len(set(value)) == 1 else "x".join(map(str, value))
        key = ABBREVIATIONS.get(f.name, f"{f.name}=")
        words.append(f"{key}{value}" if not isinstance(value, bool) else f"{f.name}={str(value).lower()}")
    return " ".join(words)


def skip_edges(graph: Graph) -> set[tuple[str, str]]:
    """(u, v) where u also reaches another input of v: a shortcut, dense or skip connection."""
    ancestors: dict[str, int] = {}
    bit = {node.name: 1 << index for index, node in enumerate(graph.nodes)}
    for node in graph.nodes:
        ancestors[node.name] = 0
        for name in node.inputs:
            ancestors[node.name] |= bit[name] | ancestors[name]
    return {(u, node.name) for node in graph.nodes if len(node.inputs) > 1 for u in node.inputs
            if any(ancestors[w] & bit[u] for w in node.inputs if w != u)}


FOLDED = ("norm", "activation")
"""Families drawn inside their producer's box ('conv2d 64 k3 + bn + relu'), as papers draw them."""


def layout_graph(graph: Graph, depth: int | None = None, fold: bool = True) -> Drawing:
    """Boxes, clusters and shape-labelled edges; blocks nested deeper than ``depth`` become one box.

    With ``fold``, a norm or activation that is the only reader of its input joins that layer's box.
    """
    boxes: dict[str, Box] = {}
    box_of: dict[str, str] = {}
    clusters: dict[str, None] = {}  # ordered set
    members: dict[str, list] = {}
    for node in graph.nodes:
        expanded, collapsed = block_path(node.block, depth)
        clusters.update(dict.fromkeys(expanded))
        cluster = expanded[-1] if expanded else None
        box_id = collapsed or node.name
        if fold and not collapsed and foldable(graph, node):
            box_id = box_of[node.inputs[0]]
        box_of[node.name] = box_id
        members.setdefault(box_id, []).append(node)
        if box_id not in boxes:
            boxes[box_id] = Box(box_id, _local(box_id, cluster), "", "block" if collapsed else family(node.type),
                                cluster)
    for box_id, box in boxes.items():
        box.layers = [node.name for node in members[box_id]]
        box.detail = block_detail(members[box_id]) if box.family == "block" else " + ".join(
            layer_detail(node) if index == 0 else short_type(node.type) for index, node in enumerate(members[box_id]))
    skips = skip_edges(graph)
    edges: dict[tuple[str, str], Edge] = {}
    for node in graph.nodes:
        for name in node.inputs:
            key = (box_of[name], box_of[node.name])
            if key[0] != key[1] and key not in edges:
                edges[key] = Edge(*key, format_shape(graph[name].out_shape), (name, node.name) in skips)
    for name in graph.outputs:  # the output's shape goes on an edge too, into a terminal box
        terminal = f"output:{name}"
        boxes[terminal] = Box(terminal, "output", name if len(graph.outputs) > 1 else "", "output", None)
        edges[(box_of[name], terminal)] = Edge(box_of[name], terminal, format_shape(graph[name].out_shape), False)
    picture = elide_single_clusters(Drawing(graph.name, list(boxes.values()), list(edges.values()), list(clusters)))
    picture.levels = resolution_levels(graph, picture) if upsamples(graph) else []
    return picture


def upsamples(graph: Graph) -> bool:
    """Does a layer make a feature map larger (transposed conv, upsample)? Then it is an encoder-decoder."""
    return any(len(node.out_shape) > 1 and len(shape) == len(node.out_shape) and numel(node.out_shape[1:]) > numel(
        shape[1:]) for node in graph.nodes for shape in node.in_shapes)


def resolution_levels(graph: Graph, picture: Drawing) -> list[list[str]]:
    """Boxes grouped by how many times the feature map was halved to reach them: the rows of U-Net's
    'U' (Ronneberger et al. 2015, Figure 1), encoder going down on the left, decoder up on the right.

    A layer that shrinks the map by 2x or more (in values per channel) goes a level down, one that
    grows it goes a level up; unpadded 3x3 convs that trim a border stay on their level. A merge
    takes its coarsest input's level.
    """
    level: dict[str, int] = {}
    for node in graph.nodes:
        if not node.inputs:
            level[node.name] = 0
            continue
        below = max(level[name] for name in node.inputs)
        if len(node.out_shape) > 1 and len(node.in_shapes[-1]) == len(node.out_shape):
            before, after = numel(node.in_shapes[-1][1:]), numel(node.out_shape[1:])
            below += 1 if 2 * after <= before else -1 if after > before else 0
        level[node.name] = below
    rows: dict[int, list[str]] = {}
    for box in picture.boxes:
        if box.layers and len(graph[box.layers[-1]].out_shape) > 1:
            rows.setdefault(level[box.layers[-1]], []).append(box.id)
    return [rows[key] for key in sorted(rows)]


def elide_single_clusters(drawing: Drawing) -> Drawing:
    """A cluster around a single box or cluster says nothing: drop it; the box's title takes its name."""
    tree = cluster_tree(drawing)
    removed = set()
    for cluster in sorted(drawing.clusters, key=lambda c: -c.count(".")):
        inner, boxes = tree.children(cluster)
        if len(inner) + len(boxes) == 1:  # eliding it leaves its parent's count as it was
            parent = tree.parent[cluster]
            removed.add(cluster)
            for box in boxes:
                box.cluster = parent
            tree.boxes.setdefault(parent, []).extend(boxes)
    drawing.clusters = [c for c in drawing.clusters if c not in removed]
    for box in drawing.boxes:
        if box.family != "output":
            box.title = _local(box.id, box.cluster)
    return drawing


def short_type(name: str) -> str:
    return next((short for prefix, short in SHORT_TYPES.items() if name.startswith(prefix)), name)


def foldable(graph: Graph, node) -> bool:
    """A norm or activation whose input feeds nothing else, drawn in its input's box (same cluster)."""
    if family(node.type) not in FOLDED or len(node.inputs) != 1:
        return False
    source = graph[node.inputs[0]]
    return source.consumers == [node.name] and source.block == node.block and source.inputs != [] \
        and source.name not in graph.outputs


def block_detail(nodes: list) -> str:
    """A collapsed block in a few words: '2x conv2d, 2x relu'; when varied, its convolutions as He et
    al. 2016's Table 1 writes them ('1x1 64, 3x3 64 /2, 1x1 256'), else 'N layers'."""
    counts: dict[str, int] = {}
    for node in nodes:
        counts[node.type] = counts.get(node.type, 0) + 1
    if len(counts) <= 3:
        return ", ".join(f"{n}x {t}" if n > 1 else t for t, n in counts.items())
    convs = [node for node in nodes if family(node.type) == "conv" and hasattr(node.layer, "kernel_size")]
    if not convs or len(convs) > 4:
        return f"{len(nodes)} layers"
    return ", ".join(conv_words(node) for node in convs)


def conv_words(node) -> str:
    """'3x3 64', '3x3 128 /2' (stride 2), 'up 2x2 256' (a transposed conv, which enlarges)."""
    dims = len(node.out_shape) - 1
    kernel, stride = (_ints(getattr(node.layer, name), dims) for name in ("kernel_size", "stride"))
    up = "transpose" in node.type
    words = f"{'up ' if up else ''}{'x'.join(map(str, kernel))} {node.layer.out_channels}"
    return words + (f" /{max(stride)}" if max(stride) > 1 and not up else "")


def _ints(value, dims: int) -> tuple[int, ...]:
    return tuple(value) if isinstance(value, (list, tuple)) and len(value) > 1 else (
        (value[0] if isinstance(value, (list, tuple)) else value),) * dims


def _local(name: str, cluster: str | None) -> str:
    return name[len(cluster) + 1:] if cluster and name.startswith(cluster + ".") else name


# --- DOT and Mermaid text ----------------------------------------------------------------------

def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def to_dot(drawing: Drawing) -> str:
    lines = [f"digraph {_quote(drawing.name)} {{",
             f'  graph [rankdir=TB, ordering=out, fontname="Helvetica", fontsize=11, nodesep=0.25, ranksep=0.32, '
             f'label={_quote(drawing.name)}, labelloc=t];',
             '  node [shape=box, style="rounded,filled", fontname="Helvetica", fontsize=9, height=0.3, '
             'color="#777777"];',
             '  edge [fontname="Helvetica", fontsize=8, color="#555555", fontcolor="#333333", arrowsize=0.6];']
    if drawing.levels:  # dot cannot rank across clusters: an encoder-decoder is drawn without them
        lines += _dot_boxes(drawing.boxes, "  ")
        lines += ["  {rank=same; " + " ".join(_quote(b) + ";" for b in row) + "}" for row in drawing.levels]
    else:
        lines += _dot_cluster(cluster_tree(drawing), None, "  ")
    for edge in drawing.edges:
        style = ', style=dashed, color="#2b6cb0", weight=0' if edge.skip else ", weight=4"
        lines.append(f"  {_quote(edge.source)} -> {_quote(edge.target)} [label={_quote(' ' + edge.shape)}{style}];")
    return "\n".join(lines + ["}"]) + "\n"


def _dot_boxes(boxes: list[Box], indent: str) -> list[str]:
    return [f"{indent}{_quote(b.id)} [label=<<b>{html.escape(b.title)}</b>"
            f"{'<br/>' + html.escape(b.detail) if b.detail else ''}>, "
            f'tooltip={_quote(", ".join(b.layers))}, fillcolor="{FILLS[b.family]}"'
            f'{", style=filled" if b.family == "block" else ""}{", shape=oval" if b.family == "output" else ""}];'
            for b in boxes]


def _dot_cluster(tree: Tree, cluster: str | None, indent: str) -> list[str]:
    clusters, boxes = tree.children(cluster)
    lines = _dot_boxes(boxes, indent)
    for child in clusters:
        lines.append(f"{indent}subgraph {_quote('cluster_' + child)} {{")
        lines.append(f'{indent}  label={_quote(_local(child, cluster))}; labeljust=l; style="rounded,filled"; '
                     f'fillcolor="#00000008"; color="#aaaaaa"; fontsize=9;')
        lines += _dot_cluster(tree, child, indent + "  ")
        lines.append(f"{indent}}}")
    return lines


def to_mermaid(drawing: Drawing) -> str:
    """A Mermaid flowchart: paste into Markdown (GitHub renders ```mermaid blocks)."""
    ids = {box.id: f"n{index}" for index, box in enumerate(drawing.boxes)}
    ids.update({cluster: f"c{index}" for index, cluster in enumerate(drawing.clusters)})
    lines = ["flowchart TB"] + _mermaid_cluster(cluster_tree(drawing), None, ids, "  ")
    for edge in drawing.edges:
        arrow = "-.->" if edge.skip else "-->"
        lines.append(f'  {ids[edge.source]} {arrow}|"{edge.shape}"| {ids[edge.target]}')
    return "\n".join(lines) + "\n"


def _mermaid_text(text: str) -> str:
    return html.escape(text, quote=False).replace('"', "#quot;")


def _mermaid_cluster(tree: Tree, cluster: str | None, ids: dict[str, str], indent: str) -> list[str]:
    clusters, boxes = tree.children(cluster)
    lines = [f'{indent}{ids[b.id]}["<b>{_mermaid_text(b.title)}</b>'
             f'{"<br/>" + _mermaid_text(b.detail) if b.detail else ""}"]' for b in boxes]
    for child in clusters:
        lines.append(f'{indent}subgraph {ids[child]}["{_mermaid_text(_local(child, cluster))}"]')
        lines += _mermaid_cluster(tree, child, ids, indent + "  ")
        lines.append(f"{indent}end")
    return lines


# --- pictures ------------------------------------------------------------------------------------

def have_graphviz() -> bool:
    return shutil.which("dot") is not None


def run_dot(dot_text: str, fmt: str) -> bytes:
    done = subprocess.run(["dot", f"-T{fmt}"], input=dot_text.encode(), capture_output=True, timeout=120)
    if done.returncode:
        raise RuntimeError(f"dot failed: {done.stderr.decode(errors='replace').strip()}")
    return done.stdout


def to_svg(drawing: Drawing, layout: str = "auto") -> str:
    """SVG by Graphviz (layout 'graphviz', or 'auto' when dot is installed) or by the built-in layout."""
    if layout == "graphviz" and not have_graphviz():
        raise SpecError("--layout graphviz needs Graphviz's `dot` program (apt-get install graphviz)")
    if layout != "builtin" and have_graphviz():
        return run_dot(to_dot(drawing), "svg").decode()
    return builtin_svg(drawing)


def render(drawing: Drawing, fmt: str, layout: str = "auto") -> bytes:
    """The drawing in one of FORMATS, as the bytes of the file."""
    if fmt == "dot":
        return to_dot(drawing).encode()
    if fmt == "mmd":
        return to_mermaid(drawing).encode()
    if fmt == "svg":
        return to_svg(drawing, layout).encode()
    if fmt in ("png", "pdf"):
        if not have_graphviz():
            raise SpecError(f"a {fmt.upper()} graph needs Graphviz's `dot` program (apt-get install graphviz); "
                            ".svg, .dot and .mmd work without it")
        return run_dot(to_dot(drawing), fmt)
    raise SpecError(f"graph formats are {', '.join(FORMATS)}. Received: {fmt!r}")


# --- the built-in layout (no Graphviz) -----------------------------------------------------------

BOX_HEIGHT, CHAR_WIDTH, GAP_X, GAP_Y, LANE_GAP = 30, 6.0, 18, 34, 14
CLUSTER_TOP, CLUSTER_SIDE, CLUSTER_BOTTOM = 14, 8, 6


@dataclass
class Placed:
    x: float  # centre
    y: float  # top
    width: float


def ranks(drawing: Drawing) -> dict[str, int]:
    """Longest path from the input: every box sits below all of its inputs."""
    rank = {box.id: 0 for box in drawing.boxes}
    order = {box.id: i for i, box in enumerate(drawing.boxes)}
    for edge in sorted(drawing.edges, key=lambda e: order[e.target]):
        if order[edge.source] < order[edge.target]:
            rank[edge.target] = max(rank[edge.target], rank[edge.source] + 1)
    return rank


def place(drawing: Drawing) -> tuple[dict[str, Placed], dict[int, list[str]]]:
    """Rows by rank; in a row, each box goes under the mean of its inputs, pushed apart to not overlap.

    An edge that spans several rows gets a narrow waypoint in each row between (Sugiyama et al.
    1981), so a short branch runs beside a long one instead of through its boxes.
    """
    rank = ranks(drawing)
    parents: dict[str, list[str]] = {box.id: [] for box in drawing.boxes}
    rows: dict[int, list[str]] = {}
    widths = {box.id: len(max(box.title, box.detail, key=len)) * CHAR_WIDTH + 16 for box in drawing.boxes}
    for box in drawing.boxes:
        rows.setdefault(rank[box.id], []).append(box.id)
    waypoints: dict[int, list[str]] = {}
    for index, edge in enumerate(drawing.edges):
        previous = edge.source
        if not edge.skip:
            for r in range(rank[edge.source] + 1, rank[edge.target]):
                point = f"~{index}~{r}"
                rows[r].append(point)
                parents[point], widths[point] = [previous], 6.0
                waypoints.setdefault(index, []).append(point)
                previous = point
            parents[edge.target].append(previous)
    tops = row_tops(drawing, rank, len(rows))
    placed: dict[str, Placed] = {}
    for r in sorted(rows):
        wanted = []
        for position, item in enumerate(rows[r]):
            xs = [placed[p].x for p in parents[item] if p in placed]
            wanted.append((sum(xs) / len(xs) if xs else 0.0, position, item))
        wanted.sort(key=lambda entry: (entry[0], entry[1]))
        xs, right = [], float("-inf")
        for x, _, item in wanted:
            x = max(x, right + widths[item] / 2 + GAP_X)
            xs.append(x)
            right = x + widths[item] / 2
        shift = sum(w[0] - x for w, x in zip(wanted, xs)) / len(xs)
        for (_, _, item), x in zip(wanted, xs):
            placed[item] = Placed(x + shift, tops[r], widths[item])
    return placed, waypoints


def row_tops(drawing: Drawing, rank: dict[str, int], count: int) -> list[float]:
    """Top of each row, leaving room for the cluster borders that open and close between rows."""
    tree = cluster_tree(drawing)
    spans = cluster_spans(drawing, tree, rank)
    stacked = border_stacks(tree, spans)
    opening = [0] * (count + 1)
    closing = [0] * (count + 1)
    for cluster, (low, high) in spans.items():
        opening[low] = max(opening[low], stacked[cluster][0])
        closing[high] = max(closing[high], stacked[cluster][1])
    tops, y = [], 24.0 + CLUSTER_TOP * opening[0]
    for r in range(count):
        tops.append(y)
        y += BOX_HEIGHT + GAP_Y + CLUSTER_BOTTOM * closing[r] + CLUSTER_TOP * opening[r + 1]
    return tops


def cluster_spans(drawing: Drawing, tree: Tree, rank: dict[str, int]) -> dict[str, tuple[int, int]]:
    """First and last row of each cluster's boxes, inner clusters' included."""
    spans: dict[str, tuple[int, int]] = {}
    for box in drawing.boxes:
        cluster = box.cluster
        while cluster is not None:
            low, high = spans.get(cluster, (rank[box.id], rank[box.id]))
            spans[cluster] = (min(low, rank[box.id]), max(high, rank[box.id]))
            cluster = tree.parent[cluster]
    return spans


def border_stacks(tree: Tree, spans: dict[str, tuple[int, int]]) -> dict[str, tuple[int, int]]:
    """How many borders stack at each cluster's first and last row: its own and those of inner
    clusters that start (end) on the same row."""
    stacks: dict[str, tuple[int, int]] = {}
    for cluster in sorted(spans, key=lambda c: -c.count(".")):
        inner = [c for c in tree.clusters.get(cluster, []) if c in spans]
        stacks[cluster] = tuple(1 + max((stacks[c][end] for c in inner if spans[c][end] == spans[cluster][end]),
                                        default=0) for end in (0, 1))
    return stacks


def skip_lanes(drawing: Drawing, placed: dict[str, Placed]) -> dict[int, float]:
    """The x of each skip edge's vertical run: right of every box in the rows it passes, and right of
    the skips already placed that overlap it, shortest first, so nested skips (U-Net's copies) nest
    outwards instead of piling up on one line."""
    row_right: dict[float, float] = {}
    for p in placed.values():
        row_right[p.y] = max(row_right.get(p.y, float("-inf")), p.x + p.width / 2)
    tops = sorted(row_right)
    spans = {index: (placed[e.source].y, placed[e.target].y) for index, e in enumerate(drawing.edges) if e.skip}
    lanes: dict[int, float] = {}
    for index, (low, high) in sorted(spans.items(), key=lambda item: item[1][1] - item[1][0]):
        passed = tops[bisect.bisect_left(tops, low):bisect.bisect_right(tops, high)]
        x = max(row_right[y] for y in passed) + 24
        for other, lane in lanes.items():
            if spans[other][0] < high and low < spans[other][1]:
                x = max(x, lane + LANE_GAP)
        lanes[index] = x
    return lanes


def builtin_svg(drawing: Drawing) -> str:
    placed, waypoints = place(drawing)
    tree = cluster_tree(drawing)
    rects = cluster_rects(drawing, tree, placed, cluster_spans(drawing, tree, ranks(drawing)))
    lanes = skip_lanes(drawing, placed)
    boxes = [placed[box.id] for box in drawing.boxes]
    left = min([p.x - p.width / 2 for p in placed.values()] + [r[0] for r in rects.values()]) - 20
    right = max([p.x + p.width / 2 for p in placed.values()] + [r[2] for r in rects.values()]
                + list(lanes.values())) + 110
    bottom = max([p.y + BOX_HEIGHT for p in boxes] + [r[3] for r in rects.values()]) + 16
    body = [f'<text x="{left + 10:.1f}" y="16" font-size="13" font-weight="bold">{html.escape(drawing.name)}</text>']
    for cluster in drawing.clusters:
        if cluster not in rects:
            continue
        x0, y0, x1, y1 = rects[cluster]
        local = _local(cluster, tree.parent[cluster])
        body.append(f'<g class="cluster"><title>{html.escape(cluster)}</title><rect x="{x0:.1f}" y="{y0:.1f}" '
                    f'width="{x1 - x0:.1f}" height="{y1 - y0:.1f}" rx="6" fill="#00000008" stroke="#aaaaaa"/>'
                    f'<text x="{x0 + 5:.1f}" y="{y0 + 10:.1f}" font-size="9" fill="#555555">{html.escape(local)}'
                    '</text></g>')
    for index, edge in enumerate(drawing.edges):
        body.append(svg_edge(edge, placed[edge.source], placed[edge.target],
                             [placed[p] for p in waypoints.get(index, [])], lanes.get(index)))
    for box in drawing.boxes:
        p = placed[box.id]
        body.append(f'<g class="node"><title>{html.escape(", ".join(box.layers))}</title><rect x="{p.x - p.width / 2:.1f}" '
                    f'y="{p.y:.1f}" width="{p.width:.1f}" height="{BOX_HEIGHT}" rx="5" fill="{FILLS[box.family]}" '
                    f'stroke="#777777"/><text x="{p.x:.1f}" y="{p.y + (12 if box.detail else 18):.1f}" '
                    f'text-anchor="middle" font-size="10" font-weight="bold">{html.escape(box.title)}</text>'
                    + (f'<text x="{p.x:.1f}" y="{p.y + 24:.1f}" text-anchor="middle" font-size="9">'
                       f'{html.escape(box.detail)}</text>' if box.detail else "") + '</g>')
    width, height = right - left, bottom
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
            f'viewBox="{left:.1f} 0 {width:.1f} {height:.1f}" font-family="Helvetica, Arial, sans-serif">\n'
            '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="6" markerHeight="6" '
            'orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#555555"/></marker></defs>\n'
            + "\n".join(body) + "\n</svg>\n")


def cluster_rects(drawing: Drawing, tree: Tree, placed: dict[str, Placed], spans) -> dict[str, tuple[float, ...]]:
    """Each cluster's rectangle: around its boxes and inner clusters, with border bands above (for the
    label) and below, as many as borders stack on that row."""
    stacks = border_stacks(tree, spans)
    rects: dict[str, tuple[float, ...]] = {}
    extent: dict[str, tuple[float, float]] = {}  # top and bottom of the boxes inside, inner ones included
    for cluster in sorted(spans, key=lambda c: -c.count(".")):
        boxes = [placed[b.id] for b in tree.boxes.get(cluster, [])]
        inner = [c for c in tree.clusters.get(cluster, []) if c in rects]
        top = min([p.y for p in boxes] + [extent[c][0] for c in inner])
        bottom = max([p.y + BOX_HEIGHT for p in boxes] + [extent[c][1] for c in inner])
        extent[cluster] = (top, bottom)
        left = min([p.x - p.width / 2 for p in boxes] + [rects[c][0] for c in inner]) - CLUSTER_SIDE
        right = max([p.x + p.width / 2 for p in boxes] + [rects[c][2] for c in inner]) + CLUSTER_SIDE
        rects[cluster] = (left, top - CLUSTER_TOP * stacks[cluster][0], right,
                          bottom + CLUSTER_BOTTOM * stacks[cluster][1])
    return rects


def svg_edge(edge: Edge, source: Placed, target: Placed, waypoints: list[Placed], lane: float | None) -> str:
    """A line through the waypoints, or for a skip a dashed run out to its lane and back, with the
    shape written along the lane; the shape beside it."""
    x0, y0, x1, y1 = source.x, source.y + BOX_HEIGHT, target.x, target.y
    if edge.skip:
        mid0, mid1 = y0 - BOX_HEIGHT / 2, y1 + BOX_HEIGHT / 2
        path = f"M {x0 + source.width / 2:.1f} {mid0:.1f} H {lane:.1f} V {mid1:.1f} H {x1 + target.width / 2:.1f}"
        middle = (mid0 + mid1) / 2
        return (f'<g class="edge"><path d="{path}" fill="none" stroke="#2b6cb0" stroke-dasharray="5,3" '
                f'marker-end="url(#arrow)"/><text x="{lane - 3:.1f}" y="{middle:.1f}" font-size="8" fill="#2b6cb0" '
                f'text-anchor="middle" stroke="#ffffff" stroke-width="3" paint-order="stroke" '
                f'transform="rotate(-90 {lane - 3:.1f} {middle:.1f})">{html.escape(edge.shape)}'
                '</text></g>')
    points = [(x0, y0)] + [(p.x, y) for p in waypoints for y in (p.y, p.y + BOX_HEIGHT)] + [(x1, y1)]
    path = "M " + " L ".join(f"{x:.1f} {y:.1f}" for x, y in points)
    label_x, label_y = (points[0][0] + points[1][0]) / 2 + 5, (points[0][1] + points[1][1]) / 2 + 3
    return (f'<g class="edge"><path d="{path}" fill="none" stroke="#555555" marker-end="url(#arrow)"/>'
            f'<text x="{label_x:.1f}" y="{label_y:.1f}" font-size="8" fill="#333333">{html.escape(edge.shape)}</text></g>')
