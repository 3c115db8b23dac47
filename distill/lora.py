"""LoRA (Hu et al. 2021, arXiv:2106.09685) for the BERT/DistilBERT-family TF encoders: each chosen projection
W (a Dense layer) computes x W + b + dropout(x) A B * alpha / r with the base frozen and only A [in, r], B [r, out]
trained (B starts at zero, so training starts from the base model exactly).

The adapters live in one layer attached to the student (`student.lora`), so every checkpoint holds them and a
resumed run continues them; the Dense layers' `call` is wrapped in place (the encoder's own code and weight
names are untouched). At export `merge` adds A B * alpha / r into each kernel and zeroes B: the saved student is
a plain Hugging Face encoder (TF and PyTorch weights) that loads anywhere, and gives the adapter model's vectors.
"""
from __future__ import annotations

import logging
import math
import re

import numpy as np
import tensorflow as tf
import tf_keras

from turkish_clip.errors import UserError

log = logging.getLogger(__name__)

# Which Dense layers are which projection, by the weight path transformers gives them (DistilBERT | BERT-family).
PROJECTIONS = {
    "q": r"/(q_lin|attention/self/query)$",
    "k": r"/(k_lin|attention/self/key)$",
    "v": r"/(v_lin|attention/self/value)$",
    "out": r"/(out_lin|attention/output/dense)$",
    "ffn": r"/(ffn/lin1|ffn/lin2|intermediate/dense|layer_\._\d+/output/dense)$",
}


def parse_targets(text: str) -> tuple[str, ...]:
    """"q,v" -> ("q", "v"); unknown names raise UserError listing the allowed ones."""
    names = tuple(t.strip() for t in str(text).split(",") if t.strip())
    bad = [n for n in names if n not in PROJECTIONS]
    if not names or bad:
        raise UserError(f"lora_targets {text!r}: use a comma-separated subset of {', '.join(PROJECTIONS)}")
    return names


def find_projections(encoder, targets: tuple[str, ...]) -> list[tuple[str, tf_keras.layers.Dense]]:
    """(weight path, Dense layer) of the encoder's projections named by `targets`, in model order."""
    patterns = [re.compile(PROJECTIONS[t]) for t in targets]
    found, seen = [], set()
    for layer in encoder.submodules:
        kernel = getattr(layer, "kernel", None)
        if kernel is None or id(layer) in seen or not isinstance(layer, tf_keras.layers.Dense):
            continue
        path = kernel.name.rsplit("/kernel", 1)[0]
        if any(p.search(path) for p in patterns):
            if layer.activation not in (None, tf_keras.activations.linear):
                log.warning("LoRA: %s has a built-in activation; skipped", path)
                continue
            seen.add(id(layer))
            found.append((path, layer))
    return sorted(found, key=lambda item: item[0])


class LoraAdapter(tf_keras.layers.Layer):
    """dropout(x) A B * alpha / r for one projection: A [in, r] Kaiming-uniform, B [r, out] zeros."""

    def __init__(self, in_dim: int, out_dim: int, rank: int, alpha: float, dropout: float, seed: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.rank, self.scale = rank, alpha / rank
        self.dropout = tf_keras.layers.Dropout(dropout)
        self.a = self.add_weight(name="lora_a", shape=(in_dim, rank),
                                 initializer=tf_keras.initializers.HeUniform(seed=seed), trainable=True)
        self.b = self.add_weight(name="lora_b", shape=(rank, out_dim), initializer="zeros", trainable=True)

    def call(self, x):  # [..., in] -> [..., out]
        return tf.tensordot(tf.tensordot(self.dropout(x), self.a, 1), self.b, 1) * self.scale

    def delta(self) -> tf.Tensor:
        """The kernel update A B * alpha / r, float32 [in, out]."""
        return tf.matmul(tf.cast(self.a, tf.float32), tf.cast(self.b, tf.float32)) * self.scale


class LoraAdapters(tf_keras.layers.Layer):
    """All adapters of a student, in the order of `paths` (weight paths of the adapted projections)."""

    def __init__(self, paths: list[str], adapters: list[LoraAdapter], **kwargs):
        super().__init__(**kwargs)
        self.paths, self.adapters = list(paths), adapters

    def parameter_count(self) -> int:
        return int(sum(np.prod(w.shape) for a in self.adapters for w in (a.a, a.b)))


def _wrap(dense: tf_keras.layers.Dense, adapter: LoraAdapter) -> None:
    original = dense.call

    def call(inputs, *args, **kwargs):
        return original(inputs, *args, **kwargs) + adapter(inputs)

    dense.call = call


def add_lora(student, rank: int, alpha: float, dropout: float, targets: str, seed: int = 0) -> LoraAdapters:
    """Wrap the encoder's `targets` projections with rank-`rank` adapters and attach them as `student.lora`."""
    if getattr(student, "lora", None) is not None:
        raise UserError("the student already has LoRA adapters")
    if any(f.experimental_get_tracing_count() for f in (student.infer, student.pool_batch)):
        raise RuntimeError("add LoRA before the student's first encode: traced functions would not see the adapters")
    layers = find_projections(student.encoder, parse_targets(targets))
    if not layers:
        raise UserError(f"LoRA: no {targets} projections found in {type(student.encoder).__name__}; LoRA supports the "
                        f"BERT/DistilBERT-family encoders (set stage2.lora_rank=0 for full fine-tuning)")
    adapters = [LoraAdapter(int(d.kernel.shape[0]), int(d.kernel.shape[1]), rank, alpha, dropout, seed + i,
                            name=f"lora_{i}")
                for i, (_, d) in enumerate(layers)]
    for (_, dense), adapter in zip(layers, adapters):
        _wrap(dense, adapter)
    student.lora = LoraAdapters([p for p, _ in layers], adapters, name="lora")
    base = sum(int(np.prod(w.shape)) for w in student.encoder.weights)
    log.info("LoRA rank %d on %d projections (%s): %d adapter weights (%.2f%% of the encoder's %d)", rank,
             len(layers), targets, student.lora.parameter_count(), 100 * student.lora.parameter_count() / base, base)
    return student.lora


def merge(student) -> int:
    """Add each adapter's A B * alpha / r into its projection's kernel and zero B (the model's output is unchanged,
    and the encoder alone now carries the fine-tune); returns how many projections were merged."""
    lora = getattr(student, "lora", None)
    if lora is None:
        return 0
    layers = dict(find_projections(student.encoder, tuple(PROJECTIONS)))
    for path, adapter in zip(lora.paths, lora.adapters):
        kernel = layers[path].kernel
        kernel.assign_add(tf.cast(adapter.delta(), kernel.dtype))
        adapter.b.assign(tf.zeros_like(adapter.b))
    log.info("merged %d LoRA adapters into the encoder", len(lora.adapters))
    return len(lora.adapters)


def check_options(rank: int, alpha: float, dropout: float, targets: str) -> None:
    if rank:
        parse_targets(targets)
    if not (math.isfinite(alpha) and alpha > 0) or not 0 <= dropout < 1:
        raise UserError(f"lora_alpha must be > 0 and lora_dropout in [0, 1), got {alpha}, {dropout}")
