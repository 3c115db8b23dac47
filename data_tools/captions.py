"""COCO caption annotations (2014/2017, .json or .json.gz) and the Karpathy split file → one clean captions table.

The table has columns caption_id:int64, image_id:int64, split:str, en:str, sorted by caption_id. Text is cleaned
with ftfy and whitespace normalisation; empty and duplicate captions are dropped, and captions of excluded images
(by default the 1,000 XTD10 test images, and the Karpathy test and val images when the Karpathy file gives the
splits) are removed, all counted in `CaptionStats`. Exclusion lists combine: every list given is applied.
"""
from __future__ import annotations

import gzip
import json
import logging
import re
import zlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import pandas as pd

from turkish_clip.errors import InputError

log = logging.getLogger(__name__)

COLUMNS = ["caption_id", "image_id", "split", "en"]
DEFAULT_EXCLUSION = "default"
XTD10_IDS_PATH = Path(__file__).resolve().parent / "resources" / "xtd10_image_ids.tsv"
KARPATHY_SPLITS = ("train", "val", "test", "restval")
KARPATHY_HELD_OUT = ("test", "val")  # excluded from training by default when the Karpathy splits are known
_SPLIT_RE = re.compile(r"(train|val|test)(2014|2015|2017)")
_COCO_NAME_RE = re.compile(r"^COCO_[a-z]+\d{4}_0*(\d+)\.(?:jpg|png)$")
_GZIP_MAGIC = b"\x1f\x8b"


