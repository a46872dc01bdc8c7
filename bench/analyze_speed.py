"""Speed and memory of `cnnspec analyze` against fvcore on the same network, measured in one run.

Targets (issue 2): the whole `cnnspec analyze specs/vgg.yaml` process at least 15x faster than
fvcore's FlopCountAnalysis + parameter_count on VGG16, at most 0.25 s and 60 MB peak; analysis cost
linear in layers, a generated 10,000-layer spec in under 1 s. Issue 13: the whole `cnnspec analyze
regnet_y_128gf` and `convnext_large` processes (built-in variants of family specs) under 0.5 s. Prints
figures, never asserts.

    python bench/analyze_speed.py [--runs 5]
"""
from __future__ import annotations

import argparse
import compileall
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

FVCORE_VGG16 = textwrap.dedent("""
    import torch
    from torch import nn
    from fvcore.nn import FlopCountAnalysis, parameter_count

    def vgg16():
        layers, channels = [], 3
        for width in [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]:
            if width == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(channels, width, 3, padding=1), nn.ReLU(inplace=True)]
                channels = width
        head = [nn.Flatten(), nn.Linear(25088, 4096), nn.ReLU(True), nn.Dropout(), nn.Linear(4096, 4096),
                nn.ReLU(True), nn.Dropout(), nn.Linear(4096, 1000)]
        return nn.Sequential(*layers, *head).eval()

    model = vgg16()
    flops = FlopCountAnalysis(model, torch.zeros(1, 3, 224, 224))
    flops.unsupported_ops_warnings(False)
    print(flops.total(), parameter_count(model)[""])
""")


def run_process(command: list[str]) -> tuple[float, float, str]:
    """Wall seconds, peak resident MB and stdout of one child process."""
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=ROOT)
    out = process.stdout.read().decode()
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(command)} failed")
    return wall, usage.ru_maxrss / 1024, out


def compare_with_fvcore(ours_command: list[str], fvcore_command: list[str], rounds: int) -> None:
    """Interleaved runs (fvcore once, cnnspec three times, per round), so that both meet the same
    machine load; medians and minimums (a short process suffers most from a noisy host), and their ratios."""
    run_process(ours_command)  # warm the page cache for both
    try:
        _, _, out = run_process(fvcore_command)  # the first torch import reads ~1 GB from disk
    except SystemExit as error:
        print(f"fvcore not measured: {error} (pip install cnnspec[torch])")
        out = None
    ours, theirs = [], []
    for _ in range(rounds):
        if out is not None:
            theirs.append(run_process(fvcore_command))
        ours += [run_process(ours_command) for _ in range(3)]
    ours_s, ours_mb = statistics.median(r[0] for r in ours), max(r[1] for r in ours)
    print(f"cnnspec analyze vgg16 (process): median {ours_s:.3f} s (min {min(r[0] for r in ours):.3f}), "
          f"peak {ours_mb:.0f} MB")
    if out is None:
        return
    macs, params = (int(v) for v in out.split())
    theirs_s, theirs_mb = statistics.median(r[0] for r in theirs), max(r[1] for r in theirs)
    print(f"fvcore FlopCountAnalysis + parameter_count vgg16 (process): median {theirs_s:.3f} s "
          f"(min {min(r[0] for r in theirs):.3f}), peak {theirs_mb:.0f} MB (macs {macs:,}, params {params:,})")
    best = min(r[0] for r in theirs) / min(r[0] for r in ours)
    print(f"ratio: cnnspec is {theirs_s / ours_s:.1f}x faster (medians; {best:.1f}x best against best) and uses "
          f"{theirs_mb / ours_mb:.1f}x less memory (goal: >= 15x, <= 0.25 s, <= 60 MB)")


ZOO_TARGETS = ["regnet_y_128gf", "convnext_large"]
"""The largest built-in variants by layers and parameters: 0.5 s each for the whole process."""


def zoo_speed(cnnspec_cli: list[str], runs: int) -> None:
    for name in ZOO_TARGETS:
        walls = [run_process(cnnspec_cli + ["analyze", name])[0] for _ in range(runs)]
        print(f"cnnspec analyze {name} (process): median {statistics.median(walls):.3f} s (min {min(walls):.3f}; "
              "goal: under 0.5 s)")


def chain_spec(layers: int) -> str:
    """A generated spec of `layers` layers: 1x1 conv and ReLU alternating on a small input."""
    body = "".join("  - {conv2d: {out_channels: 8, kernel_size: 1}}\n  - relu\n" for _ in range(layers // 2))
    return f"input: [8, 16, 16]\nlayers:\n{body}"


def time_analysis(text: str, runs: int) -> float:
    import cnnspec
    from cnnspec.graph import build_graph

    def once() -> float:
        start = time.perf_counter()
        cnnspec.analyze(build_graph(cnnspec.parse_spec(text, "generated.yaml")))
        return time.perf_counter() - start

    return min(once() for _ in range(runs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    # Byte-compile as a wheel install does; an editable install under PYTHONDONTWRITEBYTECODE (as on
    # our CI machines) would otherwise recompile cnnspec's sources on every run (~25 ms).
    compileall.compile_dir(ROOT / "cnnspec", quiet=1)
    console_script = Path(sys.executable).with_name("cnnspec")  # what a user runs
    cnnspec_cli = [str(console_script)] if console_script.exists() else [sys.executable, "-m", "cnnspec"]
    with tempfile.TemporaryDirectory() as scratch:
        fvcore_script = Path(scratch) / "fvcore_vgg16.py"
        fvcore_script.write_text(FVCORE_VGG16)
        generated = Path(scratch) / "generated_10k.yaml"
        generated.write_text(chain_spec(10_000))
        compare_with_fvcore(cnnspec_cli + ["analyze", "specs/vgg.yaml"], [sys.executable, str(fvcore_script)],
                            args.runs)
        zoo_speed(cnnspec_cli, args.runs)
        wall, peak, _ = run_process(cnnspec_cli + ["analyze", str(generated)])
        print(f"cnnspec analyze on a generated 10,000-layer spec (process, table printed): {wall:.3f} s, "
              f"peak {peak:.0f} MB")
    sizes = [1_000, 2_000, 5_000, 10_000]
    times = {n: time_analysis(chain_spec(n), 3) for n in sizes}
    for n, seconds in times.items():
        print(f"generated {n:>6,}-layer spec: load + analyze {seconds:.3f} s ({seconds / n * 1e6:.1f} us/layer)")
    print(f"linearity: 10,000 layers / 1,000 layers = {times[10_000] / times[1_000]:.1f}x time (10x is linear; "
          "goal: 10,000 layers under 1 s)")


if __name__ == "__main__":
    main()
