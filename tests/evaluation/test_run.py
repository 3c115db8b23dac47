"""A full tiny-model evaluation: three baselines, numbers equal to the metrics on the same embeddings, cache reuse."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from evaluation.classification import load_image_folder
from evaluation.datasets import load_captions_tsv
from evaluation.demo import DEMO_CAPTIONS, DEMO_IMAGES, write_demo_captions
from evaluation.image_cache import VECTORS
from turkish_clip.metrics import class_embeddings, fidelity, retrieval_recall, zero_shot_accuracy
from evaluation.run import evaluate_retrieval, evaluate_zero_shot
from inference_api.zeroshot import TEMPLATES

pytestmark = pytest.mark.slow  # loads a tiny TF student and a tiny CLIP (~20 s with the session fixtures)
RECALLS = [f"{d}_R@{k}" for d in ("t2i", "i2t") for k in (1, 5, 10)]


@pytest.fixture(scope="module")
def model(tiny_student_dir, tiny_clip512_pt):
    from inference_api.api import TurkishCLIP

    return TurkishCLIP(str(tiny_student_dir), None, str(tiny_clip512_pt))


@pytest.fixture(scope="module")
def teacher(model):
    from evaluation.run import clip_text_teacher

    return clip_text_teacher(model)


@pytest.fixture()
def demo_set(tmp_path):
    return load_captions_tsv(write_demo_captions(tmp_path / "captions.tsv"), name="demo")


class Counting:
    """An image encoder wrapper that counts the images it embeds (and can fail after some calls)."""

    def __init__(self, inner, fail_after: int | None = None):
        self.inner, self.fail_after, self.images, self.calls = inner, fail_after, 0, 0
        self.dim, self.batch_size, self.resolution, self.model_id = inner.dim, inner.batch_size, inner.resolution, \
            inner.model_id
        self.clip = inner.clip

    def encode(self, images, *args, **kwargs):
        self.calls += 1
        if self.fail_after is not None and self.calls > self.fail_after:
            raise KeyboardInterrupt("killed")
        self.images += len(images)
        return self.inner.encode(images, *args, **kwargs)


def test_retrieval_reports_three_baselines_equal_to_the_metrics(model, teacher, demo_set, tmp_path):
    results = evaluate_retrieval(demo_set, model, cache_dir=tmp_path / "cache", progress=False)
    block = results["retrieval"]["demo"]
    assert set(block["models"]) == {"student", "clip_tr", "clip_en"}
    assert block["info"]["images"] == 6 and block["info"]["captions"] == len(DEMO_CAPTIONS) == 12
    assert block["info"]["image_cache"]["embedded"] == 6 and block["info"]["image_cache"]["reused"] == 0
    images = np.load(Path(block["info"]["image_cache"]["folder"]) / VECTORS)  # [6, 512]
    np.testing.assert_allclose(images, model.encode_image(demo_set.image_paths), atol=1e-5)
    expected = {"student": model.encode_text(demo_set.captions), "clip_tr": teacher.encode(demo_set.captions),
                "clip_en": teacher.encode(demo_set.english)}
    for name, texts in expected.items():
        entry = block["models"][name]
        direct = retrieval_recall(texts, images, demo_set.caption_to_image)
        for key in RECALLS:
            assert 0.0 <= entry[key] <= 1.0
            assert entry[key] == pytest.approx(direct[key]), (name, key)
        assert entry["t2i_R@10"] == 1.0  # 6 images: every caption's image is in the top 10
        assert len(entry["curve"]["t2i"]) == 6 and entry["curve"]["t2i"][-1] == 1.0
    raw = model.text.encode(demo_set.captions, normalize=False)
    got = results["fidelity"]["demo"]["models"]["student"]
    want = fidelity(raw, expected["clip_en"])
    assert got["mse"] == pytest.approx(want["mse"], rel=1e-5) and got["cosine"] == pytest.approx(want["cosine"])
    assert results["fidelity"]["demo"]["models"]["clip_tr"]["R@1"] == pytest.approx(
        fidelity(expected["clip_tr"], expected["clip_en"])["R@1"])


def test_image_embeddings_are_cached_and_reused(model, demo_set, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    counting = Counting(model.image)
    monkeypatch.setattr(model, "_image", counting)
    first = evaluate_retrieval(demo_set, model, cache_dir=cache, progress=False)
    folder = Path(first["retrieval"]["demo"]["info"]["image_cache"]["folder"])
    stamp = (folder / VECTORS).stat().st_mtime_ns
    assert counting.images == 6 and not (folder / "work").exists()
    second = evaluate_retrieval(demo_set, model, cache_dir=cache, progress=False)
    assert counting.images == 6  # nothing embedded again
    assert second["retrieval"]["demo"]["info"]["image_cache"] == {"folder": str(folder), "embedded": 0, "reused": 6}
    assert (folder / VECTORS).stat().st_mtime_ns == stamp
    assert second["retrieval"]["demo"]["models"] == first["retrieval"]["demo"]["models"]


def test_image_embedding_resumes_after_a_killed_run(model, demo_set, tmp_path, monkeypatch):
    from evaluation.image_cache import embed_images

    failing = Counting(model.image, fail_after=2)  # shards of 2 images, batches of 1: dies in the 2nd shard
    failing.batch_size = 1
    with pytest.raises(KeyboardInterrupt):
        embed_images(demo_set.image_paths, failing, tmp_path, "demo", shard_size=2, progress=False)
    resumed = Counting(model.image)
    done = embed_images(demo_set.image_paths, resumed, tmp_path, "demo", shard_size=2, progress=False)
    assert done.counts == {"embedded": 4, "reused": 2} and resumed.images == 4
    np.testing.assert_allclose(done.vectors, model.encode_image(demo_set.image_paths), atol=1e-5)


def test_a_damaged_image_shard_is_recomputed(model, demo_set, tmp_path):
    from evaluation.image_cache import embed_images

    failing = Counting(model.image, fail_after=4)  # shards of 2 images, batches of 1: 2 shards done, then killed
    failing.batch_size = 1
    with pytest.raises(KeyboardInterrupt):
        embed_images(demo_set.image_paths, failing, tmp_path, "demo", shard_size=2, progress=False)
    shard = sorted(tmp_path.glob("demo-*/work/shard-*.npy"))[0]
    shard.write_bytes(b"\x93NUMPY garbage")  # truncated by a crash of the disk or the machine
    resumed = Counting(model.image)
    done = embed_images(demo_set.image_paths, resumed, tmp_path, "demo", shard_size=2, progress=False)
    assert done.counts == {"embedded": 4, "reused": 2}
    np.testing.assert_allclose(done.vectors, model.encode_image(demo_set.image_paths), atol=1e-5)


def test_two_evaluations_sharing_a_cache_take_turns(model, demo_set, tmp_path):
    """The second waits for the first's lock before it cleans up temporary files or embeds anything."""
    import threading

    from turkish_clip.files import folder_lock
    from evaluation.image_cache import embed_images

    embed_images(demo_set.image_paths[:1], model.image, tmp_path, "warm", progress=False)  # loads the model
    first = Counting(model.image)
    done = embed_images(demo_set.image_paths, first, tmp_path, "demo", progress=False)
    folder = done.folder
    (folder / "image_embeddings.json").unlink()  # make the next run recompute
    (folder / "work").mkdir()
    writing = folder / "work" / f".shard.tmp-{__import__('os').getpid()}.npy"  # another writer's file in flight
    writing.write_bytes(b"partial")
    result = {}
    with folder_lock(folder):
        thread = threading.Thread(target=lambda: result.update(done=embed_images(
            demo_set.image_paths, Counting(model.image), tmp_path, "demo", progress=False)))
        thread.start()
        thread.join(timeout=3)
        assert thread.is_alive() and writing.exists()  # waiting for the lock: nothing removed
    thread.join(timeout=120)
    assert not thread.is_alive() and result["done"].counts["embedded"] == 6 and not writing.exists()


