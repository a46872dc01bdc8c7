"""Train a spec: data held on the device, a plain loop, atomic checkpoints, exact resume, DDP.

Reproducibility: the shuffling of epoch ``e`` is ``randperm`` seeded with ``seed * 1000 + e``, and a
checkpoint holds the model, optimizer, scheduler, grad scaler and RNG states and the position inside
the epoch, so a run stopped at a checkpoint (Ctrl-C, SIGKILL) and resumed ends exactly where an
uninterrupted run does (on the CPU; CUDA kernels need not be bitwise deterministic).

A checkpoint carries a SHA-256 of its tensors and settings and the spec's layers; a resume refuses a
checkpoint whose checksum fails (the one before it is kept beside it), settings that differ from the
run's unless ``--override`` (written to the run's log), and a spec whose layers changed.

Throughput and model FLOPs utilization (MFU, Chowdhery et al. 2022) use the analyzer's figure:
2 x MACs per image forward (bias, norm and activation FLOPs left out), and forward + backward =
3 x forward (Kaplan et al. 2020), over the device's dense peak from the vendor's data sheet.
"""
from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import math
import os
import signal
import time
import typing
import warnings
from datetime import datetime, timezone
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..analysis import analyze
from .build import build_module
from .data import Arrays, load_arrays
from ..errors import Loc, SpecError, TrainError
from ..files import write_atomic
from ..graph import Graph
from ..layers.base import closest, coerce
from ..shape import ArgumentError
from ..spec import Mapping

PEAK_TFLOPS = {  # dense tensor-core peaks (bf16/fp16, tf32) in TFLOP/s, vendors' data sheets; first match wins
    "H100 PCIe": (756.0, 378.0), "H100": (989.0, 494.7), "H200": (989.0, 494.7), "GH200": (989.0, 494.7),
    "A100": (312.0, 156.0), "L40S": (362.0, 183.0), "L4": (121.0, 60.0), "A10": (125.0, 62.5),
    "V100": (125.0, 15.7), "T4": (65.0, 8.1),
}
CHECK_EVERY = 25  # steps between host syncs (NaN check, progress); the GPU runs ahead in between
TINY_STEP_MACS = 100_000_000
"""A step under this many MACs (batch x the analyzer's MACs per image) runs on one CPU thread by default:
thread wake-ups and syncs outweigh the work, and on shared cores two threads ran 5 to 17 times slower
(MNIST-1D CNN and MLP, LeNet-5 at batch 128: docs/training.md)."""
CHECKPOINT, PREVIOUS = "checkpoint.pt", "checkpoint.prev.pt"


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
    init: str | None = None
    device: str = "auto"
    precision: Literal["fp32", "bf16", "fp16"] = "fp32"
    channels_last: bool = False
    compile: bool = False
    val_fraction: float = 0.1
    augment: bool = False
    stream: bool | None = None  # None: hold the data on the device when it fits, else stream it
    workers: int = 2  # worker processes when streaming
    runs: str = "runs"
    name: str | None = None
    resume: bool = False
    progress: bool = True
    threads: int | None = None  # CPU threads; None: one for a tiny model (TINY_STEP_MACS), else PyTorch's


POSITIVE = ("epochs", "steps", "batch_size", "lr", "step_epochs", "gamma", "threads")
NON_NEGATIVE = ("weight_decay", "warmup_epochs", "aux_weight", "workers")
FRACTIONS = ("momentum", "label_smoothing", "val_fraction")


def config_from(graph: Graph, options: dict) -> TrainConfig:
    """The spec's ``train:`` section, then the command line's options on top; errors point at the line."""
    section = graph.spec.train if graph.spec.train is not None else {}
    if not isinstance(section, dict):
        raise SpecError(f"{graph.path}: train: must be a mapping of settings, e.g. train: {{epochs: 10}}")
    hints = typing.get_type_hints(TrainConfig)
    values = {}
    for key, value in section.items():
        if key not in hints:
            raise SpecError(f"unknown training setting '{key}'{closest(key, hints)}", _loc(section, key, True))
        values[key] = checked(key, value, hints[key], _loc(section, key, False))
    for key, value in options.items():
        if value is not None:
            values[key] = checked(key, value, hints[key], None, flag=f"--{key.replace('_', '-')}")
    return TrainConfig(**values)


def _loc(section, key: str, of_key: bool) -> Loc | None:
    if not isinstance(section, Mapping):
        return None
    return (section.key_locs if of_key else section.locs).get(key)


def checked(key: str, value, hint, loc: Loc | None, flag: str | None = None):
    """One setting, typed and in range; the message names the spec line or the command-line flag."""
    name = flag or f"train: {key}"
    try:
        value = coerce(value, hint, key)
    except ArgumentError as error:
        raise SpecError(name + str(error).removeprefix(key), loc) from None
    if key in POSITIVE and value is not None and value <= 0:
        raise SpecError(f"{name} must be positive. Received: {key}={value!r}", loc)
    if key in NON_NEGATIVE and value < 0:
        raise SpecError(f"{name} must not be negative. Received: {key}={value!r}", loc)
    if key in FRACTIONS and not 0 <= value < 1:
        raise SpecError(f"{name} must be in [0, 1). Received: {key}={value!r}", loc)
    return value


