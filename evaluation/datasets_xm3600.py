"""Crossmodal-3600 (google.github.io/crossmodal-3600): 3,600 images with captions in 36 languages.

captions.jsonl holds one JSON object per image: "image/key" (the image is <key>.jpg in the image folder) and per
language code an object whose "caption" is a list of captions (also "caption/tokenized", not used here).
"""
from __future__ import annotations

import json
import logging
from pathlib import Path

from turkish_clip.errors import InputError
from evaluation.datasets import RetrievalSet, caption_or_error, finish, group_by_image, numbered_lines, resolve

log = logging.getLogger(__name__)

KEY = "image/key"


def _captions_of(path: Path, lineno: int, record: dict, lang: str) -> list[str]:
    entry = record.get(lang)
    if not isinstance(entry, dict) or not isinstance(entry.get("caption"), list):
        raise InputError(f"{path}: line {lineno} (image {record[KEY]}): no '{lang}' object with a 'caption' list; "
                         "check the language code (Crossmodal-3600 uses e.g. 'tr', 'en')")
    texts = []
    for caption in entry["caption"]:
        if not isinstance(caption, str):
            raise InputError(f"{path}: line {lineno} (image {record[KEY]}): a '{lang}' caption is "
                             f"{type(caption).__name__}, not text; fix the line")
        texts.append(caption_or_error(path, lineno, caption))
    return texts


def load_crossmodal3600(captions_jsonl: Path | str, image_dir: Path | str, lang: str = "tr",
                        check_images: bool = True) -> RetrievalSet:
    """All `lang` captions of every image (1-2 each); the English captions too when lang is not English."""
    path = Path(captions_jsonl)
    pairs, english_pairs = [], []
    for lineno, line in numbered_lines(path):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as e:
            raise InputError(f"{path}: line {lineno}: malformed JSON ({e.msg}, column {e.colno}); fix the line"
                             ) from None
        if not isinstance(record, dict) or not isinstance(record.get(KEY), str) or not record[KEY]:
            raise InputError(f"{path}: line {lineno}: no '{KEY}' string; expected Crossmodal-3600 captions.jsonl")
        pairs += [(record[KEY], text) for text in _captions_of(path, lineno, record, lang)]
        if lang != "en":
            english_pairs += [(record[KEY], text) for text in _captions_of(path, lineno, record, "en")]
    keys, captions, links = group_by_image(pairs)
    index = {key: i for i, key in enumerate(keys)}
    missing_lang = len({key for key, _ in english_pairs} - set(index)) if english_pairs else 0
    if missing_lang:
        log.warning("%s: %d images have no '%s' caption and are left out", path, missing_lang, lang)
    english = [text for key, text in english_pairs if key in index] if lang != "en" else None
    english_links = [index[key] for key, _ in english_pairs if key in index] if lang != "en" else None
    result = RetrievalSet(name=f"xm3600-{lang}", lang=lang,
                          image_paths=[resolve(image_dir, f"{key}.jpg") for key in keys], captions=captions,
                          caption_to_image=links, english=english, english_to_image=english_links,
                          source={"captions": path})
    return finish(result, check_images)
