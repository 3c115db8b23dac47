"""Cached frozen-encoder features: chunked, resumable, recomputed when what they depend on changes."""
from __future__ import annotations

import json

import numpy as np
import pytest

import distill  # noqa: F401
from distill import features as features_module
from distill.features import cached_features, ids_key


class Interrupted(Exception):
    pass


def fake_pool(calls: list, fail_after: int | None = None):
    """A 'pooling' that is the mean token id and the length, counting the rows it is asked for."""
    def pool(batch):
        if fail_after is not None and sum(calls) >= fail_after:
            raise Interrupted
        ids, mask = batch["input_ids"], batch["attention_mask"]
        calls.append(len(ids))
        return np.stack([(ids * mask).sum(1) / mask.sum(1), mask.sum(1)], axis=1)
    return pool


def make_ids(n=23, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.integers(1, 50, size=rng.integers(2, 9)).astype(np.int32) for _ in range(n)]


def test_features_are_in_input_order_and_reused(tmp_path, monkeypatch):
    monkeypatch.setattr(features_module, "CHUNK", 5)
    ids, calls = make_ids(), []
    out = cached_features(tmp_path / "f.npy", ids, fake_pool(calls), 2, "k1", batch_size=4, progress=False)
    want = np.array([[x.mean(), len(x)] for x in ids])
    np.testing.assert_allclose(out, want, rtol=1e-3)  # float16 on disk
    assert out.dtype == np.float16 and sum(calls) == 23
    again = cached_features(tmp_path / "f.npy", ids, fake_pool(calls), 2, "k1", batch_size=4, progress=False)
    assert sum(calls) == 23 and np.array_equal(again, out)  # nothing recomputed


def test_an_interrupted_pass_resumes_at_the_first_missing_chunk(tmp_path, monkeypatch):
    monkeypatch.setattr(features_module, "CHUNK", 5)
    ids, calls = make_ids(), []
    with pytest.raises(Interrupted):
        cached_features(tmp_path / "f.npy", ids, fake_pool(calls, fail_after=12), 2, "k", batch_size=2, progress=False)
    assert json.loads((tmp_path / "f.json").read_text())["done"] == 2  # chunks 1-2 complete, chunk 3 cut mid-way
    calls_after = []
    out = cached_features(tmp_path / "f.npy", ids, fake_pool(calls_after), 2, "k", batch_size=5, progress=False,
                          dtype="float16")
    assert sum(calls_after) == 23 - 10  # only the missing chunks
    whole = cached_features(tmp_path / "g.npy", ids, fake_pool([]), 2, "k", batch_size=5, progress=False)
    assert np.array_equal(out, whole)


def test_a_changed_key_or_dtype_recomputes(tmp_path):
    ids, calls = make_ids(), []
    cached_features(tmp_path / "f.npy", ids, fake_pool(calls), 2, ids_key(ids, "m", "16"), progress=False)
    cached_features(tmp_path / "f.npy", ids, fake_pool(calls), 2, ids_key(ids, "m", "32"), progress=False)
    assert sum(calls) == 46
    out = cached_features(tmp_path / "f.npy", ids, fake_pool(calls), 2, ids_key(ids, "m", "32"), dtype="float32",
                          progress=False)
    assert sum(calls) == 69 and out.dtype == np.float32
    assert ids_key(ids, "m", "16") != ids_key(ids[:-1] + [ids[-1][:-1]], "m", "16")  # one token less