# --- resuming: which settings may differ from the run's ----------------------------------------

HOW = ("device", "workers", "stream", "progress", "runs", "name", "resume", "compile", "channels_last", "threads")
"""Settings that say where and how the run computes, not what it computes: free to differ on resume."""
FIXED = ("data", "batch_size", "val_fraction", "optimizer", "precision", "init")
"""Settings a run cannot change midway, even with --override: they define its data, its steps or its state."""


def spec_section(graph: Graph) -> dict:
    """The spec's train: section as plain values, kept in the checkpoint to see edits on resume."""
    section = graph.spec.train
    return {str(k): v for k, v in section.items()} if isinstance(section, dict) else {}


def resumed_config(graph: Graph, saved: dict, fresh: TrainConfig, given: set[str] | None,
                   override: bool) -> tuple[TrainConfig, dict[str, tuple]]:
    """The run's own settings, with the ones asked for now (``given`` on the command line, or edited in
    the spec's train: section) that differ from them; those are refused unless ``override``."""
    if given is None:  # called from Python: every setting that is not the default counts as asked for
        given = {f.name for f in dataclasses.fields(TrainConfig) if getattr(fresh, f.name) != f.default}
    old_section, new_section = saved.get("spec_train", {}), spec_section(graph)
    given = set(given) | {k for k in {*old_section, *new_section} if old_section.get(k) != new_section.get(k)}
    values, changes = dataclasses.asdict(fresh), {}
    for key in values:
        if key in HOW:
            continue
        old = saved["config"].get(key)
        if key in given and values[key] != old:
            changes[key] = (old, values[key])
        else:
            values[key] = old
    where = saved["path"]
    fixed = [key for key in changes if key in FIXED]
    if fixed:
        raise SpecError(f"--resume: {_changes(changes, fixed)} cannot change within a run ({where}): start a "
                        f"new run with --name, or resume with the run's setting")
    if changes and not override:
        raise SpecError(f"--resume: the run in {where} has {_changes(changes, changes, 0)}, and this asks for "
                        f"{_changes(changes, changes, 1)}: leave those options out to resume as it was, or pass "
                        f"--override to change them from here on (recorded in the run's log.txt)")
    return TrainConfig(**values), changes


def _changes(changes: dict, keys, side: int | None = None) -> str:
    if side is None:
        return ", ".join(f"{k} ({changes[k][0]!r} -> {changes[k][1]!r})" for k in keys)
    return ", ".join(f"{k}={changes[k][side]!r}" for k in keys)


# --- checkpoints -------------------------------------------------------------------------------

def checksum(value) -> str:
    """SHA-256 over a checkpoint's contents: every tensor's dtype, shape and bytes, every other value's repr."""
    digest = hashlib.sha256()
    _feed(digest, value)
    return digest.hexdigest()


def _feed(digest, value) -> None:
    if isinstance(value, torch.Tensor):
        tensor = value.detach().cpu().contiguous().reshape(-1)
        digest.update(f"T{value.dtype}{tuple(value.shape)}".encode())
        digest.update(tensor.view(torch.uint8).numpy().tobytes())
    elif isinstance(value, dict):
        digest.update(f"{{{len(value)}".encode())
        for key, item in value.items():
            _feed(digest, key)
            _feed(digest, item)
    elif isinstance(value, (list, tuple)):
        digest.update(f"[{len(value)}".encode())
        for item in value:
            _feed(digest, item)
    else:
        digest.update(f"{value!r};".encode())


def layer_list(graph: Graph) -> list[list[str]]:
    """Each layer's name, arguments and inputs: what a checkpoint's weights were trained as."""
    return [[node.name, repr(node.layer), ",".join(node.inputs)] for node in graph.nodes]


def write_checkpoint(path: Path, contents: dict) -> None:
    """Write atomically with a checksum; the checkpoint it replaces stays beside it as PREVIOUS."""
    buffer = io.BytesIO()
    torch.save({**contents, "sha256": checksum(contents)}, buffer)
    if path.is_file():
        keep = path.with_name(f".{PREVIOUS}.link")
        keep.unlink(missing_ok=True)
        try:
            os.link(path, keep)  # the old inode lives on under the new name; write_atomic gives path a new one
        except OSError:  # a file system without hard links
            keep.write_bytes(path.read_bytes())
        os.replace(keep, path.with_name(PREVIOUS))
    write_atomic(path, buffer.getvalue())


def read_checkpoint(path: Path) -> dict:
    """The checkpoint's contents after its checksum is verified; a damaged one is refused, naming the
    file and the previous checkpoint to go back to."""
    if not path.is_file():
        raise SpecError(f"--resume: no checkpoint at {path}")
    saved, problem = _load_verified(path)
    if problem:
        raise TrainError(f"--resume: the checkpoint {path} is damaged ({problem}); refused and left as it is. "
                         + _previous_advice(path))
    return {**saved, "path": str(path.parent)}


