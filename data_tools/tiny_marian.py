"""Random-weight MarianMT models in the real opus-mt folder format, for tests and benchmarks.

`build_marian` trains the two sentencepiece models from the given texts, writes a Marian `vocab.json` (shared
vocabulary, `</s>` = 0, `<unk>` = 1, `<pad>` last, as the opus-mt conversions do) and saves a random
`MarianMTModel` + `MarianTokenizer`, so `from_pretrained(folder)` loads it exactly as a hub folder.
`tc_big_config` mirrors Helsinki-NLP/opus-mt-tc-big-en-tr's config.json (transformer-big, vocab 57,060).
"""
from __future__ import annotations

import io
import json
import warnings
from pathlib import Path
from typing import Iterable, Sequence


SPECIALS = ("</s>", "<unk>")
PAD = "<pad>"
SPM_SPECIALS = {"<unk>", "<s>", "</s>"}


def train_spm(texts: Iterable[str], vocab_size: int) -> bytes:
    """A unigram sentencepiece model (serialized) trained on `texts`; single-threaded, so deterministic."""
    import sentencepiece as spm

    buffer = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter([t for t in texts if t.strip()]), model_writer=buffer, vocab_size=vocab_size,
        model_type="unigram", character_coverage=1.0, hard_vocab_limit=False, num_threads=1,
        unk_id=0, bos_id=1, eos_id=2, pad_id=-1, minloglevel=2,
    )
    return buffer.getvalue()


def marian_vocab(source_spm: bytes, target_spm: bytes, size: int | None = None,
                 language_tokens: Sequence[str] = ()) -> dict[str, int]:
    """Shared Marian vocabulary: `</s>`, `<unk>`, language tokens, source then target pieces, fillers, `<pad>`."""
    import sentencepiece as spm

    tokens = list(SPECIALS) + list(language_tokens)
    seen = set(tokens)
    for blob in (source_spm, target_spm):
        processor = spm.SentencePieceProcessor(model_proto=blob)
        for i in range(processor.get_piece_size()):
            piece = processor.id_to_piece(i)
            if piece not in SPM_SPECIALS and piece not in seen:
                seen.add(piece)
                tokens.append(piece)
    if size is not None:
        if len(tokens) + 1 > size:
            raise ValueError(f"vocabulary has {len(tokens) + 1} tokens, more than the model's {size}")
        tokens += [f"<extra_{i}>" for i in range(size - 1 - len(tokens))]  # real-size embedding tables
    tokens.append(PAD)
    return {token: i for i, token in enumerate(tokens)}


def tiny_config(vocab_size: int, *, d_model: int = 32, layers: int = 2, heads: int = 2, ffn: int = 64):
    """A small MarianConfig with the opus-mt-tc-big conventions (pad = decoder start = last id, eos = 0)."""
    from transformers import MarianConfig

    pad = vocab_size - 1
    return MarianConfig(
        vocab_size=vocab_size, decoder_vocab_size=vocab_size, d_model=d_model,
        encoder_layers=layers, decoder_layers=layers, encoder_attention_heads=heads, decoder_attention_heads=heads,
        encoder_ffn_dim=ffn, decoder_ffn_dim=ffn, max_position_embeddings=512, activation_function="relu",
        pad_token_id=pad, decoder_start_token_id=pad, eos_token_id=0, forced_eos_token_id=0, bos_token_id=0,
        scale_embedding=True, share_encoder_decoder_embeddings=True, static_position_embeddings=True,
        normalize_embedding=False, dropout=0.1,
    )


def tc_big_config(vocab_size: int = 57060):
    """opus-mt-tc-big-en-tr's architecture: transformer-big, d_model 1024, 6+6 layers, 16 heads, ffn 4096."""
    config = tiny_config(vocab_size, d_model=1024, layers=6, heads=16, ffn=4096)
    config.max_position_embeddings = 1024
    return config


