"""Fixtures of the data_tools tests: a tiny BERT text encoder for the hf-mean-pool teacher."""
from __future__ import annotations

import json
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_bert_dir(tmp_path_factory, coco_sample_json) -> Path:
    """A random 2-layer BERT (hidden 32) saved with save_pretrained; its word-piece vocabulary is the sample's words."""
    import torch
    from transformers import BertConfig, BertModel, BertTokenizer
    from transformers.models.bert.tokenization_bert import BasicTokenizer

    folder = tmp_path_factory.mktemp("tiny_bert")
    texts = [a["caption"] for a in json.loads(coco_sample_json.read_text())["annotations"]]
    words = sorted({w for text in texts for w in BasicTokenizer(do_lower_case=True).tokenize(text)})
    vocab = folder / "vocab.txt"
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words]) + "\n")
    BertTokenizer(vocab_file=str(vocab)).save_pretrained(folder / "enc")
    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(words) + 5, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64)
    BertModel(config).eval().save_pretrained(folder / "enc")
    return folder / "enc"
