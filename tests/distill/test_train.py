"""Training: the student learns a tiny teacher; stage 1 freezes the encoder, stage 2 trains it; history, NaN guard."""
from __future__ import annotations

import dataclasses
import json
import math
import re

import numpy as np
import pytest

import distill  # noqa: F401  (tf-keras before TensorFlow)
from turkish_clip.errors import InputError, UserError
from distill.config import StageConfig, TrainConfig
from distill.train import Trainer, TrainingDivergedError, WarmupDecay
from tests.distill.helpers import bag_cache


def tiny_config(tmp, model, data, stage1=3, stage2=10, solver="adam", **kw) -> TrainConfig:
    """The original recipe (MSE, Turkish only, Adam stage 1 on cached features) unless told otherwise."""
    kw = {"loss": "mse", "include_english": False, **kw}
    return TrainConfig(
        data_dir=str(data), model=str(model), val_fraction=0.2, max_length=16, verbose=0,
        stage1=StageConfig(epochs=stage1, learning_rate=1e-2, batch_size=32, solver=solver),
        stage2=StageConfig(epochs=stage2, learning_rate=3e-3, batch_size=32, warmup_fraction=0.1, decay="linear", patience=3),
        run_dir=str(tmp / "run"), output_dir=str(tmp / "student"), head_path=str(tmp / "clip_head.h5"), **kw)


def weights(layer) -> list[np.ndarray]:
    return [w.numpy().copy() for w in layer.weights]


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_student_tf):
    """One full tiny run, observed stage by stage: weights before, after stage 1, after stage 2, then export."""
    tmp = tmp_path_factory.mktemp("train")
    trainer = Trainer(tiny_config(tmp, tiny_student_tf, bag_cache(tmp / "data")))
    trainer.record_baseline()
    w0 = (weights(trainer.student.encoder), weights(trainer.student.head))
    trainer.fit_stage(1, trainer.config.stage1)
    w1 = (weights(trainer.student.encoder), weights(trainer.student.head))
    trainer.fit_stage(2, trainer.config.stage2)
    w2 = (weights(trainer.student.encoder), weights(trainer.student.head))
    result = trainer.run()  # stages are done: validates and exports
    return {"tmp": tmp, "trainer": trainer, "w": (w0, w1, w2), "result": result}


def test_student_learns_the_tiny_teacher(trained):
    history = trained["result"]["history"]
    assert history[0]["stage"] == 0 and abs(history[0]["val_cosine"]) < 0.3  # untrained: near 0
    assert trained["result"]["metrics"]["cosine"] > 0.9
    assert trained["result"]["metrics"]["r1"] > 0.8
    assert history[-1]["val_mse"] < 0.25 * history[0]["val_mse"]


def test_stage1_freezes_the_encoder_and_trains_the_head(trained):
    (enc0, head0), (enc1, head1), _ = trained["w"]
    assert len(enc0) > 10 and all(np.array_equal(a, b) for a, b in zip(enc0, enc1))  # bit-identical
    assert all(not np.allclose(a, b) for a, b in zip(head0, head1))  # kernel and bias moved


def test_stage2_trains_the_encoder(trained):
    _, (enc1, head1), (enc2, head2) = trained["w"]
    changed = [not np.array_equal(a, b) for a, b in zip(enc1, enc2)]
    assert sum(changed) >= 0.9 * len(changed)
    assert not np.allclose(head1[0], head2[0])


