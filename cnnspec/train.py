"""Train a spec: data in device memory, a plain loop, atomic checkpoints, exact resume, DDP.

Reproducibility: the shuffling of epoch ``e`` is ``randperm`` with seed ``seed * 1000 + e`` and every
checkpoint holds the model, optimizer, scheduler, grad scaler and RNG states, so a run stopped at a
checkpoint (Ctrl-C, SIGKILL) and resumed ends exactly where an uninterrupted run does (on CPU; CUDA
kernels may not be bitwise deterministic). Throughput and model FLOPs utilization use the analyzer's
figure: 2 x MACs per image forward, forward + backward = 3 x forward (Kaplan et al. 2020 convention).
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import signal
import time
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .analysis import analyze
from .build import build_module
from .data import load_arrays
from .errors import SpecError, TrainError
from .files import write_atomic
from .graph import Graph
from .layers.base import closest, coerce
from .shape import ArgumentError
from .spec import Mapping

PEAK_TFLOPS = {  # dense tensor-core peaks from the vendors' data sheets, TFLOP/s, (bf16/fp16, tf32)
    "H100": (989.0, 494.7), "H200": (989.0, 494.7), "A100": (312.0, 156.0), "L4": (121.0, 60.0),
    "A10": (125.0, 62.5), "V100": (125.0, 15.7), "T4": (65.0, 8.1),
}


@dataclass
class TrainConfig:
    """Every training setting; the spec's ``train:`` section and the command line fill it."""
    data: str | None = None
    epochs: int = 10
    steps: int | None = None  # total optimizer steps; overrides epochs
    batch_size: int = 128
    optimizer: Literal["sgd", "adam", "adamw"] = "sgd"
    lr: float = 0.05
    momentum: float = 0.9
    nesterov: bool = False
    weight_decay: float = 5e-4
    label_smoothing: float = 0.0
    schedule: Literal["constant", "step", "cosine", "onecycle"] = "cosine"
    warmup_epochs: float = 0.0
    step_epochs: int = 30  # 'step' schedule: multiply the rate by gamma every step_epochs
    gamma: float = 0.1
    aux_weight: float = 0.3  # extra outputs (GoogLeNet's auxiliary heads), Szegedy et al. 2015
    seed: int = 0
    device: str = "auto"
    precision: Literal["fp32", "bf16", "fp16"] = "fp32"
    channels_last: bool = False
    compile: bool = False
    val_fraction: float = 0.1
    augment: bool = False
    runs: str = "runs"
    name: str | None = None
    resume: bool = False
    progress: bool = True


def config_from(graph: Graph, overrides: dict) -> TrainConfig:
    """The spec's ``train:`` section, then the command line's options on top; errors point at the line."""
    section = graph.spec.train or {}
    if not isinstance(section, dict):
        raise SpecError("train: must be a mapping of settings")
    hints = typing.get_type_hints(TrainConfig)
    values = {}
    for key, value in section.items():
        loc = section.locs.get(key) if isinstance(section, Mapping) else None
        if key not in hints:
            raise SpecError(f"unknown training setting '{key}'{closest(key, hints)}",
                            section.key_locs.get(key) if isinstance(section, Mapping) else None)
        try:
            values[key] = coerce(value, hints[key], key)
        except ArgumentError as error:
            raise SpecError(str(error), loc) from None
    values.update({k: v for k, v in overrides.items() if v is not None})
    return TrainConfig(**values)


# --- devices and distribution ------------------------------------------------------------------

def choose_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise SpecError(f"--device {name}: CUDA is not available here")
    return torch.device(name)


@dataclass
class Distributed:
    rank: int = 0
    world: int = 1

    @property
    def main(self) -> bool:
        return self.rank == 0


