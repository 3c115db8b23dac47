"""Where the models are, the same for every tool (inference.py, `python -m evaluation`, `python -m distill evaluate`):

1. the flag (--model, --head, --clip),
2. the environment variable (TURKISH_CLIP_MODEL, TURKISH_CLIP_HEAD, TURKISH_CLIP_CLIP),
3. the current folder (./student: what `python -m distill train` writes),
4. the user folder: $TURKISH_CLIP_HOME, else ~/.cache/turkish-clip (student/).
A student folder uses its own clip_head.h5 (only --head replaces it, with a warning when it differs); a Hugging
Face encoder needs its head named (--head or TURKISH_CLIP_HEAD): a clip_head.h5 lying in a folder may belong to any
encoder and is never paired automatically.
CLIP's default, the OpenAI name ViT-B/32, is cached by `turkish_clip.clip_towers` in $CLIP_CACHE or ~/.cache/clip.

Nothing depends on where the code is installed. Only paths are checked here (nothing heavy is imported), so a
missing model is reported in one line before torch or TensorFlow load. `TextModelSpec` says which of the two
supported text formats was found.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from turkish_clip.errors import ModelNotFoundError, UserError, looks_like_local_path

ENV_MODEL = "TURKISH_CLIP_MODEL"  # trained student folder, or a Hugging Face encoder id/folder (monatis style)
ENV_HEAD = "TURKISH_CLIP_HEAD"  # clip_head.h5 (Dense 768 -> 512)
ENV_CLIP = "TURKISH_CLIP_CLIP"  # CLIP name (ViT-B/32), OpenAI .pt file, or Hugging Face CLIP id/folder
DEFAULT_CLIP = "ViT-B/32"
DEFAULT_STUDENT = "student"  # distill.config.TrainConfig.output_dir
DEFAULT_HEAD = "clip_head.h5"  # distill.config.TrainConfig.head_path
STUDENT_JSON = "student.json"  # distill.export.STUDENT_JSON
MONATIS_ENCODER = "mys/distilbert-base-turkish-cased-clip"
ENV_HOME = "TURKISH_CLIP_HOME"  # the user folder (default ~/.cache/turkish-clip)
log = logging.getLogger(__name__)
SMOKE_HINT = "to check the installation without the real models, run `make smoke` (tiny untrained models)"
POINT_HINT = (f"point to one with --model / {ENV_MODEL} (a trained student folder, or a Hugging Face encoder id/"
              f"folder such as {MONATIS_ENCODER} together with --head / {ENV_HEAD} clip_head.h5)")


@dataclass(frozen=True)
class TextModelSpec:
    """kind "student": our distill output folder (student.json); kind "pair": HF encoder + clip_head.h5."""

    kind: str
    encoder: str
    head: str | None  # None: the student folder's own head
    force: bool = False  # load a head whose encoder fingerprint disagrees (a warning instead of an error)


def user_dir() -> Path:
    """$TURKISH_CLIP_HOME, else ~/.cache/turkish-clip: models for every folder you work in."""
    return Path(os.environ.get(ENV_HOME) or Path.home() / ".cache" / "turkish-clip").expanduser()


def search_dirs() -> list[Path]:
    """Where default models are looked for, in order: the current folder, then the user folder."""
    cwd, user = Path.cwd().resolve(), user_dir().resolve()
    return [cwd] if cwd == user else [cwd, user]


def _existing_head(head: str, what: str) -> str:
    path = Path(head).expanduser()
    if not path.is_file():
        raise ModelNotFoundError(f"head file {path} does not exist; pass an existing clip_head.h5 with {what}")
    return str(path)


def _student_head(head: str | None, folder: Path) -> str | None:
    """A student folder uses its own head; only an explicit --head replaces it (load_student warns when it differs).
    $TURKISH_CLIP_HEAD and ./clip_head.h5 never do."""
    if head:
        return _existing_head(head, "--head")
    if os.environ.get(ENV_HEAD):
        log.warning("%s=%s is ignored: the student folder %s uses its own head (pass --head to replace it)",
                    ENV_HEAD, os.environ[ENV_HEAD], folder)
    return None


def _pair_head(head: str | None) -> str:
    """An encoder without our student.json needs its head named: --head or $TURKISH_CLIP_HEAD. A clip_head.h5 lying
    in the working directory is not paired with it (it may belong to any encoder)."""
    if head:
        return _existing_head(head, f"--head / {ENV_HEAD}")
    if os.environ.get(ENV_HEAD):
        return _existing_head(os.environ[ENV_HEAD], f"--head / {ENV_HEAD}")
    found = [str(d / DEFAULT_HEAD) for d in search_dirs() if (d / DEFAULT_HEAD).is_file()]
    also = (f" ({found[0]} exists but is not used automatically: it may belong to another encoder; pass it "
            f"explicitly if it is this encoder's)") if found else ""
    raise ModelNotFoundError(f"a Hugging Face encoder needs its projection head; pass it with --head / "
                             f"{ENV_HEAD}{also}")


def resolve_text_model(model: str | None = None, head: str | None = None, force: bool = False) -> TextModelSpec:
    """The text model to load: --model, else $TURKISH_CLIP_MODEL, else ./student, else the user folder's student/.

    A student folder comes with its own head (only an explicit `head` replaces it); an encoder id/folder needs
    `head` or $TURKISH_CLIP_HEAD. force: load a head whose encoder fingerprint disagrees (warning, not error)."""
    model = model or os.environ.get(ENV_MODEL) or None
    if model is None:
        for folder in search_dirs():
            if (folder / DEFAULT_STUDENT / STUDENT_JSON).is_file():
                student = folder / DEFAULT_STUDENT
                return TextModelSpec("student", str(student), _student_head(head, student), force)
        looked = " or ".join(str(d / DEFAULT_STUDENT / STUDENT_JSON) for d in search_dirs())
        raise ModelNotFoundError(f"no Turkish text model found: no {looked} and {ENV_MODEL} is not set; train one "
                                 f"with `python -m distill train`, or {POINT_HINT}; {SMOKE_HINT}")
    path = Path(model).expanduser()
    if path.is_dir() and (path / STUDENT_JSON).is_file():
        return TextModelSpec("student", str(path), _student_head(head, path), force)
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ModelNotFoundError(f"text model folder {path} has neither {STUDENT_JSON} (a trained student) nor "
                                     f"config.json (a Hugging Face encoder); {POINT_HINT}; {SMOKE_HINT}")
        return TextModelSpec("pair", str(path), _pair_head(head), force)
    if path.exists():
        raise ModelNotFoundError(f"text model {path} is a file, not a folder; {POINT_HINT}")
    if looks_like_local_path(model):
        raise ModelNotFoundError(f"text model folder {path} does not exist; {POINT_HINT}; {SMOKE_HINT}")
    return TextModelSpec("pair", model, _pair_head(head), force)  # a hub id: loaded from the HF cache or downloaded


def default_student() -> Path:
    """The trained student folder found by the search order (current folder, user folder); the current folder's
    ./student (not an error here) when none holds one, so the loader names the path it looked at."""
    for folder in search_dirs():
        if (folder / DEFAULT_STUDENT / STUDENT_JSON).is_file():
            return folder / DEFAULT_STUDENT
    return Path(DEFAULT_STUDENT)


def model_language(model: str | None = None, head: str | None = None) -> str | None:
    """The language a trained student was trained for (student.json "lang"); None for an encoder + head pair, an
    older student that records none, or no model found (the loader reports that later, in its own words)."""
    import json

    try:
        spec = resolve_text_model(model, head)
    except UserError:
        return None
    if spec.kind != "student":
        return None
    try:
        return json.loads((Path(spec.encoder) / STUDENT_JSON).read_text(encoding="utf-8")).get("lang")
    except (OSError, ValueError, AttributeError):
        return None


def resolve_clip(clip: str | None = None) -> str:
    """The CLIP image model: --clip, else $TURKISH_CLIP_CLIP, else ViT-B/32 (OpenAI's cache, ~/.cache/clip)."""
    clip = clip or os.environ.get(ENV_CLIP) or DEFAULT_CLIP
    if looks_like_local_path(clip) and not Path(clip).expanduser().exists():
        raise ModelNotFoundError(f"CLIP model {clip} does not exist; pass an OpenAI name (ViT-B/32), a .pt file or a "
                                 f"Hugging Face CLIP folder with --clip / {ENV_CLIP}; {SMOKE_HINT}")
    return clip


def with_hint(error: UserError, flag: str, env: str) -> ModelNotFoundError:
    """A loader's one-line ModelNotFoundError, extended with how to point this tool at a local copy."""
    text = " ".join(str(error).split()).rstrip(".")  # one line, whatever the loader's message held
    return ModelNotFoundError(f"{text}. Point to a local copy with {flag} / {env}; {SMOKE_HINT}.")
