"""The cnnspec command line: each command loads, computes, renders. Exit codes: 0 ok, 1 a check
failed, 2 bad input or usage. ``main`` is the one place that turns a SpecError into a message.

No ``from __future__ import annotations`` here: typer would then evaluate every annotation string
of every command on each run, which doubled its start-up work (~5 ms of ~0.17 s)."""
import enum
import sys
from pathlib import Path
from typing import List, Optional

import typer

from .errors import SpecError, TrainError

app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  help="Analyze CNN architectures written as YAML specs: shapes, params, MACs/FLOPs, memory, "
                       "receptive field, without building the model.")


def print_version(value: bool) -> None:
    if value:
        from . import __version__
        echo(f"cnnspec {__version__}")
        raise typer.Exit()


@app.callback()
def options(version: bool = typer.Option(False, "--version", callback=print_version, is_eager=True,
                                         help="Print the version and exit.")):
    """Options that come before the command: `cnnspec --version`."""


class Format(str, enum.Enum):
    table = "table"
    json = "json"
    csv = "csv"
    md = "md"


class DType(str, enum.Enum):
    fp32 = "fp32"
    fp16 = "fp16"
    bf16 = "bf16"
    int8 = "int8"


class PrecisionMode(str, enum.Enum):
    fp32 = "fp32"
    bf16_mixed = "bf16-mixed"
    fp16_mixed = "fp16-mixed"
    bf16 = "bf16"
    fp16 = "fp16"


PrecisionOption = typer.Option(None, "--precision", help="How training stores values: bf16-mixed and fp16-mixed "
                               "autocast (weights, gradients and optimizer state fp32), fp32, bf16 and fp16 hold "
                               "everything in one dtype. Default: everything in --dtype.")


def pricing(dtype: DType, precision: Optional[PrecisionMode]) -> dict:
    """The analysis' dtype and precision: --precision sets both; with --dtype too, they must agree."""
    if precision is None:
        return {"dtype": dtype.value}
    if dtype is not DType.fp32 and dtype.value != precision.value:
        raise SpecError(f"--dtype {dtype.value} and --precision {precision.value} disagree; give one of them")
    return {"precision": precision.value}


class Optimizer(str, enum.Enum):
    sgd = "sgd"
    sgd_momentum = "sgd-momentum"
    adam = "adam"
    adamw = "adamw"


class Ops(str, enum.Enum):
    macs = "macs"
    flops = "flops"
    both = "both"


OPS_COLUMNS = {Ops.macs: ["macs"], Ops.flops: ["flops"], Ops.both: ["macs", "flops"]}


def TrainOption(help: str, *flags: str):  # noqa: N802 - reads like typer.Option
    return typer.Option(None, *flags, help=help, rich_help_panel="Training")


SpecArgument = typer.Argument(..., help="A spec file, or the name of a built-in spec (see `cnnspec list`).")
InputOption = typer.Option(None, "--input", help="Analyze at another input shape, e.g. 3x299x299.")
SetOption = typer.Option(None, "--set", help="Override a top-level spec argument: --set width=32 (repeatable).")
ForceOption = typer.Option(False, "--force", help="Replace output files that are read-only.")


MAX_INPUT_SIZE = 2**20
"""The largest axis --input takes: a million pixels a side is past any image, and keeps `build`'s test tensor
from asking for terabytes."""


def parse_shape(text: str | None) -> tuple[int, ...] | None:
    if text is None:
        return None
    parts = text.lower().replace(",", "x").split("x")
    shape = tuple(int(v) for v in parts) if all(v.strip().isdigit() for v in parts) else ()
    if not 1 <= len(shape) <= 4 or not all(1 <= v <= MAX_INPUT_SIZE for v in shape):
        raise SpecError(f"--input must look like 3x224x224: 1 to 4 sizes without the batch axis, each from 1 to "
                        f"{MAX_INPUT_SIZE:,}. Received: {text!r}")
    return shape


def parse_overrides(items: list[str] | None) -> dict:
    """``--set name=value``: the value is read as the spec reads YAML (no tags, no aliases, bounded numbers)."""
    from .spec import read_yaml
    overrides = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise SpecError(f"--set takes name=value. Received: {item!r}")
        if not value.strip():
            raise SpecError(f"--set {key.strip()}= needs a value after '='. Received: {item!r}")
        try:
            overrides[key.strip()] = read_yaml(f"--set {key.strip()}", value)
        except SpecError as error:
            raise SpecError(f"--set {item}: {error.message}"
                            + (f" (at character {error.loc.col})" if error.loc and error.loc.col > 1 else "")) from None
    return overrides


def load_graph(spec: str, input_shape: str | None = None, overrides: list[str] | None = None):
    from .graph import load
    return load(spec, parse_shape(input_shape), parse_overrides(overrides))


