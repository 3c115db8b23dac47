"""Image embeddings of a test set, computed once with CLIP's image tower and cached beside the results.

Same rules as the data_tools cache: fixed row-range shards written atomically under work/ (a killed run resumes
where it stopped), assembled streaming into one .npy (memory: about one shard), and a key that must match to
reuse anything: the CLIP model (`inference_api.search.model_key`) and every image's path, size and mtime.
"""
from __future__ import annotations

import hashlib
import json
import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
from tqdm.auto import tqdm

from data_tools.shards import DamagedShardError, assemble_npy, plan_shards, shard_rows
from turkish_clip import files
from turkish_clip.files import folder_lock

log = logging.getLogger(__name__)
FORMAT = {"format": "turkish-clip-image-embeddings", "version": 1}
VECTORS, META, WORK = "image_embeddings.npy", "image_embeddings.json", "work"
SHARD_SIZE = 2048


@dataclass
class ImageEmbeddings:
    """Unit image vectors float32 [n, dim] (memory-mapped), row i for image i of the set."""

    vectors: np.ndarray
    folder: Path
    counts: dict = field(default_factory=dict)  # embedded / reused images

    def info(self) -> dict:
        return {"folder": str(self.folder), **self.counts}


def images_key(paths: Sequence[Path], model: dict) -> dict:
    """What makes stored vectors valid: the CLIP model key and a digest of each image's path, size and mtime."""
    digest = hashlib.sha256()
    for path in paths:
        stat = Path(path).stat()
        digest.update(f"{Path(path).resolve()}\t{stat.st_size}\t{stat.st_mtime_ns}\n".encode())
    return {"model": model, "images": len(paths), "images_sha256": digest.hexdigest()}


def cache_folder(root: Path | str, name: str, key: dict) -> Path:
    """root/<set name>-<hash of the key>: a different model or a changed image never reuses old vectors."""
    digest = hashlib.sha1(json.dumps(key, sort_keys=True).encode()).hexdigest()[:12]
    safe = "".join(c if c.isalnum() or c in "-_." else "-" for c in name).strip("-") or "images"
    return Path(root) / f"{safe}-{digest}"


def _load_finished(folder: Path, key: dict) -> np.ndarray | None:
    meta_path, vectors_path = folder / META, folder / VECTORS
    if not (meta_path.is_file() and vectors_path.is_file()):
        return None
    meta = files.read_json_file(meta_path)
    if meta.get("key") != key:
        log.info("%s was made from other images or another model: recomputing", folder)
        return None
    try:
        vectors = np.load(vectors_path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError) as error:  # a cache: recompute what is damaged
        log.warning("%s is damaged (%s): recomputing it", vectors_path, error)
        return None
    return vectors if vectors.shape[0] == key["images"] else None


def _shard_done(path: Path, rows: int) -> bool:
    if not path.is_file():
        return False
    try:
        return shard_rows(path) == rows
    except DamagedShardError as error:
        log.warning("%s; recomputing it", error)
        path.unlink()
        return False


def embed_images(paths: Sequence[Path], encoder, root: Path | str, name: str, *, shard_size: int = SHARD_SIZE,
                 batch_size: int | None = None, progress: bool = True) -> ImageEmbeddings:
    """CLIP image vectors of `paths` in order, reusing finished shards or a finished file under `root`.

    encoder: a `inference_api.image_encoder.ImageEncoder`; an unreadable image raises InputError naming it.
    """
    from inference_api.search import model_key

    paths = [Path(p) for p in paths]
    key = images_key(paths, model_key(encoder))
    folder = cache_folder(root, name, key)
    folder.mkdir(parents=True, exist_ok=True)
    with folder_lock(folder, wait=True):  # two evaluations sharing a cache: one computes, the other then reuses
        return _embed_locked(paths, encoder, folder, name, key, shard_size, batch_size, progress)


def _embed_locked(paths, encoder, folder, name, key, shard_size, batch_size, progress) -> ImageEmbeddings:
    done = _load_finished(folder, key)
    if done is not None:
        if (folder / WORK).is_dir():  # killed after the final file was written, before the clean-up
            shutil.rmtree(folder / WORK)
        log.info("image embeddings of %s reused from %s", name, folder)
        return ImageEmbeddings(done, folder, {"embedded": 0, "reused": len(paths)})
    work = folder / WORK
    work.mkdir(parents=True, exist_ok=True)
    files.remove_stale_tmp(work)
    state_path = work / "state.json"
    state = files.read_json_file(state_path) if state_path.is_file() else None
    if state is None or state.get("key") != key:
        if state is not None:
            shutil.rmtree(work)
            work.mkdir(parents=True)
        state = {"key": key, "shard_size": shard_size}
        files.write_json_atomic(state_path, state)
    shards = plan_shards(len(paths), state["shard_size"])
    shard_path = {s.index: work / f"{s.name}.npy" for s in shards}
    todo = [s for s in shards if not _shard_done(shard_path[s.index], s.rows)]
    reused = len(paths) - sum(s.rows for s in todo)
    size = batch_size or encoder.batch_size
    with tqdm(total=len(paths), initial=reused, unit="image", desc=f"embedding images ({name})",
              disable=not progress or not todo) as bar:
        for shard in todo:
            out = np.zeros((shard.rows, encoder.dim), np.float32)  # [shard rows, dim]
            for start in range(shard.start, shard.stop, size):
                stop = min(start + size, shard.stop)
                out[start - shard.start:stop - shard.start] = encoder.encode(paths[start:stop])  # [b, dim], unit
                bar.update(stop - start)
            files.write_npy_atomic(shard_path[shard.index], out)
    with files.atomic_path(folder / VECTORS) as tmp:
        assemble_npy([shard_path[s.index] for s in shards], tmp, "float32")
    files.write_json_atomic(folder / META, {**FORMAT, "key": key, "name": name,
                                            "paths": [str(p) for p in paths]})
    shutil.rmtree(work)
    log.info("image embeddings of %s: %d embedded, %d reused, in %s", name, len(paths) - reused, reused, folder)
    return ImageEmbeddings(np.load(folder / VECTORS, mmap_mode="r"), folder,
                           {"embedded": len(paths) - reused, "reused": reused})
