"""Shipped class names (CIFAR-10, CIFAR-100) in English and Turkish (the prompt templates are in inference_api.prompts).

Each file is a TSV with '#' comment lines, a header `en<TAB>tr` and one row per class (in label order) or template.
"""
from __future__ import annotations

from pathlib import Path

from inference_api.prompts import check_lang, read_pairs
from turkish_clip.errors import InputError

LABELS_DIR = Path(__file__).resolve().parent
DATASETS = {"cifar10": "cifar10.tsv", "cifar100": "cifar100.tsv"}


def class_names(dataset: str = "cifar100", lang: str = "tr") -> list[str]:
    """Class names in label order. English names get spaces for underscores ("aquarium_fish" → "aquarium fish")."""
    check_lang(lang)
    if dataset not in DATASETS:
        raise InputError(f"no shipped class names for {dataset!r}; use one of {', '.join(DATASETS)} "
                         "or pass your own class names")
    rows = read_pairs(LABELS_DIR / DATASETS[dataset])
    return [row[lang].replace("_", " ") for row in rows]


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
