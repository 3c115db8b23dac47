"""Training progress in the run's own terms ("stage 1 epoch 1/2"), not Keras' "Epoch 2/2" of a one-epoch fit.

Each epoch is one `fit` call (so it can be checkpointed and resumed), which makes Keras number epochs by the
fit's `initial_epoch`; this callback shows a tqdm bar over the epoch's batches and one line per epoch with the
validation metrics, recall in percent as everywhere else in the project.
"""
from __future__ import annotations

import math
import sys

import tf_keras
from tqdm.auto import tqdm


def stage_line(label: str, loss: float | None, val: dict, seconds: float | None = None) -> str:
    """`LABEL: loss 0.0123, val mse 0.0118, cosine 0.8123, TR→EN R@1 45.0%, R@5 80.0% (3.1 s)`.

    val: {"mse", "cosine", "r1", "r5"} (recall as fractions, shown in percent).
    """
    parts = [f"loss {loss:.5g}"] if loss is not None else []
    parts += [f"val mse {val['mse']:.5g}", f"cosine {val['cosine']:.4f}",
              f"TR→EN R@1 {100 * val['r1']:.1f}%", f"R@5 {100 * val['r5']:.1f}%"]
    return f"{label}: " + ", ".join(parts) + (f" ({seconds:.1f} s)" if seconds is not None else "")


def epoch_line(stage: int, epoch: int, epochs: int, loss: float | None, val: dict, seconds: float | None = None) -> str:
    """`stage 1 epoch 1/2: loss 0.0123, val mse ...` (see `stage_line`)."""
    return stage_line(f"stage {stage} epoch {epoch}/{epochs}", loss, val, seconds)


def show(line: str, verbose: int) -> None:
    """A progress line on stdout unless quiet (verbose 0), between tqdm bars."""
    if verbose:
        tqdm.write(line)


class StageProgress(tf_keras.callbacks.Callback):
    """A batch bar (verbose 1) and an epoch line (verbose 1 or 2) for epoch `epoch` (1-based) of `epochs`.

    Must come after the callback that adds val_mse/val_cosine/val_r1/val_r5 to the epoch's logs.
    """

    def __init__(self, stage: int, epoch: int, epochs: int, steps: int, verbose: int = 1):
        super().__init__()
        self.stage, self.epoch, self.epochs, self.steps, self.verbose = stage, epoch, epochs, steps, verbose
        self.bar = None

    def on_epoch_begin(self, epoch, logs=None):
        if self.verbose == 1:
            self.bar = tqdm(total=self.steps, desc=f"stage {self.stage} epoch {self.epoch}/{self.epochs}",
                            unit="batch", leave=False, file=sys.stderr)

    def on_train_batch_end(self, batch, logs=None):
        if self.bar is not None:
            self.bar.update(1)
            loss = (logs or {}).get("loss")
            if loss is not None and math.isfinite(float(loss)):
                self.bar.set_postfix(loss=f"{float(loss):.4g}", refresh=False)

    def on_epoch_end(self, epoch, logs=None):
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        logs = logs or {}
        if self.verbose and "val_mse" in logs:  # absent when the epoch stopped on a non-finite loss
            val = {k: float(logs[f"val_{k}"]) for k in ("mse", "cosine", "r1", "r5")}
            show(epoch_line(self.stage, self.epoch, self.epochs, logs.get("loss"), val), self.verbose)

    def on_train_end(self, logs=None):
        if self.bar is not None:
            self.bar.close()
            self.bar = None
