"""ImageEncoder on a tiny CLIP: CLIP's own encode_image of CLIP-exact pixels, unit rows, batch invariance, errors."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from turkish_clip.errors import InputError, ModelNotFoundError
from turkish_clip.images import preprocess_batch
from inference_api.image_encoder import ImageEncoder
from tests.conftest import REPO

DEMO = sorted((REPO / "demo" / "images").glob("*.jpg"))


def test_shapes_unit_norm_and_values_match_clip(image_encoder):
    vectors = image_encoder.encode(DEMO)
    assert vectors.shape == (len(DEMO), 512) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    pixels = torch.from_numpy(preprocess_batch(DEMO, image_encoder.resolution))
    with torch.no_grad():
        expected = image_encoder.clip.model.encode_image(pixels).float().numpy()
    expected /= np.linalg.norm(expected, axis=1, keepdims=True)
    np.testing.assert_allclose(vectors, expected, atol=1e-5)


def test_batch_size_and_input_kind_do_not_change_vectors(image_encoder):
    together = image_encoder.encode(DEMO, batch_size=6)
    one_by_one = image_encoder.encode(DEMO, batch_size=1)
    assert np.abs(together - one_by_one).max() <= 1e-5
    pil = image_encoder.encode([Image.open(DEMO[1])])
    np.testing.assert_allclose(pil[0], together[1], atol=1e-6)
    single = image_encoder.encode(str(DEMO[2]))
    assert single.shape == (1, 512)


def test_empty_list(image_encoder):
    assert image_encoder.encode([]).shape == (0, 512)


def test_corrupt_image_is_named(image_encoder, tmp_path):
    bad = tmp_path / "bozuk.jpg"
    bad.write_bytes(DEMO[0].read_bytes()[:300])
    with pytest.raises(InputError, match="bozuk.jpg"):
        image_encoder.encode([DEMO[0], bad])


def test_logit_scale_comes_from_the_checkpoint(image_encoder):
    assert image_encoder.logit_scale == pytest.approx(1 / 0.07, rel=1e-4)  # CLIP's initial value in a random model
    parameter = image_encoder.clip.model.logit_scale
    saved = parameter.data.clone()
    try:
        parameter.data.fill_(float(np.log(100.0)))
        assert image_encoder.logit_scale == pytest.approx(100.0, rel=1e-5)
    finally:
        parameter.data.copy_(saved)


def test_hugging_face_clip_folder_matches_get_image_features(tiny_hf_clip_dir):
    """A Hugging Face CLIP folder gives transformers' own CLIPModel.get_image_features of the same pixels."""
    from transformers import CLIPModel

    encoder = ImageEncoder.load(str(tiny_hf_clip_dir), device="cpu")
    vectors = encoder.encode(DEMO)
    assert vectors.shape == (len(DEMO), encoder.dim) and encoder.resolution == 32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    pixels = torch.from_numpy(preprocess_batch(DEMO, encoder.resolution))  # [n, 3, 32, 32]
    with torch.inference_mode():
        expected = CLIPModel.from_pretrained(tiny_hf_clip_dir).eval().get_image_features(pixel_values=pixels)
    expected = expected.float().numpy()
    assert np.abs(expected - expected[:1]).max() > 1e-3  # the images really give different vectors
    np.testing.assert_allclose(encoder.encode(DEMO, normalize=False), expected, atol=1e-5)
    np.testing.assert_allclose(vectors, expected / np.linalg.norm(expected, axis=1, keepdims=True), atol=1e-5)


def test_missing_clip_offline_is_one_actionable_line(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("CLIP_CACHE", str(tmp_path))
    with pytest.raises(ModelNotFoundError) as info:
        ImageEncoder.load("ViT-B/32")
    message = str(info.value)
    assert "\n" not in message and "--clip / TURKISH_CLIP_CLIP" in message and "make smoke" in message
    with pytest.raises(ModelNotFoundError, match="does not exist"):
        ImageEncoder.load(str(tmp_path / "nowhere" / "clip.pt"))
