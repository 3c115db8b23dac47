"""The saved student: a save/load round trip gives identical vectors; PyTorch weights match; evaluate on a cache."""
from __future__ import annotations

import json

import numpy as np
import pytest

import distill  # noqa: F401
from turkish_clip.errors import InputError
from distill.data import load_splits
from distill.evaluate import evaluate_saved, metrics
from distill.export import load_student, save_student
from distill.head import load_head
from distill.student import build_student, encode, load_encoder, load_tokenizer
from tests.distill.helpers import bag_cache

TEXTS = ["Çocuk sokakta koşuyor", "İstanbul güzel bir şehir", "kırmızı şapka", "Şule ağaç önünde oturuyor Ümit bakıyor"]
INFO = {"base_model": "tiny", "max_length": 16, "text_column": "tr", "normalized_targets": False,
        "teacher": {"model": "tiny-bag-teacher", "kind": "hf-clip", "dim": 16, "normalized": False},
        "loss": "mse", "val_fraction": 0.2, "seed": 42}


@pytest.fixture(scope="module")
def saved(tmp_path_factory, tiny_student_pt):
    tmp = tmp_path_factory.mktemp("export")
    student = build_student(load_encoder(str(tiny_student_pt)), 16)
    student.head.layers[-1].bias.assign(np.linspace(-1, 1, 16).astype(np.float32))  # not the zero init
    tokenizer = load_tokenizer(str(tiny_student_pt))
    save_student(student, tokenizer, tmp / "student", INFO, head_path=tmp / "clip_head.h5")
    return tmp, student, tokenizer


def test_round_trip_gives_identical_vectors(saved):
    tmp, student, tokenizer = saved
    loaded, loaded_tokenizer, meta = load_student(tmp / "student")
    np.testing.assert_array_equal(encode(loaded, loaded_tokenizer, TEXTS), encode(student, tokenizer, TEXTS))
    assert meta["pooling"] == "mean" and meta["embedding_dim"] == 16 and meta["hidden_size"] == 32
    assert meta["teacher"]["dim"] == 16 and meta["normalized_targets"] is False


def test_top_level_head_equals_the_folder_copy(saved):
    tmp, student, _ = saved
    x = np.random.default_rng(0).normal(size=(3, 32)).astype(np.float32)
    for path in (tmp / "clip_head.h5", tmp / "student" / "clip_head.h5"):
        np.testing.assert_array_equal(load_head(path)(x).numpy(), student.head(x).numpy())


