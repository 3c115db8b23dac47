"""The evidence split (bench/evidence/data.py): no sentence on both sides of train/val, nothing shared with test."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bench.evidence import data
from tests.conftest import shared_path


def _tsv(path, rows):
    pd.DataFrame(rows, columns=["en", "tr"]).to_csv(path, sep="\t", index=False)
    return path


def test_components_link_shared_english_and_turkish_transitively():
    table = pd.DataFrame({"en": ["Hi.", "Hi.", "Hello.", "Run!", "Go."],
                          "tr": ["Merhaba.", "Selam.", "Selam.", "Koş!", "Git."]})
    groups = data.sentence_components(table)
    assert groups[0] == groups[1] == groups[2]  # Hi.–Merhaba., Hi.–Selam., Hello.–Selam.
    assert len({groups[0], groups[3], groups[4]}) == 3


def test_sentence_key_folds_case_and_spaces():
    assert data.sentence_key("  Hi   there. ") == data.sentence_key("hi there.")
    assert data.sentence_key("İyi.") != data.sentence_key("Iyi.")


def test_split_keeps_every_sentence_on_one_side(tatoeba_sample_tsv):
    sample = data.read_pairs(tatoeba_sample_tsv)
    # A pair table with many shared sentences: each sample pair plus variants sharing its English or Turkish side.
    variants = pd.concat([sample, sample.assign(tr=sample["tr"] + " (2)"), sample.assign(en=sample["en"].str.upper())])
    groups = data.sentence_components(variants)
    is_val = data.split_components(groups, 0.3, seed=3)
    assert 0.2 < is_val.mean() < 0.4
    train, val = variants[~is_val], variants[is_val]
    assert data.leaks(train, val) == {"en": 0, "tr": 0}
    # a naive row split of the same table leaks (so the check above can fail)
    naive = np.random.default_rng(3).random(len(variants)) < 0.3
    assert sum(data.leaks(variants[~naive], variants[naive]).values()) > 0


def test_large_components_stay_in_training():
    table = pd.DataFrame({"en": ["Hi."] * 30 + [f"s{i}" for i in range(70)],
                          "tr": [f"t{i}" for i in range(100)]})
    groups = data.sentence_components(table)
    is_val = data.split_components(groups, 0.5, seed=0, max_val_component=20)
    assert not is_val[:30].any() and is_val.sum() == 50


def test_build_removes_every_pair_sharing_a_sentence_with_test(tmp_path):
    test = _tsv(tmp_path / "test.tsv", [("I see.", "Anlıyorum."), ("Go.", "Git.")])
    rows = [("I see.", "Anlıyorum."),          # identical pair
            ("i see. ", "Görüyorum."),          # shares the English (case/space folded)
            ("Got it.", "Anlıyorum."),          # shares the Turkish
            ("Run!", "Koş!"), ("Run.", "Koş!"), ("Stop!", "Dur!"), ("Wait.", "Bekle.")]
    train = _tsv(tmp_path / "train.tsv", rows)
    built = data.build(train, test, val_fraction=0.5, seed=0)
    overlap = built.stats["test_overlap"]
    assert overlap == {"identical_pairs": 1, "pairs_sharing_en": 2, "pairs_sharing_tr": 2, "removed_pairs": 3}
    assert sorted(built.pairs["en"]) == ["Run!", "Run.", "Stop!", "Wait."]
    assert built.stats["test_train_shared_sentences"] == {"en": 0, "tr": 0}
    assert built.stats["val_train_shared_sentences"] == {"en": 0, "tr": 0}
    run = built.pairs[built.pairs["tr"] == "Koş!"]
    assert run["split"].nunique() == 1 and run["group"].nunique() == 1


def test_coco_rows_are_english_only_training_rows(tmp_path):
    test = _tsv(tmp_path / "test.tsv", [("Go.", "Git.")])
    train = _tsv(tmp_path / "train.tsv", [("Run!", "Koş!"), ("Stop!", "Dur!")])
    coco = pd.DataFrame({"en": ["A dog on a beach.", "Two cats."], "image_id": [5, 7]})
    built = data.build(train, test, val_fraction=0.0, seed=0, coco=coco)
    rows = built.pairs[built.pairs["source"] == "coco"]
    assert (rows["tr"] == "").all() and (rows["split"] == "train").all()  # distill trains them on their English side
    assert set(rows["group"]).isdisjoint(built.pairs.loc[built.pairs["source"] == "tatoeba", "group"])


def test_coco_holdout_images_are_distinct_and_never_trained(coco_sample_json):
    train, held = data.load_coco_english(coco_sample_json, limit=100, seed=3, holdout_images=10)
    assert len(held) == 10 and held["image_id"].is_unique  # one caption of each of 10 images
    assert set(held["image_id"]).isdisjoint(set(train["image_id"]))
    assert len(train) == 100 and not set(train["en"]) & set(held["en"])


def test_read_pairs_names_the_bad_line(tmp_path):
    bad = tmp_path / "bad.tsv"
    bad.write_text("en\ttr\nGo.\tGit.\nRun!\t \n", encoding="utf-8")
    with pytest.raises(data.InputError, match=r"bad.tsv: line 3 has an empty sentence"):
        data.read_pairs(bad)


def test_real_tatoeba_split_matches_the_documented_overlap():
    tatoeba = shared_path("data/tatoeba/eng-tur.tsv")
    built = data.build(tatoeba, shared_path("data/tatoeba/eng-tur.laser-test.tsv"), val_fraction=0.05, seed=42)
    assert built.stats["test_overlap"]["identical_pairs"] == 81  # ../shared/data/tatoeba/README.md
    assert built.stats["test_overlap"]["removed_pairs"] == 97
    assert built.stats["train_pairs"] + built.stats["val_pairs"] == 73841 - 97
    assert built.stats["val_train_shared_sentences"] == {"en": 0, "tr": 0}
    assert built.stats["test_train_shared_sentences"] == {"en": 0, "tr": 0}
