"""`python -m evaluation`: results files from tiny models, merging runs in one --out, one-line errors (exit 2)."""
from __future__ import annotations

import json

import pytest

from evaluation.cli import main
from evaluation.demo import DEMO_IMAGES, write_demo_captions


@pytest.fixture()
def models(tiny_student_dir, tiny_clip512_pt) -> list[str]:
    return ["--model", str(tiny_student_dir), "--clip", str(tiny_clip512_pt), "--no-progress"]


def _error(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err
    return err[0]


@pytest.mark.slow
def test_retrieval_then_zero_shot_write_merged_report(models, tmp_path, capsys):
    captions = write_demo_captions(tmp_path / "demo.tsv")
    out = tmp_path / "results"
    assert main(["retrieval", "--dataset", "captions-tsv", "--captions", str(captions), "--out", str(out),
                 *models]) == 0
    printed = capsys.readouterr().out
    assert "### Retrieval: demo (6 images, 12 captions)" in printed
    for row in ("| Student on Turkish |", "(lower bound) |", "(upper bound) |", "### Fidelity to the teacher"):
        assert row in printed
    assert {p.name for p in out.iterdir()} >= {"results.json", "results.md", "recall_demo.png", "cache"}
    assert (out / "recall_demo.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    root = tmp_path / "classes"
    for folder, image in (("kedi", "cat.jpg"), ("roket", "rocket.jpg")):
        (root / folder).mkdir(parents=True)
        (root / folder / image).write_bytes((DEMO_IMAGES / image).read_bytes())
    (tmp_path / "en.txt").write_text("cat\nrocket\n", encoding="utf-8")
    assert main(["zero-shot", "--dataset", "folder", "--images", str(root), "--names-en", str(tmp_path / "en.txt"),
                 "--out", str(out), *models]) == 0
    assert "### Zero-shot classification: classes (2 images, 2 classes)" in capsys.readouterr().out
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert results["format"] == "turkish-clip-evaluation"
    assert set(results["retrieval"]["demo"]["models"]) == {"student", "clip_tr", "clip_en"}  # kept from run 1
    assert set(results["fidelity"]["demo"]["models"]) == {"student", "clip_tr"}
    zero_shot = results["zero_shot"]["classes"]
    assert zero_shot["classes"] == ["kedi", "roket"] and zero_shot["info"]["classes_en"] == ["cat", "rocket"]
    for entry in zero_shot["models"].values():
        assert entry["top1"] in (0.0, 0.5, 1.0) and entry["top5"] == 1.0
    assert (out / "confusion_classes_student.png").is_file() and (out / "confusion_classes_clip_en.png").is_file()
    assert "### Retrieval: demo" in (out / "results.md").read_text(encoding="utf-8")


def test_missing_captions_file_is_one_line(tmp_path, capsys):
    assert main(["retrieval", "--dataset", "captions-tsv", "--captions", str(tmp_path / "nope.tsv"),
                 "--out", str(tmp_path / "r")]) == 2
    assert "nope.tsv" in _error(capsys)


def test_dataset_needs_its_options(tmp_path, capsys):
    assert main(["retrieval", "--dataset", "xtd10", "--captions", str(tmp_path), "--out", str(tmp_path / "r")]) == 2
    assert "--dataset xtd10 needs --images" in _error(capsys)
    assert main(["zero-shot", "--dataset", "labels-tsv", "--images", str(tmp_path), "--out", str(tmp_path)]) == 2
    assert "needs --labels" in _error(capsys)


def test_missing_model_is_one_line(tmp_path, capsys):
    captions = write_demo_captions(tmp_path / "demo.tsv")
    assert main(["retrieval", "--dataset", "captions-tsv", "--captions", str(captions), "--out", str(tmp_path / "r"),
                 "--model", str(tmp_path / "no-student"), "--clip", str(tmp_path / "no.pt")]) == 2
    line = _error(capsys)
    assert "no-student does not exist" in line and "make smoke" in line


def test_name_list_of_the_wrong_length_is_rejected(tmp_path, capsys):
    root = tmp_path / "classes"
    for folder in ("kedi", "roket"):
        (root / folder).mkdir(parents=True)
        (root / folder / "a.jpg").write_bytes((DEMO_IMAGES / "cat.jpg").read_bytes())
    (tmp_path / "en.txt").write_text("cat\n", encoding="utf-8")
    assert main(["zero-shot", "--dataset", "folder", "--images", str(root), "--names-en", str(tmp_path / "en.txt"),
                 "--out", str(tmp_path / "r")]) == 2
    assert "1 names for 2 classes" in _error(capsys)


@pytest.mark.parametrize("template, message", [("bir {} {x}", "must contain {} exactly once"),
                                               ("bir {} {", "is not valid"), ("bir resim", "must contain {}")])
def test_bad_template_is_one_line(tmp_path, capsys, template, message):
    root = tmp_path / "classes"
    for folder in ("kedi", "roket"):
        (root / folder).mkdir(parents=True)
        (root / folder / "a.jpg").write_bytes((DEMO_IMAGES / "cat.jpg").read_bytes())
    assert main(["zero-shot", "--dataset", "folder", "--images", str(root), "--template", "bir {} resmi",
                 "--template", template, "--out", str(tmp_path / "r")]) == 2
    line = _error(capsys)
    assert repr(template) in line and message in line


def test_foreign_results_json_is_not_overwritten(tmp_path, capsys):
    out = tmp_path / "r"
    out.mkdir()
    (out / "results.json").write_text('{"something": "else"}', encoding="utf-8")
    captions = write_demo_captions(tmp_path / "demo.tsv")
    assert main(["retrieval", "--dataset", "captions-tsv", "--captions", str(captions), "--out", str(out)]) == 2
    assert "not a turkish-clip evaluation file" in _error(capsys)
    assert (out / "results.json").read_text(encoding="utf-8") == '{"something": "else"}'


@pytest.mark.slow
def test_cifar10_pickle_zero_shot_uses_shipped_names(models, tmp_path, capsys):
    import pickle

    import numpy as np

    pixels = np.random.default_rng(1).integers(0, 256, (5, 3 * 32 * 32), dtype=np.uint8)
    (tmp_path / "cifar-10-batches-py").mkdir()
    with open(tmp_path / "cifar-10-batches-py" / "test_batch", "wb") as f:
        pickle.dump({b"data": pixels, b"labels": [0, 3, 3, 8, 9]}, f)
    out = tmp_path / "r"
    assert main(["zero-shot", "--dataset", "cifar10", "--images", str(tmp_path / "cifar-10-batches-py"),
                 "--out", str(out), *models]) == 0
    assert "### Zero-shot classification: cifar10-test (5 images, 10 classes)" in capsys.readouterr().out
    block = json.loads((out / "results.json").read_text(encoding="utf-8"))["zero_shot"]["cifar10-test"]
    assert block["classes"][3] == "kedi" and block["info"]["classes_en"][3] == "cat"
    assert set(block["models"]) == {"student", "clip_tr", "clip_en"}
    assert all(np.asarray(e["confusion"]).shape == (10, 10) and e["n"] == 5 for e in block["models"].values())
    assert len(list((out / "cache" / "cifar10-test-png").glob("*.png"))) == 5


@pytest.mark.slow
def test_retrieval_with_the_onnx_backend_matches_tf(tiny_student_dir, tiny_clip512_pt, tmp_path, capsys):
    """fp32 export: the same recalls (int8's small differences can swap near-ties of a random tiny model)."""
    pytest.importorskip("onnxruntime", reason="needs requirements-export.txt (onnx, onnxruntime, onnxscript)")
    from distill.onnx_export import export_onnx

    fp32 = export_onnx(tiny_student_dir, tmp_path / "onnx-fp32")[0].parent
    captions = write_demo_captions(tmp_path / "demo.tsv")
    recalls = {}
    for backend, model in (("tf", tiny_student_dir), ("onnx", fp32)):
        out = tmp_path / backend
        assert main(["retrieval", "--dataset", "captions-tsv", "--captions", str(captions), "--out", str(out),
                     "--model", str(model), "--backend", backend, "--clip", str(tiny_clip512_pt), "--no-progress"]) == 0
        capsys.readouterr()
        results = json.loads((out / "results.json").read_text(encoding="utf-8"))
        recalls[backend] = results["retrieval"]["demo"]["models"]["student"]
        assert results["retrieval"]["demo"]["info"]["models"]["student"]["format"] == (
            "onnx-fp32" if backend == "onnx" else "turkish-clip-student")
    assert recalls["onnx"] == recalls["tf"]
