"""The shipped prompt templates and their reader: well-formed, in both languages, bad lines named."""
from __future__ import annotations

import pytest

from inference_api.prompts import fill_templates, read_pairs, templates
from turkish_clip.errors import InputError


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


def test_unknown_language():
    with pytest.raises(InputError, match="en, tr"):
        templates("de")


def test_malformed_label_file_names_file_and_line(tmp_path):
    path = tmp_path / "labels.tsv"
    path.write_text("# comment\nen\ttr\napple\telma\nbanana\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"labels\.tsv: line 4: expected 2"):
        read_pairs(path)
    path.write_text("english\tturkish\napple\telma\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"labels\.tsv: line 1: header"):
        read_pairs(path)
