"""Languages as data: languages.tsv defaults, the per-language resource files (Turkish moved, Hindi by hand),
the one-line error for a missing language, and adding a language by files alone."""
from __future__ import annotations

import shutil
import unicodedata

import pytest

from turkish_clip.errors import InputError
from turkish_clip import languages
from turkish_clip.languages import (class_names, demo_captions, demo_labels, english_templates, language, names_for,
                                    templates)
from tests.conftest import REPO

CIFAR10_EN = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
RESOURCES = ("templates.tsv", "cifar10.tsv", "cifar100.tsv", "demo_labels.tsv", "demo_captions.tsv")


def devanagari(text: str) -> bool:
    return any("\u0900" <= ch <= "\u097f" for ch in text)


def test_defaults_per_language():
    assert languages.available() == ["tr", "hi"]
    tr, hi = language("tr"), language("hi")
    assert (tr.name, tr.translation_model, tr.student_model) == (
        "Turkish", "Helsinki-NLP/opus-mt-tc-big-en-tr", "dbmdz/distilbert-base-turkish-cased")
    assert (hi.name, hi.translation_model, hi.student_model) == (
        "Hindi", "Helsinki-NLP/opus-mt-en-hi", "l3cube-pune/hindi-bert-v2")
    assert language(None) == tr and language(" HI ") == hi


def test_missing_language_is_one_line_listing_the_available_ones():
    with pytest.raises(InputError) as caught:
        language("de")
    message = str(caught.value)
    assert "\n" not in message and "language 'de' is not available; use one of tr, hi (--lang)" in message
    assert "languages.tsv" in message  # and how to add it
    for call in (lambda: templates("de"), lambda: class_names("cifar10", "de"), lambda: demo_labels("xx")):
        with pytest.raises(InputError, match="use one of tr, hi"):
            call()


@pytest.mark.parametrize("code", ["tr", "hi"])
def test_every_language_ships_every_resource_in_nfc(code):
    for name in RESOURCES:
        text = (language(code).folder / name).read_text(encoding="utf-8")
        assert unicodedata.normalize("NFC", text) == text, f"{code}/{name} is not NFC"
    assert class_names("cifar10", "en") == CIFAR10_EN
    en100 = class_names("cifar100", "en")
    for dataset, n in (("cifar10", 10), ("cifar100", 100)):
        names = class_names(dataset, code)
        assert len(names) == len(set(names)) == n and all(name == name.strip() for name in names)
        # the English pivot column is CIFAR's canonical order in every language's file
        rows = languages.read_pairs(language(code).folder / f"{dataset}.tsv", code)
        assert [r["en"].replace("_", " ") for r in rows] == (CIFAR10_EN if n == 10 else en100)
    assert all(t.count("{}") == 1 for t in templates(code) + english_templates(code))
    assert len(templates(code)) == len(english_templates(code)) >= 12
    assert [image for image, _, _ in demo_captions(code)] == [image for image, _, _ in demo_captions("tr")]
    assert all((REPO / "demo" / "images" / image).is_file() for image, _, _ in demo_captions(code))
    assert len(demo_labels(code)) == 6


def test_turkish_resources_moved_unchanged():
    assert templates("tr")[0] == "bir {} fotoğrafı." and len(templates("tr")) == 16
    assert templates("en") == english_templates("tr") and templates("en")[0] == "a photo of a {}."
    assert demo_labels("tr") == ["kedi", "kahve fincanı", "roket", "astronot", "fotoğrafçı", "galaksiler"]
    assert demo_captions("tr")[2] == ("cat.jpg", "Kameraya bakan tekir bir kedi.", "A tabby cat looking at the camera.")


def test_hindi_resources_are_devanagari_written_by_hand_and_flagged_for_review():
    for name in RESOURCES:
        header = (language("hi").folder / name).read_text(encoding="utf-8").split("\nen\t")[0].split("\nimage\t")[0]
        assert "Written by hand" in header and "not machine-translated" in header and "native Hindi speaker" in header
    texts = class_names("cifar100", "hi") + class_names("cifar10", "hi") + demo_labels("hi") + templates("hi")
    assert all(devanagari(text) for text in texts + [c for _, c, _ in demo_captions("hi")])
    assert names_for(["dog", "Horse", "truck"], "cifar10", "hi") == ["कुत्ता", "घोड़ा", "ट्रक"]
    assert names_for(["aquarium_fish", "worm"], "cifar100", "hi") == ["एक्वेरियम मछली", "केंचुआ"]
    assert templates("hi")[0] == "तस्वीर में एक {} है।" and english_templates("hi")[0] == "a photo of a {}."
    # combining marks survive reading: virama (U+094D) in "बिल्ली", nukta (U+093C) in "ज़" of "हवाई जहाज़"
    assert "\u094d" in class_names("cifar10", "hi")[3] and "\u093c" in class_names("cifar10", "hi")[0]


def test_adding_a_language_is_a_line_and_a_folder(tmp_path, monkeypatch):
    """A new language (here a copy of Turkish under code 'xx') needs no code: a languages.tsv line and files."""
    shutil.copytree(languages.LANGUAGES_DIR, tmp_path, dirs_exist_ok=True, ignore=shutil.ignore_patterns("*.py*"))
    shutil.copytree(languages.LANGUAGES_DIR / "tr", tmp_path / "xx", ignore=shutil.ignore_patterns("*.py*"))
    for path in (tmp_path / "xx").iterdir():
        text = path.read_text(encoding="utf-8").replace("en\ttr\n", "en\txx\n").replace("image\ten\ttr\n", "image\ten\txx\n")
        path.write_text(text, encoding="utf-8")
    defaults = (languages.DEFAULTS_FILE.read_text(encoding="utf-8")
                + "xx\tExample\tsome/opus-mt-en-xx\tsome/bert-xx\tabc\n")
    (tmp_path / "languages.tsv").write_text(defaults, encoding="utf-8")
    monkeypatch.setattr(languages, "DEFAULTS_FILE", tmp_path / "languages.tsv")
    assert languages.available() == ["tr", "hi", "xx"]
    assert templates("xx") == templates("tr") and class_names("cifar100", "xx") == class_names("cifar100", "tr")
    from data_tools.pipeline import TranslateConfig
    from distill.config import TrainConfig

    assert TranslateConfig(target_lang="xx").model == "some/opus-mt-en-xx"
    config = TrainConfig(lang="xx")
    assert (config.model, config.text_column) == ("some/bert-xx", "xx")
    (tmp_path / "xx" / "cifar10.tsv").unlink()
    with pytest.raises(InputError, match=r"language 'xx' \(Example\) has no cifar10.tsv"):
        class_names("cifar10", "xx")


def test_malformed_defaults_line_is_named(tmp_path, monkeypatch):
    (tmp_path / "languages.tsv").write_text("code\tname\ttranslation_model\tstudent_model\tprobe\nxx\tX\n",
                                            encoding="utf-8")
    monkeypatch.setattr(languages, "DEFAULTS_FILE", tmp_path / "languages.tsv")
    with pytest.raises(InputError, match=r"languages.tsv: line 2: expected 5 non-empty"):
        language("xx")
