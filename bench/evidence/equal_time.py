"""Stage 2 for a fixed number of wall minutes after the evidence run's ridge stage 1: the shared machinery of the
equal-time comparisons (`lora_vs_full`, `freeze_vs_full`). Reuses the evidence run's teacher cache and frozen features.
"""
from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path

import numpy as np

from .run import E5

log = logging.getLogger("bench.evidence.equal_time")
# the recipe these comparisons were measured against: stage 1 on all rows, stage 2 with nothing frozen
BASELINE = ["stage1.max_rows=null", "stage2.freeze_embeddings=false", "stage2.freeze_layers=0"]


def equal_time_config(work: Path, name: str, minutes: float, seed: int, overrides: list[str]):
    """The evidence recipe (BASELINE: nothing frozen, stage 1 on all rows) with one stage-2 epoch cut at `minutes`, a
    constant learning rate after 2 % warm-up (so the budget cuts no schedule short), then `overrides`."""
    from .train import evidence_config

    config = evidence_config(str(work / "data"), str(E5), str(work / "equal_time" / name), False, seed)
    return config.override(["stage2.epochs=1", "stage2.steps_per_epoch=null", f"stage2.max_minutes={minutes}",
                            "stage2.decay=none", "stage2.warmup_fraction=0.02", *BASELINE, *overrides])


def run_config(work: Path, name: str, config, test_tr=None, test_teacher=None) -> dict:
    """Ridge stage 1 (the evidence run's cached features when they match) and the time-boxed stage 2 of `config`;
    the LASER test pool is scored only when `test_tr` is given (once per final configuration)."""
    from distill.student import encode
    from distill.train import Trainer
    from turkish_clip.metrics import fidelity

    shutil.rmtree(config.run_dir, ignore_errors=True)
    Path(config.run_dir).mkdir(parents=True)
    if (work / "run" / "features").is_dir():  # the evidence run's frozen features (keyed: reused only if they match)
        shutil.copytree(work / "run" / "features", Path(config.run_dir) / "features")
    trainer = Trainer(config)
    began = time.time()
    trainer.record_baseline()
    trainer.fit_stage(1, config.stage1)
    stage1_seconds = time.time() - began
    began = time.time()
    trainer.fit_stage(2, config.stage2)
    stage2_seconds = time.time() - began
    stage2 = [r for r in trainer.state["history"] if r["stage"] == 2][-1]
    trained = sum(int(np.prod(w.shape)) for w in trainer.student.trainable_weights)
    row = {"mode": name, "learning_rate": config.stage2.learning_rate, "lora_rank": config.stage2.lora_rank,
           "lora_targets": config.stage2.lora_targets if config.stage2.lora_rank else None,
           "freeze_embeddings": config.stage2.freeze_embeddings, "freeze_layers": config.stage2.freeze_layers,
           "trainable_params": trained, "stage1_seconds": round(stage1_seconds, 1),
           "stage2_seconds": round(stage2_seconds, 1), "stage2_epoch_seconds": stage2["seconds"],
           "steps": stage2["steps"], "val_r1": stage2["val_r1"], "val_cosine": stage2["val_cosine"],
           "val_mse": stage2["val_mse"]}
    if test_tr is not None:
        test = fidelity(encode(trainer.student, trainer.tokenizer, test_tr, config.max_length, batch_size=128),
                        test_teacher)
        row["test"] = {k: test[k] for k in ("R@1", "R@5", "cosine", "mse")}
    log.info("%s: %d steps in %.1f min, val R@1 %.3f%s", name, stage2["steps"], stage2_seconds / 60, stage2["val_r1"],
             f", test R@1 {row['test']['R@1']:.3f}" if "test" in row else "")
    return row
