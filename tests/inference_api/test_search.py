"""Folder search: the cached index is refreshed for added / removed / changed files, corrupt images are skipped
with a warning, results are ranked by cosine."""
from __future__ import annotations

import logging
import shutil

import numpy as np
import pytest

from turkish_clip.errors import InputError
from tests.conftest import REPO
from inference_api.search import default_index_path, index_folder, model_key

DEMO = sorted((REPO / "demo" / "images").glob("*.jpg"))


@pytest.fixture
def folder(tmp_path):
    images = tmp_path / "photos"
    images.mkdir()
    for path in DEMO[:3]:
        shutil.copy(path, images / path.name)
    return images


def test_index_is_reused_and_refreshed(image_encoder, folder, tmp_path):
    index_path = tmp_path / "index.npz"
    first = index_folder(folder, image_encoder, index_path=index_path, progress=False)
    assert first.counts == {"images": 3, "reused": 0, "embedded": 3, "removed": 0, "skipped": 0}
    np.testing.assert_allclose(first.vectors, image_encoder.encode([folder / p for p in first.paths]), atol=1e-6)
    stamp = index_path.stat().st_mtime_ns

    again = index_folder(folder, image_encoder, index_path=index_path, progress=False)
    assert again.counts["reused"] == 3 and again.counts["embedded"] == 0
    assert index_path.stat().st_mtime_ns == stamp  # nothing changed, nothing rewritten
    np.testing.assert_array_equal(again.vectors, first.vectors)

    shutil.copy(DEMO[3], folder / DEMO[3].name)  # added
    added = index_folder(folder, image_encoder, index_path=index_path, progress=False)
    assert added.counts == {"images": 4, "reused": 3, "embedded": 1, "removed": 0, "skipped": 0}
    assert DEMO[3].name in added.paths

    (folder / DEMO[0].name).unlink()  # removed
    shutil.copy(DEMO[4], folder / DEMO[1].name)  # changed: other content (and size) under the same name
    changed = index_folder(folder, image_encoder, index_path=index_path, progress=False)
    assert changed.counts == {"images": 3, "reused": 2, "embedded": 1, "removed": 1, "skipped": 0}
    assert DEMO[0].name not in changed.paths
    row = changed.paths.index(DEMO[1].name)
    np.testing.assert_allclose(changed.vectors[row], image_encoder.encode([DEMO[4]])[0], atol=1e-6)


def test_corrupt_image_is_skipped_with_a_warning(image_encoder, folder, tmp_path, caplog):
    (folder / "bozuk.jpg").write_bytes(b"not a jpeg at all")
    with caplog.at_level(logging.WARNING, logger="inference_api.search"):
        index = index_folder(folder, image_encoder, index_path=tmp_path / "i.npz", progress=False)
    assert "bozuk.jpg" not in index.paths and len(index.paths) == 3
    assert index.skipped == ["bozuk.jpg"] and index.counts["skipped"] == 1
    assert any("bozuk.jpg" in r.getMessage() for r in caplog.records)


def test_ranking_by_cosine(image_encoder, folder, tmp_path):
    index = index_folder(folder, image_encoder, index_path=tmp_path / "i.npz", progress=False)
    target = index.vectors[1]
    results = index.search(target, top=2)
    assert len(results) == 2 and results[0][0] == folder / index.paths[1]
    assert results[0][1] == pytest.approx(1.0, abs=1e-5) and results[0][1] >= results[1][1]
    assert [p for p, _ in index.search(target, top=99)] == [folder / index.paths[i]
                                                           for i in np.argsort(-(index.vectors @ target))]


def test_empty_or_unreadable_folders_are_named(image_encoder, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("no images here")
    with pytest.raises(InputError, match=f"{empty}.* has no images"):
        index_folder(empty, image_encoder, index_path=tmp_path / "a.npz", progress=False)
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "x.png").write_bytes(b"garbage")
    with pytest.raises(InputError, match="none of the 1 images"):
        index_folder(broken, image_encoder, index_path=tmp_path / "b.npz", progress=False)


def test_default_index_location_follows_the_cache_env(image_encoder, folder, tmp_path, monkeypatch):
    monkeypatch.setenv("TURKISH_CLIP_CACHE", str(tmp_path / "cache"))
    index = index_folder(folder, image_encoder, progress=False)
    assert index.index_path.parent == tmp_path / "cache" / "index" and index.index_path.is_file()
    monkeypatch.delenv("TURKISH_CLIP_CACHE")
    monkeypatch.setenv("TURKISH_CLIP_HOME", str(tmp_path / "home"))  # else the user folder, as for the models
    assert default_index_path(folder, model_key(image_encoder)).parent == tmp_path / "home" / "index"


