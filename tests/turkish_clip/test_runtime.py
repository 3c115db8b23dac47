"""TensorFlow set-up: legacy Keras, quiet start-up (loud with verbose), memory growth right after TF's import."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import REPO
from turkish_clip import runtime


def test_environment_for_legacy_keras_and_quiet_logs(monkeypatch):
    for name in ("TF_USE_LEGACY_KERAS", "TF_CPP_MIN_LOG_LEVEL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setitem(runtime._STATE, "verbose", False)
    runtime.setup_tensorflow()
    assert os.environ["TF_USE_LEGACY_KERAS"] == "1" and os.environ["TF_CPP_MIN_LOG_LEVEL"] == "2"
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "3")
    runtime.setup_tensorflow()
    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "3"  # the user's own choice wins when quiet
    runtime.setup_tensorflow(verbose=True)
    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "0" and runtime._STATE["verbose"] is True
    from absl import logging as absl_logging

    assert absl_logging.get_verbosity() == absl_logging.INFO
    runtime.setup_tensorflow()
    assert absl_logging.get_verbosity() == absl_logging.ERROR


def test_after_import_runs_the_callback_once_the_module_is_loaded(tmp_path, monkeypatch):
    (tmp_path / "tc_runtime_probe.py").write_text("VALUE = 42\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "tc_runtime_probe", raising=False)
    events = []

    class Around:
        def __enter__(self):
            events.append("enter")

        def __exit__(self, *exc):
            events.append("exit")

    runtime.after_import("tc_runtime_probe", lambda module: events.append(module.VALUE), around=Around)
    assert events == []  # nothing until the import
    import tc_runtime_probe  # noqa: F401

    assert events == ["enter", 42, "exit"]
    runtime.after_import("tc_runtime_probe", lambda module: events.append(module.VALUE + 1))
    assert events[-1] == 43  # already imported: at once
    monkeypatch.delitem(sys.modules, "tc_runtime_probe")


def test_held_back_stderr_is_dropped_unless_the_block_fails(capfd):
    with runtime.held_back_stderr():
        os.write(2, b"I0000 cudart_stub.cc noise\n")
    assert capfd.readouterr().err == ""
    with pytest.raises(ImportError):
        with runtime.held_back_stderr():
            os.write(2, b"the reason it failed\n")
            raise ImportError("boom")
    assert capfd.readouterr().err == "the reason it failed\n"


def test_enable_memory_growth_on_this_machine():
    import tensorflow as tf

    names = runtime.enable_memory_growth(tf)
    gpus = tf.config.list_physical_devices("GPU")
    assert names == [gpu.name for gpu in gpus]
    assert all(tf.config.experimental.get_memory_growth(gpu) for gpu in gpus)


def _child(code: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "TF_USE_LEGACY_KERAS")}
    env["PYTHONPATH"] = str(REPO)
    return subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_a_fresh_process_imports_tensorflow_quietly_on_tf_keras():
    quiet = _child("from turkish_clip.runtime import setup_tensorflow\nsetup_tensorflow()\nimport tensorflow as tf\n"
                   "import tf_keras\ntf.constant(1.0) + 1\n"
                   "gpus = tf.config.list_physical_devices('GPU')\n"
                   "assert all(tf.config.experimental.get_memory_growth(g) for g in gpus)\n"
                   "print(tf.keras.layers.Dense is tf_keras.layers.Dense, len(gpus))")
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stdout.split()[0] == "True" and quiet.stderr == ""
    loud = _child("from turkish_clip.runtime import setup_tensorflow\nsetup_tensorflow(verbose=True)\n"
                  "import tensorflow as tf\ntf.constant(1.0) + 1")
    assert loud.returncode == 0 and loud.stderr.strip() != ""  # TF's start-up lines, shown on request


CHECKPOINT_SCRIPT = """
import logging, sys
from turkish_clip.runtime import setup_tensorflow
setup_tensorflow(verbose=sys.argv[2] == "1")
logging.basicConfig(level=logging.INFO)  # as `python -m distill train` logs its own INFO lines
import tensorflow as tf
tf.config.list_physical_devices("GPU")
tf.train.Checkpoint(v=tf.Variable(1.0)).write(sys.argv[1] + "/ckpt")
print("done")
"""
NOISE = ("absl::InitializeLog", "cudart_stub", "cuInit", "Sharding callback duration")


def test_checkpoints_under_info_logging_are_quiet_unless_verbose(tmp_path):
    """absl logs "Sharding callback duration" at every checkpoint write (twice an epoch in distill): hidden by
    default even when the command logs its own INFO lines, shown with -v."""
    def run(verbose: str) -> subprocess.CompletedProcess:
        env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "TRANSFORMERS_VERBOSITY")}
        env["PYTHONPATH"] = str(REPO)
        return subprocess.run([sys.executable, "-c", CHECKPOINT_SCRIPT, str(tmp_path), verbose], env=env,
                              capture_output=True, text=True, timeout=300)

    quiet = run("0")
    assert quiet.returncode == 0 and quiet.stdout.strip() == "done", quiet.stderr[-2000:]
    assert not [line for line in quiet.stderr.splitlines() if any(n in line for n in NOISE)], quiet.stderr
    loud = run("1")
    assert loud.returncode == 0 and "Sharding callback duration" in loud.stderr, loud.stderr[-2000:]


def test_library_chatter_follows_verbose(monkeypatch):
    import logging

    monkeypatch.delenv("TRANSFORMERS_VERBOSITY", raising=False)
    tf_logger = logging.getLogger("tensorflow")
    monkeypatch.setattr(tf_logger, "level", tf_logger.level)
    runtime.setup_tensorflow()
    assert tf_logger.level == logging.ERROR and os.environ["TRANSFORMERS_VERBOSITY"] == "error"
    runtime.setup_tensorflow(verbose=True)
    assert tf_logger.level == logging.NOTSET and "TRANSFORMERS_VERBOSITY" not in os.environ
    runtime.setup_tensorflow()
