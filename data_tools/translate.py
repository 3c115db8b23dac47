"""Machine translation of captions (EN→TR by default), pluggable backends: MarianMT (transformers) and CTranslate2.

Both backends share one batching scheme: sentences are tokenised once, sorted by source length (longest first),
cut into batches of similar length, decoded, and put back in the caller's order. Every sentence gets its own
length cap (`max_length_factor` × source tokens + `max_length_offset`, like Marian's --max-length-factor), so the
cap never depends on the batch.

What is guaranteed: a resumed translation step is byte-identical to an uninterrupted one, because shards have fixed
row ranges and are recomputed whole (the same sentences in the same batches). What is not: that a sentence
translates to the same string alone as in a batch. Padding changes the shapes of the batched matrix products, and
under fp16 (torch on CUDA) or int8/float16 (CTranslate2) their rounding differs with the batch, which can flip a
greedy choice near a tie; in float32 on CPU the strings agree in our tests, but that is an observation, not a
promise.
"""
from __future__ import annotations

import logging
import math
import re
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

from turkish_clip.batching import length_sorted_batches
from turkish_clip.errors import InputError, ModelNotFoundError, UserError, model_not_found
from turkish_clip.hub import check_hub


log = logging.getLogger(__name__)

DEFAULT_MODEL = "Helsinki-NLP/opus-mt-tc-big-en-tr"
BACKENDS = ("marian", "ctranslate2")
CT2_PIN = "ctranslate2==4.8.5"
MODEL_HINT = ("Download it on a machine with internet (`hf download {name} --local-dir DIR`), copy DIR "
              "here and pass DIR as the model (--model DIR), or point HF_HOME at a Hugging Face cache that holds it.")


@dataclass
class TranslateOptions:
    """Decoding and batching options shared by the backends (recorded in the manifest)."""

    num_beams: int = 1                  # 1 = greedy search
    batch_size: int = 32                # sentences per batch
    max_batch_tokens: int | None = None  # optional cap on padded source tokens per batch (sentences × longest)
    max_length: int = 256               # hard cap on generated tokens
    max_length_factor: float = 3.0      # per-sentence cap: factor × source tokens + offset
    max_length_offset: int = 10
    max_source_length: int = 512        # longer sources are truncated (the opus-mt tokenizers' limit)
    target_token: str | None = None     # e.g. ">>tur<<" for multi-target models; prepended to every source
    force_length: bool = False          # decode exactly the cap (benchmarks with random weights, which rarely stop)

    def length_cap(self, source_tokens: int) -> int:
        """The most tokens a translation of a `source_tokens`-long source may have."""
        return max(1, min(self.max_length, math.ceil(self.max_length_factor * source_tokens) + self.max_length_offset))


class Translator:
    """Length-batched translation; a backend implements `_generate(batch_ids, max_new) -> generated ids`."""

    backend = ""

    def __init__(self, tokenizer, options: TranslateOptions, model_id: str, target_lang: str | None = None):
        self.tokenizer, self.options, self.model_id = tokenizer, options, model_id
        self.target_lang = target_lang or _guess_target_lang(tokenizer, model_id)
        _check_target_token(tokenizer, options.target_token, model_id)

    def translate(self, texts: Sequence[str], batch_size: int | None = None, progress: bool = False) -> list[str]:
        """Translations of `texts`, in their order; empty or blank texts give "" without running the model."""
        from tqdm.auto import tqdm

        for i, text in enumerate(texts):
            if not isinstance(text, str):
                raise InputError(f"text #{i} to translate is {type(text).__name__}, not a string: drop or fix it")
        results = [""] * len(texts)
        todo = [i for i, text in enumerate(texts) if text.strip()]
        if len(todo) < len(texts):
            log.info("%d empty texts left untranslated", len(texts) - len(todo))
        ids = self.encode([texts[i] for i in todo])
        with tqdm(total=len(todo), unit="sent", desc="translate", disable=not progress) as bar:
            for batch in self.batches([len(x) for x in ids], batch_size or self.options.batch_size):
                caps = [self.options.length_cap(len(ids[k])) for k in batch]
                generated = self._generate([ids[k] for k in batch], max(caps))
                for k, out, cap in zip(batch, generated, caps):
                    results[todo[k]] = self.tokenizer.decode(out[:cap], skip_special_tokens=True)
                bar.update(len(batch))
        return results

    def encode(self, texts: list[str]) -> list[list[int]]:
        """Source token ids (with `</s>` and the target token), truncated to max_source_length."""
        if self.options.target_token:
            texts = [f"{self.options.target_token} {t}" for t in texts]
        if not texts:
            return []
        return self.tokenizer(texts, truncation=True, max_length=self.options.max_source_length)["input_ids"]

    def batches(self, lengths: list[int], batch_size: int) -> list[list[int]]:
        """Indices grouped longest first: at most batch_size sentences and max_batch_tokens padded tokens each."""
        return [b.tolist() for b in length_sorted_batches(lengths, batch_size, self.options.max_batch_tokens)]

    def _generate(self, batch_ids: list[list[int]], max_new: int) -> list[list[int]]:
        raise NotImplementedError

    def info(self) -> dict:
        """What produced the translations, for the cache manifest."""
        import sentencepiece
        import transformers

        return {"backend": self.backend, "model": self.model_id, "target_lang": self.target_lang,
                "options": {**asdict(self.options), **self._runtime()},
                "versions": {"transformers": transformers.__version__, "sentencepiece": sentencepiece.__version__,
                             **self._versions()}}

    def _runtime(self) -> dict:
        return {}

    def _versions(self) -> dict:
        return {}


