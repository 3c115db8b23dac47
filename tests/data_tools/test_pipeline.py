"""Sharded resumable steps (generic machinery with deterministic callables) and the real steps on tiny models."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from data_tools import cache, pipeline
from turkish_clip import files
from turkish_clip.errors import InputError, UserError
from data_tools.shards import ShardedStep, assemble_npy, call_naming_item, iter_shard_chunks, plan_shards


def _captions(data_dir: Path, n: int = 50) -> Path:
    table = pd.DataFrame({"caption_id": np.arange(1000, 1000 + n), "image_id": np.arange(n) // 5,
                          "split": "val2017", "en": [f"caption {i} " + "word " * (i % 7) for i in range(n)]})
    cache.write_captions(data_dir, [table], {"sources": ["synthetic"], "options": {}})
    return data_dir


class Calls:
    """A deterministic 'model': vector of a caption = [caption_id, len(en), scale]; counts loads and shards."""

    def __init__(self, scale: float = 1.0, fail_at: int | None = None):
        self.scale, self.fail_at, self.loads, self.shards = scale, fail_at, 0, []

    def step(self, data_dir: Path, shard_size: int = 8, **key) -> ShardedStep:
        def load():
            self.loads += 1
            return {"model": "fake", "compute_dtype": "float32"}

        def compute(shard, chunk: pa.Table) -> np.ndarray:
            if shard.index == self.fail_at:
                raise KeyboardInterrupt("killed")  # like a kill: nothing of this shard is written
            self.shards.append(shard.index)
            ids = np.asarray(chunk.column("caption_id").to_pylist(), dtype=np.float32)
            lengths = np.asarray([len(t) for t in chunk.column("en").to_pylist()], dtype=np.float32)
            return np.stack([ids, lengths, np.full_like(ids, self.scale)], axis=1)  # [rows, 3]

        return ShardedStep(data_dir=data_dir, step="teacher", command="test", output=cache.TEACHER, suffix=".npy",
                           columns=["caption_id", "en"], key={"scale": self.scale, **key}, options={},
                           shard_size=shard_size, load=load, compute=compute,
                           save_shard=lambda a, p: np.save(p, a),
                           assemble=lambda paths, out: assemble_npy(paths, out, "float32"),
                           loaded_key=("model", "compute_dtype"))


def test_plan_and_chunks_follow_exact_boundaries(tmp_path):
    _captions(tmp_path, 50)
    shards = plan_shards(50, 16)
    assert [(s.start, s.stop) for s in shards] == [(0, 16), (16, 32), (32, 48), (48, 50)]
    chunks = list(iter_shard_chunks(tmp_path / cache.CAPTIONS, ["caption_id"], shards))
    assert [c.num_rows for _, c in chunks] == [16, 16, 16, 2]
    assert sum((c.column("caption_id").to_pylist() for _, c in chunks), []) == list(range(1000, 1050))
    with pytest.raises(UserError, match="shard size must be >= 1"):
        plan_shards(5, 0)


def test_run_assembles_and_cleans_up(tmp_path):
    _captions(tmp_path)
    outcome = Calls().step(tmp_path).run()
    vectors = cache.load_teacher_vectors(tmp_path)
    assert outcome.status == "done" and outcome.computed_rows == 50
    assert vectors.shape == (50, 3) and vectors[:, 0].tolist() == list(range(1000, 1050))
    assert not (tmp_path / "work").exists()
    info = cache.read_manifest(tmp_path)["teacher"]
    assert info["count"] == 50 and info["shard_size"] == 8 and info["dim"] == 3 and info["model"] == "fake"


def test_resume_skips_done_shards_and_ends_identical(tmp_path):
    reference = _captions(tmp_path / "ref")
    Calls().step(reference).run()
    data_dir = _captions(tmp_path / "run")
    first = Calls(fail_at=3)
    with pytest.raises(KeyboardInterrupt):
        first.step(data_dir).run()
    assert first.shards == [0, 1, 2]
    assert len(list((data_dir / "work" / "teacher").glob("shard-*.npy"))) == 3
    second = Calls()
    outcome = second.step(data_dir, shard_size=5).run()  # the recorded shard size (8) wins
    assert second.shards == [3, 4, 5, 6] and outcome.reused_rows == 24 and outcome.computed_rows == 26
    assert (data_dir / "teacher.npy").read_bytes() == (reference / "teacher.npy").read_bytes()


def test_finished_step_does_nothing(tmp_path):
    _captions(tmp_path)
    Calls().step(tmp_path).run()
    mtime = (tmp_path / "teacher.npy").stat().st_mtime_ns
    again = Calls()
    outcome = again.step(tmp_path).run()
    assert outcome.status == "already done" and "nothing to do" in outcome.summary()
    assert again.loads == 0 and again.shards == [] and (tmp_path / "teacher.npy").stat().st_mtime_ns == mtime


def test_killed_during_assembly_resumes_without_the_model(tmp_path, monkeypatch):
    _captions(tmp_path)
    calls = Calls()
    step = calls.step(tmp_path)
    monkeypatch.setattr(cache, "update_manifest", lambda *a, **k: (_ for _ in ()).throw(KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        step.run()
    monkeypatch.undo()
    again = Calls()
    assert again.step(tmp_path).run().status == "done" and again.loads == 0 and again.shards == []
    assert cache.load_teacher_vectors(tmp_path)[:, 0].tolist() == list(range(1000, 1050))


def test_other_options_are_refused_unless_forced(tmp_path):
    _captions(tmp_path)
    with pytest.raises(KeyboardInterrupt):
        Calls(fail_at=2).step(tmp_path).run()
    with pytest.raises(UserError, match=r"partial teacher shards made with other options \(scale: 1.0 → 2.0\)"):
        Calls(scale=2.0).step(tmp_path).run()
    forced = Calls(scale=2.0)
    forced.step(tmp_path).run(force=True)  # discards the old shards: never a mix of two models
    assert forced.shards == list(range(7)) and set(cache.load_teacher_vectors(tmp_path)[:, 2]) == {2.0}
    with pytest.raises(UserError, match=r"teacher.npy was computed with other options \(scale: 2.0 → 1.0\)"):
        Calls(scale=1.0).step(tmp_path).run()


def test_limit_leaves_a_resumable_partial_step(tmp_path):
    _captions(tmp_path)
    calls = Calls()
    outcome = calls.step(tmp_path).run(limit=20)
    assert outcome.status == "partial" and calls.shards == [0, 1, 2]  # 8 + 8 + 4 rows: the shard is cut at 20
    assert outcome.computed_rows == 20 and "20 of 50 rows done" in outcome.note
    assert "teacher" not in cache.read_manifest(tmp_path)
    rest = Calls()
    rest.step(tmp_path).run()
    assert rest.shards == [3, 4, 5, 6, 7]
    assert cache.load_teacher_vectors(tmp_path)[:, 0].tolist() == list(range(1000, 1050))  # every row, in order


def test_limit_smaller_than_a_shard_computes_only_the_limit(tmp_path):
    _captions(tmp_path)
    calls = Calls()
    outcome = calls.step(tmp_path, shard_size=2048).run(limit=5)
    assert outcome.computed_rows == 5 and "5 of 50 rows done" in outcome.note
    again = Calls()
    assert again.step(tmp_path, shard_size=2048).run(limit=3).computed_rows == 0  # already within what is done
    more = Calls()
    assert more.step(tmp_path, shard_size=2048).run(limit=12).computed_rows == 7  # a later cut in the open shard
    rest = Calls()
    assert rest.step(tmp_path, shard_size=2048).run().computed_rows == 38
    assert cache.load_teacher_vectors(tmp_path)[:, 0].tolist() == list(range(1000, 1050))


def test_another_writer_is_refused(tmp_path):
    import fcntl

    _captions(tmp_path)
    with open(tmp_path / ".lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        with pytest.raises(UserError, match="another data_tools run is writing"):
            Calls().step(tmp_path).run()


def test_call_naming_item_finds_the_rejected_caption():
    def model(texts):
        if any("bad" in t for t in texts):
            raise ValueError("cannot encode")
        return [t.upper() for t in texts]

    texts = [f"ok {i}" for i in range(20)]
    assert call_naming_item(model, texts, list(range(20)), "teacher") == [t.upper() for t in texts]
    texts[13] = "a bad one"
    with pytest.raises(InputError, match=r"caption_id 113: the teacher rejects 'a bad one' \(ValueError: cannot"):
        call_naming_item(model, texts, list(range(100, 120)), "teacher")


# ---------------------------------------------------------------- the real steps on tiny models

@pytest.fixture
def captions_dir(tmp_path, coco_sample_json) -> Path:
    outcome = pipeline.build_captions(tmp_path / "data", [coco_sample_json])
    assert outcome.status == "done" and outcome.rows == 280  # 300 minus the 20 captions of 4 XTD10 images
    return tmp_path / "data"


def test_build_captions_is_idempotent_and_guards_options(captions_dir, coco_sample_json):
    again = pipeline.build_captions(captions_dir, [coco_sample_json])
    assert again.status == "already done"
    with pytest.raises(UserError, match="other inputs/options .*limit: None → 10.*--overwrite"):
        pipeline.build_captions(captions_dir, [coco_sample_json], limit=10)
    assert pipeline.build_captions(captions_dir, [coco_sample_json], exclude=None, force=True).rows == 300


def test_build_captions_after_a_killed_rewrite_removes_the_stale_steps(captions_dir, coco_sample_json, monkeypatch):
    Calls().step(captions_dir).run()
    real_replace = files.os.replace

    def replace(src, dst):
        real_replace(src, dst)
        if str(dst).endswith(cache.CAPTIONS):
            raise KeyboardInterrupt("killed")  # new captions on disk, their manifest entry never written

    monkeypatch.setattr(files.os, "replace", replace)
    with pytest.raises(KeyboardInterrupt):
        pipeline.build_captions(captions_dir, [coco_sample_json], exclude=None, force=True)
    monkeypatch.undo()
    assert pipeline.build_captions(captions_dir, [coco_sample_json], exclude=None).status == "done"
    assert "teacher" not in cache.read_manifest(captions_dir) and not (captions_dir / cache.TEACHER).exists()


def test_build_captions_refuses_a_foreign_folder(tmp_path, coco_sample_json):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(InputError, match="is not empty and is not a turkish-clip cache"):
        pipeline.build_captions(tmp_path, [coco_sample_json])


def test_embed_step_matches_the_teacher(captions_dir, tiny_openai_clip_pt):
    from data_tools.teacher import load_teacher

    outcome = pipeline.embed_captions(captions_dir, teacher=str(tiny_openai_clip_pt), dtype="float32",
                                      shard_size=64, batch_size=16)
    assert outcome.status == "done" and outcome.rows == 280
    vectors = cache.load_teacher_vectors(captions_dir)
    texts = cache.load_table(captions_dir, columns=["en"])["en"].tolist()
    expected = load_teacher(str(tiny_openai_clip_pt)).encode(texts, batch_size=16)
    np.testing.assert_allclose(vectors, expected, atol=1e-5)
    info = cache.read_manifest(captions_dir)["teacher"]
    assert info | {"versions": None, "options": None, "key": None, "captions_sha256": None} == info | {
        "kind": "openai-clip", "model": str(tiny_openai_clip_pt), "dim": 32, "dtype": "float32", "count": 280,
        "normalized": False, "versions": None, "options": None, "key": None, "captions_sha256": None}
    assert info["options"]["shard_size"] == 64 and info["versions"]["torch"]


@pytest.mark.parametrize("failure", ["nan", "rejected"])
def test_bad_caption_mid_run_is_named_and_shards_are_kept(captions_dir, tiny_openai_clip_pt, monkeypatch, failure):
    from data_tools import teacher

    original = teacher.Teacher.encode

    def poisoned(self, texts, **kwargs):
        if failure == "rejected" and any("skateboard" in t for t in texts):
            raise ValueError("token out of range")
        out = original(self, texts, **kwargs)
        out[[i for i, t in enumerate(texts) if "skateboard" in t]] = np.nan
        return out

    monkeypatch.setattr(teacher.Teacher, "encode", poisoned)
    table = cache.load_table(captions_dir)
    first_bad = table.loc[table["en"].str.contains("skateboard")].index[0]
    bad_id = table["caption_id"][first_bad]
    expected = "teacher vector is not finite" if failure == "nan" else "the teacher rejects .*token out of range"
    with pytest.raises(InputError, match=rf"caption_id {bad_id}: {expected}"):
        pipeline.embed_captions(captions_dir, teacher=str(tiny_openai_clip_pt), shard_size=32)
    done = sorted((captions_dir / "work" / "teacher").glob("shard-*.npy"))
    assert len(done) == first_bad // 32  # shards before the bad caption are kept
    monkeypatch.undo()
    outcome = pipeline.embed_captions(captions_dir, teacher=str(tiny_openai_clip_pt), shard_size=32)
    assert outcome.reused_rows == 32 * len(done) and cache.load_teacher_vectors(captions_dir).dtype == np.float16


def test_import_translations(captions_dir, tmp_path):
    table = cache.load_table(captions_dir)
    path = tmp_path / "human.tsv"
    rows = [f"{cid}\t{en} (çeviri ğüşıö)" for cid, en in zip(table["caption_id"], table["en"])]
    path.write_text("caption_id\ttr\n" + "\n".join(reversed(rows)) + "\n", encoding="utf-8")
    outcome = pipeline.translate_captions(captions_dir, backend="import", import_path=str(path), shard_size=100)
    assert outcome.status == "done"
    out = cache.load_table(captions_dir, "translations")
    assert out["caption_id"].tolist() == table["caption_id"].tolist()
    assert out["tr"].tolist() == [f"{en} (çeviri ğüşıö)" for en in table["en"]]
    assert set(out["mt_backend"]) == {"import"}
    path.write_text("caption_id\ttr\n" + "\n".join(rows[:-1]) + "\n", encoding="utf-8")
    with pytest.raises(UserError, match="other options"):
        pipeline.translate_captions(captions_dir, backend="import", import_path=str(path))
    with pytest.raises(InputError, match=f"1 of 280 captions have no translation.*{table['caption_id'].iloc[-1]}"):
        pipeline.translate_captions(captions_dir, backend="import", import_path=str(path), force=True)
    assert json.loads((captions_dir / "manifest.json").read_text())["translation"]["count"] == 280  # old one kept


def test_translate_step_matches_the_translator(tmp_path, coco_sample_json, tiny_marian_dir):
    from data_tools.translate import load_translator

    data_dir = tmp_path / "data"
    pipeline.build_captions(data_dir, [coco_sample_json], limit=40)
    options = dict(model=str(tiny_marian_dir), max_length=12, batch_size=8)
    outcome = pipeline.translate_captions(data_dir, shard_size=16, **options)
    assert outcome.status == "done" and outcome.rows == 40 and outcome.computed_rows == 40
    out = cache.load_table(data_dir, "translations")
    captions = cache.load_table(data_dir)
    assert out[["caption_id", "image_id", "split", "en"]].equals(captions)
    expected = load_translator("marian", str(tiny_marian_dir), "cpu", target_lang="tr", max_length=12).translate(
        captions["en"].tolist(), batch_size=8)
    assert out["tr"].tolist() == expected and len(set(expected)) > 10  # outputs depend on the input
    assert set(out["mt_backend"]) == {"marian"} and set(out["mt_model"]) == {str(tiny_marian_dir)}
    info = cache.read_manifest(data_dir)["translation"]
    assert info["backend"] == "marian" and info["target_lang"] == "tr" and info["count"] == 40
    assert info["options"]["num_beams"] == 1 and "transformers" in info["versions"]
    assert pipeline.translate_captions(data_dir, **options).status == "already done"
    with pytest.raises(UserError, match="num_beams: 1 → 2"):
        pipeline.translate_captions(data_dir, num_beams=2, **options)


@pytest.mark.slow
def test_translate_resumes_after_sigkill_identical(tmp_path, coco_sample_json, tiny_marian_dir):
    from tests.data_tools.test_cli import _cli, _finish, _kill_after

    args = ["--model", str(tiny_marian_dir), "--max-length", "8", "--batch-size", "4", "--shard-size", "8"]
    for name in ("reference", "killed"):
        pipeline.build_captions(tmp_path / name, [coco_sample_json], limit=48)
    _finish(_cli(["translate", "--data-dir", str(tmp_path / "reference"), *args]))
    proc = _cli(["translate", "--data-dir", str(tmp_path / "killed"), *args], delay=1.0)
    done = _kill_after(proc, tmp_path / "killed" / "work" / "translation", 2, "shard-*.parquet")
    assert 2 <= done < 6 and not (tmp_path / "killed" / "translations.parquet").exists()
    out = _finish(_cli(["translate", "--data-dir", str(tmp_path / "killed"), *args]))
    assert "translation: done: 48 rows" in out and f"{8 * done} reused" in out
    ref, resumed = ((tmp_path / k / "translations.parquet").read_bytes() for k in ("reference", "killed"))
    assert ref == resumed
    assert cache.load_table(tmp_path / "killed", "translations")["tr"].str.len().gt(0).sum() > 40


def test_embed_max_length_is_an_option_of_the_step(captions_dir, tiny_bert_dir):
    from data_tools.teacher import load_teacher

    config = pipeline.EmbedConfig(teacher=str(tiny_bert_dir), kind="hf-mean-pool", dtype="float32", max_length=6)
    assert pipeline.embed_captions(captions_dir, config).status == "done"
    info = cache.read_manifest(captions_dir)["teacher"]
    assert info["key"]["max_length"] == 6 and info["options"]["max_length"] == 6 and info["context_length"] == 6
    en = cache.load_table(captions_dir, columns=["en"])["en"].tolist()
    expected = load_teacher(tiny_bert_dir, kind="hf-mean-pool", device="cpu", max_length=6).encode(en)
    assert np.abs(cache.load_teacher_vectors(captions_dir) - expected).max() <= 1e-5
    with pytest.raises(UserError, match=r"computed with other options \(max_length: 6 → 8\).*--overwrite"):
        pipeline.embed_captions(captions_dir, config, max_length=8)
    assert pipeline.embed_captions(captions_dir, config).status == "already done"
    # dropping --max-length means the default 128 tokens: other vectors, so not "already done"
    with pytest.raises(UserError, match=r"computed with other options \(max_length: 6 → None\)"):
        pipeline.embed_captions(captions_dir, config, max_length=None)
    with pytest.raises(UserError, match=r"computed with other options \(fp16: None → False\)"):
        pipeline.embed_captions(captions_dir, config, fp16=False)


def test_embed_keys_of_older_caches_still_match(captions_dir, tiny_bert_dir):
    """Caches made before max_length/fp16 were recorded lack them; those meant the defaults."""
    config = pipeline.EmbedConfig(teacher=str(tiny_bert_dir), kind="hf-mean-pool", dtype="float32")
    assert pipeline.embed_captions(captions_dir, config).status == "done"
    manifest = cache.read_manifest(captions_dir)
    old_key = {k: v for k, v in manifest["teacher"]["key"].items() if k not in ("max_length", "fp16")}
    cache.update_manifest(captions_dir, teacher={**manifest["teacher"], "key": old_key})
    assert pipeline.embed_captions(captions_dir, config).status == "already done"


def test_a_damaged_shard_is_one_line_naming_it_and_the_fix(captions_dir, tiny_bert_dir):
    config = pipeline.EmbedConfig(teacher=str(tiny_bert_dir), kind="hf-mean-pool", dtype="float32", shard_size=8)
    assert pipeline.embed_captions(captions_dir, config, limit=8).status == "partial"
    shard = sorted((captions_dir / "work" / "teacher").glob("shard-*.npy"))[0]
    shard.write_bytes(shard.read_bytes()[:100])  # truncated (a crash of the machine, a full disk)
    with pytest.raises(InputError) as info:
        pipeline.embed_captions(captions_dir, config)
    message = str(info.value)
    assert "\n" not in message and message.startswith(f"{shard} is damaged (")
    assert "delete it and run python -m data_tools embed again to recompute it" in message
    shard.unlink()
    assert pipeline.embed_captions(captions_dir, config).status == "done"
