"""Training: settings, a short run that learns, determinism, exact resume (Ctrl-C, SIGKILL), DDP, faults."""
import json
import math
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch

from cnnspec.errors import SpecError, TrainError
from cnnspec.graph import build_graph, load
from cnnspec.spec import parse_spec
from cnnspec.analysis import analyze
from cnnspec.torch.train import (TrainConfig, Trainer, augment, config_from, make_scheduler, out_of_memory_advice,
                           peak_flops, train)

TINY = Path(__file__).parent.parent / "data" / "train" / "tiny_mnist1d.yaml"
REPO = Path(__file__).parent.parent.parent


ONE_THREAD = {**os.environ, "OMP_NUM_THREADS": "1"}  # tiny models: threads only add contention on a busy CI box


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def tiny():
    return load(str(TINY))


def settings(tmp_path, **changes) -> TrainConfig:
    base = dict(data="mnist1d", epochs=2, batch_size=100, lr=0.05, progress=False, runs=str(tmp_path))
    return TrainConfig(**{**base, **changes})


def weights(run_dir: Path) -> dict:
    return torch.load(run_dir / "checkpoint.pt", weights_only=False)["model"]


def same_weights(a: dict, b: dict, atol: float = 0.0) -> bool:
    return a.keys() == b.keys() and all(torch.allclose(a[k], b[k], rtol=0, atol=atol) for k in a)


def learned(history: list[dict]) -> list[tuple]:
    """What a run learned per epoch, without its timings (train loss summed in another order: to 1e-12)."""
    return [(r["epoch"], r["step"], r["lr"], r["val_loss"], r["val_acc"], round(r["train_loss"], 12),
             r["train_acc"]) for r in history]


def graph_of(train_section: str):
    text = TINY.read_text().replace("train: {data: mnist1d, epochs: 2, batch_size: 100, lr: 0.05}", train_section)
    return build_graph(parse_spec(text, "tiny.yaml"))


# --- settings ---------------------------------------------------------------------------------

def test_spec_section_then_options_fill_the_config(tiny):
    config = config_from(tiny, {"epochs": 5, "lr": None})
    assert (config.data, config.epochs, config.batch_size, config.lr) == ("mnist1d", 5, 100, 0.05)


def test_unknown_setting_points_at_its_line():
    with pytest.raises(SpecError, match="unknown training setting 'epoch' \\(did you mean 'epochs'\\?\\)") as error:
        config_from(graph_of("train:\n  data: mnist1d\n  epoch: 3"), {})
    assert (error.value.loc.path, error.value.loc.line) == ("tiny.yaml", 13)


def test_wrongly_typed_setting_points_at_its_value():
    message = "train: optimizer must be 'sgd' or 'adam' or 'adamw'. Received: optimizer='lamb'"
    with pytest.raises(SpecError, match=message) as error:
        config_from(graph_of("train: {optimizer: lamb}"), {})
    assert error.value.loc.line == 11
    with pytest.raises(SpecError, match="train: epochs must be positive. Received: epochs=0"):
        config_from(graph_of("train: {epochs: 0}"), {})


def test_command_line_values_are_checked_too(tiny):
    with pytest.raises(SpecError, match="--schedule must be 'constant' or"):
        config_from(tiny, {"schedule": "linear"})
    with pytest.raises(SpecError, match="--label-smoothing must be in \\[0, 1\\)"):
        config_from(tiny, {"label_smoothing": 1.5})


def test_train_section_must_be_a_mapping():
    with pytest.raises(SpecError, match="train: must be a mapping"):
        config_from(graph_of("train: 3"), {})


# --- learning and determinism ---------------------------------------------------------------------

def test_short_run_learns_and_writes_its_files(tiny, tmp_path):
    result = train(tiny, settings(tmp_path, epochs=3))
    losses = [row["train_loss"] for row in result.history]
    assert losses[0] > losses[1] > losses[2] and result.history[-1]["val_loss"] < math.log(10)
    assert result.test_accuracy > 0.2  # ten classes: chance is 0.1
    run = tmp_path / "tiny_mnist1d"
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [row["epoch"] for row in rows] == [1, 2, 3] and rows[-1]["step"] == 3 * 36
    assert (run / "metrics.csv").read_text().count("\n") == 4
    assert (run / "curves.png").read_bytes()[:4] == b"\x89PNG"
    summary = json.loads((run / "result.json").read_text())
    assert summary["test_accuracy"] == result.test_accuracy
    assert summary["flops_per_image"] == 6 * (8 * 3 * 19 + 8 * 8 * 3 * 9 + 72 * 10)  # 3 x 2 x MACs


