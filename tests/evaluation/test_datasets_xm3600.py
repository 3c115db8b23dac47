"""Crossmodal-3600 loader on a small captions.jsonl in the real format."""
from __future__ import annotations

import json

import pytest

from turkish_clip.errors import InputError
from evaluation.datasets_xm3600 import load_crossmodal3600
from tests.evaluation.test_datasets import touch_images


def record(key, tr, en):
    return {"image/key": key, "image/locale": "tr",
            "tr": {"caption": tr, "caption/tokenized": [t.lower() for t in tr]},
            "en": {"caption": en, "caption/tokenized": [t.lower() for t in en]}}


def write_jsonl(path, records):
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return path


def test_all_captions_of_each_image_and_english(tmp_path):
    touch_images(tmp_path / "images", ["000411001ff7dd4f.jpg", "00ff10ab.jpg"])
    path = write_jsonl(tmp_path / "captions.jsonl", [
        record("000411001ff7dd4f", ["Çimenlerde bir köpek", "Koşan köpek"], ["A dog on the grass"]),
        record("00ff10ab", ["Kırmızı bir araba"], ["A red car", "A parked car"]),
    ])
    result = load_crossmodal3600(path, tmp_path / "images")
    assert result.captions == ["Çimenlerde bir köpek", "Koşan köpek", "Kırmızı bir araba"]
    assert result.caption_to_image == [0, 0, 1]
    assert result.image_paths == [tmp_path / "images" / "000411001ff7dd4f.jpg", tmp_path / "images" / "00ff10ab.jpg"]
    assert result.english == ["A dog on the grass", "A red car", "A parked car"]
    assert result.english_to_image == [0, 1, 1] and result.name == "xm3600-tr"
    english_only = load_crossmodal3600(path, tmp_path / "images", lang="en")
    assert english_only.english is None and english_only.n_captions == 3


def test_malformed_lines_name_file_and_line(tmp_path):
    good = json.dumps(record("a1", ["bir"], ["one"]))
    path = tmp_path / "captions.jsonl"
    path.write_text(good + "\n{not json\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"captions\.jsonl: line 2: malformed JSON"):
        load_crossmodal3600(path, tmp_path, check_images=False)
    path.write_text(good + "\n" + json.dumps({"image/key": "b2", "en": {"caption": ["x"]}}) + "\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"captions\.jsonl: line 2 \(image b2\): no 'tr' object"):
        load_crossmodal3600(path, tmp_path, check_images=False)
    path.write_text(json.dumps({"key": "c3"}) + "\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"captions\.jsonl: line 1: no 'image/key'"):
        load_crossmodal3600(path, tmp_path, check_images=False)
