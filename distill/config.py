"""Training configuration: one dataclass per stage plus the run, with defaults, JSON load/save and overrides.

Values are checked when a config is built (`__post_init__`), so a bad option fails before any work with one line
naming the option, the value and what is allowed.
"""
from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from turkish_clip.files import atomic_path
from turkish_clip.errors import UserError

DEFAULT_MODEL = "dbmdz/distilbert-base-turkish-cased"
LOSSES = ("mse", "cosine", "contrastive", "mse+contrastive",  # see distill/losses.py
          "image_contrastive", "mse+image_contrastive")  # against cached CLIP image vectors (distill/images.py)
SOLVERS = ("ridge", "adam")
FEATURE_DTYPES = ("float16", "float32")
DECAYS = ("none", "linear", "cosine")
SWITCHES = ("auto", "on", "off")


class OptionError(UserError):
    """A config option holds a value outside its allowed values or range."""

    def __init__(self, option: str, value: Any, allowed: str):
        self.option, self.value, self.allowed = option, value, allowed
        super().__init__(f"option {option}={value!r} is not allowed; use {allowed}")

    def within(self, stage: str) -> OptionError:
        return OptionError(f"{stage}.{self.option}", self.value, self.allowed)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return (_is_int(v) or isinstance(v, float)) and math.isfinite(v)


def _check(obj: Any, rules: dict[str, tuple[Callable[[Any], bool], str]]) -> None:
    for name, (ok, allowed) in rules.items():
        if not ok(getattr(obj, name)):
            raise OptionError(name, getattr(obj, name), allowed)


def _one_of(values: tuple) -> tuple[Callable[[Any], bool], str]:
    return (lambda v: v in values and type(v) is type(values[0]), "one of " + ", ".join(repr(x) for x in values))


def _int_at_least(low: int, optional: bool = False) -> tuple[Callable[[Any], bool], str]:
    return (lambda v: (optional and v is None) or (_is_int(v) and v >= low),
            f"an integer >= {low}" + (" or null" if optional else ""))


def _lora_targets(v: Any) -> bool:
    names = [t.strip() for t in v.split(",")] if isinstance(v, str) else []
    return bool(names) and all(t in ("q", "k", "v", "out", "ffn") for t in names)


_TEXT = (lambda v: isinstance(v, str) and v.strip() != "", "a non-empty string")
_BOOL = (lambda v: isinstance(v, bool), "true or false")


@dataclass
class StageConfig:
    """One training stage. Stage 1 trains the head alone, stage 2 everything (warm-up then decay)."""

    epochs: int = 2
    learning_rate: float = 1e-3
    batch_size: int = 64
    warmup_fraction: float = 0.0  # of the stage's steps, linear from 0
    decay: str = "none"  # "none" | "linear" | "cosine" (to 0 at the end of the stage)
    patience: int = 2  # early stopping: epochs without a better validation loss
    steps_per_epoch: int | None = None  # cap, for smoke runs
    # Time budget of the stage in this process (minutes; None: none): the epoch in progress stops at the deadline and
    # is validated and checkpointed like any other, then the stage ends. A decaying learning rate is sized by
    # epochs x steps, so pair a budget with decay "none" or with epochs that fit it.
    max_minutes: float | None = None
    # Stage 1 only (the encoder is frozen, so its pooled features are computed once and cached in the run folder):
    # "ridge" fits the head in closed form (least squares, one pass), "adam" runs epochs over the cached features.
    solver: str = "adam"
    ridge_penalty: float | None = None  # λ relative to the features' scale; None: chosen on validation
    # Stage 1 only: fit the head on a random sample of this many training rows (None: all). The frozen features of
    # the other rows are never computed; a linear head on a few hundred features needs far fewer rows than stage 2.
    max_rows: int | None = None
    # Stage 2 only (full fine-tuning): keep the embedding layer and/or the lowest N transformer blocks frozen. Fewer
    # weights to update and no backward pass below the lowest trained block: faster steps (distill/freezing.py).
    freeze_embeddings: bool = False
    freeze_layers: int = 0
    # Stage 2 only: LoRA adapters (distill/lora.py) instead of full fine-tuning when lora_rank > 0.
    lora_rank: int = 0  # 0 = full fine-tuning
    lora_alpha: float = 16.0  # the update is scaled by lora_alpha / lora_rank
    lora_dropout: float = 0.0
    lora_targets: str = "q,v"  # comma-separated: q, k, v, out (attention), ffn (both feed-forward layers)

    def __post_init__(self):
        _check(self, {
            "epochs": _int_at_least(0), "learning_rate": (lambda v: _is_number(v) and v > 0, "a number > 0"),
            "batch_size": _int_at_least(1),
            "warmup_fraction": (lambda v: _is_number(v) and 0 <= v <= 1, "a number from 0 to 1"),
            "decay": _one_of(DECAYS), "patience": _int_at_least(1), "steps_per_epoch": _int_at_least(1, optional=True),
            "max_minutes": (lambda v: v is None or (_is_number(v) and v > 0), "a number > 0 or null"),
            "solver": _one_of(SOLVERS),
            "ridge_penalty": (lambda v: v is None or (_is_number(v) and v >= 0), "a number >= 0 or null"),
            "max_rows": _int_at_least(1, optional=True), "freeze_embeddings": _BOOL, "freeze_layers": _int_at_least(0),
            "lora_rank": _int_at_least(0), "lora_alpha": (lambda v: _is_number(v) and v > 0, "a number > 0"),
            "lora_dropout": (lambda v: _is_number(v) and 0 <= v < 1, "a number from 0 to below 1"),
            "lora_targets": (_lora_targets, "a comma-separated subset of q, k, v, out, ffn"),
        })
        self.lora_alpha, self.lora_dropout = float(self.lora_alpha), float(self.lora_dropout)
        self.learning_rate, self.warmup_fraction = float(self.learning_rate), float(self.warmup_fraction)

    def trained_part(self) -> str:
        """What stage 2 trains with these options, in words (logs, reports)."""
        if self.lora_rank:
            return f"LoRA r={self.lora_rank} adapters + head"
        frozen = (["embeddings"] if self.freeze_embeddings else []) + (
            [f"lowest {self.freeze_layers} blocks"] if self.freeze_layers else [])
        return "all weights" if not frozen else f"all but the {' and '.join(frozen)}"


