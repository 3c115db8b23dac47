"""What a run was trained on: the cache's provenance (recorded in state.json, checked by `--resume`) and the
training data's record (exclusion lists, the image ids trained on) written into student.json and the student folder.
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from data_tools import cache
from turkish_clip.errors import UserError
from turkish_clip.files import file_sha256

log = logging.getLogger(__name__)
TRAINING_IMAGE_IDS = "training_image_ids.npy"  # sorted unique COCO image ids of the training split (int64)
KARPATHY_HELD_OUT = ("test", "val")
# manifest entries that change the training data, and the fields of each that identify what was computed
_STEPS = {"captions": ("sha256", "count"), "translation": ("key", "count", "captions_sha256"),
          "teacher": ("key", "model", "dim", "count", "captions_sha256"), "images": ("key", "count", "sha256")}
_FILES = {"translation": cache.TRANSLATIONS, "teacher": cache.TEACHER}


def cache_provenance(data_dir: str | Path, manifest: dict | None = None) -> dict:
    """{step: {identifying fields..., "sha256" of its file}} for the cache's captions, translations, teacher
    vectors (and image vectors, when a cache has them): enough to tell that any of them changed."""
    data_dir = Path(data_dir)
    manifest = manifest if manifest is not None else cache.read_manifest(data_dir)
    out = {}
    for step, fields in _STEPS.items():
        info = manifest.get(step)
        if not isinstance(info, dict):
            continue
        record = {k: info.get(k) for k in fields}
        path = data_dir / _FILES[step] if step in _FILES else None
        if path is not None and path.is_file():
            record["sha256"] = file_sha256(path)
        out[step] = record
    return out


def check_provenance(run_dir: Path, recorded: dict | None, current: dict) -> None:
    """Refuse to resume a run on a cache that changed since it started, naming what changed."""
    if recorded is None:
        log.warning("--resume: %s/state.json records no cache provenance (an older run); cannot check that the "
                    "cache is unchanged", run_dir)
        return
    names = {"captions": "captions", "translation": "translations", "teacher": "teacher vectors",
             "images": "image vectors"}
    changes = []
    for step in sorted(set(recorded) | set(current)):
        old, new = recorded.get(step), current.get(step)
        if old == new:
            continue
        if old is None or new is None:
            changes.append(f"{names.get(step, step)} {'added' if old is None else 'removed'}")
            continue
        diff = ", ".join(f"{k} {_short(old.get(k))} -> {_short(new.get(k))}" for k in sorted(set(old) | set(new))
                         if old.get(k) != new.get(k))
        changes.append(f"{names.get(step, step)} changed ({diff})")
    if changes:
        raise UserError(f"--resume: the cache changed since {run_dir} started: {'; '.join(changes)}; resuming would "
                        f"mix two training sets: start a new run_dir (or restore the cache the run started with)")


def _short(value) -> str:
    text = repr(value)
    return text[:14] + "…'" if isinstance(value, str) and len(value) == 64 else text[:120]


def training_data(manifest: dict, data_dir: str | Path, image_ids: np.ndarray, caption_ids: np.ndarray
                  ) -> tuple[dict, np.ndarray]:
    """(student.json's "training_data" record, sorted unique image ids trained on) from the cache's manifest and
    the training split's image ids (groups; < 0 = no image) and caption ids. Warns when Karpathy test/val captions
    are trained on (a cache built with the Karpathy exclusion turned off)."""
    stats = (manifest.get("captions") or {}).get("stats") or {}
    ids = np.unique(np.asarray(image_ids, np.int64))
    ids = ids[ids >= 0]
    record = {"data_dir": str(data_dir),
              "captions_sha256": (manifest.get("captions") or {}).get("sha256"),
              "split_source": stats.get("split_source"), "exclusion": stats.get("exclusion"),
              "exclusions": stats.get("exclusions", []), "images": int(len(ids)),
              "image_ids_file": TRAINING_IMAGE_IDS}
    table = cache.load_table(data_dir, "captions", columns=["caption_id", "split"])
    splits = table.loc[table["caption_id"].isin(np.asarray(caption_ids)), "split"]
    if stats.get("split_source", "").startswith("the Karpathy file"):
        held = int(splits.astype(str).isin(KARPATHY_HELD_OUT).sum())
        record["karpathy_test_val_captions"] = held
        if held:
            log.warning("%d training captions belong to Karpathy test/val images: do not report COCO Karpathy test "
                        "results for this student (rebuild the captions with --karpathy and the default exclusion)",
                        held)
    return record, ids


def read_training_image_ids(model_dir: str | Path) -> np.ndarray | None:
    """The image ids a saved student was trained on, or None when the folder does not record them."""
    path = Path(model_dir) / TRAINING_IMAGE_IDS
    return np.load(path, allow_pickle=False) if path.is_file() else None
