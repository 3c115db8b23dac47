"""Two-stage distillation (Reimers & Gurevych 2020, M-CLIP): stage 1 fits the head on a frozen encoder, stage 2
fine-tunes everything at a low learning rate with warm-up and decay. The loss (distill/losses.py) is MSE to cached
CLIP text vectors, optionally plus a symmetric InfoNCE with cached extra negatives.

Stage 1 computes the frozen encoder's pooled features once (distill/features.py) and fits the head on them: in closed
form (ridge, distill/ridge.py, the default) or by Adam epochs over the features.

Each epoch is validated (MSE, cosine, TR->EN R@1/R@5), checkpointed with its optimizer state, and recorded in
state.json, so a killed run continues with `resume=True` (with the options it was started with). A non-finite loss
stops with a clear error and leaves the last good checkpoint in place.
"""
from __future__ import annotations

import logging
import math
import os
import time
from pathlib import Path

import numpy as np
import tensorflow as tf
import tf_keras

from data_tools.cache import read_manifest
from turkish_clip.errors import UserError

from .config import StageConfig, TrainConfig
from . import ridge
from .data import feature_dataset, load_splits, make_dataset, tokenize
from .distiller import Distiller
from .evaluate import metrics, validation_loss
from .export import save_student
from .features import cached_features, ids_key
from .history import save_history
from .progress import StageProgress, epoch_line, show, stage_line
from .provenance import TRAINING_IMAGE_IDS, cache_provenance, check_provenance, training_data
from .run_state import STATE, check_resumable, mark_diverged, read_state, write_state
from . import freezing, images, lora
from .student import build_student, encode_ids, load_encoder, load_tokenizer

log = logging.getLogger(__name__)
PAUSE_ENV = "DISTILL_PAUSE_AFTER"  # testing hook "STAGE:EPOCH": sleep once that epoch is checkpointed (to be killed)


class TrainingDivergedError(UserError):
    """The loss became NaN/inf; the last good checkpoint is kept. `stage`: the stage that diverged."""

    def __init__(self, message: str, stage: int | None = None):
        super().__init__(message)
        self.stage = stage


