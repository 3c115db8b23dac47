"""Turkish text -> CLIP space: our distilled student folder, or a monatis/turkish-clip style pair (HF encoder +
clip_head.h5). Encoder -> attention-masked mean pool (distill.pooling.mean_pool) -> Dense head -> L2 normalise.

Texts are batched by token length (little padding, much faster than batches in the caller's order) and returned in
the caller's order. Padding never changes a vector: pad positions are masked out of attention and out of the mean.
"""
from __future__ import annotations

import logging
from typing import Sequence

import numpy as np

from turkish_clip.errors import InputError, ModelNotFoundError, UserError
from turkish_clip import metrics

from turkish_clip.models import ENV_HEAD, ENV_MODEL, TextModelSpec, resolve_text_model, with_hint
from turkish_clip.languages.text import normalize_text

log = logging.getLogger(__name__)


def check_texts(texts: str | Sequence[str]) -> list[str]:
    """A list of strings (a single string becomes a list of one); anything else is an InputError naming the item."""
    if isinstance(texts, str):
        return [texts]
    if texts is None or not hasattr(texts, "__iter__"):
        raise InputError(f"texts must be a list of strings, got {type(texts).__name__}")
    texts = list(texts)
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise InputError(f"text #{i} is {type(text).__name__}, not a string: {text!r:.80}")
    return texts


def l2_normalize(vectors: np.ndarray) -> np.ndarray:
    """Rows divided by their L2 norm (a zero row stays zero), float32 as users get them."""
    return metrics.l2_normalize(vectors, dtype=np.float32)


def trained_max_length(meta: dict, model_dir: str) -> int | None:
    """The max_length the student was trained (and `distill evaluate`d) with, from its student.json; None if absent.

    Encoding at the training length keeps `encode_text` and `python -m distill evaluate` in agreement on long texts.
    """
    value = meta.get("max_length")
    if value is None:
        log.info("%s/student.json records no max_length: truncating at the encoder's position limit", model_dir)
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InputError(f"{model_dir}/student.json has max_length {value!r}, expected a positive integer; "
                         f"fix it or pass max_length explicitly")
    return value


