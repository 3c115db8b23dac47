"""The closed-form stage-1 head: ridge regression with an unpenalised bias, accumulated in chunks."""
from __future__ import annotations

import numpy as np
import pytest

from distill import ridge


@pytest.fixture
def problem():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 12)).astype(np.float32)
    w, b = rng.normal(size=(12, 5)), rng.normal(size=5)
    y = (x @ w + b + 0.1 * rng.normal(size=(300, 5))).astype(np.float32)
    return x, y


def test_no_penalty_matches_numpy_least_squares(problem):
    x, y = problem
    kernel, bias = ridge.solve(ridge.accumulate(x, y, chunk=37), 0.0)  # chunks that do not divide 300
    want = np.linalg.lstsq(np.hstack([x, np.ones((300, 1))]).astype(np.float64), y.astype(np.float64), rcond=None)[0]
    np.testing.assert_allclose(kernel, want[:12], atol=1e-5)
    np.testing.assert_allclose(bias, want[12], atol=1e-5)


def test_penalty_matches_the_ridge_normal_equations_and_leaves_the_bias_alone(problem):
    x, y = problem
    gram = ridge.accumulate(x, y)
    kernel, bias = ridge.solve(gram, 0.5)
    xa = np.hstack([x, np.ones((300, 1))]).astype(np.float64)
    lam = 0.5 * np.trace(xa[:, :12].T @ xa[:, :12]) / 12
    want = np.linalg.solve(xa.T @ xa + np.diag([lam] * 12 + [0.0]), xa.T @ y)
    np.testing.assert_allclose(kernel, want[:12], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(bias, want[12], rtol=1e-5, atol=1e-6)
    assert np.linalg.norm(kernel) < np.linalg.norm(ridge.solve(gram, 0.0)[0])  # shrunk


def test_training_mse_from_the_gram_equals_the_direct_one(problem):
    x, y = problem
    gram = ridge.accumulate(x, y, chunk=64)
    kernel, bias = ridge.solve(gram, 1e-3)
    direct = float(np.mean((ridge.predict(x, kernel, bias, chunk=50) - y) ** 2))
    assert gram.mse(kernel, bias) == pytest.approx(direct, rel=1e-5)
    assert gram.rows == 300


def test_rank_deficient_features_without_penalty_still_solve():
    x = np.ones((20, 3), np.float32)  # every column equals the bias column
    y = np.full((20, 2), 4.0, np.float32)
    kernel, bias = ridge.solve(ridge.accumulate(x, y), 0.0)
    np.testing.assert_allclose(ridge.predict(x, kernel, bias), y, atol=1e-4)
