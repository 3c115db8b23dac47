"""data_tools.translate on a tiny random opus-mt folder (conftest `tiny_marian_dir`), loaded like a hub model."""
from __future__ import annotations

import logging
import sys

import pytest
import torch
from transformers import MarianMTModel, MarianTokenizer

from turkish_clip.errors import InputError, ModelNotFoundError, UserError
from data_tools.tiny_marian import build_marian, sample_texts
from data_tools.translate import (DEFAULT_MODEL, MarianTranslator, TranslateOptions, _guess_target_lang,
                                  load_translator)
from tests.conftest import SAMPLES

ENGLISH, TURKISH = sample_texts(SAMPLES)
CAPTIONS = ENGLISH[:14] + ["A dog.", "Two people ride bicycles down a busy street next to a big red bus."]


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """Tiny models run fastest on one thread (and do not fight the other test processes for cores)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def greedy(tiny_marian_dir):
    return load_translator(model=str(tiny_marian_dir), batch_size=5, max_length=16)


@pytest.fixture(scope="module")
def multi_target_dir(tmp_path_factory):
    """A tiny multi-target model whose vocabulary has language tokens, like opus-mt-en-mul."""
    return build_marian(tmp_path_factory.mktemp("tiny_marian_mul") / "m", ENGLISH, TURKISH,
                        language_tokens=[">>tur<<", ">>aze<<"])


@pytest.mark.filterwarnings("ignore:Recommended. pip install sacremoses")
def test_tiny_folder_loads_like_a_hub_folder(tiny_marian_dir, greedy):
    names = {p.name for p in tiny_marian_dir.iterdir()}
    assert {"source.spm", "target.spm", "vocab.json", "tokenizer_config.json", "config.json", "model.safetensors",
            "generation_config.json"} <= names
    tokenizer = MarianTokenizer.from_pretrained(tiny_marian_dir)
    model = MarianMTModel.from_pretrained(tiny_marian_dir)
    pad = model.config.pad_token_id
    assert tokenizer.convert_tokens_to_ids(["</s>", "<unk>", "<pad>"]) == [0, 1, pad]
    assert pad == model.config.vocab_size - 1 == model.config.decoder_start_token_id == len(tokenizer.encoder) - 1
    assert model.generation_config.num_beams == 4  # the hub folders' default: our num_beams=1 must override it
    assert isinstance(greedy, MarianTranslator) and greedy.target_lang == "tr"
    ids = tokenizer("A man riding a horse.")["input_ids"]
    assert ids[-1] == 0 and 1 not in ids  # </s> appended, every piece known
    assert tokenizer.decode(ids, skip_special_tokens=True, use_source_tokenizer=True) == "A man riding a horse."


def test_length_sorted_batches_equal_one_by_one_in_input_order(greedy):
    texts = CAPTIONS + ["", "   "]
    batched = greedy.translate(texts)
    assert batched[-2:] == ["", ""]
    assert batched[:-2] == [greedy.translate([t])[0] for t in CAPTIONS]
    assert len(set(batched[:-2])) > len(CAPTIONS) // 2  # outputs depend on the input, so order is checkable
    ended = [0 in ids[:15] for ids in greedy._generate(greedy.encode(CAPTIONS), 16)]
    assert 0 < sum(ended) < len(CAPTIONS)  # some stop early (then padded) while their batch goes on
    reversed_out = greedy.translate(texts[::-1], batch_size=3)
    assert reversed_out == batched[::-1]
    assert greedy.translate(texts) == batched  # deterministic


def test_batches_group_by_length_longest_first():
    translator = MarianTranslator.__new__(MarianTranslator)
    translator.options = TranslateOptions()
    assert translator.batches([3, 9, 1, 9, 5], 2) == [[1, 3], [4, 0], [2]]
    translator.options = TranslateOptions(max_batch_tokens=19)
    assert translator.batches([3, 9, 1, 9, 5, 2], 8) == [[1, 3], [4, 0, 5], [2]]  # 2×9 ≤ 19; 3×5 ≤ 19 < 4×5


def test_greedy_and_beam_equal_hf_generate_with_the_same_arguments(tiny_marian_dir, greedy):
    beam = load_translator(model=str(tiny_marian_dir), num_beams=3, max_length=16)
    assert beam.info()["options"]["num_beams"] == 3 and greedy.info()["options"]["num_beams"] == 1
    tokenizer, model = greedy.tokenizer, greedy.model
    texts = CAPTIONS[:6]
    for translator in (greedy, beam):
        for text in texts:
            inputs = tokenizer([text], return_tensors="pt")
            cap = translator.options.length_cap(inputs["input_ids"].shape[1])
            out = model.generate(**inputs, num_beams=translator.options.num_beams, max_new_tokens=cap,
                                 forced_eos_token_id=None)
            assert translator.translate([text]) == [tokenizer.decode(out[0], skip_special_tokens=True)]
    assert beam.translate(texts) != greedy.translate(texts)


def test_length_cap_and_forced_length(tiny_marian_dir):
    options = TranslateOptions(max_length=30, max_length_factor=2.0, max_length_offset=3)
    assert [options.length_cap(n) for n in (1, 5, 20)] == [5, 13, 30]
    forced = load_translator(model=str(tiny_marian_dir), force_length=True)
    generated = forced._generate(forced.encode(CAPTIONS[:4]), 7)
    assert [len(g) for g in generated] == [7] * 4 and all(0 not in g for g in generated)  # no </s>: exactly 7


def test_target_token_is_prefixed_to_every_source(multi_target_dir, caplog):
    tagged = load_translator(model=str(multi_target_dir), target_token=">>tur<<", max_length=8)
    tur = tagged.tokenizer.convert_tokens_to_ids(">>tur<<")
    ids = tagged.encode(["A cat.", "Two dogs play in the snow."])
    assert [x[0] for x in ids] == [tur, tur] and [x[-1] for x in ids] == [0, 0]
    with caplog.at_level(logging.WARNING, logger="data_tools.translate"):
        plain = load_translator(model=str(multi_target_dir), max_length=8)
    assert "pass target_token" in caplog.text and ">>tur<<" in caplog.text
    assert plain.encode(["A cat."])[0] == ids[0][1:]
    assert tagged.info()["options"]["target_token"] == ">>tur<<"
    with pytest.raises(UserError, match=r"target token '>>deu<<' is not in the vocabulary .*>>tur<<"):
        load_translator(model=str(multi_target_dir), target_token=">>deu<<")


def test_offline_missing_model_names_the_model_and_the_fix(tmp_path):
    with pytest.raises(ModelNotFoundError) as error:
        load_translator(model=DEFAULT_MODEL, cache_dir=str(tmp_path))
    message = str(error.value)
    assert "\n" not in message and DEFAULT_MODEL in message
    assert "hf download" in message and "HF_HOME" in message
    with pytest.raises(ModelNotFoundError, match=r"folder '\./no-such-model' does not exist"):
        load_translator(model="./no-such-model")


def test_bad_arguments_and_inputs(greedy, monkeypatch):
    with pytest.raises(UserError, match="unknown translation backend 'google'"):
        load_translator(backend="google")
    with pytest.raises(UserError, match="unknown dtype 'fp8'"):
        load_translator(model="./x", dtype="fp8")
    with pytest.raises(UserError, match="unknown translation option.s. beam_size"):
        load_translator(model="./x", beam_size=4)
    monkeypatch.setitem(sys.modules, "ctranslate2", None)  # as if the package were not installed
    with pytest.raises(UserError, match=r"needs the ctranslate2 package: pip install ctranslate2=="):
        load_translator("ctranslate2", model="./x")
    with pytest.raises(InputError, match="text #1 to translate is NoneType"):
        greedy.translate(["A cat.", None])
    monkeypatch.setattr(greedy, "_generate", lambda *a: pytest.fail("the model ran on empty input"))
    assert greedy.translate(["", " \t"]) == ["", ""] and greedy.translate([]) == []


def test_info_records_backend_model_language_options_and_versions(tiny_marian_dir, greedy):
    info = greedy.info()
    assert info["backend"] == "marian" and info["model"] == str(tiny_marian_dir) and info["target_lang"] == "tr"
    expected = {"batch_size": 5, "max_length": 16, "num_beams": 1, "target_token": None, "device": "cpu",
                "dtype": "float32"}
    assert {k: info["options"][k] for k in expected} == expected
    assert info["versions"]["torch"] == torch.__version__ and "transformers" in info["versions"]
    hindi = load_translator(model=str(tiny_marian_dir), target_lang="hi")
    assert hindi.info()["target_lang"] == "hi"
    assert _guess_target_lang(object(), "Helsinki-NLP/opus-mt-en-hi") == "hi"
    assert _guess_target_lang(object(), "/models/opus-mt-tc-big-en-tr") == "tr"


def test_ctranslate2_backend_converts_once_and_batches_like_marian(tiny_marian_dir, greedy, tmp_path):
    pytest.importorskip("ctranslate2")
    ct2_dir = tmp_path / "ct2"
    fast = load_translator("ctranslate2", str(tiny_marian_dir), ct2_dir=str(ct2_dir), compute_type="float32",
                           batch_size=5, max_length=16)
    assert {"model.bin", "source.spm", "target.spm", "vocab.json"} <= {p.name for p in ct2_dir.iterdir()}
    out = fast.translate(CAPTIONS + [""])
    assert out[-1] == "" and out[:-1] == [fast.translate([t])[0] for t in CAPTIONS]
    reference = greedy.translate(CAPTIONS)
    assert sum(a == b for a, b in zip(out, reference)) >= 0.75 * len(CAPTIONS)  # float32: same model, other kernels
    stamp = (ct2_dir / "model.bin").stat().st_mtime_ns
    again = load_translator("ctranslate2", str(ct2_dir), compute_type="float32", max_length=16)
    assert (ct2_dir / "model.bin").stat().st_mtime_ns == stamp and again.translate(CAPTIONS[:3]) == out[:3]
    assert fast.info()["backend"] == "ctranslate2" and fast.info()["options"]["compute_type"] == "float32"
