"""Checkpoints on resume: damaged bytes refused (with the earlier checkpoint to go back to), changed
settings refused unless --override (then logged), a changed spec named in one line; and the trained
model exported by build --train --out/--onnx/--python."""
import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from cnnspec.errors import SpecError, TrainError
from cnnspec.graph import build_graph, load
from cnnspec.spec import parse_spec
from cnnspec.torch.train import PREVIOUS, TrainConfig, checksum, train

TINY = Path(__file__).parent.parent / "data" / "train" / "tiny_mnist1d.yaml"


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


def weights(path: Path) -> dict:
    return torch.load(path, weights_only=True)["model"]


def test_a_flipped_bit_in_a_weight_is_refused_and_the_earlier_checkpoint_takes_the_run_back(tiny, tmp_path):
    whole = train(tiny, settings(tmp_path))
    checkpoint = tmp_path / "tiny_mnist1d" / "checkpoint.pt"
    trained = weights(checkpoint)
    data = bytearray(checkpoint.read_bytes())
    at = data.find(trained["fc1.weight"].numpy().tobytes())  # torch.save stores tensor bytes uncompressed
    assert at > 0
    data[at + 101] ^= 0x04  # one bit of one weight
    checkpoint.write_bytes(bytes(data))
    message = (f"--resume: the checkpoint {checkpoint} is damaged (its checksum does not match its contents: bytes "
               f"changed after it was written); refused and left as it is. The earlier checkpoint "
               f"{checkpoint.with_name(PREVIOUS)} (epoch 1, step 36) is whole: to go back to it, "
               f"`mv {checkpoint.with_name(PREVIOUS)} {checkpoint}` and resume again")
    with pytest.raises(TrainError) as error:
        train(tiny, settings(tmp_path, resume=True))
    assert str(error.value) == message
    assert checkpoint.read_bytes() == bytes(data)
    checkpoint.with_name(PREVIOUS).replace(checkpoint)  # what the message says to do
    again = train(tiny, settings(tmp_path, resume=True))
    assert again.test_accuracy == whole.test_accuracy
    assert all(torch.equal(trained[k], weights(checkpoint)[k]) for k in trained)


def test_a_hundred_corrupted_bytes_are_refused(tiny, tmp_path):
    train(tiny, settings(tmp_path, epochs=1))
    checkpoint = tmp_path / "tiny_mnist1d" / "checkpoint.pt"
    data = bytearray(checkpoint.read_bytes())
    middle = len(data) // 2
    data[middle:middle + 100] = np.random.default_rng(0).integers(0, 256, 100, dtype=np.uint8).tobytes()
    checkpoint.write_bytes(bytes(data))
    with pytest.raises(TrainError, match=re.escape(f"the checkpoint {checkpoint} is damaged (")):
        train(tiny, settings(tmp_path, epochs=1, resume=True))


def test_the_checksum_covers_tensors_and_settings():
    contents = {"model": {"w": torch.zeros(3)}, "config": {"lr": 0.05}}
    assert checksum(contents) == checksum({"model": {"w": torch.zeros(3)}, "config": {"lr": 0.05}})
    assert checksum(contents) != checksum({"model": {"w": torch.tensor([0.0, 0.0, 1e-30])}, "config": {"lr": 0.05}})
    assert checksum(contents) != checksum({"model": {"w": torch.zeros(3)}, "config": {"lr": 0.5}})
    assert checksum(contents) != checksum({"model": {"w": torch.zeros(3, dtype=torch.float64)}, "config": {"lr": 0.05}})


def test_changed_settings_are_refused_unless_overridden_and_the_override_is_logged(tiny, tmp_path):
    train(tiny, settings(tmp_path, name="run", schedule="constant"))
    with pytest.raises(SpecError, match=r"--resume: batch_size \(100 -> 10\) cannot change within a run"):
        train(tiny, settings(tmp_path, name="run", resume=True, lr=0.5, batch_size=10, schedule="constant"))
    with pytest.raises(SpecError, match=r"has lr=0.05, and this asks for lr=0.5: leave those options out .* "
                                        r"or pass --override"):
        train(tiny, settings(tmp_path, name="run", resume=True, lr=0.5, schedule="constant"))
    # settings not asked for come from the checkpoint: a bare --resume continues the run as it was
    assert train(tiny, TrainConfig(runs=str(tmp_path), name="run", resume=True, progress=False),
                 given=set()).history[-1]["step"] == 72
    longer = train(tiny, settings(tmp_path, name="run", resume=True, lr=0.5, epochs=3, schedule="constant"),
                   override=True)
    assert [row["step"] for row in longer.history] == [36, 72, 108]
    log = (tmp_path / "run" / "log.txt").read_text().splitlines()
    assert "started tiny_mnist1d" in log[0] and log[-1].endswith("override at step 72: epochs 2 -> 3; lr 0.05 -> 0.5")
    assert json.loads((tmp_path / "run" / "result.json").read_text())["log"][-1] == log[-1]
    assert [row["lr"] for row in longer.history] == [0.05, 0.05, 0.5]  # the new rate from step 72 on


def test_a_changed_spec_is_named_in_one_line(tiny, tmp_path):
    train(tiny, settings(tmp_path))
    edited = build_graph(parse_spec(TINY.read_text().replace(
        "  - {conv1d: {out_channels: 8, kernel_size: 3, stride: 2}}\n  - relu\n  - flatten",
        "  - {conv1d: {out_channels: 16, kernel_size: 3, stride: 2}}\n  - relu\n  - flatten"), str(TINY)))
    with pytest.raises(SpecError) as error:
        train(edited, settings(tmp_path, resume=True))
    message = str(error.value)
    assert "\n" not in message and "changed since" in message
    assert "layer 'conv2' was Conv1d(out_channels=8," in message and "and is Conv1d(out_channels=16," in message
    with pytest.raises(SpecError, match=r"'conv2.weight' is \[8, 8, 3\] in .* and \[16, 8, 3\] in the spec") as error:
        train(edited, settings(tmp_path, resume=True), override=True)
    assert "\n" not in str(error.value)


def test_build_train_exports_the_trained_model(tmp_path):
    from safetensors.torch import load_file
    from typer.testing import CliRunner

    from cnnspec.cli import app
    from cnnspec.torch.build import build_module
    from cnnspec.torch.data import load_arrays
    out, python = tmp_path / "w.safetensors", tmp_path / "tiny.py"
    result = CliRunner().invoke(app, ["build", str(TINY), "--train", "--epochs", "2", "--no-progress", "--runs",
                                      str(tmp_path), "--out", str(out), "--python", str(python)])
    assert result.exit_code == 0, result.output
    assert f"weights (trained): {out}" in result.output
    reported = json.loads((tmp_path / "tiny_mnist1d" / "result.json").read_text())["test_accuracy"]
    graph = load(str(TINY))
    model = build_module(graph, seed=5).eval()  # other weights, until the trained ones are loaded
    model.load_state_dict(load_file(str(out)))
    arrays = load_arrays("mnist1d", graph.input_shape, 10)
    with torch.no_grad():
        predicted = model(torch.as_tensor(arrays.x_test)).argmax(1).numpy()
    assert (predicted == arrays.y_test).mean() == reported > 0.2
    assert f"trained by cnnspec (test accuracy {reported:.2%}): model.load_state_dict(safetensors" in \
        python.read_text()
