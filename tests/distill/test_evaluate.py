"""Validation metrics: MSE, mean cosine and TR->EN R@1/R@5 on hand-made vectors, the same as turkish_clip.metrics."""
import numpy as np
import pytest

from distill.evaluate import metrics, validation_loss
from turkish_clip.metrics import fidelity


def test_perfect_student_scores_full_marks():
    teacher = np.random.default_rng(0).normal(size=(50, 8)).astype(np.float32)
    result = metrics(teacher, teacher)
    assert result == {"mse": 0.0, "cosine": pytest.approx(1.0, abs=1e-6), "r1": 1.0, "r5": 1.0}


def test_retrieval_counts_own_teacher_vector_ranked_first():
    teacher = np.eye(4, dtype=np.float32)
    student = teacher[[0, 2, 1, 3]] * 3.0  # rows 1 and 2 swapped: 2 of 4 retrieve their own caption
    result = metrics(student, teacher)
    assert result["r1"] == 0.5 and result["r5"] == 1.0
    assert result["cosine"] == pytest.approx(0.5)
    assert result["mse"] == pytest.approx(np.mean((student - teacher) ** 2))


def test_duplicate_teacher_vectors_count_as_hits():
    teacher = np.array([[1, 0], [1, 0], [0, 1]], np.float32)  # two identical English captions
    assert metrics(teacher, teacher)["r1"] == 1.0


def test_a_tie_with_another_caption_is_not_a_free_hit():
    """Row 1 is exactly as close to caption 0 as to its own: the earlier row wins the tie (evaluation's rule)."""
    teacher = np.array([[1, 0], [0, 1]], np.float32)
    student = np.array([[1, 0], [1, 1]], np.float32)
    assert metrics(student, teacher)["r1"] == 0.5


def test_agrees_with_evaluation_metrics():
    rng = np.random.default_rng(3)
    teacher = rng.normal(size=(300, 16)).astype(np.float16)
    student = (teacher + rng.normal(scale=2.0, size=teacher.shape)).astype(np.float32)
    ours, theirs = metrics(student, teacher), fidelity(student, teacher)
    assert (ours["mse"], ours["cosine"], ours["r1"], ours["r5"]) == (theirs["mse"], theirs["cosine"], theirs["R@1"], theirs["R@5"])
    assert 0 < ours["r1"] < ours["r5"] < 1


def test_validation_loss_follows_the_training_loss():
    result = {"mse": 0.2, "cosine": 0.9, "r1": 1.0}
    assert validation_loss(result, "mse") == 0.2 and validation_loss(result, "cosine") == pytest.approx(0.1)