def test_same_seed_same_run_other_seed_other_run(tiny, tmp_path):
    first = train(tiny, settings(tmp_path, name="a"))
    again = train(tiny, settings(tmp_path, name="b"))
    other = train(tiny, settings(tmp_path, name="c", seed=1))
    assert [r["train_loss"] for r in first.history] == [r["train_loss"] for r in again.history]
    assert first.test_accuracy == again.test_accuracy
    assert same_weights(weights(tmp_path / "a"), weights(tmp_path / "b"))
    assert not same_weights(weights(tmp_path / "a"), weights(tmp_path / "c"), atol=1e-3)


def test_steps_override_epochs_and_end_inside_an_epoch(tiny, tmp_path):
    result = train(tiny, settings(tmp_path, steps=50, schedule="onecycle", optimizer="adamw", lr=0.01))
    assert [row["step"] for row in result.history] == [36, 50]


def test_streaming_with_workers_gives_the_same_batches(tiny, tmp_path):
    held = train(tiny, settings(tmp_path, name="held", epochs=1, stream=False))
    streamed = train(tiny, settings(tmp_path, name="streamed", epochs=1, stream=True, workers=1))
    assert held.history[0]["train_loss"] == streamed.history[0]["train_loss"]
    assert same_weights(weights(tmp_path / "held"), weights(tmp_path / "streamed"))


# --- stopping and resuming ----------------------------------------------------------------------

def test_ctrl_c_saves_inside_the_epoch_and_resume_ends_like_an_uninterrupted_run(tiny, tmp_path):
    whole = train(tiny, settings(tmp_path, name="whole", epochs=4))
    trainer = Trainer(tiny, settings(tmp_path, name="cut", epochs=4))
    original_step, calls = trainer.step, []

    def step_then_ctrl_c(x, y):  # the real step; at step 50 (inside epoch 2) the real SIGINT handler runs
        calls.append(1)
        if len(calls) == 50:
            os.kill(os.getpid(), signal.SIGINT)
        return original_step(x, y)
    trainer.step = step_then_ctrl_c
    with pytest.raises(TrainError, match="interrupted at step 50 \\(epoch 2\\); saved in .*continue with --resume"):
        trainer.run()
    resumed = train(tiny, settings(tmp_path, name="cut", epochs=4, resume=True))
    assert learned(resumed.history) == learned(whole.history)
    assert resumed.test_accuracy == whole.test_accuracy
    assert same_weights(weights(tmp_path / "whole"), weights(tmp_path / "cut"))


def cli(*args):
    return [sys.executable, "-m", "cnnspec", "build", str(TINY), "--train", "--no-progress", *args]


