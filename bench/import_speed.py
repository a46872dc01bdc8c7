"""Speed of `cnnspec import`: the hand-written ResNet-152 (tests/torch/handwritten.py) read into a spec.

Target (issue 18): under 5 s on the 2-core CI machine. Measured two ways: the whole command as a user runs
it (a fresh process: Python, torch's import, the model built on the meta device, the trace, the spec written
and read back), and the import alone in-process (from_torch on a model already built): the first call and the best of --runs.
Prints figures, never asserts (tests/torch/test_import.py holds the in-process time under 5 s).

    python bench/import_speed.py [--runs 5]
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCE = "tests/torch/handwritten.py:resnet152"

IN_PROCESS = """
import sys, time
import torch
import cnnspec
from tests.torch import handwritten
with torch.device("meta"):
    model = handwritten.resnet152()
times = []
for _ in range(int(sys.argv[1])):
    start = time.perf_counter()
    imported = cnnspec.from_torch(model, (3, 224, 224))
    times.append(time.perf_counter() - start)
totals = cnnspec.analyze(imported.graph).totals
print(times[0], min(times), totals.params, totals.macs, len(imported.graph.nodes) - 1,
      len(imported.text.splitlines()))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    command = Path(sys.executable).with_name("cnnspec")
    cli = [str(command)] if command.exists() else [sys.executable, "-m", "cnnspec"]
    walls = []
    with tempfile.TemporaryDirectory() as scratch:
        for _ in range(args.runs):
            start = time.perf_counter()
            subprocess.run([*cli, "import", SOURCE, "--input", "3x224x224", "-o", str(Path(scratch) / "r152.yaml")],
                           cwd=ROOT, check=True, capture_output=True)
            walls.append(time.perf_counter() - start)
    out = subprocess.run([sys.executable, "-c", IN_PROCESS, str(args.runs)], cwd=ROOT, check=True, capture_output=True,
                         text=True).stdout.split()
    first, best, params, macs, layers, lines = float(out[0]), float(out[1]), int(out[2]), int(out[3]), out[4], out[5]
    print(f"cnnspec import {SOURCE} (process, torch's import included): median {statistics.median(walls):.2f} s, "
          f"best {min(walls):.2f} s")
    print(f"from_torch(ResNet-152) in-process: first {first:.3f} s, best {best:.3f} s; {layers} layers in "
          f"{lines} lines of YAML; {params:,} params, {macs:,} MACs")


if __name__ == "__main__":
    main()