def setup_distributed(device: torch.device) -> Distributed:
    """Under torchrun (WORLD_SIZE > 1): one process per device, NCCL on GPUs, gloo on CPUs."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return Distributed()
    import torch.distributed as dist
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    if device.type == "cuda":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    return Distributed(dist.get_rank(), world)


def peak_flops(device: torch.device, precision: str) -> float | None:
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    for key, (half, tf32) in PEAK_TFLOPS.items():
        if key in name:
            return (half if precision in ("bf16", "fp16") else tf32) * 1e12
    return None


# --- the run ---------------------------------------------------------------------------------------

@dataclass
class RunState:
    """What a checkpoint restores: where the run is and what it has measured so far."""
    epoch: int = 0  # epochs completed
    step: int = 0  # optimizer steps taken
    history: list[dict] = field(default_factory=list)


@dataclass
class TrainResult:
    run_dir: Path
    history: list[dict]
    test_loss: float
    test_accuracy: float
    images_per_second: float
    mfu: float | None
    params: int


class Trainer:
    def __init__(self, graph: Graph, config: TrainConfig):
        self.graph, self.config = graph, config
        if config.data is None:
            raise SpecError("no training data: pass --data mnist1d|digits|synthetic|PATH or set train: data:")
        head = graph[graph.outputs[0]].out_shape
        if len(head) != 1:
            raise SpecError(f"training needs a classifier whose output is [classes]; {graph.outputs[0]} gives "
                            f"{list(head)}")
        self.classes = head[0]
        self.device = choose_device(config.device)
        self.dist = setup_distributed(self.device)
        self.run_dir = Path(config.runs) / (config.name or graph.name)
        self.checkpoint_path = self.run_dir / "checkpoint.pt"
        self.analysis = analyze(graph, batch=config.batch_size)
        torch.manual_seed(config.seed)
        arrays = load_arrays(config.data, graph.input_shape, self.classes, config.seed, config.val_fraction)
        self.augment = config.augment and arrays.images
        to = lambda a, dtype=torch.float32: torch.as_tensor(a, dtype=dtype, device=self.device)  # noqa: E731
        self.x_train, self.y_train = to(arrays.x_train), to(arrays.y_train, torch.int64)
        self.x_val, self.y_val = to(arrays.x_val), to(arrays.y_val, torch.int64)
        self.x_test, self.y_test = to(arrays.x_test), to(arrays.y_test, torch.int64)
        self.model = build_module(graph, seed=config.seed).to(self.device)
        if config.channels_last and len(graph.input_shape) == 3:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.forward = self.model
        if self.dist.world > 1:
            self.forward = nn.parallel.DistributedDataParallel(self.model)
        if config.compile:
            self.forward = torch.compile(self.forward)
        self.batches_per_epoch = max(1, len(self.y_train) // (config.batch_size * self.dist.world))
        self.total_steps = config.steps or config.epochs * self.batches_per_epoch
        self.epochs = math.ceil(self.total_steps / self.batches_per_epoch)
        self.optimizer = make_optimizer(self.model, config)
        self.scheduler = make_scheduler(self.optimizer, config, self.total_steps, self.batches_per_epoch)
        self.scaler = torch.amp.GradScaler(enabled=config.precision == "fp16" and self.device.type == "cuda")
        self.state = RunState()

    # checkpoints --------------------------------------------------------------------------------
    def save(self) -> None:
        if not self.dist.main:
            return
        import io
        buffer = io.BytesIO()
        torch.save({"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                    "scheduler": self.scheduler.state_dict(), "scaler": self.scaler.state_dict(),
                    "state": dataclasses.asdict(self.state), "config": dataclasses.asdict(self.config),
                    "torch_rng": torch.get_rng_state(),
                    "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []}, buffer)
        write_atomic(self.checkpoint_path, buffer.getvalue())

    def restore(self) -> None:
        try:
            saved = torch.load(self.checkpoint_path, map_location=self.device, weights_only=False)
            self.model.load_state_dict(saved["model"])
            self.optimizer.load_state_dict(saved["optimizer"])
            self.scheduler.load_state_dict(saved["scheduler"])
            self.scaler.load_state_dict(saved["scaler"])
            self.state = RunState(**saved["state"])
            torch.set_rng_state(saved["torch_rng"].cpu())
            if saved["cuda_rng"] and torch.cuda.is_available():
                torch.cuda.set_rng_state_all(saved["cuda_rng"])
        except FileNotFoundError:
            raise SpecError(f"--resume: no checkpoint at {self.checkpoint_path}") from None
        except Exception as error:  # a truncated or foreign file: say so, touch nothing
            raise TrainError(f"--resume: the checkpoint {self.checkpoint_path} is corrupt or from another spec "
                             f"({type(error).__name__}: {error}); it was left as it is") from None

    # the loop -------------------------------------------------------------------------------------
    def batches(self, epoch: int):
        order = torch.randperm(len(self.y_train), generator=torch.Generator().manual_seed(self.config.seed * 1000
                                                                                           + epoch))
        size = self.config.batch_size
        for index in range(self.batches_per_epoch):
            start = (index * self.dist.world + self.dist.rank) * size
            chosen = order[start:start + size].to(self.device)
            yield self.x_train[chosen], self.y_train[chosen]

    def loss(self, outputs, labels):
        outputs = outputs if isinstance(outputs, tuple) else (outputs,)
        main = F.cross_entropy(outputs[0], labels, label_smoothing=self.config.label_smoothing)
        extra = sum(F.cross_entropy(o, labels) for o in outputs[1:] if o.dim() == 2)
        return main + self.config.aux_weight * extra, outputs[0]

    def autocast(self):
        dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(self.config.precision)
        return torch.autocast(self.device.type, dtype=dtype, enabled=dtype is not None)

    def train_epoch(self, epoch: int, progress) -> dict:
        self.model.train()
        total_loss, correct, seen, start = 0.0, 0, 0, time.perf_counter()
        for x, y in self.batches(epoch):
            if self.state.step >= self.total_steps:
                break
            if self.augment:
                x = augment(x)
            if self.config.channels_last and x.dim() == 4:
                x = x.contiguous(memory_format=torch.channels_last)
            with self.autocast():
                loss, logits = self.loss(self.forward(x), y)
            if not torch.isfinite(loss):
                raise TrainError(f"the loss became {loss.item()} at step {self.state.step + 1} (epoch {epoch + 1}); "
                                 f"stopped. The last good checkpoint is {self.checkpoint_path} "
                                 f"(after epoch {self.state.epoch}); try a lower --lr")
            self.optimizer.zero_grad(set_to_none=True)
            self.scaler.scale(loss).backward()
            self.scaler.step(self.optimizer)
            self.scaler.update()
            self.scheduler.step()
            self.state.step += 1
            total_loss += loss.item() * len(y)
            correct += (logits.argmax(1) == y).sum().item()
            seen += len(y)
            if progress is not None:
                progress(seen, total_loss / seen, correct / seen)
        seconds = time.perf_counter() - start
        return {"train_loss": total_loss / max(seen, 1), "train_acc": correct / max(seen, 1),
                "images_per_s": seen * self.dist.world / seconds if seconds else 0.0, "seconds": seconds}

    @torch.no_grad()
    def evaluate(self, x_all, y_all) -> tuple[float, float]:
        self.model.eval()
        total_loss, correct = 0.0, 0
        for start in range(0, len(y_all), 1024):
            x, y = x_all[start:start + 1024], y_all[start:start + 1024]
            if self.config.channels_last and x.dim() == 4:
                x = x.contiguous(memory_format=torch.channels_last)
            with self.autocast():
                outputs = self.model(x)
            logits = (outputs[0] if isinstance(outputs, tuple) else outputs).float()
            total_loss += F.cross_entropy(logits, y, reduction="sum").item()
            correct += (logits.argmax(1) == y).sum().item()
        count = max(len(y_all), 1)
        return total_loss / count, correct / count

    def run(self) -> TrainResult:
        if self.config.resume:
            self.restore()
        elif self.dist.main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            for stale in ("metrics.jsonl", "metrics.csv"):
                (self.run_dir / stale).unlink(missing_ok=True)
        flops_per_image = 3 * 2 * self.analysis.totals.macs
        peak = peak_flops(self.device, self.config.precision)
        interrupted = False
        previous = signal.getsignal(signal.SIGINT)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        try:
            with progress_display(self.config.progress and self.dist.main) as display:
                for epoch in range(self.state.epoch, self.epochs):
                    update = display(epoch, self.epochs, self.batches_per_epoch * self.config.batch_size * self.dist.world)
                    row = self.train_epoch(epoch, update)
                    row["val_loss"], row["val_acc"] = self.evaluate(self.x_val, self.y_val)
                    row["mfu"] = row["images_per_s"] * flops_per_image / peak if peak else None
                    row.update(epoch=epoch + 1, step=self.state.step, lr=self.scheduler.get_last_lr()[0])
                    self.state.history.append(row)
                    self.state.epoch = epoch + 1
                    self.save()
                    self.write_metrics()
        except KeyboardInterrupt:
            interrupted = True
        finally:
            signal.signal(signal.SIGINT, previous)
        if interrupted:
            raise TrainError(f"interrupted; the run is saved after epoch {self.state.epoch} in "
                             f"{self.checkpoint_path}: continue with --resume")
        test_loss, test_accuracy = self.evaluate(self.x_test, self.y_test)
        rates = [row["images_per_s"] for row in self.state.history] or [0.0]
        result = TrainResult(self.run_dir, self.state.history, test_loss, test_accuracy, float(np.median(rates)),
                             None if not peak else float(np.median(rates)) * flops_per_image / peak,
                             self.analysis.totals.params)
        if self.dist.main:
            self.finish(result)
        return result

    def write_metrics(self) -> None:
        if not self.dist.main:
            return
        history = self.state.history
        write_atomic(self.run_dir / "metrics.jsonl", "".join(json.dumps(row) + "\n" for row in history))
        keys = list(history[0])
        lines = [",".join(keys)] + [",".join("" if row.get(k) is None else f"{row[k]:.6g}" if isinstance(
            row.get(k), float) else str(row.get(k)) for k in keys) for row in history]
        write_atomic(self.run_dir / "metrics.csv", "\n".join(lines) + "\n")

    def finish(self, result: TrainResult) -> None:
        from .plot import plot_training_curves
        if result.history:
            plot_training_curves(result.history, self.run_dir / "curves.png", title=self.graph.name)
        summary = {"spec": self.graph.name, "params": result.params, "test_loss": result.test_loss,
                   "test_accuracy": result.test_accuracy, "images_per_s": result.images_per_second,
                   "mfu": result.mfu, "epochs": self.state.epoch, "steps": self.state.step,
                   "config": dataclasses.asdict(self.config)}
        write_atomic(self.run_dir / "result.json", json.dumps(summary, indent=2) + "\n")


def augment(x: torch.Tensor, padding: int = 4) -> torch.Tensor:
    """Random crop with zero padding and horizontal flip, per image (the CIFAR recipe of He et al. 2016)."""
    n, _, h, w = x.shape
    padded = F.pad(x, (padding,) * 4)
    dy = torch.randint(0, 2 * padding + 1, (n,), device=x.device)
    dx = torch.randint(0, 2 * padding + 1, (n,), device=x.device)
    rows = (dy[:, None] + torch.arange(h, device=x.device))[:, :, None].expand(n, h, w)
    cols = (dx[:, None] + torch.arange(w, device=x.device))[:, None, :].expand(n, h, w)
    cropped = padded[torch.arange(n, device=x.device)[:, None, None], :, rows, cols].permute(0, 3, 1, 2)
    flip = torch.rand(n, device=x.device) < 0.5
    return torch.where(flip[:, None, None, None], cropped.flip(3), cropped)


def make_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    if config.optimizer == "sgd":
        return torch.optim.SGD(params, lr=config.lr, momentum=config.momentum, nesterov=config.nesterov,
                               weight_decay=config.weight_decay)
    optimizer = torch.optim.Adam if config.optimizer == "adam" else torch.optim.AdamW
    return optimizer(params, lr=config.lr, weight_decay=config.weight_decay)


def make_scheduler(optimizer, config: TrainConfig, total_steps: int, per_epoch: int):
    """Per-step learning-rate schedule, with linear warmup for all but one-cycle (which has its own)."""
    warmup = int(config.warmup_epochs * per_epoch)
    if config.schedule == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, config.lr, total_steps=max(total_steps, 2),
                                                   pct_start=max(warmup / max(total_steps, 1), 0.01))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        if config.schedule == "cosine":
            progress = (step - warmup) / max(total_steps - warmup, 1)
            return 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))
        if config.schedule == "step":
            return config.gamma ** ((step // per_epoch) // config.step_epochs)
        return 1.0

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


class progress_display:
    """A rich progress bar per epoch (loss, accuracy, images/s, ETA), or nothing when disabled."""

    def __init__(self, enabled: bool):
        self.enabled = enabled

    def __enter__(self):
        if self.enabled:
            from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
            self.progress = Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[info]}"),
                                     TimeRemainingColumn(), transient=False)
            self.progress.start()
        return self

    def __exit__(self, *exc):
        if self.enabled:
            self.progress.stop()

    def __call__(self, epoch: int, epochs: int, images: int):
        if not self.enabled:
            return None
        task = self.progress.add_task(f"epoch {epoch + 1}/{epochs}", total=images, info="")
        start = time.perf_counter()

        def update(seen: int, loss: float, accuracy: float):
            rate = seen / max(time.perf_counter() - start, 1e-9)
            self.progress.update(task, completed=seen,
                                 info=f"loss {loss:.4f}  acc {accuracy:.2%}  {rate:,.0f} img/s")
        return update


def out_of_memory_advice(graph: Graph, batch: int, device: torch.device) -> str:
    """Which batch sizes the analyzer's training-memory estimate fits in this device's memory."""
    free, _ = torch.cuda.mem_get_info(device)
    fits = [b for b in (2 ** k for k in range(12)) if b < batch and analyze(graph, batch=b).training.total < free]
    estimate = analyze(graph, batch=batch).training.total
    suggestion = f"try --batch-size {fits[-1]}" if fits else "no batch size fits by the estimate"
    return (f"CUDA ran out of memory at batch size {batch} (the analyzer estimates {estimate / 1e9:.2f} GB for it; "
            f"{free / 1e9:.2f} GB free): {suggestion}")


def summary(result: TrainResult) -> str:
    mfu = f", model FLOPs utilization {result.mfu:.1%}" if result.mfu is not None else ""
    return (f"test accuracy {result.test_accuracy:.2%} (loss {result.test_loss:.4f}) after "
            f"{len(result.history)} epochs; {result.images_per_second:,.0f} images/s{mfu}\n"
            f"run: {result.run_dir} (metrics.jsonl, metrics.csv, curves.png, checkpoint.pt, result.json)")


def train(graph: Graph, config: TrainConfig) -> TrainResult:
    trainer = Trainer(graph, config)
    try:
        return trainer.run()
    except torch.cuda.OutOfMemoryError:
        raise TrainError(out_of_memory_advice(graph, config.batch_size, trainer.device)) from None
