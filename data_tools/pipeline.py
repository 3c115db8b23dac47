"""The data pipeline as library functions: captions → translations → teacher vectors, into one cache folder.

Each step takes its dataclass config (saved in the manifest), is resumable (sharded, atomic writes) and returns
a `StepOutcome` whose `summary()` the CLI prints. Models are imported lazily: `import data_tools.pipeline` is cheap.
"""
from __future__ import annotations

import logging
import shutil
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Sequence

import numpy as np
import pyarrow as pa

from data_tools import cache
from turkish_clip.errors import InputError, UserError, check_at_least
from data_tools.shards import ShardedStep, StepOutcome, assemble_npy, call_naming_item, describe_diff
from turkish_clip.files import folder_lock

log = logging.getLogger(__name__)
BACKENDS = ("marian", "ctranslate2", "import")


@dataclass
class CaptionsConfig:
    """Which caption files make the table (COCO JSON, Karpathy split file) and which images are excluded."""

    inputs: list[str] = field(default_factory=list)
    karpathy: str | None = None
    exclude: str | list[str] | None = "default"  # "default" = XTD10's 1,000 images, a file of ids, None, or a list
    limit: int | None = None  # keep the first N captions (quick runs)
    exclude_karpathy: list[str] = field(default_factory=lambda: ["test", "val"])  # when the Karpathy file is given

    def options(self) -> dict:
        """The manifest's record; without a Karpathy file exclude_karpathy changes nothing and is left out (so
        folders built before it existed stay "already done")."""
        options = asdict(self)
        if self.karpathy is None:
            options.pop("exclude_karpathy")
        return options


@dataclass
class TranslateConfig:
    """Machine translation (marian / ctranslate2) or import of existing translations keyed by caption_id."""

    backend: str = "marian"
    model: str | None = None  # None: the target language's default (languages.tsv; tr: opus-mt-tc-big-en-tr)
    target_lang: str = "tr"  # --lang: ISO code, the translations column
    num_beams: int = 1  # 1 = greedy
    target_token: str | None = None  # e.g. ">>tur<<" for multi-target opus-mt models
    max_length: int = 256
    batch_size: int = 32
    shard_size: int = 2048
    device: str | None = None
    dtype: str | None = None  # marian: torch dtype (default float16 on CUDA, float32 on CPU)
    compute_type: str | None = None  # ctranslate2: int8 on CPU, float16 on CUDA by default
    import_path: str | None = None  # backend "import": TSV/CSV/JSON(L) keyed by caption_id
    text_column: str | None = None  # backend "import": column with the translation (default: target_lang)

    def __post_init__(self):
        if self.model is None:
            from turkish_clip.languages import language

            self.model = language(self.target_lang).translation_model  # unknown code: one line listing the known
        if not isinstance(self.target_lang, str) or not self.target_lang.strip():
            raise UserError(f"--lang must be a language code such as tr or hi, got {self.target_lang!r}")

    def key(self) -> dict:
        """The options that change the translations (batch size, device and shard size do not)."""
        keys = ("backend", "target_lang", "import_path", "text_column") if self.backend == "import" else (
            "backend", "model", "target_lang", "num_beams", "target_token", "max_length")
        return {k: getattr(self, k) for k in keys}


@dataclass
class EmbedConfig:
    """Teacher vectors: CLIP encode_text of the English captions, stored as float16 or float32."""

    teacher: str = "ViT-B/32"
    kind: str | None = None  # openai-clip | hf-clip | hf-mean-pool (default: from the name)
    dtype: str = "float16"
    batch_size: int = 256
    shard_size: int = 4096
    device: str | None = None
    fp16: bool | None = None  # compute in fp16 (default: on CUDA only)
    max_length: int | None = None  # hf-mean-pool: most tokens per caption (default 128); CLIP teachers use 77

    def key(self) -> dict:
        """Every option that changes the vectors (batch size, shard size and device do not). Older caches recorded
        max_length only when set and no fp16: KEY_DEFAULTS fills what a key lacks, so they still match."""
        return {"teacher": self.teacher, "kind": self.kind, "dtype": self.dtype, "max_length": self.max_length,
                "fp16": self.fp16}


EMBED_KEY_DEFAULTS = {"max_length": None, "fp16": None}  # what an embed key without these entries meant


# ---------------------------------------------------------------- captions

