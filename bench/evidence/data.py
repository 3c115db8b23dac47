"""The evidence data: Tatoeba EN–TR pairs split into train/val with no sentence on both sides, minus every pair
that shares a sentence with the LASER test set (which is the test pool), plus optional English-only COCO captions.

Pairs are linked when they share an English or a Turkish sentence (`Hi.` -> `Merhaba.` / `Selam.`); the connected
components are the units of the split, so a sentence and all its translations land on one side only.
"""
from __future__ import annotations

import csv
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from turkish_clip.errors import InputError

log = logging.getLogger(__name__)

COCO_GROUP_OFFSET = 10_000_000  # COCO rows get image_id offset groups, disjoint from Tatoeba components


def read_pairs(path: str | Path) -> pd.DataFrame:
    """A Tatoeba TSV (`en<TAB>tr` header, one pair a line, no quoting) as DataFrame[en, tr] of str."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path} does not exist; see ../shared/data/tatoeba/README.md")
    table = pd.read_csv(path, sep="\t", quoting=csv.QUOTE_NONE, dtype=str, keep_default_na=False)
    if list(table.columns) != ["en", "tr"]:
        raise InputError(f"{path}: expected the header 'en<TAB>tr', got {list(table.columns)}")
    empty = (table["en"].str.strip() == "") | (table["tr"].str.strip() == "")
    if empty.any():
        raise InputError(f"{path}: line {int(np.flatnonzero(empty)[0]) + 2} has an empty sentence")
    return table.reset_index(drop=True)


def sentence_key(text: str) -> str:
    """Leak-check key: case-folded, spaces collapsed (so `Hi.` and `hi. ` count as one sentence)."""
    return re.sub(r"\s+", " ", text).strip().casefold()


def _keys(column: pd.Series) -> np.ndarray:
    return np.array([sentence_key(t) for t in column], dtype=object)


def remove_test_overlap(train: pd.DataFrame, test: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    """Drop every training pair sharing an English or Turkish sentence (by `sentence_key`) with the test set."""
    test_pairs = set(zip(test["en"], test["tr"]))
    en_keys, tr_keys = set(_keys(test["en"])), set(_keys(test["tr"]))
    shares_en = np.isin(_keys(train["en"]), list(en_keys))
    shares_tr = np.isin(_keys(train["tr"]), list(tr_keys))
    drop = shares_en | shares_tr
    stats = {"identical_pairs": sum(p in test_pairs for p in zip(train["en"], train["tr"])),
             "pairs_sharing_en": int(shares_en.sum()), "pairs_sharing_tr": int(shares_tr.sum()),
             "removed_pairs": int(drop.sum())}
    log.info("test overlap: %d identical pairs; removed %d pairs sharing a sentence", stats["identical_pairs"], drop.sum())
    return train[~drop].reset_index(drop=True), stats


def sentence_components(table: pd.DataFrame) -> np.ndarray:
    """Component id per row [n] int64: rows sharing an English or Turkish sentence (transitively) share an id."""
    n = len(table)
    parent = np.arange(n)

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for column in ("en", "tr"):
        first: dict[str, int] = {}
        for row, key in enumerate(_keys(table[column])):
            if key in first:
                a, b = find(row), find(first[key])
                if a != b:
                    parent[max(a, b)] = min(a, b)
            else:
                first[key] = row
    roots = np.array([find(i) for i in range(n)], dtype=np.int64)
    return np.unique(roots, return_inverse=True)[1].astype(np.int64)


def split_components(groups: np.ndarray, val_fraction: float, seed: int, max_val_component: int = 20) -> np.ndarray:
    """Boolean val mask [n]: random whole components until ~val_fraction of the rows; components larger than
    `max_val_component` rows stay in training (one hub sentence with 50 translations would skew validation)."""
    sizes = np.bincount(groups)
    target = int(round(val_fraction * len(groups)))
    chosen, total = [], 0
    for g in np.random.default_rng(seed).permutation(len(sizes)):
        if total >= target:
            break
        if 0 < sizes[g] <= max_val_component:
            chosen.append(g)
            total += sizes[g]
    return np.isin(groups, chosen)


def leaks(a: pd.DataFrame, b: pd.DataFrame) -> dict[str, int]:
    """How many distinct English / Turkish sentences (by `sentence_key`) occur in both tables."""
    return {col: len(set(_keys(a[col])) & set(_keys(b[col]))) for col in ("en", "tr")}


@dataclass
class EvidenceData:
    """Train+val rows (with component groups and a train/val mask), the test pool, and counts for the report."""

    pairs: pd.DataFrame  # en, tr, group, split ("train" | "val"), source ("tatoeba" | "coco")
    test: pd.DataFrame  # en, tr
    stats: dict = field(default_factory=dict)

    @property
    def train(self) -> pd.DataFrame:
        return self.pairs[self.pairs["split"] == "train"]

    @property
    def val(self) -> pd.DataFrame:
        return self.pairs[self.pairs["split"] == "val"]


def load_coco_english(path: str | Path, limit: int | None = None, seed: int = 0,
                      holdout_images: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """English COCO captions (XTD10 images excluded by data_tools' default list) as (training DataFrame[en, image_id]
    of at most `limit` rows, held-out DataFrame[en, image_id] of one caption each of `holdout_images` distinct images
    that no training row shows)."""
    from data_tools.captions import read_captions

    table, _ = read_captions([path])
    table = table[["en", "image_id"]].reset_index(drop=True)
    rng = np.random.default_rng(seed)
    images = table["image_id"].unique()
    held = set(rng.choice(images, size=min(holdout_images, len(images)), replace=False).tolist()) if holdout_images else set()
    is_held = table["image_id"].isin(held).to_numpy()
    holdout = table[is_held].groupby("image_id", sort=True).head(1).reset_index(drop=True)
    train = table[~is_held]
    if limit is not None and limit < len(train):
        train = train.iloc[np.sort(rng.choice(len(train), limit, replace=False))]
    return train.reset_index(drop=True), holdout


def build(tatoeba_tsv: str | Path, test_tsv: str | Path, val_fraction: float = 0.05, seed: int = 42,
          max_pairs: int | None = None, coco: pd.DataFrame | None = None) -> EvidenceData:
    """Read, remove test overlap, (subsample to max_pairs), split by sentence components; COCO rows train only, with
    no Turkish (`tr` empty): distill trains such English-only rows on their English side (student(EN) ≈ teacher(EN))."""
    pairs, test = read_pairs(tatoeba_tsv), read_pairs(test_tsv)
    stats: dict = {"tatoeba_pairs": len(pairs), "test_pairs": len(test)}
    pairs, overlap = remove_test_overlap(pairs, test)
    stats["test_overlap"] = overlap
    if max_pairs is not None and max_pairs < len(pairs):
        pairs = pairs.iloc[np.sort(np.random.default_rng(seed).choice(len(pairs), max_pairs, replace=False))]
        pairs = pairs.reset_index(drop=True)
    groups = sentence_components(pairs)
    is_val = split_components(groups, val_fraction, seed)
    pairs = pairs.assign(group=groups, split=np.where(is_val, "val", "train"), source="tatoeba")
    sizes = np.bincount(groups)
    stats.update(components=int(len(sizes)), largest_component=int(sizes.max()), train_pairs=int((~is_val).sum()),
                 val_pairs=int(is_val.sum()))
    if coco is not None and len(coco):
        extra = pd.DataFrame({"en": coco["en"].to_numpy(), "tr": "",
                              "group": COCO_GROUP_OFFSET + coco["image_id"].to_numpy(np.int64),
                              "split": "train", "source": "coco"})
        pairs = pd.concat([pairs, extra], ignore_index=True)
        stats["coco_english_rows"] = len(extra)
    data = EvidenceData(pairs, test, stats)
    stats["val_train_shared_sentences"] = leaks(data.train, data.val)
    stats["test_train_shared_sentences"] = leaks(data.pairs, test)
    log.info("evidence data: %s", stats)
    return data
