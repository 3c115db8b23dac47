"""The Turkish text encoder from an ONNX export (`python -m distill export --format onnx`), run by onnxruntime:
same texts in, same vectors out as `text_encoder.TextEncoder`, same length-sorted batching (the shared helper),
without importing TensorFlow or torch (faster start, less memory).

onnxruntime uses the GPU (CUDA provider) when its build has one, else the CPU. Needs requirements-export.txt.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Sequence

import numpy as np

from turkish_clip.errors import InputError, ModelNotFoundError, UserError

from .text_encoder import check_texts, l2_normalize

log = logging.getLogger(__name__)

ONNX_JSON = "turkish_clip_onnx.json"  # distill.onnx_export.ONNX_JSON
FORMAT = "turkish-clip-onnx"
VARIANTS = ("fp32", "int8")


def is_onnx_export(folder: str | Path | None) -> bool:
    return folder is not None and (Path(folder).expanduser() / ONNX_JSON).is_file()


def resolve_backend(model: str | None, backend: str | None) -> str:
    """"tf" or "onnx": as asked, else "onnx" when the model folder is an ONNX export."""
    import os

    from turkish_clip.models import ENV_MODEL

    if backend not in (None, "tf", "onnx"):
        raise InputError(f"backend {backend!r} is not supported; use tf or onnx")
    model = model or os.environ.get(ENV_MODEL) or None
    if backend == "onnx" and model is None:
        raise ModelNotFoundError(f"the ONNX backend needs an ONNX export: pass it with --model / {ENV_MODEL} "
                                 f"(write one with `python -m distill export --format onnx --model student OUT`)")
    return backend or ("onnx" if is_onnx_export(model) else "tf")


def read_onnx_json(folder: str | Path) -> dict:
    path = Path(folder).expanduser() / ONNX_JSON
    if not path.is_file():
        raise ModelNotFoundError(f"{folder} has no {ONNX_JSON}, so it is not an ONNX export; write one with "
                                 f"`python -m distill export --format onnx --model student OUT`")
    meta = json.loads(path.read_text(encoding="utf-8"))
    if meta.get("format") != FORMAT:
        raise InputError(f"{path} is not a {FORMAT} file (format {meta.get('format')!r})")
    return meta


def _providers() -> list[str]:
    import onnxruntime as ort

    available = ort.get_available_providers()
    return [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in available] or available


class OnnxTextEncoder:
    """An ONNX export and its tokenizer; `encode` gives L2-normalised float32 [n, dim] like TextEncoder."""

    def __init__(self, session, tokenizer, meta: dict, *, max_length: int | None = None, batch_size: int = 64,
                 source: dict | None = None):
        self.session, self.tokenizer, self.meta = session, tokenizer, meta
        self.batch_size = batch_size
        self.max_length = int(max_length or meta["max_length"])
        self.dim = int(meta["embedding_dim"])
        self.source = source or {}

    @classmethod
    def load(cls, folder: str | Path, *, variant: str | None = None, batch_size: int = 64,
             max_length: int | None = None, threads: int | None = None) -> OnnxTextEncoder:
        """variant: "fp32" or "int8" (default: the export's default, int8 when it was quantized)."""
        folder = Path(folder).expanduser()
        meta = read_onnx_json(folder)
        variant = variant or meta.get("default", "fp32")
        if variant not in meta["files"]:
            raise InputError(f"ONNX export {folder} has no {variant} model (has {', '.join(meta['files'])}); "
                             f"re-export with --quantize int8 or choose another")
        if not (folder / "tokenizer.json").is_file():
            raise ModelNotFoundError(f"ONNX export {folder} has no tokenizer.json (a fast tokenizer's file); "
                                     f"re-export it with `python -m distill export --format onnx`")
        try:
            import onnxruntime as ort
            from tokenizers import Tokenizer
        except ImportError as error:
            raise ModelNotFoundError(f"the ONNX backend needs onnxruntime ({error.name} is missing): "
                                     f"pip install -r requirements-export.txt") from None
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        session = ort.InferenceSession(str(folder / meta["files"][variant]), options, providers=_providers())
        tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))  # the Rust tokenizer behind transformers'
        source = {"format": f"onnx-{variant}", "model": str(folder), "head": "in the graph",
                  "base_model": meta.get("base_model")}
        log.info("ONNX text model %s (%s, %s)", folder, variant, session.get_providers()[0])
        return cls(session, tokenizer, meta, max_length=max_length, batch_size=batch_size, source=source)

    @property
    def normalized_output(self) -> bool:
        return bool(self.meta.get("normalize_output"))

    def tokenize(self, texts: list[str]) -> list:
        """tokenizers Encodings: special tokens added, truncated at max_length, unpadded (the TF path's ids)."""
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(self.max_length)
        return self.tokenizer.encode_batch(list(texts))

    def encode(self, texts: str | Sequence[str], batch_size: int | None = None, normalize: bool = True) -> np.ndarray:
        """float32 [n, dim] in the caller's order (L2-normalised unless normalize=False, which an export written
        with --normalize cannot undo); [] gives [0, dim]."""
        from turkish_clip.batching import encode_sorted

        texts = check_texts(texts)
        batch_size = batch_size or self.batch_size
        if batch_size < 1:
            raise UserError(f"batch_size must be >= 1, got {batch_size}")
        encodings = self.tokenize(texts)
        pad = dict(pad_id=int(self.meta["pad_token_id"]), pad_token=self.meta["pad_token"])

        def run(index: np.ndarray) -> np.ndarray:  # one length-sorted batch -> [b, dim]
            batch = [encodings[i] for i in index]
            longest = max(len(e.ids) for e in batch)
            for encoding in batch:
                encoding.pad(longest, **pad)
            feeds = {"input_ids": np.asarray([e.ids for e in batch], np.int64),  # [b, longest]
                     "attention_mask": np.asarray([e.attention_mask for e in batch], np.int64)}
            return self.session.run([self.meta["output"]], feeds)[0]

        out = encode_sorted([len(e.ids) for e in encodings], run, self.dim, batch_size=batch_size)  # [n, dim]
        return l2_normalize(out) if normalize else out
