"""Loading the student encoder by hub id or folder (TF or PyTorch-only weights), Turkish tokenisation, errors."""
from __future__ import annotations

import numpy as np
import pytest

import distill  # noqa: F401
from turkish_clip.errors import ModelNotFoundError
from distill.head import build_head
from distill.student import build_student, encode, load_encoder, load_tokenizer
from tests.conftest import shared_path

SENTENCES = ["Çocuk sokakta koşuyor.", "İstanbul'da güzel bir gün.", "Kırmızı şapkalı kız ağacın önünde oturuyor.", "Ümit"]


def test_pytorch_only_checkpoint_loads_with_the_same_vectors(tiny_student_tf, tiny_student_pt):
    assert not (tiny_student_pt / "tf_model.h5").exists() and (tiny_student_pt / "model.safetensors").exists()
    tokenizer = load_tokenizer(str(tiny_student_tf))
    head = build_head(32, 8)
    vectors = [encode(build_student(load_encoder(str(folder)), 8, head), tokenizer, SENTENCES)
               for folder in (tiny_student_tf, tiny_student_pt)]
    assert vectors[0].shape == (4, 8) and np.abs(vectors[0]).max() > 0
    np.testing.assert_allclose(vectors[0], vectors[1], atol=1e-5)


def test_folder_with_tf_and_safetensors_weights_loads(tiny_student_tf, tiny_student_pt, tmp_path):
    """The hub's usual layout (tf_model.h5 beside model.safetensors) trips transformers 4.57 unless worked around."""
    import shutil

    both = tmp_path / "both"
    shutil.copytree(tiny_student_tf, both)
    shutil.copy(tiny_student_pt / "model.safetensors", both / "model.safetensors")
    assert type(load_encoder(str(both))).__name__ == "TFDistilBertModel"


def test_turkish_letters_and_case_survive_tokenisation(tiny_student_tf):
    tokenizer = load_tokenizer(str(tiny_student_tf))
    text = "Çiçek ağaç ılık İstanbul Ömer şapka Ümit gözlük"
    ids = tokenizer(text)["input_ids"]
    assert tokenizer.unk_token_id not in ids
    assert tokenizer.decode(ids, skip_special_tokens=True) == text
    for letter in "çğıİöşüÇÖŞÜ":
        assert any(letter in token for token in tokenizer.convert_ids_to_tokens(ids)) or letter not in text
    assert tokenizer("İstanbul")["input_ids"] != tokenizer("istanbul")["input_ids"]  # no lower-casing
    assert tokenizer("şapka")["input_ids"] != tokenizer("sapka")["input_ids"]  # no accent stripping


def test_batches_of_mixed_length_give_the_vectors_of_single_sentences(tiny_student_tf):
    student = build_student(load_encoder(str(tiny_student_tf)), 8)
    tokenizer = load_tokenizer(str(tiny_student_tf))
    together = encode(student, tokenizer, SENTENCES)
    alone = np.concatenate([encode(student, tokenizer, [s]) for s in SENTENCES])
    np.testing.assert_allclose(together, alone, atol=1e-5)  # padding never leaks into the mean


def test_missing_hub_model_is_one_actionable_line(tmp_path):
    with pytest.raises(ModelNotFoundError) as err:
        load_encoder("dbmdz/distilbert-base-turkish-cased", cache_dir=str(tmp_path))
    message = str(err.value)
    assert "\n" not in message and "'dbmdz/distilbert-base-turkish-cased' is not available offline" in message
    assert "`hf download dbmdz/distilbert-base-turkish-cased --local-dir DIR`" in message
    with pytest.raises(ModelNotFoundError, match="No such model folder"):
        load_tokenizer(str(tmp_path / "no" / "such"))
    with pytest.raises(ModelNotFoundError, match="has no config.json"):
        load_encoder(str(tmp_path))