def only_feeding(graph, output: str):
    """``--output NAME``: the graph of the layers that feed it; an unknown name is a usage error."""
    from .graph import feeding_only
    from .layers.base import closest
    if output not in graph.by_name or output == "input":
        raise typer.BadParameter(f"'{output}' is not a layer of {graph.name}{closest(output, graph.by_name)}; "
                                 f"its outputs are: {', '.join(graph.outputs)}", param_hint="'--output'")
    return feeding_only(graph, output)


def echo(text: str) -> None:
    """Print ``text`` as one line or block; characters the output's encoding lacks become '?'."""
    text = text if text.endswith("\n") else text + "\n"
    try:
        sys.stdout.write(text)
    except UnicodeEncodeError:
        sys.stdout.flush()
        sys.stdout.buffer.write(text.encode(sys.stdout.encoding, "replace"))
        sys.stdout.flush()


ColumnsOption = typer.Option(None, "--columns", help="Comma-separated, e.g. name,output,params,macs (also type, "
                             "trainable, weights, buffers, flops, memory, bytes, rf; traffic: read, written, "
                             "intensity; with --roofline: bound, time).")
RowDepthOption = typer.Option(None, "--depth", min=0, help="Collapse blocks nested deeper than this into one row "
                              "each, with their figures summed (0: one row per top-level block).")


def chosen_columns(columns: str | None, default: list[str]) -> list[str]:
    from . import render
    chosen = [c.strip() for c in columns.split(",")] if columns else default
    unknown = [c for c in chosen if c not in render.COLUMNS]
    if unknown:
        raise SpecError(f"unknown column '{unknown[0]}'; columns are: {', '.join(render.COLUMNS)}")
    return chosen


@app.command()
def analyze(spec: str = SpecArgument, format: Format = typer.Option(Format.table, "--format", "-f"),
            input: Optional[str] = InputOption, batch: int = typer.Option(1, min=1, help="Batch size for the "
                                                                          "training-memory estimate, the memory "
                                                                          "traffic and the roofline."),
            dtype: DType = typer.Option(DType.fp32, help="Bytes per value for memory figures."),
            precision: Optional[PrecisionMode] = PrecisionOption,
            optimizer: Optimizer = typer.Option(Optimizer.sgd_momentum, help="Optimizer state in training memory."),
            ops: Ops = typer.Option(Ops.both, help="Operation counts to show: macs (multiply-accumulates of conv "
                                    "and linear, as torchvision and fvcore), flops (2 x MACs + elementwise work), "
                                    "or both."),
            columns: Optional[str] = ColumnsOption, depth: Optional[int] = RowDepthOption,
            output: Optional[str] = typer.Option(None, "--output", help="Only the layers that feed this output "
                                                 "(or layer): GoogLeNet's fc without its auxiliary heads."),
            roofline: Optional[str] = typer.Option(None, "--roofline", metavar="DEVICE", help="Estimate each layer's "
                                                   "time from below on h100, h200, a100, l4, t4 or cpu (data-sheet "
                                                   "peaks; DEVICE:tf32 prices the arithmetic at another dtype's peak "
                                                   "than --dtype's): compute- or memory-bound, at least "
                                                   "max(FLOPs / peak, bytes / bandwidth)."),
            set: Optional[List[str]] = SetOption):
    """Per-layer output shape, params, MACs, FLOPs, memory, traffic and receptive field, with totals.

    On a terminal the table fits its width (figures rounded, columns hidden, with a note); piped, or
    with --format, every figure is exact."""
    from . import render
    from .analysis import analyze as run
    from .collapse import collapse

    graph = load_graph(spec, input, set)
    if output is not None:
        graph = only_feeding(graph, output)
    try:
        result = run(graph, batch=batch, optimizer=optimizer.value, roofline=roofline,
                     **pricing(dtype, precision))
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="'--roofline'") from None
    default = render.ROOFLINE_COLUMNS if roofline else render.DEFAULT_COLUMNS
    chosen = chosen_columns(columns, [c for c in default if c not in ("macs", "flops") or c in OPS_COLUMNS[ops]])
    if not roofline and (needing := [c for c in chosen if c in render.NEEDS_ROOFLINE]):
        raise typer.BadParameter(f"column '{needing[0]}' needs --roofline DEVICE", param_hint="'--columns'")
    rows = collapse(result, depth)
    if format is Format.json:
        echo(render.to_json(rows))
    elif format is Format.csv:
        echo(render.to_csv(rows, chosen))
    elif format is Format.md:
        echo(render.to_markdown(rows, chosen) + "\n"
             + "\n".join(f"- {line}" for line in render.summary_lines(result)))
    else:
        options = render.text_options(sys.stdout)
        summary = [render.paint(render.wrapped(line, options["width"], "  "),
                                "yellow" if line.startswith("warning") else None, options["color"])
                   for line in render.summary_lines(result)]
        echo(render.to_text(rows, chosen, **options) + "\n".join(summary))


