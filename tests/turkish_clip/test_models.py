"""Model resolution: flag > environment variable > ./student > user folder; which format was found; one-line
messages."""
from __future__ import annotations

import json

import pytest

from turkish_clip.errors import ModelNotFoundError
from turkish_clip import models
from turkish_clip.models import resolve_clip, resolve_text_model


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    for name in (models.ENV_MODEL, models.ENV_HEAD, models.ENV_CLIP):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(models.ENV_HOME, str(tmp_path / "home"))  # no trained student in the user folder
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _student(folder):
    folder.mkdir(parents=True)
    (folder / "student.json").write_text(json.dumps({"format": "turkish-clip-student"}))
    return folder


def test_default_student_folder_in_the_working_directory(clean_env):
    with pytest.raises(ModelNotFoundError) as info:
        resolve_text_model()
    assert "\n" not in str(info.value) and "TURKISH_CLIP_MODEL" in str(info.value) and "make smoke" in str(info.value)
    folder = _student(clean_env / "student")
    assert resolve_text_model() == models.TextModelSpec("student", str(folder), None)


def test_flag_beats_environment_and_head_override(clean_env, monkeypatch):
    env_student, flag_student = _student(clean_env / "a"), _student(clean_env / "b")
    monkeypatch.setenv(models.ENV_MODEL, str(env_student))
    assert resolve_text_model().encoder == str(env_student)
    assert resolve_text_model(str(flag_student)).encoder == str(flag_student)
    head = clean_env / "my_head.h5"
    head.write_bytes(b"h5")
    assert resolve_text_model(head=str(head)).head == str(head)  # an explicit --head replaces the folder's own


def test_a_student_folder_keeps_its_own_head(clean_env, monkeypatch, caplog):
    """Neither $TURKISH_CLIP_HEAD nor ./clip_head.h5 silently replaces a student folder's head."""
    student = _student(clean_env / "student")
    (clean_env / "clip_head.h5").write_bytes(b"h5")
    other = clean_env / "other.h5"
    other.write_bytes(b"h5")
    monkeypatch.setenv(models.ENV_HEAD, str(other))
    with caplog.at_level("WARNING"):
        spec = resolve_text_model()
    assert spec == models.TextModelSpec("student", str(student), None)
    assert "TURKISH_CLIP_HEAD" in caplog.text and "ignored" in caplog.text
    assert resolve_text_model(str(student)).head is None


def test_hugging_face_encoder_pairs_with_a_head(clean_env, monkeypatch):
    hf = clean_env / "hf"
    hf.mkdir()
    (hf / "config.json").write_text("{}")
    with pytest.raises(ModelNotFoundError, match="--head / TURKISH_CLIP_HEAD"):
        resolve_text_model(str(hf))
    (clean_env / "clip_head.h5").write_bytes(b"h5")  # may belong to any encoder: never paired automatically
    with pytest.raises(ModelNotFoundError, match="clip_head.h5 exists but is not used automatically"):
        resolve_text_model(str(hf))
    head = str(clean_env / "clip_head.h5")
    assert resolve_text_model(str(hf), head) == models.TextModelSpec("pair", str(hf), head)
    monkeypatch.setenv(models.ENV_HEAD, head)
    assert resolve_text_model(str(hf)) == models.TextModelSpec("pair", str(hf), head)
    hub = resolve_text_model(models.MONATIS_ENCODER)
    assert hub.kind == "pair" and hub.encoder == "mys/distilbert-base-turkish-cased-clip"
    with pytest.raises(ModelNotFoundError, match="head file .*missing.h5 does not exist"):
        resolve_text_model(str(hf), str(clean_env / "missing.h5"))


def test_missing_or_odd_paths(clean_env):
    with pytest.raises(ModelNotFoundError, match="folder .*nope does not exist"):
        resolve_text_model("./nope")
    (clean_env / "empty").mkdir()
    with pytest.raises(ModelNotFoundError, match="neither student.json .* nor config.json"):
        resolve_text_model(str(clean_env / "empty"))
    assert resolve_clip() == "ViT-B/32"
    with pytest.raises(ModelNotFoundError, match="--clip / TURKISH_CLIP_CLIP"):
        resolve_clip(str(clean_env / "no.pt"))


def test_user_folder_comes_after_the_working_directory(clean_env, monkeypatch):
    home = clean_env / "home"
    user_student = _student(home / "student")
    (home / "clip_head.h5").write_bytes(b"h5")
    assert models.search_dirs() == [clean_env.resolve(), home.resolve()]
    assert resolve_text_model() == models.TextModelSpec("student", str(home.resolve() / "student"), None)
    assert models.default_student() == home.resolve() / "student" and user_student.is_dir()
    hf = clean_env / "hf"
    hf.mkdir()
    (hf / "config.json").write_text("{}")
    with pytest.raises(ModelNotFoundError, match="clip_head.h5 exists but is not used automatically"):
        resolve_text_model(str(hf))  # a head in the user folder may belong to any encoder: never auto-paired
    local = _student(clean_env / "student")
    assert resolve_text_model().encoder == str(clean_env.resolve() / "student") and models.default_student() == local.resolve()
    monkeypatch.delenv(models.ENV_HOME)
    monkeypatch.setenv("HOME", str(clean_env / "h2"))
    assert models.user_dir() == clean_env / "h2" / ".cache" / "turkish-clip"


def test_defaults_do_not_depend_on_where_the_code_lives():
    assert not hasattr(models, "REPO")