def test_sigkill_mid_run_then_resume_ends_like_an_uninterrupted_run(tiny, tmp_path):
    options = ["--epochs", "20", "--runs", str(tmp_path), "--name", "killed"]
    process = subprocess.Popen(cli(*options), cwd=REPO, env=ONE_THREAD, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
    checkpoint = tmp_path / "killed" / "checkpoint.pt"
    deadline = time.monotonic() + 60
    while not checkpoint.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    assert process.wait() == -signal.SIGKILL, process.stderr.read().decode()
    killed_at = torch.load(checkpoint, weights_only=False)["state"]["epoch"]
    assert 1 <= killed_at < 20
    resumed = subprocess.run(cli(*options, "--resume"), cwd=REPO, env=ONE_THREAD, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    whole = train(tiny, settings(tmp_path, name="whole", epochs=20))
    rows = [json.loads(line) for line in (tmp_path / "killed" / "metrics.jsonl").read_text().splitlines()]
    assert learned(rows) == learned(whole.history)
    assert json.loads((tmp_path / "killed" / "result.json").read_text())["test_accuracy"] == whole.test_accuracy


def test_resume_without_a_checkpoint_or_with_a_corrupt_one(tiny, tmp_path):
    with pytest.raises(SpecError, match="--resume: no checkpoint at"):
        train(tiny, settings(tmp_path, resume=True))
    checkpoint = tmp_path / "tiny_mnist1d" / "checkpoint.pt"
    checkpoint.parent.mkdir()
    checkpoint.write_bytes(b"half a checkpoint")
    with pytest.raises(TrainError, match="checkpoint.pt is damaged \\(it cannot be read: .*\\); refused and left as "
                                         "it is. No earlier checkpoint is kept"):
        train(tiny, settings(tmp_path, resume=True))
    assert checkpoint.read_bytes() == b"half a checkpoint"


def test_nan_loss_stops_naming_the_step_and_keeps_the_last_checkpoint(tiny, tmp_path):
    exploding = settings(tmp_path, epochs=3, schedule="step", step_epochs=1, gamma=1e9)  # lr x 1e9 in epoch 2
    with pytest.raises(TrainError, match=r"the loss became (nan|inf) at step (3[7-9]|[4-6]\d|7[0-2]) \(epoch 2\); "
                                         r"stopped.*after step 36"):
        train(tiny, exploding)
    saved = torch.load(tmp_path / "tiny_mnist1d" / "checkpoint.pt", weights_only=False)
    assert saved["state"]["step"] == 36 and all(torch.isfinite(w).all() for w in saved["model"].values())


def test_cli_exit_codes_for_bad_data_and_a_failed_run(tmp_path):
    from typer.testing import CliRunner

    from cnnspec.cli import app
    result = CliRunner().invoke(app, ["build", str(TINY), "--train", "--data", "missing.npz"])
    assert isinstance(result.exception, SpecError) and "no training data 'missing.npz'" in str(result.exception)
    bad = subprocess.run(cli("--data", "missing.npz"), cwd=REPO, env=ONE_THREAD, capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.startswith("error: no training data 'missing.npz'")


# --- several processes ----------------------------------------------------------------------------

def test_ddp_with_two_gloo_processes_equals_one_process_with_the_global_batch(tiny, tmp_path):
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-port", "29533",
               "-m", "cnnspec", "build", str(TINY), "--train", "--no-progress", "--device", "cpu",
               "--batch-size", "50", "--runs", str(tmp_path), "--name", "ddp"]
    done = subprocess.run(command, cwd=REPO, env=ONE_THREAD, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    single = train(tiny, settings(tmp_path, name="single", batch_size=100))
    summary = json.loads((tmp_path / "ddp" / "result.json").read_text())
    assert summary["processes"] == 2 and summary["steps"] == single.history[-1]["step"]
    assert same_weights(weights(tmp_path / "ddp"), weights(tmp_path / "single"), atol=1e-5)
    assert abs(summary["test_accuracy"] - single.test_accuracy) <= 0.002


# --- pieces --------------------------------------------------------------------------------------

def test_augment_crops_a_padded_window_and_maybe_flips():
    torch.manual_seed(0)
    x = torch.arange(2 * 3 * 6 * 5, dtype=torch.float32).view(2, 3, 6, 5) + 1
    out = augment(x, padding=2)
    padded = torch.nn.functional.pad(x, (2,) * 4)
    for image, source in zip(out, padded):
        windows = [source[:, dy:dy + 6, dx:dx + 5] for dy in range(5) for dx in range(5)]
        assert any(torch.equal(image, w) or torch.equal(image, w.flip(2)) for w in windows)


def test_schedules():
    def rates(schedule, **changes):
        optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
        config = TrainConfig(schedule=schedule, lr=1.0, **changes)
        scheduler = make_scheduler(optimizer, config, total_steps=100, per_epoch=10)
        values = []
        for _ in range(100):
            values.append(optimizer.param_groups[0]["lr"])
            optimizer.step()
            scheduler.step()
        return values
    cosine = rates("cosine", warmup_epochs=1)
    assert cosine[:3] == pytest.approx([0.1, 0.2, 0.3]) and cosine[9] == cosine[10] == 1.0 and cosine[-1] < 1e-3
    assert rates("step", step_epochs=3, gamma=0.5)[29:31] == [1.0, 0.5]
    assert rates("constant") == [1.0] * 100
    one_cycle = rates("onecycle", warmup_epochs=3)
    assert max(one_cycle) == pytest.approx(1.0) and one_cycle.index(max(one_cycle)) == 29  # pct_start 0.3


def test_out_of_memory_advice_uses_the_analyzers_estimate():
    graph = load("resnet50")
    config = TrainConfig(batch_size=4096, precision="bf16")
    fixed = analyze(graph, precision="bf16-mixed", batch=0).training.total  # autocast, as training runs it
    per_image = analyze(graph, precision="bf16-mixed", batch=1).training.total - fixed
    fitting = max(b for b in (2 ** k for k in range(12)) if fixed + b * per_image < 0.8 * 80e9)
    advice = out_of_memory_advice(graph, config, int(80e9))
    assert advice.startswith("CUDA ran out of memory at batch size 4096 (the analyzer's training-memory estimate: ")
    assert advice.endswith(f"of the device's 80.00 GB); try --batch-size {fitting}")


def test_no_peak_and_no_mfu_on_a_cpu():
    assert peak_flops(torch.device("cpu"), "bf16") is None
