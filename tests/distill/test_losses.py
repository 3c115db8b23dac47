"""The distillation losses: values on hand-computed examples, masking of duplicates, effect of extra negatives."""
from __future__ import annotations

import math

import numpy as np
import pytest

import distill  # noqa: F401  (tf-keras before TensorFlow)
from distill.losses import distillation_loss, info_nce


def unit(rows):
    rows = np.asarray(rows, np.float64)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def ce(logits: np.ndarray, label: int) -> float:
    return float(-logits[label] + math.log(np.exp(logits).sum()))


def hand_info_nce(s, t, key, group, temp, neg=None, neg_key=None, neg_group=None) -> float:
    """Straight from the definition, one row at a time, skipping masked candidates."""
    s, t = unit(s), unit(t)
    cand = t if neg is None else np.vstack([t, unit(neg)])
    ck = list(key) + ([] if neg is None else list(neg_key))
    cg = list(group) + ([] if neg is None else list(neg_group))
    forward, backward = [], []
    for i in range(len(s)):
        keep = [j for j in range(len(cand)) if j == i or (ck[j] != key[i] and cg[j] != group[i])]
        forward.append(ce(np.array([s[i] @ cand[j] for j in keep]) / temp, keep.index(i)))
        keep_b = [j for j in range(len(s)) if j == i or (key[j] != key[i] and group[j] != group[i])]
        backward.append(ce(np.array([t[i] @ s[j] for j in keep_b]) / temp, keep_b.index(i)))
    return 0.5 * (np.mean(forward) + np.mean(backward))


def tf_info_nce(s, t, key, group, temp, neg=None, neg_key=None, neg_group=None) -> float:
    import tensorflow as tf

    c = lambda a, d=tf.float32: None if a is None else tf.constant(np.asarray(a), d)  # noqa: E731
    return float(info_nce(c(s), c(t), c(key, tf.int64), c(group, tf.int64), temp, c(neg), c(neg_key, tf.int64),
                          c(neg_group, tf.int64)))


def test_info_nce_matches_a_hand_computed_two_row_example():
    # s0 = t0 exactly, s1 orthogonal to t1's rival: cosines are 1, 0 / 0.6, 0.8 -> numbers worked out by hand
    s = [[1.0, 0.0], [0.6, 0.8]]
    t = [[1.0, 0.0], [0.0, 1.0]]
    temp = 0.5
    # forward row 0: logits [1, 0]/0.5 = [2, 0] -> -2 + log(e^2 + 1); row 1: [0.6, 0.8]/0.5 = [1.2, 1.6] -> label 1
    f0, f1 = -2 + math.log(math.exp(2) + 1), -1.6 + math.log(math.exp(1.2) + math.exp(1.6))
    # backward row 0: t0 . [s0, s1] = [1, 0.6]/0.5 = [2, 1.2]; row 1: t1 . [s0, s1] = [0, 0.8]/0.5 = [0, 1.6]
    b0, b1 = -2 + math.log(math.exp(2) + math.exp(1.2)), -1.6 + math.log(1 + math.exp(1.6))
    want = 0.5 * ((f0 + f1) / 2 + (b0 + b1) / 2)
    assert tf_info_nce(s, t, [0, 1], [10, 11], temp) == pytest.approx(want, rel=1e-6)
    assert hand_info_nce(s, t, [0, 1], [10, 11], temp) == pytest.approx(want, rel=1e-12)


