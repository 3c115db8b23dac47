"""Retrieval test sets as one structure (`RetrievalSet`), shared reading helpers, and the plain `captions.tsv` loader.

Loaders per benchmark live beside this module: datasets_coco (XTD10, COCO Karpathy test), datasets_flickr
(Flickr8k / TasvirEt), datasets_xm3600 (Crossmodal-3600). Files are the user's; nothing is downloaded.
Captions are cleaned like the training captions (`data_tools.captions.clean_text`).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from data_tools.captions import clean_text, read_text
from turkish_clip.errors import InputError

log = logging.getLogger(__name__)

SHOWN_MISSING = 3
PATH_HEADERS = {"image", "image_path", "path", "file", "file_name", "filename"}
CAPTION_HEADERS = {"caption", "text", "sentence"}


@dataclass
class RetrievalSet:
    """Images and captions of one test set; caption i describes image `caption_to_image[i]`.

    `english` (optional) holds English captions of the same images (`english_to_image`), for the upper-bound
    baseline; `english_aligned` says english[i] is the translation of captions[i] (parallel text for fidelity).
    """

    name: str
    lang: str
    image_paths: list[Path]
    captions: list[str]
    caption_to_image: list[int]
    english: list[str] | None = None
    english_to_image: list[int] | None = None
    english_aligned: bool = False
    source: dict = field(default_factory=dict)  # the files it was read from
    image_ids: list[int] | None = None  # COCO image ids of image_paths, where known (to check training overlap)

    def __post_init__(self) -> None:
        if len(self.captions) != len(self.caption_to_image):
            raise ValueError(f"{self.name}: {len(self.captions)} captions but {len(self.caption_to_image)} links")
        if (self.english is None) != (self.english_to_image is None):
            raise ValueError(f"{self.name}: english and english_to_image go together")
        if self.english is not None and len(self.english) != len(self.english_to_image):
            raise ValueError(f"{self.name}: {len(self.english)} English captions but "
                             f"{len(self.english_to_image)} links")
        for links in (self.caption_to_image, self.english_to_image or []):
            if links and not 0 <= min(links) <= max(links) < len(self.image_paths):
                raise ValueError(f"{self.name}: caption links outside 0..{len(self.image_paths) - 1}")

    @property
    def n_images(self) -> int:
        return len(self.image_paths)

    @property
    def n_captions(self) -> int:
        return len(self.captions)

    def english_view(self) -> "RetrievalSet | None":
        """The same images with the English captions as the texts (for the upper-bound baseline), if any."""
        if self.english is None:
            return None
        return RetrievalSet(name=f"{self.name}/en", lang="en", image_paths=self.image_paths, captions=self.english,
                            caption_to_image=self.english_to_image, source=self.source, image_ids=self.image_ids)

    def parallel_pairs(self) -> list[tuple[str, str]]:
        """(caption, English caption) pairs for fidelity; only when the English captions are row-aligned."""
        if not self.english_aligned:
            raise ValueError(f"{self.name}: the English captions are not aligned with the captions")
        return list(zip(self.captions, self.english))

    def missing_images(self) -> list[Path]:
        return [path for path in self.image_paths if not path.is_file()]

    def check_images(self) -> None:
        """InputError naming the first missing image files, when any is missing."""
        missing = self.missing_images()
        if missing:
            shown = ", ".join(str(p) for p in missing[:SHOWN_MISSING])
            raise InputError(f"{self.name}: {len(missing)} of {self.n_images} images are missing (first: {shown}); "
                             "check the image folder you passed")

    def info(self) -> dict:
        """What the results JSON records about the set."""
        return {"name": self.name, "lang": self.lang, "images": self.n_images, "captions": self.n_captions,
                "english_captions": len(self.english) if self.english is not None else 0,
                "english_aligned": self.english_aligned, "source": {k: str(v) for k, v in self.source.items()}}

    def summary(self) -> str:
        english = f", {len(self.english):,} English captions" if self.english is not None else ""
        return f"{self.name} ({self.lang}): {self.n_images:,} images, {self.n_captions:,} captions{english}"


def numbered_lines(path: Path | str) -> list[tuple[int, str]]:
    """(line number from 1, line) of a UTF-8 text file (gzip allowed), blank lines kept for their numbers."""
    return list(enumerate(read_text(path).splitlines(), start=1))


def caption_or_error(path: Path | str, lineno: int | str, raw: str) -> str:
    """The cleaned caption, or InputError naming the file and line when it is empty."""
    text = clean_text(raw)
    if not text:
        raise InputError(f"{path}: line {lineno}: empty caption; write a caption or remove the line")
    return text


def group_by_image(pairs: Iterable[tuple[str, str]]) -> tuple[list[str], list[str], list[int]]:
    """(image key, caption) pairs → image keys in first-appearance order, captions, caption → image index."""
    keys: list[str] = []
    index: dict[str, int] = {}
    captions: list[str] = []
    links: list[int] = []
    for key, caption in pairs:
        if key not in index:
            index[key] = len(keys)
            keys.append(key)
        captions.append(caption)
        links.append(index[key])
    return keys, captions, links


def attach_english(keys: list[str], pairs: Iterable[tuple[str, str]], where: str) -> tuple[list[str], list[int]]:
    """English (image key, caption) pairs restricted to the set's images; images with none are logged."""
    index = {key: i for i, key in enumerate(keys)}
    english, links = [], []
    for key, caption in pairs:
        if key in index:
            english.append(caption)
            links.append(index[key])
    without = len(keys) - len(set(links))
    if without:
        log.warning("%s: %d of %d images have no English caption", where, without, len(keys))
    return english, links