class MarianTranslator(Translator):
    """A transformers seq2seq model (MarianMTModel for opus-mt) run with torch: fp16 on CUDA, inference mode."""

    backend = "marian"

    def __init__(self, model, tokenizer, options: TranslateOptions, model_id: str, target_lang: str | None = None):
        super().__init__(tokenizer, options, model_id, target_lang)
        self.model = model.eval()

    def _generate(self, batch_ids, max_new):
        import torch

        inputs = self.tokenizer.pad({"input_ids": batch_ids}, return_tensors="pt").to(self.model.device)
        with torch.inference_mode():
            out = self.model.generate(  # [batch, 1 + ≤max_new], starting with the decoder start token
                **inputs, num_beams=self.options.num_beams, do_sample=False, num_return_sequences=1,
                max_new_tokens=max_new, min_new_tokens=max_new if self.options.force_length else None,
                forced_eos_token_id=None,  # a cap-length cut must not depend on the batch's longest cap
            )
        return out[:, 1:].tolist()

    def _runtime(self):
        return {"device": str(self.model.device), "dtype": str(self.model.dtype).replace("torch.", "")}

    def _versions(self):
        import torch

        return {"torch": torch.__version__}


class CTranslate2Translator(Translator):
    """A CTranslate2 model (int8 on CPU by default); tokenisation by the Marian tokenizer copied beside it."""

    backend = "ctranslate2"

    def __init__(self, translator, tokenizer, options: TranslateOptions, model_id: str,
                 target_lang: str | None = None):
        super().__init__(tokenizer, options, model_id, target_lang)
        self.translator = translator

    def _generate(self, batch_ids, max_new):
        tokens = [self.tokenizer.convert_ids_to_tokens(ids) for ids in batch_ids]
        results = self.translator.translate_batch(
            tokens, max_batch_size=len(tokens), beam_size=self.options.num_beams, max_decoding_length=max_new,
            min_decoding_length=max_new if self.options.force_length else 1, max_input_length=0,
        )
        return [self.tokenizer.convert_tokens_to_ids(r.hypotheses[0]) for r in results]

    def _runtime(self):
        return {"device": self.translator.device, "compute_type": self.translator.compute_type}

    def _versions(self):
        import ctranslate2

        return {"ctranslate2": ctranslate2.__version__}


def load_translator(backend: str = "marian", model: str = DEFAULT_MODEL, device: str | None = None, *,
                    target_lang: str | None = None, dtype: str | None = None, compute_type: str | None = None,
                    cache_dir: str | None = None, ct2_dir: str | None = None, threads: int = 0,
                    **options) -> Translator:
    """A translator for `model` (hub id or local folder); `options` are TranslateOptions fields.

    backend "marian": transformers + torch; GPU when present (fp16 there unless `dtype` says otherwise).
    backend "ctranslate2" (`pip install ctranslate2`): `model` is a converted folder (holds model.bin), or a
    transformers model converted once into `ct2_dir` (default ~/.cache/turkish-clip/ctranslate2/...), the same as
    `ct2-transformers-converter --model M --output_dir D --quantization int8 --copy_files source.spm
    target.spm vocab.json tokenizer_config.json special_tokens_map.json`. `compute_type`: int8 on CPU and
    float16 on CUDA by default.
    """
    if backend not in BACKENDS:
        raise UserError(f"unknown translation backend '{backend}': choose one of {', '.join(BACKENDS)}")
    unknown = sorted(set(options) - set(TranslateOptions.__dataclass_fields__))
    if unknown:
        raise UserError(f"unknown translation option(s) {', '.join(unknown)}: see TranslateOptions in "
                        "data_tools/translate.py")
    opts = TranslateOptions(**options)
    if opts.num_beams < 1 or opts.batch_size < 1:
        raise UserError(f"num_beams and batch_size must be ≥ 1 (got {opts.num_beams} and {opts.batch_size})")
    if backend == "marian":
        import torch

        if dtype not in (None, "float32", "float16", "bfloat16"):
            raise UserError(f"unknown dtype '{dtype}' for the marian backend: float32, float16 or bfloat16")
        from turkish_clip.clip_towers import pick_device

        device = str(pick_device(device))  # a bad or absent device fails here, before the model loads
        tokenizer, net = _load_hf(model, cache_dir)
        torch_dtype = getattr(torch, dtype or ("float16" if device.startswith("cuda") else "float32"))
        return MarianTranslator(net.to(device=device, dtype=torch_dtype), tokenizer, opts, model, target_lang)
    try:
        import ctranslate2
    except ImportError as exc:
        raise UserError(f"backend 'ctranslate2' needs the ctranslate2 package: pip install {CT2_PIN}") from exc
    device = device or ("cuda" if ctranslate2.get_cuda_device_count() else "cpu")
    compute_type = compute_type or ("float16" if device.startswith("cuda") else "int8")
    folder = Path(model).expanduser()
    if not (folder / "model.bin").is_file():
        name = re.sub(r"[^A-Za-z0-9._-]+", "--", model.strip("/")) + f"-{compute_type}"
        folder = Path(ct2_dir) if ct2_dir else Path.home() / ".cache" / "turkish-clip" / "ctranslate2" / name
        if not (folder / "model.bin").is_file():
            convert_to_ctranslate2(model, folder, quantization=compute_type, cache_dir=cache_dir)
    tokenizer, _ = _load_hf(str(folder), cache_dir, tokenizer_only=True)
    translator = ctranslate2.Translator(str(folder), device=device.split(":")[0], compute_type=compute_type,
                                       intra_threads=threads)
    return CTranslate2Translator(translator, tokenizer, opts, model, target_lang)