def _load_verified(path: Path) -> tuple[dict | None, str | None]:
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # a truncated or foreign file
        return None, f"it cannot be read: {type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
    if not isinstance(saved, dict) or "sha256" not in saved:
        return None, "it has no checksum: not a checkpoint of this version of cnnspec"
    written = saved.pop("sha256")
    if checksum(saved) != written:
        return None, "its checksum does not match its contents: bytes changed after it was written"
    return saved, None


def _previous_advice(path: Path) -> str:
    previous = path.with_name(PREVIOUS)
    if not previous.is_file():
        return "No earlier checkpoint is kept: start again without --resume"
    saved, problem = _load_verified(previous)
    if problem:
        return f"The earlier checkpoint {previous} is damaged too ({problem}): start again without --resume"
    state = saved["state"]
    return (f"The earlier checkpoint {previous} (epoch {state['epoch']}, step {state['step']}) is whole: to go "
            f"back to it, `mv {previous} {path}` and resume again")


# --- devices and distribution ------------------------------------------------------------------

@dataclass
class Distributed:
    rank: int = 0
    world: int = 1
    device: torch.device = torch.device("cpu")  # where collectives run: NCCL needs CUDA tensors

    @property
    def main(self) -> bool:
        return self.rank == 0

    def sum(self, values: list[float]) -> list[float]:
        """Add ``values`` over all processes (metrics of each process's share of the batch)."""
        if self.world == 1:
            return values
        import torch.distributed as dist
        tensor = torch.tensor(values, dtype=torch.float64, device=self.device)
        dist.all_reduce(tensor)
        return tensor.tolist()

    def any(self, flag: bool) -> bool:
        """True on every process when it is True on one: all of them stop at the same step."""
        return flag if self.world == 1 else self.sum([float(flag)])[0] > 0


def choose_device(name: str) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(name)
    except RuntimeError:
        raise SpecError(f"--device {name}: not a device (auto, cpu, cuda, cuda:1 ...)") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SpecError(f"--device {name}: CUDA is not available here")
    return device


def setup_distributed(device: torch.device) -> tuple[Distributed, torch.device]:
    """Under torchrun (WORLD_SIZE > 1): one process per device, NCCL on GPUs, gloo on CPUs."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return Distributed(), device
    import torch.distributed as dist
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return Distributed(dist.get_rank(), world, device), device


def choose_threads(device: torch.device, config: TrainConfig, macs_per_step: int) -> int:
    """Set and return the CPU threads: ``threads`` when given; one for a step under TINY_STEP_MACS
    unless OMP_NUM_THREADS says otherwise; else PyTorch's default."""
    if device.type == "cpu":
        if config.threads:
            torch.set_num_threads(config.threads)
        elif macs_per_step < TINY_STEP_MACS and "OMP_NUM_THREADS" not in os.environ:
            torch.set_num_threads(1)
    return torch.get_num_threads()


def peak_flops(device: torch.device, precision: str) -> float | None:
    """The device's dense peak in FLOP/s for this precision (fp32 convs run as TF32), or None if unknown."""
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
    partial: dict | None = None  # sums for the epoch under way when stopped inside it
    log: list[str] = field(default_factory=list)  # starts, resumes and overrides, one line each (log.txt)


@dataclass
class TrainResult:
    run_dir: Path
    history: list[dict]
    test_loss: float
    test_accuracy: float
    images_per_second: float
    mfu: float | None
    params: int
    flops_per_image: int  # forward + backward, 3 x 2 x MACs
    model: nn.Module  # the trained model, on the CPU in eval mode: what the test accuracy was measured on
    main: bool  # process 0 (under torchrun, the one that writes files)


def run_dir(graph: Graph, config: TrainConfig) -> Path:
    return Path(config.runs) / (config.name or graph.name)


def first_changed_layer(old: list[list[str]], new: list[list[str]]) -> str | None:
    """The first layer that differs between two layer_list()s, in one phrase; None when they agree."""
    for (name, layer, inputs), (new_name, new_layer, new_inputs) in zip(old, new):
        if name != new_name:
            return f"layer '{name}' of the checkpoint is '{new_name}' in the spec"
        if layer != new_layer:
            return f"layer '{name}' was {layer} and is {new_layer}"
        if inputs != new_inputs:
            return f"layer '{name}' read {inputs} and reads {new_inputs}"
    if len(old) != len(new):
        longer = old if len(old) > len(new) else new
        where = "is gone from the spec" if len(old) > len(new) else "is new in the spec"
        return f"layer '{longer[min(len(old), len(new))][0]}' {where}"
    return None


def load_matching(model: nn.Module, weights: dict, path: Path) -> None:
    """load_state_dict, with one line naming the first tensor that does not fit instead of torch's list."""
    own = model.state_dict()
    for key, tensor in own.items():
        if key not in weights:
            raise SpecError(f"--resume: {path} has no '{key}' (the spec's layers differ from the checkpoint's)")
        if weights[key].shape != tensor.shape:
            raise SpecError(f"--resume: '{key}' is {list(weights[key].shape)} in {path} and {list(tensor.shape)} in "
                            f"the spec: the layer changed; start a new run with --name")
    extra = next((key for key in weights if key not in own), None)
    if extra:
        raise SpecError(f"--resume: {path} has '{extra}', which the spec has not (the spec's layers differ)")
    model.load_state_dict(weights)


