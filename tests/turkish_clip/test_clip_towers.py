"""CLIP loading: OpenAI names and .pt archives vs Hugging Face folders, both towers from one call."""
from __future__ import annotations

import pytest

from turkish_clip.clip_towers import is_openai_name_or_file, load_clip
from turkish_clip.errors import ModelNotFoundError


def test_openai_names_and_pt_files_are_told_from_hub_ids(tmp_path):
    assert is_openai_name_or_file("ViT-B/32") and is_openai_name_or_file(tmp_path / "x.pt")
    assert not is_openai_name_or_file("openai/clip-vit-base-patch32")


def test_load_clip_reads_both_formats(tiny_openai_clip_pt, tiny_hf_clip_dir):
    openai, hf = load_clip(tiny_openai_clip_pt, device="cpu"), load_clip(tiny_hf_clip_dir, device="cpu")
    assert (openai.kind, hf.kind) == ("openai-clip", "hf-clip")
    assert openai.dim == hf.dim == 32 and openai.input_resolution == hf.input_resolution == 32


def test_a_missing_checkpoint_is_one_line(tmp_path):
    with pytest.raises(ModelNotFoundError) as info:
        load_clip(tmp_path / "nothere.pt")
    assert "nothere.pt does not exist" in str(info.value) and "\n" not in str(info.value)
