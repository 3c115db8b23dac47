"""Tiny (and real-size, random) DistilBERT students in real checkpoint formats, for tests and benchmarks.

The tokenizer is a cased WordPiece vocabulary trained on the given texts (Turkish letters kept, no accent
stripping), saved with save_pretrained like dbmdz/distilbert-base-turkish-cased.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
TURKISH_LETTERS = list("çğıİöşüÇĞÖŞÜâîû")


def build_tokenizer(folder: str | Path, texts: list[str], vocab_size: int = 400, max_length: int = 512, *,
                    bert: bool = False, lowercase: bool = False):
    """Train a cased WordPiece vocab on `texts`, pad it to exactly `vocab_size` with [unusedN], save a
    DistilBertTokenizerFast (bert=True: BertTokenizerFast, as BERT-base checkpoints such as
    l3cube-pune/hindi-bert-v2 have) to folder; returns the tokenizer. lowercase=True makes an uncased tokenizer
    (lower case + accent stripping), which folds Turkish İ/ı and strips Devanagari combining marks."""
    from tokenizers import BertWordPieceTokenizer
    from transformers import BertTokenizerFast, DistilBertTokenizerFast

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    trainer = BertWordPieceTokenizer(lowercase=lowercase, strip_accents=lowercase, clean_text=True)
    trainer.train_from_iterator(list(texts), vocab_size=vocab_size, min_frequency=1, special_tokens=SPECIAL,
                                initial_alphabet=TURKISH_LETTERS, show_progress=False)
    vocab = sorted(trainer.get_vocab().items(), key=lambda kv: kv[1])
    tokens = [t for t, _ in vocab][:vocab_size]
    tokens += [f"[unused{i}]" for i in range(vocab_size - len(tokens))]
    with tempfile.TemporaryDirectory() as tmp:
        vocab_file = Path(tmp) / "vocab.txt"
        vocab_file.write_text("\n".join(tokens) + "\n", encoding="utf-8")
        kind = BertTokenizerFast if bert else DistilBertTokenizerFast
        tokenizer = kind(vocab_file=str(vocab_file), do_lower_case=lowercase, strip_accents=lowercase,
                         model_max_length=max_length)
    tokenizer.save_pretrained(str(folder))
    return tokenizer


def build_distilbert(folder: str | Path, texts: list[str], *, vocab_size: int = 400, dim: int = 32, layers: int = 2,
                     heads: int = 2, hidden_dim: int = 64, max_positions: int = 128, seed: int = 0,
                     pytorch_only: bool = False) -> Path:
    """A random TFDistilBertModel + tokenizer saved with save_pretrained (TF weights), or PyTorch-only
    (model.safetensors, no tf_model.h5) like most hub repos. Returns the folder."""
    import tf_keras
    from transformers import DistilBertConfig, TFDistilBertModel

    folder = Path(folder)
    tokenizer = build_tokenizer(folder, texts, vocab_size, max_positions)
    config = DistilBertConfig(vocab_size=len(tokenizer), dim=dim, n_layers=layers, n_heads=heads,
                              hidden_dim=hidden_dim, max_position_embeddings=max_positions,
                              pad_token_id=tokenizer.pad_token_id)
    tf_keras.utils.set_random_seed(seed)
    model = TFDistilBertModel(config)
    model(model.dummy_inputs)
    if not pytorch_only:
        model.save_pretrained(str(folder))
        return folder
    from .export import save_pytorch_weights

    if not save_pytorch_weights(model, folder):
        raise RuntimeError("a PyTorch-only tiny model needs torch installed")
    return folder


def build_real_size(folder: str | Path, texts: list[str], pytorch_only: bool = True) -> Path:
    """dbmdz/distilbert-base-turkish-cased's shape (vocab 32000, 6 layers, dim 768, 12 heads), random weights."""
    return build_distilbert(folder, texts, vocab_size=32000, dim=768, layers=6, heads=12, hidden_dim=3072,
                            max_positions=512, pytorch_only=pytorch_only)
