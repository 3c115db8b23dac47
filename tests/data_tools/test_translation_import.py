"""data_tools.translation_import: TSV/CSV/JSON translations keyed by caption_id, cleaning, alignment, errors."""
from __future__ import annotations

import gzip
import json

import pandas as pd
import pytest

from data_tools.captions import read_captions
from turkish_clip.errors import InputError
from data_tools.translation_import import align_translations, read_translations

TURKISH = "Çarşıda ığdır, İstanbul'da öğle güneşi; \"şu\" köpek, üç kedi"


@pytest.fixture
def translations() -> pd.DataFrame:
    """Expected table: Turkish letters, quotes, commas and tabs-free text."""
    return pd.DataFrame({"caption_id": pd.array([3, 11, 25], dtype="int64"),
                         "text": pd.Series([TURKISH, "Bir köpek, sahilde koşuyor.", "İki ÇOCUK ğüşiöç"], dtype="str")})


def check_equal(got: pd.DataFrame, expected: pd.DataFrame) -> None:
    assert list(got.columns) == ["caption_id", "text"]
    assert [str(t) for t in got.dtypes] == ["int64", "str"]
    pd.testing.assert_frame_equal(got.reset_index(drop=True), expected.reset_index(drop=True))


def test_tsv_round_trip_through_pandas(tmp_path, translations):
    path = tmp_path / "tr.tsv"
    translations.rename(columns={"text": "tr"}).to_csv(path, sep="\t", index=False)
    check_equal(read_translations(path), translations)
    assert '""şu""' in path.read_text(encoding="utf-8")  # pandas quoted the field; the reader undid it


def test_hand_written_tsv_with_extra_columns_and_gz(tmp_path, translations):
    lines = ["en\tcaption_id\ttranslation"] + [f"english {i}\t{i}\t{t}" for i, t in
                                               zip(translations["caption_id"][::-1], translations["text"][::-1])]
    text = "\n".join(lines) + "\n\n"
    path = tmp_path / "human.tsv"
    path.write_text(text.replace("\"şu\"", "şu"), encoding="utf-8")   # unquoted TSV, rows unsorted
    expected = translations.assign(text=translations["text"].str.replace("\"şu\"", "şu"))
    check_equal(read_translations(path), expected)
    gz = tmp_path / "human.tsv.gz"
    gz.write_bytes(gzip.compress(path.read_bytes()))
    check_equal(read_translations(gz), expected)


def test_csv_round_trip_and_text_column(tmp_path, translations):
    path = tmp_path / "tr.csv"
    translations.rename(columns={"text": "turkish"}).to_csv(path, index=False)
    check_equal(read_translations(path, text_column="turkish"), translations)
    with pytest.raises(InputError, match=r"tr\.csv: header has no text column \(tr or text or translation\); "
                                         r"found caption_id, turkish; rename it or pass text_column"):
        read_translations(path)


def test_other_language_column(tmp_path, translations):
    path = tmp_path / "hi.csv"
    translations.rename(columns={"text": "hi"}).assign(tr="wrong").to_csv(path, index=False)
    check_equal(read_translations(path, lang="hi"), translations)


def test_json_list_mapping_and_jsonl(tmp_path, translations):
    rows = [{"caption_id": int(i), "text": t} for i, t in zip(translations["caption_id"], translations["text"])]
    as_list = tmp_path / "list.json"
    as_list.write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
    check_equal(read_translations(as_list), translations)
    as_map = tmp_path / "map.json"
    as_map.write_text(json.dumps({str(r["caption_id"]): r["text"] for r in rows}), encoding="utf-8")  # \u escapes
    check_equal(read_translations(as_map), translations)
    as_lines = tmp_path / "rows.jsonl"
    as_lines.write_text("\n".join(json.dumps({"caption_id": str(r["caption_id"]), "tr": r["text"]}) for r in rows),
                        encoding="utf-8")
    check_equal(read_translations(as_lines), translations)


def test_cleaning_and_identical_repeats(tmp_path):
    path = tmp_path / "tr.tsv"
    path.write_text("caption_id\ttr\n2\t  Bir   kafeÃ§i  \n1\tçğıİöşü\n2\tBir kafeçi\n", encoding="utf-8")
    got = read_translations(path)
    assert got["caption_id"].tolist() == [1, 2]
    assert got["text"].tolist() == ["çğıİöşü", "Bir kafeçi"]


# ---- bad input ----------------------------------------------------------------------------------------------------

def test_non_utf8_file(tmp_path):
    path = tmp_path / "tr.tsv"
    path.write_bytes("caption_id\ttr\n1\tk".encode() + "öpek".encode("latin-1"))
    with pytest.raises(InputError, match=r"tr\.tsv: not valid UTF-8 at byte offset 17 \(byte 0xf6\)"):
        read_translations(path)


