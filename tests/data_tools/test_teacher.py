"""Teacher vectors: CLIP tokenisation, trimmed-vs-77 parity, order, both checkpoint formats, offline errors."""
from __future__ import annotations

import json
import time
import urllib.request

import numpy as np
import pytest
import torch

from turkish_clip import clip_towers
from turkish_clip.clip_package import clip_model, simple_tokenizer
from data_tools.clip_tokens import ClipTokenizer, pad
from turkish_clip.errors import InputError, ModelNotFoundError, UserError
from data_tools.teacher import Teacher, load_teacher


def reference_tokenize(texts, context_length=77):
    """openai-clip's clip.tokenize(texts, truncate=True), rewritten here because `import clip` needs torchvision."""
    tokenizer = simple_tokenizer().SimpleTokenizer()
    sot, eot = tokenizer.encoder["<|startoftext|>"], tokenizer.encoder["<|endoftext|>"]
    result = torch.zeros(len(texts), context_length, dtype=torch.int)
    for i, text in enumerate(texts):
        tokens = [sot] + tokenizer.encode(text) + [eot]
        if len(tokens) > context_length:
            tokens = tokens[:context_length]
            tokens[-1] = eot
        result[i, : len(tokens)] = torch.tensor(tokens)
    return result


@pytest.fixture(scope="module")
def captions(coco_sample_json):
    """Real COCO captions, plus one longer than 77 tokens and two that need ftfy / lower-casing."""
    texts = [a["caption"] for a in json.loads(coco_sample_json.read_text())["annotations"]][:120]
    long = " ".join(texts[:12])  # ~130 BPE tokens of real caption text
    return texts + [long, "A MAN Riding A HORSE &amp; a dog", "The cafÃ© is open â€” two people sit outside."]


@pytest.fixture(scope="module")
def openai_teacher(tiny_openai_clip_pt):
    return load_teacher(tiny_openai_clip_pt, device="cpu")


@pytest.fixture(scope="module")
def hf_teacher(tiny_hf_clip_dir):
    return load_teacher(tiny_hf_clip_dir, device="cpu")


def test_tokenizer_matches_clip_tokenize(captions):
    tokenizer = ClipTokenizer()
    ids = tokenizer.encode_batch(captions)
    assert torch.equal(pad(ids, 77), reference_tokenize(captions).long())
    long = ids[-3]
    assert len(long) == 77 and long[0] == 49406 and long[-1] == 49407  # truncated, EOT kept last
    assert tokenizer.encode("A MAN Riding") == tokenizer.encode("a man riding")  # lower case
    assert tokenizer.encode(captions[-1]) == tokenizer.encode("The café is open — two people sit outside.")  # ftfy
    assert tokenizer.encode("") == [49406, 49407]


def test_openai_vectors_equal_plain_encode_text_at_77(openai_teacher, tiny_openai_clip_pt, captions):
    vectors = openai_teacher.encode(captions, batch_size=32)
    # An independent copy of the same checkpoint, through openai-clip's own code path (clip.load on CPU).
    model = clip_model().build_model(torch.jit.load(str(tiny_openai_clip_pt), map_location="cpu").state_dict())
    with torch.inference_mode():
        expected = model.float().encode_text(reference_tokenize(captions)).numpy()
    assert vectors.dtype == np.float32 and vectors.shape == (len(captions), 32)
    assert np.abs(vectors - expected).max() <= 1e-5


def test_trimmed_equals_full_77_forward(openai_teacher, hf_teacher, captions):
    ids = ClipTokenizer().encode_batch(captions[:20])
    for teacher in (openai_teacher, hf_teacher):
        trimmed = teacher.clip.encode_tokens(pad(ids)).numpy()  # [20, longest]
        full = teacher.clip.encode_tokens(pad(ids, 77)).numpy()  # [20, 77]
        assert pad(ids).shape[1] < 40
        assert np.abs(trimmed - full).max() <= 1e-5


def test_hf_vectors_equal_get_text_features_at_77(hf_teacher, tiny_hf_clip_dir, captions):
    from transformers import CLIPModel

    vectors = hf_teacher.encode(captions, batch_size=16)
    model = CLIPModel.from_pretrained(tiny_hf_clip_dir).eval()
    with torch.inference_mode():
        expected = model.get_text_features(input_ids=reference_tokenize(captions).long()).numpy()
    assert np.abs(vectors - expected).max() <= 1e-5


