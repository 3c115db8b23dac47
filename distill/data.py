"""Training data from the cache: texts + row-aligned teacher vectors, split by image id, tokenised once,
fed as length-bucketed, dynamically padded batches (or unsorted fixed-length ones, the common Keras way)."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Iterator

import numpy as np
import pandas as pd
import tensorflow as tf

from turkish_clip.errors import InputError
from turkish_clip.metrics import l2_normalize

log = logging.getLogger(__name__)


@dataclass
class Split:
    """One side of the split, row-aligned: texts, caption ids, groups (image ids; -1 where none), float32 targets
    [n, dim], and keys (one id per distinct English caption, i.e. per distinct teacher vector). For the image
    losses (distill/images.py): images, CLIP image vectors [m, dim], and image_rows [n], each row's image (-1: none)."""

    texts: list[str]
    caption_ids: np.ndarray
    groups: np.ndarray
    targets: np.ndarray
    keys: np.ndarray
    images: np.ndarray | None = None
    image_rows: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.texts)

    def head(self, n: int) -> Split:
        return self.take(np.arange(min(n, len(self))))

    def take(self, index: np.ndarray) -> Split:
        """The rows at `index` (in that order)."""
        index = np.asarray(index, np.int64)
        return Split([self.texts[i] for i in index], self.caption_ids[index], self.groups[index], self.targets[index],
                     self.keys[index], self.images, None if self.image_rows is None else self.image_rows[index])

    def negative_groups(self) -> np.ndarray:
        """Groups for contrastive masking [n] int64: the image id, or a per-sentence id (< -1) where there is none."""
        return np.where(self.groups >= 0, self.groups, -(self.keys + 2)).astype(np.int64)


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
    english = table["en"].fillna("").astype(str)
    texts = column.to_numpy()
    empty = (column.str.strip().str.len() == 0).to_numpy()
    no_english = (english.str.strip().str.len() == 0).to_numpy()
    keys = pd.factorize(english)[0].astype(np.int64)  # same English caption = same teacher vector
    is_val = split_groups(table, val_fraction, seed)
    groups = table["image_id"].fillna(-1).astype("int64").to_numpy()
    if normalize_targets:
        targets = l2_normalize(targets, dtype=targets.dtype)
    # Training rows without a translation (English-only captions) train on their English side instead of being
    # dropped; validation measures translation (TR->EN), so it keeps translated rows only.
    english_only = ~is_val & empty & ~no_english
    dropped = empty & ~english_only
    if english_only.any():
        log.info("%d training captions have no '%s' text: trained on their English side", english_only.sum(), text_column)
    if dropped.any():
        log.warning("dropping %d captions with an empty '%s' text (caption_id %s ...)", dropped.sum(), text_column,
                    ids[dropped][:5].tolist())

    def take(rows):
        return Split(texts[rows].tolist(), ids[rows], groups[rows], targets[rows], keys[rows])

    train = take(np.flatnonzero(~is_val & ~empty))
    en_rows = np.flatnonzero(english_only | (~is_val & ~empty & ~no_english)) if include_english else np.flatnonzero(english_only)
    if len(en_rows):
        en = Split(english.to_numpy()[en_rows].tolist(), ids[en_rows], groups[en_rows], targets[en_rows], keys[en_rows])
        train = Split(train.texts + en.texts, *(np.concatenate([getattr(train, f), getattr(en, f)])
                                                for f in ("caption_ids", "groups", "targets", "keys")))
    if max_train is not None:
        train = train.head(max_train)
    val = take(np.flatnonzero(is_val & ~empty))
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


