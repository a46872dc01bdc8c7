"""Training data: the built-in sets, the user's .npz and image folders, and their bad-input messages."""
import numpy as np
import pytest
from PIL import Image

from cnnspec.torch.data import load_arrays
from cnnspec.errors import SpecError


def test_mnist1d_is_generated_locally_with_the_published_split():
    state = np.random.get_state()
    arrays = load_arrays("mnist1d", (1, 40), 10, val_fraction=0.1)
    assert arrays.sizes == (3600, 400, 1000)
    assert arrays.x_train.shape == (3600, 1, 40) and arrays.x_train.dtype == np.float32
    assert sorted(set(arrays.y_test)) == list(range(10))
    assert np.array_equal(np.random.get_state()[1], state[1])  # the caller's NumPy generator is untouched


def test_mnist1d_flat_for_an_mlp_is_the_same_samples_normalized_per_feature():
    flat = load_arrays("mnist1d", (40,), 10)
    sequence = load_arrays("mnist1d", (1, 40), 10)
    assert np.array_equal(flat.y_train, sequence.y_train) and np.array_equal(flat.y_val, sequence.y_val)
    assert np.allclose(flat.x_train.mean(axis=0), 0, atol=1e-5) and np.allclose(flat.x_train.std(axis=0), 1, atol=1e-4)
    assert np.allclose(sequence.x_train.mean(), 0, atol=1e-5) and not np.allclose(sequence.x_train.mean(axis=0), 0,
                                                                                   atol=1e-2)


def test_training_split_is_normalized_per_channel_and_others_with_its_statistics():
    arrays = load_arrays("digits", (1, 8, 8), 10, val_fraction=0.2)
    assert arrays.sizes == (1150, 287, 360)
    assert abs(arrays.x_train.mean()) < 1e-5 and abs(arrays.x_train.std() - 1) < 1e-4
    assert abs(arrays.x_test.mean()) > 1e-4  # the test split is not normalized with its own statistics


def test_digits_split_depends_on_the_seed():
    assert not np.array_equal(load_arrays("digits", (1, 8, 8), 10, seed=0).y_test,
                              load_arrays("digits", (1, 8, 8), 10, seed=1).y_test)


def test_synthetic_has_the_spec_shape_and_size():
    arrays = load_arrays("synthetic:100", (3, 5, 7), 4, val_fraction=0.0)
    assert arrays.x_train.shape == (100, 3, 5, 7) and arrays.sizes == (100, 0, 512)
    assert arrays.y_train.max() < 4
    with pytest.raises(SpecError, match="synthetic:' must be a positive whole number"):
        load_arrays("synthetic:lots", (3, 5, 7), 4)


def save_npz(path, **arrays):
    np.savez(path, **arrays)
    return str(path)


def test_npz_with_and_without_a_test_split(tmp_path):
    x, y = np.arange(200, dtype=np.float32).reshape(50, 4), np.arange(50) % 3
    both = load_arrays(save_npz(tmp_path / "a.npz", x=x, y=y, x_test=x[:7], y_test=y[:7]), (4,), 3, val_fraction=0)
    assert both.sizes == (50, 0, 7)
    held_out = load_arrays(save_npz(tmp_path / "b.npz", x=x, y=y), (2, 2), 3, val_fraction=0.1)
    assert held_out.sizes == (36, 4, 10) and held_out.x_train.shape[1:] == (2, 2)


def test_npz_errors_name_the_problem(tmp_path):
    x = np.zeros((10, 5), dtype=np.float32)
    with pytest.raises(SpecError, match=r"samples of shape \[5\], which does not fit the spec's input \[1, 40\]"):
        load_arrays(save_npz(tmp_path / "a.npz", x=x, y=np.zeros(10)), (1, 40), 10)
    with pytest.raises(SpecError, match=r"labels 3\.\.12, outside the head's 10 classes \(0\.\.9\)"):
        load_arrays(save_npz(tmp_path / "b.npz", x=x, y=np.arange(10) + 3), (5,), 10)
    with pytest.raises(SpecError, match="needs arrays 'x' and 'y' \\(found: inputs\\)"):
        load_arrays(save_npz(tmp_path / "c.npz", inputs=x), (5,), 10)
    (tmp_path / "d.npz").write_bytes(b"not a zip file")
    with pytest.raises(SpecError, match="cannot read the .npz"):
        load_arrays(str(tmp_path / "d.npz"), (5,), 10)
    with pytest.raises(SpecError, match="no training data 'nowhere.npz': not a file or folder"):
        load_arrays("nowhere.npz", (5,), 10)


def image_folder(root, classes, count=5, size=(12, 10), mode="RGB"):
    for index, name in enumerate(classes):
        (root / name).mkdir(parents=True)
        for k in range(count):
            Image.new(mode, size, (index * 80, k * 20, 0) if mode == "RGB" else index * 80).save(
                root / name / f"{k}.png")
    return str(root)


def test_image_folder_is_resized_to_the_spec_input_with_one_label_per_folder(tmp_path):
    arrays = load_arrays(image_folder(tmp_path / "images", ["cat", "dog", "eel"]), (3, 8, 6), 3, val_fraction=0)
    assert arrays.images and sum(arrays.sizes) == 15 and arrays.x_train.shape[1:] == (3, 8, 6)
    labels = np.concatenate([arrays.y_train, arrays.y_test])
    assert sorted(labels) == [0] * 5 + [1] * 5 + [2] * 5
    grey = load_arrays(str(tmp_path / "images"), (1, 4, 4), 3)
    assert grey.x_train.shape[1:] == (1, 4, 4)


def test_image_folder_errors(tmp_path):
    root = image_folder(tmp_path / "images", ["a", "b"])
    (tmp_path / "images" / "c").mkdir()
    with pytest.raises(SpecError, match="the class folder 'c' has no images"):
        load_arrays(root, (3, 8, 8), 3)
    with pytest.raises(SpecError, match="no class subfolders"):
        load_arrays(str(tmp_path / "images" / "c"), (3, 8, 8), 3)
    with pytest.raises(SpecError, match=r"an image folder needs a spec input \[1 or 3, H, W\]. Received: \[40\]"):
        load_arrays(root, (40,), 3)
    (tmp_path / "images" / "c" / "broken.png").write_bytes(b"no image")
    with pytest.raises(SpecError, match="broken.png: not a readable image"):
        load_arrays(root, (3, 8, 8), 3)
