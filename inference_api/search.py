"""Text -> image search over a folder: the folder is embedded once into an index file that is refreshed when
files are added, removed or changed (by size and modification time); unreadable images are skipped with a warning
and remembered in the index (by size and modification time too), so they are not decoded again until they change.
A damaged index file is ignored with a warning and rebuilt.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from inference_api.image_encoder import ImageEncoder
from inference_api.text_encoder import l2_normalize
from turkish_clip.errors import InputError
from turkish_clip.files import atomic_path
from turkish_clip.images import IMAGE_EXTENSIONS, iter_image_files, preprocess
from turkish_clip.models import user_dir

log = logging.getLogger(__name__)
FORMAT = "turkish-clip-image-index"
VERSION = 1
ENV_CACHE = "TURKISH_CLIP_CACHE"


@dataclass
class ImageIndex:
    """Unit image vectors [n, dim] of a folder's readable images, row i for `paths[i]` (relative to `folder`)."""

    folder: Path
    paths: list[str]
    vectors: np.ndarray
    index_path: Path | None = None
    counts: dict = field(default_factory=dict)  # reused / embedded / removed / skipped
    skipped: list[str] = field(default_factory=list)  # relative paths of unreadable images

    def search(self, query_vector: np.ndarray, top: int = 9) -> list[tuple[Path, float]]:
        """(image path, cosine) of the `top` best matches, best first; ties keep path order."""
        if top < 1:
            raise InputError(f"--top must be >= 1, got {top}")
        query = l2_normalize(np.asarray(query_vector, np.float32).reshape(1, -1))[0]  # [dim]
        if query.shape[0] != self.vectors.shape[1]:
            raise InputError(f"query vector is {query.shape[0]}-dim but the image index {self.vectors.shape[1]}-dim; "
                             f"use the CLIP the text model was trained for")
        scores = self.vectors @ query  # [n]
        order = np.argsort(-scores, kind="stable")[:top]
        return [(self.folder / self.paths[i], float(scores[i])) for i in order]


def model_key(encoder: ImageEncoder) -> dict:
    """What makes vectors comparable: the CLIP id, its output size and resolution, and its file's size + mtime."""
    key = {"model": encoder.model_id, "dim": encoder.dim, "resolution": encoder.resolution}
    path = Path(encoder.model_id).expanduser()
    stamp = path / "config.json" if path.is_dir() else path
    if stamp.is_file():
        stat = stamp.stat()
        key["file"] = [str(stamp.resolve()), stat.st_size, stat.st_mtime_ns]
    return key


def default_index_path(folder: Path, key: dict) -> Path:
    """$TURKISH_CLIP_CACHE (default: the user folder, $TURKISH_CLIP_HOME or ~/.cache/turkish-clip)/index/<hash of
    folder + model>.npz."""
    root = Path(os.environ.get(ENV_CACHE) or user_dir()).expanduser()
    digest = hashlib.sha1(json.dumps([str(folder.resolve()), key], sort_keys=True).encode()).hexdigest()[:16]
    return root / "index" / f"{folder.resolve().name or 'root'}-{digest}.npz"


@dataclass
class _Stored:
    """What an index file remembers: vectors of readable files and the stat + reason of unreadable ones."""

    vectors: dict[str, tuple[int, int, np.ndarray]] = field(default_factory=dict)  # path: (size, mtime_ns, vector)
    skipped: dict[str, tuple[int, int, str]] = field(default_factory=dict)  # path: (size, mtime_ns, warning)


# what a damaged index file raises from np.load / zipfile / json; any of them means "rebuild it"
_UNREADABLE = (OSError, EOFError, ValueError, KeyError, TypeError, AttributeError, zipfile.BadZipFile, zlib.error)


