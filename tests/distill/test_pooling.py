"""mean_pool: padding never counts, values equal a numpy masked mean."""
import numpy as np

import distill  # noqa: F401
import tensorflow as tf

from distill.pooling import mean_pool


def test_masked_mean_ignores_padding_values():
    rng = np.random.default_rng(0)
    states = rng.normal(size=(3, 5, 4)).astype(np.float32)  # [batch, seq, hidden]
    mask = np.array([[1, 1, 1, 1, 1], [1, 1, 0, 0, 0], [1, 0, 0, 0, 0]], np.int32)
    expected = np.stack([states[i, mask[i] == 1].mean(axis=0) for i in range(3)])
    np.testing.assert_allclose(mean_pool(tf.constant(states), tf.constant(mask)).numpy(), expected, rtol=1e-6)
    poisoned = states.copy()
    poisoned[mask == 0] = 1e6  # whatever sits under the padding
    np.testing.assert_allclose(mean_pool(tf.constant(poisoned), tf.constant(mask)).numpy(), expected, rtol=1e-6)


def test_half_precision_states_keep_their_dtype():
    states = tf.ones((2, 3, 4), tf.float16)
    out = mean_pool(states, tf.constant([[1, 1, 0], [1, 0, 0]]))
    assert out.dtype == tf.float16 and out.shape == (2, 4)
    np.testing.assert_array_equal(out.numpy(), np.ones((2, 4), np.float16))
