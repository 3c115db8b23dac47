"""Import openai-clip's `clip.model` and `clip.simple_tokenizer` without running `clip/__init__.py`.

The package's `__init__` imports torchvision, which does not work with the CPU torch build we pin; the model
definition and the BPE tokenizer (vocab shipped inside the package) do not need it.
"""
from __future__ import annotations

import importlib
import importlib.util
import sys
import types

from turkish_clip.errors import UserError


def _clip_stub() -> types.ModuleType:
    existing = sys.modules.get("clip")
    if existing is not None:
        return existing
    spec = importlib.util.find_spec("clip")
    if spec is None or not spec.submodule_search_locations:
        raise UserError("the 'openai-clip' package is not installed: pip install -r requirements.txt")
    stub = types.ModuleType("clip")
    stub.__path__ = list(spec.submodule_search_locations)  # a namespace-like parent: submodules import, __init__ does not run
    sys.modules["clip"] = stub
    return stub


def clip_model():
    """The `clip.model` module (CLIP, build_model)."""
    _clip_stub()
    return importlib.import_module("clip.model")


def simple_tokenizer():
    """The `clip.simple_tokenizer` module (SimpleTokenizer with the packaged BPE vocab)."""
    _clip_stub()
    return importlib.import_module("clip.simple_tokenizer")