def resolve_exclude(exclude) -> str | list[str] | None:
    """Exclusion list(s) as recorded: "default"/None kept, files as absolute paths, one list as a plain string."""
    items = exclude if isinstance(exclude, (list, tuple)) else [exclude]
    items = [x if x in (None, "default", "none") else str(Path(x).resolve()) for x in items]
    items = [x for x in items if x not in (None, "none")]
    return None if not items else items[0] if len(items) == 1 else items


def _check_new_folder(data_dir: Path) -> None:
    if data_dir.exists() and not data_dir.is_dir():
        raise InputError(f"{data_dir} is a file, not a folder; choose a folder for the cache")
    if data_dir.is_dir() and not (data_dir / cache.MANIFEST).exists() and any(data_dir.iterdir()):
        raise InputError(f"{data_dir} is not empty and is not a turkish-clip cache (no {cache.MANIFEST}); "
                         f"choose a new or empty folder")


def build_captions(data_dir: str | Path, inputs: Sequence[str | Path] = (), karpathy: str | Path | None = None,
                   exclude: str | Path | None = "default", limit: int | None = None, *,
                   config: CaptionsConfig | None = None, force: bool = False) -> StepOutcome:
    """Read COCO caption files into DATA/captions.parquet (canonical row order) and record manifest["captions"]."""
    from data_tools.captions import read_captions

    t0 = time.perf_counter()
    data_dir = Path(data_dir)
    config = config or CaptionsConfig([str(Path(p).resolve()) for p in inputs],
                                      str(Path(karpathy).resolve()) if karpathy else None, resolve_exclude(exclude),
                                      limit)
    options = config.options()
    _check_new_folder(data_dir)
    manifest = cache.read_manifest(data_dir) if (data_dir / cache.MANIFEST).exists() else None
    old = (manifest or {}).get("captions")
    output = data_dir / cache.CAPTIONS
    if old and output.is_file() and not force:
        if old.get("options") == options:
            return StepOutcome("captions", "already done", old["count"], reused_rows=old["count"],
                               outputs=[str(output)], note="nothing to do: same inputs and options; "
                                                           "use --overwrite to rebuild")
        raise UserError(f"{output} was built from other inputs/options "
                        f"({describe_diff(old.get('options', {}), options)}); pass --overwrite to rebuild it (translations "
                        f"and teacher vectors of the old captions are then removed)")
    check_at_least("--limit", config.limit)
    table, stats = read_captions(config.inputs, karpathy=config.karpathy,
                                 exclude_image_ids=None if config.exclude in (None, "none") else config.exclude,
                                 exclude_karpathy=config.exclude_karpathy)
    table = stats.apply_limit(table, config.limit)
    if table.empty:
        raise InputError(f"no captions left from {', '.join(config.inputs or [str(config.karpathy)])} "
                         f"({stats.summary()}); check the inputs and the exclusion list")
    data_dir.mkdir(parents=True, exist_ok=True)
    if manifest is None:
        cache.write_manifest(data_dir, cache.new_manifest())
    with folder_lock(data_dir):
        info = cache.write_captions(data_dir, [table], {"sources": config.inputs, "options": options,
                                                        "stats": stats.to_dict()})
        if (old or {}).get("sha256") != info["sha256"]:  # no old entry: new folder, or a rewrite was killed
            _remove_downstream(data_dir)
    return StepOutcome("captions", "done", info["count"], computed_rows=info["count"],
                       seconds=time.perf_counter() - t0, outputs=[str(output), str(data_dir / cache.MANIFEST)],
                       note=stats.summary())


def _remove_downstream(data_dir: Path) -> None:
    """New captions make old translations/teacher vectors (and their partial shards) meaningless: remove them."""
    for name in (cache.TRANSLATIONS, cache.TEACHER, cache.IMAGES, cache.IMAGE_TABLE):
        if (data_dir / name).exists():
            log.warning("captions changed: removing %s", data_dir / name)
            (data_dir / name).unlink()
    shutil.rmtree(data_dir / cache.WORK, ignore_errors=True)
    cache.update_manifest(data_dir, translation=None, teacher=None, images=None)


# ---------------------------------------------------------------- finding the item a model rejects

# ---------------------------------------------------------------- option checks, before any model loads

def _check_counts(**values) -> None:
    """The CLIs' rule for counts, for library callers too; the message names the command-line option."""
    for name, value in values.items():
        check_at_least("--" + name.replace("_", "-"), value)


