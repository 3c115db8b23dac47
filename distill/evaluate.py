"""Validation metrics of student vectors against teacher vectors: MSE, mean cosine, TR->EN retrieval R@1."""
from __future__ import annotations

import numpy as np


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True).clip(1e-12)


def retrieval_r1(student: np.ndarray, teacher: np.ndarray, chunk: int = 2048) -> float:
    """Share of student vectors whose own teacher vector is the most cosine-similar of all teacher vectors.

    student, teacher: [n, dim], row i of each is the same caption. Ties count as hits (duplicate English captions).
    """
    s, t = _unit(student.astype(np.float32)), _unit(teacher.astype(np.float32))
    hits = 0
    for start in range(0, len(s), chunk):
        sims = s[start:start + chunk] @ t.T  # [chunk, n]
        own = sims[np.arange(len(sims)), np.arange(start, start + len(sims))]
        hits += int((own >= sims.max(axis=1) - 1e-6).sum())
    return hits / max(len(s), 1)


def metrics(student: np.ndarray, teacher: np.ndarray) -> dict[str, float]:
    """mse (Keras MeanSquaredError: mean over all elements), cosine (mean per row), r1 (TR->EN R@1)."""
    student, teacher = np.asarray(student, np.float32), np.asarray(teacher, np.float32)
    return {
        "mse": float(np.mean((student - teacher) ** 2)),
        "cosine": float(np.mean(np.sum(_unit(student) * _unit(teacher), axis=1))),
        "r1": retrieval_r1(student, teacher),
    }


def validation_loss(result: dict[str, float], loss: str) -> float:
    """The number early stopping watches: MSE, or 1 - mean cosine for the cosine loss."""
    return result["mse"] if loss == "mse" else 1.0 - result["cosine"]


def evaluate_saved(model_dir: str, data_dir: str, split: str = "val", batch_size: int = 64) -> dict:
    """Metrics of a saved student (`distill.export` folder) on a cache's validation split (or all rows)."""
    from .data import load_splits
    from .export import load_student
    from .student import encode

    student, tokenizer, info = load_student(model_dir)
    train, val, _ = load_splits(data_dir, info["text_column"], info["val_fraction"] if split == "val" else 0.0,
                                info["seed"], normalize_targets=info["normalized_targets"])
    part = val if split == "val" else train
    vectors = encode(student, tokenizer, part.texts, info["max_length"], batch_size)
    return {"split": split, "count": len(part), **metrics(vectors, part.targets)}
