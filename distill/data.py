"""Training data from the cache: texts + row-aligned teacher vectors, split by image id, tokenised once,
fed as length-bucketed, dynamically padded batches (or unsorted fixed-length ones, the common Keras way)."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Iterator

import numpy as np
import pandas as pd
import tensorflow as tf

from data_tools.errors import InputError
from evaluation.metrics import l2_normalize

log = logging.getLogger(__name__)


@dataclass
class Split:
    """One side of the split: texts, caption ids, groups (image ids) and float32 targets [n, dim], row-aligned."""

    texts: list[str]
    caption_ids: np.ndarray
    groups: np.ndarray
    targets: np.ndarray

    def __len__(self) -> int:
        return len(self.texts)


def read_cache(data_dir, text_column: str = "tr") -> tuple[pd.DataFrame, np.ndarray, dict]:
    """The translations table, teacher vectors [n, dim] (memory-mapped) and manifest, checked to line up."""
    from data_tools import cache

    manifest = cache.read_manifest(data_dir)
    table = cache.load_table(data_dir, "translations")
    vectors = cache.load_teacher_vectors(data_dir)
    if text_column not in table.columns:
        raise InputError(f"{data_dir}/translations.parquet has no '{text_column}' column (has {list(table.columns)}); pass --set text_column=...")
    if len(table) != len(vectors):
        raise InputError(f"{data_dir}: translations.parquet has {len(table)} rows but teacher.npy {len(vectors)}; re-run `python -m data_tools embed`")
    return table, vectors, manifest


def check_targets(vectors: np.ndarray, caption_ids: np.ndarray, where: str) -> None:
    """Refuse non-finite teacher vectors up front, naming the caption ids (a NaN target would poison training)."""
    bad = ~np.isfinite(vectors).all(axis=1)
    if bad.any():
        rows = np.flatnonzero(bad)
        raise InputError(
            f"{where}: teacher vectors of {len(rows)} caption(s) are NaN/inf (caption_id {caption_ids[rows[:5]].tolist()}, "
            f"teacher.npy rows {rows[:5].tolist()}); re-embed them with `python -m data_tools embed`"
        )


def split_groups(table: pd.DataFrame, val_fraction: float, seed: int) -> np.ndarray:
    """Boolean mask of validation rows: whole images go to validation (by English sentence where image_id < 0)."""
    image = table["image_id"].fillna(-1).astype("int64").to_numpy()
    groups = np.where(image >= 0, "img:" + image.astype(str), "en:" + table["en"].astype(str).to_numpy())
    unique = np.unique(groups)
    rng = np.random.default_rng(seed)
    n_val = int(round(len(unique) * val_fraction))
    if val_fraction > 0 and n_val == 0:
        n_val = 1
    val_groups = set(rng.choice(unique, size=n_val, replace=False).tolist()) if n_val else set()
    return np.fromiter((g in val_groups for g in groups), bool, len(groups))


def load_splits(data_dir, text_column="tr", val_fraction=0.05, seed=42, include_english=False,
                normalize_targets=False, max_train=None) -> tuple[Split, Split, dict]:
    """Train and validation splits of a cache. English source captions join training only (same targets)."""
    table, vectors, manifest = read_cache(data_dir, text_column)
    ids = table["caption_id"].to_numpy(np.int64)
    targets = np.asarray(vectors, np.float32)  # one float32 copy in memory; the memmap stays on disk
    check_targets(targets, ids, f"{data_dir}/teacher.npy")
    column = table[text_column].fillna("").astype(str)
    texts = column.to_numpy()
    empty = (column.str.strip().str.len() == 0).to_numpy()
    if empty.any():
        log.warning("dropping %d captions with an empty '%s' text (caption_id %s ...)", empty.sum(), text_column, ids[empty][:5].tolist())
    is_val = split_groups(table, val_fraction, seed)
    groups = table["image_id"].fillna(-1).astype("int64").to_numpy()
    if normalize_targets:
        targets = l2_normalize(targets, dtype=targets.dtype)

    def take(mask, english=False):
        rows = np.flatnonzero(mask & ~empty)
        out = Split(texts[rows].tolist(), ids[rows], groups[rows], targets[rows])
        if english:
            en = table["en"].astype(str).to_numpy()[rows].tolist()
            out = Split(out.texts + en, np.concatenate([out.caption_ids] * 2), np.concatenate([out.groups] * 2),
                        np.concatenate([out.targets] * 2))
        return out

    train = take(~is_val, include_english)
    if max_train is not None:
        train = Split(train.texts[:max_train], train.caption_ids[:max_train], train.groups[:max_train], train.targets[:max_train])
    val = take(is_val)
    log.info("split %s: %d training examples, %d validation captions (%d images)", data_dir, len(train), len(val), len(set(val.groups)))
    return train, val, manifest


def tokenize(tokenizer, texts: list[str], max_length: int) -> list[np.ndarray]:
    """Token ids per text (special tokens added, truncated at max_length, no padding), int32."""
    encoded = tokenizer(list(texts), truncation=True, max_length=max_length, padding=False)["input_ids"]
    return [np.asarray(x, np.int32) for x in encoded]


def batch_order(lengths: np.ndarray, batch_size: int, rng: np.random.Generator | None, bucket: bool = True,
                pool: int = 50) -> list[np.ndarray]:
    """Index batches. bucket: shuffle, sort each pool of `pool` batches by length, cut, shuffle the batch order."""
    n = len(lengths)
    order = rng.permutation(n) if rng is not None else np.arange(n)
    if bucket:
        chunk = batch_size * pool
        parts = [order[i:i + chunk] for i in range(0, n, chunk)]
        order = np.concatenate([p[np.argsort(lengths[p], kind="stable")] for p in parts]) if parts else order
    batches = [order[i:i + batch_size] for i in range(0, n, batch_size)]
    if bucket and rng is not None:
        batches = [batches[i] for i in rng.permutation(len(batches))]
    return batches


def pad_batch(ids: list[np.ndarray], pad_id: int, length: int) -> dict[str, np.ndarray]:
    """input_ids / attention_mask [batch, length], int32, right-padded."""
    input_ids = np.full((len(ids), length), pad_id, np.int32)
    mask = np.zeros((len(ids), length), np.int32)
    for i, x in enumerate(ids):
        input_ids[i, : len(x)] = x[:length]
        mask[i, : len(x)] = 1
    return {"input_ids": input_ids, "attention_mask": mask}


def padded_length(ids: list[np.ndarray], multiple: int, max_length: int, fixed: bool) -> int:
    if fixed:
        return max_length
    longest = max(len(x) for x in ids)
    return min(max_length, -(-longest // multiple) * multiple) if multiple > 1 else longest


def make_dataset(ids: list[np.ndarray], targets: np.ndarray, batch_size: int, *, pad_id: int, max_length: int,
                 seed: int | None, bucket: bool = True, pool: int = 50, pad_multiple: int = 8,
                 max_batches: int | None = None) -> tf.data.Dataset:
    """tf.data of ((input_ids, attention_mask), targets) batches; `seed=None` keeps input order (no shuffle)."""
    lengths = np.fromiter((len(x) for x in ids), np.int64, len(ids))
    rng = np.random.default_rng(seed) if seed is not None else None
    batches = batch_order(lengths, batch_size, rng, bucket, pool)[:max_batches]

    def generate() -> Iterator:
        for index in batches:
            chunk = [ids[i] for i in index]
            yield pad_batch(chunk, pad_id, padded_length(chunk, pad_multiple, max_length, not bucket)), targets[index]

    spec = {k: tf.TensorSpec([None, None], tf.int32) for k in ("input_ids", "attention_mask")}
    dataset = tf.data.Dataset.from_generator(generate, output_signature=(spec, tf.TensorSpec([None, targets.shape[1]], tf.float32)))
    return dataset.apply(tf.data.experimental.assert_cardinality(len(batches))).prefetch(2)


def inference_batches(ids: list[np.ndarray], batch_size: int, pad_id: int = 0, pad_multiple: int = 8) -> Iterator:
    """(row indices, padded batch) in length order, for encoding without training."""
    lengths = np.fromiter((len(x) for x in ids), np.int64, len(ids))
    order = np.argsort(lengths, kind="stable")
    for start in range(0, len(order), batch_size):
        index = order[start:start + batch_size]
        chunk = [ids[i] for i in index]
        longest = max(len(x) for x in chunk)
        yield index, pad_batch(chunk, pad_id, -(-longest // pad_multiple) * pad_multiple)
