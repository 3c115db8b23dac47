"""inference.py: module-level encode_text/encode_image, the TurkishCLIP class, the CLI on tiny models, bad input
and the offline message (a subprocess, as a user runs it)."""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

import inference
from inference_api import api
from tests.conftest import REPO
from turkish_clip.errors import InputError

DEMO = sorted(inference.DEMO_IMAGES.glob("*.jpg"))


@pytest.fixture
def tiny_env(monkeypatch, tiny_student_dir, tiny_clip512_pt, tmp_path):
    """Environment variables pointing at the tiny models, and a fresh default instance."""
    monkeypatch.setenv("TURKISH_CLIP_MODEL", str(tiny_student_dir))
    monkeypatch.setenv("TURKISH_CLIP_CLIP", str(tiny_clip512_pt))
    monkeypatch.setenv("TURKISH_CLIP_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("TURKISH_CLIP_HEAD", raising=False)
    monkeypatch.setattr(api, "_defaults", {})


@pytest.fixture(scope="module")
def model(tiny_student_dir, tiny_clip512_pt):
    return inference.TurkishCLIP(str(tiny_student_dir), clip=str(tiny_clip512_pt), device="cpu")


def test_module_functions_load_once_and_return_unit_vectors(tiny_env):
    text = inference.encode_text(["bir kedi fotoğrafı", "roket"])
    image = inference.encode_image([str(p) for p in DEMO[:2]])
    assert text.shape == (2, 512) and image.shape == (2, 512)
    np.testing.assert_allclose(np.linalg.norm(np.vstack([text, image]), axis=1), 1.0, atol=1e-5)
    loaded = inference.default_model().text
    inference.encode_text(["kedi"])
    assert inference.default_model().text is loaded  # reused, not reloaded
    assert inference.encode_text([]).shape == (0, 512)


def test_classify_probabilities_sum_to_one(model):
    probs = model.classify(DEMO, ["kedi", "roket", "astronot"])
    assert probs.shape == (len(DEMO), 3)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    bare = model.classify(DEMO, ["kedi", "roket", "astronot"], templates=None)
    assert np.abs(bare - probs).max() > 1e-4  # templates really change the label vectors


def test_search_ranks_by_the_query(model, tmp_path):
    results = model.search(inference.DEMO_IMAGES, "bir kedi", top=3, index_path=tmp_path / "i.npz", progress=False)
    assert len(results) == 3 and [s for _, s in results] == sorted((s for _, s in results), reverse=True)
    image = model.encode_image([p for p, _ in results])
    np.testing.assert_allclose(image @ model.encode_text(["bir kedi"])[0], [s for _, s in results], atol=1e-5)
    with pytest.raises(InputError, match="query is empty"):
        model.search(inference.DEMO_IMAGES, "  ", top=3)


def test_cli_demo_table(tiny_env, capsys):
    assert inference.main([]) == 0
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if line.startswith("| ")]
    assert lines[0].split("|")[2].strip() == "kedi" and len(lines) == 1 + len(DEMO)
    for line in lines[1:]:
        cells = [c.strip() for c in line.split("|")[1:-1]]
        assert cells[0] in {p.name for p in DEMO}
        assert sum(float(c.rstrip("%")) for c in cells[1:-1]) == pytest.approx(100.0, abs=0.5)
    assert "logit scale 14.3" in out  # the tiny checkpoint's own scale (OpenAI's ViT-B/32: 100)


def test_cli_search_writes_a_contact_sheet(tiny_env, tmp_path, capsys):
    html = tmp_path / "sheet.html"
    assert inference.main(["search", "--images", str(inference.DEMO_IMAGES), "--query", "kumsalda gün batımı",
                           "--top", "4", "--html", str(html)]) == 0
    out = capsys.readouterr().out
    ranked = [line.split() for line in out.splitlines() if line.strip()[:1].isdigit() and ".jpg" in line]
    assert [r[0] for r in ranked] == ["1", "2", "3", "4"]
    assert html.is_file() and html.read_text("utf-8").count("<figure>") == 4


