"""Training configuration: one dataclass per stage plus the run, with defaults, JSON load/save and overrides."""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from data_tools.errors import UserError

DEFAULT_MODEL = "dbmdz/distilbert-base-turkish-cased"


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


@dataclass
class TrainConfig:
    """Everything `distill.train.train` needs; saved as config.json in the run folder."""

    data_dir: str = "data"
    model: str = DEFAULT_MODEL
    cache_dir: str | None = None  # Hugging Face cache folder (None: the default)
    text_column: str = "tr"
    include_english: bool = False  # also train on the English source captions (Reimers & Gurevych 2020)
    max_length: int = 64  # tokens, truncation
    loss: str = "mse"  # "mse" | "cosine"
    normalize_targets: bool = False  # L2-normalise teacher vectors before the loss
    val_fraction: float = 0.05  # of the image ids (or source sentences where there are no images)
    max_train: int | None = None  # use only the first N training examples (smoke runs)
    stage1: StageConfig = field(default_factory=lambda: StageConfig(epochs=2, learning_rate=1e-3))
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
    verbose: int = 1  # Keras progress: 0 silent, 1 bar, 2 one line an epoch

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")

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
                data[stage] = StageConfig(**data[stage])
        return cls(**data)

    @classmethod
    def load(cls, path: str | Path) -> TrainConfig:
        path = Path(path)
        try:
            return cls.from_dict(json.loads(path.read_text(encoding="utf-8")))
        except FileNotFoundError:
            raise UserError(f"config file {path} does not exist") from None
        except json.JSONDecodeError as err:
            raise UserError(f"config file {path} is not valid JSON: {err}") from None

    def override(self, assignments: list[str]) -> TrainConfig:
        """Apply `key=value` strings (`stage2.learning_rate=1e-5`), values coerced to the field's type."""
        data = self.to_dict()
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
