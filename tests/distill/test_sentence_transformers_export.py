"""`distill export --format sentence-transformers`: SentenceTransformer(OUT).encode gives the student's vectors."""
from __future__ import annotations

import json

import numpy as np
import pytest

import distill  # noqa: F401
from turkish_clip.errors import InputError
from distill.cli import main
from distill.export import save_student
from distill.student import build_student, encode, load_encoder, load_tokenizer

pytest.importorskip("sentence_transformers", reason="needs requirements-export.txt (sentence-transformers)")

TEXTS = ["Çocuk sokakta koşuyor", "İstanbul güzel bir şehir", "kırmızı şapka",
         "Şule ağaç önünde oturuyor Ümit bakıyor " * 12, "ışık", ""]
INFO = {"base_model": "tiny", "max_length": 24, "teacher": {"model": "tiny-bag-teacher", "dim": 16}}


@pytest.fixture(scope="module")
def student_dirs(tmp_path_factory, tiny_student_tf):
    """The same tiny student saved TF-only and with PyTorch weights (export converts the first)."""
    import tf_keras

    tmp = tmp_path_factory.mktemp("st-export")
    tf_keras.utils.set_random_seed(3)
    student = build_student(load_encoder(str(tiny_student_tf)), 16)
    student.head.layers[-1].bias.assign(np.linspace(-1, 1, 16).astype(np.float32))  # not the zero init
    tokenizer = load_tokenizer(str(tiny_student_tf))
    tf_only = save_student(student, tokenizer, tmp / "tf-only", INFO, head_path=None, pytorch=False)
    with_pt = save_student(student, tokenizer, tmp / "with-pt", INFO, head_path=None, pytorch=True)
    return tmp, student, tokenizer, {"tf-only": tf_only, "with-pt": with_pt}


@pytest.mark.parametrize("kind", ["tf-only", "with-pt"])
def test_sentence_transformer_gives_the_student_vectors(student_dirs, kind):
    from sentence_transformers import SentenceTransformer

    tmp, student, tokenizer, dirs = student_dirs
    out = tmp / f"st-{kind}"
    assert main(["export", "--format", "sentence-transformers", "--model", str(dirs[kind]), str(out)]) == 0
    ours = encode(student, tokenizer, TEXTS, max_length=24)
    theirs = SentenceTransformer(str(out), device="cpu").encode(TEXTS, batch_size=4)
    assert theirs.shape == (len(TEXTS), 16)
    assert np.abs(theirs - ours).max() <= 1e-4
    # the standard layout: encoder at the top, then 1_Pooling (mean) and 2_Dense (linear, with bias)
    modules = json.loads((out / "modules.json").read_text())
    assert [m["type"] for m in modules] == ["sentence_transformers.models.Transformer",
                                            "sentence_transformers.models.Pooling",
                                            "sentence_transformers.models.Dense"]
    assert [m["path"] for m in modules] == ["", "1_Pooling", "2_Dense"]
    pooling = json.loads((out / "1_Pooling" / "config.json").read_text())
    assert pooling["pooling_mode_mean_tokens"] and not pooling["pooling_mode_cls_token"]
    dense = json.loads((out / "2_Dense" / "config.json").read_text())
    assert dense == {**dense, "in_features": 32, "out_features": 16, "bias": True,
                     "activation_function": "torch.nn.modules.linear.Identity"}
    assert json.loads((out / "sentence_bert_config.json").read_text())["max_seq_length"] == 24
    assert json.loads((out / "turkish_clip_export.json").read_text())["normalize_output"] is False


def test_normalize_adds_a_normalize_module(student_dirs):
    from sentence_transformers import SentenceTransformer

    tmp, student, tokenizer, dirs = student_dirs
    out = tmp / "st-normalized"
    main(["export", "--format", "sentence-transformers", "--normalize", "--model", str(dirs["with-pt"]), str(out)])
    vectors = SentenceTransformer(str(out), device="cpu").encode(TEXTS[:3])
    ours = encode(student, tokenizer, TEXTS[:3], max_length=24)
    np.testing.assert_allclose(vectors, ours / np.linalg.norm(ours, axis=1, keepdims=True), atol=1e-5)
    assert json.loads((out / "modules.json").read_text())[-1]["type"] == "sentence_transformers.models.Normalize"


def test_refuses_a_non_empty_folder_and_a_non_student(student_dirs, tmp_path, capsys):
    from distill.sentence_transformers_export import export_sentence_transformers

    _, _, _, dirs = student_dirs
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "file.txt").write_text("x")
    with pytest.raises(InputError, match="exists and is not empty; choose a new folder"):
        export_sentence_transformers(dirs["with-pt"], tmp_path / "taken")
    assert main(["export", "--format", "sentence-transformers", "--model", str(tmp_path), str(tmp_path / "o")]) == 2
    assert "has no student.json; it is not a trained student" in capsys.readouterr().err