def _check_device(device: str | None) -> None:
    if device is not None:
        from turkish_clip.clip_towers import pick_device

        pick_device(device)


# ---------------------------------------------------------------- translation

def translate_captions(data_dir: str | Path, config: TranslateConfig | None = None, *, force: bool = False,
                       limit: int | None = None, **overrides) -> StepOutcome:
    """Translate captions.parquet's `en` into translations.parquet (row-aligned), shard by shard."""
    from data_tools.translate_step import translation_step

    config = config or TranslateConfig()
    if "target_lang" in overrides and "model" not in overrides and config.model == TranslateConfig(
            target_lang=config.target_lang).model:
        overrides["model"] = None  # another language brings its own default model
    config = replace(config, **overrides)
    if config.backend not in BACKENDS:
        raise UserError(f"unknown translation backend {config.backend!r}; choose one of {', '.join(BACKENDS)}")
    _check_counts(limit=limit, max_length=config.max_length, batch_size=config.batch_size,
                  shard_size=config.shard_size, num_beams=config.num_beams)
    if config.backend != "import":
        _check_device(config.device)
    return translation_step(Path(data_dir), config).run(force=force, limit=limit)


# ---------------------------------------------------------------- teacher vectors

def embed_captions(data_dir: str | Path, config: EmbedConfig | None = None, *, force: bool = False,
                   limit: int | None = None, **overrides) -> StepOutcome:
    """Teacher vectors of captions.parquet's `en` into teacher.npy [n, dim] (row-aligned), shard by shard.

    Streams the `en` column shard by shard and assembles the shards through a memmap: memory does not grow
    with the number of captions.
    """
    config = replace(config or EmbedConfig(), **overrides)
    if config.dtype not in cache.VECTOR_DTYPES:
        raise UserError(f"--dtype must be one of {', '.join(cache.VECTOR_DTYPES)}, got {config.dtype!r}")
    _check_counts(limit=limit, max_length=config.max_length, batch_size=config.batch_size,
                  shard_size=config.shard_size)
    _check_device(config.device)
    data_dir = Path(data_dir)
    state: dict = {}

    def load() -> dict:
        from data_tools.teacher import load_teacher

        state["teacher"] = load_teacher(config.teacher, device=config.device, fp16=config.fp16, kind=config.kind,
                                        max_length=config.max_length)
        return state["teacher"].info()

    def compute(shard, chunk: pa.Table) -> np.ndarray:
        texts, ids = chunk.column("en").to_pylist(), chunk.column("caption_id").to_pylist()
        encode = lambda batch: state["teacher"].encode(batch, batch_size=config.batch_size)  # noqa: E731
        vectors = call_naming_item(encode, texts, ids, "teacher").astype(config.dtype)  # [rows, dim]
        finite = np.isfinite(vectors).all(axis=1)
        if not finite.all():
            i = int(np.argmin(finite))
            raise InputError(f"caption_id {ids[i]}: teacher vector is not finite (NaN/inf in {config.dtype}) for "
                             f"{texts[i][:80]!r}; fix or drop this caption, or use --dtype float32 if it overflows "
                             f"(finished shards are kept; re-run to resume)")
        return vectors

    step = ShardedStep(
        data_dir=data_dir, step="teacher", command="python -m data_tools embed", output=cache.TEACHER,
        suffix=".npy", columns=["caption_id", "en"], key=config.key(), options=asdict(config),
        shard_size=config.shard_size, load=load, compute=compute,
        save_shard=lambda vectors, path: np.save(path, vectors, allow_pickle=False),
        assemble=lambda paths, out: assemble_npy(paths, out, config.dtype),
        loaded_key=("kind", "model", "dim", "compute_dtype"), key_defaults=EMBED_KEY_DEFAULTS)
    return step.run(force=force, limit=limit)


# ---------------------------------------------------------------- everything

def prepare(data_dir: str | Path, captions: CaptionsConfig, translate: TranslateConfig | None = None,
            embed: EmbedConfig | None = None, *, force: bool = False) -> list[StepOutcome]:
    """captions → translate → embed into one folder; each step skips what is already done."""
    outcomes = [build_captions(data_dir, config=captions, force=force)]
    outcomes.append(translate_captions(data_dir, translate or TranslateConfig(), force=force))
    outcomes.append(embed_captions(data_dir, embed or EmbedConfig(), force=force))
    return outcomes