class Trainer:
    def __init__(self, graph: Graph, config: TrainConfig, saved: dict | None = None,
                 changes: dict[str, tuple] | None = None, override: bool = False):
        """``saved``: a verified checkpoint to resume from (``config`` resolved by ``resumed_config``,
        ``changes`` what --override changed)."""
        self.graph, self.config = graph, config
        if config.data is None:
            raise SpecError("no training data: pass --data mnist1d|digits|synthetic|PATH or set train: data:")
        head = graph[graph.outputs[0]].out_shape
        if len(head) != 1:
            raise SpecError(f"training needs a classifier whose output is [classes]; '{graph.outputs[0]}' gives "
                            f"{list(head)}")
        self.dist, self.device = setup_distributed(choose_device(config.device))
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True
        self.run_dir = run_dir(graph, config)
        self.checkpoint_path = self.run_dir / CHECKPOINT
        self.analysis = analyze(graph, batch=config.batch_size)
        self.threads = choose_threads(self.device, config, self.analysis.totals.macs * config.batch_size)
        self.flops_per_image = 3 * 2 * self.analysis.totals.macs
        arrays = load_arrays(config.data, graph.input_shape, head[0], config.seed, config.val_fraction)
        self.data_sizes = arrays.sizes
        self.augment = config.augment and arrays.images
        self.hold_data(arrays)
        torch.manual_seed(config.seed)
        self.model = build_module(graph, seed=config.seed, init=config.init).to(self.device)
        if self.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.forward = self.model
        if self.dist.world > 1:
            self.forward = nn.parallel.DistributedDataParallel(self.model)
        if config.compile:
            self.forward = torch.compile(self.forward)
        self.batches_per_epoch = len(self.y_train) // (config.batch_size * self.dist.world)
        if self.batches_per_epoch == 0:
            raise SpecError(f"the data '{config.data}' has {len(self.y_train)} training samples, fewer than one "
                            f"batch of {config.batch_size} x {self.dist.world} process(es): lower --batch-size")
        self.total_steps = config.steps or config.epochs * self.batches_per_epoch
        self.epochs = math.ceil(self.total_steps / self.batches_per_epoch)
        self.optimizer = make_optimizer(self.model, config)
        self.scheduler = make_scheduler(self.optimizer, config, self.total_steps, self.batches_per_epoch)
        self.scaler = torch.amp.GradScaler(enabled=config.precision == "fp16" and self.device.type == "cuda")
        self.state = RunState()
        self.stop_requested = False  # Ctrl-C seen by this process
        self.stopping = False  # ... and agreed by all: stop after this step
        self.saved, self.changes, self.override = saved, changes or {}, override

    @property
    def channels_last(self) -> bool:
        return self.config.channels_last and len(self.graph.input_shape) == 3

    def hold_data(self, arrays: Arrays) -> None:
        """Everything on the device when the training split fits in a quarter of its free memory, else
        the training split stays in host memory and worker processes gather the batches."""
        self.stream = self.config.stream
        if self.stream is None:
            budget = torch.cuda.mem_get_info(self.device)[0] // 4 if self.device.type == "cuda" else math.inf
            self.stream = arrays.x_train.nbytes > budget
        host = lambda a, dtype=torch.float32: torch.as_tensor(a, dtype=dtype)  # noqa: E731
        self.x_train, self.y_train = host(arrays.x_train), host(arrays.y_train, torch.int64)
        if not self.stream:
            self.x_train, self.y_train = self.to_device(self.x_train), self.y_train.to(self.device)
        self.x_val, self.y_val = self.to_device(host(arrays.x_val)), host(arrays.y_val, torch.int64).to(self.device)
        self.x_test, self.y_test = self.to_device(host(arrays.x_test)), host(arrays.y_test, torch.int64).to(self.device)

    def to_device(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(self.device, non_blocking=True)
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

    # checkpoints --------------------------------------------------------------------------------
    def save(self) -> None:
        """Write then rename: a crash while saving leaves the previous checkpoint whole."""
        if not self.dist.main:
            return
        write_checkpoint(self.checkpoint_path, {
            "spec": self.graph.name, "layers": layer_list(self.graph), "spec_train": spec_section(self.graph),
            "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(), "scaler": self.scaler.state_dict(),
            "state": dataclasses.asdict(self.state), "config": dataclasses.asdict(self.config),
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state_all() if self.device.type == "cuda" else []})
        write_atomic(self.run_dir / "log.txt", "".join(line + "\n" for line in self.state.log))

    def restore(self) -> None:
        """Continue from the verified checkpoint ``self.saved``; what changed is refused or logged."""
        saved = self.saved
        if saved["spec"] != self.graph.name:
            raise SpecError(f"--resume: the checkpoint {self.checkpoint_path} was written for the spec "
                            f"'{saved['spec']}', not '{self.graph.name}': pass --name to start a run of its own")
        changed = first_changed_layer(saved["layers"], layer_list(self.graph))
        if changed and not self.override:
            raise SpecError(f"--resume: the spec '{self.graph.name}' changed since {self.checkpoint_path} was "
                            f"written: {changed}; undo the edit, start a new run with --name, or pass --override "
                            f"to load the weights into the new layers")
        load_matching(self.model, saved["model"], self.checkpoint_path)
        self.optimizer.load_state_dict(saved["optimizer"])
        self.state = RunState(**saved["state"])
        self.log(f"resumed at step {self.state.step} (epoch {self.state.epoch})")
        if self.changes or changed:
            self.apply_override(changed)
        else:
            self.scheduler.load_state_dict(saved["scheduler"])
        self.scaler.load_state_dict(saved["scaler"])
        torch.set_rng_state(saved["torch_rng"].cpu())
        if saved["cuda_rng"] and self.device.type == "cuda":
            torch.cuda.set_rng_state_all([state.cpu() for state in saved["cuda_rng"]])
        self.saved = None  # the weights are in the model now; the copy need not live through the run

    def apply_override(self, changed_layer: str | None) -> None:
        """The new settings from the next step on: the optimizer's hyperparameters set anew and the
        learning-rate schedule rebuilt for them and advanced to the run's step."""
        if self.state.step >= self.total_steps:
            raise SpecError(f"--resume --override: the run has taken {self.state.step} steps already; the new "
                            f"settings make it {self.total_steps} steps long")
        for group in self.optimizer.param_groups:
            group["lr"] = group["initial_lr"] = self.config.lr
            group["weight_decay"] = self.config.weight_decay
            if "momentum" in group:
                group["momentum"], group["nesterov"] = self.config.momentum, self.config.nesterov
        self.scheduler = make_scheduler(self.optimizer, self.config, self.total_steps, self.batches_per_epoch)
        with warnings.catch_warnings():  # stepping a schedule without optimizer steps is the point here
            warnings.simplefilter("ignore")
            for _ in range(self.state.step):
                self.scheduler.step()
        what = [f"{key} {old!r} -> {new!r}" for key, (old, new) in self.changes.items()]
        self.log(f"override at step {self.state.step}: " + "; ".join(what + ([f"spec: {changed_layer}"]
                                                                                if changed_layer else [])))

    def log(self, line: str) -> None:
        stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
        self.state.log.append(f"{stamp}  {line}")

    # the loop -------------------------------------------------------------------------------------
    def epoch_order(self, epoch: int) -> torch.Tensor:
        """This process's sample indices for ``epoch``, [batches, batch_size]: the same on every process
        and after a resume; process r of w takes every w-th batch, so w x batch_size make one global batch."""
        generator = torch.Generator().manual_seed(self.config.seed * 1000 + epoch)
        order = torch.randperm(len(self.y_train), generator=generator)
        size, world = self.config.batch_size, self.dist.world
        order = order[:self.batches_per_epoch * world * size].view(self.batches_per_epoch, world, size)
        return order[:, self.dist.rank]

    def batches(self, epoch: int, first: int):
        """(x, y) on the device for the batches ``first``.. of ``epoch``."""
        order = self.epoch_order(epoch)[first:]
        if not self.stream:
            for chosen in order.to(self.device):
                yield self.x_train[chosen], self.y_train[chosen]
            return
        loader = torch.utils.data.DataLoader(IndexedPairs(self.x_train, self.y_train), sampler=list(order),
                                             batch_size=None, num_workers=self.config.workers,
                                             pin_memory=self.device.type == "cuda")
        for x, y in loader:
            yield self.to_device(x), y.to(self.device, non_blocking=True)

    def loss(self, outputs, labels):
        outputs = outputs if isinstance(outputs, tuple) else (outputs,)
        main = F.cross_entropy(outputs[0], labels, label_smoothing=self.config.label_smoothing)
        extra = sum(F.cross_entropy(o, labels) for o in outputs[1:] if o.dim() == 2)
        return main + self.config.aux_weight * extra, outputs[0]

    def autocast(self):
        dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(self.config.precision)
        return torch.autocast(self.device.type, dtype=dtype, enabled=dtype is not None)

    def step(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One optimizer step; returns the loss and the number right, left on the device (no sync)."""
        if self.augment:
            x = augment(x)
        with self.autocast():
            loss, logits = self.loss(self.forward(x), y)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        return loss.detach().float(), (logits.argmax(1) == y).sum()

    def train_epoch(self, epoch: int, display: TrainingDisplay | None = None) -> dict:
        """Train through ``epoch`` from where the run stands; loss and accuracy of the steps it took."""
        self.model.train()
        first = self.state.step - epoch * self.batches_per_epoch
        partial = self.state.partial or {"loss": 0.0, "correct": 0, "seen": 0, "seconds": 0.0}
        count = min(self.batches_per_epoch - first, self.total_steps - self.state.step)
        losses = torch.zeros(count, dtype=torch.float64, device=self.device)
        correct = torch.zeros((), dtype=torch.int64, device=self.device)
        start, done = time.perf_counter(), 0
        for index, (x, y) in enumerate(self.batches(epoch, first)):
            if index == count:
                break
            losses[index], right = self.step(x, y)
            correct += right
            done = index + 1
            at_check = done % CHECK_EVERY == 0 or done == count
            if at_check or self.stop_requested and self.dist.world == 1:
                self.check_finite(losses[:done], epoch)
                if display is not None:
                    display.update(epoch, self.state.step + done, losses[:done].mean().item())
            if (at_check or self.dist.world == 1) and self.dist.any(self.stop_requested):
                self.stopping = True
                break
        self.state.step += done
        batch = self.config.batch_size
        loss_sum, right, seen = self.dist.sum([losses[:done].sum().item() * batch, correct.item(), done * batch])
        seconds = partial["seconds"] + time.perf_counter() - start
        self.state.partial = {"loss": partial["loss"] + loss_sum, "correct": partial["correct"] + right,
                              "seen": partial["seen"] + seen, "seconds": seconds}
        total = self.state.partial
        return {"train_loss": total["loss"] / max(total["seen"], 1),
                "train_acc": total["correct"] / max(total["seen"], 1),
                "images_per_s": total["seen"] / seconds if seconds else 0.0, "seconds": seconds}

    def check_finite(self, losses: torch.Tensor, epoch: int) -> None:
        """Stop at the first non-finite loss, naming its step; the last checkpoint is left as it was."""
        bad = (~torch.isfinite(losses)).nonzero()
        if len(bad):
            index = int(bad[0])
            step = self.state.step + index + 1  # state.step counts the steps before this epoch's share
            raise TrainError(f"the loss became {losses[index].item()} at step {step} (epoch {epoch + 1}); stopped. "
                             f"The last good checkpoint is {self.checkpoint_path} (after step "
                             f"{self.saved_step}); try a lower --lr")

    @torch.no_grad()
    def evaluate(self, x_all: torch.Tensor, y_all: torch.Tensor) -> tuple[float | None, float | None]:
        """Mean loss and accuracy over a split held on the device; None for an empty split."""
        if not len(y_all):
            return None, None
        self.model.eval()
        total_loss = torch.zeros((), dtype=torch.float64, device=self.device)
        correct = torch.zeros((), dtype=torch.int64, device=self.device)
        for start in range(0, len(y_all), 1024):
            x, y = x_all[start:start + 1024], y_all[start:start + 1024]
            with self.autocast():
                outputs = self.model(x)
            logits = (outputs[0] if isinstance(outputs, tuple) else outputs).float()
            total_loss += F.cross_entropy(logits, y, reduction="sum")
            correct += (logits.argmax(1) == y).sum()
        return total_loss.item() / len(y_all), correct.item() / len(y_all)

    def request_stop(self, signum, frame) -> None:
        """First Ctrl-C: finish the step, save, stop. A second one stops at once."""
        self.stop_requested = True
        signal.signal(signal.SIGINT, signal.default_int_handler)

    def run(self) -> TrainResult:
        if self.saved is not None:
            self.restore()
        else:
            if self.dist.main:
                self.run_dir.mkdir(parents=True, exist_ok=True)
                for stale in ("metrics.jsonl", "metrics.csv", "result.json", "curves.png", CHECKPOINT, PREVIOUS,
                              "log.txt"):
                    (self.run_dir / stale).unlink(missing_ok=True)
            settings = dataclasses.asdict(self.config)
            self.log(f"started {self.graph.name} ({self.graph.path}): " + json.dumps(
                {key: value for key, value in settings.items() if key not in HOW}))
        self.saved_step = self.state.step
        peak = peak_flops(self.device, self.config.precision)
        previous = signal.signal(signal.SIGINT, self.request_stop)
        try:
            with TrainingDisplay(self.config.progress and self.dist.main) as display:
                display.start(self.header(), self.epochs, self.total_steps, self.state.step,
                              self.config.batch_size * self.dist.world)
                for epoch in range(self.state.epoch, self.epochs):
                    row = self.train_epoch(epoch, display)
                    if self.stopping:
                        self.save()
                        raise TrainError(f"interrupted at step {self.state.step} (epoch {epoch + 1}); saved in "
                                         f"{self.checkpoint_path}: continue with --resume")
                    self.end_epoch(epoch, row, peak)
                    display.epoch_done(row)
        finally:
            signal.signal(signal.SIGINT, previous)
        test_loss, test_accuracy = self.evaluate(self.x_test, self.y_test)
        rate = float(np.median([row["images_per_s"] for row in self.state.history] or [0.0]))
        model = self.model.cpu().to(memory_format=torch.contiguous_format).eval()
        result = TrainResult(self.run_dir, self.state.history, test_loss, test_accuracy, rate,
                             rate * self.flops_per_image / peak if peak else None, self.analysis.totals.params,
                             self.flops_per_image, model, self.dist.main)
        if self.dist.main:
            self.finish(result)
        return result

    def header(self) -> list[str]:
        """What the run is, in two sentences; the label-smoothing note explains train loss > val loss."""
        c, (train, val, test) = self.config, self.data_sizes
        threads = f" ({self.threads} thread{'s' if self.threads > 1 else ''})" if self.device.type == "cpu" else ""
        lines = [f"{self.graph.name}: {self.analysis.totals.params:,} params on {self.device}{threads}",
                 f"data: {c.data}, {train:,} train / {val:,} val / {test:,} test samples",
                 f"run: {self.epochs} epochs x {self.batches_per_epoch:,} steps of {c.batch_size * self.dist.world} = "
                 f"{self.total_steps:,} steps; {c.optimizer} lr {c.lr:g}, {c.schedule} schedule"]
        if c.label_smoothing:
            lines.append(f"label smoothing {c.label_smoothing:g} is in the train loss only: it sits above the val loss")
        if self.state.step:
            lines.append(f"resuming at step {self.state.step:,} (epoch {self.state.epoch})")
        return lines

    def end_epoch(self, epoch: int, row: dict, peak: float | None) -> None:
        row["val_loss"], row["val_acc"] = self.evaluate(self.x_val, self.y_val)
        row["mfu"] = row["images_per_s"] * self.flops_per_image / peak if peak else None
        row.update(epoch=epoch + 1, step=self.state.step, lr=self.scheduler.get_last_lr()[0])
        self.state.history.append(row)
        self.state.epoch, self.state.partial = epoch + 1, None
        self.save()
        self.saved_step = self.state.step
        self.write_metrics()

    def write_metrics(self) -> None:
        if not self.dist.main:
            return
        history = self.state.history
        write_atomic(self.run_dir / "metrics.jsonl", "".join(json.dumps(row) + "\n" for row in history))
        keys = list(history[0])
        cell = lambda v: "" if v is None else f"{v:.6g}" if isinstance(v, float) else str(v)  # noqa: E731
        lines = [",".join(keys)] + [",".join(cell(row.get(k)) for k in keys) for row in history]
        write_atomic(self.run_dir / "metrics.csv", "\n".join(lines) + "\n")

    def finish(self, result: TrainResult) -> None:
        from ..plot import plot_training_curves
        if result.history:
            plot_training_curves(result.history, self.run_dir / "curves.png", title=self.graph.name)
        summary = {"spec": self.graph.name, "params": result.params, "test_loss": result.test_loss,
                   "test_accuracy": result.test_accuracy, "images_per_s": result.images_per_second,
                   "flops_per_image": result.flops_per_image, "mfu": result.mfu, "epochs": self.state.epoch,
                   "steps": self.state.step, "device": str(self.device), "processes": self.dist.world,
                   "threads": self.threads if self.device.type == "cpu" else None,
                   "config": dataclasses.asdict(self.config), "log": self.state.log}
        write_atomic(self.run_dir / "result.json", json.dumps(summary, indent=2) + "\n")
        write_atomic(self.run_dir / "log.txt", "".join(line + "\n" for line in self.state.log))


class IndexedPairs(torch.utils.data.Dataset):
    """``dataset[indices]`` -> one whole batch, so a worker gathers it in one indexing op."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor):
        self.x, self.y = x, y

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, indices):
        return self.x[indices], self.y[indices]


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
    return torch.where(flip[:, None, None, None], cropped.flip(3), cropped).contiguous(
        memory_format=torch.channels_last if x.is_contiguous(memory_format=torch.channels_last)
        else torch.contiguous_format)


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
                                                   pct_start=min(max(warmup / max(total_steps, 1), 0.01), 0.99))

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


