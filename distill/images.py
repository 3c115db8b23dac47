"""Training against CLIP's images (locked image tower): the cached CLIP image vectors of `python -m data_tools
images` joined to the split by image id, the logit scale, and text<->image retrieval on the validation images.

Each caption row gets the row of its image in the image matrix (`Split.image_rows`, -1 where the image has no
vector). Training rows without one are dropped for the image losses; validation keeps them for the text metrics
and ranks only the captions that have an image.
"""
from __future__ import annotations

import dataclasses
import logging
import math

import numpy as np
import tensorflow as tf

from turkish_clip.errors import InputError
from turkish_clip.metrics import retrieval_recall

from .data import Split

log = logging.getLogger(__name__)
IMAGE_LOSSES = ("image_contrastive", "mse+image_contrastive")
CLIP_LOGIT_SCALE = 100.0  # OpenAI ViT-B/32's exp(logit_scale); CLIP clamps the learnt scale here too
KS = (1, 5, 10)


def uses_images(loss: str) -> bool:
    return loss in IMAGE_LOSSES


def load_images(data_dir) -> tuple[np.ndarray, np.ndarray, dict]:
    """(image ids [m], float32 image vectors [m, dim], manifest["images"]) of a cache, with a fix when absent."""
    from data_tools import cache

    if "images" not in cache.read_manifest(data_dir):
        raise InputError(f"{data_dir} has no CLIP image vectors, which the image losses need; compute them with: "
                         f"python -m data_tools images --data-dir {data_dir} IMAGE_FOLDER")
    ids, vectors, info = cache.load_image_vectors(data_dir)
    vectors = np.asarray(vectors, np.float32)
    if not np.isfinite(vectors).all():
        bad = ids[~np.isfinite(vectors).all(axis=1)][:5].tolist()
        raise InputError(f"{data_dir}/images.npy has NaN/inf vectors (image_id {bad}); recompute them with "
                         f"python -m data_tools images --overwrite")
    return ids, vectors, info


def attach(split: Split, ids: np.ndarray, vectors: np.ndarray) -> Split:
    """The split with `images` (the image matrix) and `image_rows` (each row's image row, -1: none)."""
    position = {int(i): k for k, i in enumerate(ids)}
    rows = np.fromiter((position.get(int(g), -1) for g in split.groups), np.int64, len(split))
    return dataclasses.replace(split, images=vectors, image_rows=rows)


def with_images(data_dir, train: Split, val: Split, target_dim: int) -> tuple[Split, Split, dict]:
    """Training rows that have an image vector, validation with image rows, and the images manifest entry."""
    ids, vectors, info = load_images(data_dir)
    if vectors.shape[1] != target_dim:
        raise InputError(f"{data_dir}: image vectors have dim {vectors.shape[1]} but teacher vectors {target_dim}; "
                         f"compute both with the same CLIP (python -m data_tools images --clip ...)")
    train, val = attach(train, ids, vectors), attach(val, ids, vectors)
    keep = np.flatnonzero(train.image_rows >= 0)
    if len(keep) < len(train):
        log.warning("%d of %d training captions have no image vector (image missing or unreadable): not used by "
                    "the image loss", len(train) - len(keep), len(train))
        train = subset(train, keep)
    if len(train) == 0 or not (val.image_rows >= 0).any():
        raise InputError(f"{data_dir}: {len(train)} training / {int((val.image_rows >= 0).sum())} validation captions "
                         f"have an image vector; the image losses need both (check the images step's summary)")
    return train, val, info


def subset(split: Split, rows: np.ndarray) -> Split:
    return Split([split.texts[i] for i in rows], split.caption_ids[rows], split.groups[rows], split.targets[rows],
                 split.keys[rows], split.images, split.image_rows[rows])


def initial_logit_scale(configured: float | None, info: dict) -> float:
    """The configured scale, else the image checkpoint's (recorded by the images step), else CLIP's 100."""
    scale = configured if configured is not None else info.get("logit_scale", CLIP_LOGIT_SCALE)
    return float(scale) if scale and math.isfinite(scale) and scale > 0 else CLIP_LOGIT_SCALE


def logit_scale_variable(scale: float, learnable: bool) -> tf.Variable:
    """log(scale) as CLIP parameterises it; trains only when `learnable`."""
    return tf.Variable(math.log(scale), trainable=learnable, dtype=tf.float32, name="log_logit_scale")


def logit_scale(log_scale: tf.Variable | None) -> tf.Tensor | None:
    """exp(log_scale), clamped at 100 like CLIP's (a learnt scale past it makes training unstable)."""
    return None if log_scale is None else tf.minimum(tf.exp(log_scale), CLIP_LOGIT_SCALE)


def image_metrics(student: np.ndarray, split: Split) -> dict[str, float]:
    """Text->image and image->text R@1/5/10 of student vectors [n, dim] against the split's distinct images."""
    has = np.flatnonzero(split.image_rows >= 0)
    images, text_to_image = np.unique(split.image_rows[has], return_inverse=True)
    result = retrieval_recall(student[has], split.images[images], text_to_image, ks=KS)
    return {f"{d}_r{k}": float(result[f"{d}_R@{k}"]) for d in ("t2i", "i2t") for k in KS}


def image_validation_loss(result: dict[str, float]) -> float:
    """1 - mean recall (R@1, R@5, R@10 both ways; "R-sum" / 6): what early stopping minimises for image losses."""
    return 1.0 - float(np.mean([result[f"{d}_r{k}"] for d in ("t2i", "i2t") for k in KS]))
