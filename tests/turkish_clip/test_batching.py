"""Length-sorted batching: every index once, longest first, stable ties, batch size and token budget respected;
the encode loop on top of it puts every vector back in the caller's row."""
from __future__ import annotations

import numpy as np
import pytest

from turkish_clip.batching import encode_sorted, length_sorted_batches
from turkish_clip.errors import UserError


def test_batches_longest_first_with_stable_ties():
    batches = length_sorted_batches([3, 9, 1, 9, 5], 2)
    assert [b.tolist() for b in batches] == [[1, 3], [4, 0], [2]]
    assert all(b.dtype == np.int64 for b in batches)


def test_token_budget_caps_padded_tokens_and_a_long_item_goes_alone():
    batches = length_sorted_batches([3, 9, 1, 9, 5, 2], 8, max_batch_tokens=19)
    assert [b.tolist() for b in batches] == [[1, 3], [4, 0, 5], [2]]  # 2×9 ≤ 19; 3×5 ≤ 19 < 4×5
    assert [b.tolist() for b in length_sorted_batches([50, 2, 2], 8, max_batch_tokens=10)] == [[0], [1, 2]]


@pytest.mark.parametrize("seed", range(5))
def test_random_lengths_keep_every_rule(seed):
    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, 80, size=rng.integers(1, 300))
    batch_size, budget = int(rng.integers(1, 40)), int(rng.integers(80, 600))
    batches = length_sorted_batches(lengths, batch_size, max_batch_tokens=budget)
    flat = np.concatenate(batches)
    assert sorted(flat.tolist()) == list(range(len(lengths)))  # every index exactly once
    assert np.all(np.diff(lengths[flat]) <= 0)  # longest first across and within batches
    for length in np.unique(lengths):  # ties keep input order
        same = flat[lengths[flat] == length]
        assert np.all(np.diff(same) > 0)
    assert all(1 <= len(b) <= batch_size and len(b) * lengths[b].max() <= budget for b in batches)
    full = length_sorted_batches(lengths, batch_size)  # no budget: only the last batch may be short
    assert all(len(b) == batch_size for b in full[:-1]) and np.array_equal(np.concatenate(full), flat)


def test_empty_input_and_bad_batch_size():
    assert length_sorted_batches([], 4) == []
    with pytest.raises(UserError, match="batch_size must be >= 1, got 0"):
        length_sorted_batches([1, 2], 0)


def test_encode_sorted_returns_rows_in_the_callers_order():
    lengths = [3, 9, 1, 9, 5, 2, 7]
    calls = []

    def encode_batch(index):
        calls.append(index.tolist())
        return np.stack([[i, lengths[i]] for i in index]).astype(np.float32)  # [b, 2]: the row's own id and length

    out = encode_sorted(lengths, encode_batch, 2, batch_size=3)
    assert out.dtype == np.float32 and out.shape == (7, 2)
    np.testing.assert_array_equal(out, [[i, n] for i, n in enumerate(lengths)])
    assert calls == [[1, 3, 6], [4, 0, 5], [2]]  # longest first, at most 3 per batch
    assert [len(c) for c in calls] == [3, 3, 1]


def test_encode_sorted_token_budget_and_empty_input():
    calls = []
    out = encode_sorted([50, 2, 2], lambda index: calls.append(index.tolist()) or np.ones((len(index), 4)), 4,
                        batch_size=8, max_batch_tokens=10)
    assert calls == [[0], [1, 2]] and out.shape == (3, 4) and (out == 1).all()
    assert encode_sorted([], lambda index: 1 / 0, 5, batch_size=4).shape == (0, 5)  # the model is never called
    with pytest.raises(UserError, match="batch_size must be >= 1"):
        encode_sorted([1], lambda index: np.zeros((1, 1)), 1, batch_size=0)
