"""Partial freezing of the encoder in stage 2: the token embeddings and/or the lowest transformer blocks stay fixed.

Why: on a small compute budget the step time is the limit. A frozen block needs no weight gradients, and nothing
below the lowest trained block needs a backward pass at all, so freezing the embeddings and the lower half of the
encoder roughly halves a stage-2 step on the CPU (measured: `bench/results/freeze_vs_full.md`). The word-embedding
matrix is also the largest weight (vocab x hidden), whose optimizer update costs time on every step.

Works for the Hugging Face TF encoders this project loads: BERT-family (`.embeddings`, `.encoder.layer`) and
DistilBERT (`.embeddings`, `.transformer.layer`) main layers.
"""
from __future__ import annotations

from turkish_clip.errors import UserError


def _main_layer(encoder):
    """The model's main layer (TFBertMainLayer, TFDistilBertMainLayer, ...): the sub-layer that has embeddings."""
    if hasattr(encoder, "embeddings"):
        return encoder
    for layer in getattr(encoder, "layers", []):
        if hasattr(layer, "embeddings"):
            return layer
    raise UserError(f"{type(encoder).__name__}: no embeddings layer found, so stage2.freeze_embeddings / "
                    "freeze_layers cannot be applied; set both to their defaults (false, 0)")


def blocks(encoder) -> list:
    """The encoder's transformer blocks, lowest first."""
    main = _main_layer(encoder)
    stack = getattr(main, "encoder", None) or getattr(main, "transformer", None)
    found = getattr(stack, "layer", None)
    if not found:
        raise UserError(f"{type(encoder).__name__}: no transformer blocks found (neither .encoder.layer nor "
                        ".transformer.layer); set stage2.freeze_layers=0")
    return list(found)


def freeze(encoder, embeddings: bool, layers: int) -> list[str]:
    """Make the embeddings (if asked) and the lowest `layers` blocks untrainable; returns what was frozen.

    Call after `encoder.trainable = True` (which makes every sub-layer trainable again)."""
    frozen = []
    if embeddings:
        _main_layer(encoder).embeddings.trainable = False
        frozen.append("embeddings")
    if layers:
        stack = blocks(encoder)
        if layers > len(stack):
            raise UserError(f"stage2.freeze_layers={layers}, but the encoder has {len(stack)} transformer blocks; "
                            f"use at most {len(stack)}")
        for block in stack[:layers]:
            block.trainable = False
        frozen.append(f"blocks 1-{layers} of {len(stack)}")
    return frozen
