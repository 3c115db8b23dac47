"""data_tools.captions: COCO/Karpathy reading, cleaning, exclusion, counts and bad-input errors."""
from __future__ import annotations

import csv
import gzip
import json
import re
import shutil
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

from data_tools.captions import (XTD10_IDS_PATH, CaptionStats, clean_text, load_exclusion_ids, read_captions,
                                 read_karpathy)
from turkish_clip.errors import InputError

SAMPLE_XTD10_IMAGES = {127092, 127135, 127182, 127263}


def xtd10_ids_independent() -> set[int]:
    with open(XTD10_IDS_PATH, newline="") as f:
        return {int(row["coco_image_id"]) for row in csv.DictReader(f, delimiter="\t")}


def write_coco(path: Path, annotations: list[dict], image_ids: list[int] | None = None, **extra) -> Path:
    ids = image_ids if image_ids is not None else sorted({a["image_id"] for a in annotations if "image_id" in a})
    data = {"info": {}, "images": [{"id": i, "file_name": f"{i:012d}.jpg"} for i in ids],
            "annotations": annotations, **extra}
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def check_invariant(stats: CaptionStats) -> None:
    assert stats.read == (stats.duplicate_ids_dropped + stats.excluded + stats.empty_dropped
                          + stats.duplicates_dropped + stats.kept)
    assert sum(stats.per_split.values()) == stats.kept


# ---- the shipped real sample -------------------------------------------------------------------------------------

def test_sample_default_excludes_xtd10_images(coco_sample_json):
    raw = json.loads(coco_sample_json.read_text(encoding="utf-8"))["annotations"]
    xtd10 = xtd10_ids_independent()
    assert len(xtd10) == 1000 and SAMPLE_XTD10_IMAGES <= xtd10
    expected_excluded = sum(a["image_id"] in xtd10 for a in raw)
    assert expected_excluded == sum(a["image_id"] in SAMPLE_XTD10_IMAGES for a in raw) > 0

    table, stats = read_captions([coco_sample_json])

    assert list(table.columns) == ["caption_id", "image_id", "split", "en"]
    assert [str(t) for t in table.dtypes] == ["int64", "int64", "str", "str"]
    assert stats.read == 300 and len(raw) == 300
    assert stats.excluded == expected_excluded and stats.excluded_images == 4
    assert stats.exclusion_ids == 1000 and stats.exclusion == "XTD10 (default)"
    assert stats.empty_dropped == 0 and stats.duplicates_dropped == 0 and stats.duplicate_ids_dropped == 0
    assert stats.kept == len(table) == 300 - expected_excluded
    assert stats.per_split == {"val2017": stats.kept}
    check_invariant(stats)
    assert not table["image_id"].isin(xtd10).any()
    assert table["caption_id"].is_monotonic_increasing and table["caption_id"].is_unique
    assert (table["split"] == "val2017").all()
    # Text is the cleaned raw caption of the same annotation id.
    raw_by_id = {a["id"]: a for a in raw}
    for row in table.itertuples():
        assert row.en == " ".join(raw_by_id[row.caption_id]["caption"].split())
        assert row.image_id == raw_by_id[row.caption_id]["image_id"]
    assert "300 captions" in stats.summary() and f"excluded {expected_excluded} captions of 4 images" in stats.summary()
    assert stats.to_dict()["kept"] == stats.kept


def test_sample_no_exclusion_and_given_ids(coco_sample_json, tmp_path):
    table, stats = read_captions([coco_sample_json], exclude_image_ids=None)
    assert stats.kept == 300 and stats.excluded == 0 and stats.exclusion == "none"
    assert read_captions([coco_sample_json], exclude_image_ids="none")[1].kept == 300
    counts = table["image_id"].value_counts()
    two = [127092, 386912]
    table2, stats2 = read_captions([coco_sample_json], exclude_image_ids=two)
    assert stats2.excluded == counts[two].sum() and stats2.excluded_images == 2
    assert stats2.kept == 300 - counts[two].sum()
    check_invariant(stats2)


def test_deterministic_output(coco_sample_json):
    a, _ = read_captions([coco_sample_json])
    b, _ = read_captions([coco_sample_json])
    pd.testing.assert_frame_equal(a, b)


def test_gz_round_trip(coco_sample_json, tmp_path):
    gz = tmp_path / "captions_val2017.json.gz"
    gz.write_bytes(gzip.compress(coco_sample_json.read_bytes()))
    plain, plain_stats = read_captions([coco_sample_json])
    zipped, zipped_stats = read_captions([gz])
    pd.testing.assert_frame_equal(plain, zipped)
    assert plain_stats.per_split == zipped_stats.per_split


