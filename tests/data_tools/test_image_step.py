"""The images step on a tiny CLIP: vectors equal CLIP's own encode_image of the preprocessed file, skipped images
are named and counted, threads change nothing, and the step resumes (also after SIGKILL) to the same bytes."""
from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from data_tools import cache, pipeline
from turkish_clip.errors import InputError
from data_tools.image_files import image_id_of, index_image_folder
from data_tools.image_step import ImagesConfig, embed_images, prefetched
from turkish_clip.images import preprocess

DEMO = Path(__file__).resolve().parents[2] / "demo" / "images"


def _dataset(tmp_path: Path, n_images: int = 13) -> tuple[Path, Path, list[int]]:
    """Captions of n_images COCO images (2 captions each, one text-only caption), their files named the COCO 2014
    way in train2014/ and val2014/ (image 5 missing, image 8 corrupt), built from the demo photos."""
    ids = [100 + 7 * i for i in range(n_images)]
    rows = [(10 * i + k, image_id, "train2014", f"a photo number {i} view {k}") for i, image_id in enumerate(ids)
            for k in range(2)] + [(99999, -1, "train2014", "no image")]
    table = pd.DataFrame(rows, columns=["caption_id", "image_id", "split", "en"])
    data = tmp_path / "data"
    cache.write_captions(data, [table], {"sources": ["synthetic"], "options": {}})
    folder = tmp_path / "coco"
    photos = sorted(DEMO.glob("*.jpg"))
    for i, image_id in enumerate(ids):
        split = "train2014" if i % 2 else "val2014"
        target = folder / split / f"COCO_{split}_{image_id:012d}.jpg"
        target.parent.mkdir(parents=True, exist_ok=True)
        if i == 5:
            continue
        if i == 8:
            target.write_bytes(b"\xff\xd8not a jpeg")
            continue
        shutil.copy(photos[i % len(photos)], target)
    return data, folder, ids


def test_file_names_give_image_ids(tmp_path):
    assert image_id_of("COCO_train2014_000000061844.jpg") == 61844
    assert image_id_of("000000000139.jpg") == 139
    assert image_id_of("1000268201_693b08cb0e.jpg") == 1000268201
    assert image_id_of("holiday.jpg") is None and image_id_of("IMG_1234.jpg") is None
    (tmp_path / "a" / "deep").mkdir(parents=True)
    for name in ("a/deep/COCO_val2014_000000000042.jpg", "000000000042.jpg", "7_ab12.png", "notes.txt"):
        (tmp_path / name).write_bytes(b"x")
    index = index_image_folder(tmp_path)
    assert index == {42: tmp_path / "000000000042.jpg", 7: tmp_path / "7_ab12.png"}


def test_prefetched_keeps_order_and_bounds_the_window():
    started = []

    def work(i):
        started.append(i)
        return i * i

    out = []
    for value in prefetched(work, range(50), workers=3, ahead=4):
        out.append(value)
        assert len(started) <= len(out) + 4  # never more than `ahead` items beyond what was taken
    assert out == [i * i for i in range(50)] and list(prefetched(work, [], 2, 4)) == []


@pytest.mark.parametrize("clip_fixture", ["tiny_openai_clip_pt", "tiny_hf_clip_dir"])
def test_images_step_matches_clip_and_names_skipped_images(tmp_path, clip_fixture, request, caplog):
    from turkish_clip.clip_towers import load_clip

    clip_path = request.getfixturevalue(clip_fixture)
    data, folder, ids = _dataset(tmp_path)
    config = ImagesConfig(image_dir=str(folder), clip=str(clip_path), dtype="float32", batch_size=3, shard_size=5,
                          workers=2)
    with caplog.at_level(logging.WARNING, logger="data_tools.image_step"):
        outcome = embed_images(data, config)
    assert outcome.status == "done" and outcome.rows == 13
    assert "11 images with a vector, 2 skipped (1 missing, 1 corrupt)" in outcome.summary()
    warnings = [r.getMessage() for r in caplog.records]
    assert any(m.startswith(f"image_id {ids[5]}: no image file") for m in warnings)
    assert any(m.startswith(f"image_id {ids[8]}: image ") and "cannot be read" in m for m in warnings)

    image_ids, vectors, info = cache.load_image_vectors(data)
    kept = [i for k, i in enumerate(ids) if k not in (5, 8)]
    assert image_ids.tolist() == kept and vectors.shape == (11, 32) and vectors.dtype == np.float32
    clip = load_clip(str(clip_path))
    index = index_image_folder(folder)
    pixels = np.stack([preprocess(index[i], clip.input_resolution) for i in kept])
    expected = clip.encode_image(torch.from_numpy(pixels)).numpy()
    np.testing.assert_allclose(vectors, expected, atol=1e-5)
    assert info["missing"] == 1 and info["corrupt"] == 1 and info["missing_examples"] == [ids[5]]
    assert info["corrupt_examples"] == [ids[8]] and info["images"] == 11 and info["count"] == 13
    assert info["normalized"] is False and info["dtype"] == "float32" and info["model"] == str(clip_path)
    assert info["preprocessing"]["resolution"] == clip.input_resolution and info["preprocessing"]["crop"] == "center"
    assert info["logit_scale"] == pytest.approx(float(clip.model.logit_scale.detach().exp()), rel=1e-3)
    assert not (data / "work").exists()


