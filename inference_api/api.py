"""The inference API: `TurkishCLIP` (the Turkish text encoder and CLIP's image encoder, loaded on first use) and
the module-level `encode_text` / `encode_image` on a shared default instance. `inference.py` re-exports these.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np

from turkish_clip.errors import InputError
from turkish_clip.models import ENV_MODEL, model_language, resolve_text_model

DEMO_IMAGES = Path(__file__).resolve().parent.parent / "demo" / "images"  # in a checkout (not installed by pip)
SHIPPED = "shipped"  # templates=SHIPPED: the shipped prompt templates of the model's language


class TurkishCLIP:
    """The Turkish text encoder and CLIP's image encoder, loaded on first use.

    model: trained student folder (student.json) or a Hugging Face encoder id/folder (then `head` is its
    clip_head.h5); clip: OpenAI name, .pt file or Hugging Face CLIP folder. None means $TURKISH_CLIP_MODEL /
    $TURKISH_CLIP_HEAD / $TURKISH_CLIP_CLIP, else ./student and ViT-B/32. device (cpu, cuda, cuda:N) applies to
    CLIP (torch) and the student (TensorFlow) alike; force loads a head whose encoder fingerprint disagrees.
    lang: the language of the labels and prompt templates (ISO code); None means the one the student records in
    student.json, else "tr".
    """

    def __init__(self, model: str | None = None, head: str | None = None, clip: str | None = None, *,
                 device: str | None = None, batch_size: int = 64, image_batch_size: int = 32,
                 max_length: int | None = None, backend: str | None = None, lang: str | None = None,
                 force: bool = False):
        self.model, self.head, self.clip, self.device, self.force = model, head, clip, device, force
        self._lang = lang
        self.backend = backend  # "tf", "onnx" (an export of `python -m distill export --format onnx`), None: auto
        self.batch_size, self.image_batch_size, self.max_length = batch_size, image_batch_size, max_length
        self._text = self._image = None

    @property
    def lang(self) -> str:
        """The language of labels and templates: the one given, else the student's (student.json), else "tr"."""
        from turkish_clip.languages import DEFAULT_LANG, language

        if self._lang is None:
            self._lang = model_language(self.model, self.head) or DEFAULT_LANG
        return language(self._lang).code  # unknown: one line listing the available languages

    @property
    def templates(self) -> tuple[str, ...]:
        """The shipped prompt templates of `lang` (turkish_clip/languages/<lang>/templates.tsv)."""
        from turkish_clip.languages import templates

        return tuple(templates(self.lang))

    @property
    def text(self):
        """The `inference_api.text_encoder.TextEncoder` (loaded on first use)."""
        if self._text is None:
            from inference_api.onnx_encoder import OnnxTextEncoder, resolve_backend
            from inference_api.text_encoder import TextEncoder

            if resolve_backend(self.model, self.backend) == "onnx":
                self._text = OnnxTextEncoder.load(self.model or os.environ[ENV_MODEL], batch_size=self.batch_size,
                                                  max_length=self.max_length)
            else:
                self._text = TextEncoder.load(self.model, self.head, batch_size=self.batch_size,
                                              max_length=self.max_length, force=self.force, device=self.device)
        return self._text

    @property
    def image(self):
        """The `inference_api.image_encoder.ImageEncoder` (loaded on first use)."""
        if self._image is None:
            from inference_api.image_encoder import ImageEncoder

            self._image = ImageEncoder.load(self.clip, device=self.device, batch_size=self.image_batch_size)
        return self._image

    def check_models(self) -> None:
        """Fail fast, in one line, if a model is missing: paths and the device first (cheap), then CLIP, then the
        text model."""
        from inference_api.onnx_encoder import resolve_backend

        if resolve_backend(self.model, self.backend) == "tf":
            resolve_text_model(self.model, self.head)
        if self.device is not None:
            from turkish_clip.clip_towers import pick_device

            pick_device(self.device)
        _ = self.image, self.text

    def encode_text(self, texts: str | Sequence[str], batch_size: int | None = None) -> np.ndarray:
        """Turkish texts -> L2-normalised float32 [n, dim] in CLIP space (caller's order; [] -> [0, dim])."""
        return self.text.encode(texts, batch_size)

    def encode_image(self, images, batch_size: int | None = None) -> np.ndarray:
        """Image paths or PIL images -> L2-normalised float32 [n, dim] (CLIP's image tower)."""
        from inference_api.image_encoder import check_images

        images = check_images(images)  # bad input fails before CLIP loads
        return self.image.encode(images, batch_size)

    @property
    def logit_scale(self) -> float:
        """CLIP's softmax temperature from the checkpoint (100 for OpenAI's ViT-B/32)."""
        return self.image.logit_scale

    def label_vectors(self, labels: Sequence[str], templates: Sequence[str] | str | None = SHIPPED) -> np.ndarray:
        from inference_api.zeroshot import label_vectors

        return label_vectors(self.encode_text, labels, self.templates if templates == SHIPPED else templates)

    def classify(self, images, labels: Sequence[str], templates: Sequence[str] | str | None = SHIPPED) -> np.ndarray:
        """Zero-shot probabilities float32 [n_images, n_labels] (softmax of logit_scale × cosine); templates: the
        shipped ones of `lang` (default), your own list with one {} each, or None for the bare labels."""
        from inference_api.zeroshot import check_labels, probabilities

        labels = check_labels(labels)
        return probabilities(self.encode_image(images), self.label_vectors(labels, templates), self.logit_scale)

    def index(self, folder, *, index_path=None, recursive: bool = False, progress: bool = True):
        """The folder's cached `ImageIndex`, refreshed for added, removed and changed files."""
        from inference_api.search import index_folder

        return index_folder(folder, self.image, index_path=index_path, recursive=recursive, progress=progress)

    def search(self, folder, query: str, top: int = 9, **index_options) -> list[tuple[Path, float]]:
        """(image path, cosine) of the `top` images of `folder` that best match the Turkish query."""
        query = check_query(query)
        index = self.index(folder, **index_options)
        return index.search(self.encode_text([query])[0], top)


_defaults: dict[str | None, TurkishCLIP] = {}


def default_model(backend: str | None = None) -> TurkishCLIP:
    """The shared instance behind `encode_text` / `encode_image` (models from env vars or defaults), per backend."""
    if backend not in _defaults:
        _defaults[backend] = TurkishCLIP(backend=backend)
    return _defaults[backend]


def encode_text(texts: str | Sequence[str], batch_size: int = 64, backend: str | None = None) -> np.ndarray:
    """Turkish texts -> L2-normalised float32 [n, 512] CLIP ViT-B/32 text vectors, in the caller's order.

    backend: "tf" (the student), "onnx" (an export of `python -m distill export --format onnx`, run by
    onnxruntime; the model is $TURKISH_CLIP_MODEL), None: ONNX if $TURKISH_CLIP_MODEL is an ONNX export."""
    return default_model(backend).encode_text(texts, batch_size)


def encode_image(images, batch_size: int = 32) -> np.ndarray:
    """Image paths or PIL images -> L2-normalised float32 [n, 512] CLIP ViT-B/32 image vectors."""
    return default_model().encode_image(images, batch_size)


def check_query(query: str) -> str:
    if not isinstance(query, str) or not query.strip():
        raise InputError('the search query is empty; give a Turkish description, e.g. --query "kumsalda gün batımı"')
    return query.strip()
