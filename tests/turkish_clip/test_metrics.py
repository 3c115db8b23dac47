"""Metrics on constructed embeddings whose answers are known by hand."""
from __future__ import annotations

import numpy as np
import pytest

from turkish_clip.metrics import (TIE_EPS, _csr, best_correct_ranks, class_embeddings, confusion_matrix, fidelity,
                                l2_normalize, recall_curve, retrieval_ranks, retrieval_recall, zero_shot_accuracy,
                                zero_shot_predict)


def reference_ranks(queries, gallery, correct):
    """Brute force, one query and one correct item at a time: the documented rank formula, best over the items."""
    ranks = []
    for q, items in zip(l2_normalize(queries), correct):
        scores = np.array([float(np.dot(q, g)) for g in l2_normalize(gallery)])
        ranks.append(min((int(np.sum(scores > scores[j] + TIE_EPS))
                          + int(np.sum(np.abs(scores[:j] - scores[j]) <= TIE_EPS)) for j in items), default=-1))
    return np.array(ranks)


def test_identity_gives_perfect_recall():
    emb = np.random.default_rng(0).normal(size=(50, 16))
    result = retrieval_recall(emb, emb, list(range(50)))
    assert {k: v for k, v in result.items() if "R@" in k} == {f"{d}_R@{k}": 1.0 for d in ("t2i", "i2t")
                                                            for k in (1, 5, 10)}
    assert (result["n_texts"], result["n_images"], result["n_i2t_queries"]) == (50, 50, 50)


def test_hand_built_scores_give_exact_recalls():
    images = np.eye(4)
    # all text rows have norm sqrt(30), so cosines are the raw numbers / sqrt(30)
    texts = np.array([[4, 3, 2, 1], [4, 3, 2, 1], [1, 2, 3, 4], [1, 4, 2, 3]], dtype=float)
    text_to_image = [0, 1, 0, 3]  # image 0 has two captions, image 2 none
    ranks = retrieval_ranks(texts, images, text_to_image)
    # t2i: t0 first; t1 second; t2's image 0 is last; t3's image 3 (score 3) is behind image 1 (score 4)
    assert ranks["t2i"].tolist() == [0, 1, 3, 1]
    # i2t: img0 column [4,4,1,1]: t0 wins the tie with t1 (lower index); img1 column [3,3,2,4]: t1 ties t0 and
    # loses (t0 comes first), and t3 is above -> rank 2; img2 has no caption; img3 column [1,1,4,3] -> rank 1
    assert ranks["i2t"].tolist() == [0, 2, -1, 1]
    result = retrieval_recall(texts, images, text_to_image, ks=(1, 2, 4))
    assert result["t2i_R@1"] == 0.25 and result["t2i_R@2"] == 0.75 and result["t2i_R@4"] == 1.0
    assert result["i2t_R@1"] == pytest.approx(1 / 3) and result["i2t_R@2"] == pytest.approx(2 / 3)
    assert result["i2t_R@4"] == 1.0 and result["n_i2t_queries"] == 3


def test_permutation_of_images():
    rng = np.random.default_rng(1)
    images = rng.normal(size=(20, 8))
    perm = rng.permutation(20)
    texts = images[perm]  # text i shows image perm[i]
    assert retrieval_recall(texts, images, perm.tolist(), ks=(1,))["t2i_R@1"] == 1.0
    # the wrong ground truth (identity) is right only where perm has fixed points
    wrong = retrieval_recall(texts, images, list(range(20)), ks=(1,))
    assert wrong["t2i_R@1"] == pytest.approx(np.mean(perm == np.arange(20)))


def test_ties_broken_by_lower_index_and_any_correct_counts():
    images = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])  # images 0 and 1 identical
    texts = np.array([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0]])
    ranks = retrieval_ranks(texts, images, [[0], [1], [1, 0]])["t2i"]
    assert ranks.tolist() == [0, 1, 0]  # image 1 loses the tie to image 0; with both correct, the first counts
    # repeated calls and any chunk size give the same answer
    for chunk_bytes in (1, 16, 10**9):
        again = retrieval_ranks(texts, images, [[0], [1], [1, 0]], max_chunk_bytes=chunk_bytes)["t2i"]
        assert again.tolist() == [0, 1, 0]


