"""The Python API: cnnspec.analyze / loads / build, plain data, pandas and Jupyter views, the README's example."""
import dataclasses
import doctest
import html.parser
import inspect
import json
import re
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import pytest

import cnnspec
from cnnspec.spec import builtin_specs

ROOT = Path(__file__).parent.parent


def test_analyze_takes_a_name_a_path_a_graph_or_a_spec(tmp_path):
    path = tmp_path / "lenet.yaml"
    path.write_text(builtin_specs()["lenet5"].read_text())
    results = [cnnspec.analyze(source) for source in
               ("lenet5", str(path), path, cnnspec.load(str(path)), cnnspec.load_spec("lenet5"))]
    assert {r.totals.params for r in results} == {61_706}
    assert cnnspec.analyze("vgg16").totals.params == 138_357_544
    assert cnnspec.analyze("resnet50", input_shape=(3, 320, 320)).totals.macs == 8_343_142_400
    assert cnnspec.analyze("resnet50", dtype="bf16").bytes_per_value == 2


def test_python_c_prints_the_vgg16_params():
    script = "import cnnspec; print(cnnspec.analyze('vgg16').totals.params)"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.stdout == "138357544\n", result.stderr


def test_loads_reads_yaml_text_with_located_errors():
    text = "input: [3, 8, 8]\nargs: {width: 4}\nlayers:\n  - {type: conv2d, out_channels: width, kernel_size: 3}\n"
    assert cnnspec.analyze(cnnspec.loads(text)).totals.params == 3 * 4 * 9 + 4
    assert cnnspec.analyze(cnnspec.loads(text, overrides={"width": 8}, input_shape=(3, 16, 16))).rows[-1].shape == (
        8, 14, 14)
    with pytest.raises(cnnspec.SpecError, match=r"^mine.yaml:4:5: layer 'conv1': conv2d needs argument 'kernel_size'"):
        cnnspec.loads(text.replace(", kernel_size: 3", ""), path="mine.yaml")


def test_misused_sources_say_what_to_do():
    with pytest.raises(ValueError, match=r"cnnspec.loads\(text\)"):
        cnnspec.analyze("input: [3, 8, 8]\nlayers: [relu]\n")
    with pytest.raises(ValueError, match="apply when loading"):
        cnnspec.analyze(cnnspec.load("vgg16"), input_shape=(3, 32, 32))
    with pytest.raises(cnnspec.SpecError, match="no built-in spec of that name"):
        cnnspec.analyze("vgg61")


def test_signatures_are_typed_and_documented():
    for function in (cnnspec.analyze, cnnspec.loads, cnnspec.build, cnnspec.load):
        assert function.__doc__ and function.__annotations__.get("return"), function
        assert all(p.kind is not p.VAR_KEYWORD for p in inspect.signature(function).parameters.values())
    assert list(inspect.signature(cnnspec.build).parameters) == ["spec", "seed", "init", "device", "dtype"]
    assert (ROOT / "cnnspec" / "py.typed").is_file() and '"py.typed"' in (ROOT / "pyproject.toml").read_text()


def plain(value) -> bool:
    """Plain data: no Fraction that is a whole number (a Fraction is kept only where it is not)."""
    if isinstance(value, Fraction):
        return value.denominator != 1
    if dataclasses.is_dataclass(value):
        return all(plain(getattr(value, f.name)) for f in dataclasses.fields(value))
    if isinstance(value, dict):
        return all(plain(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return all(plain(v) for v in value)
    return True


@pytest.mark.parametrize("name", ["resnet50", "densenet121", "googlenet", "inception_v3", "unet"])
def test_receptive_fields_are_ints_where_whole(name):
    analysis = cnnspec.analyze(name)
    assert plain(analysis.rows) and plain(analysis.to_dict())
    fc = analysis.row(analysis.outputs[0]).receptive_field
    assert all(type(v) is int for v in fc.size + fc.jump)
    json.dumps(analysis.to_dict())


def test_to_pandas_is_one_row_per_layer():
    pandas = pytest.importorskip("pandas")
    analysis = cnnspec.analyze("vgg16")
    frame = analysis.to_pandas()
    assert isinstance(frame, pandas.DataFrame) and len(frame) == len(analysis.rows)
    assert frame.loc["fc6", "params"] == 102_764_544 and frame.loc["fc6", "output"] == "4096"
    assert frame["macs"].sum() == analysis.totals.macs and frame["params"].dtype.kind == "i"
    assert frame.loc["block1.conv.0.conv", "receptive_field"] == "3x3" and frame.loc["block1.pool", "shape"] == (
        64, 112, 112)
    assert frame["bytes_read"].sum() == analysis.totals.bytes_read and frame.loc["fc6", "intensity"] < 1


def test_to_pandas_without_pandas_says_how_to_get_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "pandas", None)  # import pandas now fails
    with pytest.raises(ModuleNotFoundError, match="pip install pandas"):
        cnnspec.analyze("lenet5").to_pandas()


class Cells(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.rows, self.caption, self._in = [], "", None

    def handle_starttag(self, tag, attrs):
        if tag == "tr":
            self.rows.append([])
        self._in = tag

    def handle_data(self, data):
        if self._in in ("td", "th"):
            self.rows[-1].append(data)
        elif self._in == "caption":
            self.caption += data


def test_jupyter_shows_a_compact_table():
    vgg = Cells()
    vgg.feed(cnnspec.analyze("vgg16")._repr_html_())
    assert len(vgg.rows) == 1 + 40 + 1 and vgg.rows[0][:3] == ["Layer", "Type", "Output"]
    assert vgg.rows[-1][0] == "Total" and "138,357,544" in vgg.rows[-1] and "138,357,544 params" in vgg.caption
    resnet = Cells()
    resnet.feed(cnnspec.analyze("resnet50")._repr_html_())
    names = [row[0] for row in resnet.rows[1:-1]]
    assert len(names) <= 40 and "layer1.0" in names and "collapsed as by --depth 1" in resnet.caption
    assert "25,557,032" in resnet.rows[-1]
    assert repr(cnnspec.analyze("lenet5")).startswith("<Analysis lenet5: ")


def test_the_readme_example_runs():
    section = (ROOT / "README.md").read_text().split("## From Python", 1)[1].split("\n## ", 1)[0]
    code = "\n".join(re.findall(r"```python\n(.*?)```", section, re.S))
    test = doctest.DocTestParser().get_doctest(code, {}, "README: From Python", "README.md", 0)
    assert len(test.examples) >= 8
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    runner.run(test)
    assert runner.failures == 0


def test_the_package_docstring_runs():
    assert doctest.testmod(cnnspec).failed == 0


def test_import_and_analyze_load_neither_torch_nor_pandas_nor_rich():
    script = ("import sys, cnnspec; cnnspec.analyze('vgg16')._repr_html_(); "
              "print(sorted(m for m in ('torch', 'pandas', 'rich') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.stdout == "[]\n", result.stderr