@app.command()
def validate(specs: List[str] = typer.Argument(..., help="Spec files or built-in names.")):
    """Check that specs load and their shapes agree; print each problem with file:line:col."""
    failed = 0
    for spec in specs:
        try:
            graph = load_graph(spec)
        except SpecError as error:
            failed += 1
            sys.stderr.write(f"error: {error}\n")
            continue
        warnings = [f"{node.name}: {w}" for node in graph.nodes for w in node.warnings]
        echo(f"ok {graph.path}: {len(graph.nodes) - 1} layers"
             + "".join(f"\n  warning: {w}" for w in warnings))
    raise typer.Exit(2 if failed else 0)


@app.command("list")
def list_specs():
    """The built-in specs, usable by name: `cnnspec analyze vgg16`; a family once, with its variants."""
    import textwrap

    from .spec import builtin_specs, read_variants, read_yaml
    for name, path in builtin_specs().items():
        data = read_yaml(str(path), path.read_text())
        description = str(data.get("description", "")).strip().splitlines()
        echo(f"{name:<20} {description[0] if description else ''}")
        variants = ", ".join(read_variants(data))
        if variants:
            echo(textwrap.fill(variants, 79, initial_indent=" " * 21 + "variants: ", subsequent_indent=" " * 31))


class LayersFormat(str, enum.Enum):
    text = "text"
    md = "md"


@app.command()
def layers(types: Optional[List[str]] = typer.Argument(None, help="Layer types to show (default: all)."),
           format: LayersFormat = typer.Option(LayersFormat.text, "--format", "-f", help="text, or md (docs/layers.md)."),
           output: Optional[Path] = typer.Option(None, "-o", "--output", help="Write to a file.")):
    """Every layer type: its arguments and defaults, what it counts, and the torch module it builds."""
    from . import catalog, render
    from .layers import LAYERS
    from .layers.base import closest
    for name in types or []:
        if name not in LAYERS:
            raise SpecError(f"unknown layer type '{name}'{closest(name, LAYERS)}; `cnnspec layers` lists them")
    wanted = {LAYERS[name].type_name for name in types or []}
    found = [t for t in catalog.layer_types() if not wanted or t.name in wanted]
    text = catalog.to_markdown(found) if format is LayersFormat.md else catalog.to_text(
        found, render.text_options(sys.stdout)["width"] if output is None else None)
    if output:
        from .files import write_atomic
        write_atomic(output, text)
    else:
        echo(text)


@app.command()
def schema(output: Optional[Path] = typer.Option(None, "-o", "--output", help="Write to a file."),
           force: bool = ForceOption):
    """The JSON Schema of the spec format, for editor validation and completion."""
    import json

    from .schema import spec_schema
    text = json.dumps(spec_schema(), indent=2) + "\n"
    if output:
        from .files import write_atomic
        write_atomic(output, text, force)
    else:
        echo(text)


TORCH_PACKAGES = ("torch", "fvcore", "onnx", "safetensors")


def import_torch_module(module: str, command: str):
    """Import a module of cnnspec.torch (or one of TORCH_PACKAGES itself); a missing package is a usage
    error, not a traceback."""
    import importlib
    try:
        return importlib.import_module(module if module in TORCH_PACKAGES else f"cnnspec.torch.{module}")
    except ModuleNotFoundError as error:
        if (error.name or "").split(".")[0] not in TORCH_PACKAGES:
            raise
        raise SpecError(f"`cnnspec {command}` needs {error.name.split('.')[0]}, which is not installed: "
                        "pip install cnnspec[torch]") from None


