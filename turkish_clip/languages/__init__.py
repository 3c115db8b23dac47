"""Languages as data: per-language defaults (languages.tsv) and resources (one folder per ISO code).

Every tool takes `--lang CODE` (default "tr"). The code picks, from `languages.tsv`, the default translation model
(`python -m data_tools translate`), the default student encoder (`python -m distill train`) and the tokenizer probe;
from the folder `<code>/`, the zero-shot prompt templates, the CIFAR-10/100 class names, the demo labels and the
demo captions. Adding a language = a line in languages.tsv + a folder with the same five files (README, "Other
languages"). Resource files are TSVs with '#' comment lines and a header naming the columns `en` and `<code>`:
the English column is the pivot (CIFAR's own names, the matching English templates for the upper bound).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from turkish_clip.errors import InputError

LANGUAGES_DIR = Path(__file__).resolve().parent
DEFAULTS_FILE = LANGUAGES_DIR / "languages.tsv"
DEFAULT_LANG = "tr"
ENGLISH = "en"  # the teacher's language: the `en` column of every resource file
DATASETS = {"cifar10": "cifar10.tsv", "cifar100": "cifar100.tsv"}
TEMPLATES_FILE = "templates.tsv"
DEMO_LABELS_FILE = "demo_labels.tsv"
DEMO_CAPTIONS_FILE = "demo_captions.tsv"
DEFAULT_COLUMNS = ("code", "name", "translation_model", "student_model", "probe")


@dataclass(frozen=True)
class Language:
    """One line of languages.tsv: what `--lang code` chooses."""

    code: str  # ISO 639-1, also the translations column and the Crossmodal-3600 language key
    name: str  # English name, used in report rows ("Student on Hindi")
    translation_model: str  # default English -> language MT model (opus-mt)
    student_model: str  # default student encoder (a BERT-family model with this language in its vocabulary)
    probe: str  # letters the student tokenizer must keep intact (case, dotless i, combining marks)

    @property
    def folder(self) -> Path:
        return DEFAULTS_FILE.parent / self.code


def _rows(path: Path) -> list[tuple[int, list[str]]]:
    """(line number, tab-separated cells) of the non-blank, non-comment lines of a UTF-8 file."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise InputError(f"{path}: file not found") from None
    except UnicodeDecodeError as error:
        raise InputError(f"{path}: not valid UTF-8 at byte {error.start}; re-save it as UTF-8") from None
    return [(n, [cell.strip() for cell in line.split("\t")]) for n, line in enumerate(text.splitlines(), start=1)
            if line.strip() and not line.startswith("#")]


def _languages() -> dict[str, Language]:
    return _read_defaults(DEFAULTS_FILE)


@lru_cache(maxsize=None)
def _read_defaults(path: Path) -> dict[str, Language]:
    rows = _rows(path)
    if not rows or tuple(rows[0][1]) != DEFAULT_COLUMNS:
        raise InputError(f"{path}: line {rows[0][0] if rows else 1}: header must be "
                         f"{chr(9).join(DEFAULT_COLUMNS)!r} (tab-separated)")
    table: dict[str, Language] = {}
    for lineno, cells in rows[1:]:
        if len(cells) != len(DEFAULT_COLUMNS) or not all(cells):
            raise InputError(f"{path}: line {lineno}: expected {len(DEFAULT_COLUMNS)} non-empty tab-separated values "
                             f"({', '.join(DEFAULT_COLUMNS)}); fix the line")
        table[cells[0]] = Language(*cells)
    return table


def available() -> list[str]:
    """The language codes with shipped defaults and resources, in languages.tsv order."""
    return list(_languages())


def language(code: str | None = None) -> Language:
    """The `Language` of an ISO code (None: the default "tr"); an unknown code lists the available ones in one line."""
    code = DEFAULT_LANG if code is None else str(code).strip().lower()
    table = _languages()
    if code not in table:
        raise InputError(f"language {code!r} is not available; use one of {', '.join(table)} (--lang), or add it: a "
                         f"line in {DEFAULTS_FILE} and a folder {DEFAULTS_FILE.parent / code}/ with its templates "
                         f"and class names (README, 'Other languages')")
    return table[code]


def read_pairs(path: Path | str, lang: str | None = None) -> list[dict[str, str]]:
    """Rows of a resource TSV as dicts; blank and '#' lines skipped; a wrong column count names the line.

    The header must name the columns `en` and `lang` (default: whatever second column the file has).
    """
    path = Path(path)
    rows = _rows(path)
    if not rows:
        raise InputError(f"{path}: no rows found; expected a header 'en<TAB>{lang or 'xx'}' and one row per entry")
    lineno, header = rows[0]
    if ENGLISH not in header or (lang is not None and lang not in header) or len(header) < 2:
        raise InputError(f"{path}: line {lineno}: header must name the columns 'en' and '{lang or 'xx'}' "
                         f"(tab-separated), found {chr(9).join(header)[:60]!r}")
    out: list[dict[str, str]] = []
    for lineno, cells in rows[1:]:
        if len(cells) != len(header) or not all(cells):
            raise InputError(f"{path}: line {lineno}: expected {len(header)} non-empty tab-separated values "
                             f"({', '.join(header)}), found {chr(9).join(cells)[:60]!r}; fix the line")
        out.append(dict(zip(header, cells)))
    if not out:
        raise InputError(f"{path}: no rows found; expected a header 'en<TAB>{lang or 'xx'}' and one row per entry")
    return out


