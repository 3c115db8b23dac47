"""Zero-shot: label checks, CLIP-style prompt averaging, logit-scaled probabilities with a known right answer."""
from __future__ import annotations

import re

import numpy as np
import pytest

from turkish_clip.errors import InputError
from inference_api.prompts import templates
from turkish_clip.metrics import class_embeddings
from inference_api.zeroshot import (TEMPLATES, check_labels, check_templates, format_table, label_vectors,
                                   probabilities, prompts)


def test_prompts_fill_every_template_or_keep_the_bare_label():
    assert prompts("kedi")[0] == "bir kedi fotoğrafı." and len(prompts("kedi")) == len(TEMPLATES)
    assert prompts("kedi", None) == ["kedi"]
    assert prompts("a{b}", ["bir {} resmi"]) == ["bir a{b} resmi"]  # a label with braces is text, not a field


def test_templates_are_the_evaluated_ones():
    """One source of truth: the templates `python -m evaluation zero-shot` measures (evaluation/labels)."""
    assert list(TEMPLATES) == templates("tr") and len(TEMPLATES) == 16


@pytest.mark.parametrize("labels, message", [([], "label list is empty; give at least 2 labels"),
                                             (["kedi"], r"only 1 label given \('kedi'\); give at least 2 labels"),
                                             (["kedi", " "], "label #2 is empty"), ([""], "label #1 is empty"),
                                             (["kedi", "kedi"], "given twice")])
def test_bad_labels(labels, message):
    with pytest.raises(InputError, match=message):
        check_labels(labels)


def test_two_labels_are_enough():
    assert check_labels([" kedi", "köpek "]) == ["kedi", "köpek"]


@pytest.mark.parametrize("template, message", [
    ("bir {} {x}", "must contain {} exactly once"), ("bir {0} resmi", "must contain {} exactly once"),
    ("{} ve {}", "must contain {} exactly once"), ("bir resim", "must contain {} exactly once"),
    ("bir {} {", "is not valid"), ("bir {} }", "is not valid"), ("bir {}.{x}", "must contain {} exactly once")])
def test_bad_templates_are_one_line_errors(template, message):
    with pytest.raises(InputError, match=re.escape(message)) as info:
        check_templates([template])
    assert "\n" not in str(info.value) and repr(template) in str(info.value)
    with pytest.raises(InputError):  # and label_vectors refuses it before encoding anything
        label_vectors(lambda texts: pytest.fail("encoded"), ["kedi", "köpek"], [template])


def test_label_vectors_are_evaluations_class_embeddings():
    rng = np.random.default_rng(2)
    table = {}

    def fake_encode(texts):
        return np.stack([table.setdefault(t, rng.normal(size=8).astype(np.float32) * 3) for t in texts])

    labels = ["kedi", "köpek", "roket"]
    got = label_vectors(fake_encode, labels)
    per_template = np.stack([[table[t.replace("{}", label)] for t in templates("tr")] for label in labels])
    np.testing.assert_allclose(got, class_embeddings(per_template), atol=1e-6)
    assert got.dtype == np.float32


def test_label_vector_is_the_normalised_mean_of_normalised_prompt_vectors():
    rng = np.random.default_rng(0)
    table = {}

    def fake_encode(texts):  # a fixed random, unnormalised vector per text
        return np.stack([table.setdefault(t, rng.normal(size=8).astype(np.float32) * 3) for t in texts])

    got = label_vectors(fake_encode, ["kedi", "köpek"], TEMPLATES)
    for row, label in zip(got, ["kedi", "köpek"]):
        units = [table[p] / np.linalg.norm(table[p]) for p in prompts(label)]
        mean = np.mean(units, axis=0)
        np.testing.assert_allclose(row, mean / np.linalg.norm(mean), atol=1e-6)
    bare = label_vectors(fake_encode, ["kedi"], None)
    np.testing.assert_allclose(bare[0], table["kedi"] / np.linalg.norm(table["kedi"]), atol=1e-6)


def test_probabilities_use_the_logit_scale_and_pick_the_known_answer():
    rng = np.random.default_rng(1)
    labels = rng.normal(size=(4, 512)).astype(np.float32)
    # image i is label perm[i] plus noise: the right answer is known by construction
    perm = np.array([2, 0, 3, 1, 2])
    images = labels[perm] / np.linalg.norm(labels[perm], axis=1, keepdims=True) + 0.02 * rng.normal(size=(5, 512))
    probs = probabilities(images, labels, 100.0)
    assert probs.shape == (5, 4) and probs.dtype == np.float32
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-6)
    assert (probs.argmax(axis=1) == perm).all() and probs.max(axis=1).min() > 0.99
    unit = lambda x: x / np.linalg.norm(x, axis=1, keepdims=True)  # noqa: E731
    logits = 100.0 * unit(images) @ unit(labels).T
    expected = np.exp(logits - logits.max(1, keepdims=True))
    np.testing.assert_allclose(probs, expected / expected.sum(1, keepdims=True), atol=1e-6)
    raw = probabilities(images, labels, 1.0)  # softmax of raw cosines (monatis' demo): nearly uniform
    assert raw.max() < 0.5


def test_known_answer_with_the_real_text_encoder(text_encoder):
    labels = ["kedi", "kahve fincanı", "roket"]
    vectors = label_vectors(text_encoder.encode, labels)
    images = vectors[[1, 2, 0]]  # "images" that are exactly the label vectors, in another order
    assert probabilities(images, vectors, 100.0).argmax(axis=1).tolist() == [1, 2, 0]


def test_dimension_mismatch_is_explained():
    with pytest.raises(InputError, match="512-dim but text vectors 32-dim"):
        probabilities(np.ones((1, 512)), np.ones((2, 32)))


def test_table_lists_percentages_and_the_best_label():
    table = format_table(["cat.jpg"], ["kedi", "roket"], np.array([[0.75, 0.25]]))
    header, _, row = table.splitlines()
    assert [c.strip() for c in header.split("|")[1:-1]] == ["image", "kedi", "roket", "best"]
    assert [c.strip() for c in row.split("|")[1:-1]] == ["cat.jpg", "75.0%", "25.0%", "kedi"]
