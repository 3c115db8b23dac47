"""Zero-shot classification: labels -> averaged Turkish prompt vectors -> softmax(CLIP logit scale × cosine).

Prompt ensembling as in CLIP (Radford et al. 2021, notebook "Prompt_Engineering_for_ImageNet"): each label is put in
every template, the normalised text vectors are averaged and the mean is normalised again.
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from data_tools.errors import InputError

from .text_encoder import l2_normalize

# "a photo of a {}", "photo of {}", "a picture of a {}", "an image of a {}", "a photo showing {}".
TEMPLATES = ("bir {} fotoğrafı", "{} fotoğrafı", "bir {} resmi", "bir {} görüntüsü", "{} görülen bir fotoğraf")
DEMO_LABELS = ("kedi", "kahve fincanı", "roket", "astronot", "fotoğrafçı", "galaksiler")


def check_labels(labels: Sequence[str]) -> list[str]:
    """Non-empty, stripped, distinct labels; an empty list or an empty label is an InputError."""
    if isinstance(labels, str):
        labels = [labels]
    labels = [str(label).strip() for label in labels or []]
    if not labels:
        raise InputError("the label list is empty; give at least two labels, e.g. --labels kedi köpek")
    empty = [i for i, label in enumerate(labels) if not label]
    if empty:
        raise InputError(f"label #{empty[0] + 1} is empty; remove it or give it a name")
    seen: set[str] = set()
    repeated = [label for label in labels if label in seen or seen.add(label)]
    if repeated:
        raise InputError(f"label {repeated[0]!r} is given twice; labels must be distinct")
    return labels


def prompts(label: str, templates: Sequence[str] | None = TEMPLATES) -> list[str]:
    """The texts that stand for one label: the label put in each template, or the bare label without templates."""
    return [template.format(label) for template in templates] if templates else [label]


def label_vectors(encode_text: Callable[[list[str]], np.ndarray], labels: Sequence[str],
                  templates: Sequence[str] | None = TEMPLATES) -> np.ndarray:
    """One unit vector per label, float32 [k, dim]: the normalised mean of its prompts' unit vectors."""
    labels = check_labels(labels)
    texts = [text for label in labels for text in prompts(label, templates)]
    per_label = len(texts) // len(labels)
    vectors = l2_normalize(encode_text(texts))  # [k * t, dim], encoded in one length-sorted pass
    return l2_normalize(vectors.reshape(len(labels), per_label, -1).mean(axis=1))  # [k, dim]


def probabilities(image_vectors: np.ndarray, label_vectors_: np.ndarray, logit_scale: float = 100.0) -> np.ndarray:
    """softmax over labels of logit_scale × cosine; float32 [n_images, k], rows sum to 1."""
    images, labels = l2_normalize(image_vectors), l2_normalize(label_vectors_)
    if images.shape[1] != labels.shape[1]:
        raise InputError(f"image vectors are {images.shape[1]}-dim but text vectors {labels.shape[1]}-dim: the text "
                         f"model was not trained for this CLIP; use the CLIP its teacher vectors came from")
    logits = np.float64(logit_scale) * (images.astype(np.float64) @ labels.T.astype(np.float64))  # [n, k]
    logits -= logits.max(axis=1, keepdims=True)
    exp = np.exp(logits)
    return (exp / exp.sum(axis=1, keepdims=True)).astype(np.float32)


def format_table(names: Sequence[str], labels: Sequence[str], probs: np.ndarray) -> str:
    """Markdown table: one row per image, one column per label (percent), best label last."""
    header = ["image", *labels, "best"]
    rows = [[name, *(f"{100 * p:.1f}%" for p in row), labels[int(np.argmax(row))]] for name, row in zip(names, probs)]
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    line = lambda cells: "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths)) + " |"  # noqa: E731
    return "\n".join([line(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(line, rows)])
