"""TensorFlow's start-up lines (absl pre-init notice, CUDA stub, cuInit) and absl's per-checkpoint "Sharding callback
duration" are hidden by default and shown with verbose (the CLIs' -v)."""
from __future__ import annotations

import logging
import os
import subprocess
import sys

from tests.conftest import REPO

SCRIPT = """
import logging, sys
import distill  # as every TF entry point: sets up quiet TensorFlow
from turkish_clip.quiet import quiet_tensorflow
quiet_tensorflow(verbose=sys.argv[2] == "1")
logging.basicConfig(level=logging.INFO)  # as `python -m distill train` logs its own INFO lines
import tensorflow as tf
tf.config.list_physical_devices("GPU")
tf.train.Checkpoint(v=tf.Variable(1.0)).write(sys.argv[1] + "/ckpt")
print("done")
"""
NOISE = ("absl::InitializeLog", "cudart_stub", "cuInit", "Sharding callback duration")


def _run(tmp_path, verbose: bool) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "TRANSFORMERS_VERBOSITY")}
    env["PYTHONPATH"] = str(REPO)
    return subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path), "1" if verbose else "0"], env=env,
                          capture_output=True, text=True, timeout=300)


def test_tensorflow_is_quiet_by_default_and_speaks_with_verbose(tmp_path):
    quiet = _run(tmp_path, verbose=False)
    assert quiet.returncode == 0 and quiet.stdout.strip() == "done", quiet.stderr[-2000:]
    assert not [line for line in quiet.stderr.splitlines() if any(n in line for n in NOISE)], quiet.stderr
    loud = _run(tmp_path, verbose=True)
    assert loud.returncode == 0, loud.stderr[-2000:]
    assert "Sharding callback duration" in loud.stderr  # what -v shows (the C++ lines depend on the machine)


def test_the_cli_verbosity_reaches_tensorflow(monkeypatch):
    from distill.cli import setup_logging

    for name in ("TF_CPP_MIN_LOG_LEVEL", "TRANSFORMERS_VERBOSITY"):
        monkeypatch.delenv(name, raising=False)
    absl = logging.getLogger("absl")
    monkeypatch.setattr(absl, "level", absl.level)
    setup_logging(0)
    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "2" and absl.level == logging.WARNING
    assert os.environ["TRANSFORMERS_VERBOSITY"] == "error"
    setup_logging(1)
    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "0" and absl.level == logging.NOTSET
    assert "TRANSFORMERS_VERBOSITY" not in os.environ
    setup_logging(0)  # back to quiet for the rest of the session