@pytest.mark.slow
def test_real_size_pytorch_only_checkpoint_loads_by_hub_id(tmp_path):
    """dbmdz/distilbert-base-turkish-cased's shape, random weights, PyTorch-only safetensors, placed in a Hugging
    Face cache as the hub would, then loaded by its hub id offline through the same loader."""
    import torch
    from transformers import DistilBertConfig, DistilBertModel

    from distill.tiny import build_tokenizer

    snapshot = tmp_path / "hub" / "models--dbmdz--distilbert-base-turkish-cased" / "snapshots" / ("0" * 40)
    build_tokenizer(snapshot, SENTENCES * 3, vocab_size=32000)
    torch.manual_seed(0)
    config = DistilBertConfig(vocab_size=32000, dim=768, n_layers=6, n_heads=12, hidden_dim=3072)
    model = DistilBertModel(config).eval()
    model.save_pretrained(snapshot, safe_serialization=True)
    (snapshot.parent.parent / "refs").mkdir()
    (snapshot.parent.parent / "refs" / "main").write_text("0" * 40)
    assert sorted(p.name for p in snapshot.iterdir() if "weight" in p.name or p.suffix in (".h5", ".safetensors")) == ["model.safetensors"]

    encoder = load_encoder("dbmdz/distilbert-base-turkish-cased", cache_dir=str(tmp_path / "hub"))
    tokenizer = load_tokenizer("dbmdz/distilbert-base-turkish-cased", cache_dir=str(tmp_path / "hub"))
    assert type(encoder).__name__ == "TFDistilBertModel"
    assert (encoder.config.vocab_size, encoder.config.n_layers, encoder.config.dim) == (32000, 6, 768)
    assert len(tokenizer) == 32000
    batch = tokenizer(SENTENCES[:2], padding=True, return_tensors="np")
    with torch.no_grad():
        expected = model(**{k: torch.tensor(v) for k, v in batch.items()}).last_hidden_state.numpy()
    got = encoder(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state.numpy()
    np.testing.assert_allclose(got, expected, atol=2e-4)
    student = build_student(encoder, 512)
    assert student.head.input_shape == (None, 768) and encode(student, tokenizer, SENTENCES).shape == (4, 512)


@pytest.mark.slow
def test_other_bert_family_encoder_loads_the_same_way():
    """A BERT (XLM-R vocabulary) PyTorch-only checkpoint from ../shared/models: multilingual e5-small, hidden 384."""
    folder = shared_path("models/multilingual-e5-small-trimmed")
    student = build_student(load_encoder(str(folder)), 512)
    tokenizer = load_tokenizer(str(folder))
    vectors = encode(student, tokenizer, ["kumsalda koşan bir köpek", "a dog running on the beach"])
    assert student.hidden_size == 384 and vectors.shape == (2, 512) and np.isfinite(vectors).all()


HINDI = ["घास पर खड़े एक फ़ोटोग्राफ़र की श्वेत-श्याम तस्वीर।", "क्षत्रिय ज्ञान हिंदी क़लम बिल्ली", "नीले आसमान के नीचे एक सफ़ेद रॉकेट।"]


@pytest.mark.parametrize("lang, texts", [("hi", HINDI), ("tr", SENTENCES)])
def test_tokenizer_probe_warns_when_an_uncased_tokenizer_strips_the_language(tmp_path, caplog, lang, texts):
    """An uncased BERT tokenizer lower-cases and strips accents: Devanagari virama/anusvara/nukta and Turkish İ/ı
    are lost. The language's probe (languages.tsv) catches it when the tokenizer loads; a cased one passes."""
    from distill.tiny import build_tokenizer
    from turkish_clip.languages import language, sample_texts

    corpus = sample_texts(lang) if lang == "hi" else SENTENCES * 3 + [language("tr").probe]
    for lowercase in (False, True):
        folder = build_tokenizer(tmp_path / f"{lang}-{lowercase}", corpus, vocab_size=2000, bert=True,
                                 lowercase=lowercase) and tmp_path / f"{lang}-{lowercase}"
        caplog.clear()
        tokenizer = load_tokenizer(str(folder), lang=lang)
        warned = [r.getMessage() for r in caplog.records if "changes case or" in r.getMessage()]
        assert bool(warned) == lowercase, warned
        decoded = tokenizer.decode(tokenizer(texts[0], add_special_tokens=False)["input_ids"])
        assert (decoded.replace(" ", "") == texts[0].replace(" ", "")) != lowercase
    assert language(lang).name in warned[0]


@pytest.mark.slow
def test_hindi_bert_real_size_pytorch_only_checkpoint_loads_by_hub_id(tmp_path):
    """l3cube-pune/hindi-bert-v2's shape (BERT-base on MuRIL's 197,285-token vocabulary: 12 layers, hidden 768, 12
    heads; cased BertTokenizer), random weights, PyTorch-only safetensors as on the hub, placed in a Hugging Face
    cache and loaded offline by its hub id through the student loader, then wrapped into a student."""
    import torch
    from transformers import BertConfig, BertModel

    from distill.tiny import build_tokenizer
    from turkish_clip.languages import language, sample_texts

    hub_id = language("hi").student_model
    assert hub_id == "l3cube-pune/hindi-bert-v2"
    snapshot = tmp_path / "hub" / "models--l3cube-pune--hindi-bert-v2" / "snapshots" / ("0" * 40)
    build_tokenizer(snapshot, sample_texts("hi"), vocab_size=197285, bert=True)
    torch.manual_seed(0)
    config = BertConfig(vocab_size=197285, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                        intermediate_size=3072, max_position_embeddings=512, type_vocab_size=2)
    model = BertModel(config, add_pooling_layer=True).eval()
    model.save_pretrained(snapshot, safe_serialization=True)
    (snapshot.parent.parent / "refs").mkdir()
    (snapshot.parent.parent / "refs" / "main").write_text("0" * 40)
    assert not (snapshot / "tf_model.h5").exists()

    encoder = load_encoder(hub_id, cache_dir=str(tmp_path / "hub"))
    tokenizer = load_tokenizer(hub_id, cache_dir=str(tmp_path / "hub"), lang="hi")
    assert type(encoder).__name__ == "TFBertModel" and type(tokenizer).__name__ == "BertTokenizerFast"
    assert (encoder.config.vocab_size, encoder.config.num_hidden_layers, encoder.config.hidden_size) == (197285, 12, 768)
    assert len(tokenizer) == 197285
    batch = tokenizer(HINDI[:2], padding=True, return_tensors="np")
    assert tokenizer.unk_token_id not in batch["input_ids"][0]
    with torch.no_grad():
        expected = model(input_ids=torch.tensor(batch["input_ids"]),
                         attention_mask=torch.tensor(batch["attention_mask"])).last_hidden_state.numpy()
    got = encoder(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state.numpy()
    np.testing.assert_allclose(got, expected, atol=2e-4)
    student = build_student(encoder, 512)
    assert student.hidden_size == 768 and student.head.input_shape == (None, 768)
    vectors = encode(student, tokenizer, HINDI)
    assert vectors.shape == (3, 512) and np.isfinite(vectors).all()
