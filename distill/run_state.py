"""A run folder's bookkeeping: state.json (which complete checkpoints to resume from, the history) and the check
that a resumed run keeps the options it was started with (config.json)."""
from __future__ import annotations

import json
import logging
from pathlib import Path

from turkish_clip.files import atomic_path
from turkish_clip.errors import UserError

from .config import TrainConfig

log = logging.getLogger(__name__)
STATE = "state.json"
STATE_KEYS = ("stage", "epoch", "stage_done", "checkpoint", "history")
# options that may differ when a run is resumed; any other change would mix two trainings in one run
RESUMABLE_CHANGES = ("stage1.epochs", "stage2.epochs", "stage1.patience", "stage2.patience", "stage1.max_minutes",
                     "stage2.max_minutes", "verbose", "run_dir",
                     "output_dir", "head_path", "cache_dir")


def read_state(run_dir: Path) -> dict | None:
    """state.json of a run (None if there is none); a damaged one is a one-line UserError."""
    path = run_dir / STATE
    if not path.is_file():
        return None
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise UserError(f"{path} is damaged ({err}); the run cannot be resumed: start a new one (another run_dir)") from None
    missing = [k for k in STATE_KEYS if not isinstance(state, dict) or k not in state]
    if missing:
        raise UserError(f"{path} is damaged (no {', '.join(missing)}); the run cannot be resumed: start a new one (another run_dir)")
    return state


def write_state(run_dir: Path, state: dict) -> None:
    with atomic_path(run_dir / STATE) as tmp:  # state.json always names complete checkpoints
        tmp.write_text(json.dumps(state, indent=2) + "\n", encoding="utf-8")


def mark_diverged(run_dir: Path, stage: int) -> None:
    """Record that `stage` stopped on a non-finite loss: a --resume may then change that stage's learning rate."""
    state = read_state(run_dir)
    if state is not None:
        write_state(run_dir, {**state, "diverged": stage})


def _flat(data: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in data.items():
        out.update(_flat(value, f"{prefix}{key}.") if isinstance(value, dict) else {f"{prefix}{key}": value})
    return out


def check_resumable(run_dir: Path, config: TrainConfig) -> None:
    """Refuse to resume with options that differ from the run's config.json, except RESUMABLE_CHANGES and, after a
    non-finite loss, the learning rate of the stage that diverged (it continues from the last good checkpoint)."""
    path = run_dir / "config.json"
    if not path.is_file():
        log.warning("--resume: %s is missing; cannot check that the options match the run's", path)
        return
    saved, new = _flat(TrainConfig.load(path).to_dict()), _flat(config.to_dict())
    diverged = (read_state(run_dir) or {}).get("diverged")
    allowed = RESUMABLE_CHANGES + ((f"stage{diverged}.learning_rate",) if diverged else ())
    changed = [k for k in new if saved.get(k) != new[k] and k not in allowed]
    if changed:
        diffs = ", ".join(f"{k} {saved.get(k)!r} -> {new[k]!r}" for k in changed)
        raise UserError(f"--resume: {run_dir} was started with other options ({diffs}); resume with {path} "
                        f"(only {', '.join(allowed)} may change) or start a new run_dir")