@app.command()
def build(spec: str = SpecArgument, input: Optional[str] = InputOption, set: Optional[List[str]] = SetOption,
          out: Optional[Path] = typer.Option(None, "--out", help="Save the weights: safetensors for a .safetensors "
                                             "path, else torch.save of the state_dict."),
          onnx: Optional[Path] = typer.Option(None, "--onnx", help="Export to ONNX (checked by onnx.checker)."),
          python: Optional[Path] = typer.Option(None, "--python", help="Write standalone PyTorch source."),
          seed: Optional[int] = typer.Option(None, help="Seed for the initial weights and the training run "
                                             "(default 0, or the spec's train: seed)."),
          init: Optional[str] = typer.Option(None, help="Weight initialization; default: the spec's init:, "
                                             "else PyTorch's."),
          train: bool = typer.Option(False, "--train", help="Train the model (settings: the spec's train: "
                                     "section, then these options).", rich_help_panel="Training"),
          data: Optional[str] = TrainOption("mnist1d, digits, synthetic, an .npz or an image folder."),
          epochs: Optional[int] = TrainOption("Epochs."), steps: Optional[int] = TrainOption("Optimizer steps "
                                                                                              "(instead of epochs)."),
          batch_size: Optional[int] = TrainOption("Batch size (per process under torchrun)."),
          optimizer: Optional[str] = TrainOption("sgd, adam or adamw."), lr: Optional[float] = TrainOption("Peak "
                                                                                                        "learning rate."),
          momentum: Optional[float] = TrainOption("SGD momentum."),
          nesterov: Optional[bool] = TrainOption("Nesterov momentum.", "--nesterov/--no-nesterov"),
          weight_decay: Optional[float] = TrainOption("Weight decay."),
          label_smoothing: Optional[float] = TrainOption("Label smoothing."),
          schedule: Optional[str] = TrainOption("constant, step, cosine or onecycle."),
          warmup_epochs: Optional[float] = TrainOption("Linear warmup, in epochs."),
          device: Optional[str] = TrainOption("auto, cpu, cuda, cuda:1 ..."),
          precision: Optional[str] = TrainOption("fp32, bf16 or fp16 (autocast)."),
          channels_last: Optional[bool] = TrainOption("channels_last memory format.",
                                                      "--channels-last/--no-channels-last"),
          compile: Optional[bool] = TrainOption("torch.compile the model.", "--compile/--no-compile"),
          augment: Optional[bool] = TrainOption("Random crop and flip (image folders).", "--augment/--no-augment"),
          runs: Optional[str] = TrainOption("Folder for runs (default runs/)."),
          name: Optional[str] = TrainOption("Run name (default: the spec's name)."),
          threads: Optional[int] = TrainOption("CPU threads (default: 1 for a tiny model on the CPU, else "
                                               "PyTorch's)."),
          resume: bool = typer.Option(False, "--resume", help="Continue the run from its last checkpoint.",
                                      rich_help_panel="Training"),
          override: bool = typer.Option(False, "--override", help="With --resume: accept settings that differ from "
                                        "the checkpoint's (recorded in the run's log.txt).", rich_help_panel="Training"),
          progress: bool = typer.Option(True, "--progress/--no-progress", rich_help_panel="Training"),
          force: bool = ForceOption):
    """Build the spec as a torch.nn.Module; save its weights, export ONNX or PyTorch source; or --train it
    and export the trained model."""
    from .files import output_target
    graph = load_graph(spec, input, set)
    for path in (out, onnx, python):
        if path:
            output_target(path, force)  # before any work: a run is not lost to an unwritable path at its end
    builder = import_torch_module("build", "build")
    for wanted, package in ((out and out.suffix == ".safetensors", "safetensors"), (onnx, "onnx")):
        if wanted:
            import_torch_module(package, "build")
    weights_note = None
    if train:
        trainer = import_torch_module("train", "build --train")
        options = dict(data=data, epochs=epochs, steps=steps, batch_size=batch_size, optimizer=optimizer, lr=lr,
                       momentum=momentum, nesterov=nesterov, weight_decay=weight_decay, seed=seed,
                       label_smoothing=label_smoothing, schedule=schedule, warmup_epochs=warmup_epochs, device=device,
                       precision=precision, channels_last=channels_last, compile=compile, augment=augment, runs=runs,
                       name=name, resume=resume, progress=progress, init=init, threads=threads)
        if override and not resume:
            raise SpecError("--override goes with --resume: it accepts settings that differ from the run's")
        given = {key for key, value in options.items() if value is not None}
        result = trainer.train(graph, trainer.config_from(graph, options), override, given)
        echo(trainer.summary(result))
        if not result.main:  # under torchrun, process 0 exports
            return
        model = result.model
        weights_note = trainer.weights_note(result, out)
    else:
        model = builder.build_module(graph, seed=seed or 0, init=init)
        echo(builder.describe(model))
    if out:
        builder.save_weights(model, out, force)
        echo(f"weights{' (trained)' if train else ''}: {out}")
    if onnx:
        echo(f"onnx{' (trained)' if train else ''} ({builder.export_onnx(model, onnx, force=force)}): {onnx}")
    if python:
        from .files import write_atomic
        write_atomic(python, import_torch_module("export", "build").export_python(graph, weights_note), force)
        echo(f"python: {python}" + ("" if out or not train else " (the architecture; --out saves the trained "
                                    "weights that load into it)"))


