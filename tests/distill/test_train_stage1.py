"""Stage 1 on cached frozen-encoder features (ridge and Adam) and stage 2 with the contrastive objectives."""
from __future__ import annotations

import dataclasses
import json
import logging

import numpy as np
import pytest

import distill  # noqa: F401  (tf-keras before TensorFlow)
from distill import ridge
from distill.data import batch_labels, feature_batches, pad_batch
from distill.distiller import Distiller
from distill.run_state import write_state
from distill.train import Trainer
from tests.distill.helpers import bag_cache
from tests.distill.test_train import tiny_config, weights


def test_head_on_cached_features_equals_the_head_trained_through_the_frozen_encoder(tmp_path, tiny_student_tf):
    import tf_keras

    config = tiny_config(tmp_path, tiny_student_tf, bag_cache(tmp_path / "data", n_images=40), stage1=1, stage2=0,
                         feature_dtype="float32")
    cached = Trainer(config)
    start = weights(cached.student.head)
    cached.fit_stage(1, config.stage1)

    # the same batches, optimiser and start, but every step runs the frozen encoder (the pre-cache stage 1)
    other = Trainer(dataclasses.replace(config, run_dir=str(tmp_path / "run2")))
    other.student.head.set_weights(start)
    other.student.encoder.trainable = False
    distiller = Distiller(other.student, "mse")
    distiller.compile(optimizer=tf_keras.optimizers.Adam(config.stage1.learning_rate))
    groups = other.train.negative_groups()
    seed = config.seed * 1000 + 100
    for index in feature_batches(len(other.train), config.stage1.batch_size, seed):
        x = pad_batch([other.train_ids[i] for i in index], other.pad_id, max(len(other.train_ids[i]) for i in index))
        distiller.train_on_batch(x, batch_labels(other.train, index, groups))
    for got, want in zip(weights(cached.student.head), weights(other.student.head)):
        np.testing.assert_allclose(got, want, atol=2e-4)
    assert not np.allclose(start[0], weights(cached.student.head)[0])  # it did train


def test_ridge_stage1_is_one_solve_with_the_penalty_chosen_on_validation(tmp_path, tiny_student_tf, caplog):
    data = bag_cache(tmp_path / "data", n_images=60)
    config = tiny_config(tmp_path, tiny_student_tf, data, stage1=3, stage2=0, solver="ridge")
    trainer = Trainer(config)
    trainer.record_baseline()
    with caplog.at_level(logging.INFO, logger="distill.train"):
        trainer.fit_stage(1, config.stage1)
    tried = [r.getMessage() for r in caplog.records if "stage 1 ridge: penalty" in r.getMessage()]
    assert len(tried) == len(ridge.PENALTIES)
    history = json.loads((tmp_path / "run" / "history.json").read_text())
    assert [(r["stage"], r["epoch"]) for r in history] == [(0, 0), (1, 1)]  # one pass, not 3 epochs
    record = history[1]
    assert record["solver"] == "ridge" and record["ridge_penalty"] in ridge.PENALTIES
    assert record["val_mse"] < 0.5 * history[0]["val_mse"] and record["val_r1"] > history[0]["val_r1"]
    # the head holds the closed-form solution for the chosen penalty, computed from the cached features
    features = np.load(tmp_path / "run" / "features" / "train.npy")
    kernel, bias = ridge.solve(ridge.accumulate(features, trainer.train.targets), record["ridge_penalty"])
    np.testing.assert_allclose(weights(trainer.student.head)[0], kernel, rtol=1e-5, atol=1e-6)
    assert record["loss"] == pytest.approx(float(np.mean((features.astype(np.float32) @ kernel + bias
                                                          - trainer.train.targets) ** 2)), rel=1e-3)
    # no worse on validation than three Adam epochs over the same features
    adam = tiny_config(tmp_path / "adam", tiny_student_tf, data, stage1=3, stage2=0, solver="adam")
    adam_trainer = Trainer(adam)
    adam_trainer.fit_stage(1, adam.stage1)
    assert record["val_mse"] <= adam_trainer.validate()["mse"]


def test_resume_reuses_the_feature_cache(tmp_path, tiny_student_tf, caplog):
    config = tiny_config(tmp_path, tiny_student_tf, bag_cache(tmp_path / "data", n_images=30), stage1=2, stage2=0)
    config.stage1.patience = 5
    trainer = Trainer(config)
    trainer.fit_stage(1, dataclasses.replace(config.stage1, epochs=1))  # as if killed after epoch 1
    write_state(tmp_path / "run", {**trainer.state, "stage": 1, "epoch": 1, "stage_done": False})
    files = {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in (tmp_path / "run" / "features").iterdir()}
    assert set(files) == {"train.npy", "train.json", "val.npy", "val.json"}
    resumed = Trainer(config, resume=True)
    resumed.student.pool_batch = None  # any encoder pass would fail: the features must come from the cache
    with caplog.at_level(logging.INFO, logger="distill.features"):
        resumed.fit_stage(1, config.stage1)
    assert sum("reusing frozen-encoder features" in r.getMessage() for r in caplog.records) == 2
    assert files == {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in (tmp_path / "run" / "features").iterdir()}


@pytest.mark.parametrize("loss", ["contrastive", "mse+contrastive"])
def test_contrastive_objectives_learn_to_rank(tmp_path, tiny_student_tf, loss):
    config = tiny_config(tmp_path, tiny_student_tf, bag_cache(tmp_path / "data", n_images=60), stage1=1, stage2=6,
                         solver="ridge", loss=loss, contrastive_negatives=64, temperature=0.05, contrastive_weight=0.5,
                         include_english=True)
    result = Trainer(config).run()
    history = result["history"]
    stage1 = [r for r in history if r["stage"] == 1][-1]
    assert history[0]["val_r1"] < 0.2 and stage1["val_r1"] < result["metrics"]["r1"]
    assert result["metrics"]["r1"] > 0.8 and result["metrics"]["cosine"] > 0.5
    saved = json.loads((tmp_path / "student" / "student.json").read_text())
    assert saved["loss"] == loss and saved["temperature"] == 0.05 and saved["contrastive_weight"] == 0.5
