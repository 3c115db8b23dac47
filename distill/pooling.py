"""Attention-masked mean pooling: the one sentence-vector rule shared by training and inference."""
from __future__ import annotations

import tensorflow as tf


def mean_pool(token_states: tf.Tensor, attention_mask: tf.Tensor) -> tf.Tensor:
    """Mean of the token states where attention_mask is 1 (M-CLIP / monatis turkish-clip pooling).

    token_states: [batch, seq, hidden]; attention_mask: [batch, seq] (0/1, any int or float dtype) -> [batch, hidden].
    """
    mask = tf.cast(attention_mask, token_states.dtype)[:, :, tf.newaxis]  # [batch, seq, 1]
    summed = tf.reduce_sum(token_states * mask, axis=1)  # [batch, hidden]
    count = tf.maximum(tf.reduce_sum(mask, axis=1), tf.cast(1e-9, token_states.dtype))  # [batch, 1]
    return summed / count