@pytest.mark.parametrize("argv, message", [
    (["classify", "--images", "demo/images", "--labels", ""], "label #1 is empty"),
    (["search", "--images", "demo/images", "--query", " "], "query is empty"),
    (["classify", "--images", "no/such.jpg", "--labels", "kedi", "roket"], "no/such.jpg does not exist"),
    (["classify", "--images", "demo/images", "--labels", "kedi"], "only 1 label given ('kedi'); give at least 2"),
    (["classify", "--images", "demo/images", "--labels", "kedi", "roket", "--template", "bir {} {x}"],
     "template 'bir {} {x}' must contain {} exactly once"),
    (["classify", "--images", "demo/images", "--labels", "kedi", "roket", "--template", "bir {} {"],
     "template 'bir {} {' is not valid"),
])
def test_cli_bad_input_is_one_line(tiny_env, capsys, argv, message):
    assert inference.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and message in err and "\n" not in err


def test_cli_unreadable_image_and_empty_folder_are_named(tiny_env, tmp_path, capsys):
    bad = tmp_path / "bozuk.png"
    bad.write_bytes(b"garbage")
    assert inference.main(["classify", "--images", str(bad), "--labels", "kedi", "roket"]) == 2
    assert "none of the 1 images could be read (first: " in capsys.readouterr().err
    empty = tmp_path / "bos"
    empty.mkdir()
    assert inference.main(["search", "--images", str(empty), "--query", "kedi"]) == 2
    assert f"{empty} has no images" in capsys.readouterr().err


