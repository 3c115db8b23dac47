"""Write and read the trained student: encoder + tokenizer (TF and PyTorch weights), clip_head.h5, student.json."""
from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

from data_tools.errors import InputError

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
    at head_path (the top-level clip_head.h5 by default). The folder is replaced atomically."""
    out_dir = Path(out_dir)
    tmp = out_dir.with_name(out_dir.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
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
    if out_dir.exists():
        shutil.rmtree(out_dir)
    tmp.rename(out_dir)
    if head_path is not None:
        save_head(student.head, head_path)
    log.info("saved student to %s (head also at %s)", out_dir, head_path)
    return out_dir


def read_student_json(model_dir: str | Path) -> dict:
    path = Path(model_dir) / STUDENT_JSON
    if not path.is_file():
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