class TrainingDisplay:
    """What the console shows while a run trains: a header, a row per finished epoch, and a live two-line
    status (epoch, global step, bar, the run's ETA; train loss, val loss and accuracy, images/s).
    Every line fits the console's width (80 columns included); nothing is shown when disabled."""

    COLUMNS = ("epoch", "step", "train loss", "val loss", "val acc", "img/s", "time")

    def __init__(self, enabled: bool, console=None):
        self.enabled, self.console = enabled, console
        self.epoch = self.step = 0
        self.loss = self.val_loss = self.val_acc = self.rate = None

    def __enter__(self):
        if self.enabled:
            from rich.console import Console
            from rich.live import Live
            self.console = self.console or Console(highlight=False)
            self.live = Live(self, console=self.console, refresh_per_second=4, transient=True)
            self.live.start()
        return self

    def __exit__(self, *exc):
        if self.enabled:
            self.live.stop()

    def start(self, header: list[str], epochs: int, total_steps: int, step: int, images_per_step: int) -> None:
        self.epochs, self.total, self.images_per_step = epochs, total_steps, images_per_step
        self.step = self.first_step = self.epoch_step = step
        self.began = self.epoch_began = time.perf_counter()
        if self.enabled:
            for line in header:
                self.console.print(line, markup=False)
            self.console.print(self.row(self.COLUMNS), markup=False, style="bold")

    def update(self, epoch: int, step: int, loss: float) -> None:
        """The running epoch's state after a host sync (every CHECK_EVERY steps)."""
        if epoch != self.epoch:
            self.epoch, self.epoch_step, self.epoch_began = epoch, self.step, time.perf_counter()
        self.step, self.loss = step, loss
        self.rate = (step - self.epoch_step) * self.images_per_step / max(time.perf_counter() - self.epoch_began, 1e-9)

    def epoch_done(self, row: dict) -> None:
        self.val_loss, self.val_acc, self.epoch = row["val_loss"], row["val_acc"], row["epoch"]
        self.epoch_step, self.epoch_began = row["step"], time.perf_counter()
        if self.enabled:
            self.console.print(self.row((f"{row['epoch']}/{self.epochs}", f"{row['step']:,}", f"{row['train_loss']:.4f}",
                                         _maybe(row["val_loss"], ".4f"), _maybe(row["val_acc"], ".2%"),
                                         f"{row['images_per_s']:,.0f}", f"{row['seconds']:.1f}s")), markup=False)

    def row(self, cells) -> str:
        widths = (max(7, 2 * len(str(self.epochs)) + 1), 9, 12, 10, 9, 10, 8)
        return f"{cells[0]:<{widths[0]}}" + "".join(f"{cell:>{width}}" for cell, width in zip(cells[1:], widths[1:]))

    def lines(self, width: int) -> list[str]:
        """The live status as plain text, ``width`` columns at most; the bar takes what the words leave."""
        done = self.step - self.first_step
        elapsed = time.perf_counter() - self.began
        eta = _clock((self.total - self.step) * elapsed / done) if done else "-"
        left = f"epoch {self.epoch + 1}/{self.epochs}  step {self.step:,}/{self.total:,} "
        right = f" {self.step / max(self.total, 1):4.0%}  ETA {eta}"
        room = width - len(left) - len(right)
        bar = "━" * round(room * self.step / max(self.total, 1)) if room >= 5 else ""
        first = left + (bar.ljust(room, "╌") if room >= 5 else "") + right
        second = (f"train loss {_maybe(self.loss, '.4f')}  val loss {_maybe(self.val_loss, '.4f')}  "
                  f"val acc {_maybe(self.val_acc, '.2%')}  {_maybe(self.rate, ',.0f')} img/s")
        return [first, second]

    def __rich_console__(self, console, options):
        from rich.text import Text
        for line in self.lines(options.max_width):
            yield Text(line, no_wrap=False, overflow="fold")