@app.command("import")
def import_model(source: str = typer.Argument(..., help="MODULE:CALLABLE (mypkg.models:resnet50), FILE.py:CALLABLE, "
                                              "or an ONNX file."),
                 input: Optional[str] = typer.Option(None, "--input", help="The input without the batch axis, e.g. "
                                                     "3x224x224 (an ONNX file has its own)."),
                 output: Optional[Path] = typer.Option(None, "-o", "--output", help="Write the spec here (default: "
                                                       "print it)."),
                 allow_unsupported: bool = typer.Option(False, "--allow-unsupported", help="Keep what cnnspec "
                                                        "cannot express as 'unsupported' placeholder layers of its "
                                                        "shape (counted as 0) instead of failing."),
                 name: Optional[str] = typer.Option(None, "--name", help="The spec's name.")):
    """Read a PyTorch model (a callable returning an nn.Module) or an ONNX file into a spec.

    Every operation cnnspec cannot express is listed with its module path or node name; the import then
    fails (exit 1) unless --allow-unsupported."""
    shape = parse_shape(input)
    if source.lower().endswith(".onnx"):
        imported = import_torch_module("onnx_import", "import").import_onnx(
            source, shape, name=name, allow_unsupported=allow_unsupported)
    else:
        if shape is None:
            raise SpecError("importing a PyTorch model needs --input, e.g. --input 3x224x224")
        imported = import_torch_module("importer", "import").import_callable(
            source, shape, name=name, allow_unsupported=allow_unsupported)
    for note in imported.notes:
        sys.stderr.write(f"note: {note}\n")
    for problem in imported.problems:
        sys.stderr.write(f"unsupported (kept as a placeholder): {problem}\n")
    if output is None:
        echo(imported.text)
        return
    imported.save(output)
    layers = len(imported.graph.nodes) - 1
    blocks = len(set(imported.graph.spec.blocks.values()))
    echo(f"wrote {output}: {layers} layers" + (f" ({blocks} block types)" if blocks else ""))


@app.command()
def verify(specs: List[str] = typer.Argument(..., help="Spec files or built-in names."),
           details: bool = typer.Option(False, "--details", help="The table of every layer, not only the "
                                        "disagreeing ones."),
           memory: bool = typer.Option(False, "--memory", help="Measure memory instead: kept for backward, an eval "
                                       "forward, a training step (docs/memory.md)."),
           batch: int = typer.Option(2, min=1, help="With --memory: the batch size."),
           precision: PrecisionMode = typer.Option(PrecisionMode.fp32, help="With --memory: fp32, bf16-mixed ..."),
           optimizer: Optimizer = typer.Option(Optimizer.adam, help="With --memory: the optimizer of the step."),
           fake: bool = typer.Option(False, "--fake", help="With --memory: measure on fake tensors (shapes and "
                                     "lifetimes, nothing allocated), for models too large for memory."),
           allocator: bool = typer.Option(False, "--allocator", help="With --memory: also the CPU allocator's peaks "
                                          "(torch.profiler), shown beside, not held to a tolerance.")):
    """Compare the analyzer's params, shapes and MACs with PyTorch's and fvcore's, layer by layer; with
    --memory, its memory figures with what the built model spends on the CPU.

    One verdict line per model, then the layers that disagree (every layer with --details)."""
    from . import render
    if memory:
        measuring = import_torch_module("memory", "verify --memory")
        failed = False
        for spec in specs:
            result = measuring.verify_memory(load_graph(spec), precision.value, batch, optimizer.value, fake,
                                             allocator)
            echo(measuring.memory_text(result, details))
            for figure in result.figures:
                if not figure.ok:
                    failed = True
                    sys.stderr.write(f"{result.name}: {measuring.QUANTITIES[figure.quantity]} off by "
                                     f"{figure.error:+.2%} (tolerance {figure.tolerance:.0%})\n")
        raise typer.Exit(1 if failed else 0)
    checker = import_torch_module("verify", "verify")
    options = render.text_options(sys.stdout)
    failed = False
    for spec in specs:
        result = checker.verify(load_graph(spec))
        verdict = render.wrapped(checker.summary(result), options["width"], "  ")
        echo(render.paint(verdict, "green" if result.ok else "red", options["color"]))
        if details or not result.ok:
            echo(checker.details_text(result, not details, **options))
        for failure in result.failures():
            failed = True
            sys.stderr.write(f"{result.name}: disagreement at {failure}\n")
    raise typer.Exit(1 if failed else 0)


class CheckFormat(str, enum.Enum):
    text = "text"
    github = "github"
    junit = "junit"
    json = "json"


@app.command()
def table(targets: List[str] = typer.Argument(..., help="A spec (or built-in name); with --update, Markdown files "
                                               "or directories with managed tables."),
          format: Format = typer.Option(Format.md, "--format", "-f", help="md, csv, table (boxed text) or json "
                                        "(the chosen columns; the whole analysis without --columns)."),
          columns: Optional[str] = ColumnsOption, depth: Optional[int] = RowDepthOption,
          input: Optional[str] = InputOption, dtype: DType = typer.Option(DType.fp32),
          update: bool = typer.Option(False, "--update", help="Rewrite every managed table in place."),
          force: bool = ForceOption):
    """Print the architecture table for docs, or keep managed tables in Markdown files current."""
    from . import render
    if update:
        from .check import collect
        from .tables import update_file
        for path in collect(targets, (".md",)):
            if update_file(path, force):
                echo(f"updated {path}")
        return
    if len(targets) != 1:
        raise SpecError("table takes one spec (or --update with files)")
    chosen = chosen_columns(columns, render.DEFAULT_COLUMNS)
    from .analysis import analyze as run
    from .collapse import collapse
    result = collapse(run(load_graph(targets[0], input), dtype.value), depth)
    if format is Format.json:
        echo(render.columns_json(result, chosen) if columns else render.to_json(result))
    elif format is Format.csv:
        echo(render.to_csv(result, chosen))
    elif format is Format.table:
        echo(render.to_text(result, chosen, **render.text_options(sys.stdout)))
    else:
        echo(render.to_markdown(result, chosen))


