"""TensorFlow set-up for every entry point that may load the TF student: call `setup_tensorflow()` before
TensorFlow (or transformers' TF models) is first imported.

- transformers' TF models need tf-keras: `TF_USE_LEGACY_KERAS=1` must be set before TensorFlow loads, or
  `tf.keras` is Keras 3 (NOTES.md, "TensorFlow / Keras").
- TF's C++ and absl start-up lines (CUDA/oneDNN notices, `E0000 ... failed call to cuInit` on a CPU machine) are
  hidden unless `verbose=True`: TF_CPP_MIN_LOG_LEVEL does not reach the lines absl prints before it is set up, so
  what the import writes to stderr is held back and shown only if the import fails.
- GPU memory growth is switched on as soon as TensorFlow is imported, so TF takes GPU memory as it needs it
  instead of grabbing the whole device from torch (CLIP) in the same process.
"""
from __future__ import annotations

import importlib.abc
import importlib.machinery
import logging
import os
import sys
import tempfile
from contextlib import contextmanager, nullcontext
from typing import Callable, Iterator

log = logging.getLogger(__name__)
QUIET_TF_LOG_LEVEL = "2"  # TF C++ logs: 0 all, 1 no INFO, 2 no WARNING, 3 no ERROR
_STATE = {"verbose": False, "hooked": False}


def setup_tensorflow(verbose: bool = False) -> None:
    """Legacy Keras, quiet (or, with verbose, full) TF start-up logs, and GPU memory growth once TF is imported.

    Safe to call more than once (a later call may switch verbose on before TF loads); an explicit
    TF_CPP_MIN_LOG_LEVEL in the environment wins unless verbose.
    """
    os.environ["TF_USE_LEGACY_KERAS"] = "1"
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    if verbose:
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "0"
    else:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", QUIET_TF_LOG_LEVEL)
    _STATE["verbose"] = verbose
    _absl_verbosity(verbose)
    _library_chatter(verbose)
    if not _STATE["hooked"]:
        _STATE["hooked"] = True
        after_import("tensorflow", enable_memory_growth, around=_tensorflow_import_output)


def _absl_verbosity(verbose: bool) -> None:
    """absl's Python logger (e.g. `INFO absl: Sharding callback duration` in Keras fits) shows errors only."""
    try:
        from absl import logging as absl_logging  # installed with TensorFlow
    except ImportError:
        return
    absl_logging.set_verbosity(absl_logging.INFO if verbose else absl_logging.ERROR)


def _library_chatter(verbose: bool) -> None:
    """tf-keras' "compiled metrics have yet to be built" warnings and transformers' load reports ("All model
    checkpoint layers were used ...", its TF deprecation notice) only with verbose."""
    logging.getLogger("tensorflow").setLevel(logging.NOTSET if verbose else logging.ERROR)
    if not verbose:
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    elif os.environ.get("TRANSFORMERS_VERBOSITY") == "error":
        del os.environ["TRANSFORMERS_VERBOSITY"]  # back to transformers' default (warnings)
    if "transformers" in sys.modules:
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity(hf_logging.WARNING if verbose else hf_logging.ERROR)


def _tensorflow_import_output():
    return nullcontext() if _STATE["verbose"] else held_back_stderr()


@contextmanager
def held_back_stderr() -> Iterator[None]:
    """Send what C++ and Python write to stderr (file descriptor 2) to a temporary file; replay it on error."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):  # no usable stderr: nothing to hold back
        yield
        return
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        try:
            yield
        except BaseException:
            _restore(saved)
            held.seek(0)
            os.write(2, held.read())
            raise
        _restore(saved)


def _restore(saved: int) -> None:
    try:
        sys.stderr.flush()
    except (OSError, ValueError):
        pass
    os.dup2(saved, 2)
    os.close(saved)


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
    """Runs callbacks right after a top-level module finishes importing (Python has no post-import hook)."""

    def __init__(self):
        self.pending: dict[str, list[tuple[Callable, Callable | None]]] = {}

    def find_spec(self, fullname, path, target=None):
        if fullname not in self.pending:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        loader_exec, hooks = spec.loader.exec_module, self.pending.pop(fullname)

        def exec_module(module):
            arounds = [around() for _, around in hooks if around is not None]
            for context in arounds:
                context.__enter__()
            try:
                loader_exec(module)
                for callback, _ in hooks:
                    callback(module)
            except BaseException:
                for context in reversed(arounds):
                    context.__exit__(*sys.exc_info())
                raise
            for context in reversed(arounds):
                context.__exit__(None, None, None)

        spec.loader.exec_module = exec_module
        return spec


_HOOK = _AfterImport()


def after_import(name: str, callback: Callable, around: Callable | None = None) -> None:
    """Call `callback(module)` once the top-level module `name` is imported: now if it already is, else right after
    its import. `around()` (a context-manager factory) wraps the import and the callback when they are still to come."""
    if name in sys.modules:
        callback(sys.modules[name])
        return
    _HOOK.pending.setdefault(name, []).append((callback, around))
    if _HOOK not in sys.meta_path:
        sys.meta_path.insert(0, _HOOK)
