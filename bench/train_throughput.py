"""Training throughput: the ResNet-50 spec through `cnnspec build --train`'s loop vs a hand-written
PyTorch ResNet-50 in a hand-written loop, in one process with the same settings (bf16 autocast,
channels_last, batch 256, SGD with momentum, synthetic data held on the GPU), eager and compiled.

    python bench/train_throughput.py                  # eager and compiled
    python bench/train_throughput.py --modes eager --batch-size 64 --steps 10

Prints images/s for each (median of alternating timed windows) and their ratio (spec / hand-written; the goal is >= 1.0), and the model
FLOPs utilization from the analyzer's count (3 x 2 x MACs per image). Not a test: it needs a GPU to
say anything (on a CPU it runs, slowly, with --batch-size 8 --steps 2 --image-size 64).
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import torch
import torch.nn.functional as F
from torch import nn

from cnnspec.graph import load
from cnnspec.torch.train import TrainConfig, Trainer, peak_flops


# --- ResNet-50 by hand (He et al. 2016, with the stride on the 3x3 conv as torchvision's v1.5) ------

class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int):
        super().__init__()
        width, out = planes, planes * self.expansion
        self.conv1, self.bn1 = nn.Conv2d(inplanes, width, 1, bias=False), nn.BatchNorm2d(width)
        self.conv2, self.bn2 = nn.Conv2d(width, width, 3, stride, 1, bias=False), nn.BatchNorm2d(width)
        self.conv3, self.bn3 = nn.Conv2d(width, out, 1, bias=False), nn.BatchNorm2d(out)
        self.downsample = None
        if stride != 1 or inplanes != out:
            self.downsample = nn.Sequential(nn.Conv2d(inplanes, out, 1, stride, bias=False), nn.BatchNorm2d(out))

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        y = F.relu(self.bn1(self.conv1(x)), inplace=True)
        y = F.relu(self.bn2(self.conv2(y)), inplace=True)
        return F.relu(self.bn3(self.conv3(y)) + identity, inplace=True)


class ResNet50(nn.Module):
    def __init__(self, classes: int = 1000):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(inplace=True),
                                  nn.MaxPool2d(3, 2, 1))
        stages, inplanes = [], 64
        for planes, blocks, stride in ((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)):
            for index in range(blocks):
                stages.append(Bottleneck(inplanes, planes, stride if index == 0 else 1))
                inplanes = planes * Bottleneck.expansion
        self.stages = nn.Sequential(*stages)
        self.fc = nn.Linear(inplanes, classes)

    def forward(self, x):
        x = self.stages(self.stem(x))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


# --- timing -----------------------------------------------------------------------------------------

def hand_written(args, compile: bool, samples: int):
    """A plain loop: index a batch on the GPU, autocast, forward, loss, backward, step; run(n) takes n steps."""
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model = ResNet50().to(device).to(memory_format=torch.channels_last)
    step_model = torch.compile(model) if compile else model
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
    x = torch.randn(samples, 3, args.image_size, args.image_size, device=device)
    x = x.contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 1000, (samples,), device=device)
    model.train()

    def run(steps: int):
        for _ in range(steps):
            chosen = torch.randint(0, samples, (args.batch_size,), device=device)
            with torch.autocast(device.type, dtype=torch.bfloat16):
                loss = F.cross_entropy(step_model(x[chosen]), y[chosen])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    return run


def cnnspec_loop(args, compile: bool, samples: int, runs: str):
    """Trainer.train_epoch, the loop `cnnspec build resnet50 --train` runs; run(n) takes whole epochs up to
    n steps more. Also returns the analyzer's FLOPs per image."""
    graph = load("resnet50", (3, args.image_size, args.image_size))
    config = TrainConfig(data=f"synthetic:{samples}", batch_size=args.batch_size, precision="bf16",
                         channels_last=True, compile=compile, epochs=1000, val_fraction=0.0, progress=False,
                         runs=runs, weight_decay=5e-4)
    trainer = Trainer(graph, config)

    def run(steps: int):
        goal = trainer.state.step + steps
        while trainer.state.step < goal:
            trainer.train_epoch(trainer.state.epoch)
            trainer.state.epoch, trainer.state.partial = trainer.state.epoch + 1, None
    return run, trainer.flops_per_image


def images_per_second(run, steps: int, batch: int) -> float:
    synchronize()
    start = time.perf_counter()
    run(steps)
    synchronize()
    return steps * batch / (time.perf_counter() - start)


def synchronize():
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def free():
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--steps", type=int, default=40, help="timed steps per window (after warm-up)")
    parser.add_argument("--warmup", type=int, default=16, help="untimed steps first (compilation, cudnn autotune)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating timed windows of each")
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--modes", default="eager,compiled")
    args = parser.parse_args()
    torch.backends.cudnn.benchmark = True
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    name = torch.cuda.get_device_name() if device.type == "cuda" else "CPU"
    print(f"torch {torch.__version__} on {name}; ResNet-50, batch {args.batch_size}, {args.image_size}x"
          f"{args.image_size}, bf16 autocast, channels_last, SGD momentum; {args.warmup} warm-up + {args.steps} "
          f"timed steps")
    samples = args.batch_size * 8  # whole epochs of 8 steps, so --steps should be a multiple of 8
    peak = peak_flops(device, "bf16")
    with tempfile.TemporaryDirectory() as runs:
        for mode in args.modes.split(","):
            compile = mode == "compiled"
            spec, flops = cnnspec_loop(args, compile, samples, runs)
            hand = hand_written(args, compile, samples)
            spec(args.warmup)
            hand(args.warmup)
            rates = {"spec": [], "hand": []}
            for _ in range(args.rounds):  # alternate, so clocks and heat treat both alike
                rates["spec"].append(images_per_second(spec, args.steps, args.batch_size))
                rates["hand"].append(images_per_second(hand, args.steps, args.batch_size))
            spec_rate, hand_rate = (statistics.median(rates[k]) for k in ("spec", "hand"))
            mfu = f"; MFU {spec_rate * flops / peak:.1%} (spec), {hand_rate * flops / peak:.1%} (hand)" if peak else ""
            print(f"{mode:9s} cnnspec {spec_rate:8,.0f} img/s   hand-written {hand_rate:8,.0f} img/s   "
                  f"ratio {spec_rate / hand_rate:.3f}{mfu}   (medians of {args.rounds} alternating windows: "
                  f"{', '.join(f'{a:,.0f}/{b:,.0f}' for a, b in zip(rates['spec'], rates['hand']))})", flush=True)
            del spec, hand
            free()
    print(f"MFU counts 3 x 2 x MACs = {flops / 1e9:.2f} GFLOP per image (analyzer), peak "
          f"{peak / 1e12:.0f} TFLOP/s bf16 dense" if peak else "MFU: no known peak for this device")


if __name__ == "__main__":
    main()
