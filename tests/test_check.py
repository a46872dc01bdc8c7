"""`cnnspec check`: hand-written tables, managed tables, expect: sections and report formats."""
import json
import xml.etree.ElementTree as ET
from pathlib import Path

from typer.testing import CliRunner

from cnnspec.check import check_expect, check_hand_table, check_managed, check_paths, exit_code
from cnnspec.cli import app
from cnnspec.errors import SpecError
from cnnspec.tables import updated_text

DATA = Path(__file__).parent / "data" / "tables"
SLIDE = DATA / "cs231n_vgg16.md"
ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()


def test_the_cs231n_slide_passes_every_row_and_fails_its_memory_total():
    findings = check_hand_table(str(SLIDE), "vgg16")
    failed = [f for f in findings if f.status != "pass"]
    assert len(failed) == 1
    (total,) = failed
    assert total.subject.startswith("TOTAL [memory (values)]")
    assert "written 24M, true 15,237,608 values" in total.message
    assert total.line == SLIDE.read_text().splitlines().index(
        next(line for line in SLIDE.read_text().splitlines() if line.startswith("| TOTAL"))) + 1
    assert sum(f.status == "pass" for f in findings) == 22 * 3 + 1  # 22 rows x 3 figures + the params total
    assert exit_code(findings) == 1


def test_cli_exit_codes_and_formats():
    result = runner.invoke(app, ["check", str(SLIDE), "--spec", "vgg16"])
    assert result.exit_code == 1 and "67 passed, 1 failed" in result.stdout
    github = runner.invoke(app, ["check", str(SLIDE), "--spec", "vgg16", "--format", "github"]).stdout
    assert f"::error file={SLIDE},line=30," in github
    junit = ET.fromstring(runner.invoke(app, ["check", str(SLIDE), "--spec", "vgg16", "-f", "junit"]).stdout)
    assert junit.get("failures") == "1" and junit.get("tests") == "68"
    data = json.loads(runner.invoke(app, ["check", str(SLIDE), "--spec", "vgg16", "-f", "json"]).stdout)
    assert data["summary"] == "67 passed, 1 failed"


def test_by_name_matching_and_csv(tmp_path):
    table = tmp_path / "fc.csv"
    table.write_text("layer,params,MACs\nfc6,102.8M,102760448\nfc7,16.78M,16.8M\nfc8,4.1M,4.096M\n")
    findings = check_hand_table(str(table), "vgg16")
    assert all(f.status == "pass" for f in findings) and "(by name)" in findings[0].subject


def test_flops_column_is_ambiguous_not_guessed(tmp_path):
    table = tmp_path / "t.md"
    table.write_text("| layer | GFLOPs |\n| --- | --- |\n| fc6 | 0.1028 |\n| fc7 | 0.0336 |\n| fc8 | 1G |\n")
    findings = check_hand_table(str(table), "vgg16")
    assert [f.status for f in findings] == ["ambiguous", "pass", "fail"]
    assert "ambiguous" in findings[0].message and "MAC count 102,760,448" in findings[0].message
    assert exit_code(findings) == 1


def test_bad_cell_names_row_and_column_and_exits_2(tmp_path):
    table = tmp_path / "t.md"
    table.write_text("| layer | params |\n| --- | --- |\n| fc6 | lots |\n| fc7 | 16.8M |\n| fc8 | 4.1M |\n")
    result = runner.invoke(app, ["check", str(table), "--spec", "vgg16"])
    assert result.exit_code == 2
    assert "row 3, column 'params': 'lots' is not a number" in result.stdout


def test_rows_that_cannot_be_matched_are_unreadable(tmp_path):
    table = tmp_path / "t.md"
    table.write_text("| layer | params |\n| --- | --- |\n| A | 1 |\n| B | 2 |\n")
    result = runner.invoke(app, ["check", str(table), "--spec", "vgg16"])
    assert isinstance(result.exception, SpecError) and "cannot match the table's 2 rows" in str(result.exception)


MANAGED = """# Notes

Some text that must stay byte-for-byte.\r
<!-- cnnspec table {spec} columns=name,output,params -->
| stale |
<!-- /cnnspec -->
Trailing text.
"""


def test_managed_table_update_then_check_then_drift(tmp_path):
    spec = tmp_path / "net.yaml"
    spec.write_text("input: [3, 8, 8]\nlayers:\n  - {conv2d: {out_channels: 4, kernel_size: 3}}\n")
    doc = tmp_path / "doc.md"
    doc.write_text(MANAGED.format(spec="net.yaml"))
    assert exit_code(check_managed(str(doc))) == 1
    assert runner.invoke(app, ["table", "--update", str(tmp_path)]).exit_code == 0
    text = doc.read_bytes().decode()
    assert text.startswith("# Notes\n\nSome text that must stay byte-for-byte.\r\n")
    assert text.endswith("<!-- /cnnspec -->\nTrailing text.\n") and "| conv1 | 4x6x6 | 112 |" in text
    assert exit_code(check_managed(str(doc))) == 0
    spec.write_text(spec.read_text().replace("out_channels: 4", "out_channels: 5"))
    (finding,) = check_managed(str(doc))
    assert finding.status == "fail" and "-| conv1 | 4x6x6 | 112 |" in finding.message
    assert "+| conv1 | 5x6x6 | 140 |" in finding.message


def test_markers_in_code_blocks_are_examples(tmp_path):
    doc = tmp_path / "doc.md"
    doc.write_text("```markdown\n<!-- cnnspec table no_such.yaml -->\n<!-- /cnnspec -->\n```\n")
    assert check_managed(str(doc)) == []


def test_readme_managed_table_is_current():
    findings = check_managed(str(ROOT / "README.md"))
    assert findings and all(f.status == "pass" for f in findings)


def test_expect_section(tmp_path):
    spec = tmp_path / "net.yaml"
    spec.write_text("""input: [3, 8, 8]
layers:
  - {conv2d: {out_channels: 4, kernel_size: 3}, name: conv}
  - {type: flatten}
expect:
  source: "hand arithmetic"
  params: 112
  macs: {value: 3.9K, source: "4 x 36 x 27"}
  memory: 500
  output: [144]
  layers:
    conv: {params: 112, output: [4, 6, 6]}
""")
    findings = check_expect(str(spec))
    statuses = {f.subject: f.status for f in findings}
    assert statuses == {"expect: params": "pass", "expect: macs": "pass", "expect: memory": "fail",
                        "expect: output": "pass", "expect: layers: conv: params": "pass",
                        "expect: layers: conv: output": "pass"}
    memory = next(f for f in findings if f.subject == "expect: memory")
    assert memory.line == 9 and "written 500, true 336 values" in memory.message


def test_expect_typo_is_unreadable_with_its_line(tmp_path):
    spec = tmp_path / "net.yaml"
    spec.write_text("input: [3, 8, 8]\nlayers: [relu]\nexpect:\n  parmas: 0\n")
    result = runner.invoke(app, ["check", str(spec)])
    assert f"{spec}:4:3: unknown expectation 'parmas'" in str(result.exception)


def test_builtin_specs_meet_their_expectations():
    assert [f for f in check_paths([str(ROOT / "specs")]) if f.status != "pass"] == []