class TextEncoder:
    """A loaded student (distill.student.Student) and its tokenizer; `encode` gives L2-normalised float32 [n, dim].

    max_length (tokens; longer texts are truncated): an explicit value wins; otherwise our trained students use the
    max_length recorded in student.json (what training and `distill evaluate` used), and encoder + head pairs
    (monatis/turkish-clip style, which record none) the encoder's position limit.
    """

    def __init__(self, student, tokenizer, *, max_length: int | None = None, batch_size: int = 64,
                 source: dict | None = None):
        self.student = student
        self.tokenizer = tokenizer
        self.batch_size = batch_size
        self.max_length = max_length or self.position_limit()
        self.dim = int(student.head.output_shape[-1])
        self.source = source or {}

    @classmethod
    def load(cls, model: str | None = None, head: str | None = None, *, batch_size: int = 64,
             max_length: int | None = None, force: bool = False, device: str | None = None) -> TextEncoder:
        """Resolve (flag, env var, default) and load the text model; ModelNotFoundError in one line if missing.
        force: load a head trained with another encoder (fingerprints disagree) with a warning, not an error.
        device: cpu, cuda, cuda:N for TensorFlow too (turkish_clip.devices); None: TensorFlow's default."""
        return cls.from_spec(resolve_text_model(model, head, force), batch_size=batch_size, max_length=max_length,
                             device=device)

    @classmethod
    def from_spec(cls, spec: TextModelSpec, *, batch_size: int = 64, max_length: int | None = None,
                  device: str | None = None) -> TextEncoder:
        import distill  # noqa: F401  (selects tf-keras before TensorFlow loads)
        from distill.export import check_pairing, encoder_fingerprint, load_student
        from distill.head import FINGERPRINT_ATTR, load_head, read_head_attrs
        from distill.student import build_student, hidden_size, load_encoder, load_tokenizer
        from turkish_clip.devices import apply_tensorflow_device

        apply_tensorflow_device(device)

        try:
            if spec.kind == "student":
                student, tokenizer, meta = load_student(spec.encoder, spec.head, force=spec.force)
                max_length = max_length or trained_max_length(meta, spec.encoder)
                source = {"format": "turkish-clip-student", "model": spec.encoder,
                          "head": spec.head or f"{spec.encoder}/{meta.get('head')}", "base_model": meta.get("base_model"),
                          "encoder_fingerprint": meta.get("encoder_fingerprint")}
            else:
                encoder = load_encoder(spec.encoder)
                tokenizer = load_tokenizer(spec.encoder)
                head = load_head(spec.head)
                hidden = hidden_size(encoder.config)
                if int(head.input_shape[-1]) != hidden:
                    raise InputError(f"head {spec.head} takes {head.input_shape[-1]}-dim input but encoder {spec.encoder} "
                                     f"gives {hidden}-dim vectors; pass the head trained with this encoder")
                if read_head_attrs(spec.head).get(FINGERPRINT_ATTR):  # monatis' head has none: it loads as is
                    check_pairing(spec.head, encoder_fingerprint(encoder), spec.encoder, spec.force)
                student = build_student(encoder, int(head.output_shape[-1]), head)
                source = {"format": "encoder+head", "model": spec.encoder, "head": spec.head}
        except ModelNotFoundError as error:
            raise with_hint(error, "--model", ENV_MODEL) from None
        except InputError as error:
            if "head file" in str(error):
                raise with_hint(error, "--head", ENV_HEAD) from None
            raise
        encoder = cls(student, tokenizer, max_length=max_length, batch_size=batch_size, source=source)
        log.info("text model %s (%s), %d-dim output, max %d tokens", spec.encoder, spec.kind, encoder.dim,
                 encoder.max_length)
        return encoder

    def training_image_ids(self) -> np.ndarray | None:
        """Image ids our student was trained on (its folder's training_image_ids.npy); None when unknown."""
        if self.source.get("format") != "turkish-clip-student":
            return None
        from distill.provenance import read_training_image_ids

        return read_training_image_ids(self.source["model"])

    def position_limit(self) -> int:
        """Longest input the encoder takes: its position table, capped by the tokenizer's declared limit."""
        config = self.student.encoder.config
        positions = int(getattr(config, "max_position_embeddings", 512))
        declared = getattr(self.tokenizer, "model_max_length", positions) or positions
        return int(min(positions, declared))

    @staticmethod
    def pad_multiple() -> int:
        """Batch lengths rounded up to a multiple of 8 on a GPU (tensor-core friendly); on CPU every extra
        position is paid for, and the traced `Student.infer` takes any length without retracing."""
        import tensorflow as tf

        return 8 if tf.config.list_physical_devices("GPU") else 1

    def tokenize(self, texts: list[str]) -> list[np.ndarray]:
        """Token ids per text, special tokens added, truncated at max_length, unpadded (int32)."""
        from distill.data import tokenize

        return tokenize(self.tokenizer, texts, self.max_length)

    def encode(self, texts: str | Sequence[str], batch_size: int | None = None, normalize: bool = True) -> np.ndarray:
        """float32 [n, dim] in the caller's order (L2-normalised unless normalize=False); [] gives [0, dim]."""
        from distill.student import encode_ids

        texts = [normalize_text(text) for text in check_texts(texts)]  # NFC, as the training captions
        batch_size = batch_size or self.batch_size
        if batch_size < 1:
            raise UserError(f"batch_size must be >= 1, got {batch_size}")
        if not texts:
            return np.zeros((0, self.dim), np.float32)  # [0, dim]
        out = encode_ids(self.student, self.tokenize(texts), batch_size, self.tokenizer.pad_token_id or 0,
                         self.pad_multiple())  # [n, dim]
        return l2_normalize(out) if normalize else out
