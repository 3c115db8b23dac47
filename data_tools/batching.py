"""Length-sorted batching shared by the teacher and the translator: similar lengths together, longest first.

Sorting by length keeps padding small; longest first makes an out-of-memory show up in the first batch.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from data_tools.errors import UserError


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
