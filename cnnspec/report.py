"""One self-contained HTML page per spec: summary, the per-layer table, the plots and the graph.

Self-contained means no network: styles inline, pictures as data: URIs, no script, no font or CDN
link; the page opens the same from a disk, an e-mail or an air-gapped machine. Numbers come from
``cnnspec.analysis`` through ``cnnspec.render``; pictures from ``cnnspec.plot`` and
``cnnspec.drawing``.
"""
from __future__ import annotations

import base64
import html

from .analysis import Analysis
from .collapse import collapse
from .graph import Graph
from .render import COLUMNS, DEFAULT_COLUMNS, summary_lines, table_cells

STYLE = """
body { font-family: Helvetica, Arial, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; padding: 0 1em; }
h1 { margin-bottom: 0.2em; } .path { color: #666; margin-top: 0; }
ul.summary li { margin: 0.15em 0; } .warning { color: #a15c00; }
table { border-collapse: collapse; font-size: 13px; margin: 1em 0; }
th, td { padding: 3px 8px; border-bottom: 1px solid #e3e3e3; white-space: nowrap; }
th { background: #f3f3f3; position: sticky; top: 0; } td.right, th.right { text-align: right; }
tfoot td { font-weight: bold; border-top: 2px solid #999; }
figure { margin: 1.5em 0; } figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { color: #555; font-size: 13px; } .note { color: #555; font-size: 13px; }
details { margin: 1em 0; } summary { cursor: pointer; font-weight: bold; }
.graph { overflow: auto; max-height: 1400px; } .graph img { max-width: none; }
"""


def data_uri(content: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(content).decode('ascii')}"


def html_table(analysis: Analysis, columns: list[str] = DEFAULT_COLUMNS, table_id: str = "layers") -> str:
    header, rows, totals = table_cells(analysis, columns)
    align = [' class="right"' if COLUMNS[c][2] == "right" else "" for c in columns]
    head = "".join(f"<th{a}>{html.escape(h)}</th>" for h, a in zip(header, align))
    body = "\n".join("<tr>" + "".join(f"<td{a}>{html.escape(v)}</td>" for v, a in zip(cells, align)) + "</tr>"
                     for cells in rows)
    foot = "".join(f"<td{a}>{html.escape(v)}</td>" for v, a in zip(totals, align))
    return (f'<table id="{table_id}"><thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody>\n'
            f"<tfoot><tr>{foot}</tr></tfoot></table>")


OPEN_ROWS = 60
"""A layer table this long or shorter is shown open; a longer one (ResNet-50's 175 rows) opens on a click."""


def tables(graph: Graph, analysis: Analysis) -> str:
    """Per block (blocks below the top level collapsed into one row each), then every layer under a
    <details>, closed when long: a 175-row table does not bury the page. The header row stays in
    view while scrolling (position: sticky). A spec without blocks gets its layer table alone."""
    if not any(node.block for node in graph.nodes):
        return html_table(analysis)
    blocks = collapse(analysis, 1)
    return (f"<h3>Per block</h3>\n<p class=note>Blocks nested two deep and deeper as one row each "
            f"({len(blocks.rows)} rows; each sums its layers exactly).</p>\n{html_table(blocks, table_id='blocks')}\n"
            f"<details{' open' if len(analysis.rows) <= OPEN_ROWS else ''}><summary>Every layer "
            f"({len(analysis.rows)} rows)</summary>\n{html_table(analysis)}\n</details>")


def figure(uri: str, alt: str, caption: str, css_class: str = "") -> str:
    return (f'<figure class="{css_class}"><img src="{uri}" alt="{html.escape(alt)}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>")


def plots(graph: Graph, analysis: Analysis) -> str:
    """The per-layer and per-block bars, or a note where matplotlib is missing: the page still has
    the summary, the tables and the graph."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return ('<p class="note">The per-layer plots need matplotlib, which is not installed '
                "(pip install cnnspec[plot]); the tables and the graph below have every figure.</p>")
    from .plot import figure_bytes, layers_figure
    bars = figure_bytes(layers_figure([analysis]), "svg")
    html_figures = [figure(data_uri(bars, "image/svg+xml"), f"{analysis.name}: memory, params and MACs per layer",
                           "Forward memory, parameters and MACs per layer (in-place activations and views add "
                           "nothing and are left out).", "plot")]
    if any(node.block for node in graph.nodes):
        blocks = figure_bytes(layers_figure([analysis], by="block", log=True), "svg")
        html_figures.append(figure(data_uri(blocks, "image/svg+xml"), f"{analysis.name}: per block",
                                   "The same per top-level block (log scale).", "plot"))
    return "\n".join(html_figures)


def report_html(graph: Graph, analysis: Analysis, depth: int | None = None) -> str:
    """The page as text; pictures drawn now and embedded."""
    from .drawing import layout_graph, to_svg
    drawing = to_svg(layout_graph(graph, depth)).encode()
    lines = summary_lines(analysis)
    summary = "\n".join(f'<li{" class=warning" if line.startswith("warning") else ""}>{html.escape(line)}</li>'
                        for line in lines)
    description = graph.spec.description.strip().splitlines()[0] if graph.spec.description.strip() else ""
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(analysis.name)}: cnnspec report</title>
<style>{STYLE}</style></head>
<body>
<h1>{html.escape(analysis.name)}</h1>
<p class="path">{html.escape(analysis.path)}{(" - " + html.escape(description)) if description else ""}</p>
<ul class="summary">
{summary}
</ul>
<h2>Per layer</h2>
{plots(graph, analysis)}
{tables(graph, analysis)}
<h2>Graph</h2>
{figure(data_uri(drawing, "image/svg+xml"), f"{analysis.name}: layer graph",
        "Layers with their arguments, the shape of every tensor on the edges; blocks as clusters; dashed: "
        "shortcut and skip connections.", "graph")}
</body></html>
"""