@dataclass
class TrainConfig:
    """Everything `distill.train.train` needs; saved as config.json in the run folder."""

    data_dir: str = "data"
    lang: str = "tr"  # ISO code (turkish_clip/languages): picks the defaults of model and text_column
    model: str | None = None  # None: the language's default student (DEFAULT_MODEL for "tr")
    cache_dir: str | None = None  # Hugging Face cache folder (None: the default)
    text_column: str | None = None  # None: the language code (the translations column)
    include_english: bool = True  # also train on the English source captions (Reimers & Gurevych 2020)
    max_length: int = 64  # tokens, truncation
    loss: str = "mse+contrastive"  # one of LOSSES (distill/losses.py)
    contrastive_weight: float = 0.1  # weight of InfoNCE in "mse+contrastive" / "mse+image_contrastive" (see README)
    temperature: float = 0.05  # InfoNCE temperature (CLIP's logit scale 100 = 0.01)
    contrastive_negatives: int = 4096  # extra cached teacher vectors per batch as negatives (no student pass)
    image_logit_scale: float | None = None  # image losses: None = the CLIP checkpoint's (images manifest; 100)
    learn_logit_scale: bool = False  # image losses: train the logit scale too (CLIP-style, clamped at 100)
    normalize_targets: bool = False  # L2-normalise teacher vectors before the loss
    val_fraction: float = 0.05  # of the image ids (or source sentences where there are no images)
    max_train: int | None = None  # use only the first N training examples (smoke runs)
    stage1: StageConfig = field(default_factory=lambda: StageConfig(epochs=2, learning_rate=1e-2, solver="ridge"))
    stage2: StageConfig = field(
        default_factory=lambda: StageConfig(epochs=3, learning_rate=2e-5, warmup_fraction=0.1, decay="linear")
    )
    bucket: bool = True  # length-bucketed batches with dynamic padding (False: unsorted, padded to max_length)
    bucket_pool: int = 50  # batches sorted together by length before the batch order is shuffled
    pad_multiple: int | None = None  # batch length rounded up to a multiple; None: 8 on a GPU (tensor cores, fewer
    #                                  XLA shapes), 1 on CPU (every padded position costs; one trace fits all lengths)
    seed: int = 42
    run_dir: str = "runs/student"  # checkpoints, history.json/png, config.json, state.json
    output_dir: str = "student"  # fine-tuned encoder + tokenizer + student.json
    head_path: str = "clip_head.h5"
    mixed_precision: str = "auto"  # "auto" (on a GPU) | "on" | "off"
    jit_compile: str = "auto"  # "auto" (on a GPU) | "on" | "off"
    feature_dtype: str = "float16"  # cached frozen-encoder features of stage 1
    verbose: int = 1  # Keras progress: 0 silent, 1 bar, 2 one line an epoch

    def __post_init__(self):
        from turkish_clip.languages import language

        self.lang = language(self.lang).code  # an unknown code: one line listing the available ones
        self.model = language(self.lang).student_model if self.model is None else self.model
        self.text_column = self.lang if self.text_column is None else self.text_column
        _check(self, {
            "data_dir": _TEXT, "model": _TEXT, "cache_dir": (lambda v: v is None or _TEXT[0](v), "a non-empty string or null"),
            "text_column": _TEXT, "include_english": _BOOL, "max_length": _int_at_least(3), "loss": _one_of(LOSSES),
            "normalize_targets": _BOOL, "learn_logit_scale": _BOOL,
            "image_logit_scale": (lambda v: v is None or (_is_number(v) and v > 0), "a number > 0 or null"),
            "contrastive_weight": (lambda v: _is_number(v) and v >= 0, "a number >= 0"),
            "temperature": (lambda v: _is_number(v) and v > 0, "a number > 0"),
            "contrastive_negatives": _int_at_least(0), "feature_dtype": _one_of(FEATURE_DTYPES),
            "val_fraction": (lambda v: _is_number(v) and 0 < v < 1, "a number between 0 and 1 (exclusive)"),
            "max_train": _int_at_least(1, optional=True),
            "stage1": (lambda v: isinstance(v, StageConfig), "a StageConfig"),
            "stage2": (lambda v: isinstance(v, StageConfig), "a StageConfig"),
            "bucket": _BOOL, "bucket_pool": _int_at_least(1), "pad_multiple": _int_at_least(1, optional=True),
            "seed": _int_at_least(0), "run_dir": _TEXT, "output_dir": _TEXT, "head_path": _TEXT,
            "mixed_precision": _one_of(SWITCHES), "jit_compile": _one_of(SWITCHES), "verbose": _one_of((0, 1, 2)),
        })
        self.val_fraction = float(self.val_fraction)
        self.contrastive_weight, self.temperature = float(self.contrastive_weight), float(self.temperature)
        if isinstance(self.stage1, StageConfig) and self.stage1.lora_rank:
            raise OptionError("stage1.lora_rank", self.stage1.lora_rank, "0 (stage 1 freezes the encoder; LoRA is "
                              "a stage-2 option: stage2.lora_rank)")
        if isinstance(self.stage2, StageConfig) and self.stage2.solver != "adam":
            raise OptionError("stage2.solver", self.stage2.solver, "'adam' (the encoder trains: no closed form)")
        if isinstance(self.stage1, StageConfig):
            if self.stage1.freeze_embeddings or self.stage1.freeze_layers:
                bad = "freeze_embeddings" if self.stage1.freeze_embeddings else "freeze_layers"
                raise OptionError(f"stage1.{bad}", getattr(self.stage1, bad), "its default (stage 1 freezes the "
                                  f"whole encoder; partial freezing is a stage-2 option: stage2.{bad})")
        if isinstance(self.stage2, StageConfig):
            if self.stage2.max_rows is not None:
                raise OptionError("stage2.max_rows", self.stage2.max_rows, "null (a stage-1 option: stage1.max_rows; "
                                  "stage 2 samples by steps_per_epoch)")
            if self.stage2.lora_rank and (self.stage2.freeze_embeddings or self.stage2.freeze_layers):
                raise OptionError("stage2.freeze_layers" if self.stage2.freeze_layers else "stage2.freeze_embeddings",
                                  self.stage2.freeze_layers or True, "its default with LoRA (stage2.lora_rank > 0 "
                                  "already freezes the whole base)")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def save(self, path: str | Path) -> None:
        with atomic_path(path) as tmp:
            tmp.write_text(json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        data = dict(data)
        unknown = set(data) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise UserError(f"unknown training option(s) {sorted(unknown)}; see `python -m distill train --help`")
        for stage in ("stage1", "stage2"):
            if isinstance(data.get(stage), dict):
                bad = set(data[stage]) - {f.name for f in dataclasses.fields(StageConfig)}
                if bad:
                    raise UserError(f"unknown {stage} option(s) {sorted(bad)}")
                try:
                    data[stage] = StageConfig(**data[stage])
                except OptionError as err:
                    raise err.within(stage) from None
        return cls(**data)

    @classmethod
    def load(cls, path: str | Path) -> TrainConfig:
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(data, dict):
                raise UserError(f"config file {path} holds a JSON {type(data).__name__}, not an object of options; "
                                f"see `python -m distill train --print-config` for the format")
            return cls.from_dict(data)
        except FileNotFoundError:
            raise UserError(f"config file {path} does not exist") from None
        except json.JSONDecodeError as err:
            raise UserError(f"config file {path} is not valid JSON: {err}") from None

    def override(self, assignments: list[str]) -> TrainConfig:
        """Apply `key=value` strings (`stage2.learning_rate=1e-5`), values coerced to the field's type."""
        data, assigned = self.to_dict(), set()
        for item in assignments:
            key, sep, raw = item.partition("=")
            if not sep:
                raise UserError(f"override '{item}' must look like key=value, e.g. stage2.epochs=3")
            target, name = data, key.strip()
            if "." in name:
                stage, name = name.split(".", 1)
                if stage not in ("stage1", "stage2"):
                    raise UserError(f"override '{item}': only stage1./stage2. options have a prefix")
                target = data[stage]
            if name not in target:
                raise UserError(f"override '{item}': unknown option '{key}'")
            target[name] = _coerce(raw.strip(), target[name], key)
            assigned.add(key.strip())
        if "lang" in assigned:  # a new language brings its defaults where the old language's were in use
            from turkish_clip.languages import language

            old = {"model": language(self.lang).student_model, "text_column": self.lang}
            data.update({k: None for k, v in old.items() if k not in assigned and data[k] == v})
        return TrainConfig.from_dict(data)


def _coerce(raw: str, current: Any, key: str) -> Any:
    """Parse an override value as JSON (numbers, true/false, null), else keep it a string."""
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    if isinstance(current, float) and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if isinstance(current, str) and not isinstance(value, str):
        value = raw
    if current is not None and value is not None and type(value) is not type(current) and not isinstance(current, str):
        raise UserError(f"override {key}={raw}: expected {type(current).__name__}")
    return value
