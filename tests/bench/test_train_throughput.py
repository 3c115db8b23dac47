"""bench.train_throughput's third baseline: unsorted batches, each padded to its own longest caption."""
from __future__ import annotations

import numpy as np

import distill  # noqa: F401  (tf-keras before TensorFlow)
from bench.train_throughput import MODES, unsorted_dynamic


def test_unsorted_dynamic_pads_each_batch_to_its_longest_in_shuffled_order():
    rng = np.random.default_rng(0)
    ids = [np.arange(1, n + 1, dtype=np.int32) for n in rng.integers(2, 30, size=40)]
    targets = np.arange(40, dtype=np.float32)[:, None].repeat(3, axis=1)  # row i's target names row i
    batches = list(unsorted_dynamic(ids, targets, 8, 64, seed=1, multiple=1).as_numpy_iterator())
    rows = np.concatenate([t[:, 0] for _, t in batches]).astype(int)
    assert sorted(rows.tolist()) == list(range(40)) and rows.tolist() != list(range(40))  # all rows, shuffled
    for (x, t) in batches:
        lengths = [len(ids[i]) for i in t[:, 0].astype(int)]
        assert x["input_ids"].shape[1] == max(lengths)  # dynamic: no padding past the batch's longest
        assert (x["attention_mask"].sum(axis=1) == lengths).all()
    lengths_in_order = [len(ids[i]) for i in rows]
    assert lengths_in_order != sorted(lengths_in_order)  # not bucketed
    assert list(MODES) == ["bucketed", "dynamic", "fixed"]