def test_history_json_and_plot_are_written(trained):
    run = trained["tmp"] / "run"
    history = json.loads((run / "history.json").read_text())
    assert [(r["stage"], r["epoch"]) for r in history][:5] == [(0, 0), (1, 1), (1, 2), (1, 3), (2, 1)]
    assert {"loss", "val_mse", "val_cosine", "val_r1", "val_r5", "lr"} <= set(history[-1])
    assert (run / "history.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads((run / "config.json").read_text())["stage2"]["epochs"] == 10
    assert json.loads((run / "state.json").read_text())["finished"] is True


def test_outputs_are_written_where_configured(trained):
    tmp = trained["tmp"]
    meta = json.loads((tmp / "student" / "student.json").read_text())
    assert meta["pooling"] == "mean" and meta["max_length"] == 16 and meta["embedding_dim"] == 16
    assert meta["teacher"] == {"model": "tiny-bag-teacher", "kind": "hf-clip", "dim": 16, "normalized": False}
    assert meta["normalized_targets"] is False and meta["weights"] == ["tf", "pt"]
    assert (tmp / "clip_head.h5").is_file() and (tmp / "student" / "tf_model.h5").is_file()
    assert (tmp / "student" / "model.safetensors").is_file()


def test_each_epoch_records_its_steps(trained):
    steps = math.ceil(len(trained["trainer"].train) / 32)
    stage2 = [r for r in trained["result"]["history"] if r["stage"] == 2]
    assert stage2 and all(r["steps"] == steps for r in stage2)


def test_a_spent_time_budget_ends_the_stage_after_a_validated_checkpointed_epoch(tmp_path, tiny_student_tf):
    config = tiny_config(tmp_path, tiny_student_tf, bag_cache(tmp_path / "data", n_images=40), stage1=1, stage2=5)
    config.stage2.max_minutes = 1e-6  # spent after the first batch
    trainer = Trainer(config)
    trainer.fit_stage(1, config.stage1)
    trainer.fit_stage(2, config.stage2)
    stage2 = [r for r in trainer.state["history"] if r["stage"] == 2]
    assert len(stage2) == 1 and stage2[0]["steps"] == 1 and math.isfinite(stage2[0]["val_mse"])
    assert math.ceil(len(trainer.train) / 32) > 1  # so the epoch really was cut short
    state = json.loads((tmp_path / "run" / "state.json").read_text())
    assert state["stage"] == 2 and state["stage_done"] and (tmp_path / "run" / f"{state['checkpoint']}.index").is_file()


def test_warmup_then_linear_decay():
    schedule = WarmupDecay(1.0, total=100, warmup=10, decay="linear")
    lrs = [float(schedule(s)) for s in (0, 9, 10, 55, 100)]
    assert lrs == pytest.approx([0.1, 1.0, 1.0, 0.5, 0.0])


def test_nan_target_is_refused_naming_the_caption(tmp_path, tiny_student_tf):
    data = bag_cache(tmp_path / "data", n_images=20)
    vectors = np.load(data / "teacher.npy")
    vectors[7, 3] = np.nan
    np.save(data / "teacher.npy", vectors)
    with pytest.raises(InputError, match=r"NaN/inf \(caption_id \[13\]"):  # row 7 = image 1, caption 3
        Trainer(tiny_config(tmp_path, tiny_student_tf, data))
    assert not list((tmp_path / "run").glob("ckpt-*"))


def test_diverging_loss_stops_with_the_last_good_checkpoint_kept(tmp_path, tiny_student_tf):
    config = tiny_config(tmp_path, tiny_student_tf, bag_cache(tmp_path / "data", n_images=40), stage1=1, stage2=2)
    config.stage2.learning_rate, config.stage2.warmup_fraction = 1e37, 0.0  # weights overflow to inf -> NaN loss
    trainer = Trainer(config)
    trainer.fit_stage(1, config.stage1)
    before = {p.name: p.read_bytes() for p in (tmp_path / "run").glob("ckpt-s1-final*")}
    with pytest.raises(TrainingDivergedError, match=r"stage 2 epoch 1 batch \d+: training loss became (nan|inf).*last good checkpoint kept .*ckpt-s1-final"):
        trainer.fit_stage(2, config.stage2)
    state = json.loads((tmp_path / "run" / "state.json").read_text())
    assert state["checkpoint"] == "ckpt-s1-final" and before
    assert before == {p.name: p.read_bytes() for p in (tmp_path / "run").glob("ckpt-s1-final*")}
    fresh = Trainer(config, resume=True)  # the kept checkpoint restores finite weights
    assert all(np.isfinite(w.numpy()).all() for w in fresh.student.weights)


def test_student_records_its_training_images(trained):
    """student.json says what was excluded; training_image_ids.npy lists the images trained on (not validation's)."""
    tmp, trainer = trained["tmp"], trained["trainer"]
    meta = json.loads((tmp / "student" / "student.json").read_text())
    ids = np.load(tmp / "student" / "training_image_ids.npy")
    np.testing.assert_array_equal(ids, np.unique(trainer.train.groups))
    assert not set(ids.tolist()) & set(trainer.val.groups.tolist()) and len(ids) == meta["training_data"]["images"]
    assert meta["training_data"]["data_dir"] == str(tmp / "data") and len(meta["encoder_fingerprint"]) == 16


def test_resume_refuses_a_changed_cache_naming_what_changed(tmp_path, tiny_student_tf):
    from tests.distill.helpers import bag_corpus, bag_teacher, write_cache

    data = bag_cache(tmp_path / "data", n_images=20)
    config = tiny_config(tmp_path, tiny_student_tf, data, stage1=1, stage2=0)
    Trainer(config).fit_stage(1, config.stage1)
    assert set(json.loads((tmp_path / "run" / "state.json").read_text())["provenance"]) == {
        "captions", "translation", "teacher"}
    table = bag_corpus(20, 4)
    write_cache(data, table, bag_teacher(table["tr"].tolist(), 16, seed=7))  # same captions, other teacher vectors
    with pytest.raises(UserError) as err:
        Trainer(config, resume=True)
    message = str(err.value)
    assert message.startswith(f"--resume: the cache changed since {tmp_path / 'run'} started: teacher vectors changed")
    assert "sha256" in message and "captions changed" not in message and "\n" not in message


def test_a_run_folder_is_not_overwritten(tmp_path, tiny_student_tf):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "state.json").write_text("{}")
    with pytest.raises(Exception, match="already holds a run; pass --resume"):
        Trainer(tiny_config(tmp_path, tiny_student_tf, bag_cache(tmp_path / "data", n_images=20)))


