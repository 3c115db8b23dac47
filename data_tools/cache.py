"""The dataset folder: manifest.json, captions/translations parquet tables and teacher.npy, written atomically.

Layout (row order of captions.parquet is canonical; everything else is row-aligned with it):
    DATA/manifest.json  captions.parquet  translations.parquet  teacher.npy  work/ (unfinished steps)
    images.parquet + images.npy (optional): CLIP image vectors of the captions' images, row-aligned with each other
Readers validate what they open and raise `InputError` with one line naming the path and the fix.
Never imports torch: distill/ reads the cache through this module.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from turkish_clip.errors import InputError
from turkish_clip.files import atomic_path, file_sha256, write_json_atomic, write_npy_atomic

FORMAT = "turkish-clip-cache"
VERSION = 1
MANIFEST = "manifest.json"
CAPTIONS = "captions.parquet"
TRANSLATIONS = "translations.parquet"
TEACHER = "teacher.npy"
IMAGES = "images.npy"  # CLIP image vectors [images, dim], row-aligned with IMAGE_TABLE
IMAGE_TABLE = "images.parquet"  # image_id, file: the images that have a vector
WORK = "work"
TABLES = {"captions": CAPTIONS, "translations": TRANSLATIONS}
VECTOR_DTYPES = ("float16", "float32")
ROW_GROUP = 65536  # rows per parquet row group: streaming readers hold about one group per column

CAPTIONS_SCHEMA = pa.schema([("caption_id", pa.int64()), ("image_id", pa.int64()),
                             ("split", pa.string()), ("en", pa.string())])


def translations_schema(target_lang: str) -> pa.Schema:
    """captions columns + the translation + which backend/model produced it."""
    return pa.schema(list(CAPTIONS_SCHEMA) + [(target_lang, pa.string()), ("mt_backend", pa.string()),
                                              ("mt_model", pa.string())])


# ---------------------------------------------------------------- atomic writes (tables; the rest is in turkish_clip.files)

def write_table_atomic(path: str | Path, table: pa.Table) -> None:
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, row_group_size=ROW_GROUP)



# ---------------------------------------------------------------- manifest

def new_manifest() -> dict:
    return {"format": FORMAT, "version": VERSION}


def _not_a_cache(data_dir: Path, why: str) -> InputError:
    return InputError(f"{data_dir} is not a turkish-clip cache folder ({why}); "
                      f"create one with: python -m data_tools captions --data-dir {data_dir} INPUT.json")


def read_manifest(data_dir: str | Path) -> dict:
    """The folder's manifest.json, checked for format and version."""
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise _not_a_cache(data_dir, "folder does not exist" if not data_dir.exists() else "not a folder")
    path = data_dir / MANIFEST
    if not path.is_file():
        raise _not_a_cache(data_dir, f"no {MANIFEST}")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InputError(f"{path} is not valid JSON ({e}); restore it or rebuild the cache with "
                         f"python -m data_tools prepare --overwrite") from e
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise _not_a_cache(data_dir, f"{MANIFEST} has format {_get(manifest, 'format')!r}, expected {FORMAT!r}")
    if manifest.get("version") != VERSION:
        raise InputError(f"{path} is cache format version {manifest.get('version')!r}, this code reads version "
                         f"{VERSION}; rebuild it with python -m data_tools prepare --data-dir {data_dir} --overwrite")
    return manifest


def _get(obj, key):
    return obj.get(key) if isinstance(obj, dict) else type(obj).__name__


def write_manifest(data_dir: str | Path, manifest: dict) -> None:
    write_json_atomic(Path(data_dir) / MANIFEST, manifest)


def update_manifest(data_dir: str | Path, **entries) -> dict:
    """Set (or, with value None, remove) top-level entries of the manifest atomically; returns the new manifest."""
    manifest = read_manifest(data_dir)
    for key, value in entries.items():
        if value is None:
            manifest.pop(key, None)
        else:
            manifest[key] = value
    write_manifest(data_dir, manifest)
    return manifest


