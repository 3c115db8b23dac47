"""Validation metrics: MSE, mean cosine and TR->EN R@1 on hand-made vectors."""
import numpy as np
import pytest

from distill.evaluate import metrics, retrieval_r1, validation_loss


def test_perfect_student_scores_full_marks():
    teacher = np.random.default_rng(0).normal(size=(50, 8)).astype(np.float32)
    result = metrics(teacher, teacher)
    assert result == {"mse": 0.0, "cosine": pytest.approx(1.0, abs=1e-6), "r1": 1.0}


def test_retrieval_counts_own_teacher_vector_ranked_first():
    teacher = np.eye(4, dtype=np.float32)
    student = teacher[[0, 2, 1, 3]] * 3.0  # rows 1 and 2 swapped: 2 of 4 retrieve their own caption
    assert retrieval_r1(student, teacher, chunk=3) == 0.5
    assert metrics(student, teacher)["cosine"] == pytest.approx(0.5)
    assert metrics(student, teacher)["mse"] == pytest.approx(np.mean((student - teacher) ** 2))


def test_duplicate_teacher_vectors_count_as_hits():
    teacher = np.array([[1, 0], [1, 0], [0, 1]], np.float32)  # two identical English captions
    assert retrieval_r1(teacher, teacher) == 1.0


def test_validation_loss_follows_the_training_loss():
    result = {"mse": 0.2, "cosine": 0.9, "r1": 1.0}
    assert validation_loss(result, "mse") == 0.2 and validation_loss(result, "cosine") == pytest.approx(0.1)