def generation_config(config):
    """The generation defaults an opus-mt hub folder ships (beam 4, max_length 512, `<pad>` never generated)."""
    from transformers import GenerationConfig

    pad = config.pad_token_id
    return GenerationConfig(
        bad_words_ids=[[pad]], bos_token_id=0, decoder_start_token_id=pad, eos_token_id=config.eos_token_id,
        forced_eos_token_id=config.eos_token_id, max_length=512, num_beams=4, pad_token_id=pad,
    )


def random_marian(config, seed: int = 0, eos_bias: float = 0.0):
    """A MarianMTModel with seeded random weights, in eval mode (global torch RNG left untouched).

    `eos_bias` is added to the `</s>` logit so that some sentences end early, as with a trained model.
    """
    import torch
    from transformers import MarianMTModel

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = MarianMTModel(config)
    with torch.no_grad():
        model.final_logits_bias[0, config.eos_token_id] = eos_bias  # [1, vocab]
    model.generation_config = generation_config(config)
    return model.eval()


def write_tokenizer(folder: str | Path, src_texts: Sequence[str], tgt_texts: Sequence[str], *,
                    spm_vocab_size: int = 800, model_vocab_size: int | None = None,
                    language_tokens: Sequence[str] = (), source_lang: str = "en", target_lang: str = "tr"):
    """Write source.spm, target.spm, vocab.json and the tokenizer config; return the loaded MarianTokenizer."""
    from transformers import MarianTokenizer

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    source, target = train_spm(src_texts, spm_vocab_size), train_spm(tgt_texts, spm_vocab_size)
    (folder / "source.spm").write_bytes(source)
    (folder / "target.spm").write_bytes(target)
    vocab = marian_vocab(source, target, model_vocab_size, language_tokens)
    (folder / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False, indent=2), encoding="utf-8")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Recommended: pip install sacremoses")
        tokenizer = MarianTokenizer(str(folder / "source.spm"), str(folder / "target.spm"), str(folder / "vocab.json"),
                                    source_lang=source_lang, target_lang=target_lang)
    tokenizer.save_pretrained(folder)
    return tokenizer


def build_marian(folder: str | Path, src_texts: Sequence[str], tgt_texts: Sequence[str], *,
                 vocab_size: int = 800, d_model: int = 32, layers: int = 2, heads: int = 2, ffn: int = 64,
                 language_tokens: Sequence[str] = (), target_lang: str = "tr", init_std: float = 0.5,
                 eos_bias: float = 5.0, seed: int = 0) -> Path:
    """Save a tiny random MarianMT model + tokenizer to `folder`, loadable like a hub opus-mt folder.

    `vocab_size` is each sentencepiece model's target size; the model's vocabulary is their union plus specials.
    The defaults `init_std=0.5, eos_bias=5` make outputs depend on the input and some of them end early, as a
    trained model's do (at the real init_std 0.02 every input decodes to the same string and none ends).
    """
    folder = Path(folder)
    tokenizer = write_tokenizer(folder, src_texts, tgt_texts, spm_vocab_size=vocab_size,
                                language_tokens=language_tokens, target_lang=target_lang)
    config = tiny_config(len(tokenizer.encoder), d_model=d_model, layers=layers, heads=heads, ffn=ffn)
    config.init_std = init_std
    random_marian(config, seed, eos_bias).save_pretrained(folder)
    return folder


def sample_texts(samples_dir: str | Path) -> tuple[list[str], list[str]]:
    """English COCO captions and Turkish Tatoeba sentences from the shipped samples (tests/samples)."""
    samples_dir = Path(samples_dir)
    coco = json.loads((samples_dir / "coco_captions_val2017_sample.json").read_text(encoding="utf-8"))
    english = [a["caption"].strip() for a in coco["annotations"]]
    lines = (samples_dir / "tatoeba_eng_tur_sample.tsv").read_text(encoding="utf-8").splitlines()[1:]
    turkish = [line.split("\t")[1].strip() for line in lines if "\t" in line]
    return english, turkish
