"""Teacher vectors: CLIP `encode_text` of English captions, unnormalised, computed on length-sorted trimmed batches.

`load_teacher("ViT-B/32")` (OpenAI name or .pt), `load_teacher("openai/clip-vit-base-patch32")` (HF id/folder), or
`load_teacher(path, kind="hf-mean-pool")` (any HF text encoder, attention-masked mean pooling).
"""
from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Sequence


import numpy as np
import torch

from turkish_clip.batching import encode_sorted
from data_tools.clip_tokens import ClipTokenizer, pad
from turkish_clip.clip_towers import HFClip, OpenAIClip, is_openai_name_or_file, load_clip, package_version, pick_device
from turkish_clip.errors import InputError, UserError, model_not_found
from turkish_clip.hub import check_hub, download_hint

log = logging.getLogger(__name__)
KINDS = ("openai-clip", "hf-clip", "hf-mean-pool")
MEAN_POOL_MAX_LENGTH = 128  # hf-mean-pool default: most tokens per caption (CLIP teachers have their own 77)


def _check_texts(texts: Sequence[str]) -> list[str]:
    texts = list(texts)
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise InputError(f"caption #{i} is {type(text).__name__}, not text: {text!r:.80}")
    return texts


class Teacher:
    """CLIP text tower + CLIP tokenisation; `encode` gives exactly `encode_text` of the 77-token input."""

    def __init__(self, clip: OpenAIClip | HFClip, tokenizer: ClipTokenizer | None = None):
        self.clip = clip
        self.tokenizer = tokenizer or ClipTokenizer(clip.context_length)
        self.kind = clip.kind
        self.model_id = clip.model_id
        self.dim = clip.dim

    @property
    def compute_dtype(self) -> str:
        return str(self.clip.dtype).replace("torch.", "")

    def encode(self, texts: Sequence[str], batch_size: int = 256, progress: bool = False) -> np.ndarray:
        """Unnormalised CLIP text features, float32 [n, dim], row i for texts[i]."""
        texts = _check_texts(texts)
        ids = self.tokenizer.encode_batch(texts)

        def encode_batch(batch: np.ndarray) -> np.ndarray:
            tokens = pad([ids[i] for i in batch])  # [b, longest in batch] <= [b, 77]
            return self.clip.encode_tokens(tokens).cpu().numpy()

        return encode_sorted([len(t) for t in ids], encode_batch, self.dim, batch_size=batch_size, progress=progress,
                             desc="teacher", unit="caption")

    def info(self) -> dict:
        """What the cache manifest records about the teacher."""
        return {"kind": self.kind, "model": self.model_id, "dim": self.dim, "normalized": False,
                "compute_dtype": self.compute_dtype, "device": str(self.clip.device),
                "context_length": self.tokenizer.context_length, "tokenizer": self.tokenizer.name,
                "versions": self.clip.versions()}


