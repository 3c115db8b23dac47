"""Partial freezing in stage 2: the frozen parts stay bit-identical, the rest trains; stage 1 on a row sample."""
from __future__ import annotations

import json

import numpy as np
import pytest

import distill  # noqa: F401  (tf-keras before TensorFlow)
from distill import freezing, ridge
from distill.train import Trainer
from turkish_clip.errors import UserError
from tests.distill.helpers import bag_cache
from tests.distill.test_train import tiny_config, weights


def named(layer) -> dict[str, np.ndarray]:
    return {w.name: w.numpy().copy() for w in layer.weights}


def test_frozen_embeddings_and_lowest_block_stay_fixed_while_the_rest_trains(tmp_path, tiny_student_tf):
    config = tiny_config(tmp_path, tiny_student_tf, bag_cache(tmp_path / "data", n_images=40), stage1=1, stage2=2)
    config.stage2.freeze_embeddings, config.stage2.freeze_layers = True, 1
    trainer = Trainer(config)
    trainer.fit_stage(1, config.stage1)
    encoder = trainer.student.encoder
    embeddings, (low, high) = freezing._main_layer(encoder).embeddings, freezing.blocks(encoder)  # tiny: 2 blocks
    before = [named(x) for x in (embeddings, low, high)]
    trainer.fit_stage(2, config.stage2)
    after = [named(x) for x in (embeddings, low, high)]
    for frozen_before, frozen_after in zip(before[:2], after[:2]):  # embeddings and block 1: bit-identical
        assert frozen_before and all(np.array_equal(frozen_before[k], frozen_after[k]) for k in frozen_before)
    moved = [not np.array_equal(before[2][k], after[2][k]) for k in before[2]]
    assert sum(moved) >= 0.9 * len(moved)  # block 2 trained
    stage2 = [r for r in trainer.state["history"] if r["stage"] == 2]
    stage1 = [r for r in trainer.state["history"] if r["stage"] == 1][-1]
    assert stage2[-1]["val_mse"] < stage1["val_mse"]  # and it still learns
    n_all = len(encoder.weights)
    assert len(encoder.trainable_weights) == n_all - len(embeddings.weights) - len(low.weights)


def test_freezing_more_blocks_than_the_encoder_has_is_one_line(tmp_path, tiny_student_tf):
    config = tiny_config(tmp_path, tiny_student_tf, bag_cache(tmp_path / "data", n_images=20), stage1=0, stage2=1)
    config.stage2.freeze_layers = 3
    trainer = Trainer(config)
    with pytest.raises(UserError) as err:
        trainer.fit_stage(2, config.stage2)
    assert str(err.value) == ("stage2.freeze_layers=3, but the encoder has 2 transformer blocks; use at most 2")


def test_stage1_on_a_row_sample_encodes_only_those_rows_and_fits_them(tmp_path, tiny_student_tf):
    config = tiny_config(tmp_path, tiny_student_tf, bag_cache(tmp_path / "data", n_images=60), stage1=1, stage2=0,
                         solver="ridge", feature_dtype="float32")
    config.stage1.max_rows = 50
    trainer = Trainer(config)
    assert len(trainer.train) > 50
    trainer.fit_stage(1, config.stage1)
    rows = trainer.stage1_rows(config.stage1)
    assert len(rows) == 50 and len(set(rows.tolist())) == 50 and np.all(np.diff(rows) > 0)
    np.testing.assert_array_equal(rows, Trainer.stage1_rows(trainer, config.stage1))  # seeded: the same sample
    features = np.load(tmp_path / "run" / "features" / "train.npy")
    assert features.shape[0] == 50  # the other rows were never encoded
    full = np.asarray(trainer.student.pool_batch(
        {"input_ids": np.asarray([trainer.train_ids[rows[0]]], np.int32),
         "attention_mask": np.ones((1, len(trainer.train_ids[rows[0]])), np.int32)}))
    np.testing.assert_allclose(features[0], full[0], rtol=1e-4, atol=1e-5)  # row 0 of the file is sample row 0
    record = json.loads((tmp_path / "run" / "history.json").read_text())[-1]
    kernel, _ = ridge.solve(ridge.accumulate(features, trainer.train.targets[rows]), record["ridge_penalty"])
    np.testing.assert_allclose(weights(trainer.student.head)[0], kernel, rtol=1e-5, atol=1e-6)


def test_a_partly_frozen_student_exports_and_reloads_to_the_same_vectors(tmp_path, tiny_student_tf):
    from distill.export import load_student
    from distill.student import encode

    config = tiny_config(tmp_path, tiny_student_tf, bag_cache(tmp_path / "data", n_images=30), stage1=1, stage2=1,
                         solver="ridge")
    config.stage2.freeze_embeddings, config.stage2.freeze_layers = True, 1
    trainer = Trainer(config)
    trainer.run()
    texts = trainer.val.texts[:8]
    want = encode(trainer.student, trainer.tokenizer, texts, config.max_length)
    student, tokenizer, _ = load_student(tmp_path / "student")
    np.testing.assert_allclose(encode(student, tokenizer, texts, config.max_length), want, rtol=1e-4, atol=1e-5)
