"""Tiny CLIP builders write the real checkpoint formats: OpenAI TorchScript .pt and a transformers folder."""
from __future__ import annotations

import json

import pytest
import torch

from turkish_clip.clip_package import clip_model
from data_tools.clip_tokens import ClipTokenizer
from data_tools.tiny import build_openai_clip, openai_clip_model


def test_openai_archive_reads_back_like_openais(tiny_openai_clip_pt):
    archive = torch.jit.load(str(tiny_openai_clip_pt), map_location="cpu")
    state = archive.state_dict()
    assert state["token_embedding.weight"].shape == (49408, 64)  # real vocab, tiny width
    assert state["positional_embedding"].shape == (77, 64)
    assert state["transformer.resblocks.0.attn.in_proj_weight"].dtype == torch.float16  # like OpenAI's archives
    model = clip_model().build_model(state)
    assert (model.transformer.layers, model.text_projection.shape[1], model.visual.input_resolution) == (2, 32, 32)
    assert model.transformer.resblocks[0].attn.num_heads == 1
    text = torch.zeros(1, 77, dtype=torch.long)
    text[0, :3] = torch.tensor([49406, 320, 49407])
    with torch.inference_mode():  # the traced encode_text is kept in the archive, as in OpenAI's
        assert torch.allclose(archive.encode_text(text).float(), model.encode_text(text).float(), atol=1e-3)


def test_seed_decides_the_weights(tmp_path):
    a = openai_clip_model(seed=1).token_embedding.weight
    assert torch.equal(a, openai_clip_model(seed=1).token_embedding.weight)
    assert not torch.equal(a, openai_clip_model(seed=2).token_embedding.weight)
    with pytest.raises(ValueError, match="width=96 must be a multiple of 64"):
        build_openai_clip(tmp_path / "bad.pt", width=96)


def test_hf_folder_matches_openai_clip_conventions(tiny_hf_clip_dir):
    from transformers import CLIPImageProcessor, CLIPTokenizer

    config = json.loads((tiny_hf_clip_dir / "config.json").read_text())
    text = config["text_config"]
    assert (text["vocab_size"], text["max_position_embeddings"], text["eos_token_id"]) == (49408, 77, 2)
    assert config["projection_dim"] == 32 and text["hidden_act"] == "quick_gelu"
    processor = CLIPImageProcessor.from_pretrained(tiny_hf_clip_dir)
    assert processor.crop_size == {"height": 32, "width": 32}
    captions = ["A man riding a horse on the beach.", "Two dogs playing in the snow"]
    hf_ids = CLIPTokenizer.from_pretrained(tiny_hf_clip_dir)(captions)["input_ids"]
    assert hf_ids == ClipTokenizer().encode_batch(captions)
