"""Validation metrics of student vectors against teacher vectors: MSE, mean cosine, TR->EN retrieval R@1 and R@5.

Computed by `turkish_clip.metrics.fidelity` (numpy only), so training's validation and `python -m evaluation` agree,
ties and duplicate English captions included.
"""
from __future__ import annotations

import numpy as np

from turkish_clip.metrics import fidelity


def metrics(student: np.ndarray, teacher: np.ndarray) -> dict[str, float]:
    """mse (Keras MeanSquaredError: mean over all elements), cosine (mean per row), r1/r5 (TR->EN R@1/R@5).

    student, teacher: [n, dim], row i of each is the same caption. Rows with identical teacher vectors (the same
    English caption twice) are all correct for each other; other ties are broken by row order, never a free hit.
    """
    result = fidelity(student, teacher, ks=(1, 5))
    return {"mse": result["mse"], "cosine": result["cosine"], "r1": result["R@1"], "r5": result["R@5"]}


def validation_loss(result: dict[str, float], loss: str) -> float:
    """The number early stopping (and the ridge penalty choice) minimises: MSE for "mse", 1 - mean cosine for
    "cosine", 1 - R@1 for the contrastive losses (what they optimise; MSE would fight the ranking term), 1 - mean
    text<->image recall for the image losses (distill/images.py)."""
    if loss in ("image_contrastive", "mse+image_contrastive"):
        from .images import image_validation_loss

        return image_validation_loss(result)
    if loss == "mse":
        return result["mse"]
    if loss == "cosine":
        return 1.0 - result["cosine"]
    return 1.0 - result["r1"]


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