@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty"])
def test_damaged_index_is_rebuilt_with_a_warning(image_encoder, folder, tmp_path, caplog, damage):
    index_path = tmp_path / "index.npz"
    first = index_folder(folder, image_encoder, index_path=index_path, progress=False)
    data = index_path.read_bytes()
    index_path.write_bytes({"truncated": data[:len(data) // 2], "garbage": b"PK\x03\x04" + b"\x00" * 100,
                            "empty": b""}[damage])
    with caplog.at_level(logging.WARNING, logger="inference_api.search"):
        again = index_folder(folder, image_encoder, index_path=index_path, progress=False)
    assert again.counts["embedded"] == 3 and again.counts["reused"] == 0
    np.testing.assert_allclose(again.vectors, first.vectors, atol=1e-6)
    assert any(str(index_path) in r.getMessage() and "unreadable" in r.getMessage() for r in caplog.records)
    third = index_folder(folder, image_encoder, index_path=index_path, progress=False)  # the rebuilt file is good
    assert third.counts["reused"] == 3


def test_index_is_written_atomically_and_fsynced(image_encoder, folder, tmp_path, monkeypatch):
    import os

    synced = set()
    real_fsync = os.fsync

    def fsync(fd):
        synced.add(os.fstat(fd).st_ino)
        return real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    index_path = tmp_path / "cache" / "index.npz"
    index_folder(folder, image_encoder, index_path=index_path, progress=False)
    assert index_path.stat().st_ino in synced  # the renamed file's content reached the disk
    assert [p.name for p in index_path.parent.iterdir()] == ["index.npz"]  # no temporary file left behind


def test_unreadable_images_are_remembered_until_they_change(image_encoder, folder, tmp_path, caplog, monkeypatch):
    import inference_api.search as search

    decoded = []
    real_preprocess = search.preprocess
    monkeypatch.setattr(search, "preprocess", lambda path, *a, **k: decoded.append(path.name) or
                        real_preprocess(path, *a, **k))
    (folder / "bozuk.jpg").write_bytes(b"not a jpeg at all")
    index_path = tmp_path / "index.npz"
    first = index_folder(folder, image_encoder, index_path=index_path, progress=False)
    assert first.skipped == ["bozuk.jpg"] and "bozuk.jpg" in decoded
    stamp = index_path.stat().st_mtime_ns

    decoded.clear()
    with caplog.at_level(logging.WARNING, logger="inference_api.search"):
        second = index_folder(folder, image_encoder, index_path=index_path, progress=False)
    assert decoded == []  # neither the bad file nor the good ones were decoded again
    assert second.counts == {"images": 3, "reused": 3, "embedded": 0, "removed": 0, "skipped": 1}
    assert second.skipped == ["bozuk.jpg"] and "bozuk.jpg" not in second.paths
    assert any("bozuk.jpg" in r.getMessage() for r in caplog.records)  # still warned about
    assert index_path.stat().st_mtime_ns == stamp  # nothing changed, nothing rewritten

    shutil.copy(DEMO[3], folder / "bozuk.jpg")  # repaired: read again
    repaired = index_folder(folder, image_encoder, index_path=index_path, progress=False)
    assert decoded == ["bozuk.jpg"]
    assert repaired.counts == {"images": 4, "reused": 3, "embedded": 1, "removed": 0, "skipped": 0}
    assert repaired.skipped == [] and "bozuk.jpg" in repaired.paths


def test_index_with_malformed_contents_is_rebuilt(image_encoder, folder, tmp_path, caplog):
    import json

    from inference_api.search import FORMAT, VERSION, model_key

    index_path = tmp_path / "index.npz"
    meta = {"format": FORMAT, "version": VERSION, "key": model_key(image_encoder), "skipped": 5}
    np.savez(index_path, meta=np.asarray(json.dumps(meta)), paths=np.asarray(["a.jpg"]), sizes=np.zeros(1, np.int64),
             mtimes=np.zeros(1, np.int64), vectors=np.zeros((1, image_encoder.dim), np.float32))
    with caplog.at_level(logging.WARNING, logger="inference_api.search"):
        index = index_folder(folder, image_encoder, index_path=index_path, progress=False)
    assert index.counts["embedded"] == 3 and any(str(index_path) in r.getMessage() for r in caplog.records)
