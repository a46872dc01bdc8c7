"""Reading Markdown and CSV tables, and managed tables: parsing the comments, regenerating in place."""
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cnnspec.check import check_managed, exit_code
from cnnspec.cli import app
from cnnspec.errors import SpecError
from cnnspec.tables import csv_table, managed_tables, markdown_tables, read_document, updated_text

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()
NET = "input: [3, 8, 8]\nlayers:\n  - {conv2d: {out_channels: 4, kernel_size: 3}}\n"


def test_markdown_tables_with_row_lines_outside_code_blocks():
    text = ("intro\n\n| a | b |\n|---|:--:|\n| **1** | 2 |\n| 3 | 4 |\n\n```\n| x | y |\n| - | - |\n```\n"
            "| c |\n| --- |\n| 5 |\n")
    first, second = markdown_tables("t.md", text)
    assert (first.header, first.rows, first.lines, first.header_line) == (["a", "b"], [["1", "2"], ["3", "4"]],
                                                                           [5, 6], 3)
    assert (second.header, second.rows, second.lines) == (["c"], [["5"]], [14])


def test_csv_rows_keep_their_file_lines():
    table = csv_table("t.csv", "layer,params\n\nfc6,102.8M\nfc7,16.8M\n")
    assert table.rows == [["fc6", "102.8M"], ["fc7", "16.8M"]] and table.lines == [3, 4]


def test_a_file_without_a_table_is_unreadable(tmp_path):
    doc = tmp_path / "t.md"
    doc.write_text("no table here\n")
    with pytest.raises(SpecError, match="no Markdown table .* or line-by-line breakdown"):
        read_document(str(doc))


MANAGED = """# Notes

Some text that must stay byte-for-byte.\r
<!-- cnnspec table {spec} columns=name,output,params -->
| stale |
<!-- /cnnspec -->
Trailing text.
"""


def test_update_rewrites_only_between_the_comments(tmp_path):
    (tmp_path / "net.yaml").write_text(NET)
    doc = tmp_path / "doc.md"
    doc.write_text(MANAGED.format(spec="net.yaml"))
    assert exit_code(check_managed(str(doc))) == 1
    result = runner.invoke(app, ["table", "--update", str(tmp_path)])
    assert result.exit_code == 0 and f"updated {doc}" in result.stdout
    text = doc.read_bytes().decode()
    assert text.startswith("# Notes\n\nSome text that must stay byte-for-byte.\r\n")
    assert text.endswith("<!-- /cnnspec -->\nTrailing text.\n") and "| conv1 | 4x6x6 | 112 |" in text
    assert exit_code(check_managed(str(doc))) == 0
    assert runner.invoke(app, ["table", "--update", str(doc)]).stdout == ""  # nothing left to change


def test_crlf_documents_stay_crlf(tmp_path):
    (tmp_path / "net.yaml").write_text(NET)
    doc = tmp_path / "doc.md"
    doc.write_bytes(b"<!-- cnnspec table net.yaml columns=name,params -->\r\n<!-- /cnnspec -->\r\n")
    runner.invoke(app, ["table", "--update", str(doc)])
    data = doc.read_bytes()
    assert b"| conv1 | 112 |\r\n" in data and b"\n" not in data.replace(b"\r\n", b"")
    assert exit_code(check_managed(str(doc))) == 0


def test_edited_vgg16_spec_makes_the_readme_table_fail_with_a_diff(tmp_path):
    """The README's managed VGG16 table, beside a copy of the spec: edit the spec, and check fails."""
    readme = (ROOT / "README.md").read_text()
    start = readme.index("<!-- cnnspec table specs/vgg.yaml")
    doc = tmp_path / "README.md"
    doc.write_text(readme[start:readme.index("<!-- /cnnspec -->", start)] + "<!-- /cnnspec -->\n")
    (tmp_path / "specs").mkdir()
    for spec in (ROOT / "specs").glob("*vgg*.yaml"):
        shutil.copy(spec, tmp_path / "specs")
    assert runner.invoke(app, ["check", str(doc)]).exit_code == 0  # the copy is found beside the document
    spec = tmp_path / "specs" / "vgg.yaml"
    spec.write_text(spec.read_text().replace("{type: linear, out_features: 4096, name: fc7}",
                                             "{type: linear, out_features: 2048, name: fc7}"))
    result = runner.invoke(app, ["check", str(doc)])
    assert result.exit_code == 1
    assert f"{doc}:1: FAIL managed table of {spec}" in result.stdout
    assert "-| fc7 | 4096 | 16,781,312 |" in result.stdout and "+| fc7 | 2048 | 8,390,656 |" in result.stdout
    assert f"run `cnnspec table --update {doc}`" in result.stdout
    assert runner.invoke(app, ["table", "--update", str(doc)]).exit_code == 0
    assert runner.invoke(app, ["check", str(doc)]).exit_code == 0


def test_specs_resolve_beside_the_document_then_cwd_then_builtin(tmp_path, monkeypatch):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "net.yaml").write_text(NET)
    (tmp_path / "net2.yaml").write_text(NET.replace("4", "5"))
    doc = tmp_path / "docs" / "doc.md"
    doc.write_text("<!-- cnnspec table net.yaml -->\n<!-- /cnnspec -->\n<!-- cnnspec table net2.yaml -->\n"
                   "<!-- /cnnspec -->\n<!-- cnnspec table vgg16 columns=params -->\n<!-- /cnnspec -->\n")
    monkeypatch.chdir(tmp_path)
    beside, cwd, builtin = managed_tables(str(doc), doc.read_text())
    assert (beside.spec, cwd.spec, builtin.spec) == (str(tmp_path / "docs" / "net.yaml"), "net2.yaml", "vgg16")
    text = updated_text(str(doc), doc.read_text())
    assert "| conv1 | conv2d | 4x6x6 |" in text and "| conv1 | conv2d | 5x6x6 |" in text
    assert "| **138,357,544** |" in text


