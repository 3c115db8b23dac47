"""Distillation through `distill.train.Trainer` (the library path `python -m distill train` uses), with the test
pool and the caption-domain check scored after the untrained baseline, after stage 1 and after every stage-2 epoch
(a learning curve against compute: no setting is chosen from these scores — early stopping and every choice use
distill's validation split only)."""
from __future__ import annotations

import logging
import time

import numpy as np

import distill  # noqa: F401  (tf-keras before TensorFlow)
from distill.config import StageConfig, TrainConfig
from distill.student import encode
from distill.train import Trainer
from turkish_clip.metrics import fidelity

log = logging.getLogger(__name__)
STAGE1_ROWS = 20_000  # bench/results/stage1_rows.md: the ridge head's validation R@1 is flat from 10k rows to all 85k
STAGE2_LR = 3e-4  # bench/results/freeze_vs_full.md


def evidence_config(data_dir: str, model: str, work: str, quick: bool, seed: int = 42) -> TrainConfig:
    """The evidence recipe: e5-small + Dense(384 -> 384), the English side trained too, stage 1 in closed form
    (ridge on cached frozen features of a 20,000-row sample), stage 2 MSE + InfoNCE with cached extra negatives and
    the embeddings + lowest 6 of 12 blocks frozen. Loss weight, temperature, negatives, learning rate and batch size
    come from the validation sweep (bench/results/evidence_sweep.md), the stage-1 sample from
    bench/results/stage1_rows.md, the frozen part and stage-2 learning rate from bench/results/freeze_vs_full.md (all
    on distill's validation split); the full run's step budget fits 30 minutes on 2 CPU cores for the whole run
    (each "epoch" is `steps_per_epoch` batches; `max_minutes` is a guard should the machine be slower).

    XLA on the CPU (jit_compile on, batches padded to a multiple of 8 so only a handful of shapes compile): a stage-2
    step of e5-small at batch 32 took 557 ms against 825 ms without XLA on the 2-core machine (1.48x; each padded
    length compiles once, ~19 s), measured side by side in one session with a throwaway script (not a committed
    benchmark; the README says so)."""
    return TrainConfig(
        data_dir=data_dir, model=model, text_column="tr", include_english=True, max_length=64,
        loss="mse+contrastive", contrastive_weight=0.1, temperature=0.05, contrastive_negatives=4096,
        val_fraction=0.1 if quick else 0.05, seed=seed, jit_compile="off" if quick else "on", pad_multiple=8,
        stage1=StageConfig(epochs=1, batch_size=64, solver="ridge", max_rows=None if quick else STAGE1_ROWS),
        stage2=StageConfig(epochs=1 if quick else 4, learning_rate=STAGE2_LR, batch_size=32, warmup_fraction=0.05,
                           decay="linear", patience=6, steps_per_epoch=None if quick else 750,
                           max_minutes=None if quick else 23.0, freeze_embeddings=True, freeze_layers=6),
        run_dir=f"{work}/run", output_dir=f"{work}/student", head_path=f"{work}/clip_head.h5",
        verbose=0 if quick else 2,
    )


class EvidenceTrainer(Trainer):
    """A Trainer that also scores held-out pools (student(TR) vs teacher(EN) on the LASER test pairs; student(EN) vs
    teacher(EN) on held-out COCO captions) before training, after stage 1 and after each stage-2 epoch."""

    def __init__(self, config: TrainConfig, test_tr: list[str], test_teacher: np.ndarray,
                 captions: tuple[list[str], np.ndarray] | None = None, clock: tuple[float, float] | None = None):
        super().__init__(config)
        self.test_tr, self.test_teacher, self.captions = test_tr, test_teacher, captions
        self.clock = clock or (time.time(), time.process_time())  # the run's start: wall, CPU
        self.test_results, self.curve, self._stage = {}, [], 0

    def score(self, label: str) -> dict:
        began = time.time()
        vectors = encode(self.student, self.tokenizer, self.test_tr, self.config.max_length, batch_size=128)
        result = {**fidelity(vectors, self.test_teacher), "seconds": round(time.time() - began, 1)}
        if self.captions:
            en, teacher = self.captions
            got = fidelity(encode(self.student, self.tokenizer, en, self.config.max_length, batch_size=128), teacher)
            result["captions"] = {k: got[k] for k in ("cosine", "R@1", "R@5", "mse")}
        self.test_results[label] = result
        point = {"label": label, "wall_minutes": round((time.time() - self.clock[0]) / 60, 2),
                 "cpu_minutes": round((time.process_time() - self.clock[1]) / 60, 2), "R@1": result["R@1"],
                 "cosine": result["cosine"], "captions": result.get("captions")}
        self.curve.append(point)
        log.info("test %s at %.1f min: R@1 %.3f, cosine %.3f%s", label, point["wall_minutes"], result["R@1"],
                 result["cosine"], f", captions EN->EN R@1 {result['captions']['R@1']:.3f} cosine "
                 f"{result['captions']['cosine']:.3f}" if self.captions else "")
        return result

    def record_baseline(self) -> None:
        super().record_baseline()
        if "untrained" not in self.test_results:
            self.score("untrained")

    def validate(self, features=None) -> dict:
        result = super().validate(features)
        if self._stage == 2 and features is None:  # once per stage-2 epoch (EpochValidation)
            self._epoch += 1
            self.score(f"stage2_epoch{self._epoch}")
        return result

    def fit_stage(self, no: int, cfg: StageConfig) -> None:
        began = time.time()
        self._stage, self._epoch = no, 0
        super().fit_stage(no, cfg)  # ends with the stage's best weights restored
        self._stage = 0
        self.test_results[f"stage{no}_seconds"] = round(time.time() - began, 1)
        self.score(f"stage{no}")


def distil(config: TrainConfig, test_tr: list[str], test_teacher: np.ndarray, captions=None, clock=None) -> dict:
    """Both stages + export; returns the Trainer's result plus `test` (scores per point), the compute curve and the
    effective split."""
    trainer = EvidenceTrainer(config, test_tr, test_teacher, captions, clock)
    split = {"train": trainer.train, "val": trainer.val}
    result = trainer.run()
    return {**result, "test": trainer.test_results, "curve": trainer.curve, "split": split}
