"""Distillation objectives on a batch: MSE / cosine to the teacher vectors, and a symmetric InfoNCE that ranks each
student vector's own teacher vector above the other teacher vectors of the batch (and optional cached extras).

InfoNCE (van den Oord et al. 2018; CLIP, Radford et al. 2021) with temperature t is CLIP's contrastive loss with logit
scale 1/t: CLIP's trained scale of 100 is t = 0.01. A student that must also keep the teacher's geometry (MSE) does
better with a softer t (0.05 here), as in the evidence sweep (README, "Training").

Batch layout (`y` of a training step, all row-aligned):
  target [b, dim] teacher vectors; key [b] int64, the same for rows with the same teacher vector (same English
  caption); group [b] int64, the same for rows of the same image (or sentence component); optional negatives
  [n, dim], negative_key [n], negative_group [n]: extra teacher vectors from the training cache (no student pass).
Rows sharing a key or a group are never each other's negatives: they are masked out of the softmax, not positives.
Image losses add image [b, dim]: the cached CLIP image vector of each row's image (distill/images.py); a batch
holding several captions of one image holds its vector several times, and the group mask keeps those copies from
being each other's negatives (so no per-image sampling is needed and every caption trains).
"""
from __future__ import annotations

import tensorflow as tf

MASKED = -1e9  # logit of a masked candidate: exp() underflows to exactly 0 in float32


def mse(student: tf.Tensor, target: tf.Tensor) -> tf.Tensor:
    """Mean over all elements (Keras MeanSquaredError), so values stay comparable with earlier runs."""
    return tf.reduce_mean(tf.square(student - target))


def negative_cosine(student: tf.Tensor, target: tf.Tensor) -> tf.Tensor:
    """-mean cosine (Keras CosineSimilarity loss)."""
    return -tf.reduce_mean(tf.reduce_sum(tf.math.l2_normalize(student, 1) * tf.math.l2_normalize(target, 1), axis=1))


def info_nce(student: tf.Tensor, target: tf.Tensor, key: tf.Tensor, group: tf.Tensor, temperature: float,
             negatives: tf.Tensor | None = None, negative_key: tf.Tensor | None = None,
             negative_group: tf.Tensor | None = None) -> tf.Tensor:
    """Symmetric InfoNCE: (student -> teacher candidates + teacher -> student candidates) / 2, on L2-normalised rows.

    student -> teacher ranks row i's teacher vector among the batch's teacher vectors and the extra negatives;
    teacher -> student ranks student i among the batch's student vectors. Same key or group = masked.
    """
    s = tf.math.l2_normalize(student, 1)  # [b, d]
    t = tf.math.l2_normalize(target, 1)  # [b, d]
    b = tf.shape(s)[0]
    cand, cand_key, cand_group = t, key, group
    if negatives is not None:
        cand = tf.concat([t, tf.math.l2_normalize(tf.cast(negatives, t.dtype), 1)], axis=0)  # [b + n, d]
        cand_key = tf.concat([key, negative_key], axis=0)
        cand_group = tf.concat([group, negative_group], axis=0)
    same = tf.logical_or(key[:, None] == cand_key[None, :], group[:, None] == cand_group[None, :])  # [b, b + n]
    own = tf.cast(tf.eye(b, tf.shape(cand)[0]), tf.bool)
    masked = tf.logical_and(same, tf.logical_not(own))
    labels = tf.range(b)
    logits = tf.where(masked, MASKED, tf.matmul(s, cand, transpose_b=True) / temperature)  # [b, b + n]
    to_teacher = tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits)
    back = tf.where(tf.transpose(masked[:, :b]), MASKED, tf.matmul(t, s, transpose_b=True) / temperature)  # [b, b]
    to_student = tf.nn.sparse_softmax_cross_entropy_with_logits(labels, back)
    return 0.5 * (tf.reduce_mean(to_teacher) + tf.reduce_mean(to_student))


def image_info_nce(student: tf.Tensor, image: tf.Tensor, key: tf.Tensor, group: tf.Tensor,
                   logit_scale: tf.Tensor | float) -> tf.Tensor:
    """CLIP's contrastive loss between captions and their images with the image tower locked (LiT, Zhai et al.
    2022): symmetric cross-entropy of logit_scale x cosine(student_i, image_j), text->image and image->text.
    Captions of the same image (same group) and identical captions (same key) are masked, never negatives."""
    return info_nce(student, tf.cast(image, tf.float32), key, group, 1.0 / logit_scale)


def distillation_loss(name: str, student: tf.Tensor, y: dict, temperature: float = 0.05,
                      contrastive_weight: float = 1.0, logit_scale: tf.Tensor | float | None = None) -> tf.Tensor:
    """The training loss `name` (one of `distill.config.LOSSES`) of student vectors [b, d] against batch `y` (layout
    above); the image losses use `logit_scale` (CLIP's exp(logit_scale), 100 for OpenAI's ViT-B/32)."""
    student = tf.cast(student, tf.float32)
    target = tf.cast(y["target"], tf.float32)
    if name == "mse":
        return mse(student, target)
    if name == "cosine":
        return negative_cosine(student, target)
    if name in ("image_contrastive", "mse+image_contrastive"):
        ranking = image_info_nce(student, y["image"], y["key"], y["group"], 100.0 if logit_scale is None else logit_scale)
        return ranking if name == "image_contrastive" else mse(student, target) + contrastive_weight * ranking
    ranking = info_nce(student, target, y["key"], y["group"], temperature,
                       y.get("negatives"), y.get("negative_key"), y.get("negative_group"))
    if name == "contrastive":
        return ranking
    return mse(student, target) + contrastive_weight * ranking