def test_resume_refuses_changed_options_naming_them(tmp_path, tiny_student_tf):
    data = bag_cache(tmp_path / "data", n_images=20)
    config = tiny_config(tmp_path, tiny_student_tf, data, stage1=1, stage2=0)
    Trainer(config).fit_stage(1, config.stage1)
    changed = dataclasses.replace(config, loss="cosine", max_length=32,
                                  stage2=dataclasses.replace(config.stage2, learning_rate=1e-4))
    with pytest.raises(UserError) as err:
        Trainer(changed, resume=True)
    message = str(err.value)
    assert "\n" not in message and message.startswith(f"--resume: {tmp_path / 'run'} was started with other options")
    assert "max_length 16 -> 32" in message and "loss 'mse' -> 'cosine'" in message
    assert "stage2.learning_rate 0.003 -> 0.0001" in message and "seed" not in message.split("(only")[0]
    assert json.loads((tmp_path / "run" / "config.json").read_text())["loss"] == "mse"  # not overwritten
    # epochs, patience, time budgets, verbosity and output paths may change
    allowed = dataclasses.replace(config, verbose=2, output_dir=str(tmp_path / "elsewhere"),
                                  stage1=dataclasses.replace(config.stage1, epochs=2, patience=5),
                                  stage2=dataclasses.replace(config.stage2, max_minutes=30))
    Trainer(allowed, resume=True)
    assert json.loads((tmp_path / "run" / "config.json").read_text())["stage1"]["epochs"] == 2


@pytest.mark.parametrize("content, why", [("{\"stage\": 1, \"epo", "Unterminated string"),
                                          ("{\"stage\": 1}", "no epoch, stage_done, checkpoint, history")])
def test_a_damaged_state_file_is_one_line(tmp_path, tiny_student_tf, content, why):
    config = tiny_config(tmp_path, tiny_student_tf, bag_cache(tmp_path / "data", n_images=20))
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "state.json").write_text(content)
    with pytest.raises(UserError) as err:
        Trainer(config, resume=True)
    assert str(err.value).startswith(f"{tmp_path / 'run' / 'state.json'} is damaged (") and why in str(err.value)
    assert "\n" not in str(err.value) and "start a new one" in str(err.value)
    with pytest.raises(UserError, match="already holds a run; pass --resume"):  # not a JSON traceback either
        Trainer(config)


class Killed(BaseException):
    """Stands in for SIGKILL at one point of the training loop."""


def test_a_kill_before_the_state_is_written_keeps_the_best_checkpoint_it_names(tmp_path, tiny_student_tf, monkeypatch):
    """Epoch 2 improves on epoch 1 and is killed after its best checkpoint is written but before state.json is:
    resuming (with the stage shortened to 1 epoch) must restore epoch 1's weights, the best state.json knows."""
    import distill.train as train_module

    config = tiny_config(tmp_path, tiny_student_tf, bag_cache(tmp_path / "data", n_images=40), stage1=2, stage2=0)
    config.stage1.patience = 5
    trainer, saved = Trainer(config), {}
    real_write_state = train_module.write_state

    def write_state(run_dir, state):
        if state["epoch"] == 2 and not state["stage_done"]:
            raise Killed
        real_write_state(run_dir, state)
        saved[state["epoch"]] = weights(trainer.student.head)

    monkeypatch.setattr(train_module, "write_state", write_state)
    with pytest.raises(Killed):
        trainer.fit_stage(1, config.stage1)
    monkeypatch.undo()
    state = json.loads((tmp_path / "run" / "state.json").read_text())
    assert state["epoch"] == 1 and state["best"]["epoch"] == 1
    assert trainer.validate()["mse"] < state["best"]["val_loss"]  # epoch 2 was better: its best file was written

    shortened = dataclasses.replace(config, stage1=dataclasses.replace(config.stage1, epochs=1))
    resumed = Trainer(shortened, resume=True)
    resumed.fit_stage(1, shortened.stage1)
    for got, want in zip(weights(resumed.student.head), saved[1]):
        np.testing.assert_array_equal(got, want)
    assert not list((tmp_path / "run").glob("best-s1-e2*"))  # the unknown epoch's file is gone


