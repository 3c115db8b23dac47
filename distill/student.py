"""The student: a transformers TF encoder (hub id or local folder, TF or PyTorch-only weights) + mean pooling + head."""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import tensorflow as tf
import tf_keras

from turkish_clip.batching import encode_sorted
from turkish_clip.errors import UserError, looks_like_local_path, model_not_found
from turkish_clip.hub import check_hub, download_hint

from .head import build_head
from .pooling import mean_pool

log = logging.getLogger(__name__)

HINT = "Download it where there is internet (`" + download_hint("NAME") + "`) and pass DIR as the model (--model DIR)."
TURKISH_PROBE = "Çiçekçi İğdır ılık şölen Ömür Ürün"  # = turkish_clip/languages/languages.tsv, probe of "tr"


WEIGHT_FILES = ("tf_model.h5", "model.safetensors", "pytorch_model.bin")  # TF weights first: no torch needed


def _check_local(name_or_path: str, what: str) -> Path:
    """A path-like name (./x, /x, a/b/c) must be an existing folder; hub ids pass through."""
    local = Path(name_or_path).expanduser()
    if not local.is_dir() and (looks_like_local_path(name_or_path) or local.exists()):
        raise model_not_found(what, name_or_path, "No such model folder: pass a save_pretrained folder or a hub id.")
    if (local / "config.json").is_file():
        check_text_encoder(local / "config.json", name_or_path)
    return local


