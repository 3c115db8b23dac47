"""Import existing translations (e.g. human-translated sets) keyed by caption_id, and align them to a captions table.

Formats (by suffix, optionally .gz): .tsv/.tab/.txt and .csv with a header row (standard CSV quoting, as pandas and
spreadsheets write them), .json (a list of {"caption_id", text} objects or a {caption_id: text} mapping) and .jsonl.
Text is cleaned like the captions (ftfy + whitespace).
"""
from __future__ import annotations

import csv
import io
import json
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pandas as pd

from data_tools.captions import clean_text, read_json, read_text
from turkish_clip.errors import InputError

log = logging.getLogger(__name__)

ID_COLUMNS = ("caption_id", "id")
TEXT_FALLBACKS = ("text", "translation")
SHOWN_IDS = 5


def _text_candidates(text_column: str | None, lang: str) -> tuple[str, ...]:
    return (text_column,) if text_column else (lang, *TEXT_FALLBACKS)


def _pick(path: Path, available: list[str], wanted: tuple[str, ...], what: str, where: str) -> str:
    for name in wanted:
        if name in available:
            return name
    hint = "name it caption_id" if what == "caption id" else "rename it or pass text_column=… (--text-column)"
    raise InputError(f"{path}: {where} has no {what} column ({' or '.join(wanted)}); "
                     f"found {', '.join(map(str, available)) or 'none'}; {hint}")