def resolve(image_dir: Path | None, relative: str, candidates: Callable[[str], list[str]] | None = None) -> Path:
    """The first existing path among image_dir/relative and image_dir/<each candidate>, else image_dir/relative."""
    base = Path(image_dir) if image_dir is not None else Path()
    options = [relative, *(candidates(relative) if candidates else [])]
    for option in options:
        path = base / option
        if path.is_file():
            return path
    return base / relative


def finish(result: RetrievalSet, check_images: bool) -> RetrievalSet:
    if not result.captions:
        raise InputError(f"{result.name}: no captions found in {', '.join(map(str, result.source.values()))}; "
                         "check the file and the split/language you asked for")
    if check_images:
        result.check_images()
    log.info("%s", result.summary())
    return result


def _is_header(cells: list[str]) -> bool:
    return len(cells) >= 2 and cells[0].lower() in PATH_HEADERS and cells[1].lower() in CAPTION_HEADERS


def load_captions_tsv(path: Path | str, image_dir: Path | str | None = None, lang: str = "tr",
                      name: str | None = None, check_images: bool = True) -> RetrievalSet:
    """A plain `captions.tsv`: `image<TAB>caption` per line; optional header (image, caption[, en]).

    With a header naming a third column `en`, that column is the English caption of the same line (aligned).
    Relative image paths are resolved against `image_dir`, else against the TSV's own folder.
    """
    path = Path(path)
    lines = [(n, line) for n, line in numbered_lines(path) if line.strip()]
    if not lines:
        raise InputError(f"{path}: empty file; expected lines 'image<TAB>caption'")
    columns = 2
    has_english = False
    first = [c.strip() for c in lines[0][1].split("\t")]
    if _is_header(first):
        extra = [c.lower() for c in first[2:]]
        if extra not in ([], ["en"]):
            raise InputError(f"{path}: line {lines[0][0]}: unknown columns {', '.join(first[2:])}; "
                             "the header is image<TAB>caption with an optional third column en")
        columns, has_english, lines = len(first), bool(extra), lines[1:]
    base = Path(image_dir) if image_dir is not None else path.parent
    pairs, english = [], []
    for lineno, line in lines:
        cells = line.split("\t")
        if len(cells) != columns or not cells[0].strip():
            raise InputError(f"{path}: line {lineno}: expected {columns} tab-separated values "
                             f"(image, caption{', en' if has_english else ''}), found {len(cells)}: "
                             f"{line[:60]!r}; fix the line")
        pairs.append((cells[0].strip(), caption_or_error(path, lineno, cells[1])))
        if has_english:
            english.append(caption_or_error(path, lineno, cells[2]))
    keys, captions, links = group_by_image(pairs)
    result = RetrievalSet(name=name or path.stem, lang=lang, image_paths=[resolve(base, k) for k in keys],
                          captions=captions, caption_to_image=links, english=english if has_english else None,
                          english_to_image=list(links) if has_english else None, english_aligned=has_english,
                          source={"captions": path})
    return finish(result, check_images)