@pytest.mark.parametrize("text, message", [
    ("<!-- cnnspec table -->\n<!-- /cnnspec -->\n", "1:1: a managed table names its spec"),
    ("<!-- cnnspec table vgg16 colums=name -->\n<!-- /cnnspec -->\n", "1:1: unknown option 'colums=name'"),
    ("<!-- cnnspec table vgg16 columns=name,parms -->\n<!-- /cnnspec -->\n", "1:1: unknown column 'parms'"),
    ("<!-- cnnspec table vgg16 input=3xbig -->\n<!-- /cnnspec -->\n", "1:1: input=: '3xbig' is not a shape"),
    ("<!-- cnnspec table vgg16 dtype=fp8 -->\n<!-- /cnnspec -->\n", "1:1: dtype= must be one of"),
    ("x\n<!-- cnnspec table vgg16 -->\n", "2:1: the cnnspec table comment is never closed"),
    ("<!-- cnnspec table vgg16 -->\n<!-- cnnspec table vgg16 -->\n", "2:1: a cnnspec table comment inside another"),
    ("<!-- /cnnspec -->\n", "1:1: <!-- /cnnspec --> without an opening"),
])
def test_bad_comments_name_their_line(text, message):
    with pytest.raises(SpecError) as error:
        managed_tables("doc.md", text)
    assert str(error.value).startswith(f"doc.md:{message}")


def test_a_missing_spec_points_at_the_comment(tmp_path):
    doc = tmp_path / "doc.md"
    doc.write_text("text\n<!-- cnnspec table no_such.yaml -->\n<!-- /cnnspec -->\n")
    (finding,) = check_managed(str(doc))
    assert (finding.line, finding.status) == (2, "error")
    assert "the managed table's spec 'no_such.yaml': no spec file 'no_such.yaml'" in finding.message
    result = runner.invoke(app, ["table", "--update", str(doc)])
    assert f"{doc}:2:1: the managed table's spec 'no_such.yaml'" in str(result.exception)  # main() exits 2


def test_input_and_dtype_options(tmp_path):
    doc = tmp_path / "doc.md"
    doc.write_text("<!-- cnnspec table vgg16 columns=name,output,bytes input=3x32x32 dtype=fp16 -->\n"
                   "<!-- /cnnspec -->\n")
    text = updated_text(str(doc), doc.read_text())
    assert "| input | 3x32x32 | 6,144 |" in text  # 3 x 32 x 32 values x 2 bytes


def test_markers_in_code_blocks_are_examples(tmp_path):
    doc = tmp_path / "doc.md"
    doc.write_text("```markdown\n<!-- cnnspec table no_such.yaml -->\n<!-- /cnnspec -->\n```\n")
    assert check_managed(str(doc)) == []


def test_readme_managed_table_is_current():
    findings = check_managed(str(ROOT / "README.md"))
    assert findings and all(f.status == "pass" for f in findings)


def test_markdown_tables_read_as_a_viewer_shows_them():
    """Escaped pipes, code spans and emphasis; tables in fences, indented code and blockquotes."""
    text = ("| a | b |\n|---|---|\n| `x \\| y` | *z* |\n| 1 \\| 2 |\n\n    | c | d |\n    |---|---|\n\n"
            "> | e | f |\n> |---|---|\n> | 3 | 4 | 5 |\n")
    first, quoted = markdown_tables("t.md", text)
    assert first.rows == [["x | y", "z"], ["1 | 2", ""]] and first.widths == [2, 1]
    assert first.ragged() == [(4, 1)]
    assert (quoted.header, quoted.rows, quoted.lines, quoted.ragged()) == (["e", "f"], [["3", "4"]], [11], [(11, 3)])


FAMILY = """input: [3, 8, 8]
args: {width: 4}
layers:
  - {type: conv2d, out_channels: width, kernel_size: 3, name: conv1}
variants:
  small: {expect: {params: 112}}
  wide: {args: {width: 8}, expect: {params: 224, macs: 7.776K}}
"""


def test_a_models_table_has_a_row_per_model_and_per_variant_of_a_family(tmp_path):
    (tmp_path / "family.yaml").write_text(FAMILY)
    doc = tmp_path / "doc.md"
    doc.write_text("<!-- cnnspec table models=family.yaml,squeezenet1_1 columns=name,params,macs,published_params,"
                   "published_macs -->\n<!-- /cnnspec -->\n")
    assert runner.invoke(app, ["table", "--update", str(doc)]).exit_code == 0
    rows = doc.read_text().splitlines()[3:-1]
    assert rows == ["| small | 112 | 3,888 | 112 |  |", "| wide | 224 | 7,776 | 224 | 7.776K |",
                    "| squeezenet1_1 | 1,235,496 | 349,151,936 | 1,235,496 | 0.349G |"]
    assert exit_code(check_managed(str(doc))) == 0


def test_a_models_table_takes_model_columns_only(tmp_path):
    doc = tmp_path / "doc.md"
    doc.write_text("<!-- cnnspec table models=vgg columns=name,rf -->\n<!-- /cnnspec -->\n")
    result = runner.invoke(app, ["check", str(doc)])
    assert result.exit_code == 2 and "unknown column 'rf'; columns are: name, input, params" in result.output