def step_info(data_dir: str | Path, step: str) -> dict:
    """manifest[step] ("captions", "translation", "teacher"), or InputError saying which command makes it."""
    manifest = read_manifest(data_dir)
    if step not in manifest:
        command = {"captions": "captions", "translation": "translate", "teacher": "embed", "images": "images"}[step]
        if step == "images":
            command += " IMAGE_FOLDER"
        raise InputError(f"{Path(data_dir) / MANIFEST} has no {step} step yet; run: "
                         f"python -m data_tools {command} --data-dir {data_dir}")
    return manifest[step]


# ---------------------------------------------------------------- readers

def table_path(data_dir: str | Path, name: str) -> Path:
    if name not in TABLES:
        raise ValueError(f"unknown table {name!r}; one of {sorted(TABLES)}")
    return Path(data_dir) / TABLES[name]


def open_table(data_dir: str | Path, name: str = "captions") -> pq.ParquetFile:
    """The table as a ParquetFile (for streaming), checked against the manifest's row count."""
    step = "captions" if name == "captions" else "translation"
    info = step_info(data_dir, step)
    path = table_path(data_dir, name)
    if not path.is_file():
        raise InputError(f"{path} is missing although {MANIFEST} lists it; rebuild it with "
                         f"python -m data_tools {'captions' if step == 'captions' else 'translate'} "
                         f"--data-dir {data_dir} --overwrite")
    try:
        pf = pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as e:
        raise InputError(f"{path} is not a readable parquet file ({e}); rebuild it with --overwrite") from e
    if pf.metadata.num_rows != info.get("count"):
        raise InputError(f"{path} has {pf.metadata.num_rows} rows but {MANIFEST} says {info.get('count')}; "
                         f"rebuild it with --overwrite")
    if step != "captions":
        _check_same_captions(data_dir, info, path, "translate")
    return pf


def _check_same_captions(data_dir: str | Path, info: dict, path: Path, command: str) -> None:
    """A step's output must come from the current captions.parquet (not from one that was since rebuilt)."""
    made_from, current = info.get("captions_sha256"), step_info(data_dir, "captions").get("sha256")
    if made_from and current and made_from != current:
        raise InputError(f"{path} was computed from other captions than {Path(data_dir) / CAPTIONS}; recompute it "
                         f"with: python -m data_tools {command} --data-dir {data_dir} --overwrite")


def load_table(data_dir: str | Path, name: str = "captions", columns: list[str] | None = None) -> pd.DataFrame:
    """captions or translations table as a DataFrame (row order = canonical order)."""
    pf = open_table(data_dir, name)
    missing = set(columns or []) - set(pf.schema_arrow.names)
    if missing:
        raise InputError(f"{table_path(data_dir, name)} has no column(s) {sorted(missing)}; "
                         f"columns are {pf.schema_arrow.names}")
    return pf.read(columns=columns).to_pandas()


def load_teacher_vectors(data_dir: str | Path, mmap: bool = True) -> np.ndarray:
    """teacher.npy [n, dim], memory-mapped by default, checked against the manifest and captions.parquet."""
    data_dir = Path(data_dir)
    info = step_info(data_dir, "teacher")
    path = data_dir / TEACHER
    fix = f"recompute with: python -m data_tools embed --data-dir {data_dir} --overwrite"
    if not path.is_file():
        raise InputError(f"{path} is missing although {MANIFEST} lists teacher vectors; {fix}")
    try:
        vectors = np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:
        raise InputError(f"{path} is not a readable .npy file ({e}); {fix}") from e
    rows = open_table(data_dir, "captions").metadata.num_rows
    _check_same_captions(data_dir, info, path, "embed")
    if vectors.ndim != 2 or vectors.shape[0] != rows or vectors.shape[0] != info.get("count"):
        raise InputError(f"{path} has shape {vectors.shape} but captions.parquet has {rows} rows and {MANIFEST} "
                         f"says {info.get('count')}; {fix}")
    if vectors.shape[1] != info.get("dim") or str(vectors.dtype) != info.get("dtype"):
        raise InputError(f"{path} holds {vectors.dtype} vectors of dim {vectors.shape[1]} but {MANIFEST} says "
                         f"{info.get('dtype')} dim {info.get('dim')}; {fix}")
    return vectors


