"""Shared test set-up: offline hub, paths to shipped samples and to ../shared, tiny-model fixtures.

Tiny models are built through `data_tools.tiny` / `distill.tiny` in the *real* checkpoint formats, once per
session, and loaded back through the same loaders as real checkpoints.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

# Never touch the network, and keep TF quiet and on tf-keras (transformers' TF models need it).
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "tests" / "samples"
SHARED = Path(os.environ.get("TURKISH_CLIP_SHARED", REPO.parent / "shared"))


@pytest.fixture(scope="session")
def samples_dir() -> Path:
    return SAMPLES


@pytest.fixture(scope="session")
def coco_sample_json() -> Path:
    """300 real COCO val2017 captions (60 images, 4 of them XTD10 images); CC BY 4.0."""
    return SAMPLES / "coco_captions_val2017_sample.json"


@pytest.fixture(scope="session")
def tatoeba_sample_tsv() -> Path:
    """300 real Tatoeba EN–TR pairs; CC BY 2.0 FR, Tatoeba.org and its contributors."""
    return SAMPLES / "tatoeba_eng_tur_sample.tsv"


def shared_path(relative: str) -> Path:
    """A file under ../shared, or skip the test with the reason (a fresh clone has no ../shared)."""
    path = SHARED / relative
    if not path.exists():
        pytest.skip(f"needs {path} (the team's ../shared folder; absent in a fresh clone)")
    return path


@pytest.fixture(scope="session")
def coco_val2017_json() -> Path:
    return shared_path("data/coco/captions_val2017.json.gz")
