"""Flickr8k / TasvirEt loader: Karpathy-style JSON and token files, in their real formats."""
from __future__ import annotations

import json

import pytest

from turkish_clip.errors import InputError
from evaluation.datasets_flickr import load_flickr, read_token_file
from tests.evaluation.test_datasets import touch_images


def karpathy_flickr(path, sentences_by_image):
    images = [{"filename": name, "imgid": i, "split": split,
               "sentences": [{"raw": raw, "tokens": raw.lower().split(), "imgid": i, "sentid": 10 * i + j}
                             for j, raw in enumerate(raws)]}
              for i, (name, split, raws) in enumerate(sentences_by_image)]
    path.write_text(json.dumps({"images": images, "dataset": "flickr8k"}), encoding="utf-8")
    return path


def test_karpathy_json_test_split_with_english_token_file(tmp_path):
    touch_images(tmp_path / "Flicker8k_Dataset", ["1_a.jpg", "3_c.jpg"])
    tasviret = karpathy_flickr(tmp_path / "tasviret.json", [
        ("1_a.jpg", "test", ["Bir köpek koşuyor.", "Çimlerde köpek."]),
        ("2_b.jpg", "train", ["Bir çocuk."]),
        ("3_c.jpg", "test", ["Deniz kenarında iki kişi."]),
    ])
    english = tmp_path / "Flickr8k.token.txt"
    english.write_text("1_a.jpg#0\tA dog runs .\n1_a.jpg#1\tA dog on grass .\n2_b.jpg#0\tA child .\n"
                       "3_c.jpg#0\tTwo people by the sea .\n", encoding="utf-8")
    result = load_flickr(tasviret, tmp_path / "Flicker8k_Dataset", english=english, name="tasviret")
    assert result.name == "tasviret" and result.lang == "tr"
    assert result.captions == ["Bir köpek koşuyor.", "Çimlerde köpek.", "Deniz kenarında iki kişi."]
    assert result.caption_to_image == [0, 0, 1]
    folder = tmp_path / "Flicker8k_Dataset"
    assert result.image_paths == [folder / "1_a.jpg", folder / "3_c.jpg"]
    assert result.english == ["A dog runs .", "A dog on grass .", "Two people by the sea ."]
    assert result.english_to_image == [0, 0, 1] and not result.english_aligned
    with pytest.raises(ValueError, match="not aligned"):
        result.parallel_pairs()  # Flickr's English captions are other sentences, not translations


def test_token_file_with_split_list(tmp_path):
    token = tmp_path / "tasviret.token.txt"
    token.write_text("1_a.jpg#0\tBir köpek.\n2_b.jpg#0\tBir çocuk.\n2_b.jpg#1\tKoşan çocuk.\n", encoding="utf-8")
    split = tmp_path / "Flickr_8k.testImages.txt"
    split.write_text("2_b.jpg\n", encoding="utf-8")
    result = load_flickr(token, tmp_path, split_file=split, check_images=False)
    assert result.captions == ["Bir çocuk.", "Koşan çocuk."] and result.caption_to_image == [0, 0]
    assert result.image_paths == [tmp_path / "2_b.jpg"]
    assert load_flickr(token, tmp_path, check_images=False).n_images == 2  # no split list: every image


def test_malformed_token_file_names_file_and_line(tmp_path):
    token = tmp_path / "captions.txt"
    token.write_text("1_a.jpg#0\tBir köpek.\n1_a.jpg Bir köpek.\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"captions\.txt: line 2: expected '<image file>#<n><TAB><caption>'"):
        read_token_file(token)
    token.write_text("1_a.jpg#0\tBir köpek.\n\n1_a.jpg#1\t \n", encoding="utf-8")
    with pytest.raises(InputError, match=r"captions\.txt: line 3: empty caption"):
        load_flickr(token, tmp_path, check_images=False)


def test_empty_split_is_an_error(tmp_path):
    data = karpathy_flickr(tmp_path / "dataset_flickr8k.json", [("1_a.jpg", "train", ["A dog."])])
    with pytest.raises(InputError, match=r"no captions found in .*dataset_flickr8k\.json"):
        load_flickr(data, tmp_path, check_images=False)