class WarmupDecay(tf_keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up to `peak` over `warmup` steps, then constant, linear or cosine decay to 0 at `total`."""

    def __init__(self, peak: float, total: int, warmup: int = 0, decay: str = "none"):
        self.peak, self.total, self.warmup, self.decay = float(peak), int(total), int(warmup), decay

    def __call__(self, step):
        step = tf.cast(step, tf.float32)
        warm = (step + 1.0) / float(max(self.warmup, 1))
        progress = tf.clip_by_value((step - self.warmup) / float(max(self.total - self.warmup, 1)), 0.0, 1.0)
        after = {"none": tf.ones_like(progress), "linear": 1.0 - progress,
                 "cosine": 0.5 * (1.0 + tf.cos(math.pi * progress))}[self.decay]
        return self.peak * tf.where(step < self.warmup, warm, after)

    def get_config(self):
        return {"peak": self.peak, "total": self.total, "warmup": self.warmup, "decay": self.decay}


class NonFiniteLossGuard(tf_keras.callbacks.Callback):
    """Stops fit at the first batch whose loss is NaN/inf and remembers where."""

    def __init__(self):
        super().__init__()
        self.bad: tuple[int, float] | None = None

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            self.bad = (batch, float(loss))
            self.model.stop_training = True


class TimeBudget(tf_keras.callbacks.Callback):
    """Ends the epoch in progress once `deadline` (time.monotonic()) has passed; `spent` says whether it did."""

    def __init__(self, deadline: float | None):
        super().__init__()
        self.deadline = deadline

    @property
    def spent(self) -> bool:
        return self.deadline is not None and time.monotonic() >= self.deadline

    def on_train_batch_end(self, batch, logs=None):
        if self.spent:
            self.model.stop_training = True


class EpochValidation(tf_keras.callbacks.Callback):
    """Validates at the end of each epoch and adds val_mse/val_cosine/val_r1/val_r5 to the logs, so Keras' progress line
    shows them (this callback runs before the progress bar's)."""

    def __init__(self, validate, guard: NonFiniteLossGuard):
        super().__init__()
        self.validate, self.guard, self.result = validate, guard, None

    def on_epoch_end(self, epoch, logs=None):
        if self.guard.bad is None:
            self.result = self.validate()
            if logs is not None:
                logs.update(_prefixed(self.result))


def setup_device(config: TrainConfig):
    """(distribution strategy, jit): mixed precision / XLA on GPUs when "auto", MirroredStrategy on > 1 GPU."""
    gpus = tf.config.list_physical_devices("GPU")
    if config.mixed_precision == "on" or (config.mixed_precision == "auto" and gpus):
        tf_keras.mixed_precision.set_global_policy("mixed_float16")
    jit = config.jit_compile == "on" or (config.jit_compile == "auto" and bool(gpus))
    strategy = tf.distribute.MirroredStrategy() if len(gpus) > 1 else tf.distribute.get_strategy()
    log.info("devices: %d GPU(s), policy %s, jit %s", len(gpus), tf_keras.mixed_precision.global_policy().name, jit)
    return strategy, jit


def _pause_for_tests(stage: int, epoch: int) -> None:
    if os.environ.get(PAUSE_ENV) == f"{stage}:{epoch}":
        log.warning("%s=%s: pausing for a test to kill this run", PAUSE_ENV, os.environ[PAUSE_ENV])
        # Short sleeps: a SIGINT taken by one of TF's threads does not wake the main thread's sleep, so one long sleep
        # could miss the test's Ctrl-C; the main thread checks for pending signals after each short one.
        for _ in range(36_000):
            time.sleep(0.1)


def _checkpoint(student, optimizer=None) -> tf.train.Checkpoint:
    return tf.train.Checkpoint(model=student, optimizer=optimizer) if optimizer else tf.train.Checkpoint(model=student)


def _restore(student, run_dir: Path, prefix: str, optimizer=None) -> None:
    _checkpoint(student, optimizer).read(str(run_dir / prefix)).expect_partial()
    log.info("restored %s%s", prefix, " with optimizer state" if optimizer else "")


class Trainer:
    """Holds the data and model of one run; `run()` does stage 1, stage 2 and the export."""

    def __init__(self, config: TrainConfig, resume: bool = False):
        TrainConfig.from_dict(config.to_dict())  # re-checks options changed after the config was built
        read_manifest(config.data_dir)  # a wrong cache folder fails here, before any run folder or model is touched
        self.config, self.run_dir = config, Path(config.run_dir)
        if not resume and (self.run_dir / STATE).exists():
            raise UserError(f"{self.run_dir} already holds a run; pass --resume to continue it or choose another run_dir")
        state = read_state(self.run_dir) if resume else None
        if resume and state is None:
            raise UserError(f"--resume: {self.run_dir} has no {STATE}; start the run without --resume")
        provenance = cache_provenance(config.data_dir)
        if resume:
            check_resumable(self.run_dir, config)
            check_provenance(self.run_dir, state.get("provenance"), provenance)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.state = state or {"stage": 0, "epoch": 0, "stage_done": True, "checkpoint": None, "history": []}
        self.state.setdefault("provenance", provenance)  # what this run trains on; --resume refuses a changed cache
        config.save(self.run_dir / "config.json")
        tf_keras.utils.set_random_seed(config.seed)
        self.strategy, self.jit = setup_device(config)
        self.pad_multiple = config.pad_multiple or (8 if tf.config.list_physical_devices("GPU") else 1)
        self.train, self.val, self.manifest = load_splits(  # the data is checked before any model loads
            config.data_dir, config.text_column, config.val_fraction, config.seed, config.include_english,
            config.normalize_targets, config.max_train)
        if len(self.train) == 0 or len(self.val) == 0:
            raise UserError(f"{config.data_dir}: {len(self.train)} training / {len(self.val)} validation captions; need both (check val_fraction)")
        self.image_info = None
        if images.uses_images(config.loss):  # keeps the training captions that have an image vector
            self.train, self.val, self.image_info = images.with_images(config.data_dir, self.train, self.val,
                                                                       self.train.targets.shape[1])
        self.tokenizer = load_tokenizer(config.model, config.cache_dir, config.lang)
        self.pad_id = self.tokenizer.pad_token_id or 0
        self.train_ids = tokenize(self.tokenizer, self.train.texts, config.max_length)
        self.val_ids = tokenize(self.tokenizer, self.val.texts, config.max_length)
        cut = sum(len(x) >= config.max_length for x in self.train_ids)
        log.info("%d of %d training captions reach max_length=%d tokens (truncated, not dropped)", cut, len(self.train_ids), config.max_length)
        with self.strategy.scope():
            self.student = build_student(load_encoder(config.model, config.cache_dir), self.train.targets.shape[1])
            if config.stage2.lora_rank and config.stage2.epochs > 0:  # adapters before restoring: checkpoints hold them
                s2 = config.stage2
                lora.add_lora(self.student, s2.lora_rank, s2.lora_alpha, s2.lora_dropout, s2.lora_targets, config.seed)
            if self.image_info is not None:  # an attribute of the student, so every checkpoint holds it
                self.student.log_logit_scale = images.logit_scale_variable(
                    images.initial_logit_scale(config.image_logit_scale, self.image_info), config.learn_logit_scale)
        if self.state["checkpoint"]:
            _restore(self.student, self.run_dir, self.state["checkpoint"])

    def validate(self, features: np.ndarray | None = None) -> dict:
        """Validation metrics; from cached frozen-encoder features through the head when given (stage 1)."""
        if features is not None:
            vectors = self.student.head.predict(np.asarray(features, np.float32), batch_size=4096, verbose=0)
        else:
            vectors = encode_ids(self.student, self.val_ids, 2 * self.config.stage1.batch_size, self.pad_id, self.pad_multiple)
        vectors = np.asarray(vectors, np.float32)
        result = metrics(vectors, self.val.targets)
        return result if self.image_info is None else {**result, **images.image_metrics(vectors, self.val)}

    def record_baseline(self) -> None:
        """Validation metrics of the untrained student (history entry stage 0, epoch 0)."""
        if not self.state["history"]:
            self._record({"stage": 0, "epoch": 0, "loss": None, **_prefixed(self.validate())})

    def run(self) -> dict:
        self.record_baseline()
        self.fit_stage(1, self.config.stage1)
        self.fit_stage(2, self.config.stage2)
        final = self.validate()
        teacher = self.manifest.get("teacher", {})
        info = {"lang": self.config.lang, "base_model": self.config.model, "max_length": self.config.max_length,
                "text_column": self.config.text_column, "normalized_targets": self.config.normalize_targets,
                "teacher": {k: teacher.get(k) for k in ("model", "kind", "dim", "normalized")},
                "loss": self.config.loss, "contrastive_weight": self.config.contrastive_weight,
                "temperature": self.config.temperature, "val_fraction": self.config.val_fraction, "seed": self.config.seed,
                "include_english": self.config.include_english, "data_dir": str(self.config.data_dir),
                "metrics": final}
        if self.image_info is not None:
            info["image_logit_scale"] = float(images.logit_scale(self.student.log_logit_scale))
        if lora.merge(self.student):  # student/ stays a plain encoder; the run's checkpoints keep the adapters
            s2 = self.config.stage2
            info["lora"] = {"rank": s2.lora_rank, "alpha": s2.lora_alpha, "targets": s2.lora_targets, "merged": True}
        info["training_data"], image_ids = training_data(self.manifest, self.config.data_dir, self.train.groups,
                                                         self.train.caption_ids)
        save_student(self.student, self.tokenizer, self.config.output_dir, info, self.config.head_path,
                     arrays={TRAINING_IMAGE_IDS: image_ids})
        self.state["finished"] = True
        write_state(self.run_dir, self.state)
        return {"metrics": final, "history": self.state["history"], "output_dir": self.config.output_dir,
                "head_path": self.config.head_path}

    def fit_stage(self, no: int, cfg: StageConfig) -> None:
        """Stage 1: the head on cached frozen-encoder features (ridge in one solve, or Adam epochs). Stage 2: all."""
        state = self.state
        if state["stage"] > no or (state["stage"] == no and state["stage_done"]) or cfg.epochs <= 0:
            return
        self.student.encoder.trainable = no == 2 and not cfg.lora_rank  # LoRA: the base stays frozen
        if no == 2 and (cfg.freeze_embeddings or cfg.freeze_layers):
            frozen = freezing.freeze(self.student.encoder, cfg.freeze_embeddings, cfg.freeze_layers)
            log.info("stage 2: %s frozen", " and ".join(frozen))
        if no == 1:
            rows = self.stage1_rows(cfg)
            split = self.train if rows is None else self.train.take(rows)
            train_features, val_features = self.frozen_features(rows)
            validate = lambda: self.validate(val_features)  # noqa: E731
            if cfg.solver == "ridge":
                if self.image_info is not None:
                    log.warning("stage 1 ridge fits the head to the text vectors (MSE: the image loss has no closed "
                                "form; the penalty is chosen on image recall); stage 2 trains the image loss. Set "
                                "stage1.solver=adam to train the image loss in stage 1 too")
                return self._fit_ridge(cfg, train_features, split.targets, validate)
            net, steps = self.student.head, math.ceil(len(split) / cfg.batch_size)

            def data(epoch: int, seed: int):
                return feature_dataset(train_features, split, cfg.batch_size, seed, self._negatives())
        else:
            net, steps, validate = self.student, math.ceil(len(self.train) / cfg.batch_size), self.validate

            def data(epoch: int, seed: int):
                return make_dataset(self.train_ids, self.train, cfg.batch_size, pad_id=self.pad_id,
                                    max_length=self.config.max_length, seed=seed, bucket=self.config.bucket,
                                    pool=self.config.bucket_pool, pad_multiple=self.pad_multiple,
                                    max_batches=min(steps, cfg.steps_per_epoch or steps), negatives=self._negatives())
        self._fit_epochs(no, cfg, net, min(steps, cfg.steps_per_epoch or steps), data, validate)

    def _negatives(self) -> int:
        return self.config.contrastive_negatives if self.config.loss in ("contrastive", "mse+contrastive") else 0

    def stage1_rows(self, cfg: StageConfig) -> np.ndarray | None:
        """Sorted indices of the training rows stage 1 fits on (a seeded sample of `max_rows`), or None for all."""
        if cfg.max_rows is None or cfg.max_rows >= len(self.train):
            return None
        rng = np.random.default_rng(self.config.seed)
        return np.sort(rng.permutation(len(self.train))[:cfg.max_rows])

    def frozen_features(self, rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Pooled features of the frozen encoder for the training texts (all, or those at `rows`) and the validation
        texts, computed once per run (run_dir/features/, float16 by default) and reused by later epochs, `--resume`
        and the ridge solver."""
        folder = self.run_dir / "features"
        hidden = self.student.hidden_size
        train_ids = self.train_ids if rows is None else [self.train_ids[i] for i in rows]
        out = []
        for name, ids in (("train", train_ids), ("val", self.val_ids)):
            key = ids_key(ids, self.config.model, str(self.config.max_length))
            out.append(cached_features(folder / f"{name}.npy", ids, lambda b: self.student.pool_batch(b).numpy(),
                                       hidden, key, batch_size=2 * self.config.stage1.batch_size, pad_id=self.pad_id,
                                       pad_multiple=self.pad_multiple, dtype=self.config.feature_dtype,
                                       progress=self.config.verbose > 0))
        return out[0], out[1]

    def _fit_ridge(self, cfg: StageConfig, features: np.ndarray, targets: np.ndarray, validate) -> None:
        """Closed-form head: XᵀX, XᵀY in one pass over the cached features, λ chosen on validation."""
        began = time.time()
        gram = ridge.accumulate(features, targets)
        penalties = ridge.PENALTIES if cfg.ridge_penalty is None else (cfg.ridge_penalty,)
        best = None
        for penalty in penalties:
            kernel, bias = ridge.solve(gram, penalty)
            self.student.head.layers[-1].set_weights([kernel, bias])
            val = validate()
            vloss = validation_loss(val, self.config.loss)
            log.info("stage 1 ridge: penalty %g, val_mse %.5g, val_r1 %.2f%%", penalty, val["mse"], 100 * val["r1"])
            if best is None or vloss < best[0]:
                best = (vloss, penalty, kernel, bias, val)
        _, penalty, kernel, bias, val = best
        self.student.head.layers[-1].set_weights([kernel, bias])
        record = {"stage": 1, "epoch": 1, "loss": gram.mse(kernel, bias), **_prefixed(val), "solver": "ridge",
                  "ridge_penalty": penalty, "seconds": round(time.time() - began, 2)}
        show(stage_line(f"stage 1 ridge (penalty {penalty:g})", record["loss"], val), self.config.verbose)
        self.state["history"].append(record)
        prefix = "ckpt-s1-final"
        _checkpoint(self.student).write(str(self.run_dir / prefix))
        self._advance(prefix, stage=1, epoch=1, stage_done=True)
        save_history(self.run_dir, self.state["history"])

    def _fit_epochs(self, no: int, cfg: StageConfig, net, steps: int, make_data, validate) -> None:
        """Epochs of Adam on `net` (head or whole student) with checkpoints, early stopping and the NaN guard."""
        state = self.state
        start = state["epoch"] if state["stage"] == no else 0
        best = state.get("best") if state["stage"] == no else None
        bad_epochs = state.get("bad_epochs", 0) if state["stage"] == no else 0
        if bad_epochs >= cfg.patience:  # killed after early stopping, before the stage was closed
            start = cfg.epochs
        with self.strategy.scope():
            schedule = WarmupDecay(cfg.learning_rate, steps * cfg.epochs, int(cfg.warmup_fraction * steps * cfg.epochs), cfg.decay)
            optimizer = tf_keras.optimizers.Adam(schedule)
            distiller = Distiller(net, self.config.loss, self.config.temperature, self.config.contrastive_weight,
                                  getattr(self.student, "log_logit_scale", None))
            distiller.compile(optimizer=optimizer, jit_compile=self.jit)
            optimizer.build(distiller.trained_variables)
            optimizer = distiller.optimizer  # the loss-scale wrapper under mixed precision: its scale is checkpointed too
        if start > 0:
            _restore(self.student, self.run_dir, state["checkpoint"], optimizer)
        log.info("stage %d: %s, %d trainable weights, epochs %d..%d of %d, %d steps/epoch", no,
                 "encoder frozen, head only (cached features)" if no == 1 else cfg.trained_part(),
                 len(net.trainable_weights), start + 1, cfg.epochs, cfg.epochs, steps)
        budget = TimeBudget(None if cfg.max_minutes is None else time.monotonic() + 60 * cfg.max_minutes)
        for epoch in range(start, cfg.epochs):
            began, first_step = time.time(), int(optimizer.iterations)
            data = make_data(epoch, self.config.seed * 1000 + no * 100 + epoch)
            guard = NonFiniteLossGuard()
            validation = EpochValidation(validate, guard)
            progress = StageProgress(no, epoch + 1, cfg.epochs, steps, self.config.verbose)  # not Keras' "Epoch n/n"
            fitted = distiller.fit(data, epochs=epoch + 1, initial_epoch=epoch, verbose=0,
                                   callbacks=[guard, budget, validation, progress])
            if guard.bad:
                kept = (f"last good checkpoint kept ({self.run_dir / state['checkpoint']})" if state["checkpoint"]
                        else "no checkpoint yet (no epoch had finished)")
                lower = f"stage{no}.learning_rate={cfg.learning_rate / 10:g}"
                raise TrainingDivergedError(
                    f"stage {no} epoch {epoch + 1} batch {guard.bad[0] + 1}: training loss became {guard.bad[1]}; stopped, "
                    f"{kept}. Continue from there with a lower learning rate: python -m distill train --config "
                    f"{self.run_dir / 'config.json'} --resume --set {lower} (or check the teacher vectors)", stage=no)
            val = validation.result
            vloss = validation_loss(val, self.config.loss)
            if not math.isfinite(vloss):
                raise TrainingDivergedError(f"stage {no} epoch {epoch + 1}: validation loss is {vloss}; last good checkpoint kept ({state['checkpoint']})")
            lr = float(schedule(optimizer.iterations - 1))
            record = {"stage": no, "epoch": epoch + 1, "loss": float(fitted.history["loss"][-1]), **_prefixed(val),
                      "lr": lr, "steps": int(optimizer.iterations) - first_step, "seconds": round(time.time() - began, 2)}
            if best is None or vloss < best["val_loss"]:  # a new file; state.json then names it, the old is deleted
                best, bad_epochs = {"val_loss": vloss, "epoch": epoch + 1, "checkpoint": f"best-s{no}-e{epoch + 1}"}, 0
                _checkpoint(self.student).write(str(self.run_dir / best["checkpoint"]))
            else:
                bad_epochs += 1
            prefix = f"ckpt-s{no}-e{epoch + 1}"
            _checkpoint(self.student, optimizer).write(str(self.run_dir / prefix))
            self.state["history"].append(record)
            self._advance(prefix, stage=no, epoch=epoch + 1, stage_done=False, best=best, bad_epochs=bad_epochs)
            self._remove_other_bests(no, best)
            save_history(self.run_dir, self.state["history"])
            _pause_for_tests(no, epoch + 1)
            log.log(logging.DEBUG if self.config.verbose else logging.INFO,  # StageProgress already printed it
                    "%s", epoch_line(no, epoch + 1, cfg.epochs, record["loss"], val, record["seconds"]))
            if bad_epochs >= cfg.patience:
                log.info("stage %d: early stop, no better validation loss for %d epochs", no, bad_epochs)
                break
            if budget.spent:
                log.info("stage %d: time budget of %g minutes spent after %d of %d epochs", no, cfg.max_minutes,
                         epoch + 1, cfg.epochs)
                break
        if best is not None:
            # best weights of the stage (early stopping); runs started before best files were per epoch: best-s{no}/ckpt
            _restore(self.student, self.run_dir, best.get("checkpoint", f"best-s{no}/ckpt"))
        prefix = f"ckpt-s{no}-final"
        _checkpoint(self.student).write(str(self.run_dir / prefix))
        self._advance(prefix, stage=no, epoch=cfg.epochs, stage_done=True)
        self._remove_other_bests(no, best or {})

    def _advance(self, prefix: str, **fields) -> None:
        """Point state.json at a new complete checkpoint, then delete the previous one."""
        old = self.state.get("checkpoint")
        self.state.update(checkpoint=prefix, **fields)
        write_state(self.run_dir, self.state)
        if old and old != prefix:
            for path in self.run_dir.glob(old + ".*"):
                path.unlink()

    def _remove_other_bests(self, no: int, best: dict) -> None:
        """Delete best-s{no}-e* files that state.json does not name (superseded, or left by a killed epoch)."""
        for path in self.run_dir.glob(f"best-s{no}-e*"):
            if path.name.split(".", 1)[0] != best.get("checkpoint"):
                path.unlink()

    def _record(self, record: dict) -> None:
        self.state["history"].append(record)
        write_state(self.run_dir, self.state)
        save_history(self.run_dir, self.state["history"])


def _prefixed(result: dict) -> dict:
    return {f"val_{k}": v for k, v in result.items()}


def train(config: TrainConfig, resume: bool = False) -> dict:
    """Run both stages and export; returns final metrics, history and output paths."""
    policy = tf_keras.mixed_precision.global_policy()
    try:
        return Trainer(config, resume).run()
    except TrainingDivergedError as error:
        if error.stage is not None:  # --resume may then lower that stage's learning rate
            mark_diverged(Path(config.run_dir), error.stage)
        raise
    finally:
        tf_keras.mixed_precision.set_global_policy(policy)  # mixed precision is this run's, not the process's
