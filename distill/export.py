"""Write and read the trained student: encoder + tokenizer (TF and PyTorch weights), clip_head.h5, student.json.

distill needs torch only in `save_pytorch_weights` (save_student(pytorch=True)), which imports it lazily: the PyTorch
copy of the encoder is converted by transformers. (transformers itself imports torch whenever it is installed, unless
USE_TORCH=0; with USE_TORCH=0, pytorch=False saves TF weights without torch.)
"""
from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path

from turkish_clip.files import fsync_dir
from turkish_clip.errors import InputError

from .head import load_head, save_head
from .student import Student, build_student, load_encoder, load_tokenizer

log = logging.getLogger(__name__)

FORMAT = "turkish-clip-student"
STUDENT_JSON = "student.json"
HEAD_FILE = "clip_head.h5"


def save_pytorch_weights(tf_model, out_folder: str | Path) -> bool:
    """Write PyTorch weights (model.safetensors + config.json) of an in-memory TF transformers model, converted by
    transformers, for users of transformers >= 5 (no TF). False if torch is not installed.

    (`AutoModel.from_pretrained(tf_folder, from_tf=True)` is broken in 4.57: it copies into meta tensors.)"""
    from transformers.utils import is_torch_available

    if not is_torch_available():
        log.warning("torch is not installed: %s gets TF weights only", out_folder)
        return False
    from transformers import AutoModel
    from transformers.modeling_tf_pytorch_utils import load_tf2_model_in_pytorch_model

    pt_model = AutoModel.from_config(tf_model.config)
    load_tf2_model_in_pytorch_model(pt_model, tf_model)
    pt_model.save_pretrained(str(out_folder), safe_serialization=True)
    return True


def save_student(student: Student, tokenizer, out_dir: str | Path, info: dict, head_path: str | Path | None = None,
                 pytorch: bool = True) -> Path:
    """Write out_dir/ (tf_model.h5, model.safetensors, tokenizer, clip_head.h5, student.json) and a copy of the head
    at head_path (the top-level clip_head.h5 by default). pytorch=True imports torch (lazily) for model.safetensors.

    The new folder is written beside out_dir (`.NAME.tmp-PID`), the old one renamed aside (`.NAME.old-PID`), the
    new one renamed in, then the old one deleted: at every moment a complete student exists under one of the names.
    """
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    _remove_leftovers(out_dir)
    tmp, old = _sibling(out_dir, "tmp", os.getpid()), _sibling(out_dir, "old", os.getpid())
    tmp.mkdir()
    try:
        student.encoder.save_pretrained(str(tmp))
        tokenizer.save_pretrained(str(tmp))
        has_pt = pytorch and save_pytorch_weights(student.encoder, tmp)
        save_head(student.head, tmp / HEAD_FILE)
        meta = {
            "format": FORMAT, "version": 1, "encoder": ".", "head": HEAD_FILE, "pooling": "mean",
            "normalize_output": False, "hidden_size": student.hidden_size,
            "embedding_dim": int(student.head.output_shape[-1]), "weights": ["tf"] + (["pt"] if has_pt else []),
            **info,
        }
        (tmp / STUDENT_JSON).write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)  # the previous student is untouched
        raise
    if out_dir.exists():
        out_dir.rename(old)
    tmp.rename(out_dir)
    fsync_dir(out_dir.parent)
    shutil.rmtree(old, ignore_errors=True)
    if head_path is not None:
        save_head(student.head, head_path)  # atomic too
    log.info("saved student to %s (head also at %s)", out_dir, head_path)
    return out_dir


def _sibling(out_dir: Path, kind: str, pid: int | str) -> Path:
    return out_dir.with_name(f".{out_dir.name}.{kind}-{pid}")


def _pid_alive(pid: str) -> bool:
    try:
        os.kill(int(pid), 0)
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:
        return True
    return True


def _remove_leftovers(out_dir: Path) -> None:
    """Delete `.NAME.tmp-PID` / `.NAME.old-PID` folders of killed saves (the PID no longer runs)."""
    for kind in ("tmp", "old"):
        for path in out_dir.parent.glob(f".{out_dir.name}.{kind}-*"):
            pid = path.name.rsplit("-", 1)[-1]
            if pid == str(os.getpid()) or not _pid_alive(pid):
                log.info("removing %s, left by an interrupted save", path)
                shutil.rmtree(path, ignore_errors=True)


def read_student_json(model_dir: str | Path) -> dict:
    path = Path(model_dir) / STUDENT_JSON
    if not path.is_file():
        aside = sorted(Path(model_dir).parent.glob(f".{Path(model_dir).name}.old-*/{STUDENT_JSON}"))
        if aside:  # a save was killed between its two renames
            raise InputError(f"{model_dir} has no {STUDENT_JSON}: a save was interrupted; the previous student is in "
                             f"{aside[0].parent} (rename it to {model_dir}) or re-run the export")
        raise InputError(f"{model_dir} has no {STUDENT_JSON}; it is not a trained student (train one with `python -m distill train`)")
    meta = json.loads(path.read_text(encoding="utf-8"))
    if meta.get("format") != FORMAT:
        raise InputError(f"{path} is not a {FORMAT} file (format {meta.get('format')!r})")
    return meta


def load_student(model_dir: str | Path, head_path: str | Path | None = None) -> tuple[Student, object, dict]:
    """(student, tokenizer, student.json) from a saved folder; head from the folder unless head_path is given."""
    model_dir = Path(model_dir)
    meta = read_student_json(model_dir)
    encoder = load_encoder(str(model_dir / meta["encoder"]))
    tokenizer = load_tokenizer(str(model_dir / meta["encoder"]))
    head = load_head(head_path or model_dir / meta["head"])
    return build_student(encoder, meta["embedding_dim"], head), tokenizer, meta
