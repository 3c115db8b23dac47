"""Zero-shot classification: labels -> averaged Turkish prompt vectors -> softmax(CLIP logit scale × cosine).

Prompt ensembling as in CLIP (Radford et al. 2021, notebook "Prompt_Engineering_for_ImageNet"): each label is put in
every template, the normalised text vectors are averaged and the mean is normalised again. The templates
(inference_api/templates.tsv) and the averaging (`turkish_clip.metrics.class_embeddings`) are the ones
`python -m evaluation zero-shot` measures, so `inference.py classify` is the classifier that was evaluated.
"""
from __future__ import annotations

import string
from typing import Callable, Sequence

import numpy as np

from inference_api.prompts import fill_templates
from inference_api.prompts import templates as shipped_templates
from inference_api.text_encoder import l2_normalize
from turkish_clip.errors import InputError
from turkish_clip.metrics import class_embeddings

TEMPLATES = tuple(shipped_templates("tr"))  # the 16 hand-checked Turkish templates, "bir {} fotoğrafı." first
DEMO_LABELS = ("kedi", "kahve fincanı", "roket", "astronot", "fotoğrafçı", "galaksiler")


def check_labels(labels: Sequence[str], minimum: int = 2) -> list[str]:
    """At least `minimum` non-empty, stripped, distinct labels (two to classify: one label always gets 100%)."""
    if isinstance(labels, str):
        labels = [labels]
    labels = [str(label).strip() for label in labels or []]
    empty = [i for i, label in enumerate(labels) if not label]
    if empty:
        raise InputError(f"label #{empty[0] + 1} is empty; remove it or give it a name")
    if len(labels) < minimum:
        given = "the label list is empty" if not labels else f"only {len(labels)} label given ({labels[0]!r})"
        raise InputError(f"{given}; give at least {minimum} label{'s' * (minimum > 1)}, e.g. --labels kedi köpek")
    seen: set[str] = set()
    repeated = [label for label in labels if label in seen or seen.add(label)]
    if repeated:
        raise InputError(f"label {repeated[0]!r} is given twice; labels must be distinct")
    return labels


def check_templates(templates: Sequence[str]) -> list[str]:
    """Templates with exactly one '{}' (where the label goes) and no other braces; else a one-line InputError."""
    templates = list(templates)
    for template in templates:
        try:
            fields = [name for _, name, _, _ in string.Formatter().parse(template) if name is not None]
        except ValueError as error:  # a lone "{" or "}"
            raise InputError(f"template {template!r} is not valid ({error}); write {{}} once where the label goes "
                             f"and no other braces") from None
        if fields != [""] or template.count("{}") != 1:
            raise InputError(f"template {template!r} must contain {{}} exactly once (where the label goes) and no "
                             f"other {{...}} fields")
    return templates


def prompts(label: str, templates: Sequence[str] | None = TEMPLATES) -> list[str]:
    """The texts that stand for one label: the label put in each template, or the bare label without templates."""
    return fill_templates([label], check_templates(templates))[0] if templates else [label]


def label_vectors(encode_text: Callable[[list[str]], np.ndarray], labels: Sequence[str],
                  templates: Sequence[str] | None = TEMPLATES) -> np.ndarray:
    """One unit vector per label, float32 [k, dim]: the normalised mean of its prompts' unit vectors
    (`turkish_clip.metrics.class_embeddings`). Used by `inference.py classify` and `python -m evaluation zero-shot`."""
    labels = check_labels(labels, minimum=1)
    table = fill_templates(labels, check_templates(templates)) if templates else [[label] for label in labels]
    texts = [text for row in table for text in row]  # [k * t], encoded in one length-sorted pass
    vectors = np.asarray(encode_text(texts), np.float32).reshape(len(labels), len(table[0]), -1)  # [k, t, dim]
    return class_embeddings(vectors).astype(np.float32)  # [k, dim]


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
