"""CIFAR test sets from the python-version pickles (extracted once to PNG) or from a class-folder tree."""
from __future__ import annotations

import pickle

import numpy as np
import pytest
from PIL import Image

from turkish_clip.errors import InputError
from evaluation.datasets_cifar import load_cifar
from evaluation.labels import names_for


def _batch(folder, name, key, pixels, labels):
    folder.mkdir(parents=True)
    flat = pixels.transpose(0, 3, 1, 2).reshape(len(pixels), -1)  # CIFAR rows: R plane, G plane, B plane
    with open(folder / name, "wb") as f:
        pickle.dump({b"data": flat, key: labels}, f)


def test_cifar10_pickle_is_extracted_once_with_exact_pixels(tmp_path):
    pixels = np.random.default_rng(0).integers(0, 256, (4, 32, 32, 3), dtype=np.uint8)
    _batch(tmp_path / "cifar-10-batches-py", "test_batch", b"labels", pixels, [3, 0, 9, 3])
    dataset, english = load_cifar(tmp_path, "cifar10", tmp_path / "cache")
    assert dataset.labels == [3, 0, 9, 3] and english[3] == "cat" and len(english) == 10
    assert names_for(english, "cifar10")[3] == "kedi"
    np.testing.assert_array_equal(np.asarray(Image.open(dataset.image_paths[2])), pixels[2])
    stamp = dataset.image_paths[0].stat().st_mtime_ns
    again, _ = load_cifar(tmp_path / "cifar-10-batches-py" / "test_batch", "cifar10", tmp_path / "cache")
    assert again.image_paths == dataset.image_paths and again.image_paths[0].stat().st_mtime_ns == stamp


def test_cifar100_uses_fine_labels(tmp_path):
    pixels = np.zeros((2, 32, 32, 3), np.uint8)
    _batch(tmp_path / "cifar-100-python", "test", b"fine_labels", pixels, [1, 99])
    dataset, english = load_cifar(tmp_path / "cifar-100-python", "cifar100", tmp_path / "cache")
    assert dataset.labels == [1, 99] and english[1] == "aquarium fish" and len(dataset.classes) == 100


def test_class_folders_are_named_by_english_classes(tmp_path):
    for name in ("cat", "ship"):
        (tmp_path / "tree" / name).mkdir(parents=True)
        Image.new("RGB", (32, 32)).save(tmp_path / "tree" / name / "0.png")
    dataset, english = load_cifar(tmp_path / "tree", "cifar10", tmp_path / "cache")
    assert english == ["cat", "ship"] and dataset.labels == [0, 1]
    (tmp_path / "tree" / "zebra").mkdir()
    Image.new("RGB", (32, 32)).save(tmp_path / "tree" / "zebra" / "0.png")
    with pytest.raises(InputError, match="'zebra' is not a cifar10 class name"):
        load_cifar(tmp_path / "tree", "cifar10", tmp_path / "cache")


def test_damaged_batch_names_the_file(tmp_path):
    (tmp_path / "test_batch").write_bytes(b"not a pickle")
    with pytest.raises(InputError, match="test_batch: not a cifar10 python-version test batch"):
        load_cifar(tmp_path / "test_batch", "cifar10", tmp_path / "cache")