@app.command()
def check(paths: List[str] = typer.Argument(..., help="Markdown files, specs with expect:, directories; or, with "
                                             "--spec, hand-written tables (Markdown or CSV) and line-by-line "
                                             "breakdowns (Markdown or text)."),
          spec: Optional[str] = typer.Option(None, "--spec", help="Check hand-written tables against this spec."),
          format: CheckFormat = typer.Option(CheckFormat.text, "--format", "-f"),
          dtype: DType = typer.Option(DType.fp32, help="Bytes per value for memory columns in bytes."),
          verbose: bool = typer.Option(False, "-v", "--verbose", help="Show passing figures too.")):
    """Check tables and expect: figures against the specs. Exit 0 all true, 1 something false, 2 unreadable."""
    from . import check as checks
    findings = checks.check_paths(paths, spec, dtype.value)
    echo(checks.report(findings, format.value, verbose))
    raise typer.Exit(checks.exit_code(findings))


class ExplainFormat(str, enum.Enum):
    text = "text"
    md = "md"
    json = "json"


@app.command()
def explain(targets: Optional[List[str]] = typer.Argument(None, help="A spec, then layers or blocks to explain "
                                                         "(none: the network's totals as sums)."),
            table: Optional[str] = typer.Option(None, "--table", help="Explain each wrong figure of a hand-written "
                                                "table or line-by-line breakdown, against --spec."),
            spec: Optional[str] = typer.Option(None, "--spec", help="The spec a --table is held to."),
            format: ExplainFormat = typer.Option(ExplainFormat.text, "--format", "-f",
                                                 help="text, md (LaTeX math for notes and Jupyter) or json."),
            input: Optional[str] = InputOption, set: Optional[List[str]] = SetOption,
            dtype: DType = typer.Option(DType.fp32, help="Bytes per value for memory figures."),
            precision: Optional[PrecisionMode] = PrecisionOption,
            batch: int = typer.Option(1, min=1, help="Batch size for the training memory."),
            optimizer: Optimizer = typer.Option(Optimizer.sgd_momentum, help="Optimizer state in training memory.")):
    """Show the working: every figure as a formula with the layer's numbers in, and totals as sums."""
    from . import explain as explaining
    from .analysis import analyze as run
    if table:
        if targets or not spec:
            raise SpecError("explain --table FILE takes --spec SPEC, and no other spec or layers")
        graph = load_graph(spec, input, set)
        analysis = run(graph, batch=batch, optimizer=optimizer.value, **pricing(dtype, precision))
        sections = explaining.explain_table(table, graph, analysis)
    elif targets:
        graph = load_graph(targets[0], input, set)
        analysis = run(graph, batch=batch, optimizer=optimizer.value, **pricing(dtype, precision))
        sections = explaining.explain(graph, analysis, targets[1:])
    else:
        raise SpecError("explain takes a spec (then layers or blocks), or --table FILE --spec SPEC")
    if format is ExplainFormat.json:
        echo(explaining.to_json(sections))
    elif format is ExplainFormat.md:
        echo(explaining.to_markdown(sections))
    else:
        echo(explaining.to_text(sections, explaining.text_style(sys.stdout.encoding)))


class By(str, enum.Enum):
    total = "total"
    block = "block"
    layer = "layer"


class Field(str, enum.Enum):
    params = "params"
    weights = "weights"
    macs = "macs"
    flops = "flops"
    memory = "memory"


@app.command()
def compare(specs: List[str] = typer.Argument(..., help="Two or more specs; or one spec with --input A,B,..."),
            by: By = typer.Option(By.total, "--by", help="total, or rows aligned by block or layer name."),
            field: Field = typer.Option(Field.macs, "--field", help="With --by block|layer: the figure per row "
                                        "(weights = params without bias)."),
            input: Optional[str] = typer.Option(None, "--input", help="One spec at several inputs: "
                                                "3x224x224,3x320x320; or every spec at one input."),
            format: Format = typer.Option(Format.table, "--format", "-f")):
    """Designs side by side with ratios to the first: params, weights, MACs, FLOPs, memory, peak, receptive field."""
    from . import compare as comparing
    from . import render
    columns = comparing.designs(specs, [parse_shape(s) for s in input.split(",")] if input else [])
    for column in columns:  # an imported model's placeholders count nothing: say so beside any format
        placeholders = sum(row.type == "unsupported" for row in column.analysis.rows)
        if placeholders:
            sys.stderr.write(f"warning: {column.label} holds {placeholders} unsupported placeholder(s), counted as 0\n")
    lines = comparing.totals(columns) if by is By.total else comparing.aligned(columns, by.value, field.value)
    labels = [c.label for c in columns]
    scaling = comparing.scaling(columns) if comparing.is_sweep(columns) else {}
    note = None if by is By.total else comparing.unshared(columns, by.value)
    if format is Format.json:
        extra = {**({"scaling": scaling} if scaling else {}), **({"note": note} if note else {})}
        echo(render.comparison_json(labels, lines, extra))
    elif format is Format.csv:
        echo(render.comparison_csv(labels, lines))
        if note:
            sys.stderr.write(f"note: {note}\n")
    elif format is Format.md:
        echo(render.comparison_markdown(labels, lines) + "".join(f"\n- {k}: {v}" for k, v in scaling.items())
             + (f"\n- note: {note}" if note else ""))
    else:
        options = render.text_options(sys.stdout)
        title = "totals (memory in values)" if by is By.total else f"{field.value} by {by.value}"
        echo(render.comparison_text(title, labels, lines, **options)
             + "".join(render.wrapped(f"{name}: {verdict}", options["width"], "  ") + "\n"
                       for name, verdict in scaling.items())
             + (render.wrapped(f"note: {note}", options["width"], "  ") if note else ""))