def load_image_vectors(data_dir: str | Path, mmap: bool = True) -> tuple[np.ndarray, np.ndarray, dict]:
    """(image ids [m] int64, CLIP image vectors [m, dim] memory-mapped, manifest["images"]) of the images step,
    checked against each other, the manifest and the current captions.parquet."""
    data_dir = Path(data_dir)
    info = step_info(data_dir, "images")
    path, table = data_dir / IMAGES, data_dir / IMAGE_TABLE
    fix = f"recompute with: python -m data_tools images --data-dir {data_dir} IMAGE_FOLDER --overwrite"
    for file in (path, table):
        if not file.is_file():
            raise InputError(f"{file} is missing although {MANIFEST} lists image vectors; {fix}")
    try:
        vectors = np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
        ids = pq.read_table(table, columns=["image_id"]).column("image_id").to_numpy().astype(np.int64)
    except (ValueError, OSError, EOFError, pa.ArrowInvalid) as e:
        raise InputError(f"{path} or {table} is not readable ({e}); {fix}") from e
    _check_same_captions(data_dir, info, path, "images IMAGE_FOLDER")
    if vectors.ndim != 2 or len(vectors) != len(ids) or len(ids) != info.get("images"):
        raise InputError(f"{path} has shape {vectors.shape}, {table} {len(ids)} rows and {MANIFEST} says "
                         f"{info.get('images')} images; {fix}")
    if vectors.shape[1] != info.get("dim") or str(vectors.dtype) != info.get("dtype"):
        raise InputError(f"{path} holds {vectors.dtype} vectors of dim {vectors.shape[1]} but {MANIFEST} says "
                         f"{info.get('dtype')} dim {info.get('dim')}; {fix}")
    return ids, vectors, info


# ---------------------------------------------------------------- writers

def captions_arrow(table: pd.DataFrame | pa.Table) -> pa.Table:
    """A captions chunk in the canonical schema (image_id -1 when there is no image)."""
    if isinstance(table, pd.DataFrame):
        table = table[list(CAPTIONS_SCHEMA.names)].copy()
        table["image_id"] = table["image_id"].fillna(-1).astype("int64")
        table = pa.Table.from_pandas(table, preserve_index=False)
    table = table.select(CAPTIONS_SCHEMA.names).cast(CAPTIONS_SCHEMA).replace_schema_metadata(None)
    if table.column("image_id").null_count:
        table = table.set_column(1, "image_id", pc.fill_null(table.column("image_id"), -1))
    return table


def write_captions(data_dir: str | Path, chunks: Iterable[pd.DataFrame | pa.Table], info: dict) -> dict:
    """Stream caption chunks into captions.parquet (atomically) and record manifest["captions"].

    `info` (sources, options, stats) is completed with count and sha256. Creates the folder and manifest.
    Crash-safe: the old captions entry leaves the manifest before the file is replaced, so a run killed in
    between leaves no entry (readers refuse the folder) rather than the old hash on new rows.
    """
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    manifest = read_manifest(data_dir) if (data_dir / MANIFEST).exists() else new_manifest()
    count = 0
    with atomic_path(data_dir / CAPTIONS) as tmp:
        with pq.ParquetWriter(tmp, CAPTIONS_SCHEMA) as writer:
            for chunk in chunks:
                chunk = captions_arrow(chunk)
                writer.write_table(chunk, row_group_size=ROW_GROUP)
                count += chunk.num_rows
        sha256 = file_sha256(tmp)
        if manifest.pop("captions", None) is not None:
            write_manifest(data_dir, manifest)
    info = {**info, "count": count, "sha256": sha256}
    manifest["captions"] = info
    write_manifest(data_dir, manifest)
    return info


