"""Retrieval, zero-shot and teacher-fidelity metrics on embeddings; numpy only, so TF and torch code can both use it.

Conventions follow CLIP_benchmark (github.com/LAION-AI/CLIP_benchmark): embeddings are L2-normalised, scores are
cosines, and a query counts as a hit at K when ANY of its correct items is among its top K.

Ties are broken deterministically, as a stable sort by score descending then gallery index ascending would: the
rank of a correct item j for a query is  #{k: s_k > s_j} + #{k: s_k == s_j and k < j}  (0-based). A correct item
tied with an earlier wrong one therefore loses the tie; a tie is never counted as a hit for free. Scores closer
than TIE_EPS count as equal: BLAS rounds the same cosine differently in different matrix shapes (last-bit noise,
~1e-16), so exact float equality would make results depend on the chunk size; with the tolerance they do not.
Scores are computed in float64 in chunks of queries, so memory stays bounded (about `max_chunk_bytes`).
"""
from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np

MAX_CHUNK_BYTES = 64 * 2**20  # score block of one query chunk, float64
TIE_EPS = 1e-9  # cosines closer than this are ties; far below float32 embedding resolution (~1e-7)


def l2_normalize(x: np.ndarray, dtype=np.float64) -> np.ndarray:
    """Rows scaled to unit length (float64 by default, for exact ranking); all-zero rows stay zero."""
    x = np.asarray(x, dtype=dtype)
    if x.ndim != 2:
        raise ValueError(f"expected a 2-D array [n, dim], got shape {x.shape}")
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(norms > 0, norms, 1.0)


def _csr(targets: Sequence, n_gallery: int, what: str) -> tuple[np.ndarray, np.ndarray]:
    """Correct-item lists as CSR (indptr [n+1], indices); accepts ints, lists of ints or an int array [n] / [n, m]."""
    lists = [[int(t)] if np.ndim(t) == 0 else [int(v) for v in t] for t in targets]
    indptr = np.zeros(len(lists) + 1, dtype=np.int64)
    indptr[1:] = np.cumsum([len(items) for items in lists])
    indices = np.fromiter((v for items in lists for v in items), dtype=np.int64, count=int(indptr[-1]))
    if indices.size and (indices.min() < 0 or indices.max() >= n_gallery):
        bad = int(indices[(indices < 0) | (indices >= n_gallery)][0])
        raise ValueError(f"{what}: index {bad} is outside 0..{n_gallery - 1}")
    return indptr, indices


def _invert(indptr: np.ndarray, indices: np.ndarray, n_targets: int) -> tuple[np.ndarray, np.ndarray]:
    """Transpose a CSR relation: for each target, the sorted queries that point at it."""
    queries = np.repeat(np.arange(len(indptr) - 1), np.diff(indptr))
    order = np.lexsort((queries, indices))
    counts = np.bincount(indices, minlength=n_targets)
    inv_ptr = np.zeros(n_targets + 1, dtype=np.int64)
    inv_ptr[1:] = np.cumsum(counts)
    return inv_ptr, queries[order]


