"""The command line: formats, options and exit codes (in-process through Typer's runner)."""
import csv
import io
import json

from typer.testing import CliRunner

from cnnspec.cli import app

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, list(args), catch_exceptions=False)


def test_analyze_table_shows_totals_and_convention():
    result = invoke("analyze", "vgg16")
    assert result.exit_code == 0
    assert "138,357,544" in result.stdout and "15,470,264,320" in result.stdout
    assert "Convention: MACs = multiply-accumulates" in result.stdout
    assert "60.95 MB" in result.stdout


def test_analyze_json_is_the_analysis():
    data = json.loads(invoke("analyze", "vgg16", "--format", "json").stdout)
    assert data["totals"]["params"] == 138_357_544 and data["memory_bytes"] == 60_950_432
    assert data["rows"][1]["shape"] == [64, 224, 224]
    assert data["rows"][1]["receptive_field"]["size"] == [3, 3]


def test_analyze_csv_rows_add_up():
    rows = list(csv.DictReader(io.StringIO(invoke("analyze", "vgg16", "-f", "csv").stdout)))
    total = rows.pop()
    assert total["name"] == "Total"
    assert sum(int(r["macs"]) for r in rows) == int(total["macs"]) == 15_470_264_320


def test_analyze_markdown_has_one_row_per_layer():
    text = invoke("analyze", "vgg16", "-f", "md").stdout
    table = [line for line in text.splitlines() if line.startswith("|")]
    assert len(table) == 2 + 40 + 1  # header, alignment, 40 rows with the input, totals


def test_input_and_dtype_options():
    data = json.loads(invoke("analyze", "vgg16", "--input", "3x32x32", "--dtype", "fp16", "-f", "json",
                             "--batch", "4").stdout)
    assert data["input_shape"] == [3, 32, 32] and data["dtype"] == "fp16"
    assert data["training"]["batch"] == 4


def test_bad_input_option_is_a_usage_error():
    result = runner.invoke(app, ["analyze", "vgg16", "--input", "3xbig"])
    assert "--input must look like 3x224x224" in str(result.exception)


def test_validate_reports_each_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("input: [3, 8, 8]\nlayers: [{type: relux}]\n")
    result = runner.invoke(app, ["validate", "vgg16", str(bad)])
    assert result.exit_code == 2
    assert "ok " in result.stdout
    assert f"{bad}:2:17: cnnspec has no layer type 'relux' (did you mean 'relu'?)" in result.stderr


def test_list_names_builtin_specs():
    assert "vgg16" in invoke("list").stdout


def test_unknown_spec_name_suggests_a_builtin():
    result = runner.invoke(app, ["analyze", "vgg61"])
    assert "no built-in spec of that name" in str(result.exception)


def test_schema_writes_file(tmp_path):
    out = tmp_path / "schema.json"
    assert invoke("schema", "-o", str(out)).exit_code == 0
    assert json.loads(out.read_text())["title"] == "cnnspec architecture spec"


def test_ops_option_chooses_the_counting_convention():
    header = invoke("analyze", "vgg16", "-f", "csv", "--ops", "macs").stdout.splitlines()[0]
    assert "macs" in header and "flops" not in header
    header = invoke("analyze", "vgg16", "-f", "csv", "--ops", "flops").stdout.splitlines()[0]
    assert "flops" in header and "macs" not in header


def test_an_unwritable_output_path_is_an_error_not_a_traceback(tmp_path):
    import subprocess
    import sys
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = subprocess.run([sys.executable, "-m", "cnnspec", "schema", "-o", str(blocker / "schema.json")],
                            capture_output=True, text=True)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.startswith(f"error: cannot write {blocker}")


def test_table_json_keeps_only_the_chosen_columns():
    data = json.loads(invoke("table", "vgg16", "--columns", "name,params,weights", "--format", "json").stdout)
    assert data["columns"] == ["name", "params", "weights"]
    assert set(data["rows"][1]) == {"name", "params", "weights"}
    assert data["rows"][1] == {"name": "block1.conv.0.conv", "params": 1_792, "weights": 1_728}  # 3x3x3x64 (+64 bias)
    assert data["totals"] == {"params": 138_357_544, "weights": 138_357_544 - 13_416}
    assert sum(row["params"] for row in data["rows"]) == data["totals"]["params"]


def test_table_json_without_columns_is_the_whole_analysis():
    data = json.loads(invoke("table", "vgg16", "--format", "json").stdout)
    assert data["totals"]["macs"] == 15_470_264_320 and "training" in data


def test_help_describes_the_spec_argument():
    result = invoke("analyze", "--help")
    assert result.exit_code == 0
    assert "A spec file, or the name of a built-in spec" in " ".join(result.stdout.split())


def test_output_option_analyzes_the_layers_that_feed_one_output():
    data = json.loads(runner.invoke(app, ["analyze", "googlenet", "--output", "fc", "--format", "json"]).stdout)
    assert data["totals"]["params"] == 6_624_904 and data["outputs"] == ["fc"]
    assert not any(row["name"].startswith("aux") for row in data["rows"])
    both = runner.invoke(app, ["analyze", "googlenet"]).stdout
    assert "Params: 13,004,888" in both and "all 3 outputs" in both
    assert "  fc: 6,624,904 params (6.625M), 1,498,376,192 MACs (1.498G)" in both
    wrong = runner.invoke(app, ["analyze", "googlenet", "--output", "fcc"])
    assert wrong.exit_code == 2 and "'fcc' is not a layer of googlenet" in wrong.output


def test_analyze_prices_mixed_precision_training_with_fp32_weights_gradients_and_adam_state():
    arguments = ["analyze", "resnet50", "--batch", "32", "--optimizer", "adam", "--precision", "bf16-mixed"]
    text = runner.invoke(app, arguments)
    assert text.exit_code == 0
    assert "bf16-mixed: weights, gradients and Adam state fp32, activations bf16 where autocast lowers them" in \
        " ".join(text.stdout.split())
    data = json.loads(runner.invoke(app, [*arguments, "--format", "json"]).stdout)
    training, params = data["training"], data["totals"]["params"]
    assert (training["gradients"], training["optimizer_state"]) == (4 * params, 8 * params)
    assert data["precision"] == "bf16-mixed" and data["footprint"]["saved"] == training["activations"]
    clash = runner.invoke(app, ["analyze", "resnet50", "--dtype", "fp16", "--precision", "bf16-mixed"])
    assert "--dtype fp16 and --precision bf16-mixed disagree" in str(clash.exception)  # main: exit 2