@app.command()
def whatif(spec: str = SpecArgument,
           ratio: float = typer.Option(0.25, help="1x1 reduction to this fraction of the input channels."),
           apply: Optional[List[str]] = typer.Option(None, "--apply", help="reduce:LAYER:R, factorize3x3:LAYER, "
                                                      "asymmetric:LAYER, separable:LAYER or strided:POOL "
                                                      "(repeatable, applied in order)."),
           write: Optional[Path] = typer.Option(None, "--write", help="Write the transformed spec here."),
           top: int = typer.Option(20, min=1, help="Show this many savings."),
           input: Optional[str] = InputOption,
           format: Format = typer.Option(Format.table, "--format", "-f"), force: bool = ForceOption):
    """What a 1x1 reduction, stacked 3x3s, 1xn + nx1, a separable conv or a strided conv would save."""
    from . import render
    from . import whatif as transforms
    from .analysis import analyze as run
    from .compare import Column, totals
    from .graph import build_graph
    from .spec import load_spec
    original = load_spec(spec, parse_shape(input))
    if write and not apply:
        raise SpecError("--write needs at least one --apply transform")
    if write:
        from .files import output_target
        output_target(write, force)
    analysis = run(build_graph(original))
    if not apply:
        found = transforms.savings(original, ratio)[:top]
        mlp = transforms.mlp_equivalent(analysis)
        if format is Format.json:
            echo(render.savings_json(found, {"mlp_equivalent": {"weights": mlp.weights, "params": mlp.params}}))
        elif format is Format.csv:
            echo(render.savings_csv(found))
        elif format is Format.md:
            echo(render.savings_markdown(found) + "\n" + render.mlp_line(mlp, analysis))
        else:
            options = render.text_options(sys.stdout)
            echo(render.savings_text(f"what if: {original.name} (largest MAC savings first)", found, **options)
                 + render.wrapped(render.mlp_line(mlp, analysis), options["width"], "  "))
        return
    changed = transforms.apply_all(original, apply)
    columns = [Column(original.name, analysis), Column("after " + " ".join(apply), run(build_graph(changed)))]
    labels, lines = [c.label for c in columns], totals(columns)
    if format is Format.json:
        echo(render.comparison_json(labels, lines))
    elif format is Format.csv:
        echo(render.comparison_csv(labels, lines))
    elif format is Format.md:
        echo(render.comparison_markdown(labels, lines))
    else:
        echo(render.comparison_text("what if (memory in values)", labels, lines, **render.text_options(sys.stdout)))
    if write:
        from .files import write_atomic
        write_atomic(write, transforms.to_yaml(changed, apply), force)
        sys.stderr.write(f"wrote {write}\n")


def picture_format(output: Path, formats: tuple[str, ...]) -> str:
    fmt = output.suffix.lstrip(".").lower()
    if fmt not in formats:
        raise SpecError(f"{output}: the picture format comes from the suffix, one of "
                        f"{', '.join('.' + f for f in formats)}. Received: {output.suffix or 'no suffix'}")
    return fmt


def import_plotting():
    """cnnspec.plot, or a usage error when matplotlib is missing."""
    try:
        import matplotlib  # noqa: F401
    except ModuleNotFoundError:
        raise SpecError("drawing plots needs matplotlib, which is not installed: pip install cnnspec[plot]") from None
    from . import plot
    return plot