def test_truncation_ignores_text_past_the_context(openai_teacher, captions):
    long = captions[-3]
    a, b = openai_teacher.encode([long, long + " and a giraffe eating leaves from a tall tree"])
    assert np.abs(a - b).max() <= 1e-6  # same 77 ids (rows of one batch may differ in the last float bits)


def test_order_preserved_across_batch_sizes(openai_teacher, captions):
    reference = openai_teacher.encode(captions, batch_size=256)
    assert np.abs(openai_teacher.encode(captions, batch_size=7) - reference).max() <= 1e-5
    some = [0, 5, 17, len(captions) - 3, 40]  # batch size 1 on a few rows (incl. the long one) keeps this fast
    one_by_one = openai_teacher.encode([captions[i] for i in some], batch_size=1)
    assert np.abs(one_by_one - reference[some]).max() <= 1e-5
    permutation = np.random.default_rng(0).permutation(len(captions))
    shuffled = openai_teacher.encode([captions[i] for i in permutation], batch_size=7)
    assert np.abs(shuffled - reference[permutation]).max() <= 1e-5
    assert not np.allclose(reference[0], reference[1])  # distinct captions, distinct rows


def test_vectors_are_unnormalised_and_info_says_so(openai_teacher, hf_teacher, captions):
    for teacher, kind in ((openai_teacher, "openai-clip"), (hf_teacher, "hf-clip")):
        norms = np.linalg.norm(teacher.encode(captions[:10]), axis=1)
        assert not np.allclose(norms, 1.0, atol=1e-3)
        info = teacher.info()
        assert (info["kind"], info["dim"], info["normalized"], info["context_length"]) == (kind, 32, False, 77)
        assert info["compute_dtype"] == "float32" and info["versions"]["torch"] == torch.__version__
        assert info["model"] == teacher.model_id


def test_empty_input_and_bad_caption(openai_teacher):
    assert openai_teacher.encode([]).shape == (0, 32)
    with pytest.raises(InputError, match="caption #1"):
        openai_teacher.encode(["a dog", None])


def test_image_tower_matches_encode_image(openai_teacher, hf_teacher, tiny_hf_clip_dir):
    from transformers import CLIPModel

    pixels = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))  # [2, 3, 32, 32]
    with torch.inference_mode():
        expected_openai = openai_teacher.clip.model.encode_image(pixels)
        expected_hf = CLIPModel.from_pretrained(tiny_hf_clip_dir).get_image_features(pixel_values=pixels)
    assert openai_teacher.clip.encode_image(pixels).shape == (2, 32)
    assert torch.allclose(openai_teacher.clip.encode_image(pixels), expected_openai, atol=1e-6)
    assert torch.allclose(hf_teacher.clip.encode_image(pixels), expected_hf, atol=1e-5)


