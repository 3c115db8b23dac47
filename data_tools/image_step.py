"""The images step: CLIP image vectors of every image of captions.parquet, as a resumable `ShardedStep`.

Rows are the distinct image ids of captions.parquet (sorted); each shard is a parquet table image_id, file, status
(ok | missing | corrupt), vector. Decoding and CLIP preprocessing run in worker threads (PIL releases the GIL)
a few batches ahead of the model, so the model is not left waiting for pixels. Assembly keeps the images that
have a vector: images.parquet (image_id, file) and images.npy [images, dim], row-aligned; skipped images are
named in warnings when met and counted in the manifest and the summary.
"""
from __future__ import annotations

import logging
import math
import os
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from data_tools import cache
from turkish_clip.errors import InputError, UserError
from turkish_clip.images import CLIP_MEAN, CLIP_STD, preprocess
from data_tools.shards import ShardedStep, StepOutcome

log = logging.getLogger(__name__)
CLIP_LOGIT_SCALE = 100.0  # exp(logit_scale) of OpenAI's released checkpoints, used when a model has none
EXAMPLES = 20  # skipped image ids named in the manifest (each one is also named in a warning when met)


@dataclass
class ImagesConfig:
    """CLIP image vectors of the captions' images, read from `image_dir` (COCO / Flickr8k file names)."""

    image_dir: str = "images"
    clip: str | None = None  # CLIP name/.pt or HF id/folder; None: the teacher's CLIP (else ViT-B/32)
    dtype: str = "float16"
    batch_size: int = 64
    shard_size: int = 2048
    workers: int | None = None  # decoding threads; None: min(4, CPU cores); 0: decode in the model's thread
    device: str | None = None
    fp16: bool | None = None  # compute in fp16 (default: on CUDA only)

    def key(self) -> dict:
        """What changes the vectors (not the folder's location, batch size, workers or device)."""
        return {"clip": self.clip, "dtype": self.dtype, "preprocessing": "openai-clip"}


def preprocessing_info(resolution: int) -> dict:
    """The manifest's record of how pixels were prepared (turkish_clip.images.preprocess)."""
    return {"method": "openai-clip _transform (turkish_clip.images.preprocess)", "resolution": resolution,
            "resize": "bicubic, short side to resolution", "crop": "center", "mean": list(CLIP_MEAN),
            "std": list(CLIP_STD), "exif_transpose": False}


def prefetched(fn: Callable, items: Iterable, workers: int, ahead: int) -> Iterator:
    """fn(item) for each item in order, computed by `workers` threads at most `ahead` items in advance
    (bounded memory); workers=0 computes in the calling thread."""
    if workers <= 0:
        yield from map(fn, items)
        return
    items = iter(items)
    with ThreadPoolExecutor(workers, thread_name_prefix="decode") as pool:
        pending = deque(pool.submit(fn, item) for _, item in zip(range(max(ahead, 1)), items))
        while pending:
            future = pending.popleft()
            for item in items:  # keep the window full: one new item for each one taken
                pending.append(pool.submit(fn, item))
                break
            yield future.result()


def load_pixels(path: Path | None, resolution: int) -> tuple[str, np.ndarray | str | None]:
    """("ok", float32 [3, R, R]) | ("missing", None) | ("corrupt", reason) for one image file."""
    if path is None:
        return "missing", None
    try:
        return "ok", preprocess(path, resolution)
    except InputError as error:  # unreadable, truncated, not an image, or vanished since the folder was listed
        return "corrupt", str(error)


def encode_images(clip, paths: list[Path | None], batch_size: int, workers: int,
                  progress: Callable[[int], None] = lambda n: None) -> tuple[np.ndarray, list[str], list[str]]:
    """Unnormalised CLIP image vectors float32 [n, dim] (zeros where skipped), statuses and reasons, in input order."""
    import torch

    resolution = int(clip.input_resolution)
    vectors = np.zeros((len(paths), clip.dim), np.float32)  # [n, dim]
    statuses, reasons = [""] * len(paths), [""] * len(paths)
    rows: list[int] = []
    pixels: list[np.ndarray] = []

    def flush() -> None:
        if rows:
            batch = torch.from_numpy(np.stack(pixels))  # [b, 3, R, R]
            vectors[rows] = clip.encode_image(batch).cpu().numpy()
            progress(len(rows))
            rows.clear(), pixels.clear()

    loaded = prefetched(lambda p: load_pixels(p, resolution), paths, workers, ahead=2 * batch_size)
    for i, (status, value) in enumerate(loaded):
        statuses[i] = status
        if status == "ok":
            rows.append(i), pixels.append(value)
            if len(rows) == batch_size:
                flush()
        else:
            reasons[i] = value or ""
            progress(1)
    flush()
    return vectors, statuses, reasons


