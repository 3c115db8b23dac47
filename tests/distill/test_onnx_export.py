"""`distill export --format onnx [--quantize int8]`: the ONNX graph gives the TF student's vectors (cosine >= 0.9999
fp32, >= 0.99 int8) at batch sizes other than the export's and for texts cut at the max length."""
from __future__ import annotations

import json

import numpy as np
import pytest

import distill  # noqa: F401
from turkish_clip.errors import InputError
from distill.cli import main
from distill.export import save_student
from distill.student import build_student, encode, load_encoder, load_tokenizer

pytest.importorskip("onnxruntime", reason="needs requirements-export.txt (onnx, onnxruntime, onnxscript)")
pytest.importorskip("onnx", reason="needs requirements-export.txt (onnx, onnxruntime, onnxscript)")

MAX_LENGTH = 20
TEXTS = ["Çocuk sokakta koşuyor", "İstanbul güzel bir şehir", "kırmızı şapka", "ışık", "",
         "Şule ağaç önünde oturuyor Ümit bakıyor " * 10,  # far past MAX_LENGTH tokens: cut there
         "büyük mavi deniz üzerinde küçük sarı kuş uçuyor ve balık yüzüyor", "Ömer masa yanında çay içiyor"]


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


@pytest.fixture(scope="module")
def exported(tmp_path_factory, tiny_student_tf):
    import tf_keras

    tmp = tmp_path_factory.mktemp("onnx-export")
    tf_keras.utils.set_random_seed(5)
    student = build_student(load_encoder(str(tiny_student_tf)), 16)
    student.head.layers[-1].bias.assign(np.linspace(-0.5, 0.5, 16).astype(np.float32))
    tokenizer = load_tokenizer(str(tiny_student_tf))
    info = {"base_model": "tiny", "max_length": MAX_LENGTH, "teacher": {"model": "tiny-bag-teacher", "dim": 16}}
    model_dir = save_student(student, tokenizer, tmp / "student", info, head_path=None, pytorch=False)
    out = tmp / "onnx"
    assert main(["export", "--format", "onnx", "--quantize", "int8", "--model", str(model_dir), str(out)]) == 0
    return out, model_dir, student, tokenizer


def test_json_records_what_the_graph_does(exported):
    out = exported[0]
    meta = json.loads((out / "turkish_clip_onnx.json").read_text())
    assert meta["files"] == {"fp32": "model.onnx", "int8": "model_int8.onnx"} and meta["default"] == "int8"
    assert (meta["max_length"], meta["embedding_dim"], meta["hidden_size"]) == (MAX_LENGTH, 16, 32)
    assert meta["normalize_output"] is False and meta["pooling"] == "mean"
    assert meta["teacher"] == {"model": "tiny-bag-teacher", "dim": 16}
    assert (out / "tokenizer.json").is_file() and (out / "model_int8.onnx").stat().st_size < (out / "model.onnx").stat().st_size


@pytest.mark.parametrize("variant,threshold", [("fp32", 0.9999), ("int8", 0.99)])
@pytest.mark.parametrize("batch_size", [1, 3, 8])
def test_onnx_vectors_match_the_tf_student(exported, variant, threshold, batch_size):
    from inference_api.onnx_encoder import OnnxTextEncoder

    out, _, student, tokenizer = exported
    ids = tokenizer(TEXTS, truncation=True, max_length=MAX_LENGTH)["input_ids"]
    assert max(len(x) for x in ids) == MAX_LENGTH  # the long text reaches the max length
    reference = encode(student, tokenizer, TEXTS, max_length=MAX_LENGTH)  # [n, 16], unnormalised
    onnx = OnnxTextEncoder.load(out, variant=variant).encode(TEXTS, batch_size=batch_size, normalize=False)
    assert onnx.shape == reference.shape
    assert cosines(onnx, reference).min() >= threshold
    if variant == "fp32":
        np.testing.assert_allclose(onnx, reference, atol=1e-4)


def test_padding_does_not_change_a_vector(exported):
    """The graph masks pad positions out of attention and out of the mean, as the TF student does."""
    import onnxruntime as ort

    out, _, _, tokenizer = exported
    session = ort.InferenceSession(str(out / "model.onnx"), providers=["CPUExecutionProvider"])
    alone = tokenizer(["kırmızı şapka"], return_tensors="np")
    padded = tokenizer(["kırmızı şapka", TEXTS[5]], padding=True, truncation=True, max_length=MAX_LENGTH,
                       return_tensors="np")
    one = session.run(None, {k: alone[k].astype(np.int64) for k in ("input_ids", "attention_mask")})[0]
    two = session.run(None, {k: padded[k].astype(np.int64) for k in ("input_ids", "attention_mask")})[0]
    np.testing.assert_allclose(two[0], one[0], atol=1e-5)


def test_normalize_is_part_of_the_graph(exported, tmp_path):
    from inference_api.onnx_encoder import OnnxTextEncoder

    _, model_dir, student, tokenizer = exported
    assert main(["export", "--format", "onnx", "--normalize", "--model", str(model_dir), str(tmp_path / "n")]) == 0
    encoder = OnnxTextEncoder.load(tmp_path / "n")
    assert encoder.normalized_output and encoder.source["format"] == "onnx-fp32"
    raw = encoder.encode(TEXTS[:4], normalize=False)
    np.testing.assert_allclose(np.linalg.norm(raw, axis=1), 1.0, atol=1e-5)
    reference = encode(student, tokenizer, TEXTS[:4], max_length=MAX_LENGTH)
    assert cosines(raw, reference).min() >= 0.9999


def test_bad_requests_name_the_fix(exported, tmp_path, capsys):
    from inference_api.onnx_encoder import OnnxTextEncoder

    out, model_dir, _, _ = exported
    assert main(["export", "--format", "onnx", "--model", str(model_dir), str(out)]) == 2
    assert "exists and is not empty; choose a new folder" in capsys.readouterr().err
    assert main(["export", "--format", "sentence-transformers", "--quantize", "int8", "--model", str(model_dir),
                 str(tmp_path / "x")]) == 2
    assert "--quantize applies to --format onnx only" in capsys.readouterr().err
    assert main(["export", "--format", "onnx", "--model", str(model_dir), str(tmp_path / "fp32")]) == 0
    with pytest.raises(InputError, match="has no int8 model .*re-export with --quantize int8"):
        OnnxTextEncoder.load(tmp_path / "fp32", variant="int8")
    with pytest.raises(Exception, match="is not an ONNX export; write one with `python -m distill export"):
        OnnxTextEncoder.load(model_dir)
