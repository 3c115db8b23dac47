"""Shipped class names and prompt templates: the readers of `turkish_clip.languages`, kept under this name.

The files moved to turkish_clip/languages/<code>/ (one folder per language); `lang` is an ISO code with shipped
resources ("tr", "hi", ...) or "en" for the English pivot column.
"""
from __future__ import annotations

from turkish_clip.languages import (DATASETS, class_names, english_templates, fill_templates, names_for,  # noqa: F401
                                    read_pairs, templates)
