"""Export the student as a standard sentence-transformers folder: Transformer -> Pooling(mean) -> Dense(linear).

The layout of sentence-transformers' own `clip-ViT-B-32-multilingual-v1` (modules.json, the encoder at the top
level, 1_Pooling/, 2_Dense/ with an Identity activation), so `SentenceTransformer(OUT).encode(texts)` gives the
student's vectors and drops in where that model is used. Needs requirements-export.txt (torch imported lazily).
"""
from __future__ import annotations

import json
import logging
import shutil
import tempfile
from pathlib import Path

from turkish_clip.errors import InputError

log = logging.getLogger(__name__)


def _require_sentence_transformers():
    try:
        import sentence_transformers
    except ImportError:
        raise InputError("the sentence-transformers export needs the export requirements: "
                         "pip install -r requirements-export.txt") from None
    return sentence_transformers


# The classic module names and configs, as in clip-ViT-B-32-multilingual-v1: every sentence-transformers release
# from 2.x to 5.x loads them (5.x's own save writes new module paths that older releases cannot import).
TRANSFORMER = "sentence_transformers.models.Transformer"
POOLING = "sentence_transformers.models.Pooling"
DENSE = "sentence_transformers.models.Dense"
NORMALIZE = "sentence_transformers.models.Normalize"
ENCODER_FILES = ("config.json", "model.safetensors", "pytorch_model.bin", "tokenizer.json", "tokenizer_config.json",
                 "special_tokens_map.json", "vocab.txt", "sentencepiece.bpe.model", "spiece.model")


def _write_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def write_folder(parts, out: Path, *, normalize: bool, max_length: int) -> None:
    """The sentence-transformers layout: encoder + tokenizer at the top, 1_Pooling/, 2_Dense/ (3_Normalize/)."""
    import torch

    import sentence_transformers

    out.mkdir(parents=True)
    for name in ENCODER_FILES:
        if (parts.encoder_dir / name).is_file():
            shutil.copy2(parts.encoder_dir / name, out / name)
    modules = [{"idx": 0, "name": "0", "path": "", "type": TRANSFORMER},
               {"idx": 1, "name": "1", "path": "1_Pooling", "type": POOLING},
               {"idx": 2, "name": "2", "path": "2_Dense", "type": DENSE}]
    if normalize:
        modules.append({"idx": 3, "name": "3", "path": "3_Normalize", "type": NORMALIZE})
        (out / "3_Normalize").mkdir()
    (out / "modules.json").write_text(json.dumps(modules, indent=2) + "\n", encoding="utf-8")
    _write_json(out / "sentence_bert_config.json", {"max_seq_length": max_length, "do_lower_case": False})
    _write_json(out / "config_sentence_transformers.json", {
        "__version__": {"sentence_transformers": sentence_transformers.__version__, "pytorch": torch.__version__},
        "similarity_fn_name": "cosine"})
    _write_json(out / "1_Pooling" / "config.json", {
        "word_embedding_dimension": parts.hidden_size, "pooling_mode_cls_token": False,
        "pooling_mode_mean_tokens": True, "pooling_mode_max_tokens": False,
        "pooling_mode_mean_sqrt_len_tokens": False})
    _write_json(out / "2_Dense" / "config.json", {
        "in_features": parts.hidden_size, "out_features": parts.dim, "bias": True,
        "activation_function": "torch.nn.modules.linear.Identity"})
    state = {"linear.weight": torch.from_numpy(parts.kernel.T.copy()),  # Keras kernel [in, out] -> [out, in]
             "linear.bias": torch.from_numpy(parts.bias.copy())}
    torch.save(state, out / "2_Dense" / "pytorch_model.bin")  # plain tensors: loads with weights_only=True


def export_sentence_transformers(model_dir: str | Path, out: str | Path, *, head_path: str | Path | None = None,
                                 normalize: bool = False, max_length: int | None = None) -> Path:
    """Write out/ (a SentenceTransformer folder) from a trained student folder; returns out.

    normalize=True appends a Normalize module (unit vectors, like `encode_text`); off by default, like the
    multilingual CLIP model and the student itself (raw vectors, nearest to CLIP's unnormalised text vectors).
    """
    st = _require_sentence_transformers()
    from .torch_student import torch_parts

    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise InputError(f"export folder {out} exists and is not empty; choose a new folder or delete it")
    with tempfile.TemporaryDirectory(prefix="st-export-") as work:
        parts = torch_parts(model_dir, work, head_path)
        seq_len = max_length or parts.max_length
        tmp = out.with_name(f".{out.name}.tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        write_folder(parts, tmp, normalize=normalize, max_length=seq_len)
        _write_json(tmp / "turkish_clip_export.json", {
            "format": "turkish-clip-sentence-transformers", "source": str(model_dir),
            "base_model": parts.meta.get("base_model"), "teacher": parts.meta.get("teacher"),
            "max_length": seq_len, "embedding_dim": parts.dim, "normalize_output": normalize,
            "sentence_transformers": st.__version__})
        if out.exists():
            out.rmdir()  # empty (checked above)
        tmp.rename(out)
    log.info("wrote sentence-transformers folder %s", out)
    return out
