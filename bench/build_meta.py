"""Building on the meta device: time and memory of `cnnspec.build(spec, device="meta")`.

Target (issue 4): VGG16 (138M parameters, 553 MB of fp32 weights) builds on the meta device in
under 1 s and allocates no weight memory. Measured in a fresh process so that the resident-memory
growth is the build's alone; a CPU build of the same spec is timed beside it for contrast. Prints
figures, never asserts (the no-allocation property is asserted in tests/test_build.py).

    python bench/build_meta.py [SPEC ...] [--runs 5]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

MEASURE = """
import json, resource, statistics, sys, time
import torch
import cnnspec
from cnnspec.torch.build import build_module

def resident_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

name, runs, device = sys.argv[1], int(sys.argv[2]), sys.argv[3]
start = time.perf_counter()
graph = cnnspec.load(name)
loaded = time.perf_counter() - start
before = resident_mb()
start = time.perf_counter()
model = build_module(graph, device=device)
first = time.perf_counter() - start
grown = resident_mb() - before
times = []
for _ in range(runs - 1):
    start = time.perf_counter()
    build_module(graph, device=device)
    times.append(time.perf_counter() - start)
params = sum(p.numel() for p in model.parameters())
print(json.dumps({"load_s": loaded, "first_s": first, "median_s": statistics.median(times or [first]),
                  "rss_growth_mb": grown, "params": params,
                  "weights_mb": sum(p.numel() * p.element_size() for p in model.parameters()) / 2**20,
                  "devices": sorted({p.device.type for p in model.parameters()})}))
"""


def measure(spec: str, runs: int, device: str) -> dict:
    result = subprocess.run([sys.executable, "-c", MEASURE, spec, str(runs), device], capture_output=True,
                            text=True, cwd=ROOT, check=True)
    return json.loads(result.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("specs", nargs="*", default=["vgg16"])
    parser.add_argument("--runs", type=int, default=5)
    arguments = parser.parse_args()
    print(f"{'spec':<14}{'device':<8}{'params':>14}{'weights':>11}{'first build':>13}{'median':>10}"
          f"{'RSS growth':>12}")
    for spec in arguments.specs:
        for device, runs in (("meta", arguments.runs), ("cpu", 1)):
            found = measure(spec, runs, device)
            print(f"{spec:<14}{device:<8}{found['params']:>14,}{found['weights_mb']:>8.0f} MB"
                  f"{found['first_s']:>12.3f}s{found['median_s']:>9.3f}s{found['rss_growth_mb']:>9.0f} MB")


if __name__ == "__main__":
    main()