def _image_ids(data_dir: Path) -> pa.Table:
    """The distinct image ids (>= 0) of captions.parquet, sorted, as a one-column table."""
    column = np.unique(cache.open_table(data_dir, "captions").read(columns=["image_id"])
                       .column("image_id").to_numpy())  # [images], sorted
    column = column[column >= 0].astype(np.int64)
    if len(column) == 0:
        raise InputError(f"{data_dir / cache.CAPTIONS} has no image ids (every caption has image_id -1); "
                         f"image vectors need captions of COCO or Flickr images")
    return pa.table({"image_id": pa.array(column, pa.int64())})


def _default_clip(data_dir: Path) -> str:
    teacher = cache.read_manifest(data_dir).get("teacher") or {}
    return teacher["model"] if teacher.get("kind") in ("openai-clip", "hf-clip") else "ViT-B/32"


def images_step(data_dir: Path, config: ImagesConfig) -> ShardedStep:
    """The ShardedStep for an `ImagesConfig` (config.clip resolved)."""
    from data_tools.image_files import index_image_folder

    folder = Path(config.image_dir).expanduser()
    if not folder.is_dir():
        raise InputError(f"image folder {folder} {'is a file' if folder.exists() else 'does not exist'}; pass the "
                         f"folder that holds the images (e.g. COCO's train2014/ and val2014/, or Flicker8k_Dataset/)")
    ids = _image_ids(data_dir)
    workers = min(4, os.cpu_count() or 1) if config.workers is None else config.workers
    state: dict = {}

    def load() -> dict:
        from turkish_clip.clip_towers import load_clip

        index = index_image_folder(folder)
        wanted = ids.column("image_id").to_numpy()
        if not any(int(i) in index for i in wanted):
            raise InputError(f"none of the {len(wanted):,} image ids of {data_dir / cache.CAPTIONS} has a file in "
                             f"{folder} (looked for COCO_train2014_<id:012d>.jpg, <id:012d>.jpg and Flickr "
                             f"<id>_<hex>.jpg names, in sub-folders too); check the folder")
        state["index"] = index
        clip = state["clip"] = load_clip(config.clip, device=config.device, fp16=config.fp16)
        scale = getattr(clip.model, "logit_scale", None)
        scale = float(scale.detach().float().exp().cpu()) if scale is not None else CLIP_LOGIT_SCALE
        return {"kind": clip.kind, "model": clip.model_id, "dim": int(clip.dim), "normalized": False,
                "compute_dtype": str(clip.dtype).replace("torch.", ""), "device": str(clip.device),
                "logit_scale": scale if math.isfinite(scale) else CLIP_LOGIT_SCALE,
                "preprocessing": preprocessing_info(int(clip.input_resolution)), "versions": clip.versions()}

    def compute(shard, chunk: pa.Table) -> pa.Table:
        image_ids = chunk.column("image_id").to_pylist()
        paths = [state["index"].get(i) for i in image_ids]
        vectors, statuses, reasons = encode_images(state["clip"], paths, config.batch_size, workers, step.advance)
        for image_id, status, reason in zip(image_ids, statuses, reasons):
            if status == "missing":
                log.warning("image_id %d: no image file for it in %s; skipped", image_id, folder)
            elif status == "corrupt":
                log.warning("image_id %d: %s; skipped", image_id, reason)
        dim = vectors.shape[1]
        return pa.table({"image_id": pa.array(image_ids, pa.int64()),
                         "file": pa.array([str(p) if p else "" for p in paths], pa.string()),
                         "status": pa.array(statuses, pa.string()),
                         "vector": pa.FixedSizeListArray.from_arrays(pa.array(vectors.reshape(-1)), dim)})

    def chunks(shards) -> Iterator:
        for shard in shards:
            yield shard, ids.slice(shard.start, shard.rows)

    step = ShardedStep(
        data_dir=data_dir, step="images", command="python -m data_tools images", output=cache.IMAGES,
        suffix=".parquet", columns=["image_id"], key=config.key(), options={**asdict(config),
                                                                             "image_dir": str(folder.resolve())},
        shard_size=config.shard_size, load=load, compute=compute,
        save_shard=lambda table, path: pq.write_table(table, path),
        assemble=lambda paths, out: assemble_images(paths, out, config.dtype, data_dir / cache.IMAGE_TABLE),
        loaded_key=("kind", "model", "dim", "compute_dtype"), rows=len(ids), chunks=chunks)
    return step


