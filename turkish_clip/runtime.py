"""TensorFlow set-up for every entry point that may load the TF student: call `setup_tensorflow()` before
TensorFlow (or transformers' TF models) is first imported.

- transformers' TF models need tf-keras: `TF_USE_LEGACY_KERAS=1` must be set before TensorFlow loads, or
  `tf.keras` is Keras 3 (NOTES.md, "TensorFlow / Keras").
- TF's C++ and absl start-up lines (CUDA/oneDNN notices) are hidden unless `verbose=True`.
- GPU memory growth is switched on as soon as TensorFlow is imported, so TF takes GPU memory as it needs it
  instead of grabbing the whole device from torch (CLIP) in the same process.
"""
from __future__ import annotations

import importlib.abc
import importlib.machinery
import logging
import os
import sys
from typing import Callable

log = logging.getLogger(__name__)
QUIET_TF_LOG_LEVEL = "2"  # TF C++ logs: 0 all, 1 no INFO, 2 no WARNING, 3 no ERROR
_GROWTH_HOOKED = False


def setup_tensorflow(verbose: bool = False) -> None:
    """Legacy Keras, quiet (or, with verbose, full) TF start-up logs, and GPU memory growth once TF is imported.

    Safe to call more than once; an explicit TF_CPP_MIN_LOG_LEVEL in the environment wins unless verbose.
    """
    os.environ["TF_USE_LEGACY_KERAS"] = "1"
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    if verbose:
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "0"
    else:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", QUIET_TF_LOG_LEVEL)
    _absl_verbosity(verbose)
    global _GROWTH_HOOKED
    if not _GROWTH_HOOKED:
        _GROWTH_HOOKED = True
        after_import("tensorflow", enable_memory_growth)


def _absl_verbosity(verbose: bool) -> None:
    try:
        from absl import logging as absl_logging  # installed with TensorFlow
    except ImportError:
        return
    absl_logging.set_verbosity(absl_logging.INFO if verbose else absl_logging.ERROR)


def enable_memory_growth(tf=None) -> list[str]:
    """Let TensorFlow grow its GPU memory instead of reserving it all; names of the GPUs set (none on CPU).

    Must run before TF initialises the GPUs (its first op); afterwards TF refuses, which is logged, not raised.
    """
    if tf is None:
        import tensorflow as tf
    names = []
    for gpu in tf.config.list_physical_devices("GPU"):
        try:
            tf.config.experimental.set_memory_growth(gpu, True)
            names.append(gpu.name)
        except RuntimeError as error:  # GPUs already initialised: too late to change, keep going
            log.warning("could not enable memory growth on %s: %s", gpu.name, error)
    return names


class _AfterImport(importlib.abc.MetaPathFinder):
    """Runs callbacks right after a module finishes importing (Python has no post-import hook of its own)."""

    def __init__(self):
        self.callbacks: dict[str, list[Callable]] = {}

    def find_spec(self, fullname, path, target=None):
        if fullname not in self.callbacks:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        loader_exec, callbacks = spec.loader.exec_module, self.callbacks.pop(fullname)

        def exec_module(module):
            loader_exec(module)
            for callback in callbacks:
                callback(module)

        spec.loader.exec_module = exec_module
        return spec


_HOOK = _AfterImport()


def after_import(name: str, callback: Callable) -> None:
    """Call `callback(module)` once `name` is imported: now if it already is, else right after its import."""
    if name in sys.modules:
        callback(sys.modules[name])
        return
    _HOOK.callbacks.setdefault(name, []).append(callback)
    if _HOOK not in sys.meta_path:
        sys.meta_path.insert(0, _HOOK)
