"""One evaluation run: a test set, the student and CLIP's own text tower, three baselines side by side.

Models (the row names of `evaluation.report`): "student" = the student on the text (Turkish, or the `lang` given); "clip_tr" = CLIP's
English text encoder on the same text (the lower bound: what users get without this project);
"clip_en" = CLIP on the English captions / class names, when the set has them (the upper bound). Image vectors
are computed once with CLIP's image tower and cached (`evaluation.image_cache`); text is encoded on every run.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Sequence

import numpy as np
from tqdm.auto import tqdm

from turkish_clip.errors import InputError
from evaluation.classification import ClassificationSet
from evaluation.datasets import RetrievalSet
from evaluation.image_cache import SHARD_SIZE, embed_images
from evaluation.labels import english_templates, templates
from evaluation.report import retrieval_entry, zero_shot_entry
from inference_api.zeroshot import label_vectors
from turkish_clip.languages import language
from turkish_clip.metrics import fidelity

log = logging.getLogger(__name__)
TEXT_CHUNK = 2048  # texts per progress-bar step (each chunk is still length-batched inside the encoder)


def clip_text_teacher(model):
    """CLIP's text tower sharing the CLIP that `model.image` already loaded (no second copy in memory)."""
    from data_tools.teacher import Teacher

    return Teacher(model.image.clip)


def _chunked(encode, texts: Sequence[str], progress: bool, desc: str) -> np.ndarray:
    """encode(list of texts) -> [k, dim], called on chunks of TEXT_CHUNK texts under one progress bar."""
    texts = list(texts)
    parts = []
    with tqdm(total=len(texts), unit="text", desc=desc, disable=not progress) as bar:
        for start in range(0, len(texts), TEXT_CHUNK):
            parts.append(np.asarray(encode(texts[start:start + TEXT_CHUNK]), np.float32))  # [chunk, dim]
            bar.update(len(parts[-1]))
    return np.concatenate(parts) if parts else np.zeros((0, 0), np.float32)


def encode_student(model, texts: Sequence[str], progress: bool = True, desc: str = "student") -> np.ndarray:
    """The student's UNNORMALISED vectors float32 [n, dim] (fidelity compares raw vectors; retrieval normalises)."""
    text = getattr(model, "text", None)
    encode = (lambda chunk: text.encode(chunk, normalize=False)) if hasattr(text, "encode") else model.encode_text
    return _chunked(encode, texts, progress, desc)


def encode_clip(teacher, texts: Sequence[str], progress: bool = True, desc: str = "CLIP text") -> np.ndarray:
    """CLIP `encode_text` of the texts, unnormalised float32 [n, dim] (data_tools.teacher.Teacher.encode)."""
    return _chunked(lambda chunk: teacher.encode(chunk, progress=False), texts, progress, desc)


def describe_models(model, teacher) -> dict:
    """Which checkpoints produced each row (recorded in the results JSON)."""
    source = dict(getattr(getattr(model, "text", None), "source", {}) or {})
    clip = getattr(getattr(model, "image", None), "model_id", None)
    return {"student": source, "clip": clip, "clip_text": getattr(teacher, "model_id", None)}


def _image_vectors(paths, model, cache_dir, name, progress, shard_size):
    """CLIP image vectors of the set, from the cache under cache_dir when they are there (evaluation.image_cache)."""
    return embed_images(paths, model.image, Path(cache_dir), name, shard_size=shard_size or SHARD_SIZE,
                        progress=progress)


def _language(lang: str | None, strict: bool = True) -> dict:
    """What results record about the language of the text: {"lang": "hi", "language": "Hindi"}. Retrieval needs no
    language resources (strict=False): a code without them (any of Crossmodal-3600's 36) is its own name."""
    try:
        info = language(lang)
    except InputError:
        if strict or not lang:
            raise
        return {"lang": lang, "language": lang}
    return {"lang": info.code, "language": info.name}


def training_overlap(dataset: RetrievalSet, model) -> dict | None:
    """Images of the set that the student was trained on (its folder records the image ids), with a warning: its
    scores on them measure memory, not generalisation. None when either side's image ids are unknown."""
    text = getattr(model, "text", None)
    trained = text.training_image_ids() if hasattr(text, "training_image_ids") else None
    if dataset.image_ids is None or trained is None:
        if dataset.image_ids is not None:
            log.info("%s: the student does not record its training images; cannot check for overlap", dataset.name)
        return None
    shared = np.intersect1d(np.asarray(dataset.image_ids, np.int64), trained)
    if len(shared):
        log.warning("%s: the student was trained on captions of %d of its %d images (image ids %s ...): its scores "
                    "on this set are inflated; train on a cache built with the default exclusions (--karpathy "
                    "dataset_coco.json for COCO Karpathy test)", dataset.name, len(shared), dataset.n_images,
                    shared[:5].tolist())
    return {"images_in_training": int(len(shared)), "examples": shared[:5].tolist()}


