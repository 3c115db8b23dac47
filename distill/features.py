"""Pooled features of the frozen encoder, computed once per run and kept in the run folder.

With the encoder frozen (stage 1) its mean-pooled outputs never change, so stage 1 needs one encoder pass over the
data, not one per epoch. Features are written in chunks to a memory-mapped .npy (float16 by default) with a small
JSON beside it recording how many chunks are complete and what they were computed from: a killed run resumes at the
first missing chunk, and a changed model, max_length or text set starts the file again. RAM stays bounded by one
chunk, whatever the number of captions.
"""
from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from turkish_clip.batching import encode_sorted
from turkish_clip.files import atomic_path

log = logging.getLogger(__name__)
CHUNK = 4096  # rows per resumable unit (length-sorted inside, so padding stays small)


def ids_key(ids: list[np.ndarray], *parts: str) -> str:
    """sha256 of the token ids (lengths and values) and of `parts` (model, max_length): what the features depend on."""
    digest = hashlib.sha256("\x1f".join(parts).encode())
    digest.update(np.fromiter((len(x) for x in ids), np.int64, len(ids)).tobytes())
    for x in ids:
        digest.update(np.asarray(x, np.int32).tobytes())
    return digest.hexdigest()


def cached_features(path: Path, ids: list[np.ndarray], pool_fn, hidden: int, key: str, *, batch_size: int = 128,
                    pad_id: int = 0, pad_multiple: int = 1, dtype: str = "float16", progress: bool = True) -> np.ndarray:
    """Features [n, hidden] of tokenised texts, read-only memmap; computed by `pool_fn(batch) -> [b, hidden]` once.

    `path` is the .npy; `path.with_suffix('.json')` its progress. Rows are in input order.
    """
    from .data import pad_to_multiple

    path, meta_path = Path(path), Path(path).with_suffix(".json")
    n, chunks = len(ids), -(-len(ids) // CHUNK)
    want = {"key": key, "rows": n, "hidden": hidden, "dtype": dtype, "chunk": CHUNK}
    meta = _read_meta(meta_path)
    if meta is None or {k: meta.get(k) for k in want} != want or not path.is_file():
        if meta is not None:
            log.info("%s was computed from other texts or options: computing the features again", path)
        path.parent.mkdir(parents=True, exist_ok=True)
        np.lib.format.open_memmap(path, mode="w+", dtype=dtype, shape=(n, hidden)).flush()
        meta = {**want, "done": 0}
        _write_meta(meta_path, meta)
    elif meta["done"] == chunks:
        log.info("reusing frozen-encoder features %s (%d rows)", path, n)
        return np.load(path, mmap_mode="r")
    else:
        log.info("resuming frozen-encoder features %s at chunk %d of %d", path, meta["done"] + 1, chunks)
    out = np.load(path, mmap_mode="r+")
    with tqdm(total=n, initial=min(n, meta["done"] * CHUNK), unit="text", desc=f"features {path.stem}",
              disable=not progress) as bar:
        for c in range(meta["done"], chunks):
            start = c * CHUNK
            part = ids[start:start + CHUNK]

            def pool_batch(index: np.ndarray, part=part) -> np.ndarray:
                pooled = pool_fn(pad_to_multiple([part[i] for i in index], pad_id, pad_multiple))  # [b, hidden]
                bar.update(len(index))
                return pooled

            block = encode_sorted([len(x) for x in part], pool_batch, hidden, batch_size=batch_size)  # [rows, hidden]
            out[start:start + len(part)] = block.astype(dtype)
            out.flush()  # rows on disk before the progress file says so
            meta["done"] = c + 1
            _write_meta(meta_path, meta)
    del out
    return np.load(path, mmap_mode="r")


def _read_meta(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):  # absent or damaged: recompute from the start
        return None


def _write_meta(path: Path, meta: dict) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(meta) + "\n", encoding="utf-8")
