"""`python -m distill`: help, config file + overrides, one-line errors, and resume after SIGKILL."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from distill.cli import main
from distill.config import StageConfig, TrainConfig
from distill.head import load_head
from distill.train import PAUSE_ENV
from tests.distill.helpers import bag_cache

REPO = Path(__file__).resolve().parents[2]


def test_help_lists_commands_and_options(capsys):
    with pytest.raises(SystemExit) as done:
        main(["--help"])
    assert done.value.code == 0 and "train" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    out = capsys.readouterr().out
    for option in ("--config", "--set", "--resume", "--data", "--model", "--epochs1", "--head"):
        assert option in out


def test_config_file_then_flags_then_set(tmp_path, capsys):
    TrainConfig(seed=5, stage2=StageConfig(epochs=9, learning_rate=1e-4)).save(tmp_path / "c.json")
    code = main(["train", "--config", str(tmp_path / "c.json"), "--epochs2", "7", "--batch-size", "16",
                 "--set", "stage2.learning_rate=3e-5", "--set", "max_length=32", "--print-config"])
    config = json.loads(capsys.readouterr().out)
    assert code == 0 and config["seed"] == 5 and config["stage2"]["epochs"] == 7
    assert config["stage2"]["learning_rate"] == 3e-5 and config["max_length"] == 32
    assert config["stage1"]["batch_size"] == config["stage2"]["batch_size"] == 16


def test_the_help_examples_short_budget_options_reach_the_config(capsys):
    from distill.cli import EXAMPLES

    line = next(i for i, text in enumerate(EXAMPLES.splitlines()) if "stage1.max_rows" in text)
    example = " ".join(EXAMPLES.splitlines()[line:line + 2]).replace("\\", " ").split("#")[0].split()
    assert main(example[3:] + ["--print-config"]) == 0  # after "python -m distill"
    config = json.loads(capsys.readouterr().out)
    assert config["stage1"]["max_rows"] == 20000
    assert (config["stage2"]["freeze_embeddings"], config["stage2"]["freeze_layers"]) == (True, 3)


def test_objective_flags_reach_the_config(capsys):
    assert main(["train", "--loss", "mse", "--stage1-solver", "adam", "--set", "contrastive_negatives=0",
                 "--print-config"]) == 0
    config = json.loads(capsys.readouterr().out)
    assert (config["loss"], config["stage1"]["solver"], config["contrastive_negatives"]) == ("mse", "adam", 0)
    assert main(["train", "--print-config"]) == 0
    config = json.loads(capsys.readouterr().out)
    assert (config["loss"], config["stage1"]["solver"], config["include_english"]) == ("mse+contrastive", "ridge", True)


def test_lang_flag_picks_the_language_defaults(tmp_path, capsys):
    assert main(["train", "--lang", "hi", "--print-config"]) == 0
    config = json.loads(capsys.readouterr().out)
    assert (config["lang"], config["model"], config["text_column"]) == ("hi", "l3cube-pune/hindi-bert-v2", "hi")
    assert main(["train", "--lang", "hi", "--model", "my/bert", "--print-config"]) == 0
    assert json.loads(capsys.readouterr().out)["model"] == "my/bert"
    assert main(["train", "--lang", "xx", "--print-config"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "language 'xx' is not available; use one of tr, hi" in err


def test_user_errors_are_one_line_with_exit_code_2(tmp_path, capsys, tiny_student_tf):
    code = main(["train", "--data", str(tmp_path / "nope"), "--model", str(tiny_student_tf), "--run-dir", str(tmp_path / "r")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and err[-1].startswith("error: ") and "nope is not a turkish-clip cache folder" in err[-1]
    # the data folder is checked before the (offline, absent) hub model and before a run folder is made
    assert main(["train", "--data", str(tmp_path / "nope"), "--run-dir", str(tmp_path / "r2")]) == 2
    assert "nope is not a turkish-clip cache folder" in capsys.readouterr().err
    assert not (tmp_path / "r").exists() and not (tmp_path / "r2").exists()
    assert main(["train", "--set", "bogus=1"]) == 2
    assert "unknown option 'bogus'" in capsys.readouterr().err


def _run(args, env=None, **kw):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TF_CPP_MIN_LOG_LEVEL": "2", **(env or {})}
    return subprocess.Popen([sys.executable, "-m", "distill", *args], cwd=REPO, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kw)


@pytest.mark.slow
def test_resume_after_sigkill_continues_from_the_last_checkpoint(tmp_path, tiny_student_tf, capsys):
    data = bag_cache(tmp_path / "data")
    config = TrainConfig(
        data_dir=str(data), model=str(tiny_student_tf), val_fraction=0.2, max_length=16, verbose=0, loss="mse",
        include_english=False, stage1=StageConfig(epochs=2, learning_rate=1e-2, batch_size=32, solver="adam"),
        stage2=StageConfig(epochs=8, learning_rate=3e-3, batch_size=32, patience=8),
        run_dir=str(tmp_path / "run"), output_dir=str(tmp_path / "student"), head_path=str(tmp_path / "clip_head.h5"))
    config.save(tmp_path / "train.json")
    # the run pauses once stage 2 epoch 2 is checkpointed (DISTILL_PAUSE_AFTER), so the kill lands there every time
    first = _run(["train", "--config", str(tmp_path / "train.json")], env={PAUSE_ENV: "2:2"})
    state_path, deadline, state = tmp_path / "run" / "state.json", time.time() + 600, {}
    while time.time() < deadline and first.poll() is None and (state.get("stage"), state.get("epoch")) != (2, 2):
        time.sleep(0.2)
        state = json.loads(state_path.read_text()) if state_path.is_file() else {}  # written atomically
    first.send_signal(signal.SIGKILL)
    first.wait(30)
    assert first.returncode == -signal.SIGKILL, f"run ended before the kill: {first.stderr.read()[-2000:]}"
    state = json.loads(state_path.read_text())
    assert (state["stage"], state["epoch"], state["checkpoint"]) == (2, 2, "ckpt-s2-e2")
    assert (tmp_path / "run" / "ckpt-s2-e2.index").is_file()
    assert not (tmp_path / "student").exists()

    second = _run(["train", "--config", str(tmp_path / "run" / "config.json"), "--resume"])
    out, err = second.communicate(timeout=600)
    assert second.returncode == 0, err[-3000:]
    assert "restored ckpt-s2-e2 with optimizer state" in err
    assert "validation: mse" in out and (tmp_path / "clip_head.h5").is_file()
    history = json.loads((tmp_path / "run" / "history.json").read_text())
    steps = [(r["stage"], r["epoch"]) for r in history]
    assert steps == [(0, 0), (1, 1), (1, 2)] + [(2, e) for e in range(1, 9)]  # every epoch exactly once
    assert history[-1]["val_cosine"] > 0.8
    state = json.loads(state_path.read_text())
    assert state["finished"] is True and (state["stage"], state["epoch"], state["checkpoint"]) == (2, 8, "ckpt-s2-final")
    assert not list((tmp_path / "run").glob("ckpt-s2-e*"))  # epoch checkpoints were replaced by the final one
    saved = json.loads((tmp_path / "student" / "student.json").read_text())
    assert saved["embedding_dim"] == 16 and saved["hidden_size"] == 32
    assert load_head(tmp_path / "clip_head.h5").output_shape == (None, 16)

    assert main(["evaluate", "--model", str(tmp_path / "student"), "--data", str(data), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["cosine"] == pytest.approx(saved["metrics"]["cosine"], abs=1e-5)
    assert (result["r1"], result["r5"]) == (saved["metrics"]["r1"], saved["metrics"]["r5"])


IMPORTS = """
import sys
{imports}
loaded = sorted(m for m in ("torch", "matplotlib.pyplot") if m in sys.modules)
print("loaded:", loaded)
"""


@pytest.mark.parametrize("imports", ["import distill", "import distill.train",
                                     "import distill.cli, distill.export, distill.evaluate, distill.history"])
def test_distill_does_not_import_torch(imports):
    done = subprocess.run([sys.executable, "-c", IMPORTS.format(imports=imports)], cwd=REPO, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "loaded: []"


SAVE_WITHOUT_TORCH = """
import sys
import distill
from distill.export import save_student
from distill.student import build_student, load_encoder, load_tokenizer
student = build_student(load_encoder(sys.argv[1]), 16)
save_student(student, load_tokenizer(sys.argv[1]), sys.argv[2], {}, head_path=None, pytorch=False)
print("torch loaded:", "torch" in sys.modules)
"""


def test_save_student_loads_torch_only_for_pytorch_weights(tmp_path, tiny_student_tf):
    """distill needs torch only for the PyTorch copy of the weights. (transformers itself imports torch whenever it
    is installed, so the check runs with USE_TORCH=0, which makes transformers leave it alone.)"""
    done = subprocess.run([sys.executable, "-c", SAVE_WITHOUT_TORCH, str(tiny_student_tf), str(tmp_path / "s")],
                          cwd=REPO, capture_output=True, text=True, timeout=300, env={**os.environ, "USE_TORCH": "0"})
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "torch loaded: False"
    assert (tmp_path / "s" / "tf_model.h5").is_file() and not (tmp_path / "s" / "model.safetensors").exists()


def test_bad_config_file_and_model_kind_are_one_line_errors(tmp_path, capsys):
    (tmp_path / "list.json").write_text("[1, 2]")
    assert main(["train", "--config", str(tmp_path / "list.json")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"error: config file {tmp_path / 'list.json'} holds a JSON list, not an object of options; "
                   f"see `python -m distill train --print-config` for the format")
    marian = tmp_path / "opus-mt"
    marian.mkdir()
    (marian / "config.json").write_text(json.dumps({"model_type": "marian", "is_encoder_decoder": True}))
    data = bag_cache(tmp_path / "data", n_images=10)
    assert main(["train", "--data", str(data), "--model", str(marian), "--run-dir", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith(f"error: student model {marian} is a marian encoder-decoder (a translation model)")
    assert "dbmdz/distilbert-base-turkish-cased (--model)" in err[-1] and "Traceback" not in "\n".join(err)


def test_the_data_folder_is_checked_before_the_model(tmp_path, capsys, coco_sample_json):
    from data_tools.pipeline import build_captions

    build_captions(tmp_path / "data", [coco_sample_json], limit=10)  # a cache with captions, no translations yet
    assert main(["train", "--data", str(tmp_path / "data"), "--model", "nobody/absent-model",
                 "--run-dir", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "python -m data_tools translate" in err and "absent-model" not in err


@pytest.mark.parametrize("argv, option", [(["--batch-size", "0"], "--batch-size"), (["--epochs1", "-1"], "--epochs1")])
def test_count_options_are_checked_by_name(capsys, argv, option):
    with pytest.raises(SystemExit) as done:
        main(["train", *argv])
    assert done.value.code == 2 and f"argument {option}: must be an integer >= " in capsys.readouterr().err


@pytest.mark.slow
def test_ctrl_c_is_one_line_and_keeps_the_checkpoint(tmp_path, tiny_student_tf):
    data = bag_cache(tmp_path / "data", n_images=20)
    config = TrainConfig(
        data_dir=str(data), model=str(tiny_student_tf), val_fraction=0.2, max_length=16,
        stage1=StageConfig(epochs=2, learning_rate=1e-2, batch_size=32), stage2=StageConfig(epochs=1, batch_size=32),
        run_dir=str(tmp_path / "run"), output_dir=str(tmp_path / "student"), head_path=str(tmp_path / "clip_head.h5"))
    config.save(tmp_path / "train.json")
    # A shell that starts the suite in the background (`.ci/run &`) leaves SIGINT ignored, and the child would inherit
    # that: give it the default disposition, as a terminal's Ctrl-C finds it.
    run = _run(["train", "--config", str(tmp_path / "train.json")], env={PAUSE_ENV: "1:1"},
               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    state_path, deadline, state = tmp_path / "run" / "state.json", time.time() + 600, {}
    while time.time() < deadline and run.poll() is None and (state.get("stage"), state.get("epoch")) != (1, 1):
        time.sleep(0.2)
        state = json.loads(state_path.read_text()) if state_path.is_file() else {}
    run.send_signal(signal.SIGINT)
    out, err = run.communicate(timeout=120)
    assert run.returncode == 130, err[-3000:]
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    assert err.strip().splitlines()[-1] == (f"interrupted: finished epochs are checkpointed in {tmp_path / 'run'}; to "
                                            f"continue, run: python -m distill train --config "
                                            f"{tmp_path / 'run' / 'config.json'} --resume")
    assert "stage 1 epoch 1/2: loss " in out
    state = json.loads(state_path.read_text())
    assert state["checkpoint"] == "ckpt-s1-e1" and (tmp_path / "run" / "ckpt-s1-e1.index").is_file()


def test_verbose_flag_reaches_tensorflow(monkeypatch):
    from distill.cli import setup_logging
    from turkish_clip import runtime

    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)
    monkeypatch.setitem(runtime._STATE, "verbose", False)
    setup_logging(1)
    assert runtime._STATE["verbose"] is True and os.environ["TF_CPP_MIN_LOG_LEVEL"] == "0"
    setup_logging(0)
    assert runtime._STATE["verbose"] is False