def read_text(path: Path | str) -> str:
    """Whole file as text: gunzipped when it is gzip (by magic bytes), decoded as strict UTF-8 (BOM allowed)."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{path}: file not found; check the path") from None
    except OSError as e:
        raise InputError(f"{path}: cannot read ({e.strerror}); check the path and permissions") from None
    if raw[:2] == _GZIP_MAGIC:
        try:
            raw = gzip.decompress(raw)
        except (EOFError, OSError, zlib.error) as e:
            raise InputError(f"{path}: corrupt or truncated gzip ({e}); re-download or re-compress the file") from None
    elif path.suffix == ".gz":
        raise InputError(f"{path}: named .gz but is not gzip data; rename it without .gz or compress it with gzip")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise InputError(f"{path}: not valid UTF-8 at byte offset {e.start} (byte 0x{raw[e.start]:02x}); "
                         "re-save the file as UTF-8") from None


def read_json(path: Path | str) -> Any:
    """Parse a (possibly gzipped) JSON file; malformed or truncated JSON names the line and column."""
    text = read_text(path)
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise InputError(f"{path}: malformed JSON at line {e.lineno}, column {e.colno} (char {e.pos}): {e.msg}; "
                         "the file may be truncated, re-download or fix it") from None


def clean_text(text: str) -> str:
    """ftfy-fixed text (mojibake, control characters) in NFC, whitespace collapsed; script-safe: combining marks,
    ZWJ/ZWNJ and Turkish dotted/dotless i are kept (`turkish_clip.languages.text.clean_text`)."""
    from turkish_clip.languages.text import clean_text as clean

    return clean(text)


def load_exclusion_ids(path: Path | str) -> set[int]:
    """Image ids to exclude: first column of a TSV/TXT/CSV file, one per line; header line and #-comments allowed.

    A value may also be a COCO file name like COCO_train2014_000000061844.jpg (XTD10's own list format).
    """
    ids: set[int] = set()
    for lineno, line in enumerate(read_text(path).splitlines(), start=1):
        value = re.split(r"[\t,; ]", line.strip(), maxsplit=1)[0]
        if not value or value.startswith("#"):
            continue
        match = _COCO_NAME_RE.match(value)
        if match:
            value = match.group(1)
        if value.isdigit():
            ids.add(int(value))
        elif lineno > 1 or ids:
            raise InputError(f"{path}: line {lineno}: '{value[:40]}' is not an image id; "
                             "put one integer COCO image id per line (a header line is allowed)")
    log.info("%s: %d image ids to exclude", path, len(ids))
    return ids


@dataclass
class CaptionStats:
    """What `read_captions` read, dropped and kept; read = duplicate ids + excluded + empty + duplicates + kept."""

    files: list[str] = field(default_factory=list)
    split_source: str = "file names"
    read: int = 0
    duplicate_ids_dropped: int = 0  # the same caption_id read twice (e.g. from a 2014 and a 2017 file)
    exclusion: str = "none"
    exclusion_ids: int = 0
    excluded: int = 0
    excluded_images: int = 0
    empty_dropped: int = 0
    duplicates_dropped: int = 0  # same image_id and same cleaned text
    karpathy_unmatched: int = 0  # captions whose image is not in the Karpathy file (split from the file name)
    kept: int = 0
    per_split: dict[str, int] = field(default_factory=dict)
    exclusions: list[dict] = field(default_factory=list)  # per list: name, ids, images and captions it removed
    warnings: list[str] = field(default_factory=list)
    limit_dropped: int = 0  # captions after the first N of --limit N

    def apply_limit(self, table, limit: int | None):
        """The first `limit` rows of `table`, with the counts updated (kept, per split, dropped by the limit)."""
        if limit is None or len(table) <= limit:
            return table
        self.limit_dropped = len(table) - limit
        table = table.iloc[:limit]
        self.kept = len(table)
        self.per_split = {str(k): int(v) for k, v in table["split"].value_counts().sort_index().items()}
        return table

    def summary(self) -> str:
        splits = ", ".join(f"{name} {count:,}" for name, count in self.per_split.items()) or "none"
        text = (f"Read {self.read:,} captions from {len(self.files)} file(s) (splits from {self.split_source}); "
                f"dropped {self.duplicate_ids_dropped:,} repeated caption ids, "
                f"excluded {self.excluded:,} captions of {self.excluded_images:,} images "
                f"(exclusion list: {self.exclusion}, {self.exclusion_ids:,} ids), "
                f"dropped {self.empty_dropped:,} empty and {self.duplicates_dropped:,} duplicate captions"
                + (f", and {self.limit_dropped:,} after the first {self.kept:,} (--limit)" if self.limit_dropped else "")
                + f"; kept {self.kept:,} ({splits}).")
        if self.karpathy_unmatched:
            text += f" {self.karpathy_unmatched:,} captions had no image in the Karpathy file (split from file name)."
        return " ".join([text] + [f"Warning: {w}" for w in self.warnings])

    def to_dict(self) -> dict:
        return asdict(self)


def _int_id(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _split_from_file(path: Path, data: dict) -> str:
    """'val2017', 'train2014', … from the file name, else from the images' URLs/file names, else 'unknown'."""
    candidates = [path.name]
    images = data.get("images")
    if isinstance(images, list) and images and isinstance(images[0], dict):
        candidates += [str(images[0].get("coco_url", "")), str(images[0].get("file_name", ""))]
    for text in candidates:
        match = _SPLIT_RE.search(text)
        if match:
            return match.group(0)
    log.warning("%s: cannot tell the split from the file name or image URLs; using 'unknown'", path)
    return "unknown"


def read_coco_annotations(path: Path | str) -> pd.DataFrame:
    """Raw (uncleaned) captions of one COCO caption file, with every annotation checked."""
    path = Path(path)
    data = read_json(path)
    if not isinstance(data, dict) or not isinstance(data.get("annotations"), list):
        raise InputError(f"{path}: no 'annotations' list; expected a COCO captions file "
                         "(captions_train2014.json, captions_val2017.json, …)")
    if not isinstance(data.get("images"), list):
        raise InputError(f"{path}: no 'images' list; expected a COCO captions file with 'images' and 'annotations'")
    image_ids = set()
    for i, image in enumerate(data["images"]):
        image_id = _int_id(image.get("id")) if isinstance(image, dict) else None
        if image_id is None:
            raise InputError(f"{path}: images[{i}] has no integer 'id'; fix or re-download the file")
        image_ids.add(image_id)
    split = _split_from_file(path, data)
    caption_ids, owners, texts = [], [], []
    for i, ann in enumerate(data["annotations"]):
        if not isinstance(ann, dict):
            raise InputError(f"{path}: annotations[{i}] is not an object; fix or re-download the file")
        item = f"annotations[{i}] (id {ann.get('id')!r})"
        for key in ("id", "image_id", "caption"):
            if key not in ann:
                raise InputError(f"{path}: {item} has no '{key}'; fix or re-download the file")
        caption_id, image_id = _int_id(ann["id"]), _int_id(ann["image_id"])
        if caption_id is None or image_id is None:
            raise InputError(f"{path}: {item}: 'id' and 'image_id' must be integers; fix the file")
        if image_id not in image_ids:
            raise InputError(f"{path}: {item}: image_id {image_id} is not in 'images'; "
                             "the file is inconsistent, re-download it")
        if not isinstance(ann["caption"], str):
            raise InputError(f"{path}: {item}: 'caption' is {type(ann['caption']).__name__}, not a string; "
                             "fix the annotation")
        caption_ids.append(caption_id), owners.append(image_id), texts.append(ann["caption"])
    log.info("%s: %d captions of %d images, split %s", path, len(texts), len(image_ids), split)
    return _table(caption_ids, owners, [split] * len(texts), texts)


def read_karpathy(path: Path | str) -> tuple[pd.DataFrame, dict[int, str]]:
    """Raw captions of the Karpathy split file (caption_id = sentid, image_id = cocoid, its split, en = raw)
    and the split of every image."""
    path = Path(path)
    data = read_json(path)
    if not isinstance(data, dict) or not isinstance(data.get("images"), list):
        raise InputError(f"{path}: no 'images' list; expected Karpathy's dataset_coco.json")
    caption_ids, owners, splits, texts = [], [], [], []
    image_splits: dict[int, str] = {}
    for i, image in enumerate(data["images"]):
        if not isinstance(image, dict):
            raise InputError(f"{path}: images[{i}] is not an object; fix or re-download the file")
        cocoid, split = _int_id(image.get("cocoid")), image.get("split")
        if cocoid is None:
            raise InputError(f"{path}: images[{i}] has no integer 'cocoid'; expected Karpathy's dataset_coco.json "
                             "(the Flickr files have no COCO ids)")
        if split not in KARPATHY_SPLITS:
            raise InputError(f"{path}: images[{i}] (cocoid {cocoid}): split {split!r} is not one of "
                             f"{', '.join(KARPATHY_SPLITS)}; fix the file")
        image_splits[cocoid] = split
        sentences = image.get("sentences")
        if not isinstance(sentences, list):
            raise InputError(f"{path}: images[{i}] (cocoid {cocoid}) has no 'sentences' list; fix the file")
        for j, sentence in enumerate(sentences):
            sentid = _int_id(sentence.get("sentid")) if isinstance(sentence, dict) else None
            item = f"images[{i}] (cocoid {cocoid}) sentences[{j}]"
            if sentid is None:
                raise InputError(f"{path}: {item} has no integer 'sentid'; fix the file")
            if not isinstance(sentence.get("raw"), str):
                raise InputError(f"{path}: {item} (sentid {sentid}): 'raw' is missing or not a string; fix the file")
            caption_ids.append(sentid), owners.append(cocoid), splits.append(split), texts.append(sentence["raw"])
    log.info("%s: %d sentences of %d images", path, len(texts), len(data["images"]))
    return _table(caption_ids, owners, splits, texts), image_splits


def _table(caption_ids: list, image_ids: list, splits: list, texts: list) -> pd.DataFrame:
    return pd.DataFrame({"caption_id": np.asarray(caption_ids, dtype=np.int64),
                         "image_id": np.asarray(image_ids, dtype=np.int64),
                         "split": pd.Series(splits, dtype="str"), "en": pd.Series(texts, dtype="str")})


def _exclusion(exclude_image_ids: Any) -> tuple[set[int], str]:
    if exclude_image_ids is None or (isinstance(exclude_image_ids, str) and exclude_image_ids == "none"):
        return set(), "none"
    if isinstance(exclude_image_ids, str) and exclude_image_ids == DEFAULT_EXCLUSION:
        return load_exclusion_ids(XTD10_IDS_PATH), "XTD10 (default)"
    if isinstance(exclude_image_ids, (str, Path)):
        return load_exclusion_ids(exclude_image_ids), str(exclude_image_ids)
    return {int(i) for i in exclude_image_ids}, "given ids"


def _exclusion_lists(exclude_image_ids: Any) -> list[tuple[str, set[int]]]:
    """[(name, ids)] of every list given: one spec ("default", a file, ids, None/"none") or a list of specs."""
    specs = exclude_image_ids if isinstance(exclude_image_ids, (list, tuple)) and any(
        isinstance(x, (str, Path)) for x in exclude_image_ids) else [exclude_image_ids]
    lists = [_exclusion(spec)[::-1] for spec in specs]
    return [(name, ids) for name, ids in lists if name != "none"]


def _warn_unknown_karpathy(table: pd.DataFrame, stats: CaptionStats) -> None:
    """COCO train/val captions (2014 and 2017 alike) hold the Karpathy test and val images; without the Karpathy file
    they cannot be excluded, and a student trained on them must not be scored on COCO Karpathy test."""
    if table["split"].astype(str).str.fullmatch(r"(train|val)(2014|2017)").any():
        stats.warnings.append("COCO captions were read without the Karpathy split file, so the 5,000 Karpathy "
                              "test (and val) images stay in training; pass --karpathy dataset_coco.json to exclude "
                              "them, or do not report COCO Karpathy test results for this data")
        log.warning("%s", stats.warnings[-1])


def _drop_repeated_ids(table: pd.DataFrame, sources: np.ndarray, names: list[str]) -> pd.DataFrame:
    """Keep the first copy of each caption_id; a repeat that disagrees (image or text) is an error."""
    repeats = table[table.duplicated("caption_id", keep=False)]
    repeats = repeats.assign(en=[" ".join(t.split()) for t in repeats["en"]])  # copies may differ in spacing only
    first = repeats.groupby("caption_id", sort=False)[["image_id", "en"]].transform("first")
    conflict = (repeats["image_id"] != first["image_id"]) | (repeats["en"] != first["en"])
    if conflict.any():
        caption_id = int(repeats.loc[conflict, "caption_id"].min())
        files = sorted({names[s] for s in sources[(table["caption_id"] == caption_id).to_numpy()]})
        raise InputError(f"caption id {caption_id} appears with different image/text in {', '.join(files)}; "
                         "these files do not belong together, read them separately")
    return table[~table.duplicated("caption_id", keep="first")]


def read_captions(paths: Iterable[Path | str] = (), karpathy: Path | str | None = None,
                  exclude_image_ids: Path | str | Iterable[int] | list[Path | str] | None = DEFAULT_EXCLUSION,
                  exclude_karpathy: Iterable[str] = KARPATHY_HELD_OUT) -> tuple[pd.DataFrame, CaptionStats]:
    """Read COCO caption files (and/or the Karpathy file) into one clean table sorted by caption_id.

    Splits come from the Karpathy file when given (joined by image_id, its 'restval' kept as is), else from each
    file's name ('val2017', …). With only a Karpathy file, its sentences are the captions (caption_id = sentid).
    `exclude_image_ids`: "default" (XTD10's 1,000 images), a file of ids, an iterable of ids, None/"none", or a list
    of such lists (all applied). `exclude_karpathy`: Karpathy splits whose images are excluded too when the Karpathy
    file is given (default test and val, so COCO Karpathy test stays a clean test; () keeps them).
    Order of steps, as counted in the stats: repeated caption ids → excluded images → empty → duplicate text.
    """
    paths = [Path(p) for p in paths]
    if not paths and karpathy is None:
        raise InputError("no caption files given; pass COCO captions_*.json(.gz) files and/or a Karpathy file")
    stats = CaptionStats(files=[str(p) for p in paths])
    if paths:
        parts = [read_coco_annotations(p) for p in paths]
        sources = np.concatenate([np.full(len(part), i) for i, part in enumerate(parts)])
        table = pd.concat(parts, ignore_index=True)
    else:
        table = read_karpathy(karpathy)[0]
        sources = np.zeros(len(table), dtype=int)
        stats.files, stats.split_source = [str(karpathy)], "the Karpathy file"
    stats.read = len(table)
    table = _drop_repeated_ids(table, sources, stats.files)
    stats.duplicate_ids_dropped = stats.read - len(table)
    image_splits: dict[int, str] = {}
    if paths and karpathy is not None:
        table, image_splits = _apply_karpathy_splits(table, karpathy, stats)
    elif karpathy is not None:
        image_splits = dict(zip(table["image_id"].tolist(), table["split"].tolist()))
    else:
        _warn_unknown_karpathy(table, stats)

    lists = _exclusion_lists(exclude_image_ids)
    held_out = sorted(set(exclude_karpathy))
    bad = [s for s in held_out if s not in KARPATHY_SPLITS]
    if bad:
        raise InputError(f"Karpathy split {bad[0]!r} to exclude is not one of {', '.join(KARPATHY_SPLITS)}")
    if image_splits and held_out:
        lists.append((f"Karpathy {'+'.join(held_out)}", {i for i, sp in image_splits.items() if sp in held_out}))
    excluded_ids = set().union(*(ids for _, ids in lists)) if lists else set()
    stats.exclusion = " + ".join(name for name, _ in lists) or "none"
    stats.exclusion_ids = len(excluded_ids)
    for name, ids in lists:
        hit = table["image_id"].isin(ids)
        stats.exclusions.append({"name": name, "ids": len(ids), "images": int(table.loc[hit, "image_id"].nunique()),
                                 "captions": int(hit.sum())})
    is_excluded = table["image_id"].isin(excluded_ids)
    stats.excluded, stats.excluded_images = int(is_excluded.sum()), int(table.loc[is_excluded, "image_id"].nunique())
    table = table[~is_excluded]

    table = table.assign(en=pd.Series([clean_text(t) for t in table["en"]], index=table.index, dtype="str"))
    is_empty = table["en"].str.len() == 0
    stats.empty_dropped = int(is_empty.sum())
    table = table[~is_empty].sort_values("caption_id", kind="stable")
    is_duplicate = table.duplicated(["image_id", "en"], keep="first")
    stats.duplicates_dropped = int(is_duplicate.sum())
    table = table[~is_duplicate].reset_index(drop=True)[COLUMNS]

    stats.kept = len(table)
    stats.per_split = {str(k): int(v) for k, v in table["split"].value_counts().sort_index().items()}
    log.info("%s", stats.summary())
    return table, stats


def _apply_karpathy_splits(table: pd.DataFrame, karpathy: Path | str, stats: CaptionStats
                           ) -> tuple[pd.DataFrame, dict[int, str]]:
    """Replace file-name splits with the Karpathy split of each image; images it lacks keep the file split."""
    image_splits = read_karpathy(karpathy)[1]
    mapped = table["image_id"].map(image_splits)
    stats.karpathy_unmatched = int(mapped.isna().sum())
    if stats.karpathy_unmatched:
        log.warning("%d captions have no image in %s; they keep the split of their file",
                    stats.karpathy_unmatched, karpathy)
    stats.split_source = f"the Karpathy file {karpathy}"
    return table.assign(split=mapped.fillna(table["split"]).astype("str")), image_splits
