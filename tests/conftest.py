"""Shared test set-up: offline hub, paths to shipped samples and to ../shared, tiny-model fixtures.

Tiny models are built through `data_tools.tiny` / `distill.tiny` in the *real* checkpoint formats, once per
session, and loaded back through the same loaders as real checkpoints.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from turkish_clip.runtime import setup_tensorflow

# Never touch the network, and keep TF quiet and on tf-keras (transformers' TF models need it).
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
setup_tensorflow()

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "tests" / "samples"
SHARED = Path(os.environ.get("TURKISH_CLIP_SHARED", REPO.parent / "shared"))


@pytest.fixture(scope="session")
def samples_dir() -> Path:
    return SAMPLES


@pytest.fixture(scope="session")
def coco_sample_json() -> Path:
    """300 real COCO val2017 captions (60 images, 4 of them XTD10 images); CC BY 4.0."""
    return SAMPLES / "coco_captions_val2017_sample.json"


@pytest.fixture(scope="session")
def tatoeba_sample_tsv() -> Path:
    """300 real Tatoeba EN–TR pairs; CC BY 2.0 FR, Tatoeba.org and its contributors."""
    return SAMPLES / "tatoeba_eng_tur_sample.tsv"


def shared_path(relative: str) -> Path:
    """A file under ../shared, or skip the test with the reason (a fresh clone has no ../shared)."""
    path = SHARED / relative
    if not path.exists():
        pytest.skip(f"needs {path} (the team's ../shared folder; absent in a fresh clone)")
    return path


@pytest.fixture(scope="session")
def coco_val2017_json() -> Path:
    return shared_path("data/coco/captions_val2017.json.gz")


# --- teacher engineer: tiny CLIP checkpoints in OpenAI's TorchScript format and transformers' folder format ---
@pytest.fixture(scope="session")
def tiny_openai_clip_pt(tmp_path_factory) -> Path:
    """A random tiny CLIP (real 49,408 vocab, 77 context, width 64) saved as a TorchScript .pt like OpenAI's."""
    from data_tools.tiny import build_openai_clip

    return build_openai_clip(tmp_path_factory.mktemp("tiny_openai_clip") / "tiny-ViT.pt")


@pytest.fixture(scope="session")
def tiny_hf_clip_dir(tmp_path_factory) -> Path:
    """A random tiny transformers CLIPModel folder (config, safetensors, image processor, CLIP tokenizer files)."""
    from data_tools.tiny import build_hf_clip

    return build_hf_clip(tmp_path_factory.mktemp("tiny_hf_clip") / "clip")


# ---------------------------------------------------------------------------------------------------------------
# distill (student engineer): tiny DistilBERT students in save_pretrained format, built by distill.tiny with a
# cased WordPiece vocab trained on the Tatoeba sample + the bag-of-words test vocabulary (tests/distill/helpers.py).
def _distill_vocab_texts() -> list[str]:
    import pandas as pd

    from tests.distill.helpers import WORDS

    tatoeba = pd.read_csv(SAMPLES / "tatoeba_eng_tur_sample.tsv", sep="\t", quoting=3)
    return tatoeba["tr"].tolist() + [" ".join(WORDS)] * 5


@pytest.fixture(scope="session")
def tiny_student_tf(tmp_path_factory) -> Path:
    """Tiny TFDistilBertModel (dim 32, 2 layers) + cased tokenizer, TF weights (tf_model.h5)."""
    import distill  # noqa: F401  (selects tf-keras before TensorFlow loads)
    from distill.tiny import build_distilbert

    return build_distilbert(tmp_path_factory.mktemp("tiny-student-tf"), _distill_vocab_texts())


@pytest.fixture(scope="session")
def tiny_student_pt(tmp_path_factory) -> Path:
    """The same tiny DistilBERT saved PyTorch-only (model.safetensors, no tf_model.h5), like most hub repos."""
    import distill  # noqa: F401
    from distill.tiny import build_distilbert

    return build_distilbert(tmp_path_factory.mktemp("tiny-student-pt"), _distill_vocab_texts(), pytorch_only=True)


# ---------------------------------------------------------------------------------------------------------------
# inference (turkish_clip/, inference.py): a tiny trained-format student (distill.export.save_student, head 32->512)
# and a tiny OpenAI-format CLIP with 512-dim output, so text and image vectors share CLIP ViT-B/32's 512 dims.
@pytest.fixture(scope="session")
def tiny_student_dir(tmp_path_factory, tiny_student_tf) -> Path:
    """Our distill output format: encoder + tokenizer + clip_head.h5 + student.json (random head, seed 0)."""
    import distill  # noqa: F401
    import tf_keras
    from distill.export import save_student
    from distill.student import build_student, load_encoder, load_tokenizer

    tf_keras.utils.set_random_seed(0)
    student = build_student(load_encoder(str(tiny_student_tf)), 512)
    out = tmp_path_factory.mktemp("tiny-student-out") / "student"
    return save_student(student, load_tokenizer(str(tiny_student_tf)), out, {"base_model": str(tiny_student_tf),
                        "max_length": 64}, head_path=None, pytorch=False)


@pytest.fixture(scope="session")
def tiny_clip512_pt(tmp_path_factory) -> Path:
    """A tiny random CLIP (TorchScript .pt like OpenAI's) whose towers project to 512 dims, as ViT-B/32's do."""
    from data_tools.tiny import build_openai_clip

    return build_openai_clip(tmp_path_factory.mktemp("tiny_clip512") / "tiny-ViT-512.pt", embed_dim=512)


# ---------------------------------------------------------------------------------------------------------------
# translation engineer: a tiny random MarianMT EN->TR folder in the opus-mt format (source.spm, target.spm,
# vocab.json, config, safetensors), sentencepiece trained on the shipped COCO (EN) and Tatoeba (TR) samples.
@pytest.fixture(scope="session")
def tiny_marian_dir(tmp_path_factory) -> Path:
    """Loads with MarianTokenizer/MarianMTModel.from_pretrained and load_translator(model=...) like a hub folder."""
    from data_tools.tiny_marian import build_marian, sample_texts

    english, turkish = sample_texts(SAMPLES)
    return build_marian(tmp_path_factory.mktemp("tiny_marian") / "opus-mt-tiny-en-tr", english, turkish)


# ---------------------------------------------------------------------------------------------------------------
# exports (issue 13): the tiny trained-format student above as an ONNX export (fp32 + dynamic int8).
@pytest.fixture(scope="session")
def tiny_student_onnx(tmp_path_factory, tiny_student_dir) -> Path:
    """`python -m distill export --format onnx --quantize int8` of tiny_student_dir (skips without onnxruntime)."""
    pytest.importorskip("onnxruntime", reason="needs requirements-export.txt (onnx, onnxruntime, onnxscript)")
    import distill  # noqa: F401
    from distill.onnx_export import export_onnx

    out = tmp_path_factory.mktemp("tiny-student-onnx") / "onnx"
    export_onnx(tiny_student_dir, out, quantize="int8")
    return out
