"""Loaded tiny encoders shared by the turkish_clip tests (built from the session fixtures in tests/conftest.py)."""
from __future__ import annotations

import pytest

import turkish_clip  # noqa: F401  (keeps transformers' TF models available next to torch in this process)


@pytest.fixture(scope="session")
def text_encoder(tiny_student_dir):
    from turkish_clip.text_encoder import TextEncoder

    return TextEncoder.load(str(tiny_student_dir))


@pytest.fixture(scope="session")
def image_encoder(tiny_clip512_pt):
    from turkish_clip.image_encoder import ImageEncoder

    return ImageEncoder.load(str(tiny_clip512_pt), device="cpu")
