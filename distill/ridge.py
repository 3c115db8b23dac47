"""Closed-form stage 1: the linear head as ridge regression of teacher vectors on frozen pooled features.

The head is one Dense layer, so with the encoder frozen its MSE optimum is least squares: W = (XᵀX + λI)⁻¹ XᵀY with a
bias column that is not penalised. XᵀX [h+1, h+1] and XᵀY [h+1, d] are accumulated in float64 over row chunks of
a memory-mapped feature file, so millions of captions never sit in RAM at once; the solve costs milliseconds. λ is
given relative to the mean diagonal of XᵀX (scale-free), and chosen on the validation split.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CHUNK = 16_384
PENALTIES = (1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1)  # relative λ tried when none is given


@dataclass
class Gram:
    """Sufficient statistics of least squares with a bias: XᵀX and XᵀY of [X, 1], and the row count."""

    xtx: np.ndarray  # [h + 1, h + 1] float64
    xty: np.ndarray  # [h + 1, d] float64
    yty: float  # sum of squared targets (for the training MSE without another pass)
    rows: int

    def mse(self, kernel: np.ndarray, bias: np.ndarray) -> float:
        """Mean squared error over all elements of the training rows: (WᵀAW − 2WᵀB + YᵀY) / (n·d), traces."""
        w = np.vstack([kernel, bias[None, :]]).astype(np.float64)
        total = np.sum(w * (self.xtx @ w)) - 2.0 * np.sum(w * self.xty) + self.yty
        return float(max(total, 0.0) / (self.rows * w.shape[1]))


def accumulate(features: np.ndarray, targets: np.ndarray, chunk: int = CHUNK) -> Gram:
    """XᵀX and XᵀY of features [n, h] (with a ones column appended) and targets [n, d], chunk by chunk."""
    n, h = features.shape
    xtx = np.zeros((h + 1, h + 1))
    xty = np.zeros((h + 1, targets.shape[1]))
    yty = 0.0
    for start in range(0, n, chunk):
        x = np.asarray(features[start:start + chunk], np.float64)
        x = np.hstack([x, np.ones((len(x), 1))])  # [c, h + 1]
        y = np.asarray(targets[start:start + chunk], np.float64)
        xtx += x.T @ x
        xty += x.T @ y
        yty += float(np.sum(y * y))
    return Gram(xtx, xty, yty, n)


def solve(gram: Gram, penalty: float) -> tuple[np.ndarray, np.ndarray]:
    """(kernel [h, d], bias [d]) minimising ‖XW + b − Y‖² + λ‖W‖², λ = penalty × mean diagonal of XᵀX (features)."""
    h = gram.xtx.shape[0] - 1
    scale = float(np.trace(gram.xtx[:h, :h])) / max(h, 1)
    ridge = np.zeros(h + 1)
    ridge[:h] = penalty * scale  # the bias is not penalised
    a = gram.xtx + np.diag(ridge)
    try:
        w = np.linalg.solve(a, gram.xty)
    except np.linalg.LinAlgError:  # singular (penalty 0 on rank-deficient features): minimum-norm solution
        w = np.linalg.lstsq(a, gram.xty, rcond=None)[0]
    return w[:h].astype(np.float32), w[h].astype(np.float32)


def predict(features: np.ndarray, kernel: np.ndarray, bias: np.ndarray, chunk: int = CHUNK) -> np.ndarray:
    """features [n, h] @ kernel + bias -> [n, d] float32, chunk by chunk."""
    out = np.empty((len(features), kernel.shape[1]), np.float32)
    for start in range(0, len(features), chunk):
        out[start:start + chunk] = np.asarray(features[start:start + chunk], np.float32) @ kernel + bias
    return out