# ---- exclusion lists ------------------------------------------------------------------------------------------------

def test_load_exclusion_ids_formats(tmp_path):
    assert load_exclusion_ids(XTD10_IDS_PATH) == xtd10_ids_independent()
    txt = tmp_path / "ids.txt"
    txt.write_text("127092\n\n# a comment\n386912\n", encoding="utf-8")
    assert load_exclusion_ids(txt) == {127092, 386912}
    tsv = tmp_path / "ids.tsv"
    tsv.write_text("image_id\tnote\n5\tx\n7\ty\n", encoding="utf-8")
    assert load_exclusion_ids(tsv) == {5, 7}
    names = tmp_path / "test_image_names.txt"
    names.write_text("COCO_train2014_000000061844.jpg\nCOCO_val2014_000000000042.jpg\n", encoding="utf-8")
    assert load_exclusion_ids(names) == {61844, 42}


def test_exclusion_file_used_by_read_captions(coco_sample_json, tmp_path):
    ids = tmp_path / "ids.txt"
    ids.write_text("127092\n127135\n", encoding="utf-8")
    raw = json.loads(coco_sample_json.read_text(encoding="utf-8"))["annotations"]
    _, stats = read_captions([coco_sample_json], exclude_image_ids=ids)
    assert stats.excluded == sum(a["image_id"] in (127092, 127135) for a in raw)
    assert stats.exclusion == str(ids) and stats.exclusion_ids == 2