def test_zero_shot_reports_three_baselines_equal_to_the_metrics(model, teacher, tmp_path):
    from inference_api.prompts import templates

    root = tmp_path / "classes"
    for folder, image in (("kedi", "cat.jpg"), ("kahve", "coffee.jpg"), ("roket", "rocket.jpg")):
        (root / folder).mkdir(parents=True)
        (root / folder / image).write_bytes((DEMO_IMAGES / image).read_bytes())
    dataset = load_image_folder(root, name="three")  # classes sorted: kahve, kedi, roket
    english = ["coffee", "cat", "rocket"]
    results = evaluate_zero_shot(dataset, model, cache_dir=tmp_path / "cache", names_en=english, progress=False)
    block = results["zero_shot"]["three"]
    assert set(block["models"]) == {"student", "clip_tr", "clip_en"} and block["classes"] == ["kahve", "kedi", "roket"]
    images = model.encode_image(dataset.image_paths)
    tr, en = templates("tr"), templates("en")
    prompts_tr = [t.replace("{}", name) for name in dataset.classes for t in tr]
    prompts_en = [t.replace("{}", name) for name in english for t in en]
    vectors = {"student": model.encode_text(prompts_tr).reshape(3, len(tr), -1),
               "clip_tr": teacher.encode(prompts_tr).reshape(3, len(tr), -1),
               "clip_en": teacher.encode(prompts_en).reshape(3, len(en), -1)}
    for name, per_template in vectors.items():
        entry = block["models"][name]
        direct = zero_shot_accuracy(images, class_embeddings(per_template), dataset.labels)
        assert entry["top1"] == pytest.approx(direct["top1"]) and 0.0 <= entry["top1"] <= 1.0
        assert np.asarray(entry["confusion"]).sum() == 3 and np.trace(entry["confusion"]) == round(3 * entry["top1"])
    # the evaluated student classifier is the one `inference.py classify` ships: same templates, same averaging
    shipped = model.classify(dataset.image_paths, dataset.classes)  # [3 images, 3 classes]
    predicted = shipped.argmax(axis=1)
    assert block["info"]["templates"]["tr"] == list(TEMPLATES)
    assert block["models"]["student"]["top1"] == pytest.approx(np.mean(predicted == np.asarray(dataset.labels)))
    confusion = np.zeros((3, 3), int)
    np.add.at(confusion, (np.asarray(dataset.labels), predicted), 1)
    np.testing.assert_array_equal(block["models"]["student"]["confusion"], confusion)