def test_threads_change_nothing_and_resume_reuses_shards(tmp_path, tiny_openai_clip_pt):
    data, folder, _ = _dataset(tmp_path)
    other = tmp_path / "again"
    shutil.copytree(data, other)
    options = dict(image_dir=str(folder), clip=str(tiny_openai_clip_pt), batch_size=4, shard_size=4)
    embed_images(data, ImagesConfig(workers=0, **options))
    partial = embed_images(other, ImagesConfig(workers=3, **options), limit=6)
    assert partial.status == "partial" and not (other / cache.IMAGES).exists()
    done = embed_images(other, ImagesConfig(workers=3, **options))
    assert done.status == "done" and done.reused_rows == 6 and done.computed_rows == 7  # --limit 6 stops at 6
    assert (data / cache.IMAGES).read_bytes() == (other / cache.IMAGES).read_bytes()
    assert cache.load_image_vectors(other)[1].dtype == np.float16
    assert embed_images(other, ImagesConfig(workers=1, **options)).status == "already done"


def test_wrong_folder_and_new_captions(tmp_path, tiny_openai_clip_pt, coco_sample_json):
    data, folder, _ = _dataset(tmp_path)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError, match=r"none of the 13 image ids .* has a file in .*empty"):
        embed_images(data, ImagesConfig(image_dir=str(empty), clip=str(tiny_openai_clip_pt)))
    with pytest.raises(InputError, match="image folder .*nowhere does not exist"):
        embed_images(data, ImagesConfig(image_dir=str(tmp_path / "nowhere"), clip=str(tiny_openai_clip_pt)))
    embed_images(data, ImagesConfig(image_dir=str(folder), clip=str(tiny_openai_clip_pt)))
    pipeline.build_captions(data, [coco_sample_json], force=True)  # other captions: the image vectors go
    assert not (data / cache.IMAGES).exists() and "images" not in cache.read_manifest(data)
    with pytest.raises(InputError, match="no images step yet; run: python -m data_tools images IMAGE_FOLDER"):
        cache.load_image_vectors(data)


@pytest.mark.slow
def test_images_resume_after_sigkill_identical(tmp_path, tiny_openai_clip_pt):
    from tests.data_tools.test_cli import _cli, _finish, _kill_after

    data, folder, _ = _dataset(tmp_path)
    shutil.copytree(data, tmp_path / "killed")
    args = [str(folder), "--clip", str(tiny_openai_clip_pt), "--shard-size", "2", "--batch-size", "2"]
    _finish(_cli(["images", "--data-dir", str(data), *args]))
    proc = _cli(["images", "--data-dir", str(tmp_path / "killed"), *args], delay=1.0)
    done = _kill_after(proc, tmp_path / "killed" / "work" / "images", 2, "shard-*.parquet")
    assert 2 <= done < 7 and not (tmp_path / "killed" / cache.IMAGES).exists()
    out = _finish(_cli(["images", "--data-dir", str(tmp_path / "killed"), *args]))
    assert "images: done: 13 rows" in out and f"{2 * done} reused" in out and "2 skipped" in out
    for name in (cache.IMAGES, cache.IMAGE_TABLE):
        assert (data / name).read_bytes() == (tmp_path / "killed" / name).read_bytes()
