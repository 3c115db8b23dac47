"""Distillation through `distill.train.Trainer` (the library path `python -m distill train` uses), with the test
pool scored after the untrained baseline and after each stage."""
from __future__ import annotations

import logging
import time

import numpy as np

import distill  # noqa: F401  (tf-keras before TensorFlow)
from distill.config import StageConfig, TrainConfig
from distill.student import encode
from distill.train import Trainer
from evaluation.metrics import fidelity

log = logging.getLogger(__name__)


def evidence_config(data_dir: str, model: str, work: str, quick: bool, seed: int = 42) -> TrainConfig:
    """Defaults of the evidence run: e5-small + Dense(384 -> 384), MSE to unnormalised teacher vectors, the English
    side trained too. Learning rates and the step budget come from the sweep in bench/results/evidence.md; the
    full run caps the steps so that it fits 30 minutes on 2 CPU cores (each "epoch" is `steps_per_epoch` batches)."""
    return TrainConfig(
        data_dir=data_dir, model=model, text_column="tr", include_english=True, max_length=64, loss="mse",
        val_fraction=0.1 if quick else 0.05, seed=seed,
        stage1=StageConfig(epochs=2, learning_rate=2e-2, batch_size=64, patience=2,
                           steps_per_epoch=None if quick else 300),
        stage2=StageConfig(epochs=1 if quick else 2, learning_rate=3e-4, batch_size=32, warmup_fraction=0.1,
                           decay="linear", patience=2, steps_per_epoch=None if quick else 900),
        run_dir=f"{work}/run", output_dir=f"{work}/student", head_path=f"{work}/clip_head.h5",
        verbose=0 if quick else 2,
    )


class EvidenceTrainer(Trainer):
    """A Trainer that also scores the test pool (student(TR) vs teacher(EN)) before training and after each stage."""

    def __init__(self, config: TrainConfig, test_tr: list[str], test_teacher: np.ndarray):
        super().__init__(config)
        self.test_tr, self.test_teacher, self.test_results = test_tr, test_teacher, {}

    def score_test(self, label: str) -> dict:
        began = time.time()
        vectors = encode(self.student, self.tokenizer, self.test_tr, self.config.max_length, batch_size=128)
        result = {**fidelity(vectors, self.test_teacher), "seconds": round(time.time() - began, 1)}
        self.test_results[label] = result
        log.info("test %s: R@1 %.3f, R@5 %.3f, cosine %.3f, mse %.5f", label, result["R@1"], result["R@5"],
                 result["cosine"], result["mse"])
        return result

    def record_baseline(self) -> None:
        super().record_baseline()
        self.score_test("untrained")

    def fit_stage(self, no: int, cfg: StageConfig) -> None:
        began = time.time()
        super().fit_stage(no, cfg)  # ends with the stage's best weights restored
        self.test_results[f"stage{no}_seconds"] = round(time.time() - began, 1)
        self.score_test(f"stage{no}")


def distil(config: TrainConfig, test_tr: list[str], test_teacher: np.ndarray) -> dict:
    """Both stages + export; returns the Trainer's result plus `test` (scores per point) and the effective split."""
    trainer = EvidenceTrainer(config, test_tr, test_teacher)
    split = {"train": trainer.train, "val": trainer.val}
    result = trainer.run()
    return {**result, "test": trainer.test_results, "split": split}