def _run(env_overrides: dict, *args: str, cwd) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TURKISH_CLIP_")}
    env.update(HF_HUB_OFFLINE="1", **env_overrides)
    return subprocess.run([sys.executable, str(REPO / "inference.py"), *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def test_offline_without_models_prints_one_line_and_exits_2(tmp_path, tiny_student_dir):
    missing = _run({"TURKISH_CLIP_MODEL": str(tmp_path / "nothing")}, cwd=tmp_path)
    assert missing.returncode == 2 and missing.stdout == ""
    assert len(missing.stderr.strip().splitlines()) == 1
    assert all(s in missing.stderr for s in ("nothing", "TURKISH_CLIP_MODEL", "--model", "make smoke"))
    home = {"TURKISH_CLIP_HOME": str(tmp_path / "home")}  # no student in the working folder nor the user folder
    default = _run(home, "search", "--images", str(REPO / "demo" / "images"), "--query", "kedi", cwd=tmp_path)
    assert default.returncode == 2 and len(default.stderr.strip().splitlines()) == 1
    assert "no Turkish text model found" in default.stderr and "make smoke" in default.stderr
    no_clip = _run({"TURKISH_CLIP_MODEL": str(tiny_student_dir), "CLIP_CACHE": str(tmp_path)}, cwd=tmp_path)
    assert no_clip.returncode == 2 and len(no_clip.stderr.strip().splitlines()) == 1
    assert all(s in no_clip.stderr for s in ("ViT-B/32", "--clip / TURKISH_CLIP_CLIP", "make smoke"))


def test_cli_demo_in_hindi(tiny_env, capsys):
    """--lang hi: the Hindi demo labels and templates (turkish_clip/languages/hi)."""
    assert inference.main(["--lang", "hi"]) == 0
    header = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| ")][0]
    assert [c.strip() for c in header.split("|")[2:-2]] == ["बिल्ली", "कॉफ़ी का कप", "रॉकेट", "अंतरिक्ष यात्री",
                                                            "फ़ोटोग्राफ़र", "आकाशगंगा"]
    assert inference.main(["--lang", "de"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "language 'de' is not available; use one of tr, hi" in err


def test_language_comes_from_the_student(tiny_student_dir, tiny_clip512_pt, tmp_path):
    import json
    import shutil

    from turkish_clip.languages import templates

    assert inference.TurkishCLIP(str(tiny_student_dir)).lang == "tr"  # an older student.json: Turkish
    student = shutil.copytree(tiny_student_dir, tmp_path / "student_hi")
    meta = json.loads((student / "student.json").read_text(encoding="utf-8"))
    (student / "student.json").write_text(json.dumps({**meta, "lang": "hi"}), encoding="utf-8")
    model = inference.TurkishCLIP(str(student), clip=str(tiny_clip512_pt), device="cpu")
    assert model.lang == "hi" and model.templates == tuple(templates("hi"))
    assert inference.TurkishCLIP(str(student), lang="tr").lang == "tr"  # an explicit --lang wins
    probs = model.classify(DEMO[:2], ["बिल्ली", "रॉकेट"])
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(model.label_vectors(["बिल्ली"]), model.label_vectors(["बिल्ली"], templates("hi")),
                               atol=1e-6)


def test_classify_skips_corrupt_images_in_a_folder_as_search_does(tiny_env, tmp_path, capsys, caplog):
    folder = tmp_path / "photos"
    folder.mkdir()
    for image in DEMO[:2]:
        (folder / image.name).write_bytes(image.read_bytes())
    (folder / "a_bozuk.jpg").write_bytes(b"garbage")  # sorted first: classify used to stop right there
    assert inference.main(["classify", "--images", str(folder), "--labels", "kedi", "roket"]) == 0
    captured = capsys.readouterr()
    rows = [line for line in captured.out.splitlines() if line.startswith("| ") and ".jpg" in line]
    assert [row.split("|")[1].strip() for row in rows] == [image.name for image in DEMO[:2]]
    assert f"1 unreadable image(s) skipped: {folder / 'a_bozuk.jpg'}" in captured.out
    assert "skipping image" in caplog.text and "a_bozuk.jpg" in caplog.text
    assert inference.main(["search", "--images", str(folder), "--query", "kedi"]) == 0
    assert "1 unreadable skipped" in capsys.readouterr().out


def test_cheap_checks_come_before_any_model_loads(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(api, "_defaults", {})
    monkeypatch.setenv("TURKISH_CLIP_MODEL", str(tmp_path / "no-model"))  # loading would fail with another message
    with pytest.raises(InputError, match="images must be image paths or PIL images, got NoneType"):
        inference.encode_image(None)
    with pytest.raises(InputError, match=r"image #1 is int, not a path or a PIL image"):
        inference.TurkishCLIP(clip=str(tmp_path / "no.pt")).encode_image([str(DEMO[0]), 3])
    missing = tmp_path / "nowhere"
    assert inference.main(["search", "--images", str(missing), "--query", "kedi", "--clip", str(tmp_path / "no.pt")]) == 2
    assert capsys.readouterr().err.strip() == (f"error: image folder {missing} does not exist; pass a folder that "
                                               f"contains images")
    with pytest.raises(SystemExit):
        inference.main(["search", "--images", str(missing), "--query", "kedi", "--batch-size", "0"])
    assert "argument --batch-size: must be an integer >= 1, got 0" in capsys.readouterr().err


@pytest.mark.parametrize("device, message", [
    ("tpu", "error: --device 'tpu' is not a torch device; use cpu, cuda or cuda:N"),
    pytest.param("cuda", "error: --device cuda: this torch (", marks=pytest.mark.skipif(
        __import__("torch").cuda.is_available(), reason="needs a torch without CUDA")),
])
def test_a_bad_device_is_one_line_before_models_load(tiny_env, capsys, device, message):
    assert inference.main(["--device", device]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(message) and "\n" not in err


def test_public_names_come_from_the_inference_layer():
    assert inference.TurkishCLIP is api.TurkishCLIP and inference.encode_text is api.encode_text
    assert inference.encode_image is api.encode_image and inference.DEMO_IMAGES == REPO / "demo" / "images"
