"""How the analysis grows with depth: generated residual specs of 1,000, 10,000 and 100,000 layers (the layer
limit), in-process and as a whole `cnnspec analyze` process.

Target (issue 15): a 100,000-layer residual spec analyzed (read, expanded, shape-checked, analyzed) in under
3 s in-process, and the cost linear in layers: 100,000 layers / 10,000 layers about 10x. Two specs: a block
of plain layers repeated (`residual`), and the built-in ResNet with its third stage made deep (`resnet`,
whose blocks evaluate expressions and read in_channels in `when:`). CPU seconds beside wall seconds: this
machine may be shared. Prints figures, never asserts.

    python bench/scale_speed.py [--runs 3] [--sizes 1000,10000,100000]
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESIDUAL_BLOCK = 7  # layers in the generated block: conv, bn, relu, conv, bn, add, relu
RESNET_FIXED = 115  # ResNet-50 without its third stage's repeated blocks: stem, stages 1, 2, 4, projections, head
RESNET_BLOCK = 10  # layers in a bottleneck block without its projection


def residual_spec(layers: int) -> str:
    """About ``layers`` layers: a residual block of 7 layers repeated, then a classifier head."""
    return f"""name: residual_{layers}
input: [8, 16, 16]
blocks:
  res:
    layers:
      - {{type: conv2d, out_channels: 8, kernel_size: 3, padding: 1, bias: false, name: conv1}}
      - {{type: batchnorm2d, name: bn1}}
      - relu
      - {{type: conv2d, out_channels: 8, kernel_size: 3, padding: 1, bias: false, name: conv2}}
      - {{type: batchnorm2d, name: bn2}}
      - {{type: add, inputs: [bn2, input], name: add}}
      - relu
layers:
  - {{type: res, repeat: {max(1, (layers - 3) // RESIDUAL_BLOCK)}, name: stage}}
  - global_avg_pool
  - flatten
  - {{type: linear, out_features: 10}}
"""


def resnet_overrides(layers: int) -> dict:
    """--set for the built-in ResNet-50 to have about ``layers`` layers: its third stage deepened."""
    return {"layers": [3, 4, max(1, (layers - RESNET_FIXED) // RESNET_BLOCK), 3]}


def in_process(load, runs: int) -> tuple[float, float, float, int]:
    """Best (wall, CPU) seconds of load + analyze, the best wall seconds of rendering JSON and the table, and
    the number of layers."""
    from cnnspec import render
    from cnnspec.analysis import analyze

    best_wall = best_cpu = best_render = float("inf")
    for _ in range(runs):
        wall, cpu = time.perf_counter(), time.process_time()
        analysis = analyze(load())
        best_wall, best_cpu = min(best_wall, time.perf_counter() - wall), min(best_cpu, time.process_time() - cpu)
        start = time.perf_counter()
        render.to_json(analysis), render.to_text(analysis, render.DEFAULT_COLUMNS, width=120)
        best_render = min(best_render, time.perf_counter() - start)
        layers = len(analysis.rows) - 1
        del analysis
    return best_wall, best_cpu, best_render, layers


def whole_process(command: list[str]) -> tuple[float, float]:
    """Wall and CPU seconds of one `cnnspec` process, its output discarded."""
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=ROOT)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(command)} failed: {process.stderr.read().decode()}")
    return wall, usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--sizes", default="1000,10000,100000")
    args = parser.parse_args()
    sizes = [int(n) for n in args.sizes.split(",")]
    console_script = Path(sys.executable).with_name("cnnspec")
    cli = [str(console_script)] if console_script.exists() else [sys.executable, "-m", "cnnspec"]
    from cnnspec.graph import build_graph, load
    from cnnspec.spec import parse_spec

    with tempfile.TemporaryDirectory() as scratch:
        for kind in ("residual", "resnet"):
            seconds = {}
            for n in sizes:
                if kind == "residual":
                    path = Path(scratch) / f"residual_{n}.yaml"
                    path.write_text(residual_spec(n))
                    text = path.read_text()
                    wall, cpu, rendering, layers = in_process(lambda: build_graph(parse_spec(text, str(path))),
                                                              args.runs)
                    command = [*cli, "analyze", str(path)]
                else:
                    overrides = resnet_overrides(n)
                    wall, cpu, rendering, layers = in_process(lambda: load("resnet", None, overrides), args.runs)
                    command = [*cli, "analyze", "resnet", "--set", f"layers={overrides['layers']}"]
                json_wall, json_cpu = whole_process([*command, "--format", "json"])
                table_wall, table_cpu = whole_process([*command, "--depth", "1"])
                seconds[n] = cpu
                print(f"{kind} {layers:>7,} layers: load + analyze {wall:.3f} s wall, {cpu:.3f} s CPU "
                      f"({cpu / layers * 1e6:.1f} us/layer); JSON + table {rendering:.3f} s; process "
                      f"`analyze --format json` {json_wall:.3f} s ({json_cpu:.3f} s CPU), `analyze --depth 1` "
                      f"{table_wall:.3f} s ({table_cpu:.3f} s CPU)")
            for small, large in zip(sizes, sizes[1:]):
                print(f"{kind} growth: {large:,} / {small:,} layers = {seconds[large] / seconds[small]:.1f}x CPU time "
                      f"({large / small:.0f}x is linear)")
        print("goal: 100,000 layers analyzed in under 3 s in-process, growth linear")


if __name__ == "__main__":
    main()
