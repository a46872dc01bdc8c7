"""What a training run shows: the header, a row per epoch and the live status, within 80 columns;
and the CPU threads it picks."""
import os
import pty
import re
import subprocess
import sys
import time
from pathlib import Path

import torch

from cnnspec.torch.train import TINY_STEP_MACS, TrainConfig, TrainingDisplay, choose_threads

TINY = Path(__file__).parent.parent / "data" / "train" / "tiny_mnist1d.yaml"
REPO = Path(__file__).parent.parent.parent
ESCAPES = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Z0-9]|\x1b[=>]")


def test_the_status_of_a_long_run_fits_80_columns_and_keeps_every_digit():
    display = TrainingDisplay(enabled=False)
    display.start([], epochs=100, total_steps=7_200_000, step=0, images_per_step=256)
    display.began -= 500_000  # 500,000 s for the first 72,000 steps: 7,128,000 to go take 13,750 hours
    display.update(epoch=0, step=72_000, loss=12.345678)
    display.epoch_done({"epoch": 1, "step": 72_000, "train_loss": 12.3, "val_loss": 11.2, "val_acc": 0.9925,
                        "images_per_s": 1_234_567.0, "seconds": 12345.6})
    first, second = display.lines(80)
    assert len(first) <= 80 and len(second) <= 80
    assert first.startswith("epoch 2/100  step 72,000/7,200,000 ") and first.endswith(" 1%  ETA 13750:00:00")
    assert second.startswith("train loss 12.3457  val loss 11.2000  val acc 99.25%  ")
    assert len(display.row(("100/100", "7,200,000", "12.3457", "11.2000", "99.25%", "1,234,567", "12345.6s"))) <= 80


def test_a_run_on_an_80_column_terminal_shows_every_figure_within_80_columns(tmp_path):
    command = [sys.executable, "-m", "cnnspec", "build", str(TINY), "--train", "--label-smoothing", "0.1",
               "--runs", "runs"]  # in tmp_path: a short folder name, as a user's
    leader, follower = pty.openpty()
    env = {**os.environ, "COLUMNS": "80", "LINES": "50", "TERM": "xterm-256color", "OMP_NUM_THREADS": "1",
           "PYTHONPATH": str(REPO)}
    process = subprocess.Popen(command, cwd=tmp_path, env=env, stdin=follower, stdout=follower, stderr=follower)
    os.close(follower)
    chunks, deadline = [], time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    assert process.wait(timeout=60) == 0
    text = ESCAPES.sub("", b"".join(chunks).decode("utf-8", "replace"))
    lines = [line for part in text.split("\n") for line in part.split("\r") if line.strip()]
    assert max(len(line) for line in lines) <= 80, max(lines, key=len)
    assert any(line.startswith("epoch") and "val acc" in line and "img/s" in line for line in lines)
    assert "label smoothing 0.1 is in the train loss only: it sits above the val loss" in lines
    assert any(re.match(r"2/2 +72 +\d\.\d{4} +\d\.\d{4} +\d+\.\d\d% ", line) for line in lines)  # global step
    assert any(re.match(r"epoch \d/2  step \d+/72 .*ETA (\d+:\d\d:\d\d|-)$", line) for line in lines)


def test_a_tiny_model_trains_on_one_cpu_thread_unless_told_otherwise(monkeypatch):
    threads = torch.get_num_threads()
    cpu = torch.device("cpu")
    try:
        monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
        torch.set_num_threads(2)
        assert choose_threads(cpu, TrainConfig(), TINY_STEP_MACS - 1) == 1
        torch.set_num_threads(2)
        assert choose_threads(cpu, TrainConfig(), TINY_STEP_MACS) == 2  # a larger model keeps PyTorch's threads
        assert choose_threads(cpu, TrainConfig(threads=3), 10) == 3
        monkeypatch.setenv("OMP_NUM_THREADS", "2")
        torch.set_num_threads(2)
        assert choose_threads(cpu, TrainConfig(), 10) == 2  # the user's environment wins
    finally:
        torch.set_num_threads(threads)
