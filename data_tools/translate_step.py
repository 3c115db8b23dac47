"""The translate step as a `ShardedStep`: MT backends (marian, ctranslate2) or an import of existing translations.

Each shard is a parquet table caption_id, image_id, split, en, <lang>, mt_backend, mt_model (the source text,
its translation and what produced it stay together); translations.parquet is their row-aligned concatenation.
"""
from __future__ import annotations

import logging
from dataclasses import asdict
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from data_tools import cache
from data_tools.shards import ShardedStep, assemble_parquet, call_naming_item
from turkish_clip import files
from turkish_clip.errors import InputError
from turkish_clip.languages.text import normalize_text

log = logging.getLogger(__name__)


def translation_step(data_dir: Path, config) -> ShardedStep:
    """The ShardedStep for a `pipeline.TranslateConfig`."""
    schema = cache.translations_schema(config.target_lang)
    state: dict = {}
    key = config.key()
    if config.backend == "import":
        if not config.import_path:
            raise InputError("backend 'import' needs the translations file: --import PATH (TSV/CSV/JSON keyed by "
                             "caption_id)")
        path = Path(config.import_path)
        if not path.is_file():
            raise InputError(f"{path}: translations file not found; check the path")
        key["import_sha256"] = files.file_sha256(path)

    def load() -> dict:
        if config.backend == "import":
            return _load_import(data_dir, config, state)
        from data_tools.translate import load_translator

        state["translator"] = load_translator(
            config.backend, config.model, config.device, target_lang=config.target_lang, dtype=config.dtype,
            compute_type=config.compute_type, num_beams=config.num_beams, batch_size=config.batch_size,
            max_length=config.max_length, target_token=config.target_token)
        return state["translator"].info()

    def compute(shard, chunk: pa.Table) -> pa.Table:
        ids, texts = chunk.column("caption_id").to_pylist(), chunk.column("en").to_pylist()
        if config.backend == "import":
            translated = state["texts"].loc[ids].tolist()
            backend, model = "import", str(config.import_path)
        else:
            translator = state["translator"]
            translated = call_naming_item(lambda batch: translator.translate(batch, batch_size=config.batch_size),
                                          texts, ids, "translator")
            if len(translated) != len(texts):
                raise RuntimeError(f"translator returned {len(translated)} texts for {len(texts)}")
            translated = [normalize_text(text) for text in translated]  # NFC, as every stored text
            backend, model = translator.backend, translator.model_id
        n = chunk.num_rows
        return chunk.append_column(config.target_lang, pa.array(translated, pa.string())).append_column(
            "mt_backend", pa.array([backend] * n, pa.string())).append_column(
            "mt_model", pa.array([model] * n, pa.string())).cast(schema)

    def assemble(paths: list[Path], out: Path) -> dict:
        assemble_parquet(paths, out, schema)
        empty = sum(pc.sum(pc.equal(pc.utf8_trim_whitespace(b.column(0)), "")).as_py() or 0
                    for b in pq.ParquetFile(out).iter_batches(columns=[config.target_lang]))
        if empty:
            log.warning("%d captions got an empty translation", empty)
        return {"lang": config.target_lang, "target_lang": config.target_lang, "empty_translations": int(empty)}

    return ShardedStep(
        data_dir=data_dir, step="translation", command="python -m data_tools translate", output=cache.TRANSLATIONS,
        suffix=".parquet", columns=list(cache.CAPTIONS_SCHEMA.names), key=key, options=asdict(config),
        shard_size=config.shard_size, load=load, compute=compute,
        save_shard=lambda table, path: pq.write_table(table, path), assemble=assemble,
        loaded_key=("backend", "model", "target_lang", "options.dtype", "options.compute_type"))


def _load_import(data_dir: Path, config, state: dict) -> dict:
    """Read the translations file and check that every caption has one (before any shard is written)."""
    from data_tools.translation_import import align_translations, read_translations

    translations = read_translations(config.import_path, text_column=config.text_column, lang=config.target_lang)
    captions = pq.read_table(data_dir / cache.CAPTIONS, columns=["caption_id"]).to_pandas()
    texts, stats = align_translations(
        captions, translations, source=str(config.import_path),
        fix="add the missing translations to the file (every caption needs one), or translate with a model instead "
            "(--backend marian)")
    state["texts"] = texts.set_axis(captions["caption_id"])
    return {"backend": "import", "model": str(config.import_path), "target_lang": config.target_lang,
            "source_sha256": files.file_sha256(config.import_path), "stats": stats.to_dict()}
