"""data_tools.tiny_marian: deterministic tiny opus-mt folders and the real opus-mt-tc-big-en-tr architecture."""
from __future__ import annotations

import json

import torch
from safetensors.torch import load_file
from transformers import MarianMTModel

from data_tools.tiny_marian import build_marian, sample_texts, tc_big_config, write_tokenizer
from tests.conftest import SAMPLES

ENGLISH, TURKISH = sample_texts(SAMPLES)

# From Helsinki-NLP/opus-mt-tc-big-en-tr's config.json on the hub (eos differs: our vocab puts </s> at 0).
HUB_CONFIG = {"d_model": 1024, "encoder_layers": 6, "decoder_layers": 6, "encoder_attention_heads": 16,
              "decoder_attention_heads": 16, "encoder_ffn_dim": 4096, "decoder_ffn_dim": 4096, "vocab_size": 57060,
              "decoder_vocab_size": 57060, "pad_token_id": 57059, "decoder_start_token_id": 57059,
              "max_position_embeddings": 1024, "activation_function": "relu", "scale_embedding": True,
              "share_encoder_decoder_embeddings": True, "static_position_embeddings": True,
              "normalize_embedding": False}


def test_build_is_deterministic_and_seeded(tmp_path):
    a = build_marian(tmp_path / "a", ENGLISH, TURKISH)
    b = build_marian(tmp_path / "b", ENGLISH, TURKISH)
    c = build_marian(tmp_path / "c", ENGLISH, TURKISH, seed=1)
    for name in ("source.spm", "target.spm", "vocab.json"):
        assert (a / name).read_bytes() == (b / name).read_bytes()
    wa, wb, wc = (load_file(str(p / "model.safetensors")) for p in (a, b, c))
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)
    assert not torch.equal(wa["model.shared.weight"], wc["model.shared.weight"])


def test_vocab_has_marian_layout_with_language_tokens(tmp_path):
    vocab = json.loads((build_marian(tmp_path / "m", ENGLISH, TURKISH, language_tokens=[">>tur<<"]) /
                        "vocab.json").read_text(encoding="utf-8"))
    assert [vocab["</s>"], vocab["<unk>"], vocab[">>tur<<"]] == [0, 1, 2]
    assert vocab["<pad>"] == len(vocab) - 1 == max(vocab.values())
    assert "▁runway" in vocab and "▁bir" in vocab  # pieces from the English captions and the Turkish sentences


def test_real_size_vocab_and_architecture_match_opus_mt_tc_big_en_tr(tmp_path):
    config = tc_big_config()
    assert {k: getattr(config, k) for k in HUB_CONFIG} == HUB_CONFIG
    tokenizer = write_tokenizer(tmp_path / "tok", ENGLISH, TURKISH, model_vocab_size=config.vocab_size)
    assert len(tokenizer.encoder) == 57060 and tokenizer.pad_token_id == config.pad_token_id
    with torch.device("meta"):  # shapes only: no 1 GB of weights
        model = MarianMTModel(config)
    assert model.model.shared.weight.shape == (57060, 1024) and model.lm_head.weight.shape == (57060, 1024)
    assert len(model.model.encoder.layers) == len(model.model.decoder.layers) == 6
    n_params = sum(p.numel() for p in model.parameters())
    assert 230e6 < n_params < 245e6  # transformer-big with a shared 57k vocabulary
