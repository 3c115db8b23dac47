"""Flickr8k-style test sets, e.g. TasvirEt (Turkish captions of Flickr8k images) or Flickr8k itself.

Captions come either as a Karpathy-style JSON (dataset_flickr8k.json: images[].filename, .split,
.sentences[].raw) or as a token file (Flickr8k.token.txt: `<image file>#<n><TAB><caption>` per line, with an
optional split list such as Flickr_8k.testImages.txt, one image file name per line).
"""
from __future__ import annotations

import logging
import re
from pathlib import Path

from data_tools.captions import clean_text
from turkish_clip.errors import InputError
from evaluation.datasets import (RetrievalSet, attach_english, caption_or_error, finish, group_by_image,
                                 numbered_lines, resolve)
from evaluation.datasets_coco import karpathy_images

log = logging.getLogger(__name__)

_TOKEN_KEY = re.compile(r"^(.+?)#(\d+)$")


def read_token_file(path: Path | str) -> list[tuple[str, str]]:
    """(image file name, caption) pairs of a `<image>#<n><TAB><caption>` file; a malformed line names its number."""
    path = Path(path)
    pairs = []
    for lineno, line in numbered_lines(path):
        if not line.strip():
            continue
        key, tab, caption = line.partition("\t")
        match = _TOKEN_KEY.match(key.strip())
        if not tab or not match:
            raise InputError(f"{path}: line {lineno}: expected '<image file>#<n><TAB><caption>', found "
                             f"{line[:60]!r}; fix the line")
        pairs.append((match.group(1), caption_or_error(path, lineno, caption)))
    return pairs


def read_split_list(path: Path | str) -> set[str]:
    """Image file names of a split list (one per line; blank lines ignored)."""
    path = Path(path)
    names = set()
    for lineno, line in numbered_lines(path):
        name = line.strip()
        if not name:
            continue
        if "\t" in name or "#" in name:
            raise InputError(f"{path}: line {lineno}: expected one image file name, found {line[:60]!r}")
        names.add(name)
    return names


def read_flickr_captions(path: Path | str, split: str | None = None) -> list[tuple[str, str]]:
    """(image file name, cleaned caption) pairs from a Karpathy-style JSON (filtered by split) or a token file."""
    path = Path(path)
    if not path.name.endswith((".json", ".json.gz")):
        return read_token_file(path)
    pairs = [(image["filename"], clean_text(raw)) for _, image, sentences in karpathy_images(path, split)
             for _, raw in sentences]
    empty = sum(1 for _, text in pairs if not text)
    if empty:
        log.warning("%s: dropped %d empty sentences", path, empty)
    return [(key, text) for key, text in pairs if text]


def load_flickr(captions: Path | str, image_dir: Path | str, split: str | None = "test", lang: str = "tr",
                split_file: Path | str | None = None, english: Path | str | None = None,
                name: str | None = None, check_images: bool = True) -> RetrievalSet:
    """A Flickr8k-style set (TasvirEt, Flickr8k): images image_dir/<file name>, all captions of each image.

    `split` filters a Karpathy JSON by its split field; for a token file pass `split_file` (e.g.
    Flickr_8k.testImages.txt) or get every image. `english`: English captions of the same images in either
    format (e.g. Flickr8k.token.txt), matched by image file name, for the upper-bound baseline.
    """
    captions_path = Path(captions)
    pairs = read_flickr_captions(captions_path, split)
    source: dict = {"captions": captions_path}
    if split_file is not None:
        wanted = read_split_list(split_file)
        pairs = [(key, text) for key, text in pairs if key in wanted]
        source["split_file"] = Path(split_file)
    keys, texts, links = group_by_image(pairs)
    english_texts = english_links = None
    if english is not None:
        english_pairs = read_flickr_captions(english, split if str(english).endswith((".json", ".json.gz"))
                                             else None)
        english_texts, english_links = attach_english(keys, english_pairs, str(english))
        source["english"] = Path(english)
    label = name or f"{captions_path.name.split('.')[0]}-{split or 'all'}-{lang}"
    result = RetrievalSet(name=label, lang=lang, image_paths=[resolve(image_dir, k) for k in keys],
                          captions=texts, caption_to_image=links, english=english_texts,
                          english_to_image=english_links, source=source)
    return finish(result, check_images)
