"""The saved student as PyTorch pieces, for the exports (sentence-transformers, ONNX): a PyTorch copy of the encoder
folder and the head's weights as numpy arrays.

TF and torch meet at numpy here: the head is read with tf-keras and handed over as (kernel, bias) arrays; the
encoder's PyTorch weights are the student folder's own model.safetensors, or converted by transformers when the
student was saved without them. torch is imported lazily, only by the export commands, never by training.
"""
from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from turkish_clip.errors import InputError

from .export import read_student_json

log = logging.getLogger(__name__)

PT_WEIGHTS = ("model.safetensors", "pytorch_model.bin")


@dataclass
class TorchParts:
    """What an export needs: a folder that transformers' AutoModel/AutoTokenizer load with torch, the head as
    numpy (kernel [hidden, dim], bias [dim]) and the student's student.json."""

    encoder_dir: Path
    kernel: np.ndarray
    bias: np.ndarray
    meta: dict

    @property
    def max_length(self) -> int:
        """Tokens the student was trained with (student.json), else its encoder's position limit."""
        value = self.meta.get("max_length")
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
        import json

        config = json.loads((self.encoder_dir / "config.json").read_text(encoding="utf-8"))
        return int(config.get("max_position_embeddings", 512))

    @property
    def hidden_size(self) -> int:
        return int(self.kernel.shape[0])

    @property
    def dim(self) -> int:
        return int(self.kernel.shape[1])


def head_weights(head_path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """(kernel [in, out], bias [out]) float32 of a clip_head.h5: one Dense layer, as training writes it."""
    import distill  # noqa: F401  (tf-keras before TensorFlow)

    from .head import load_head

    head = load_head(head_path)
    dense = [layer for layer in head.layers if layer.get_weights()]
    if len(dense) != 1 or len(dense[0].get_weights()) != 2:
        raise InputError(f"head file {head_path} is not one Dense layer with a bias "
                         f"({[layer.name for layer in dense]}); only linear heads can be exported")
    kernel, bias = dense[0].get_weights()
    return np.asarray(kernel, np.float32), np.asarray(bias, np.float32)


def torch_parts(model_dir: str | Path, workdir: str | Path, head_path: str | Path | None = None) -> TorchParts:
    """The student at model_dir (written by `distill train`) as TorchParts; a PyTorch copy of the encoder is
    written under workdir when the folder holds TF weights only."""
    model_dir = Path(model_dir)
    meta = read_student_json(model_dir)
    encoder_dir = model_dir / meta.get("encoder", ".")
    kernel, bias = head_weights(head_path or model_dir / meta["head"])
    if not any((encoder_dir / name).is_file() for name in PT_WEIGHTS):
        encoder_dir = _convert_to_pytorch(encoder_dir, Path(workdir) / "encoder-pt")
    if kernel.shape[0] != int(meta.get("hidden_size", kernel.shape[0])):
        raise InputError(f"head takes {kernel.shape[0]}-dim input but the student's encoder gives "
                         f"{meta['hidden_size']}-dim vectors; pass the head trained with this encoder")
    return TorchParts(encoder_dir, kernel, bias, meta)


def _convert_to_pytorch(encoder_dir: Path, out: Path) -> Path:
    """A copy of a TF-only encoder folder with PyTorch weights (transformers' TF -> PyTorch conversion)."""
    import distill  # noqa: F401

    from .export import save_pytorch_weights
    from .student import load_encoder

    log.info("%s has TF weights only: converting the encoder to PyTorch in %s", encoder_dir, out)
    out.mkdir(parents=True, exist_ok=True)
    for path in encoder_dir.iterdir():  # tokenizer files and config; not the TF weights
        if path.is_file() and path.suffix in (".json", ".txt", ".model") and path.name != "student.json":
            shutil.copy2(path, out / path.name)
    if not save_pytorch_weights(load_encoder(str(encoder_dir)), out):
        raise InputError("exporting needs torch; install the export requirements: pip install -r requirements-export.txt")
    return out