@pytest.mark.parametrize("body, message", [
    ("caption_id\ttr\n1\tbir\n7\t   \n", r"line 3: translation of caption_id 7 is empty"),
    ("caption_id\ttr\n1\tbir\n7\tiki\n1\tüç\n", r"line 4: caption_id 1 appears twice with different text"),
    ("caption_id\ttr\n1\tbir\nx7\tiki\n", r"line 3: caption_id 'x7' is not an integer"),
    ("caption_id\ttr\n1\tbir\n2\n", r"line 3 has 1 fields, the header 2"),
    ("id_of_caption\ttr\n1\tbir\n", r"header has no caption id column \(caption_id or id\)"),
    ("", r"empty file"),
])
def test_bad_tsv(tmp_path, body, message):
    path = tmp_path / "tr.tsv"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(InputError, match=r"tr\.tsv: " + message):
        read_translations(path)


@pytest.mark.parametrize("data, message", [
    ([{"caption_id": 1, "text": "bir"}, {"caption_id": 2, "text": None}],
     r"item \[1\]: translation of caption_id 2 is NoneType"),
    ([{"caption_id": 1, "text": "bir"}, {"caption_id": 2}], r"item \[1\] has no text column"),
    ({"5": ""}, r"key '5': translation of caption_id 5 is empty"),
    ("just text", r"expected a list of objects or a \{caption_id: text\} mapping"),
])
def test_bad_json(tmp_path, data, message):
    path = tmp_path / "tr.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(InputError, match=r"tr\.json: " + message):
        read_translations(path)


def test_malformed_json_missing_file_unknown_type(tmp_path):
    path = tmp_path / "tr.json"
    path.write_text('[{"caption_id": 1, "text": "bi', encoding="utf-8")
    with pytest.raises(InputError, match=r"tr\.json: malformed JSON at line 1"):
        read_translations(path)
    lines = tmp_path / "tr.jsonl"
    lines.write_text('{"caption_id": 1, "text": "bir"}\n{"caption_id": 2,\n', encoding="utf-8")
    with pytest.raises(InputError, match=r"tr\.jsonl: line 2: malformed JSON"):
        read_translations(lines)
    with pytest.raises(InputError, match=r"absent\.tsv: file not found"):
        read_translations(tmp_path / "absent.tsv")
    with pytest.raises(InputError, match=r"tr\.xlsx: unknown translation file type '\.xlsx'"):
        read_translations(tmp_path / "tr.xlsx")


# ---- alignment to a captions table ------------------------------------------------------------------------------

@pytest.fixture
def captions(coco_sample_json) -> pd.DataFrame:
    table, _ = read_captions([coco_sample_json])
    return table.sample(frac=1.0, random_state=0)   # unsorted, non-trivial index: alignment must follow the rows


def fake_translations(captions: pd.DataFrame) -> pd.DataFrame:
    ids = sorted(captions["caption_id"])
    return pd.DataFrame({"caption_id": pd.array(ids, dtype="int64"),
                         "text": pd.Series([f"çeviri {i} ğüşıöçİ" for i in ids], dtype="str")})


def test_align_complete(captions):
    extra = pd.DataFrame({"caption_id": pd.array([10**9], dtype="int64"), "text": pd.Series(["fazla"], dtype="str")})
    series, stats = align_translations(captions, pd.concat([fake_translations(captions), extra], ignore_index=True))
    assert series.index.equals(captions.index)
    assert series.tolist() == [f"çeviri {i} ğüşıöçİ" for i in captions["caption_id"]]
    assert (stats.matched, stats.missing, stats.extra) == (len(captions), 0, 1)


def test_align_missing_is_an_error_unless_partial(captions):
    full = fake_translations(captions)
    missing_ids = sorted(captions["caption_id"])[::7]
    partial = full[~full["caption_id"].isin(missing_ids)]
    first_missing = [i for i in captions["caption_id"] if i in set(missing_ids)][:5]
    with pytest.raises(InputError, match=rf"human\.tsv: {len(missing_ids)} of {len(captions)} captions have no "
                                         rf"translation \(first caption ids: {', '.join(map(str, first_missing))}\)"):
        align_translations(captions, partial, source="human.tsv")
    series, stats = align_translations(captions, partial, allow_partial=True)
    assert stats.missing == len(missing_ids) and stats.matched == len(captions) - len(missing_ids)
    assert stats.missing_ids == first_missing
    kept = captions.loc[series.index]
    assert not kept["caption_id"].isin(missing_ids).any() and len(kept) == stats.matched
    assert series.tolist() == [f"çeviri {i} ğüşıöçİ" for i in kept["caption_id"]]
    assert f"{stats.missing} missing (dropped)" in stats.summary()


def test_align_round_trip_from_file(captions, tmp_path):
    expected = fake_translations(captions)
    path = tmp_path / "tr.tsv"
    expected.rename(columns={"text": "tr"}).to_csv(path, sep="\t", index=False)
    series, stats = align_translations(captions, read_translations(path))
    assert stats.missing == 0 and series.tolist() == [f"çeviri {i} ğüşıöçİ" for i in captions["caption_id"]]


def test_align_rejects_repeated_caption_ids(captions):
    doubled = pd.concat([captions, captions.iloc[:1]])
    with pytest.raises(InputError, match=rf"caption_id {captions['caption_id'].iloc[0]} more than once"):
        align_translations(doubled, fake_translations(captions))