def test_info_nce_equals_the_definition_on_random_batches_with_duplicates_and_negatives():
    rng = np.random.default_rng(0)
    s, t, neg = rng.normal(size=(6, 8)), rng.normal(size=(6, 8)), rng.normal(size=(5, 8))
    key, group = [0, 1, 1, 2, 3, 4], [7, 8, 8, 9, 9, 10]  # rows 1/2 same caption, rows 3/4 same image
    neg_key, neg_group = [1, 5, 6, 7, 8], [20, 21, 9, 22, 23]  # negative 0 duplicates row 1, negative 2 shares row 3's image
    got = tf_info_nce(s, t, key, group, 0.07, neg, neg_key, neg_group)
    assert got == pytest.approx(hand_info_nce(s, t, key, group, 0.07, neg, neg_key, neg_group), rel=1e-5)
    assert got != pytest.approx(hand_info_nce(s, t, [0, 1, 2, 3, 4, 5], [0, 1, 2, 3, 4, 5], 0.07, neg, [6, 7, 8, 9, 10],
                                              [6, 7, 8, 9, 10]), rel=1e-3)  # the masks matter


def test_duplicates_are_never_negatives():
    """Two rows with the same teacher vector: a perfect student scores the minimum loss (log 1 per masked row),
    which it could not if the duplicate counted as a negative at cosine 1."""
    t = unit([[1.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    masked = tf_info_nce(t, t, [0, 0, 1], [0, 1, 2], 0.01)
    assert masked == pytest.approx(0.0, abs=1e-6)  # each row's only unmasked rival is at cosine 0 / 0.01 -> e^-100
    unmasked = tf_info_nce(t, t, [0, 1, 2], [0, 1, 2], 0.01)
    assert unmasked == pytest.approx(math.log(2) * 2 / 3, rel=1e-4)  # rows 0, 1 tie with each other: log 2 each
    same_image = tf_info_nce(t, t, [0, 1, 2], [5, 5, 6], 0.01)  # same image (group), different captions
    assert same_image == pytest.approx(0.0, abs=1e-6)


def test_extra_negatives_change_the_loss_as_expected():
    rng = np.random.default_rng(1)
    s, t = rng.normal(size=(4, 16)), rng.normal(size=(4, 16))
    key, group = [0, 1, 2, 3], [0, 1, 2, 3]
    base = tf_info_nce(s, t, key, group, 0.1)
    one = tf_info_nce(s, t, key, group, 0.1, rng.normal(size=(1, 16)), [9], [9])
    hard = tf_info_nce(s, t, key, group, 0.1, s, [10, 11, 12, 13], [10, 11, 12, 13])  # copies of the students
    assert base < one < hard  # any extra negative adds to every row's softmax; the hardest ones add most
    # copies of the batch's own teacher vectors under the same keys: masked for their own row only
    copies = tf_info_nce(s, t, key, group, 0.1, t, key, [10, 11, 12, 13])
    assert copies == pytest.approx(hand_info_nce(s, t, key, group, 0.1, t, key, [10, 11, 12, 13]), rel=1e-5)
    unmasked = tf_info_nce(s, t, key, group, 0.1, t, [20, 21, 22, 23], [10, 11, 12, 13])
    assert base < copies < unmasked  # a row's own target as a negative would be a false negative: it is masked


def test_combined_loss_is_mse_plus_weighted_info_nce():
    import tensorflow as tf

    rng = np.random.default_rng(2)
    s, t = rng.normal(size=(5, 8)).astype(np.float32), rng.normal(size=(5, 8)).astype(np.float32)
    y = {"target": tf.constant(t), "key": tf.constant(np.arange(5)), "group": tf.constant(np.arange(5))}
    mse = float(np.mean((s - t) ** 2))
    nce = tf_info_nce(s, t, list(range(5)), list(range(5)), 0.05)
    assert float(distillation_loss("mse", tf.constant(s), y)) == pytest.approx(mse, rel=1e-6)
    assert float(distillation_loss("contrastive", tf.constant(s), y, 0.05)) == pytest.approx(nce, rel=1e-5)
    combined = float(distillation_loss("mse+contrastive", tf.constant(s), y, 0.05, contrastive_weight=0.3))
    assert combined == pytest.approx(mse + 0.3 * nce, rel=1e-5)
    cosine = float(distillation_loss("cosine", tf.constant(s), y))
    assert cosine == pytest.approx(-np.mean(np.sum(unit(s) * unit(t), axis=1)), rel=1e-5)