def test_mixed_precision_resume_keeps_the_loss_scale(tmp_path, tiny_student_tf, monkeypatch):
    """Under mixed_float16 (forced on CPU) stage 2's LossScaleOptimizer's loss scale is checkpointed and restored."""
    import tf_keras

    from distill import train as train_module

    config = tiny_config(tmp_path, tiny_student_tf, bag_cache(tmp_path / "data", n_images=20), stage1=0, stage2=2,
                         mixed_precision="on")
    trainer = Trainer(config)

    real_checkpoint = train_module._checkpoint

    def checkpoint(student, optimizer=None):  # before the epoch's checkpoint: a distinctive loss scale
        if optimizer is not None:
            assert isinstance(optimizer, tf_keras.mixed_precision.LossScaleOptimizer)
            optimizer._loss_scale._current_loss_scale.assign(7.0)  # training starts at 2**15
        return real_checkpoint(student, optimizer)

    def killed_after_epoch(stage, epoch):
        raise Killed

    monkeypatch.setattr(train_module, "_checkpoint", checkpoint)
    monkeypatch.setattr(train_module, "_pause_for_tests", killed_after_epoch)
    try:
        with pytest.raises(Killed):
            trainer.fit_stage(2, config.stage2)
        monkeypatch.undo()
        resumed = Trainer(config, resume=True)
        seen = {}
        real_restore = train_module._restore

        def restore(student, run_dir, prefix, optimizer=None):
            real_restore(student, run_dir, prefix, optimizer)
            if optimizer is not None:
                seen["scale"] = float(optimizer.loss_scale)

        monkeypatch.setattr(train_module, "_restore", restore)
        resumed.fit_stage(2, config.stage2)
        assert seen["scale"] == 7.0
    finally:
        tf_keras.mixed_precision.set_global_policy("float32")


def test_history_is_drawn_without_pyplot(tmp_path):
    import subprocess
    import sys

    code = ("import sys; from distill.history import save_history; "
            "save_history(sys.argv[1], [{'stage': 0, 'epoch': 0, 'loss': None, 'val_mse': 1.0, 'val_cosine': 0.1, "
            "'val_r1': 0.0, 'val_r5': 0.1}, {'stage': 2, 'epoch': 1, 'loss': 0.5, 'val_mse': 0.4, 'val_cosine': 0.8, "
            "'val_r1': 0.5, 'val_r5': 0.9}]); print('pyplot' in ' '.join(sys.modules))")
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "False"
    assert (tmp_path / "history.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads((tmp_path / "history.json").read_text())[1]["val_r5"] == 0.9
    assert sorted(p.name for p in tmp_path.iterdir()) == ["history.json", "history.png"]  # no temporary files left


def test_after_a_non_finite_loss_the_advised_command_resumes_with_a_lower_learning_rate(tmp_path, tiny_student_tf, capsys):
    """The divergence message gives a command that works: --resume may change the diverged stage's learning rate
    (and only that stage's), continuing from the last good checkpoint. Progress lines are the run's own."""
    import shlex

    from distill.cli import main
    from distill.train import train

    config = tiny_config(tmp_path, tiny_student_tf, bag_cache(tmp_path / "data", n_images=40), stage1=1, stage2=2)
    config.verbose = 1
    config.stage2.learning_rate, config.stage2.warmup_fraction = 1e37, 0.0  # weights overflow to inf -> NaN loss
    with pytest.raises(TrainingDivergedError) as err:
        train(config)
    message = str(err.value)
    command = f"python -m distill train --config {tmp_path / 'run' / 'config.json'} --resume --set stage2.learning_rate=1e+36"
    assert command in message and "\n" not in message
    out = capsys.readouterr().out
    assert "stage 1 epoch 1/1: loss " in out and "Epoch " not in out  # our numbering, not Keras' "Epoch 2/2"
    assert re.search(r"TR→EN R@1 \d+\.\d%, R@5 \d+\.\d%", out)  # recall in percent

    argv = shlex.split(command)[3:]
    assert main([*argv[:-1], "stage1.learning_rate=1e-3"]) == 2  # another stage's rate may not change
    assert "stage1.learning_rate" in capsys.readouterr().err
    assert main([*argv[:-1], "stage2.learning_rate=1e-3"]) == 0  # the advised command, with a sane rate
    out = capsys.readouterr().out
    assert "stage 2 epoch 1/2: loss " in out and "stage 2 epoch 2/2: loss " in out and "Epoch " not in out
    assert re.search(r"validation: mse \S+  cosine \S+  TR->EN R@1 \d+\.\d%  R@5 \d+\.\d%", out)
    history = json.loads((tmp_path / "run" / "history.json").read_text())
    assert [(r["stage"], r["epoch"]) for r in history] == [(0, 0), (1, 1), (2, 1), (2, 2)]
    assert all(math.isfinite(r["loss"]) for r in history[1:])