def test_pytorch_weights_give_the_same_hidden_states(saved):
    """transformers >= 5 users (no TF) load the folder with torch and get the same encoder."""
    import torch
    from transformers import AutoModel

    tmp, student, tokenizer = saved
    files = {p.name for p in (tmp / "student").iterdir()}
    assert {"tf_model.h5", "model.safetensors", "config.json", "tokenizer.json", "student.json", "clip_head.h5"} <= files
    batch = tokenizer(TEXTS, padding=True, return_tensors="np")
    model = AutoModel.from_pretrained(str(tmp / "student")).eval()
    with torch.no_grad():
        torch_states = model(**{k: torch.tensor(v) for k, v in batch.items()}).last_hidden_state.numpy()
    tf_states = student.encoder(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state.numpy()
    np.testing.assert_allclose(torch_states, tf_states, atol=1e-5)


def test_evaluate_saved_on_a_cache(saved):
    tmp, student, tokenizer = saved
    data = bag_cache(tmp / "data", n_images=30, per_image=2)
    result = evaluate_saved(str(tmp / "student"), str(data))
    _, val, _ = load_splits(data, val_fraction=0.2, seed=42)
    expected = metrics(encode(student, tokenizer, val.texts, 16), val.targets)
    assert result["count"] == len(val) == 12
    assert result["mse"] == pytest.approx(expected["mse"], rel=1e-5) and result["r1"] == expected["r1"]


def test_not_a_student_folder(tmp_path):
    with pytest.raises(InputError, match="has no student.json; it is not a trained student"):
        load_student(tmp_path)
    (tmp_path / "student.json").write_text(json.dumps({"format": "other"}))
    with pytest.raises(InputError, match="is not a turkish-clip-student file"):
        load_student(tmp_path)


class Killed(BaseException):
    """Stands in for SIGKILL at one point of a save."""


def test_a_save_killed_between_renames_keeps_the_previous_student(tmp_path, tiny_student_pt, monkeypatch):
    student = build_student(load_encoder(str(tiny_student_pt)), 16)
    tokenizer = load_tokenizer(str(tiny_student_pt))
    out = tmp_path / "student"
    save_student(student, tokenizer, out, {**INFO, "run": "first"}, pytorch=False)
    real_rename = type(out).rename

    def rename(self, target):
        if type(out)(target) == out:  # the moment the new folder would be renamed in
            raise Killed
        return real_rename(self, target)

    monkeypatch.setattr(type(out), "rename", rename)
    with pytest.raises(Killed):
        save_student(student, tokenizer, out, {**INFO, "run": "second"}, pytorch=False)
    monkeypatch.undo()
    previous = [p for p in tmp_path.iterdir() if (p / "student.json").is_file()
                and json.loads((p / "student.json").read_text())["run"] == "first"]
    assert previous, f"the previous student is gone: {sorted(p.name for p in tmp_path.iterdir())}"
    with pytest.raises(InputError, match=r"a save was interrupted; the previous student is in .*\.student\.old-"):
        load_student(out)
    # the next save cleans up after the killed one and leaves only the new folder
    save_student(student, tokenizer, out, {**INFO, "run": "third"}, pytorch=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["student"]
    assert load_student(out)[2]["run"] == "third"


def test_a_failed_save_leaves_the_previous_student_and_no_temporary_folder(tmp_path, tiny_student_pt, monkeypatch):
    student = build_student(load_encoder(str(tiny_student_pt)), 16)
    tokenizer = load_tokenizer(str(tiny_student_pt))
    save_student(student, tokenizer, tmp_path / "student", {**INFO, "run": "first"}, pytorch=False)
    monkeypatch.setattr(tokenizer, "save_pretrained", lambda *a, **k: (_ for _ in ()).throw(OSError("disk full")))
    with pytest.raises(OSError, match="disk full"):
        save_student(student, tokenizer, tmp_path / "student", {**INFO, "run": "second"}, pytorch=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["student"]
    assert load_student(tmp_path / "student")[2]["run"] == "first"


def test_every_file_is_fsynced_before_the_folder_is_published(tmp_path, tiny_student_pt, monkeypatch):
    import os
    from pathlib import Path

    student = build_student(load_encoder(str(tiny_student_pt)), 16)
    tokenizer = load_tokenizer(str(tiny_student_pt))
    out = tmp_path / "student"
    events, real_fsync, real_rename = [], os.fsync, Path.rename

    def fsync(fd):
        events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        return real_fsync(fd)

    def rename(self, target):
        events.append(("rename", str(self), str(target)))
        return real_rename(self, target)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(Path, "rename", rename)
    save_student(student, tokenizer, out, INFO, head_path=tmp_path / "clip_head.h5", pytorch=False,
                 arrays={"training_image_ids.npy": np.arange(3)})
    monkeypatch.undo()
    publish = next(i for i, e in enumerate(events) if e[0] == "rename" and e[2] == str(out))
    tmp = events[publish][1]
    synced = {Path(e[1]).relative_to(tmp).as_posix() for e in events[:publish]
              if e[0] == "fsync" and e[1].startswith(tmp + "/")}
    files = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    assert {"student.json", "clip_head.h5", "tf_model.h5", "training_image_ids.npy"} <= files
    assert files <= synced, f"published without fsync: {sorted(files - synced)}"
    # the top-level head is a copy of the folder's own, written after the folder (never from another run)
    assert (tmp_path / "clip_head.h5").read_bytes() == (out / "clip_head.h5").read_bytes()