def _maybe(value, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _clock(seconds: float) -> str:
    """h:mm:ss, with as many hour digits as it takes: never truncated."""
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"


def out_of_memory_advice(graph: Graph, config: TrainConfig, device_bytes: int) -> str:
    """Which batch sizes the analyzer's training-memory estimate fits in 80% of the device's memory."""
    precision = {"fp32": "fp32", "bf16": "bf16-mixed", "fp16": "fp16-mixed"}[config.precision]  # autocast
    optimizer = "sgd-momentum" if config.optimizer == "sgd" else config.optimizer

    def estimate(batch: int) -> int:
        return analyze(graph, batch=batch, optimizer=optimizer, precision=precision).training.total

    fits = [b for b in (2 ** k for k in range(16)) if b < config.batch_size and estimate(b) < 0.8 * device_bytes]
    suggestion = f"try --batch-size {fits[-1]}" if fits else "no batch size fits by the estimate"
    return (f"CUDA ran out of memory at batch size {config.batch_size} (the analyzer's training-memory estimate: "
            f"{estimate(config.batch_size) / 1e9:.2f} GB of the device's {device_bytes / 1e9:.2f} GB); {suggestion}")


def summary(result: TrainResult) -> str:
    mfu = f", model FLOPs utilization {result.mfu:.1%}" if result.mfu is not None else ""
    return (f"test accuracy {result.test_accuracy:.2%} (loss {result.test_loss:.4f}) after "
            f"{len(result.history)} epochs; {result.images_per_second:,.0f} images/s{mfu}\n"
            f"run folder: {result.run_dir} (metrics, curves, checkpoint, log)")


def weights_note(result: TrainResult, weights: Path | None) -> str:
    """The "Weights:" line of an exported Python file: where the trained weights that load into it are."""
    accuracy = f"test accuracy {result.test_accuracy:.2%}"
    if weights is None:
        return (f"trained by cnnspec ({accuracy}); they are in {result.run_dir / CHECKPOINT}: "
                f"torch.load(path)['model'] is the state_dict")
    load = (f"safetensors.torch.load_file('{weights.name}')" if weights.suffix == ".safetensors"
            else f"torch.load('{weights.name}')")
    return f"trained by cnnspec ({accuracy}): model.load_state_dict({load})"


def train(graph: Graph, config: TrainConfig, override: bool = False, given: set[str] | None = None) -> TrainResult:
    """Train (or, with ``config.resume``, continue) a run. ``given``: the settings asked for explicitly
    (the command line's); on resume the others come from the checkpoint. ``override`` accepts asked-for
    settings that differ from the run's, and a changed spec whose weights still fit."""
    saved, changes = None, {}
    if config.resume:
        saved = read_checkpoint(run_dir(graph, config) / CHECKPOINT)
        config, changes = resumed_config(graph, saved, config, given, override)
    threads = torch.get_num_threads()
    try:
        trainer = Trainer(graph, config, saved, changes, override)
        return trainer.run()
    except torch.cuda.OutOfMemoryError:
        device_bytes = torch.cuda.get_device_properties(trainer.device).total_memory
        raise TrainError(out_of_memory_advice(graph, config, device_bytes)) from None
    finally:
        torch.set_num_threads(threads)
