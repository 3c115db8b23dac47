"""A Keras model that trains `net` (the whole student, or the head alone on cached features) with a distillation
loss whose batch carries more than targets (keys, groups, extra negatives), so `fit` keeps Keras' loop, callbacks,
mixed-precision loss scaling and XLA."""
from __future__ import annotations

import tensorflow as tf
import tf_keras

from .images import logit_scale
from .losses import distillation_loss


class Distiller(tf_keras.Model):
    """fit() on batches (x, y): x goes to `net`, y is the dict of `distill.losses`. Only `net`'s weights train."""

    def __init__(self, net: tf_keras.Model, loss: str, temperature: float = 0.05, contrastive_weight: float = 1.0,
                 log_logit_scale: tf.Variable | None = None, **kwargs):
        super().__init__(**kwargs)
        self.net, self.loss_name = net, loss
        self.temperature, self.contrastive_weight = float(temperature), float(contrastive_weight)
        self.log_logit_scale = log_logit_scale  # image losses: log of CLIP's logit scale (trains if trainable)

    @property
    def trained_variables(self) -> list:
        """`net`'s trainable weights, plus a learnable logit scale that `net` does not already hold."""
        variables = list(self.net.trainable_variables)
        scale = self.log_logit_scale
        if scale is not None and scale.trainable and not any(v is scale for v in variables):
            variables.append(scale)
        return variables

    def call(self, inputs, training=False):
        return self.net(inputs, training=training)

    def compute_batch_loss(self, x, y, training: bool) -> tf.Tensor:
        return distillation_loss(self.loss_name, self.net(x, training=training), y, self.temperature,
                                 self.contrastive_weight, logit_scale(self.log_logit_scale))

    def train_step(self, data):
        x, y = data
        with tf.GradientTape() as tape:
            loss = self.compute_batch_loss(x, y, training=True)
            # LossScaleOptimizer (mixed precision) scales inside minimize via the tape
        self.optimizer.minimize(loss, self.trained_variables, tape=tape)
        return {"loss": loss}

    def test_step(self, data):
        x, y = data
        return {"loss": self.compute_batch_loss(x, y, training=False)}