def _read(index_path: Path, key: dict) -> _Stored:
    """The stored index made by the same model; empty if there is none, it is stale, or it cannot be read."""
    if not index_path.is_file():
        return _Stored()
    try:
        with np.load(index_path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            if (not isinstance(meta, dict) or meta.get("format") != FORMAT or meta.get("version") != VERSION
                    or meta.get("key") != key):
                log.info("index %s was made by another model or format: rebuilding it", index_path)
                return _Stored()
            vectors = {p: (int(s), int(m), v) for p, s, m, v in
                       zip(data["paths"].tolist(), data["sizes"], data["mtimes"], data["vectors"])}
            skipped = {p: (int(s), int(m), str(why)) for p, (s, m, why) in meta.get("skipped", {}).items()}
            return _Stored(vectors, skipped)
    except _UNREADABLE as error:
        log.warning("image index %s is unreadable (%s: %s): ignoring it and rebuilding it",
                    index_path, type(error).__name__, error)
        return _Stored()


def _write(index_path: Path, key: dict, paths: list[str], stats: list[tuple[int, int]], vectors: np.ndarray,
           skipped: dict[str, tuple[int, int, str]]) -> None:
    """Atomic, fsynced write (a per-process temporary file, then rename); a read-only cache folder only warns."""
    meta = json.dumps({"format": FORMAT, "version": VERSION, "key": key,
                       "skipped": {p: list(entry) for p, entry in skipped.items()}})
    try:
        index_path.parent.mkdir(parents=True, exist_ok=True)
        sizes = np.asarray([s for s, _ in stats], np.int64)
        mtimes = np.asarray([m for _, m in stats], np.int64)
        with atomic_path(index_path) as tmp, open(tmp, "wb") as f:  # a file object: savez adds no ".npz"
            np.savez(f, meta=np.asarray(meta), paths=np.asarray(paths, dtype=str), sizes=sizes, mtimes=mtimes,
                     vectors=vectors.astype(np.float32))
    except OSError as error:
        log.warning("could not write the image index %s (%s); the folder will be embedded again next time",
                    index_path, error)


def index_folder(folder: str | os.PathLike, encoder: ImageEncoder, *, index_path: str | os.PathLike | None = None,
                 recursive: bool = False, batch_size: int | None = None, progress: bool = True) -> ImageIndex:
    """Embed the folder's images, reusing the stored vectors of unchanged files; returns the up-to-date index."""
    folder = Path(folder)
    files = list(iter_image_files(folder, recursive=recursive))
    if not files:
        raise InputError(f"image folder {folder} has no images ({', '.join(sorted(IMAGE_EXTENSIONS))}); "
                         f"pass a folder that contains images")
    key = model_key(encoder)
    index_path = Path(index_path) if index_path else default_index_path(folder, key)
    stored = _read(index_path, key)
    rel = [f.relative_to(folder).as_posix() for f in files]
    stats = [(f.stat().st_size, f.stat().st_mtime_ns) for f in files]
    vectors = np.zeros((len(files), encoder.dim), np.float32)  # [n, dim]
    ok = np.ones(len(files), bool)
    skipped: dict[str, tuple[int, int, str]] = {}  # unreadable now: remembered until the file changes
    todo = []
    for i, (name, stat) in enumerate(zip(rel, stats)):
        old, bad = stored.vectors.get(name), stored.skipped.get(name)
        if old is not None and (old[0], old[1]) == stat:
            vectors[i] = old[2]
        elif bad is not None and (bad[0], bad[1]) == stat:  # failed before and unchanged: don't decode it again
            log.warning("skipping %s (unchanged since it failed)", bad[2])
            ok[i] = False
            skipped[name] = bad
        else:
            todo.append(i)
    remembered = len(skipped)
    size = batch_size or encoder.batch_size
    with tqdm(total=len(todo), unit="image", desc="embedding images", disable=not progress or not todo) as bar:
        for start in range(0, len(todo), size):
            chunk, pixels = [], []
            for i in todo[start:start + size]:
                try:
                    pixels.append(preprocess(files[i], encoder.resolution))  # [3, R, R]
                    chunk.append(i)
                except InputError as error:
                    log.warning("skipping %s", error)
                    ok[i] = False
                    skipped[rel[i]] = (*stats[i], str(error))
            if chunk:
                vectors[chunk] = encoder.encode_pixels(np.stack(pixels))  # [b, dim]
            bar.update(len(todo[start:start + size]))
    keep = np.flatnonzero(ok)
    paths, vectors, stats = [rel[i] for i in keep], vectors[keep], [stats[i] for i in keep]
    changed = len(todo) > 0 or set(stored.vectors) != set(paths) or set(stored.skipped) != set(skipped)
    if changed or not index_path.is_file():
        _write(index_path, key, paths, stats, vectors, skipped)
    counts = {"images": len(paths), "reused": len(files) - len(todo) - remembered,
              "embedded": len(todo) - (len(skipped) - remembered),
              "removed": len(set(stored.vectors) - set(rel)), "skipped": len(skipped)}
    log.info("index %s: %s", index_path, ", ".join(f"{v} {k}" for k, v in counts.items()))
    if not paths:
        raise InputError(f"none of the {len(files)} images in {folder} could be read "
                         f"(first: {folder / min(skipped)}); replace or remove them")
    return ImageIndex(folder, paths, vectors, index_path, counts, sorted(skipped))