def _caption_id(path: Path, value: Any, where: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    raise InputError(f"{path}: {where}: caption_id {str(value)[:40]!r} is not an integer; fix the file")


def _delimited(path: Path, text: str, delimiter: str, wanted: tuple[str, ...]) -> Iterator[tuple[Any, Any, str]]:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    header = next(reader, None)
    if not header:
        raise InputError(f"{path}: empty file; expected a header line with caption_id and a text column")
    header = [h.strip() for h in header]
    id_col = header.index(_pick(path, header, ID_COLUMNS, "caption id", "header"))
    text_col = header.index(_pick(path, header, wanted, "text", "header"))
    for row in reader:
        if not row or (len(row) == 1 and not row[0].strip()):
            continue
        where = f"line {reader.line_num}"
        if len(row) <= max(id_col, text_col):
            raise InputError(f"{path}: {where} has {len(row)} fields, the header {len(header)}; fix the line")
        yield row[id_col], row[text_col], where


def _json_records(path: Path, data: Any, wanted: tuple[str, ...], kind: str) -> Iterator[tuple[Any, Any, str]]:
    if isinstance(data, dict):
        for key, value in data.items():
            yield key, value, f"key {key!r}"
        return
    if not isinstance(data, list):
        raise InputError(f"{path}: expected a list of objects or a {{caption_id: text}} mapping")
    for i, item in enumerate(data):
        where = f"line {i + 1}" if kind == "jsonl" else f"item [{i}]"
        if not isinstance(item, dict):
            raise InputError(f"{path}: {where} is not an object with caption_id and text; fix the file")
        keys = list(item)
        yield item[_pick(path, keys, ID_COLUMNS, "caption id", where)], item[_pick(path, keys, wanted, "text", where)], where


def _jsonl(path: Path) -> list:
    items = []
    for lineno, line in enumerate(read_text(path).splitlines(), start=1):
        if line.strip():
            try:
                items.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise InputError(f"{path}: line {lineno}: malformed JSON ({e.msg}, column {e.colno}); fix the line") from None
    return items


def read_translations(path: Path | str, text_column: str | None = None, lang: str = "tr") -> pd.DataFrame:
    """Translations as a table caption_id:int64, text:str sorted by caption_id; exact repeats dropped.

    The text column is `text_column`, else the first of `lang` ("tr"), "text", "translation" that exists.
    """
    path = Path(path)
    wanted = _text_candidates(text_column, lang)
    suffix = path.suffixes[-2] if path.suffix == ".gz" and len(path.suffixes) > 1 else path.suffix
    suffix = suffix.lower()
    if suffix in (".tsv", ".tab", ".txt", ".csv"):
        records = _delimited(path, read_text(path), "," if suffix == ".csv" else "\t", wanted)
    elif suffix == ".json":
        records = _json_records(path, read_json(path), wanted, "json")
    elif suffix == ".jsonl":
        records = _json_records(path, _jsonl(path), wanted, "jsonl")
    else:
        raise InputError(f"{path}: unknown translation file type '{suffix}'; use .tsv, .csv, .json or .jsonl")

    texts: dict[int, str] = {}
    repeats = 0
    for raw_id, raw_text, where in records:
        caption_id = _caption_id(path, raw_id, where)
        if not isinstance(raw_text, str):
            raise InputError(f"{path}: {where}: translation of caption_id {caption_id} is "
                             f"{type(raw_text).__name__}, not text; fix it")
        text = clean_text(raw_text)
        if not text:
            raise InputError(f"{path}: {where}: translation of caption_id {caption_id} is empty; "
                             "translate it or remove the row")
        if caption_id in texts:
            if texts[caption_id] != text:
                raise InputError(f"{path}: {where}: caption_id {caption_id} appears twice with different text; "
                                 "keep one translation")
            repeats += 1
        texts[caption_id] = text
    if repeats:
        log.info("%s: dropped %d repeated identical translations", path, repeats)
    ids = sorted(texts)
    log.info("%s: %d translations", path, len(ids))
    return pd.DataFrame({"caption_id": np.asarray(ids, dtype=np.int64),
                         "text": pd.Series([texts[i] for i in ids], dtype="str")})


@dataclass
class AlignStats:
    """How imported translations matched a captions table."""

    captions: int = 0
    translations: int = 0
    matched: int = 0
    missing: int = 0  # captions without a translation (dropped when partial imports are allowed)
    extra: int = 0  # translations whose caption_id is not in the captions table (ignored)
    missing_ids: list[int] = field(default_factory=list)  # the first few

    def summary(self) -> str:
        return (f"{self.matched:,} of {self.captions:,} captions have a translation; {self.missing:,} missing"
                f"{' (dropped)' if self.missing else ''}, {self.extra:,} translations of unknown caption ids ignored.")

    def to_dict(self) -> dict:
        return asdict(self)


def align_translations(captions: pd.DataFrame, translations: pd.DataFrame, allow_partial: bool = False,
                       source: str = "translations",
                       fix: str = "add them, or pass allow_partial=True to drop those captions",
                       ) -> tuple[pd.Series, AlignStats]:
    """Translation text for each captions row (index = the captions rows' index, in their order).

    Missing translations are an InputError, unless allow_partial: then those rows are left out of the result
    (use `captions.loc[result.index]`) and counted.
    """
    if captions["caption_id"].duplicated().any():
        first = int(captions.loc[captions["caption_id"].duplicated(), "caption_id"].iloc[0])
        raise InputError(f"captions table has caption_id {first} more than once; rebuild the captions table")
    by_id = translations.set_index("caption_id")["text"]
    mapped = captions["caption_id"].map(by_id)
    is_missing = mapped.isna()
    stats = AlignStats(captions=len(captions), translations=len(translations),
                       matched=int((~is_missing).sum()), missing=int(is_missing.sum()),
                       extra=int((~translations["caption_id"].isin(captions["caption_id"])).sum()),
                       missing_ids=[int(i) for i in captions.loc[is_missing, "caption_id"].iloc[:SHOWN_IDS]])
    if stats.missing and not allow_partial:
        raise InputError(f"{source}: {stats.missing:,} of {stats.captions:,} captions have no translation "
                         f"(first caption ids: {', '.join(map(str, stats.missing_ids))}); {fix}")
    if stats.missing:
        log.warning("%s: %d captions have no translation and are dropped", source, stats.missing)
    if stats.extra:
        log.info("%s: %d translations of caption ids not in the captions table are ignored", source, stats.extra)
    return mapped[~is_missing].astype("str").rename("text"), stats
