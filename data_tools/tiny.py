"""Tiny random CLIP models in the real checkpoint formats, for tests (and real-size random ones for benchmarks).

The text side keeps CLIP's real vocabulary (49,408 BPE ids) and 77-token context, so the real tokenizer works.
openai-clip's `build_model` infers heads as width // 64, so widths are multiples of 64.
"""
from __future__ import annotations

import gzip
import json
import tempfile
import warnings
from pathlib import Path


import torch

from turkish_clip.clip_package import clip_model, simple_tokenizer

VOCAB_SIZE = 49408
CONTEXT_LENGTH = 77
# ViT-B/32's dimensions (openai-clip); the benchmark uses the text side with a tiny image tower.
VIT_B_32 = dict(embed_dim=512, width=512, layers=12, vision_width=768, vision_layers=12, image_resolution=224,
                patch_size=32)
VIT_B_32_TEXT = dict(embed_dim=512, width=512, layers=12)
CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
CLIP_STD = [0.26862954, 0.26130258, 0.27577711]


def _check_widths(**widths: int) -> None:
    for name, value in widths.items():
        if value % 64:
            raise ValueError(f"{name}={value} must be a multiple of 64 (CLIP uses 64-wide attention heads)")


def openai_clip_model(*, embed_dim=32, width=64, layers=2, vision_width=64, vision_layers=2, image_resolution=32,
                      patch_size=16, seed=0):
    """An in-memory `clip.model.CLIP` (ViT image tower) with random weights, float32, eval mode."""
    _check_widths(width=width, vision_width=vision_width)
    torch.manual_seed(seed)
    model = clip_model().CLIP(embed_dim, image_resolution, vision_layers, vision_width, patch_size,
                              CONTEXT_LENGTH, VOCAB_SIZE, width, width // 64, layers)
    return model.eval()


def build_openai_clip(path, *, embed_dim=32, width=64, layers=2, vision_width=64, vision_layers=2,
                      image_resolution=32, patch_size=16, seed=0) -> Path:
    """Save a random CLIP as a TorchScript archive with fp16 weights, like OpenAI's ViT-B-32.pt."""
    model = openai_clip_model(embed_dim=embed_dim, width=width, layers=layers, vision_width=vision_width,
                              vision_layers=vision_layers, image_resolution=image_resolution,
                              patch_size=patch_size, seed=seed)
    clip_model().convert_weights(model)  # OpenAI's archives hold fp16 linear/attention weights
    text = torch.zeros(2, CONTEXT_LENGTH, dtype=torch.long)  # [2, 77]
    text[:, :3] = torch.tensor([49406, 320, 49407])
    image = torch.zeros(2, 3, image_resolution, image_resolution)  # [2, 3, R, R]
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)  # shape checks inside attention become constants
        traced = torch.jit.trace_module(model, {"forward": (image, text), "encode_text": (text,),
                                                "encode_image": (image,)}, check_trace=False)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    traced.save(str(path))
    return path


def build_hf_clip(folder, *, embed_dim=32, width=64, layers=2, vision_width=64, vision_layers=2,
                  image_resolution=32, patch_size=16, seed=0) -> Path:
    """Save a random transformers `CLIPModel` + image processor + tokenizer, laid out like openai/clip-vit-base-patch32.

    Same conventions as that repo: quick_gelu, bos/eos/pad ids 0/2/1 in the text config (eos 2 means "pool at the
    highest id", i.e. EOT), CLIP's image mean/std.
    """
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPTokenizer

    _check_widths(width=width, vision_width=vision_width)
    text_config = dict(vocab_size=VOCAB_SIZE, hidden_size=width, intermediate_size=4 * width,
                       num_hidden_layers=layers, num_attention_heads=width // 64,
                       max_position_embeddings=CONTEXT_LENGTH, hidden_act="quick_gelu",
                       bos_token_id=0, eos_token_id=2, pad_token_id=1)
    vision_config = dict(hidden_size=vision_width, intermediate_size=4 * vision_width,
                         num_hidden_layers=vision_layers, num_attention_heads=vision_width // 64,
                         image_size=image_resolution, patch_size=patch_size, hidden_act="quick_gelu")
    config = CLIPConfig(text_config=text_config, vision_config=vision_config, projection_dim=embed_dim)
    torch.manual_seed(seed)
    folder = Path(folder)
    CLIPModel(config).eval().save_pretrained(folder)
    CLIPImageProcessor(size={"shortest_edge": image_resolution},
                       crop_size={"height": image_resolution, "width": image_resolution},
                       image_mean=CLIP_MEAN, image_std=CLIP_STD).save_pretrained(folder)
    with tempfile.TemporaryDirectory() as tmp:  # CLIPTokenizer files from openai-clip's packaged BPE
        vocab, merges = Path(tmp) / "vocab.json", Path(tmp) / "merges.txt"
        vocab.write_text(json.dumps(simple_tokenizer().SimpleTokenizer().encoder), encoding="utf-8")
        merges.write_bytes(gzip.open(simple_tokenizer().default_bpe()).read())
        CLIPTokenizer(str(vocab), str(merges), model_max_length=CONTEXT_LENGTH).save_pretrained(folder)
    return folder