def resource(lang: str | None, name: str) -> Path:
    """Path of a language's resource file; a missing one says which file the language folder lacks."""
    info = language(lang)
    path = info.folder / name
    if not path.is_file():
        raise InputError(f"language {info.code!r} ({info.name}) has no {name} in {info.folder}; add the file "
                         f"(README, 'Other languages')")
    return path


def _column(lang: str | None, name: str) -> list[str]:
    """One column of a resource: `lang`'s own, or "en" = the English pivot column of the default language's file."""
    if lang == ENGLISH:
        return [row[ENGLISH] for row in read_pairs(resource(DEFAULT_LANG, name))]
    code = language(lang).code
    return [row[code] for row in read_pairs(resource(code, name), code)]


def templates(lang: str | None = DEFAULT_LANG) -> list[str]:
    """CLIP-style prompt templates with one '{}' slot for the class name ("en": the English ones)."""
    return _column(lang, TEMPLATES_FILE)


def english_templates(lang: str | None = DEFAULT_LANG) -> list[str]:
    """The English templates paired with `lang`'s (the upper-bound row uses the same prompts in English)."""
    code = language(lang).code
    return [row[ENGLISH] for row in read_pairs(resource(code, TEMPLATES_FILE), code)]


def class_names(dataset: str = "cifar100", lang: str | None = DEFAULT_LANG) -> list[str]:
    """Class names in label order. English names get spaces for underscores ("aquarium_fish" → "aquarium fish")."""
    if dataset not in DATASETS:
        raise InputError(f"no shipped class names for {dataset!r}; use one of {', '.join(DATASETS)} "
                         "or pass your own class names")
    if lang != ENGLISH:
        language(lang)  # an unknown language says so before an unknown file would
    return [name.replace("_", " ") for name in _column(lang, DATASETS[dataset])]


def names_for(keys: list[str], dataset: str = "cifar100", lang: str | None = DEFAULT_LANG) -> list[str]:
    """Names in `lang` for class keys given by their English names ("aquarium_fish", "Aquarium fish", …)."""
    def norm(text: str) -> str:
        return text.replace("_", " ").strip().lower()

    if dataset not in DATASETS:
        class_names(dataset)  # the one-line "no shipped class names" error
    code = DEFAULT_LANG if lang == ENGLISH else language(lang).code
    rows = read_pairs(resource(code, DATASETS[dataset]), code)
    column = ENGLISH if lang == ENGLISH else code
    table = {norm(row[ENGLISH]): row[column].replace("_", " ") for row in rows}
    unknown = [k for k in keys if norm(k) not in table]
    if unknown:
        raise InputError(f"class {unknown[0]!r} is not a {dataset} class name; use the English {dataset} names "
                         "or pass your own class names")
    return [table[norm(k)] for k in keys]


def fill_templates(names: list[str], template_list: list[str]) -> list[list[str]]:
    """Prompts [n_classes][n_templates]: every template filled with every class name."""
    bad = [t for t in template_list if t.count("{}") != 1]
    if bad:
        raise InputError(f"template {bad[0]!r} must contain exactly one '{{}}' for the class name")
    return [[template.replace("{}", name) for template in template_list] for name in names]


def demo_labels(lang: str | None = DEFAULT_LANG) -> list[str]:
    """The labels `python inference.py` (no command) classifies the demo photos with."""
    return _column(lang, DEMO_LABELS_FILE)


def demo_captions(lang: str | None = DEFAULT_LANG) -> list[tuple[str, str, str]]:
    """(image file in demo/images, caption in `lang`, English caption): two hand-written captions per demo photo."""
    code = language(lang).code
    rows = read_pairs(resource(code, DEMO_CAPTIONS_FILE), code)
    missing = [row for row in rows if "image" not in row]
    if missing:
        raise InputError(f"{resource(code, DEMO_CAPTIONS_FILE)}: header must name the columns image, en and {code}")
    return [(row["image"], row[code], row[ENGLISH]) for row in rows]


def sample_texts(lang: str | None = DEFAULT_LANG) -> list[str]:
    """Every shipped text of a language (prompts filled with the class names, demo labels and captions): enough
    to train the vocabularies of tiny test models that read and write it (smoke run, tests)."""
    names = class_names("cifar10", lang) + class_names("cifar100", lang) + demo_labels(lang)
    prompts = [text for row in fill_templates(names, templates(lang)) for text in row]
    return prompts + names + [caption for _, caption, _ in demo_captions(lang)] + [language(lang).probe]