def test_matches_brute_force_stable_sort_in_any_chunking():
    rng = np.random.default_rng(2)
    images = rng.integers(-2, 3, size=(40, 3)).astype(float)  # small integer vectors: many exact ties
    texts = rng.integers(-2, 3, size=(90, 3)).astype(float)
    correct = [sorted(rng.choice(40, size=rng.integers(1, 4), replace=False).tolist()) for _ in range(90)]
    expected = reference_ranks(texts, images, correct)
    q, g = l2_normalize(texts), l2_normalize(images)
    indptr, indices = _csr(correct, 40, "t")
    for chunk_bytes in (8, 8 * 40 * 7, 10**9):
        assert best_correct_ranks(q, g, indptr, indices, chunk_bytes).tolist() == expected.tolist()


def test_recall_curve_is_monotone_and_reaches_one():
    rng = np.random.default_rng(3)
    ranks = retrieval_ranks(rng.normal(size=(30, 4)), rng.normal(size=(10, 4)), rng.integers(0, 10, 30))["t2i"]
    curve = recall_curve(ranks, max_k=10)
    assert len(curve) == 10 and curve == sorted(curve) and curve[-1] == 1.0


def test_bad_targets_raise():
    with pytest.raises(ValueError, match="index 5 is outside 0..2"):
        retrieval_recall(np.ones((2, 2)), np.ones((3, 2)), [0, 5])
    with pytest.raises(ValueError, match="2 entries for 3 texts"):
        retrieval_recall(np.ones((3, 2)), np.ones((3, 2)), [0, 1])


def test_class_embeddings_average_normalised_templates():
    emb = np.array([[[2.0, 0.0], [0.0, 3.0]],  # class 0: unit vectors [1,0] and [0,1] -> mean [.5,.5]
                    [[0.0, -5.0], [0.0, -0.1]]])  # class 1: both [0,-1]
    out = class_embeddings(emb)
    np.testing.assert_allclose(out, [[np.sqrt(0.5), np.sqrt(0.5)], [0.0, -1.0]])
    with pytest.raises(ValueError, match="n_templates"):
        class_embeddings(np.ones((2, 3)))


def test_zero_shot_accuracy_and_confusion():
    classes = np.eye(3)
    images = np.array([[0.9, 0.1, 0.0],   # -> 0 (true 0)
                       [0.1, 0.8, 0.3],   # -> 1 (true 2: second place)
                       [0.0, 0.2, 0.9],   # -> 2 (true 2)
                       [0.5, 0.4, 0.1]])  # -> 0 (true 1: second place)
    labels = [0, 2, 2, 1]
    assert zero_shot_predict(images, classes).tolist() == [0, 1, 2, 0]
    result = zero_shot_accuracy(images, classes, labels, ks=(1, 2))
    assert result == {"top1": 0.5, "top2": 1.0, "n": 4}
    matrix = confusion_matrix(labels, [0, 1, 2, 0], 3)
    assert matrix.tolist() == [[1, 0, 0], [1, 0, 0], [0, 1, 1]]


def test_fidelity_known_values():
    teacher = np.array([[1.0, 0.0], [0.0, 1.0]])
    same = fidelity(teacher, teacher)
    assert same["mse"] == 0 and same["cosine"] == pytest.approx(1.0) and same["R@1"] == 1.0
    doubled = fidelity(2 * teacher, teacher)  # direction kept: cosine 1, but raw MSE = mean(teacher**2) = 0.5
    assert doubled["mse"] == pytest.approx(0.5) and doubled["cosine"] == pytest.approx(1.0)
    swapped = fidelity(teacher[::-1], teacher)
    assert swapped["mse"] == pytest.approx(1.0) and swapped["cosine"] == pytest.approx(0.0)
    assert swapped["R@1"] == 0.0 and swapped["R@5"] == 1.0 and swapped["n"] == 2


def test_fidelity_counts_duplicate_english_rows_as_correct():
    teacher = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])  # rows 0 and 1: the same English sentence
    student = np.array([[1.0, 0.1], [1.0, 0.1], [0.1, 1.0]])
    result = fidelity(student, teacher)
    assert result["R@1"] == 1.0 and result["duplicate_teacher_rows"] == 1


def test_memory_stays_bounded_by_the_chunk_size():
    import tracemalloc

    rng = np.random.default_rng(4)
    texts, images = rng.normal(size=(4000, 32)), rng.normal(size=(1000, 32))  # full scores: 32 MB float64
    tracemalloc.start()
    retrieval_ranks(texts, images, np.arange(4000) % 1000, max_chunk_bytes=2**20)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 10 * 2**20
