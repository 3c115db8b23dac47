"""Loaded tiny encoders shared by the inference_api tests (built from the session fixtures in tests/conftest.py)."""
from __future__ import annotations

import pytest

from turkish_clip.runtime import setup_tensorflow

setup_tensorflow()  # tf-keras, quiet TF logs, GPU memory growth: before anything imports TensorFlow


@pytest.fixture(scope="session")
def text_encoder(tiny_student_dir):
    from inference_api.text_encoder import TextEncoder

    return TextEncoder.load(str(tiny_student_dir))


@pytest.fixture(scope="session")
def image_encoder(tiny_clip512_pt):
    from inference_api.image_encoder import ImageEncoder

    return ImageEncoder.load(str(tiny_clip512_pt), device="cpu")
