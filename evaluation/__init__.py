"""Evaluation of the Turkish text encoder against CLIP: retrieval, zero-shot and teacher-fidelity metrics,
benchmark loaders, shipped Turkish labels/templates, and reports (JSON, markdown, PNG).

Importing the package is cheap (no torch, no TensorFlow, no matplotlib): `turkish_clip.metrics` is numpy only, so
the TF trainer and the torch side can both use it. Names below are loaded from their module on first use.
"""
from __future__ import annotations

import importlib

_EXPORTS = {
    "turkish_clip.metrics": ["retrieval_recall", "retrieval_ranks", "zero_shot_accuracy", "zero_shot_predict",
                "class_embeddings", "confusion_matrix", "fidelity", "recall_at_k", "recall_curve"],
    "datasets": ["RetrievalSet", "load_captions_tsv"],
    "datasets_coco": ["load_xtd10", "load_coco_karpathy"],
    "datasets_flickr": ["load_flickr"],
    "datasets_xm3600": ["load_crossmodal3600"],
    "classification": ["ClassificationSet", "load_labels_tsv", "load_image_folder", "read_class_list"],
    "labels": ["class_names", "names_for"],
    "inference_api.prompts": ["templates", "fill_templates"],
    "report": ["retrieval_entry", "zero_shot_entry", "write_report", "markdown_tables"],
    "run": ["evaluate_retrieval", "evaluate_zero_shot"],
    "image_cache": ["embed_images"],
    "datasets_cifar": ["load_cifar"],
    "demo": ["write_demo_captions"],
}
_WHERE = {name: module for module, names in _EXPORTS.items() for name in names}
__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module 'evaluation' has no attribute {name!r}")
    module = _WHERE[name]
    return getattr(importlib.import_module(module if "." in module else f"evaluation.{module}"), name)