def assemble_images(paths: list[Path], out: Path, dtype: str, table_path: Path) -> dict:
    """Stream the shards into images.npy [ok images, dim] and images.parquet (image_id, file), row-aligned."""
    dtype = np.dtype(dtype)
    counts = {"ok": 0, "missing": 0, "corrupt": 0}
    examples: dict[str, list[int]] = {"missing": [], "corrupt": []}
    dim = None
    for path in paths:  # first pass: statuses only
        table = pq.read_table(path, columns=["image_id", "status"])
        status = np.asarray(table.column("status").to_pylist())
        dim = dim or pq.read_schema(path).field("vector").type.list_size
        for name in counts:
            counts[name] += int((status == name).sum())
        for name in examples:
            room = EXAMPLES - len(examples[name])
            if room > 0:
                examples[name] += table.column("image_id").to_numpy()[status == name][:room].tolist()
    if counts["ok"] == 0:
        raise InputError(f"no image could be read ({counts['missing']} missing, {counts['corrupt']} corrupt); "
                         f"check the image folder, then re-run with --overwrite")
    header = {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False, "shape": (counts["ok"], dim)}
    parts = []
    with open(out, "wb") as f:
        np.lib.format.write_array_header_1_0(f, header)
        for path in paths:
            table = pq.read_table(path)
            keep = pc.equal(table.column("status"), "ok")
            table = table.filter(keep)
            vectors = table.column("vector").combine_chunks().flatten().to_numpy().reshape(-1, dim)  # [rows, dim]
            f.write(np.ascontiguousarray(vectors, dtype=dtype).tobytes())
            parts.append(table.select(["image_id", "file"]))
    cache.write_table_atomic(table_path, pa.concat_tables(parts))
    return {"dim": int(dim), "dtype": str(dtype), "images": counts["ok"], "missing": counts["missing"],
            "corrupt": counts["corrupt"], "missing_examples": examples["missing"],
            "corrupt_examples": examples["corrupt"], "table": cache.IMAGE_TABLE}


def embed_images(data_dir: str | Path, config: ImagesConfig, *, force: bool = False,
                 limit: int | None = None) -> StepOutcome:
    """CLIP image vectors of captions.parquet's images into images.npy + images.parquet, shard by shard."""
    data_dir = Path(data_dir)
    if config.dtype not in cache.VECTOR_DTYPES:
        raise UserError(f"--dtype must be one of {', '.join(cache.VECTOR_DTYPES)}, got {config.dtype!r}")
    for name in ("batch_size", "shard_size"):
        if getattr(config, name) < 1:
            raise UserError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(config, name)}")
    if config.workers is not None and config.workers < 0:
        raise UserError(f"--workers must be >= 0, got {config.workers}")
    cache.read_manifest(data_dir)
    if config.clip is None:
        config = ImagesConfig(**{**asdict(config), "clip": _default_clip(data_dir)})
    outcome = images_step(data_dir, config).run(force=force, limit=limit)
    if outcome.status in ("done", "already done"):
        info = cache.read_manifest(data_dir)["images"]
        skipped = info["missing"] + info["corrupt"]
        outcome.note = "\n  ".join(filter(None, [outcome.note, f"{info['images']:,} images with a vector, {skipped:,} skipped ({info['missing']:,} missing, "
                        f"{info['corrupt']:,} corrupt)" + (f", e.g. image_id {(info['missing_examples'] + info['corrupt_examples'])[:5]}"
                                                            if skipped else "")]))
    return outcome
