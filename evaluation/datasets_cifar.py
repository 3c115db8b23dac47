"""CIFAR-10 / CIFAR-100 test sets for zero-shot classification, from the user's own copy.

Accepted: the "python version" archives as unpacked (cifar-10-batches-py/test_batch, cifar-100-python/test, or
the folder holding them), or an image folder root/<English class name>/<images>. Pickled images are written
once as PNG files under `extract_dir` so that they are cached and embedded like any other image.
"""
from __future__ import annotations

import logging
import pickle
from pathlib import Path

import numpy as np
from PIL import Image

from turkish_clip.errors import InputError
from evaluation.classification import ClassificationSet, load_image_folder
from evaluation.labels import class_names

log = logging.getLogger(__name__)
TEST_FILES = {"cifar10": "test_batch", "cifar100": "test"}
LABEL_KEYS = {"cifar10": b"labels", "cifar100": b"fine_labels"}
SIDE = 32


def _test_file(source: Path, dataset: str) -> Path | None:
    """The pickled test batch inside `source` (itself, or one or two folder levels down), else None."""
    name = TEST_FILES[dataset]
    for candidate in (source, source / name, *source.glob(f"*/{name}")):
        if candidate.is_file() and candidate.name == name:
            return candidate
    return None


def _read_batch(path: Path, dataset: str) -> tuple[np.ndarray, list[int]]:
    """Pixels uint8 [n, 32, 32, 3] and labels of a pickled CIFAR batch."""
    try:
        with open(path, "rb") as f:
            batch = pickle.load(f, encoding="bytes")
        data = np.asarray(batch[b"data"], np.uint8).reshape(-1, 3, SIDE, SIDE).transpose(0, 2, 3, 1)
        labels = [int(v) for v in batch[LABEL_KEYS[dataset]]]
    except (OSError, pickle.UnpicklingError, KeyError, ValueError, TypeError, EOFError) as error:
        raise InputError(f"{path}: not a {dataset} python-version test batch ({type(error).__name__}); pass the "
                         f"unpacked {'cifar-10-batches-py' if dataset == 'cifar10' else 'cifar-100-python'} "
                         "folder or an image folder root/<class>/") from None
    if len(labels) != len(data):
        raise InputError(f"{path}: {len(data)} images but {len(labels)} labels; the file is damaged")
    return data, labels


def _extract(data: np.ndarray, folder: Path) -> list[Path]:
    """PNG files folder/<i:05d>.png, written once (a marker file records completion)."""
    paths = [folder / f"{i:05d}.png" for i in range(len(data))]
    marker = folder / ".complete"
    if marker.is_file() and marker.read_text().strip() == str(len(data)):
        return paths
    folder.mkdir(parents=True, exist_ok=True)
    for path, pixels in zip(paths, data):
        Image.fromarray(pixels).save(path, format="PNG")
    marker.write_text(f"{len(data)}\n")
    log.info("wrote %d PNG images to %s", len(data), folder)
    return paths


def load_cifar(source: Path | str, dataset: str, extract_dir: Path | str) -> tuple[ClassificationSet, list[str]]:
    """The CIFAR test set and its English class names in label order (Turkish: `evaluation.labels.names_for`)."""
    if dataset not in TEST_FILES:
        raise InputError(f"unknown CIFAR dataset {dataset!r}; use one of {', '.join(TEST_FILES)}")
    source = Path(source)
    if not source.exists():
        raise InputError(f"{source} does not exist; pass your unpacked {dataset} python-version folder "
                         "or an image folder root/<class>/")
    english = class_names(dataset, "en")
    batch = _test_file(source, dataset)
    if batch is None:
        if not source.is_dir():
            raise InputError(f"{source} is not a {dataset} test batch ({TEST_FILES[dataset]}) or a folder")
        folder_set = load_image_folder(source, name=f"{dataset}-test")
        keys = [c.replace("_", " ") for c in folder_set.classes]
        unknown = [k for k in keys if k.lower() not in {e.lower() for e in english}]
        if unknown:
            raise InputError(f"{source}: sub-folder {unknown[0]!r} is not a {dataset} class name; name the "
                             f"folders by the English {dataset} classes (e.g. {english[0]})")
        return folder_set, keys
    data, labels = _read_batch(batch, dataset)
    paths = _extract(data, Path(extract_dir) / f"{dataset}-test-png")
    result = ClassificationSet(name=f"{dataset}-test", image_paths=paths, labels=labels, classes=english,
                               source={"batch": batch})
    return result, english
