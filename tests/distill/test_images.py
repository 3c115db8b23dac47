"""Image-text contrastive training (locked image tower): the loss against a hand computation, same-image captions
never negatives, the student learns held-out text->image retrieval, the logit scale (fixed / learnt, resumed)."""
from __future__ import annotations

import dataclasses
import logging
import math

import numpy as np
import pytest
import tensorflow as tf

import distill  # noqa: F401  (tf-keras before TensorFlow)
from turkish_clip.errors import InputError
from distill.data import batch_labels
from distill.images import image_metrics, initial_logit_scale
from distill.losses import distillation_loss, image_info_nce
from distill.train import Trainer
from tests.distill.helpers import bag_cache, image_cache
from tests.distill.test_train import tiny_config


def _unit(x):
    x = np.asarray(x, np.float64)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_loss_matches_a_hand_computation_with_same_image_captions_masked():
    student = np.array([[1.0, 0.0], [0.6, 0.8], [0.0, 2.0]])  # rows 0 and 1 are captions of image A, row 2 of B
    image = np.array([[2.0, 1.0], [2.0, 1.0], [-1.0, 3.0]])  # each row's image vector (A twice)
    group, key, scale = np.array([7, 7, 9]), np.array([0, 1, 2]), 10.0
    s, v = _unit(student), _unit(image)
    logits = scale * s @ v.T  # [3, 3]: text i vs the image of row j
    keep = ~((group[:, None] == group[None, :]) & ~np.eye(3, dtype=bool))  # the other copy of A is no candidate

    def ce(row_logits, row_keep, own):
        z = row_logits[row_keep]
        return -(row_logits[own] - np.log(np.exp(z).sum()))

    t2i = [ce(logits[i], keep[i], i) for i in range(3)]
    i2t = [ce(logits[:, j], keep[:, j], j) for j in range(3)]
    expected = 0.5 * (np.mean(t2i) + np.mean(i2t))
    got = image_info_nce(tf.constant(student, tf.float32), tf.constant(image, tf.float32), tf.constant(key),
                         tf.constant(group), scale)
    assert float(got) == pytest.approx(expected, rel=1e-5)
    unmasked = 0.5 * (np.mean([ce(logits[i], np.ones(3, bool), i) for i in range(3)])
                      + np.mean([ce(logits[:, j], np.ones(3, bool), j) for j in range(3)]))
    assert abs(expected - unmasked) > 0.05  # the mask matters in this example

    y = {"target": student, "image": image, "key": key, "group": group}
    mse = np.mean((student - student) ** 2)
    combined = distillation_loss("mse+image_contrastive", tf.constant(student, tf.float32), y, 0.05, 0.5, scale)
    assert float(combined) == pytest.approx(mse + 0.5 * expected, rel=1e-5)


def test_captions_of_one_image_are_not_negatives():
    """Two perfect captions of the same image: loss near 0 (unmasked, each would lose log 2 to the other)."""
    image = np.array([[1.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]], np.float32)
    student = image * 3.0  # aligned with its image (scale does not matter after normalisation)
    loss = image_info_nce(tf.constant(student), tf.constant(image), tf.constant([0, 1, 2, 3]),
                          tf.constant([5, 5, 6, 7]), 100.0)
    assert float(loss) < 1e-6
    no_mask = image_info_nce(tf.constant(student), tf.constant(image), tf.constant([0, 1, 2, 3]),
                             tf.constant([5, 8, 6, 7]), 100.0)  # as if the two captions had different images
    assert float(no_mask) == pytest.approx(math.log(2) / 2, rel=1e-3)  # rows 0, 1 each: log 2, in 2 of 4 rows x 2 ways / 2


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_student_tf):
    tmp = tmp_path_factory.mktemp("images")
    config = tiny_config(tmp, tiny_student_tf, image_cache(tmp / "data"), stage1=4, stage2=8,
                         loss="image_contrastive")
    trainer = Trainer(config)
    labels = batch_labels(trainer.train, np.arange(4), trainer.train.negative_groups())
    result = trainer.run()
    return {"trainer": trainer, "result": result, "labels": labels, "tmp": tmp}


def test_image_contrastive_training_learns_held_out_text_to_image_retrieval(trained):
    history = trained["result"]["history"]
    before, after = history[0], trained["result"]["metrics"]
    n_images = len(set(trained["trainer"].val.image_rows.tolist()))
    assert n_images >= 20 and before["val_t2i_r1"] < 0.25  # untrained: near chance (1 / n_images)
    assert after["t2i_r1"] > before["val_t2i_r1"] + 0.35 and after["t2i_r1"] > 0.5
    assert after["t2i_r10"] > 0.9 and after["i2t_r1"] > before["val_i2t_r1"] + 0.3
    assert {"val_t2i_r5", "val_i2t_r10"} <= set(history[-1])
    assert trained["result"]["metrics"]["t2i_r1"] == pytest.approx(history[-1]["val_t2i_r1"], abs=0.05)