def test_openai_name_missing_offline_says_where_and_how(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    start = time.monotonic()
    with pytest.raises(ModelNotFoundError) as error:
        load_teacher("ViT-B/32", download_root=tmp_path)
    message = str(error.value)
    assert "'ViT-B/32'" in message and str(tmp_path / "ViT-B-32.pt") in message and ".pt path" in message
    assert "\n" not in message and time.monotonic() - start < 5


def test_openai_download_failure_is_one_line(tmp_path, monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("CLIP_OFFLINE", raising=False)

    def unreachable(*args, **kwargs):
        raise urllib.error.URLError("Name or service not known")

    monkeypatch.setattr(urllib.request, "urlopen", unreachable)
    monkeypatch.setattr(clip_towers, "reachable", lambda url: True)  # the quick probe passed; the download fails
    with pytest.raises(ModelNotFoundError, match=r"'RN50'.*URLError.*download_root, \$CLIP_CACHE"):
        load_teacher("RN50", download_root=tmp_path)
    assert list(tmp_path.iterdir()) == []  # no partial file left behind


@pytest.mark.parametrize("name", ["openai/clip-vit-base-patch32", "no-such-org/no-such-clip", "ViT-Z/99"])
def test_missing_hf_model_offline(name):
    start = time.monotonic()
    with pytest.raises(ModelNotFoundError) as error:
        load_teacher(name)
    message = str(error.value)
    assert f"'{name}'" in message and f"hf download {name} --local-dir DIR" in message and "\n" not in message
    assert time.monotonic() - start < 10


def test_missing_pt_file(tmp_path):
    with pytest.raises(ModelNotFoundError, match=r"nothere\.pt does not exist; pass an existing \.pt path.*ViT-B/32"):
        load_teacher(tmp_path / "nothere.pt")


def test_a_pt_that_is_not_clip_says_so(tmp_path):
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    torch.save({"weight": torch.zeros(2)}, tmp_path / "other.pt")
    with pytest.raises(UserError, match=r"junk\.pt is neither an OpenAI CLIP TorchScript archive nor a state dict"):
        load_teacher(tmp_path / "junk.pt")
    with pytest.raises(UserError, match=r"other\.pt does not hold OpenAI CLIP weights \(KeyError"):
        load_teacher(tmp_path / "other.pt")


def test_plain_state_dict_checkpoint_loads_too(tiny_openai_clip_pt, tmp_path, captions):
    state = torch.jit.load(str(tiny_openai_clip_pt), map_location="cpu").state_dict()
    torch.save(state, tmp_path / "plain.pt")
    a = load_teacher(tiny_openai_clip_pt, device="cpu").encode(captions[:5])
    b = load_teacher(tmp_path / "plain.pt", device="cpu").encode(captions[:5])
    np.testing.assert_array_equal(a, b)


def test_teacher_from_in_memory_model(captions):
    from turkish_clip.clip_towers import OpenAIClip
    from data_tools.tiny import openai_clip_model

    model = openai_clip_model(seed=3)
    teacher = Teacher(OpenAIClip(model, "random", device="cpu"))
    with torch.inference_mode():
        expected = model.encode_text(reference_tokenize(captions[:9])).numpy()
    assert np.abs(teacher.encode(captions[:9], batch_size=4) - expected).max() <= 1e-5


def test_hf_mean_pool_teacher(tiny_bert_dir, captions):
    from transformers import BertModel

    teacher = load_teacher(tiny_bert_dir, kind="hf-mean-pool", device="cpu")
    vectors = teacher.encode(captions[:30], batch_size=4)
    # Reference: one batch padded to the longest caption, masked mean over tokens.
    tokenizer, model = teacher.tokenizer, BertModel.from_pretrained(tiny_bert_dir).eval()
    enc = tokenizer(captions[:30], padding=True, return_tensors="pt")
    with torch.inference_mode():
        states = model(**enc).last_hidden_state  # [30, L, 32]
    mask = enc["attention_mask"].unsqueeze(-1).float()
    expected = ((states * mask).sum(1) / mask.sum(1)).numpy()
    assert vectors.shape == (30, 32) and np.abs(vectors - expected).max() <= 1e-5
    assert teacher.info()["kind"] == "hf-mean-pool" and teacher.info()["normalized"] is False
    assert load_teacher(tiny_bert_dir, device="cpu").kind == "hf-mean-pool"  # detected from config.json


def test_hf_mean_pool_max_length_truncates_and_is_refused_for_clip(tiny_bert_dir, tiny_openai_clip_pt, captions):
    short = load_teacher(tiny_bert_dir, kind="hf-mean-pool", device="cpu", max_length=5)
    default = load_teacher(tiny_bert_dir, device="cpu")
    assert short.info()["context_length"] == 5 and default.info()["context_length"] == 128
    texts = captions[:20]
    enc = short.tokenizer(texts, truncation=True, max_length=5, padding=True, return_tensors="pt")
    with torch.inference_mode():
        states = short.model(**enc).last_hidden_state  # [20, 5, 32]
    mask = enc["attention_mask"].unsqueeze(-1).float()  # [20, 5, 1]
    expected = ((states * mask).sum(1) / mask.sum(1)).numpy()
    vectors = short.encode(texts, batch_size=4)
    assert np.abs(vectors - expected).max() <= 1e-5
    assert np.abs(vectors - default.encode(texts, batch_size=4)).max() > 1e-3  # the cap changes the vectors
    with pytest.raises(UserError, match="--max-length is for hf-mean-pool teachers only.*drop --max-length"):
        load_teacher(tiny_openai_clip_pt, device="cpu", max_length=5)
    with pytest.raises(UserError, match="max_length must be >= 1, got 0"):
        load_teacher(tiny_bert_dir, kind="hf-mean-pool", device="cpu", max_length=0)
