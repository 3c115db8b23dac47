"""Data from the cache: split by image id without leakage, length buckets, dynamic padding, bad targets."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import distill  # noqa: F401
from turkish_clip.errors import InputError
from distill.data import batch_order, load_splits, make_dataset, pad_batch, split_groups
from tests.distill.helpers import bag_cache, bag_corpus, bag_teacher, write_cache


def test_validation_split_is_by_image_id_without_leakage(tmp_path):
    data = bag_cache(tmp_path / "data", n_images=50, per_image=5)
    train, val, manifest = load_splits(data, val_fraction=0.2, seed=3)
    assert len(train) + len(val) == 250 and len(set(val.groups)) == 10
    assert set(train.groups).isdisjoint(set(val.groups))  # no image on both sides
    assert set(train.caption_ids).isdisjoint(set(val.caption_ids))
    for image in set(val.groups):  # every caption of a validation image is in validation
        assert (val.groups == image).sum() == 5
    assert manifest["teacher"]["dim"] == 16
    again = load_splits(data, val_fraction=0.2, seed=3)[1]
    assert list(again.caption_ids) == list(val.caption_ids)  # reproducible with the seed


def test_rows_keep_their_own_teacher_vector(tmp_path):
    table = bag_corpus(20, 2)
    vectors = bag_teacher(table["tr"].tolist())
    train, val, _ = load_splits(write_cache(tmp_path / "d", table, vectors, np.float32), val_fraction=0.25)
    by_id = dict(zip(table["caption_id"], vectors))
    for part in (train, val):
        np.testing.assert_array_equal(part.targets, np.stack([by_id[c] for c in part.caption_ids]))
        assert part.texts == [table.set_index("caption_id").loc[c, "tr"] for c in part.caption_ids]


def test_without_images_the_split_is_by_english_sentence():
    table = pd.DataFrame({"image_id": [-1] * 6, "en": ["a", "a", "b", "b", "c", "c"]})
    is_val = split_groups(table, val_fraction=0.34, seed=0)
    assert is_val.sum() == 2 and table["en"][is_val].nunique() == 1  # both translations of one sentence


def test_english_captions_join_training_only(tmp_path):
    data = bag_cache(tmp_path / "data", n_images=20, per_image=2)
    plain, val, _ = load_splits(data, val_fraction=0.2)
    both, val2, _ = load_splits(data, val_fraction=0.2, include_english=True)
    assert len(both) == 2 * len(plain) and both.texts[len(plain)] == "EN " + plain.texts[0]
    np.testing.assert_array_equal(both.targets[len(plain)], plain.targets[0])
    assert val2.texts == val.texts


def test_normalised_targets_have_unit_length(tmp_path):
    train, _, _ = load_splits(bag_cache(tmp_path / "d", 20, 2), val_fraction=0.2, normalize_targets=True)
    np.testing.assert_allclose(np.linalg.norm(train.targets, axis=1), 1.0, rtol=1e-5)


def test_nan_teacher_vector_names_the_caption(tmp_path):
    data = bag_cache(tmp_path / "d", 10, 2)
    vectors = np.load(data / "teacher.npy")
    vectors[5] = np.inf
    np.save(data / "teacher.npy", vectors)
    with pytest.raises(InputError, match=r"1 caption\(s\) are NaN/inf \(caption_id \[21\], teacher.npy rows \[5\]\)"):
        load_splits(data)


def test_missing_text_column_is_a_clear_error(tmp_path):
    with pytest.raises(InputError, match="has no 'de' column"):
        load_splits(bag_cache(tmp_path / "d", 5, 2), text_column="de")


def test_buckets_cover_every_example_once_and_group_similar_lengths():
    rng = np.random.default_rng(0)
    lengths = rng.integers(3, 60, size=1000)
    batches = batch_order(lengths, 32, np.random.default_rng(1), bucket=True, pool=10)
    assert sorted(np.concatenate(batches).tolist()) == list(range(1000))
    spread = np.mean([lengths[b].max() - lengths[b].min() for b in batches])
    unsorted = batch_order(lengths, 32, np.random.default_rng(1), bucket=False)
    assert spread < 0.2 * np.mean([lengths[b].max() - lengths[b].min() for b in unsorted])
    again = batch_order(lengths, 32, np.random.default_rng(1), bucket=True, pool=10)
    assert all(np.array_equal(a, b) for a, b in zip(batches, again))


def test_dynamic_padding_versus_fixed_length():
    ids = [np.arange(1, n + 1, dtype=np.int32) for n in (3, 5, 12, 4)]
    targets = np.arange(8, dtype=np.float32).reshape(4, 2)
    dynamic = list(make_dataset(ids, targets, 2, pad_id=0, max_length=32, seed=None, pad_multiple=8).as_numpy_iterator())
    assert [x["input_ids"].shape[1] for x, _ in dynamic] == [8, 16]  # [3,4] -> 8, [5,12] -> 16
    for x, y in dynamic:
        lengths = x["attention_mask"].sum(axis=1)
        np.testing.assert_array_equal(y, targets[[i for i in range(4) if len(ids[i]) in lengths]])
    fixed = list(make_dataset(ids, targets, 2, pad_id=0, max_length=32, seed=None, bucket=False).as_numpy_iterator())
    assert [x["input_ids"].shape[1] for x, _ in fixed] == [32, 32]
    batch = pad_batch([np.array([5, 6, 7], np.int32)], pad_id=9, length=5)
    assert batch["input_ids"].tolist() == [[5, 6, 7, 9, 9]] and batch["attention_mask"].tolist() == [[1, 1, 1, 0, 0]]


def test_english_only_rows_train_on_their_english_side(tmp_path):
    table = bag_corpus(20, 2)
    vectors = bag_teacher(table["tr"].tolist())
    table.loc[[0, 1, 5], "tr"] = ["", "  ", None]  # untranslated (English-only) captions
    table.loc[7, ["tr", "en"]] = ["", ""]  # nothing at all: dropped
    data = write_cache(tmp_path / "d", table, vectors)
    train, val, _ = load_splits(data, val_fraction=0.2, seed=1)
    by_id = table.set_index("caption_id")
    for cid in by_id.index[[0, 1, 5]]:
        if cid in set(train.caption_ids):
            rows = np.flatnonzero(train.caption_ids == cid)
            assert [train.texts[r] for r in rows] == [by_id.loc[cid, "en"]]  # its English side, once
        assert cid not in set(val.caption_ids)  # validation measures translation only
    assert by_id.index[7] not in set(train.caption_ids) | set(val.caption_ids)
    trained_english_only = {c for c in by_id.index[[0, 1, 5]] if c in set(train.caption_ids)}
    assert trained_english_only  # at least one of them is a training row with this seed
    assert all(t.strip() for t in train.texts)


def test_keys_and_groups_mark_rows_that_must_not_be_negatives(tmp_path):
    table = bag_corpus(10, 2)
    table.loc[3, "en"] = table.loc[0, "en"]  # two images share an English caption -> one teacher vector, one key
    table.loc[[8, 9], "image_id"] = -1  # no image: each row its own group (by English sentence)
    data = write_cache(tmp_path / "d", table, bag_teacher(table["tr"].tolist()))
    train, val, _ = load_splits(data, val_fraction=0.01, seed=0, include_english=True)
    both = {c: k for c, k in zip(np.concatenate([train.caption_ids, val.caption_ids]), np.concatenate([train.keys, val.keys]))}
    ids = table["caption_id"].tolist()
    assert both[ids[0]] == both[ids[3]] and len({both[i] for i in ids}) == len(ids) - 1
    english_rows = np.flatnonzero(train.caption_ids == ids[0])
    assert len(english_rows) == 2 and len(set(train.keys[english_rows])) == 1  # TR and EN rows of one caption
    groups = dict(zip(train.caption_ids, train.negative_groups()))
    assert groups[ids[8]] < -1 and groups[ids[9]] < -1 and groups[ids[8]] != groups[ids[9]]
    assert groups[ids[0]] == groups[ids[1]] == table.loc[0, "image_id"]


def test_contrastive_batches_carry_keys_groups_and_extra_negatives(tmp_path):
    train, _, _ = load_splits(bag_cache(tmp_path / "d", 30, 2), val_fraction=0.2)
    ids = [np.arange(2, 2 + len(t.split()), dtype=np.int32) for t in train.texts]
    batches = list(make_dataset(ids, train, 8, pad_id=0, max_length=16, seed=1, negatives=5).as_numpy_iterator())
    seen = []
    for x, y in batches:
        assert set(y) == {"target", "key", "group", "negatives", "negative_key", "negative_group"}
        assert y["negatives"].shape == (5, 16) and y["target"].shape == (len(x["input_ids"]), 16)
        for vec, key in zip(y["negatives"], y["negative_key"]):  # a negative is a real training row's vector
            np.testing.assert_array_equal(vec, train.targets[np.flatnonzero(train.keys == key)[0]])
        for vec, key in zip(y["target"], y["key"]):
            seen.append(key)
            np.testing.assert_array_equal(vec, train.targets[np.flatnonzero(train.keys == key)[0]])
    assert sorted(seen) == sorted(train.keys.tolist())  # every row once per epoch