def test_without_english_there_is_no_upper_bound_and_no_fidelity(model, tmp_path):
    from evaluation.demo import DEMO_CAPTIONS

    tsv = tmp_path / "tr_only.tsv"
    tsv.write_text("".join(f"{DEMO_IMAGES / image}\t{tr}\n" for image, tr, _ in DEMO_CAPTIONS[:4]), encoding="utf-8")
    results = evaluate_retrieval(load_captions_tsv(tsv), model, cache_dir=tmp_path / "cache", progress=False)
    assert set(results) == {"retrieval"}
    block = results["retrieval"]["tr_only"]
    assert set(block["models"]) == {"student", "clip_tr"} and block["info"]["images"] == 2
    assert all(block["models"][m]["t2i_R@5"] == 1.0 for m in block["models"])  # 2 images: always in the top 5


def test_scoring_images_the_student_was_trained_on_warns(tiny_student_dir, tiny_clip512_pt, demo_set, tmp_path,
                                                         caplog):
    """A student folder records the image ids it was trained on; evaluating on any of them is flagged."""
    import dataclasses
    import shutil

    import turkish_clip  # noqa: F401
    from inference import TurkishCLIP

    folder = tmp_path / "student"
    shutil.copytree(tiny_student_dir, folder)
    np.save(folder / "training_image_ids.npy", np.array([5, 1002, 1003, 9000], np.int64))
    coco_ids = dataclasses.replace(demo_set, image_ids=list(range(1000, 1000 + demo_set.n_images)))
    leaky = TurkishCLIP(str(folder), None, str(tiny_clip512_pt))
    with caplog.at_level("WARNING"):
        results = evaluate_retrieval(coco_ids, leaky, cache_dir=tmp_path / "cache", progress=False)
    assert results["retrieval"]["demo"]["info"]["training_overlap"] == {"images_in_training": 2,
                                                                       "examples": [1002, 1003]}
    assert "trained on captions of 2 of its 6 images" in caplog.text
    caplog.clear()
    clean = dataclasses.replace(demo_set, image_ids=list(range(2000, 2000 + demo_set.n_images)))
    with caplog.at_level("WARNING"):
        results = evaluate_retrieval(clean, leaky, cache_dir=tmp_path / "cache", progress=False)
    assert results["retrieval"]["demo"]["info"]["training_overlap"]["images_in_training"] == 0
    assert "trained on captions" not in caplog.text
