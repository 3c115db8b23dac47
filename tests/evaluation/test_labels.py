"""The shipped label lists and templates: complete, unique, in canonical order, and well-formed."""
from __future__ import annotations

import pytest

from data_tools.errors import InputError
from evaluation.labels import class_names, fill_templates, read_pairs, templates

CIFAR10_EN = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def test_cifar10_names_in_canonical_order():
    assert class_names("cifar10", "en") == CIFAR10_EN
    tr = class_names("cifar10", "tr")
    assert len(tr) == 10 and len(set(tr)) == 10
    assert tr[:4] == ["uçak", "otomobil", "kuş", "kedi"] and tr[-1] == "kamyon"


def test_cifar100_has_100_unique_names_in_canonical_order():
    en, tr = class_names("cifar100", "en"), class_names("cifar100", "tr")
    assert len(en) == len(tr) == 100
    assert len(set(en)) == len(set(tr)) == 100
    assert en == sorted(en)  # CIFAR-100 fine labels are numbered in alphabetical order of their English names
    assert en[0] == "apple" and en[1] == "aquarium fish" and en[99] == "worm"
    assert (tr[0], tr[1], tr[62], tr[97]) == ("elma", "akvaryum balığı", "gelincik çiçeği", "kurt")
    assert tr[99] == "solucan"
    assert all(name == name.strip() and "_" not in name for name in tr)


def test_templates_have_one_slot_and_match_in_both_languages():
    tr, en = templates("tr"), templates("en")
    assert len(tr) == len(en) >= 12
    assert all(t.count("{}") == 1 for t in tr + en)
    assert tr[0] == "bir {} fotoğrafı." and en[0] == "a photo of a {}."
    assert len(set(tr)) == len(tr)


def test_fill_templates_shape_and_text():
    prompts = fill_templates(["kedi", "köpek"], ["bir {} fotoğrafı.", "bu bir {}."])
    assert prompts == [["bir kedi fotoğrafı.", "bu bir kedi."], ["bir köpek fotoğrafı.", "bu bir köpek."]]
    with pytest.raises(InputError, match="exactly one"):
        fill_templates(["kedi"], ["no slot"])


def test_unknown_dataset_or_language():
    with pytest.raises(InputError, match="cifar10, cifar100"):
        class_names("imagenet")
    with pytest.raises(InputError, match=r"language .de. is not available; use one of tr, hi"):
        templates("de")


def test_malformed_label_file_names_file_and_line(tmp_path):
    path = tmp_path / "labels.tsv"
    path.write_text("# comment\nen\ttr\napple\telma\nbanana\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"labels\.tsv: line 4: expected 2"):
        read_pairs(path)
    path.write_text("english\tturkish\napple\telma\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"labels\.tsv: line 1: header"):
        read_pairs(path)
