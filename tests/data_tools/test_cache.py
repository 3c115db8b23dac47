"""The dataset folder: write_dataset round trips, streaming captions writes, and every wrong-folder error."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from data_tools import cache
from turkish_clip import files
from turkish_clip.errors import InputError

TEACHER = {"kind": "openai-clip", "model": "ViT-B/32", "versions": {"torch": "x"}}
TRANSLATION = {"backend": "marian", "model": "Helsinki-NLP/opus-mt-tc-big-en-tr"}


def _table(n: int = 5) -> pd.DataFrame:
    return pd.DataFrame({"caption_id": np.arange(100, 100 + n, dtype=np.int64),
                         "image_id": np.array([7, 7, 8, -1, 9][:n] + [9] * max(0, n - 5), dtype=np.int64),
                         "split": ["val2017"] * n, "en": [f"a dog number {i}" for i in range(n)],
                         "tr": [f"köpek numarası {i} ğüşıöç" for i in range(n)]})


@pytest.fixture
def dataset(tmp_path):
    table = _table()
    vectors = np.random.default_rng(0).normal(size=(5, 8)).astype(np.float16)
    cache.write_dataset(tmp_path / "d", table, vectors, teacher_info=TEACHER, translation_info=TRANSLATION)
    return tmp_path / "d", table, vectors


@pytest.mark.parametrize("dtype", ["float16", "float32"])
def test_write_dataset_round_trip(tmp_path, dtype):
    table = _table()
    vectors = np.random.default_rng(1).normal(size=(5, 8)).astype(dtype)
    manifest = cache.write_dataset(tmp_path, table, vectors, teacher_info=TEACHER, translation_info=TRANSLATION)

    assert manifest == cache.read_manifest(tmp_path)
    assert manifest["format"] == "turkish-clip-cache" and manifest["version"] == 1
    assert manifest["teacher"] | {"captions_sha256": None} == {
        **TEACHER, "dim": 8, "dtype": dtype, "count": 5, "normalized": False, "captions_sha256": None}
    assert manifest["translation"]["target_lang"] == "tr" and manifest["translation"]["count"] == 5
    loaded = cache.load_teacher_vectors(tmp_path)
    assert isinstance(loaded, np.memmap) and loaded.dtype == dtype and np.array_equal(loaded, vectors)
    assert not isinstance(cache.load_teacher_vectors(tmp_path, mmap=False), np.memmap)
    captions = cache.load_table(tmp_path, "captions")
    assert list(captions.columns) == ["caption_id", "image_id", "split", "en"]
    pd.testing.assert_frame_equal(captions, table[captions.columns], check_dtype=False)
    translations = cache.load_table(tmp_path, "translations")
    assert translations["tr"].tolist() == table["tr"].tolist()  # Turkish letters survive
    assert set(translations["mt_model"]) == {TRANSLATION["model"]}
    assert cache.load_table(tmp_path, "translations", columns=["caption_id", "tr"]).shape == (5, 2)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "captions.parquet", "manifest.json", "teacher.npy", "translations.parquet"]  # no temporary files left


def test_write_captions_streams_chunks(tmp_path):
    chunks = (pa.table({"caption_id": [i, i + 1], "image_id": [None, 3], "split": ["a", "b"], "en": ["x", "y"]})
              for i in range(0, 6, 2))
    info = cache.write_captions(tmp_path, chunks, {"sources": ["s"]})
    assert info["count"] == 6 and info["sha256"] == files.file_sha256(tmp_path / "captions.parquet")
    table = cache.load_table(tmp_path)
    assert table["caption_id"].tolist() == list(range(6)) and table["image_id"].tolist()[:2] == [-1, 3]


def _error(fn, *args, **kwargs) -> str:
    with pytest.raises(InputError) as info:
        fn(*args, **kwargs)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_missing_folder_and_manifest(tmp_path):
    assert "folder does not exist" in _error(cache.read_manifest, tmp_path / "nope")
    message = _error(cache.read_manifest, tmp_path)
    assert str(tmp_path) in message and "no manifest.json" in message and "python -m data_tools captions" in message
    (tmp_path / "file").write_text("x")
    assert "not a folder" in _error(cache.read_manifest, tmp_path / "file")


@pytest.mark.parametrize("content, expected", [
    ("{not json", "not valid JSON"),
    (json.dumps({"format": "something-else", "version": 1}), "format 'something-else'"),
    (json.dumps([1, 2]), "format 'list'"),
    (json.dumps({"format": "turkish-clip-cache", "version": 99}), "version 99"),
])
def test_bad_manifest(tmp_path, content, expected):
    (tmp_path / "manifest.json").write_text(content)
    message = _error(cache.load_teacher_vectors, tmp_path)
    assert expected in message and str(tmp_path) in message


def test_step_missing(tmp_path):
    cache.write_manifest(tmp_path, cache.new_manifest())
    assert "no teacher step yet" in _error(cache.load_teacher_vectors, tmp_path)
    assert "python -m data_tools translate" in _error(cache.load_table, tmp_path, "translations")


def test_vectors_count_mismatch(dataset):
    data_dir, _, vectors = dataset
    np.save(data_dir / "teacher.npy", vectors[:4])
    message = _error(cache.load_teacher_vectors, data_dir)
    assert "shape (4, 8)" in message and "5 rows" in message and "--overwrite" in message


@pytest.mark.parametrize("array, expected", [
    (np.zeros((5, 6), np.float16), "dim 6"),
    (np.zeros((5, 8), np.float32), "float32 vectors"),
])
def test_vectors_dim_or_dtype_mismatch(dataset, array, expected):
    data_dir = dataset[0]
    np.save(data_dir / "teacher.npy", array)
    assert expected in _error(cache.load_teacher_vectors, data_dir)


def test_vectors_missing_or_garbage(dataset):
    data_dir = dataset[0]
    (data_dir / "teacher.npy").write_bytes(b"garbage")
    assert "not a readable .npy" in _error(cache.load_teacher_vectors, data_dir)
    (data_dir / "teacher.npy").unlink()
    assert "teacher.npy is missing" in _error(cache.load_teacher_vectors, data_dir)


def test_table_row_count_and_columns(dataset):
    data_dir, table, _ = dataset
    cache.write_table_atomic(data_dir / "translations.parquet",
                             pa.Table.from_pandas(table.iloc[:3], preserve_index=False))
    assert "has 3 rows" in _error(cache.load_table, data_dir, "translations")
    assert "no column(s) ['nope']" in _error(cache.load_table, data_dir, "captions", columns=["nope"])
    (data_dir / "captions.parquet").write_bytes(b"PAR1garbage")
    assert "not a readable parquet" in _error(cache.load_table, data_dir)


def test_outputs_of_older_captions_are_refused(dataset):
    data_dir, table, _ = dataset
    cache.write_captions(data_dir, [table.assign(en=table["en"] + "!")], {"sources": []})
    assert "computed from other captions" in _error(cache.load_teacher_vectors, data_dir)
    assert "computed from other captions" in _error(cache.load_table, data_dir, "translations")


class Killed(BaseException):
    """A kill between two writes (not an Exception, so nothing on the way swallows it)."""


@pytest.mark.parametrize("kill_at", ["after the captions replace", "in the manifest write after it"])
def test_captions_rewrite_killed_midway_leaves_no_stale_pairing(dataset, monkeypatch, kill_at):
    data_dir, table, _ = dataset
    real_replace, real_write = files.os.replace, cache.write_manifest

    def replace(src, dst):
        real_replace(src, dst)
        if kill_at.startswith("after") and str(dst).endswith(cache.CAPTIONS):
            raise Killed

    def write_manifest(folder, manifest):
        if not kill_at.startswith("after") and "captions" in manifest and (data_dir / "manifest.json").exists() \
                and "captions" not in cache.read_manifest(data_dir):
            raise Killed  # the entry was dropped, the file replaced, and the new entry never lands
        real_write(folder, manifest)

    monkeypatch.setattr(files.os, "replace", replace)
    monkeypatch.setattr(cache, "write_manifest", write_manifest)
    shuffled = table.assign(en=table["en"].iloc[::-1].to_numpy())  # same row count, rows no longer line up
    with pytest.raises(Killed):
        cache.write_captions(data_dir, [shuffled], {"sources": []})
    monkeypatch.undo()

    assert pq.read_table(data_dir / cache.CAPTIONS)["en"].to_pylist() == shuffled["en"].tolist()  # replaced
    assert "captions" not in cache.read_manifest(data_dir)
    for error in (_error(cache.load_teacher_vectors, data_dir), _error(cache.load_table, data_dir, "translations")):
        assert "has no captions step yet" in error and "python -m data_tools captions" in error


def test_write_dataset_killed_before_its_manifest_leaves_no_old_entries(dataset, monkeypatch):
    data_dir, table, vectors = dataset
    real_replace = files.os.replace

    def replace(src, dst):
        real_replace(src, dst)
        if str(dst).endswith(cache.TEACHER):
            raise Killed  # new vectors on disk, their manifest entry never written

    monkeypatch.setattr(files.os, "replace", replace)
    with pytest.raises(Killed):
        cache.write_dataset(data_dir, table.assign(tr="başka"), -vectors, teacher_info={**TEACHER, "model": "other"},
                            translation_info=TRANSLATION)
    monkeypatch.undo()
    assert "has no teacher step yet" in _error(cache.load_teacher_vectors, data_dir)
    assert "has no translation step yet" in _error(cache.load_table, data_dir, "translations")