def test_exclusion_file_bad_line(tmp_path):
    bad = tmp_path / "ids.txt"
    bad.write_text("1\n2\nabc\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"ids\.txt: line 3: 'abc' is not an image id"):
        load_exclusion_ids(bad)


# ---- cleaning, empties and duplicates -------------------------------------------------------------------------------

def test_clean_text():
    assert clean_text("cafÃ©") == "café"
    assert clean_text("  A  dog\t runs\n on the\u00a0beach  ") == "A dog runs on the beach"
    assert clean_text("çğıİöşü ÇĞÖŞÜ") == "çğıİöşü ÇĞÖŞÜ"
    assert clean_text(" \t\n ") == ""


def test_empty_and_duplicate_captions_counted(tmp_path):
    anns = [
        {"id": 1, "image_id": 10, "caption": "A  cafÃ© on a corner. "},
        {"id": 2, "image_id": 10, "caption": "A café on a corner."},    # duplicate of 1 after cleaning
        {"id": 3, "image_id": 20, "caption": "A café on a corner."},    # same text, other image: kept
        {"id": 4, "image_id": 20, "caption": ""},                        # empty
        {"id": 5, "image_id": 20, "caption": " \t "},                    # empty after cleaning
        {"id": 0, "image_id": 10, "caption": "a cafe on a corner."},     # different text: kept
        {"id": 7, "image_id": 30, "caption": "Two dogs\nplay."},
    ]
    path = write_coco(tmp_path / "captions_train2014.json", anns)
    table, stats = read_captions([path], exclude_image_ids=None)
    assert (stats.read, stats.empty_dropped, stats.duplicates_dropped, stats.kept) == (7, 2, 1, 4)
    check_invariant(stats)
    assert table["caption_id"].tolist() == [0, 1, 3, 7]   # sorted; the first copy (smallest id) kept
    assert table["en"].tolist() == ["a cafe on a corner.", "A café on a corner.", "A café on a corner.",
                                    "Two dogs play."]
    assert (table["split"] == "train2014").all()


def test_split_names_2014_vs_2017(tmp_path):
    a = write_coco(tmp_path / "captions_train2014.json", [{"id": 1, "image_id": 1, "caption": "x"}])
    b = write_coco(tmp_path / "captions_val2017.json", [{"id": 2, "image_id": 2, "caption": "y"}])
    c = tmp_path / "mine.json"  # no split in the name: taken from the images' coco_url
    c.write_text(json.dumps({"images": [{"id": 3, "coco_url": "http://images.cocodataset.org/val2014/COCO_val2014_"
                                                              "000000000003.jpg"}],
                             "annotations": [{"id": 3, "image_id": 3, "caption": "z"}]}), encoding="utf-8")
    d = write_coco(tmp_path / "other.json", [{"id": 4, "image_id": 4, "caption": "w"}])
    table, stats = read_captions([a, b, c, d], exclude_image_ids=None)
    assert table["split"].tolist() == ["train2014", "val2017", "val2014", "unknown"]
    assert stats.per_split == {"train2014": 1, "unknown": 1, "val2014": 1, "val2017": 1}


def test_repeated_caption_ids_across_files(coco_sample_json, tmp_path):
    copy = tmp_path / "captions_val2014.json"
    shutil.copy(coco_sample_json, copy)
    table, stats = read_captions([copy, coco_sample_json], exclude_image_ids=None)
    assert stats.read == 600 and stats.duplicate_ids_dropped == 300 and stats.kept == 300
    assert (table["split"] == "val2014").all()   # the first file given wins
    check_invariant(stats)


def test_conflicting_caption_ids_are_an_error(tmp_path):
    a = write_coco(tmp_path / "captions_train2014.json", [{"id": 9, "image_id": 1, "caption": "a dog"}])
    b = write_coco(tmp_path / "captions_val2014.json", [{"id": 9, "image_id": 2, "caption": "a cat"}])
    with pytest.raises(InputError, match=r"caption id 9 .*captions_train2014\.json.*captions_val2014\.json"):
        read_captions([a, b], exclude_image_ids=None)


# ---- Karpathy split file ------------------------------------------------------------------------------------------

KARPATHY_SPLIT_CYCLE = ["train", "val", "test", "restval"]


def write_karpathy(coco_json: Path, path: Path, drop_images: set[int] = frozenset()) -> tuple[Path, dict[int, str]]:
    """A Karpathy dataset_coco.json built from a COCO file: sentid = annotation id + 1,000,000."""
    data = json.loads(coco_json.read_text(encoding="utf-8"))
    by_image: dict[int, list] = {}
    for ann in data["annotations"]:
        by_image.setdefault(ann["image_id"], []).append(ann)
    images, splits = [], {}
    for i, image in enumerate(sorted(data["images"], key=lambda im: im["id"])):
        if image["id"] in drop_images:
            continue
        split = KARPATHY_SPLIT_CYCLE[i % 4]
        splits[image["id"]] = split
        sentences = [{"raw": a["caption"], "sentid": a["id"] + 1_000_000, "imgid": i,
                      "tokens": a["caption"].lower().split()} for a in by_image[image["id"]]]
        images.append({"filepath": "val2014", "filename": f"COCO_val2014_{image['id']:012d}.jpg", "imgid": i,
                       "split": split, "cocoid": image["id"], "sentids": [s["sentid"] for s in sentences],
                       "sentences": sentences})
    path.write_text(json.dumps({"images": images, "dataset": "coco"}), encoding="utf-8")
    return path, splits


def test_karpathy_join(coco_sample_json, tmp_path):
    karpathy, splits = write_karpathy(coco_sample_json, tmp_path / "dataset_coco.json")
    table, stats = read_captions([coco_sample_json], karpathy=karpathy, exclude_karpathy=())
    assert table["split"].tolist() == [splits[i] for i in table["image_id"]]
    assert set(table["split"]) == set(KARPATHY_SPLIT_CYCLE)   # "restval" kept as is
    assert stats.karpathy_unmatched == 0 and stats.kept == 300 - stats.excluded
    plain, _ = read_captions([coco_sample_json])
    assert table["caption_id"].tolist() == plain["caption_id"].tolist()
    assert dict(Counter(table["split"])) == stats.per_split


def test_karpathy_join_unmatched_keeps_file_split(coco_sample_json, tmp_path):
    karpathy, _ = write_karpathy(coco_sample_json, tmp_path / "dataset_coco.json", drop_images={386912})
    raw = json.loads(coco_sample_json.read_text(encoding="utf-8"))["annotations"]
    table, stats = read_captions([coco_sample_json], karpathy=karpathy, exclude_karpathy=())
    assert stats.karpathy_unmatched == sum(a["image_id"] == 386912 for a in raw) > 0
    assert (table.loc[table["image_id"] == 386912, "split"] == "val2017").all()
    assert "no image in the Karpathy file" in stats.summary()


def test_karpathy_only(coco_sample_json, tmp_path):
    karpathy, splits = write_karpathy(coco_sample_json, tmp_path / "dataset_coco.json")
    table, stats = read_captions([], karpathy=karpathy, exclude_karpathy=())
    plain, plain_stats = read_captions([coco_sample_json])
    assert stats.read == 300 and stats.excluded == plain_stats.excluded and stats.kept == plain_stats.kept
    assert table["caption_id"].tolist() == (plain["caption_id"] + 1_000_000).tolist()
    assert table["en"].tolist() == plain["en"].tolist()
    assert table["split"].tolist() == [splits[i] for i in table["image_id"]]
    _, image_splits = read_karpathy(karpathy)
    assert image_splits == splits


def test_karpathy_test_and_val_images_are_excluded_by_default(coco_sample_json, tmp_path):
    """COCO Karpathy test must stay a clean test: its images (and val's) leave training when the splits are known."""
    karpathy, splits = write_karpathy(coco_sample_json, tmp_path / "dataset_coco.json")
    held_out = {i for i, sp in splits.items() if sp in ("test", "val")}
    xtd10 = load_exclusion_ids(XTD10_IDS_PATH)
    raw = json.loads(coco_sample_json.read_text(encoding="utf-8"))["annotations"]
    for inputs in ([coco_sample_json], []):  # COCO files + Karpathy splits, or the Karpathy file alone
        table, stats = read_captions(inputs, karpathy=karpathy)
        assert set(table["split"]) == {"train", "restval"}
        assert not set(table["image_id"]) & (held_out | xtd10)
        # the two lists combine: XTD10 (default) plus Karpathy test+val
        assert stats.exclusion == "XTD10 (default) + Karpathy test+val"
        assert stats.excluded == sum(a["image_id"] in held_out | xtd10 for a in raw)
        names = [e["name"] for e in stats.exclusions]
        assert names == ["XTD10 (default)", "Karpathy test+val"]
        assert stats.exclusions[1]["images"] == len(held_out) and stats.exclusions[1]["ids"] == len(held_out)
    kept_test, _ = read_captions([coco_sample_json], karpathy=karpathy, exclude_karpathy=("val",))
    assert "test" in set(kept_test["split"]) and "val" not in set(kept_test["split"])
    with pytest.raises(InputError, match="Karpathy split 'tset'"):
        read_captions([coco_sample_json], karpathy=karpathy, exclude_karpathy=("tset",))


def test_exclusion_lists_combine(coco_sample_json, tmp_path):
    ids = tmp_path / "mine.txt"
    ids.write_text("127092\n")
    xtd10 = load_exclusion_ids(XTD10_IDS_PATH)
    raw = json.loads(coco_sample_json.read_text(encoding="utf-8"))["annotations"]
    table, stats = read_captions([coco_sample_json], exclude_image_ids=["default", ids])
    assert stats.exclusion == f"XTD10 (default) + {ids}"
    assert stats.excluded == sum(a["image_id"] in xtd10 | {127092} for a in raw)
    assert not set(table["image_id"]) & (xtd10 | {127092})


def test_coco_captions_without_karpathy_file_warn(tmp_path, coco_sample_json):
    _, stats = read_captions([coco_sample_json])
    assert "Karpathy test (and val) images stay in training" in stats.summary()
    karpathy, _ = write_karpathy(coco_sample_json, tmp_path / "dataset_coco.json")
    assert not read_captions([coco_sample_json], karpathy=karpathy)[1].warnings


# ---- bad input ----------------------------------------------------------------------------------------------------

def test_missing_file_and_no_input(tmp_path):
    with pytest.raises(InputError, match=r"nope\.json: file not found"):
        read_captions([tmp_path / "nope.json"])
    with pytest.raises(InputError, match="no caption files given"):
        read_captions([])


def test_truncated_json(coco_sample_json, tmp_path):
    bad = tmp_path / "captions_val2017.json"
    bad.write_bytes(coco_sample_json.read_bytes()[:5000])
    with pytest.raises(InputError, match=r"captions_val2017\.json: malformed JSON at line \d+, column \d+ .*truncated"):
        read_captions([bad])


def test_non_utf8_bytes(tmp_path):
    bad = tmp_path / "captions_val2017.json"
    good = json.dumps({"images": [{"id": 1}], "annotations": [{"id": 1, "image_id": 1, "caption": "cafe"}]})
    bad.write_bytes(good.encode().replace(b"cafe", b"caf\xe9"))
    offset = bad.read_bytes().index(b"\xe9")
    with pytest.raises(InputError, match=rf"captions_val2017\.json: not valid UTF-8 at byte offset {offset} "
                                         r"\(byte 0xe9\)"):
        read_captions([bad])


@pytest.mark.parametrize("annotation, message", [
    ({"id": 123, "image_id": 1}, r"annotations\[1\] \(id 123\) has no 'caption'"),
    ({"id": 123, "caption": "x"}, r"annotations\[1\] \(id 123\) has no 'image_id'"),
    ({"image_id": 1, "caption": "x"}, r"annotations\[1\] \(id None\) has no 'id'"),
    ({"id": 123, "image_id": 999, "caption": "x"}, r"annotations\[1\] \(id 123\): image_id 999 is not in 'images'"),
    ({"id": 123, "image_id": 1, "caption": None}, r"annotations\[1\] \(id 123\): 'caption' is NoneType, not a string"),
    ({"id": 123, "image_id": 1, "caption": 5}, r"annotations\[1\] \(id 123\): 'caption' is int, not a string"),
    ({"id": "123", "image_id": 1, "caption": "x"}, r"annotations\[1\] \(id '123'\): 'id' and 'image_id' must be"),
])
def test_bad_annotation(tmp_path, annotation, message):
    path = write_coco(tmp_path / "captions_val2017.json",
                      [{"id": 1, "image_id": 1, "caption": "fine"}, annotation], image_ids=[1])
    with pytest.raises(InputError, match=re.escape(str(path)) + ": " + message):
        read_captions([path], exclude_image_ids=None)


def test_not_a_captions_file(tmp_path):
    info = tmp_path / "image_info_test2014.json"
    info.write_text(json.dumps({"images": [{"id": 1}]}), encoding="utf-8")
    with pytest.raises(InputError, match=r"image_info_test2014\.json: no 'annotations' list"):
        read_captions([info])
    no_images = tmp_path / "captions_val2017.json"
    no_images.write_text(json.dumps({"annotations": []}), encoding="utf-8")
    with pytest.raises(InputError, match=r"captions_val2017\.json: no 'images' list"):
        read_captions([no_images])


def test_gz_that_is_not_gzip_and_truncated_gzip(coco_sample_json, tmp_path):
    fake = tmp_path / "captions_val2017.json.gz"
    fake.write_bytes(coco_sample_json.read_bytes())
    with pytest.raises(InputError, match=r"captions_val2017\.json\.gz: named \.gz but is not gzip data"):
        read_captions([fake])
    cut = tmp_path / "captions_train2017.json.gz"
    cut.write_bytes(gzip.compress(coco_sample_json.read_bytes())[:3000])
    with pytest.raises(InputError, match=r"captions_train2017\.json\.gz: corrupt or truncated gzip"):
        read_captions([cut])


def test_bad_karpathy_files(coco_sample_json, tmp_path):
    karpathy, _ = write_karpathy(coco_sample_json, tmp_path / "dataset_coco.json")
    data = json.loads(karpathy.read_text(encoding="utf-8"))
    cocoid = data["images"][2]["cocoid"]
    data["images"][2]["split"] = "dev"
    karpathy.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(InputError, match=rf"dataset_coco\.json: images\[2\] \(cocoid {cocoid}\): split 'dev' is not"):
        read_captions([coco_sample_json], karpathy=karpathy)
    data["images"][2]["split"] = "val"
    sentid = data["images"][2]["sentences"][1].pop("raw") and data["images"][2]["sentences"][1]["sentid"]
    karpathy.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(InputError, match=rf"images\[2\] \(cocoid {cocoid}\) sentences\[1\] \(sentid {sentid}\): "
                                         r"'raw' is missing"):
        read_captions([], karpathy=karpathy)
    flickr = tmp_path / "dataset_flickr8k.json"
    flickr.write_text(json.dumps({"images": [{"split": "train", "sentences": []}]}), encoding="utf-8")
    with pytest.raises(InputError, match=r"dataset_flickr8k\.json: images\[0\] has no integer 'cocoid'"):
        read_captions([], karpathy=flickr)


# ---- the full real val2017 file (../shared) -------------------------------------------------------------------------

def test_full_val2017(coco_val2017_json):
    raw = json.load(gzip.open(coco_val2017_json, "rt", encoding="utf-8"))["annotations"]
    xtd10 = xtd10_ids_independent()
    excluded = [a for a in raw if a["image_id"] in xtd10]
    assert len({a["image_id"] for a in excluded}) == 35 and len(excluded) == 175
    kept_raw = [a for a in raw if a["image_id"] not in xtd10]
    seen, duplicates = set(), 0
    for a in sorted(kept_raw, key=lambda a: a["id"]):
        key = (a["image_id"], " ".join(a["caption"].split()))
        duplicates += key in seen
        seen.add(key)

    table, stats = read_captions([coco_val2017_json])

    assert stats.read == len(raw) == 25_014
    assert stats.excluded == 175 and stats.excluded_images == 35
    assert stats.empty_dropped == 0 and stats.duplicates_dropped == duplicates > 0
    assert stats.kept == len(table) == 25_014 - 175 - duplicates
    assert stats.per_split == {"val2017": stats.kept}
    check_invariant(stats)
    assert table["caption_id"].is_monotonic_increasing and not table["image_id"].isin(xtd10).any()
