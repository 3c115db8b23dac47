"""The shipped CLIP-style prompt templates and their reader: the prompt ensemble that `inference.py classify` and
`python -m evaluation zero-shot` both use.

The templates are per-language data files (turkish_clip/languages/<code>/templates.tsv, columns `en` and the
language code, one '{}' slot each); this module keeps the names the inference layer uses.
"""
from __future__ import annotations

from turkish_clip.languages import DEFAULT_LANG, TEMPLATES_FILE, LANGUAGES_DIR, fill_templates, read_pairs, \
    templates  # noqa: F401

TEMPLATES_TSV = LANGUAGES_DIR / DEFAULT_LANG / TEMPLATES_FILE  # the Turkish (default) templates
