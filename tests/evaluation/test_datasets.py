"""RetrievalSet and the plain captions.tsv loader, on small files in the real format."""
from __future__ import annotations

from pathlib import Path

import pytest

from turkish_clip.errors import InputError
from evaluation.datasets import RetrievalSet, load_captions_tsv


def touch_images(folder: Path, names) -> None:
    for name in names:
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"not decoded here")


def test_captions_tsv_without_header_groups_captions_by_image(tmp_path):
    touch_images(tmp_path / "img", ["a.jpg", "b.jpg"])
    tsv = tmp_path / "captions.tsv"
    tsv.write_text("a.jpg\tbir  kedi\nb.jpg\tbir köpek\na.jpg\tuyuyan kedi\n", encoding="utf-8")
    result = load_captions_tsv(tsv, image_dir=tmp_path / "img")
    assert result.image_paths == [tmp_path / "img" / "a.jpg", tmp_path / "img" / "b.jpg"]
    assert result.captions == ["bir kedi", "bir köpek", "uyuyan kedi"]  # whitespace cleaned
    assert result.caption_to_image == [0, 1, 0]
    assert result.english is None and result.lang == "tr" and result.name == "captions"


def test_captions_tsv_header_with_english_column_and_paths_relative_to_the_tsv(tmp_path):
    touch_images(tmp_path, ["x/1.png"])
    tsv = tmp_path / "captions.tsv"
    tsv.write_text("image\tcaption\ten\nx/1.png\tkırmızı araba\ta red car\n", encoding="utf-8")
    result = load_captions_tsv(tsv)
    assert result.image_paths == [tmp_path / "x" / "1.png"]
    assert result.english == ["a red car"] and result.english_to_image == [0] and result.english_aligned
    assert result.info()["english_captions"] == 1
    assert result.parallel_pairs() == [("kırmızı araba", "a red car")]
    english = result.english_view()
    assert (english.lang, english.captions, english.caption_to_image) == ("en", ["a red car"], [0])
    assert english.image_paths == result.image_paths and english.english_view() is None


def test_captions_tsv_errors_name_file_and_line(tmp_path):
    touch_images(tmp_path, ["a.jpg"])
    tsv = tmp_path / "captions.tsv"
    tsv.write_text("image\tcaption\na.jpg\tkedi\na.jpg kedi without tab\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"captions\.tsv: line 3: expected 2 tab-separated values"):
        load_captions_tsv(tsv)
    tsv.write_text("a.jpg\tkedi\na.jpg\t   \n", encoding="utf-8")
    with pytest.raises(InputError, match=r"captions\.tsv: line 2: empty caption"):
        load_captions_tsv(tsv)
    tsv.write_text("a.jpg\tkedi\nmissing.jpg\tköpek\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"1 of 2 images are missing \(first: .*missing\.jpg\)"):
        load_captions_tsv(tsv)
    assert load_captions_tsv(tsv, check_images=False).n_images == 2


def test_retrieval_set_checks_its_links():
    with pytest.raises(ValueError, match="outside"):
        RetrievalSet(name="x", lang="tr", image_paths=[Path("a")], captions=["c"], caption_to_image=[1])
    with pytest.raises(ValueError, match="2 captions but 1 links"):
        RetrievalSet(name="x", lang="tr", image_paths=[Path("a")], captions=["c", "d"], caption_to_image=[0])