def test_batches_carry_each_captions_own_image_vector(trained):
    trainer, labels = trained["trainer"], trained["labels"]
    from data_tools.cache import load_image_vectors

    ids, vectors, _ = load_image_vectors(trainer.config.data_dir)
    rows = [int(np.flatnonzero(ids == g)[0]) for g in trainer.train.groups[:4]]
    np.testing.assert_array_equal(labels["image"], np.asarray(vectors[rows], np.float32))
    assert labels["group"].tolist() == trainer.train.groups[:4].tolist()


def test_logit_scale_comes_from_the_images_manifest_and_is_exported(trained):
    import json

    student_json = json.loads((trained["tmp"] / "student" / "student.json").read_text())
    assert student_json["image_logit_scale"] == pytest.approx(30.0)  # fixed by default: the manifest's value
    assert initial_logit_scale(None, {}) == 100.0 and initial_logit_scale(12.0, {"logit_scale": 30}) == 12.0


def test_image_metrics_rank_distinct_images_once():
    from distill.data import Split

    images = np.eye(3, dtype=np.float32)
    split = Split(["a", "b", "c", "d"], np.arange(4), np.array([1, 1, 2, 3]), np.zeros((4, 3), np.float32),
                  np.arange(4), images, np.array([0, 0, 1, -1]))
    student = np.array([[1, 0, 0], [0.9, 0.1, 0], [0, 0, 1], [0, 1, 0]], np.float32)
    result = image_metrics(student, split)
    # gallery: images 0 and 1 once each ("d" has no image); "c" is orthogonal to both, a tie broken against it
    assert result["t2i_r1"] == pytest.approx(2 / 3) and result["t2i_r5"] == 1.0
    assert result["i2t_r1"] == pytest.approx(0.5)  # image 0 finds "a"/"b"; image 1 (e2) finds "b", not "c"


@pytest.fixture
def restore_policy():
    import tf_keras

    policy = tf_keras.mixed_precision.global_policy()
    yield
    tf_keras.mixed_precision.set_global_policy(policy)  # Trainer sets mixed precision process-wide


def test_learnt_logit_scale_trains_and_resumes_with_mixed_precision(tmp_path, tiny_student_tf, restore_policy):
    data = image_cache(tmp_path / "data", n_images=40)
    config = tiny_config(tmp_path, tiny_student_tf, data, stage1=2, stage2=1, loss="mse+image_contrastive",
                         learn_logit_scale=True, image_logit_scale=10.0, mixed_precision="on")
    trainer = Trainer(config)
    trainer.record_baseline()
    trainer.fit_stage(1, config.stage1)
    learnt = float(trainer.student.log_logit_scale.numpy())
    assert learnt != pytest.approx(math.log(10.0), abs=1e-4)  # it trained
    resumed = Trainer(config, resume=True)
    assert float(resumed.student.log_logit_scale.numpy()) == pytest.approx(learnt, abs=1e-6)
    result = resumed.run()
    assert all(math.isfinite(r["loss"]) for r in result["history"][1:]) and "t2i_r1" in result["metrics"]


def test_ridge_stage1_fits_mse_and_says_so(tmp_path, tiny_student_tf, caplog):
    config = tiny_config(tmp_path, tiny_student_tf, image_cache(tmp_path / "data", n_images=40), stage1=1,
                         stage2=0, solver="ridge", loss="image_contrastive")
    with caplog.at_level(logging.WARNING, logger="distill.train"):
        result = Trainer(config).run()
    assert any("stage 1 ridge fits the head to the text vectors" in r.getMessage() for r in caplog.records)
    assert result["history"][1]["solver"] == "ridge" and "val_t2i_r1" in result["history"][1]


def test_image_loss_without_image_vectors_names_the_command(tmp_path, tiny_student_tf):
    config = tiny_config(tmp_path, tiny_student_tf, bag_cache(tmp_path / "data", n_images=20),
                         loss="image_contrastive")
    with pytest.raises(InputError, match="has no CLIP image vectors.*python -m data_tools images --data-dir"):
        Trainer(config)
    other = dataclasses.replace(config, loss="mse")
    assert Trainer(other).image_info is None