@app.command()
def plot(specs: List[str] = typer.Argument(..., help="One spec, or several to overlay (built-in names work)."),
         output: Path = typer.Option(..., "-o", "--output", help="out.png, or out.svg / out.pdf (vector, for "
                                     "slides and papers)."),
         dpi: int = typer.Option(110, "--dpi", min=20, max=2400, help="Resolution of a PNG (dots per inch)."),
         title: Optional[str] = typer.Option(None, "--title", help="Title over the picture (default: what it "
                                             "shows)."),
         log: bool = typer.Option(False, "--log", help="Log-scale y axes."),
         by: str = typer.Option("layer", "--by", help="layer, or block (sums per top-level block)."),
         metrics: str = typer.Option("memory,params,macs", help="Panels, from memory, params, macs, flops."),
         input: Optional[str] = typer.Option(None, "--input", help="One spec at several inputs, drawn as lines: "
                                             "3x160x160,3x224x224,3x320x320."),
         force: bool = ForceOption):
    """Per-layer bars of memory, params and MACs; several specs overlaid; a resolution sweep as lines."""
    from .analysis import analyze as run
    plotting = import_plotting()
    fmt = picture_format(output, plotting.FORMATS)
    from .files import output_target, write_atomic
    output_target(output, force)
    chosen = tuple(m.strip() for m in metrics.split(","))
    if by not in ("layer", "block") or not all(m in ("memory", "params", "macs", "flops") for m in chosen):
        raise SpecError(f"--by takes layer or block, --metrics memory, params, macs, flops. Received: --by {by} "
                        f"--metrics {metrics}")
    if input and len(specs) == 1:
        figure = plotting.sweep_figure([run(load_graph(specs[0], shape)) for shape in input.split(",")])
    elif input:
        raise SpecError("--input sweeps one spec: cnnspec plot vgg16 --input 3x160x160,3x224x224 -o sweep.png")
    else:
        figure = plotting.layers_figure([run(load_graph(spec)) for spec in specs], chosen, log, by)
    write_atomic(output, plotting.figure_bytes(figure, fmt, dpi, title), force)
    echo(f"wrote {output}")


class Layout(str, enum.Enum):
    auto = "auto"
    graphviz = "graphviz"
    builtin = "builtin"


LayoutOption = typer.Option(Layout.auto, help="SVG layout: Graphviz's dot when installed (auto), or the built-in one.")
DepthOption = typer.Option(None, "--depth", min=0, help="Expand blocks this many levels deep; deeper ones "
                           "become one box (0: every top-level block is one box).")


@app.command("graph")
def draw_graph(spec: str = SpecArgument,
               output: Optional[Path] = typer.Option(None, "-o", "--output", help="out.svg, out.png or out.pdf "
                                                     "(these two need Graphviz), out.dot or out.mmd (Mermaid); "
                                                     "default: DOT on stdout."),
               depth: Optional[int] = DepthOption, layout: Layout = LayoutOption,
               input: Optional[str] = InputOption, set: Optional[List[str]] = SetOption,
               force: bool = ForceOption):
    """The layer graph with shapes on the edges and blocks as clusters: SVG, PNG, DOT or Mermaid."""
    from . import drawing
    picture = drawing.layout_graph(load_graph(spec, input, set), depth)
    if output is None:
        echo(drawing.to_dot(picture))
        return
    from .files import output_target, write_atomic
    fmt = picture_format(output, drawing.FORMATS)
    output_target(output, force)
    write_atomic(output, drawing.render(picture, fmt, layout.value), force)
    echo(f"wrote {output}")


@app.command()
def report(spec: str = SpecArgument,
           output: Optional[Path] = typer.Option(None, "-o", "--output", help="Default: NAME.html."),
           depth: Optional[int] = DepthOption, input: Optional[str] = InputOption,
           set: Optional[List[str]] = SetOption,
           open_page: bool = typer.Option(False, "--open", help="Open the page in a browser."),
           force: bool = ForceOption):
    """One self-contained HTML page (no network): summary, table, per-layer plots and the graph."""
    from .analysis import analyze as run
    from .files import output_target, write_atomic
    from .report import report_html
    if output and output.suffix.lower() not in (".html", ".htm"):
        raise SpecError(f"{output}: the report is an HTML page; give a .html path (for a PDF, print the page "
                        f"from a browser). Received: {output.suffix or 'no suffix'}")
    graph = load_graph(spec, input, set)
    output = output or Path(f"{graph.name}.html")
    output_target(output, force)
    write_atomic(output, report_html(graph, run(graph), depth), force)
    echo(f"wrote {output}")
    if open_page:
        import webbrowser
        webbrowser.open(output.resolve().as_uri())


def main() -> None:
    try:
        app()
    except SpecError as error:
        sys.stderr.write(f"error: {error}\n")
        sys.exit(getattr(error, "exit_code", 2))  # 1 for a model with operations cnnspec cannot import
    except TrainError as error:
        sys.stderr.write(f"error: {error}\n")
        sys.exit(1)
    except OSError as error:  # an output path that cannot be written: say which, no traceback
        sys.stderr.write(f"error: cannot write {error.filename or 'a file'}: {error.strerror or error}\n")
        sys.exit(2)
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        sys.exit(130)


if __name__ == "__main__":
    main()