class MeanPoolTeacher:
    """Any HF text encoder: attention-masked mean of the last hidden states (sentence-transformers style)."""

    kind = "hf-mean-pool"

    def __init__(self, name_or_path: str, device=None, fp16: bool | None = None,
                 max_length: int = MEAN_POOL_MAX_LENGTH):
        from transformers import AutoModel, AutoTokenizer

        if max_length < 1:
            raise UserError(f"max_length must be >= 1, got {max_length}")
        self.device = pick_device(device)
        fp16 = self.device.type == "cuda" if fp16 is None else fp16
        if not Path(name_or_path).expanduser().is_dir():
            check_hub()
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(name_or_path)
            model = AutoModel.from_pretrained(name_or_path)
        except (OSError, ValueError) as error:
            hint = (f"Download it on a connected machine (`{download_hint(name_or_path)}`) and pass DIR as the "
                    f"teacher (--teacher DIR).")
            raise model_not_found("Hugging Face text encoder", str(name_or_path), hint, error) from error
        self.model = (model.half() if fp16 else model.float()).to(self.device).eval()
        self.model_id = str(name_or_path)
        self.dim = model.config.hidden_size
        self.max_length = max_length

    @property
    def compute_dtype(self) -> str:
        return str(self.model.dtype).replace("torch.", "")

    @torch.inference_mode()
    def encode(self, texts: Sequence[str], batch_size: int = 256, progress: bool = False) -> np.ndarray:
        texts = _check_texts(texts)
        ids = self.tokenizer(texts, truncation=True, max_length=self.max_length)["input_ids"]

        def encode_batch(batch: np.ndarray) -> np.ndarray:
            enc = self.tokenizer.pad({"input_ids": [ids[i] for i in batch]}, return_tensors="pt").to(self.device)
            states = self.model(**enc).last_hidden_state.float()  # [b, L, hidden]
            mask = enc["attention_mask"].unsqueeze(-1).float()  # [b, L, 1]
            return ((states * mask).sum(1) / mask.sum(1).clamp(min=1e-9)).cpu().numpy()

        return encode_sorted([len(t) for t in ids], encode_batch, self.dim, batch_size=batch_size, progress=progress,
                             desc="teacher", unit="caption")

    def info(self) -> dict:
        return {"kind": self.kind, "model": self.model_id, "dim": self.dim, "normalized": False,
                "compute_dtype": self.compute_dtype, "device": str(self.device), "context_length": self.max_length,
                "tokenizer": type(self.tokenizer).__name__, "pooling": "mean",
                "versions": {"torch": torch.__version__, "transformers": package_version("transformers")}}


def _hf_model_type(name_or_path: str) -> str:
    """model_type from a folder's config.json, or from the hub (cache) for an id."""
    config = Path(name_or_path).expanduser() / "config.json"
    if config.is_file():
        return json.loads(config.read_text()).get("model_type", "")
    from transformers import AutoConfig

    check_hub()
    try:
        return AutoConfig.from_pretrained(name_or_path).model_type
    except (OSError, ValueError) as error:
        hint = (f"Pass an OpenAI name (ViT-B/32, RN50, ...), a .pt path, or a Hugging Face id/folder "
                f"available offline (download it on a connected machine: `{download_hint(name_or_path)}`, then "
                f"--teacher DIR).")
        raise model_not_found("teacher model", name_or_path, hint, error) from error


def load_teacher(name_or_path: str | os.PathLike = "ViT-B/32", device=None, fp16: bool | None = None, *,
                 kind: str | None = None, download_root=None,
                 max_length: int | None = None) -> Teacher | MeanPoolTeacher:
    """A teacher by OpenAI name/.pt, HF CLIP id/folder, or (kind="hf-mean-pool") any HF text encoder.

    fp16 defaults to True on CUDA, False on CPU; device defaults to CUDA when present. max_length (tokens per
    caption, default 128) is for hf-mean-pool only: CLIP teachers always use CLIP's context length.
    """
    if kind is not None and kind not in KINDS:
        raise UserError(f"unknown teacher kind {kind!r}; choose one of {', '.join(KINDS)}")
    name = str(name_or_path)
    if kind is None:
        if is_openai_name_or_file(name):
            kind = "openai-clip"
        else:
            kind = "hf-clip" if _hf_model_type(name) == "clip" else "hf-mean-pool"
    if kind == "hf-mean-pool":
        length = MEAN_POOL_MAX_LENGTH if max_length is None else max_length
        teacher = MeanPoolTeacher(name, device=device, fp16=fp16, max_length=length)
    elif max_length is not None:
        raise UserError(f"--max-length is for hf-mean-pool teachers only; {name} is {kind}, which always uses "
                        f"CLIP's context length: drop --max-length")
    else:
        clip = load_clip(name, device=device, fp16=fp16, download_root=download_root)
        if clip.kind != kind:
            raise UserError(f"{name} is a {clip.kind} model, not {kind}")
        teacher = Teacher(clip)
    log.info("teacher %s (%s): dim %d, %s on %s", teacher.model_id, teacher.kind, teacher.dim,
             teacher.compute_dtype, teacher.info()["device"])
    return teacher
