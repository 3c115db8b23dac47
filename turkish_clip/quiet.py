"""TensorFlow without its start-up noise: call `quiet_tensorflow()` before TensorFlow is first imported.

Importing TensorFlow writes absl/CUDA lines straight to file descriptor 2 before its log level applies
("All log messages before absl::InitializeLog() ...", "Could not find cuda drivers ...", "failed call to cuInit"),
and checkpoint writes log "Sharding callback duration" through absl at INFO. By default the import and the first
GPU query run with descriptor 2 sent to /dev/null and absl logs only warnings; `verbose=True` shows everything.
"""
from __future__ import annotations

import importlib.abc
import importlib.machinery
import logging
import os
import sys
from contextlib import contextmanager
from typing import Iterator

QUIET_TF_LOG_LEVEL = "2"  # TF C++ logs: 0 all, 1 no INFO, 2 no WARNING, 3 no ERROR
_VERBOSE_TF_LOG_LEVEL = "0"


@contextmanager
def silenced_stderr_fd() -> Iterator[None]:
    """Send file descriptor 2 (C/C++ writes included) to /dev/null for the block; Python errors still propagate."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no usable descriptor 2 (embedded interpreters): nothing to silence
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        try:
            sys.stderr.flush()
        except (OSError, ValueError):
            pass
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


class _QuietImport(importlib.abc.MetaPathFinder):
    """Imports `tensorflow` (and runs its first GPU query) with descriptor 2 silenced."""

    active = True
    set_verbose = False  # the last quiet_tensorflow call asked for verbose

    def find_spec(self, fullname, path, target=None):
        if fullname != "tensorflow" or not self.active:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        loader_exec = spec.loader.exec_module

        def exec_module(module):
            with silenced_stderr_fd():
                loader_exec(module)
                module.config.list_physical_devices("GPU")  # CUDA start-up lines (cuInit) come here, once

        spec.loader.exec_module = exec_module
        return spec


_HOOK = _QuietImport()


def quiet_tensorflow(verbose: bool = False) -> None:
    """tf-keras for transformers' TF models, and TF's start-up lines hidden unless `verbose`. Call again to change."""
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")  # must be set before TensorFlow loads
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    if verbose:
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = _VERBOSE_TF_LOG_LEVEL
    elif os.environ.get("TF_CPP_MIN_LOG_LEVEL") == _VERBOSE_TF_LOG_LEVEL and _HOOK.set_verbose:
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = QUIET_TF_LOG_LEVEL  # undo our own verbose setting
    else:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", QUIET_TF_LOG_LEVEL)
    _HOOK.set_verbose = verbose
    _HOOK.active = not verbose
    if _HOOK not in sys.meta_path:
        sys.meta_path.insert(0, _HOOK)
    # Python-side chatter: absl INFO ("Sharding callback duration"), tf-keras' "compiled metrics have yet to be
    # built" and transformers' load reports ("All model checkpoint layers were used ...", TF deprecation notice)
    logging.getLogger("absl").setLevel(logging.NOTSET if verbose else logging.WARNING)
    logging.getLogger("tensorflow").setLevel(logging.NOTSET if verbose else logging.ERROR)
    if not verbose:
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    elif os.environ.get("TRANSFORMERS_VERBOSITY") == "error":
        del os.environ["TRANSFORMERS_VERBOSITY"]  # back to transformers' default (warnings)
    if "transformers" in sys.modules:
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity(hf_logging.WARNING if verbose else hf_logging.ERROR)
