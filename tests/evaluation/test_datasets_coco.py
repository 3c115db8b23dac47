"""XTD10 and COCO Karpathy loaders on small files in their real formats."""
from __future__ import annotations

import json

import pytest

from turkish_clip.errors import InputError
from evaluation.datasets_coco import load_coco_karpathy, load_xtd10
from tests.evaluation.test_datasets import touch_images

NAMES = ["COCO_train2014_000000061844.jpg", "COCO_val2014_000000000042.jpg", "COCO_train2014_000000000007.jpg"]


def write_xtd10(folder, tr=("bir kedi", "iki köpek", "bir araba"), en=("a cat", "two dogs", "a car")):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "test_image_names.txt").write_text("\n".join(NAMES) + "\n", encoding="utf-8")
    (folder / "test_1kcaptions_tr.txt").write_text("\n".join(tr) + "\n", encoding="utf-8")
    if en:
        (folder / "test_1kcaptions_en.txt").write_text("\n".join(en) + "\n", encoding="utf-8")
    return folder


def test_xtd10_line_i_describes_image_i_and_images_found_in_split_or_2017_folders(tmp_path):
    folder = write_xtd10(tmp_path / "XTD10")
    images = tmp_path / "coco"
    touch_images(images, [f"train2014/{NAMES[0]}", NAMES[1], "val2017/000000000007.jpg"])
    result = load_xtd10(folder, images)
    assert result.image_paths == [images / "train2014" / NAMES[0], images / NAMES[1],
                                  images / "val2017" / "000000000007.jpg"]
    assert result.captions == ["bir kedi", "iki köpek", "bir araba"] and result.caption_to_image == [0, 1, 2]
    assert result.english == ["a cat", "two dogs", "a car"] and result.english_aligned
    assert result.name == "xtd10-tr" and result.lang == "tr"
    assert result.image_ids == [int(n.rsplit("_", 1)[1].split(".")[0]) for n in NAMES]  # to check training overlap


def test_xtd10_without_english_file(tmp_path):
    folder = write_xtd10(tmp_path / "XTD10", en=())
    result = load_xtd10(folder, tmp_path, check_images=False)
    assert result.english is None and not result.english_aligned


def test_xtd10_errors(tmp_path):
    folder = write_xtd10(tmp_path / "XTD10", tr=("bir kedi", "iki köpek"))
    with pytest.raises(InputError, match=r"test_1kcaptions_tr\.txt: 2 captions but .*test_image_names\.txt "
                                         r"lists 3 images"):
        load_xtd10(folder, tmp_path, check_images=False)
    write_xtd10(folder, tr=("bir kedi", "", "bir araba"))
    with pytest.raises(InputError, match=r"test_1kcaptions_tr\.txt: line 2: empty caption"):
        load_xtd10(folder, tmp_path, check_images=False)
    write_xtd10(folder)
    with pytest.raises(InputError, match=r"xtd10-tr: 3 of 3 images are missing"):
        load_xtd10(folder, tmp_path)
    with pytest.raises(InputError, match=r"test_1kcaptions_de\.txt: file not found"):
        load_xtd10(folder, tmp_path, lang="de")


def karpathy_coco(path):
    images = [
        {"filepath": "val2014", "filename": "COCO_val2014_000000000001.jpg", "cocoid": 1, "split": "test",
         "sentids": [10, 11], "sentences": [{"raw": "A cat sits.", "sentid": 10, "tokens": ["a", "cat", "sits"]},
                                            {"raw": " A  small cat. ", "sentid": 11, "tokens": []}]},
        {"filepath": "val2014", "filename": "COCO_val2014_000000000002.jpg", "cocoid": 2, "split": "train",
         "sentids": [20], "sentences": [{"raw": "A dog.", "sentid": 20, "tokens": []}]},
        {"filepath": "val2014", "filename": "COCO_val2014_000000000003.jpg", "cocoid": 3, "split": "test",
         "sentids": [30], "sentences": [{"raw": "A red bus.", "sentid": 30, "tokens": []}]},
    ]
    path.write_text(json.dumps({"images": images, "dataset": "coco"}), encoding="utf-8")
    return path


def test_coco_karpathy_test_split_english_and_translated(tmp_path):
    karpathy = karpathy_coco(tmp_path / "dataset_coco.json")
    touch_images(tmp_path / "coco", ["val2014/COCO_val2014_000000000001.jpg", "COCO_val2014_000000000003.jpg"])
    english = load_coco_karpathy(karpathy, tmp_path / "coco")
    assert english.lang == "en" and english.english is None
    assert english.captions == ["A cat sits.", "A small cat.", "A red bus."]
    assert english.caption_to_image == [0, 0, 1]
    assert english.image_paths == [tmp_path / "coco" / "val2014" / "COCO_val2014_000000000001.jpg",
                                   tmp_path / "coco" / "COCO_val2014_000000000003.jpg"]
    translations = tmp_path / "tr.tsv"
    translations.write_text("caption_id\ttr\n10\tBir kedi oturuyor.\n11\tKüçük bir kedi.\n30\tKırmızı otobüs.\n"
                            "20\tBir köpek.\n", encoding="utf-8")
    turkish = load_coco_karpathy(karpathy, tmp_path / "coco", translations=translations)
    assert turkish.captions == ["Bir kedi oturuyor.", "Küçük bir kedi.", "Kırmızı otobüs."]
    assert turkish.english == english.captions and turkish.english_aligned and turkish.lang == "tr"
    assert english.image_ids == turkish.image_ids == [1, 3]


def test_coco_karpathy_errors(tmp_path):
    karpathy = karpathy_coco(tmp_path / "dataset_coco.json")
    translations = tmp_path / "tr.tsv"
    translations.write_text("caption_id\ttr\n10\tBir kedi.\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"tr\.tsv: no translation for 2 of 3 test captions .*first: 11, 30"):
        load_coco_karpathy(karpathy, tmp_path, translations=translations, check_images=False)
    karpathy.write_text('{"images": [{"filename": "a.jpg", "split": "test", "sentences": [{"sentid": 1}]}]}',
                        encoding="utf-8")
    with pytest.raises(InputError, match=r"dataset_coco\.json: images\[0\] \(a\.jpg\) sentences\[0\]: 'raw'"):
        load_coco_karpathy(karpathy, tmp_path, check_images=False)
    karpathy.write_text('{"images": [{"filename": "a.jpg", "split": "test",\n "sentences": [}', encoding="utf-8")
    with pytest.raises(InputError, match=r"dataset_coco\.json: malformed JSON at line 2"):
        load_coco_karpathy(karpathy, tmp_path, check_images=False)
