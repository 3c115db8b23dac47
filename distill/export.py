"""Write and read the trained student: encoder + tokenizer (TF and PyTorch weights), clip_head.h5, student.json.

distill needs torch only in `save_pytorch_weights` (save_student(pytorch=True)), which imports it lazily: the PyTorch
copy of the encoder is converted by transformers. (transformers itself imports torch whenever it is installed, unless
USE_TORCH=0; with USE_TORCH=0, pytorch=False saves TF weights without torch.)
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import uuid
from pathlib import Path

import numpy as np

from turkish_clip.errors import InputError
from turkish_clip.files import atomic_path, fsync_dir

from .head import FINGERPRINT_ATTR, load_head, read_head_attrs, save_head
from .student import Student, build_student, load_encoder, load_tokenizer

log = logging.getLogger(__name__)

FORMAT = "turkish-clip-student"
STUDENT_JSON = "student.json"
HEAD_FILE = "clip_head.h5"
RUN_ATTR = "turkish_clip_run_id"  # .h5 root attribute: the save that wrote the head (student.json "run_id")


def encoder_fingerprint(encoder) -> str:
    """sha256 over the encoder's weights (each weight's shape and float32 bytes; names and order left out, so it
    does not depend on Keras' layer name suffixes or on loading TF or PyTorch weights). 16 hex digits."""
    digests = sorted(hashlib.sha256(repr(w.shape).encode() + np.ascontiguousarray(w, np.float32).tobytes()).digest()
                     for w in encoder.get_weights())
    return hashlib.sha256(b"".join(digests)).hexdigest()[:16]


def check_pairing(head_path: str | Path, fingerprint: str | None, encoder: str, force: bool = False) -> None:
    """A head trained with another encoder is an error (force: a warning). Heads without a fingerprint (monatis'
    published one, older saves) pass."""
    recorded = read_head_attrs(head_path).get(FINGERPRINT_ATTR)
    if recorded is None or fingerprint is None or recorded == fingerprint:
        return
    text = (f"head {head_path} was trained with another encoder (fingerprint {recorded}) than {encoder} "
            f"(fingerprint {fingerprint}); its vectors would be meaningless")
    if force:
        log.warning("%s; loading anyway (--force)", text)
        return
    raise InputError(f"{text}; pass the head saved with this encoder (a student folder uses its own clip_head.h5), "
                     f"or --force to load the pair anyway")


def _fsync_tree(folder: Path) -> None:
    """Every file under folder on disk before the folder is renamed into place (a crash cannot publish holes)."""
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            with open(path, "rb+") as f:
                os.fsync(f.fileno())
        elif path.is_dir():
            fsync_dir(path)
    fsync_dir(folder)


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
                 pytorch: bool = True, arrays: dict[str, np.ndarray] | None = None) -> Path:
    """Write out_dir/ (tf_model.h5, model.safetensors, tokenizer, clip_head.h5, student.json, `arrays` as .npy) and a
    copy of the head at head_path (the top-level clip_head.h5 by default). pytorch=True imports torch (lazily).

    The new folder is written beside out_dir (`.NAME.tmp-PID`), every file fsynced, the old one renamed aside
    (`.NAME.old-PID`), the new one renamed in, then the old one deleted: at every moment a complete student exists
    under one of the names. The folder holds its own head, and a student folder always loads that one; the copy at
    head_path is written afterwards from the same bytes. Both carry the encoder fingerprint and this save's run id
    (student.json `encoder_fingerprint`, `run_id`), so a head paired with another run's encoder is detected on load.
    """
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    _remove_leftovers(out_dir)
    tmp, old = _sibling(out_dir, "tmp", os.getpid()), _sibling(out_dir, "old", os.getpid())
    tmp.mkdir()
    fingerprint, run_id = encoder_fingerprint(student.encoder), uuid.uuid4().hex
    try:
        student.encoder.save_pretrained(str(tmp))
        tokenizer.save_pretrained(str(tmp))
        has_pt = pytorch and save_pytorch_weights(student.encoder, tmp)
        save_head(student.head, tmp / HEAD_FILE, attrs={FINGERPRINT_ATTR: fingerprint, RUN_ATTR: run_id})
        for name, array in (arrays or {}).items():
            np.save(tmp / name, np.asarray(array), allow_pickle=False)
        meta = {
            "format": FORMAT, "version": 1, "encoder": ".", "head": HEAD_FILE, "pooling": "mean",
            "normalize_output": False, "hidden_size": student.hidden_size,
            "embedding_dim": int(student.head.output_shape[-1]), "weights": ["tf"] + (["pt"] if has_pt else []),
            "encoder_fingerprint": fingerprint, "run_id": run_id, **info,
        }
        (tmp / STUDENT_JSON).write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        _fsync_tree(tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)  # the previous student is untouched
        raise
    if out_dir.exists():
        out_dir.rename(old)
    tmp.rename(out_dir)
    fsync_dir(out_dir.parent)
    shutil.rmtree(old, ignore_errors=True)
    if head_path is not None:
        Path(head_path).parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(Path(head_path)) as copy:  # fsynced, then renamed: the previous copy or this one
            shutil.copyfile(out_dir / HEAD_FILE, copy)
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


def load_student(model_dir: str | Path, head_path: str | Path | None = None, force: bool = False
                 ) -> tuple[Student, object, dict]:
    """(student, tokenizer, student.json) from a saved folder; head from the folder unless head_path is given.

    A head whose encoder fingerprint disagrees with the folder's is an InputError (force: a warning); one from
    another save of the same encoder gets a warning."""
    model_dir = Path(model_dir)
    meta = read_student_json(model_dir)
    own = model_dir / meta["head"]
    head_file = Path(head_path) if head_path is not None else own
    if head_path is not None:
        check_pairing(head_file, meta.get("encoder_fingerprint"), str(model_dir), force)
        if head_file.resolve() != own.resolve() and (not own.is_file() or head_file.read_bytes() != own.read_bytes()):
            log.warning("using head %s instead of the student folder's own %s", head_file, own)
    else:
        check_pairing(own, meta.get("encoder_fingerprint"), str(model_dir), force)
    encoder = load_encoder(str(model_dir / meta["encoder"]))
    tokenizer = load_tokenizer(str(model_dir / meta["encoder"]), lang=meta.get("lang"))
    head = load_head(head_file)
    return build_student(encoder, meta["embedding_dim"], head), tokenizer, meta