def pad_to_multiple(ids: list[np.ndarray], pad_id: int, multiple: int, limit: int | None = None
                    ) -> dict[str, np.ndarray]:
    """`pad_batch` to the batch's longest text rounded up to `multiple` (encoding without training); the rounding
    never goes past `limit` (the encoder's position limit)."""
    longest = max(len(x) for x in ids)
    rounded = -(-longest // multiple) * multiple
    return pad_batch(ids, pad_id, rounded if limit is None else max(longest, min(rounded, limit)))


def padded_length(ids: list[np.ndarray], multiple: int, max_length: int, fixed: bool) -> int:
    if fixed:
        return max_length
    longest = max(len(x) for x in ids)
    return min(max_length, -(-longest // multiple) * multiple) if multiple > 1 else longest


class NegativeSampler:
    """Extra contrastive negatives: `count` teacher vectors drawn uniformly from the training cache for each batch,
    with their keys and groups (so a drawn duplicate of a batch row is masked, never a false negative)."""

    def __init__(self, split: Split, count: int):
        self.targets, self.keys, self.groups, self.count = split.targets, split.keys, split.negative_groups(), count

    def draw(self, rng: np.random.Generator) -> dict[str, np.ndarray]:
        rows = np.sort(rng.integers(0, len(self.targets), self.count))  # sorted: sequential reads of a memmap
        return {"negatives": self.targets[rows], "negative_key": self.keys[rows], "negative_group": self.groups[rows]}

    def spec(self, dim: int) -> dict[str, tf.TensorSpec]:
        return {"negatives": tf.TensorSpec([None, dim], tf.float32), "negative_key": tf.TensorSpec([None], tf.int64),
                "negative_group": tf.TensorSpec([None], tf.int64)}


def batch_labels(split: Split, index: np.ndarray, groups: np.ndarray) -> dict[str, np.ndarray]:
    """The `y` of one batch for `distill.losses`: target, key, group (and image) row-aligned with `index`."""
    y = {"target": np.asarray(split.targets[index], np.float32), "key": split.keys[index], "group": groups[index]}
    if split.image_rows is not None:
        y["image"] = np.asarray(split.images[split.image_rows[index]], np.float32)  # [b, dim]
    return y


def labels_spec(dim: int, sampler: NegativeSampler | None, split: Split | None = None) -> dict[str, tf.TensorSpec]:
    spec = {"target": tf.TensorSpec([None, dim], tf.float32), "key": tf.TensorSpec([None], tf.int64),
            "group": tf.TensorSpec([None], tf.int64)}
    if split is not None and split.image_rows is not None:
        spec["image"] = tf.TensorSpec([None, split.images.shape[1]], tf.float32)
    return {**spec, **(sampler.spec(dim) if sampler else {})}


def make_dataset(ids: list[np.ndarray], targets: np.ndarray | Split, batch_size: int, *, pad_id: int, max_length: int,
                 seed: int | None, bucket: bool = True, pool: int = 50, pad_multiple: int = 8,
                 max_batches: int | None = None, negatives: int = 0) -> tf.data.Dataset:
    """tf.data of ((input_ids, attention_mask), y) batches; `seed=None` keeps input order (no shuffle).

    `targets` an array: y is the target batch (plain Keras losses). A Split: y is the dict of `distill.losses`
    (targets, keys, groups, and `negatives` extra teacher vectors per batch drawn from the split)."""
    lengths = np.fromiter((len(x) for x in ids), np.int64, len(ids))
    rng = np.random.default_rng(seed) if seed is not None else None
    batches = batch_order(lengths, batch_size, rng, bucket, pool)[:max_batches]
    split = targets if isinstance(targets, Split) else None
    groups = split.negative_groups() if split else None
    sampler = NegativeSampler(split, negatives) if split and negatives else None
    draws = np.random.default_rng(None if seed is None else seed + 1)
    dim = (split.targets if split else targets).shape[1]

    def generate() -> Iterator:
        for index in batches:
            chunk = [ids[i] for i in index]
            x = pad_batch(chunk, pad_id, padded_length(chunk, pad_multiple, max_length, not bucket))
            if split is None:
                yield x, targets[index]
            else:
                yield x, {**batch_labels(split, index, groups), **(sampler.draw(draws) if sampler else {})}

    spec = {k: tf.TensorSpec([None, None], tf.int32) for k in ("input_ids", "attention_mask")}
    y_spec = labels_spec(dim, sampler, split) if split else tf.TensorSpec([None, dim], tf.float32)
    dataset = tf.data.Dataset.from_generator(generate, output_signature=(spec, y_spec))
    return dataset.apply(tf.data.experimental.assert_cardinality(len(batches))).prefetch(2)


def feature_batches(n: int, batch_size: int, seed: int) -> list[np.ndarray]:
    """Shuffled row batches (each sorted, so memmap reads go forward)."""
    order = np.random.default_rng(seed).permutation(n)
    return [np.sort(order[i:i + batch_size]) for i in range(0, n, batch_size)]


def feature_dataset(features: np.ndarray, split: Split, batch_size: int, seed: int,
                    negatives: int = 0) -> tf.data.Dataset:
    """Shuffled batches (features [b, hidden], y) of cached pooled features (stage 1 with the encoder frozen)."""
    rng = np.random.default_rng(seed + 1)
    batches = feature_batches(len(split), batch_size, seed)
    groups = split.negative_groups()
    sampler = NegativeSampler(split, negatives) if negatives else None

    def generate() -> Iterator:
        for index in batches:
            y = batch_labels(split, index, groups)
            yield np.asarray(features[index], np.float32), {**y, **(sampler.draw(rng) if sampler else {})}

    x_spec = tf.TensorSpec([None, features.shape[1]], tf.float32)
    dataset = tf.data.Dataset.from_generator(generate, output_signature=(x_spec, labels_spec(split.targets.shape[1], sampler, split)))
    return dataset.apply(tf.data.experimental.assert_cardinality(len(batches))).prefetch(2)