def best_correct_ranks(queries: np.ndarray, gallery: np.ndarray, indptr: np.ndarray, indices: np.ndarray,
                       max_chunk_bytes: int = MAX_CHUNK_BYTES) -> np.ndarray:
    """0-based rank of the best-placed correct gallery item of each query (-1 where a query has none).

    queries [n_q, d], gallery [n_g, d], already normalised; correct items of query i are
    indices[indptr[i]:indptr[i+1]]. Tie rule: see the module docstring.
    """
    n_q, n_g = len(queries), len(gallery)
    ranks = np.full(n_q, -1, dtype=np.int64)
    chunk = max(1, min(n_q, max_chunk_bytes // max(8 * n_g, 1)))
    gallery_t = np.ascontiguousarray(gallery.T)  # [d, n_g]
    for start in range(0, n_q, chunk):
        stop = min(start + chunk, n_q)
        scores = queries[start:stop] @ gallery_t  # [c, n_g] float64
        counts = np.diff(indptr[start:stop + 1])
        has = counts > 0
        rows = np.repeat(np.arange(stop - start), counts)  # (row, column) pairs of the correct items
        cols = indices[indptr[start]:indptr[stop]]
        correct = scores[rows, cols]
        best = np.full(stop - start, -np.inf)
        np.maximum.at(best, rows, correct)  # best correct score per query
        # lowest correct index whose score ties the best one
        candidate = np.where(np.abs(correct - best[rows]) <= TIE_EPS, cols, n_g)
        best_index = np.full(stop - start, n_g)
        np.minimum.at(best_index, rows, candidate)
        above = scores > best[:, None] + TIE_EPS  # [c, n_g]
        tie_rows, tie_cols = np.nonzero(~above & (scores >= best[:, None] - TIE_EPS))  # ties are rare: sparse
        tied_before = np.bincount(tie_rows[tie_cols < best_index[tie_rows]], minlength=stop - start)
        ranks[start:stop] = np.where(has, above.sum(axis=1) + tied_before, -1)
    return ranks


def recall_at_k(ranks: np.ndarray, ks: Iterable[int]) -> dict[int, float]:
    """Share of queries whose best correct rank is < K, over queries that have a correct item (rank >= 0)."""
    valid = ranks[ranks >= 0]
    return {int(k): float((valid < k).mean()) if valid.size else float("nan") for k in ks}


def recall_curve(ranks: np.ndarray, max_k: int = 50) -> list[float]:
    """Recall@K for K = 1..max_k (for recall-at-K plots)."""
    return list(recall_at_k(ranks, range(1, max_k + 1)).values())


def retrieval_ranks(text_emb: np.ndarray, image_emb: np.ndarray, text_to_image: Sequence,
                    max_chunk_bytes: int = MAX_CHUNK_BYTES) -> dict[str, np.ndarray]:
    """Best correct ranks for text→image ("t2i", one per text) and image→text ("i2t", one per image).

    text_to_image: for each text, its correct image index or list of indices. An image's correct texts are all
    texts that point at it (all its captions); an image no text points at gets rank -1 and is left out of i2t.
    """
    texts, images = l2_normalize(text_emb), l2_normalize(image_emb)
    if len(text_to_image) != len(texts):
        raise ValueError(f"text_to_image has {len(text_to_image)} entries for {len(texts)} texts")
    if texts.shape[1] != images.shape[1]:
        raise ValueError(f"text dim {texts.shape[1]} != image dim {images.shape[1]}")
    indptr, indices = _csr(text_to_image, len(images), "text_to_image")
    inv_ptr, inv_indices = _invert(indptr, indices, len(images))
    return {"t2i": best_correct_ranks(texts, images, indptr, indices, max_chunk_bytes),
            "i2t": best_correct_ranks(images, texts, inv_ptr, inv_indices, max_chunk_bytes)}


def retrieval_recall(text_emb: np.ndarray, image_emb: np.ndarray, text_to_image: Sequence,
                     ks: Iterable[int] = (1, 5, 10), max_chunk_bytes: int = MAX_CHUNK_BYTES) -> dict:
    """Recall@K both ways as fractions: {"t2i_R@1": .., "i2t_R@1": .., ..., "n_texts", "n_images", "n_i2t_queries"}."""
    ks = tuple(ks)
    ranks = retrieval_ranks(text_emb, image_emb, text_to_image, max_chunk_bytes)
    result: dict = {}
    for direction in ("t2i", "i2t"):
        for k, value in recall_at_k(ranks[direction], ks).items():
            result[f"{direction}_R@{k}"] = value
    result.update(n_texts=len(ranks["t2i"]), n_images=len(ranks["i2t"]),
                  n_i2t_queries=int((ranks["i2t"] >= 0).sum()))
    return result


def class_embeddings(text_emb_per_template: np.ndarray) -> np.ndarray:
    """CLIP-style prompt ensemble: [n_classes, n_templates, d] → [n_classes, d]; normalise each, mean, renormalise."""
    emb = np.asarray(text_emb_per_template, dtype=np.float64)
    if emb.ndim != 3:
        raise ValueError(f"expected [n_classes, n_templates, dim], got shape {emb.shape}")
    n_classes, n_templates, dim = emb.shape
    unit = l2_normalize(emb.reshape(-1, dim)).reshape(n_classes, n_templates, dim)
    return l2_normalize(unit.mean(axis=1))


def zero_shot_predict(image_emb: np.ndarray, class_emb: np.ndarray) -> np.ndarray:
    """Predicted class per image: highest cosine, the lowest class index among ties (within TIE_EPS)."""
    scores = l2_normalize(image_emb) @ l2_normalize(class_emb).T  # [n_images, n_classes]
    return np.argmax(scores >= scores.max(axis=1, keepdims=True) - TIE_EPS, axis=1)


def zero_shot_accuracy(image_emb: np.ndarray, class_emb: np.ndarray, labels: Sequence[int],
                       ks: Iterable[int] = (1, 5)) -> dict:
    """Top-K accuracy as fractions: {"top1": .., "top5": .., "n": n_images}; same tie rule as retrieval."""
    images, classes = l2_normalize(image_emb), l2_normalize(class_emb)
    labels = np.asarray(labels, dtype=np.int64)
    if labels.shape != (len(images),):
        raise ValueError(f"labels has shape {labels.shape}, expected ({len(images)},)")
    indptr, indices = _csr(labels, len(classes), "labels")
    ranks = best_correct_ranks(images, classes, indptr, indices)
    result = {f"top{k}": v for k, v in recall_at_k(ranks, ks).items()}
    result["n"] = len(labels)
    return result


def confusion_matrix(labels: Sequence[int], predictions: Sequence[int], n_classes: int) -> np.ndarray:
    """[n_classes, n_classes] counts: row = true class, column = predicted class."""
    labels, predictions = np.asarray(labels, dtype=np.int64), np.asarray(predictions, dtype=np.int64)
    if labels.shape != predictions.shape:
        raise ValueError(f"labels {labels.shape} and predictions {predictions.shape} differ in shape")
    matrix = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(matrix, (labels, predictions), 1)
    return matrix


def fidelity(student_vecs: np.ndarray, teacher_vecs: np.ndarray, ks: Iterable[int] = (1, 5),
             max_chunk_bytes: int = MAX_CHUNK_BYTES) -> dict:
    """How well student(Turkish) vectors reproduce teacher(English) vectors; rows are aligned translation pairs.

    mse: mean over all elements of the RAW vectors (Keras MeanSquaredError, as training uses); cosine: mean row
    cosine; R@K: TR→EN retrieval of each student vector among all teacher vectors. Rows whose teacher vectors are
    identical (the same English sentence twice) are all correct for each other, so duplicates are not misses.
    """
    student, teacher = np.asarray(student_vecs), np.asarray(teacher_vecs)
    if student.shape != teacher.shape or student.ndim != 2:
        raise ValueError(f"student {student.shape} and teacher {teacher.shape} must be the same [n, dim] shape")
    n = len(student)
    sq_sum, chunk = 0.0, max(1, 2**20 // max(student.shape[1], 1))
    for start in range(0, n, chunk):  # float64 accumulation without a full float64 copy
        diff = student[start:start + chunk].astype(np.float64) - teacher[start:start + chunk].astype(np.float64)
        sq_sum += float(np.square(diff).sum())
    s_unit, t_unit = l2_normalize(student), l2_normalize(teacher)
    _, group = np.unique(teacher, axis=0, return_inverse=True)
    group = group.reshape(-1)
    order = np.argsort(group, kind="stable")
    group_ptr = np.searchsorted(group[order], np.arange(group.max() + 2 if n else 1))
    targets = [order[group_ptr[g]:group_ptr[g + 1]] for g in group]
    indptr, indices = _csr(targets, n, "teacher groups")
    ranks = best_correct_ranks(s_unit, t_unit, indptr, indices, max_chunk_bytes)
    result = {"mse": sq_sum / max(student.size, 1), "cosine": float(np.mean(np.sum(s_unit * t_unit, axis=1))),
              "n": n, "duplicate_teacher_rows": int(n - (group.max() + 1 if n else 0))}
    result.update({f"R@{k}": v for k, v in recall_at_k(ranks, ks).items()})
    return result
