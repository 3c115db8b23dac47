"""The shipped CLIP-style prompt templates (templates.tsv, English and Turkish) and their reader: the prompt
ensemble that `inference.py classify` and `python -m evaluation zero-shot` both use.

The TSV has '#' comment lines, a header `en<TAB>tr` and one row per template, each with one '{}' slot.
"""
from __future__ import annotations

from pathlib import Path

from data_tools.captions import read_text
from turkish_clip.errors import InputError

TEMPLATES_TSV = Path(__file__).resolve().parent / "templates.tsv"
LANGS = ("en", "tr")


def read_pairs(path: Path | str) -> list[dict[str, str]]:
    """Rows of an en/tr TSV as dicts; blank and '#' lines skipped; a wrong column count names the line."""
    path = Path(path)
    rows: list[dict[str, str]] = []
    header: list[str] | None = None
    for lineno, line in enumerate(read_text(path).splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        cells = [cell.strip() for cell in line.split("\t")]
        if header is None:
            header = cells
            if any(lang not in header for lang in LANGS):
                raise InputError(f"{path}: line {lineno}: header must name the columns 'en' and 'tr' "
                                 f"(tab-separated), found {line[:60]!r}")
            continue
        if len(cells) != len(header) or not all(cells):
            raise InputError(f"{path}: line {lineno}: expected {len(header)} non-empty tab-separated values "
                             f"({', '.join(header)}), found {line[:60]!r}; fix the line")
        rows.append(dict(zip(header, cells)))
    if not rows:
        raise InputError(f"{path}: no rows found; expected a header 'en<TAB>tr' and one row per entry")
    return rows


def check_lang(lang: str) -> None:
    if lang not in LANGS:
        raise InputError(f"language {lang!r} has no shipped labels; use one of {', '.join(LANGS)}")


def templates(lang: str = "tr") -> list[str]:
    """CLIP-style prompt templates with one '{}' slot for the class name."""
    check_lang(lang)
    return [row[lang] for row in read_pairs(TEMPLATES_TSV)]


def fill_templates(names: list[str], template_list: list[str]) -> list[list[str]]:
    """Prompts [n_classes][n_templates]: every template filled with every class name."""
    bad = [t for t in template_list if t.count("{}") != 1]
    if bad:
        raise InputError(f"template {bad[0]!r} must contain exactly one '{{}}' for the class name")
    return [[template.replace("{}", name) for template in template_list] for name in names]