def check_text_encoder(config_json: Path, name: str) -> None:
    """The student must be an encoder-only model (BERT family); a translation model (Marian, T5, ...) is refused in one
    line before it loads (its TF call would fail deep inside Keras)."""
    import json

    try:
        config = json.loads(config_json.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return  # transformers reports a broken config itself
    if isinstance(config, dict) and (config.get("is_encoder_decoder") or "decoder_start_token_id" in config):
        raise UserError(f"student model {name} is a {config.get('model_type', 'sequence-to-sequence')} "
                        f"encoder-decoder (a translation model), not a text encoder; pass an encoder such as "
                        f"dbmdz/distilbert-base-turkish-cased (--model)")


def resolve_model_folder(name_or_path: str, cache_dir: str | None = None) -> Path:
    """A local folder as is; a hub id -> its snapshot folder in the Hugging Face cache holding config.json and one
    weights file (TF if the repo has them, else PyTorch safetensors/bin), downloaded when online."""
    from huggingface_hub import hf_hub_download

    local = _check_local(name_or_path, "student encoder")
    if local.is_dir():
        if not (local / "config.json").is_file():
            raise model_not_found("student encoder", name_or_path, "The folder has no config.json: pass a save_pretrained folder.")
        return local
    hint = HINT.replace("NAME", name_or_path)
    check_hub()
    try:
        folder = Path(hf_hub_download(name_or_path, "config.json", cache_dir=cache_dir)).parent
    except (OSError, ValueError) as err:  # offline and not cached, unknown repo, bad id
        raise model_not_found("student encoder", name_or_path, hint, err) from None
    check_text_encoder(folder / "config.json", name_or_path)
    last: BaseException | None = None
    for filename in WEIGHT_FILES:
        try:
            hf_hub_download(name_or_path, filename, cache_dir=cache_dir)
            return folder
        except (OSError, ValueError) as err:
            last = err
    raise model_not_found("student encoder", name_or_path, f"It has none of {', '.join(WEIGHT_FILES)}. {hint}", last)


def load_encoder(name_or_path: str, cache_dir: str | None = None):
    """Load a TF transformers encoder from a hub id or folder; PyTorch-only weights are converted (from_pt).

    TF weights load with `use_safetensors=False`: transformers >= 4.55 fails on folders that also hold a PyTorch
    `model.safetensors` (upstream #40028, #40318), as most hub repos do. Missing offline -> ModelNotFoundError.
    """
    from transformers import TFAutoModel

    folder = resolve_model_folder(name_or_path, cache_dir)
    has_tf = (folder / "tf_model.h5").is_file()
    kwargs = dict(use_safetensors=False) if has_tf else dict(from_pt=True)
    if not has_tf and not any((folder / f).is_file() for f in WEIGHT_FILES):
        raise model_not_found("student encoder", name_or_path, f"{folder} has none of {', '.join(WEIGHT_FILES)}.")
    model = TFAutoModel.from_pretrained(str(folder), **kwargs)
    log.info("loaded encoder %s (%s, %s)", name_or_path, type(model).__name__, "TF weights" if has_tf else "from PyTorch")
    return model


def load_tokenizer(name_or_path: str, cache_dir: str | None = None, lang: str | None = None):
    """The encoder's tokenizer as is; warns if it changes the letters of the language's probe (languages.tsv): an
    uncased tokenizer folds Turkish İ/ı and strips Devanagari combining marks (virama, anusvara, nukta)."""
    import unicodedata

    from transformers import AutoTokenizer

    from turkish_clip.languages import language

    if not _check_local(name_or_path, "student tokenizer").is_dir():
        check_hub()
    try:
        tokenizer = AutoTokenizer.from_pretrained(name_or_path, cache_dir=cache_dir)
    except (OSError, ValueError) as err:
        raise model_not_found("student tokenizer", name_or_path, HINT.replace("NAME", name_or_path), err) from None
    probe = language(lang)
    ids = tokenizer(probe.probe, add_special_tokens=False)["input_ids"]
    decoded = unicodedata.normalize("NFC", tokenizer.decode(ids))
    if decoded.replace(" ", "") != probe.probe.replace(" ", ""):
        log.warning("tokenizer of %s changes case or %s letters (%r -> %r); use a cased model that keeps them",
                    name_or_path, probe.name, probe.probe, decoded)
    return tokenizer


class Student(tf_keras.Model):
    """encoder -> mean_pool(last hidden state, attention mask) -> head. Inputs: dict(input_ids, attention_mask)."""

    def __init__(self, encoder, head: tf_keras.Model, **kwargs):
        super().__init__(**kwargs)
        self.encoder = encoder
        self.head = head

    def pool(self, inputs, training=False):
        # A frozen encoder runs in inference mode (no dropout), so stage 1 sees fixed features; a LoRA-adapted one
        # (base frozen, adapters training) keeps its dropout, as in full fine-tuning.
        states = self.encoder(
            input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"],
            training=bool(training) and (self.encoder.trainable or getattr(self, "lora", None) is not None),
        ).last_hidden_state  # [batch, seq, hidden]
        return tf.cast(mean_pool(states, inputs["attention_mask"]), tf.float32)  # [batch, hidden]

    def call(self, inputs, training=False):
        return self.head(self.pool(inputs, training=training), training=training)  # [batch, teacher_dim]

    @tf.function(input_signature=[{k: tf.TensorSpec([None, None], tf.int32) for k in ("input_ids", "attention_mask")}],
                 reduce_retracing=True)
    def infer(self, inputs):
        """Inference call traced once for all batch shapes."""
        return self(inputs, training=False)

    @tf.function(input_signature=[{k: tf.TensorSpec([None, None], tf.int32) for k in ("input_ids", "attention_mask")}],
                 reduce_retracing=True)
    def pool_batch(self, inputs):
        """Pooled encoder features [batch, hidden] (inference mode), traced once for all batch shapes."""
        return self.pool(inputs, training=False)

    @property
    def hidden_size(self) -> int:
        return hidden_size(self.encoder.config)


def hidden_size(config) -> int:
    """Width of an encoder's token states: `hidden_size` (BERT family), or `dim` (DistilBERT's own name)."""
    return int(getattr(config, "hidden_size", None) or config.dim)


def build_student(encoder, output_dim: int, head: tf_keras.Model | None = None) -> Student:
    """Wrap an encoder with a new (or given) head; builds all weights with one dummy batch."""
    student = Student(encoder, head if head is not None else build_head(hidden_size(encoder.config), output_dim))
    dummy = {"input_ids": tf.ones((1, 4), tf.int32), "attention_mask": tf.ones((1, 4), tf.int32)}
    student(dummy)
    return student


def encode_ids(student: Student, ids: list[np.ndarray], batch_size: int = 64, pad_id: int = 0,
               pad_multiple: int = 8) -> np.ndarray:
    """Student vectors [n, dim] float32 (unnormalised) of tokenised texts, input order kept, batches of similar
    length, each padded to its longest text rounded up to `pad_multiple` but never past the encoder's position
    limit (a table of 514 positions must not get 520-long batches on a GPU)."""
    from .data import pad_to_multiple

    limit = int(getattr(student.encoder.config, "max_position_embeddings", 0)) or None

    def encode_batch(index: np.ndarray) -> np.ndarray:
        return student.infer(pad_to_multiple([ids[i] for i in index], pad_id, pad_multiple, limit)).numpy()

    return encode_sorted([len(x) for x in ids], encode_batch, int(student.head.output_shape[-1]), batch_size=batch_size)


def encode(student: Student, tokenizer, texts: list[str], max_length: int = 64, batch_size: int = 64) -> np.ndarray:
    """Student vectors [n, dim] float32 (unnormalised) of texts, input order kept."""
    from .data import tokenize

    return encode_ids(student, tokenize(tokenizer, texts, max_length), batch_size, tokenizer.pad_token_id or 0)