def write_dataset(data_dir: str | Path, table: pd.DataFrame, vectors: np.ndarray, *, target_lang: str = "tr",
                  teacher_info: dict, translation_info: dict) -> dict:
    """Write a complete cache in one go (tables, vectors, manifest), each file atomically; returns the manifest.

    `table` has caption_id, image_id, split, en and `target_lang` (mt_backend/mt_model are filled from
    translation_info when absent). dim/dtype/count are taken from `vectors` (float16 or float32).
    """
    data_dir = Path(data_dir)
    vectors = np.asarray(vectors)
    missing = {"caption_id", "image_id", "split", "en", target_lang} - set(table.columns)
    if missing:
        raise ValueError(f"table lacks columns {sorted(missing)}")
    if vectors.ndim != 2 or len(vectors) != len(table):
        raise ValueError(f"vectors {vectors.shape} are not [len(table)={len(table)}, dim]")
    if str(vectors.dtype) not in VECTOR_DTYPES:
        raise ValueError(f"vectors must be one of {VECTOR_DTYPES}, got {vectors.dtype}")
    if not np.isfinite(vectors).all():
        bad = int(np.argwhere(~np.isfinite(vectors))[0][0])
        raise InputError(f"teacher vector of caption_id {table['caption_id'].iloc[bad]} is not finite")
    captions = write_captions(data_dir, [table], {"sources": [], "options": {}})
    update_manifest(data_dir, translation=None, teacher=None)  # a kill below must not leave old entries on new files
    full = table.copy()
    full["mt_backend"] = full["mt_backend"] if "mt_backend" in full else translation_info.get("backend", "")
    full["mt_model"] = full["mt_model"] if "mt_model" in full else translation_info.get("model", "")
    schema = translations_schema(target_lang)
    arrow = pa.Table.from_pandas(full[schema.names].assign(image_id=full["image_id"].fillna(-1).astype("int64")),
                                 preserve_index=False)
    write_table_atomic(data_dir / TRANSLATIONS, arrow.cast(schema).replace_schema_metadata(None))
    write_npy_atomic(data_dir / TEACHER, vectors)
    translation = {**translation_info, "target_lang": target_lang, "count": len(table),
                   "captions_sha256": captions["sha256"]}
    teacher = {"normalized": False, **teacher_info, "dim": int(vectors.shape[1]), "dtype": str(vectors.dtype),
               "count": len(vectors), "captions_sha256": captions["sha256"]}
    return update_manifest(data_dir, translation=translation, teacher=teacher)


def write_image_vectors(data_dir: str | Path, image_ids: np.ndarray, vectors: np.ndarray, info: dict) -> dict:
    """Write images.parquet + images.npy and manifest["images"] in one go (tools and tests; the images step
    streams its shards instead). `info` gives model, logit_scale, ...; dim/dtype/count come from the arrays."""
    data_dir = Path(data_dir)
    vectors = np.asarray(vectors)
    if vectors.ndim != 2 or len(vectors) != len(image_ids) or str(vectors.dtype) not in VECTOR_DTYPES:
        raise ValueError(f"vectors {vectors.shape} {vectors.dtype} are not [len(image_ids), dim] float16/float32")
    captions = step_info(data_dir, "captions")
    update_manifest(data_dir, images=None)
    ids = pa.array(np.asarray(image_ids, np.int64))
    write_table_atomic(data_dir / IMAGE_TABLE, pa.table({"image_id": ids, "file": pa.array([""] * len(ids))}))
    write_npy_atomic(data_dir / IMAGES, vectors)
    entry = {"normalized": False, "missing": 0, "corrupt": 0, **info, "dim": int(vectors.shape[1]),
             "dtype": str(vectors.dtype), "images": len(vectors), "count": len(vectors),
             "captions_sha256": captions["sha256"]}
    return update_manifest(data_dir, images=entry)