def convert_to_ctranslate2(model, output_dir: str | Path, quantization: str = "int8", *,
                           config_dir: str | Path | None = None, cache_dir: str | None = None) -> Path:
    """Convert a transformers Marian model to a CTranslate2 folder, with the tokenizer files copied along.

    `model` is a hub id or folder, or an in-memory model whose config and tokenizer files are in `config_dir`.
    """
    from ctranslate2.converters import TransformersConverter

    in_memory = not isinstance(model, str)
    if in_memory and config_dir is None:
        raise ValueError("an in-memory model needs config_dir (its config.json and tokenizer files)")
    source = str(config_dir) if in_memory else model
    if not in_memory:
        _load_hf(model, cache_dir, tokenizer_only=True)  # fail early, with our message, when it is not available

    class _Converter(TransformersConverter):
        def load_model(self, model_class, name, **kwargs):
            return model if in_memory else super().load_model(model_class, name, **kwargs)

    copy = [f for f in ("source.spm", "target.spm", "vocab.json", "tokenizer_config.json", "special_tokens_map.json")
            if not Path(source).is_dir() or (Path(source) / f).is_file()]
    output_dir = Path(output_dir)
    if output_dir.exists() and any(output_dir.iterdir()):
        raise UserError(f"{output_dir} exists and is not a CTranslate2 model folder: remove it or choose another")
    output_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = output_dir.with_name(output_dir.name + ".tmp")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Recommended: pip install sacremoses")
        _Converter(source, copy_files=copy).convert(str(tmp), quantization=quantization, force=True)
    if output_dir.exists():
        output_dir.rmdir()
    tmp.rename(output_dir)  # atomic: a killed conversion leaves only the .tmp folder
    log.info("converted %s to CTranslate2 (%s) in %s", source, quantization, output_dir)
    return output_dir


def _load_hf(name: str, cache_dir: str | None, tokenizer_only: bool = False):
    """(tokenizer, model) through transformers' Auto classes; unreachable models raise ModelNotFoundError."""
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    local = Path(name).expanduser()
    if name.startswith((".", "/", "~")) and not local.exists():
        raise ModelNotFoundError(f"translation model folder '{name}' does not exist: pass an existing model folder "
                                 f"or a hub id such as {DEFAULT_MODEL}")
    if not local.is_dir():
        check_hub()
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Recommended: pip install sacremoses")  # used by no Marian step
            tokenizer = AutoTokenizer.from_pretrained(name, cache_dir=cache_dir)
        net = None if tokenizer_only else AutoModelForSeq2SeqLM.from_pretrained(name, cache_dir=cache_dir)
    except OSError as exc:
        raise model_not_found("translation model", name, MODEL_HINT.format(name=name), exc) from exc
    except ValueError as exc:
        raise UserError(f"'{name}' is not a translation model that transformers can load "
                        f"({str(exc).splitlines()[0][:160]}): pass an opus-mt (MarianMT) model id or folder") from exc
    return tokenizer, net


def _guess_target_lang(tokenizer, model_id: str) -> str | None:
    """The tokenizer's target_lang (opus-mt configs record it), else the model name's last `-xx` part."""
    for candidate in (getattr(tokenizer, "target_lang", None), re.split(r"[-_]", Path(model_id).name)[-1]):
        if isinstance(candidate, str) and re.fullmatch(r"[a-z]{2,3}([_-][A-Za-z]+)?", candidate):
            return candidate
    return None


def _check_target_token(tokenizer, token: str | None, model_id: str) -> None:
    codes = list(getattr(tokenizer, "supported_language_codes", []) or [])
    if token is None:
        if codes:
            log.warning("%s is a multi-target model (%s ...): pass target_token, e.g. %s",
                        model_id, ", ".join(codes[:5]), codes[0])
        return
    if not re.fullmatch(r">>[^<>\s]+<<", token) or token not in tokenizer.get_vocab():
        known = ", ".join(codes[:10]) or "none"
        raise UserError(f"target token '{token}' is not in the vocabulary of {model_id} (its language tokens: "
                        f"{known}): pass one of them, or no target token for a single-target model")
