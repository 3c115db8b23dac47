"""Shipped class names (CIFAR-10, CIFAR-100) and prompt templates in English and Turkish, and their readers.

Each file is a TSV with '#' comment lines, a header `en<TAB>tr` and one row per class (in label order) or template.
"""
from __future__ import annotations

from pathlib import Path

from data_tools.captions import read_text
from data_tools.errors import InputError

LABELS_DIR = Path(__file__).resolve().parent
DATASETS = {"cifar10": "cifar10.tsv", "cifar100": "cifar100.tsv"}
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


def _check_lang(lang: str) -> None:
    if lang not in LANGS:
        raise InputError(f"language {lang!r} has no shipped labels; use one of {', '.join(LANGS)}")


def class_names(dataset: str = "cifar100", lang: str = "tr") -> list[str]:
    """Class names in label order. English names get spaces for underscores ("aquarium_fish" → "aquarium fish")."""
    _check_lang(lang)
    if dataset not in DATASETS:
        raise InputError(f"no shipped class names for {dataset!r}; use one of {', '.join(DATASETS)} "
                         "or pass your own class names")
    rows = read_pairs(LABELS_DIR / DATASETS[dataset])
    return [row[lang].replace("_", " ") for row in rows]


def templates(lang: str = "tr") -> list[str]:
    """CLIP-style prompt templates with one '{}' slot for the class name."""
    _check_lang(lang)
    return [row[lang] for row in read_pairs(LABELS_DIR / "templates.tsv")]


def fill_templates(names: list[str], template_list: list[str]) -> list[list[str]]:
    """Prompts [n_classes][n_templates]: every template filled with every class name."""
    bad = [t for t in template_list if t.count("{}") != 1]
    if bad:
        raise InputError(f"template {bad[0]!r} must contain exactly one '{{}}' for the class name")
    return [[template.replace("{}", name) for template in template_list] for name in names]


def names_for(keys: list[str], dataset: str = "cifar100", lang: str = "tr") -> list[str]:
    """Names in `lang` for class keys given by their English names ("aquarium_fish", "Aquarium fish", …)."""
    def norm(text: str) -> str:
        return text.replace("_", " ").strip().lower()

    table = dict(zip((norm(n) for n in class_names(dataset, "en")), class_names(dataset, lang)))
    unknown = [k for k in keys if norm(k) not in table]
    if unknown:
        raise InputError(f"class {unknown[0]!r} is not a {dataset} class name; use the English {dataset} names "
                         "or pass your own class names")
    return [table[norm(k)] for k in keys]