def evaluate_retrieval(dataset: RetrievalSet, model, clip_teacher=None, cache_dir: Path | str = "results/cache",
                       *, ks: Sequence[int] = (1, 5, 10), progress: bool = True, shard_size: int | None = None,
                       lang: str | None = None) -> dict:
    """Text↔image Recall@K of the three baselines on one set, plus fidelity when English is row-aligned.

    model: an `inference_api.api.TurkishCLIP` (or anything with `.image` = ImageEncoder and `.text.encode` / encode_text);
    clip_teacher: CLIP's text tower (`data_tools.teacher.Teacher`), default: the one inside `model.image`.
    lang: the captions' language (ISO code, default: the set's own, else tr), recorded with its name, which labels the rows.
    Returns {"retrieval": {name: ...}, "fidelity": {name: ...}?} in the `evaluation.report` schema.
    """
    spoken = _language(lang or getattr(dataset, "lang", None), strict=False)
    overlap = training_overlap(dataset, model)
    images = _image_vectors(dataset.image_paths, model, cache_dir, dataset.name, progress, shard_size)
    teacher = clip_teacher if clip_teacher is not None else clip_text_teacher(model)
    student = encode_student(model, dataset.captions, progress, f"student ({spoken['language']})")  # [n, dim]
    clip_tr = encode_clip(teacher, dataset.captions, progress, f"CLIP text ({spoken['language']})")  # [n, dim]
    models = {"student": retrieval_entry(student, images.vectors, dataset.caption_to_image, ks),
              "clip_tr": retrieval_entry(clip_tr, images.vectors, dataset.caption_to_image, ks)}
    clip_en = None
    if dataset.english is not None:
        clip_en = encode_clip(teacher, dataset.english, progress, "CLIP text (English)")  # [n_en, dim]
        models["clip_en"] = retrieval_entry(clip_en, images.vectors, dataset.english_to_image, ks)
    info = {**dataset.info(), **spoken, "image_cache": images.info(), "models": describe_models(model, teacher)}
    if overlap is not None:
        info["training_overlap"] = overlap
    results: dict = {"retrieval": {dataset.name: {"info": info, "models": models}}}
    if dataset.english_aligned and clip_en is not None:
        results["fidelity"] = {dataset.name: {
            "info": {"pairs": len(student), "teacher": "CLIP text encoder on the aligned English captions", **spoken},
            "models": {"student": fidelity(student, clip_en), "clip_tr": fidelity(clip_tr, clip_en)}}}
    log.info("%s: evaluated %s", dataset.name, ", ".join(models))
    return results


def evaluate_zero_shot(dataset: ClassificationSet, model, clip_teacher=None,
                       cache_dir: Path | str = "results/cache", *, names_tr: Sequence[str] | None = None,
                       names_en: Sequence[str] | None = None, templates_tr: Sequence[str] | None = None,
                       templates_en: Sequence[str] | None = None, ks: Sequence[int] = (1, 5),
                       progress: bool = True, shard_size: int | None = None, lang: str | None = None) -> dict:
    """Top-1/top-5 zero-shot accuracy of the three baselines, prompts averaged CLIP-style by the function that
    `inference.py classify` uses (`inference_api.zeroshot.label_vectors`): the evaluated classifier is the shipped one.

    lang: the language of the class names and prompts (ISO code, default tr); names_tr: class names in that
    language, in label order (default: dataset.classes); names_en: English names for the upper bound (none: no
    "clip_en" row). Templates default to the language's shipped list and the English templates paired with it.
    """
    spoken = _language(lang)
    names_tr = list(names_tr) if names_tr is not None else list(dataset.classes)
    for names, what in ((names_tr, "Turkish"), (names_en, "English")):
        if names is not None and len(names) != len(dataset.classes):
            raise ValueError(f"{len(names)} {what} class names for {len(dataset.classes)} classes")
    templates_tr = list(templates_tr) if templates_tr else templates(spoken["lang"])
    templates_en = list(templates_en) if templates_en else english_templates(spoken["lang"])
    images = _image_vectors(dataset.image_paths, model, cache_dir, dataset.name, progress, shard_size)
    teacher = clip_teacher if clip_teacher is not None else clip_text_teacher(model)
    # the prompt ensemble of `inference.py classify` (inference_api.zeroshot.label_vectors), for every row
    student = label_vectors(lambda t: encode_student(model, t, progress, f"student ({spoken['language']} prompts)"),
                            names_tr, templates_tr)
    clip_tr = label_vectors(lambda t: encode_clip(teacher, t, progress, f"CLIP text ({spoken['language']} prompts)"),
                            names_tr, templates_tr)
    models = {"student": zero_shot_entry(images.vectors, student, dataset.labels, ks),
              "clip_tr": zero_shot_entry(images.vectors, clip_tr, dataset.labels, ks)}
    if names_en is not None:
        clip_en = label_vectors(lambda t: encode_clip(teacher, t, progress, "CLIP text (English prompts)"),
                                names_en, templates_en)
        models["clip_en"] = zero_shot_entry(images.vectors, clip_en, dataset.labels, ks)
    info = {**dataset.info(), **spoken, "image_cache": images.info(), "models": describe_models(model, teacher),
            "templates": {spoken["lang"]: templates_tr, "en": templates_en if names_en is not None else None},
            "classes_en": list(names_en) if names_en is not None else None}
    return {"zero_shot": {dataset.name: {"info": info, "classes": names_tr, "models": models}}}


def merge(*parts: dict) -> dict:
    """Results of several runs in one dict (kinds merged by set name)."""
    merged: dict = {}
    for part in parts:
        for kind, sets in part.items():
            merged.setdefault(kind, {}).update(sets)
    return merged
