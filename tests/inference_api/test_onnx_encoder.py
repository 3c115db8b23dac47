"""The ONNX text backend: chosen by flag or by the folder, same vectors and rankings as the TF student."""
from __future__ import annotations

import numpy as np
import pytest

import inference
from tests.conftest import REPO
from inference_api import api
from turkish_clip.errors import InputError, ModelNotFoundError
from inference_api.onnx_encoder import OnnxTextEncoder, resolve_backend

TEXTS = ["bir kedi fotoğrafı", "kumsalda gün batımı", "roket", "İstanbul'da yağmurlu bir gün " * 20]


def test_backend_follows_the_flag_then_the_folder(tiny_student_onnx, tiny_student_dir, monkeypatch):
    monkeypatch.delenv("TURKISH_CLIP_MODEL", raising=False)
    assert resolve_backend(str(tiny_student_onnx), None) == "onnx"
    assert resolve_backend(str(tiny_student_dir), None) == "tf"
    assert resolve_backend(None, "tf") == "tf"
    with pytest.raises(ModelNotFoundError, match="the ONNX backend needs an ONNX export: pass it with --model"):
        resolve_backend(None, "onnx")
    with pytest.raises(InputError, match="backend 'torch' is not supported; use tf or onnx"):
        resolve_backend(None, "torch")


@pytest.mark.parametrize("variant,threshold", [("fp32", 0.9999), ("int8", 0.99)])
def test_turkish_clip_on_onnx_matches_tf(tiny_student_onnx, tiny_student_dir, tiny_clip512_pt, variant, threshold):
    tf_model = inference.TurkishCLIP(str(tiny_student_dir), clip=str(tiny_clip512_pt), device="cpu")
    onnx_model = inference.TurkishCLIP(str(tiny_student_onnx), clip=str(tiny_clip512_pt), device="cpu")
    onnx_model._text = OnnxTextEncoder.load(tiny_student_onnx, variant=variant)
    assert isinstance(inference.TurkishCLIP(str(tiny_student_onnx)).text, OnnxTextEncoder)  # auto-detected
    reference, vectors = tf_model.encode_text(TEXTS, batch_size=3), onnx_model.encode_text(TEXTS, batch_size=2)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert (reference * vectors).sum(1).min() >= threshold
    probs_tf = tf_model.classify(inference.DEMO_IMAGES.glob("*.jpg"), ["kedi", "roket", "astronot"])
    probs_onnx = onnx_model.classify(inference.DEMO_IMAGES.glob("*.jpg"), ["kedi", "roket", "astronot"])
    if variant == "fp32":
        np.testing.assert_array_equal(probs_tf.argmax(1), probs_onnx.argmax(1))
    else:  # a random tiny model gives near-ties that int8 may swap (CLIP's logit scale of 100 magnifies them)
        assert np.abs(probs_tf - probs_onnx).max() < 0.25, np.abs(probs_tf - probs_onnx).max()


def test_module_encode_text_and_cli_search_on_onnx(tiny_student_onnx, tiny_student_dir, tiny_clip512_pt,
                                                   monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("TURKISH_CLIP_MODEL", str(tiny_student_onnx))
    monkeypatch.setenv("TURKISH_CLIP_CLIP", str(tiny_clip512_pt))
    monkeypatch.setenv("TURKISH_CLIP_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(api, "_defaults", {})
    vectors = inference.encode_text(TEXTS[:2], backend="onnx")
    assert vectors.shape == (2, 512) and inference.default_model("onnx").text.source["format"] == "onnx-int8"
    rankings = {}
    for model in (tiny_student_onnx, tiny_student_dir):
        assert inference.main(["search", "--model", str(model), "--images", str(inference.DEMO_IMAGES),
                               "--query", "kumsalda gün batımı", "--top", "6"]) == 0
        out = capsys.readouterr().out
        rankings[model] = [line.split()[2] for line in out.splitlines() if ".jpg" in line and line.strip()[:1].isdigit()]
        assert ("onnx-int8" in out) == (model == tiny_student_onnx)
    assert rankings[tiny_student_onnx] == rankings[tiny_student_dir] and len(rankings[tiny_student_dir]) == 6


def test_onnx_backend_loads_neither_tensorflow_nor_torch(tiny_student_onnx):
    """The point of the ONNX runtime: a light process (checked in a fresh interpreter, as a server starts)."""
    import subprocess
    import sys

    code = ("import sys; from inference_api.onnx_encoder import OnnxTextEncoder; "
            f"v = OnnxTextEncoder.load({str(tiny_student_onnx)!r}).encode(['bir kedi']); "
            "print(v.shape, 'tensorflow' in sys.modules, 'torch' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split("\n")[-2] == "(1, 512) False False"
