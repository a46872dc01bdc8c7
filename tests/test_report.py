"""The HTML report: self-contained (every picture a data: URI, nothing fetched), and in headless
Chromium it loads, shows the table and the pictures, and logs no console error."""
from __future__ import annotations

import base64
import json
import re
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import pytest

pytest.importorskip("matplotlib")

from cnnspec.analysis import analyze  # noqa: E402
from cnnspec.graph import load  # noqa: E402
from cnnspec.report import report_html  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage"]


class References(HTMLParser):
    """Every src and href in the page, and the text of table cells."""

    def __init__(self):
        super().__init__()
        self.links: list[str] = []
        self.cells: list[str] = []
        self._in_cell = False

    def handle_starttag(self, tag, attrs):
        self.links += [value for name, value in attrs if name in ("src", "href") and value]
        self._in_cell = tag == "td"

    def handle_data(self, data):
        if self._in_cell:
            self.cells.append(data)


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    graph = load("inception3a")
    path = tmp_path_factory.mktemp("report") / "inception3a.html"
    path.write_text(report_html(graph, analyze(graph)), encoding="utf-8")
    return graph, path


def test_every_reference_is_inline_and_every_picture_parses(page):
    graph, path = page
    parser = References()
    parser.feed(path.read_text(encoding="utf-8"))
    assert len(parser.links) == 3  # per layer, per block, graph
    for link in parser.links:
        assert link.startswith("data:image/svg+xml;base64,")
        ET.fromstring(base64.b64decode(link.split(",", 1)[1]))
    without_pictures = re.sub(r'data:[^"]+', "", path.read_text(encoding="utf-8"))
    assert "http:" not in without_pictures and "https:" not in without_pictures and "<script" not in without_pictures


def test_table_has_every_layer_and_the_totals(page):
    graph, path = page
    parser = References()
    parser.feed(path.read_text(encoding="utf-8"))
    body = path.read_text(encoding="utf-8").split('<table id="layers">')[1].split("<tbody>")[1].split("</tbody>")[0]
    first_cells = re.findall(r"<tr><td>([^<]*)</td>", body)
    assert first_cells == [node.name for node in graph.nodes]
    assert "128,049,152" in parser.cells  # inception(3a) MACs: README of specs/inception3a.yaml


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def webdriver(port: int, method: str, path: str, body: dict | None = None) -> dict:
    """One W3C WebDriver command over HTTP (chromedriver), the JSON value it answers."""
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method,
                                     data=None if body is None else json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())["value"]


PAGE_FACTS = """return {
  images: [...document.images].map(i => [i.complete, i.naturalWidth, i.naturalHeight, i.getBoundingClientRect().width]),
  rows: document.querySelectorAll('#layers tbody tr').length,
  tableHeight: document.getElementById('layers')?.getBoundingClientRect().height,
  fetched: performance.getEntriesByType('resource').map(e => e.name).filter(n => !n.startsWith('data:')),
  title: document.title
};"""


def browse(path) -> tuple[dict, list[dict]]:
    """Open a file in headless Chromium through chromedriver: facts about the page, and the console log."""
    port = free_port()
    driver = subprocess.Popen([CHROMEDRIVER, f"--port={port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    profile = tempfile.mkdtemp(prefix="cnnspec-chromium-")
    try:
        for _ in range(100):
            try:
                if webdriver(port, "GET", "/status").get("ready"):
                    break
            except OSError:
                time.sleep(0.1)
        options = {"binary": CHROMIUM, "args": CHROMIUM_FLAGS + [f"--user-data-dir={profile}"]}
        session = webdriver(port, "POST", "/session", {"capabilities": {"alwaysMatch": {
            "goog:chromeOptions": options, "goog:loggingPrefs": {"browser": "ALL"}}}})["sessionId"]
        try:
            webdriver(port, "POST", f"/session/{session}/url", {"url": path.as_uri()})
            facts = webdriver(port, "POST", f"/session/{session}/execute/sync", {"script": PAGE_FACTS, "args": []})
            return facts, webdriver(port, "POST", f"/session/{session}/se/log", {"type": "browser"})
        finally:
            webdriver(port, "DELETE", f"/session/{session}")
    finally:
        driver.terminate()
        driver.wait(timeout=30)
        shutil.rmtree(profile, ignore_errors=True)


@pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER), reason="headless Chromium test skipped: chromium and "
                    "chromedriver are not installed (Debian: apt-get install chromium chromium-driver; .ci/run does)")
def test_page_in_headless_chromium(page):
    graph, path = page
    facts, logs = browse(path)
    assert facts["title"] == "inception3a: cnnspec report"
    assert facts["rows"] == len(graph.nodes) and facts["tableHeight"] > 100
    assert len(facts["images"]) == 3
    for complete, width, height, shown in facts["images"]:
        assert complete and width > 300 and height > 200 and shown > 300
    assert facts["fetched"] == []
    assert [entry for entry in logs if entry["level"] in ("SEVERE", "WARNING")] == []


def test_report_command(tmp_path):
    from typer.testing import CliRunner

    from cnnspec.cli import app
    out = tmp_path / "r.html"
    result = CliRunner().invoke(app, ["report", "vgg16", "--depth", "1", "-o", str(out)], catch_exceptions=False)
    assert result.exit_code == 0
    text = out.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>") and "138,357,544" in text


def test_a_long_table_is_collapsed_by_block_and_every_layer_is_one_click_away():
    from cnnspec.collapse import collapse
    graph = load("resnet50")
    analysis = analyze(graph)
    text = report_html(graph, analysis, depth=1)
    blocks = text.split('<table id="blocks">')[1].split("</table>")[0]
    names = re.findall(r"<tr><td>([^<]*)</td>", blocks.split("<tbody>")[1].split("</tbody>")[0])
    assert names == [row.name for row in collapse(analysis, 1).rows] and "layer1.0" in names and len(names) < 30
    assert f"<details><summary>Every layer ({len(graph.nodes)} rows)</summary>" in text  # closed: no 'open'
    layers = text.split('<table id="layers">')[1].split("<tbody>")[1]
    assert len(re.findall(r"<tr><td>", layers.split("</tbody>")[0])) == len(graph.nodes)
    assert "position: sticky" in text


def test_without_matplotlib_the_report_keeps_tables_and_graph(tmp_path, monkeypatch):
    import sys

    from typer.testing import CliRunner

    from cnnspec.cli import app
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib now fails
    out = tmp_path / "r.html"
    result = CliRunner().invoke(app, ["report", "inception3a", "-o", str(out)], catch_exceptions=False)
    assert result.exit_code == 0
    text = out.read_text(encoding="utf-8")
    assert "The per-layer plots need matplotlib, which is not installed" in text
    assert "128,049,152" in text and text.count("data:image/svg+xml;base64,") == 1  # the graph, no plots
