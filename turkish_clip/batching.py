"""Length-sorted batching: similar lengths together, longest first, and the one encode loop built on it that
every encoder uses (CLIP teacher, mean-pool teacher, the student in training and at inference).

Sorting by length keeps padding small; longest first makes an out-of-memory show up in the first batch. The
loop hands each batch's row indices to the model call and writes the vectors back in the caller's order, as
sentence-transformers' `encode` does for every model it serves.
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
from tqdm.auto import tqdm

from turkish_clip.errors import UserError


def length_sorted_batches(lengths: Sequence[int], batch_size: int,
                          max_batch_tokens: int | None = None) -> list[np.ndarray]:
    """Index arrays, longest first (ties keep input order), each index exactly once.

    A batch holds at most `batch_size` items and, when `max_batch_tokens` is set, at most that many padded
    tokens (items × the batch's longest); an item longer than the budget gets a batch of its own.
    """
    if batch_size < 1:
        raise UserError(f"batch_size must be >= 1, got {batch_size}")
    lengths = np.asarray(lengths, dtype=np.int64).reshape(-1)  # [n]
    order = np.argsort(-lengths, kind="stable")  # [n]
    batches, start = [], 0
    while start < len(order):
        longest = int(lengths[order[start]])  # the first item of a batch is its longest
        size = batch_size
        if max_batch_tokens and longest > 0:
            size = max(1, min(batch_size, max_batch_tokens // longest))
        batches.append(order[start : start + size])
        start += size
    return batches


def encode_sorted(lengths: Sequence[int], encode_batch: Callable[[np.ndarray], np.ndarray], dim: int, *,
                  batch_size: int, max_batch_tokens: int | None = None, progress: bool = False,
                  desc: str | None = None, unit: str = "text") -> np.ndarray:
    """float32 [n, dim], row i for item i: `encode_batch(index)` gets the row indices of one length-sorted batch
    (longest first) and returns their vectors [len(index), dim]; [] gives [0, dim]."""
    out = np.zeros((len(lengths), dim), np.float32)  # [n, dim]
    batches = length_sorted_batches(lengths, batch_size, max_batch_tokens)
    with tqdm(total=len(lengths), unit=unit, desc=desc, disable=not progress) as bar:
        for index in batches:
            out[index] = encode_batch(index)  # [b, dim] into the caller's rows
            bar.update(len(index))
    return out
