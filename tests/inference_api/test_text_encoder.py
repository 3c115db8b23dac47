"""TextEncoder on a tiny DistilBERT student: shapes, normalisation, order, batch invariance, Turkish letters,
truncation, and the monatis/turkish-clip style pair (HF encoder folder + a tf_keras clip_head.h5)."""
from __future__ import annotations

import numpy as np
import pytest

from turkish_clip.errors import InputError, ModelNotFoundError
from inference_api.text_encoder import TextEncoder

TEXTS = ["bir kedi fotoğrafı", "kumsalda gün batımı", "", "Çocuklar parkta top oynuyor ve gülüyorlar.", "kahve"]
LONG = ("Bu çok uzun bir açıklama cümlesidir ve içinde pek çok kelime vardır; kumsalda yürüyen insanlar, "
        "denizde yüzen çocuklar, gökyüzünde uçan martılar ve uzakta görünen dağlar anlatılıyor. ")


def test_shapes_dtype_and_unit_norm(text_encoder):
    vectors = text_encoder.encode(TEXTS)
    assert vectors.shape == (len(TEXTS), 512) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    raw = text_encoder.encode(TEXTS, normalize=False)
    np.testing.assert_allclose(raw / np.linalg.norm(raw, axis=1, keepdims=True), vectors, atol=1e-6)


def test_empty_list_and_single_string(text_encoder):
    empty = text_encoder.encode([])
    assert empty.shape == (0, 512) and empty.dtype == np.float32
    one = text_encoder.encode("kahve")
    assert one.shape == (1, 512)
    np.testing.assert_allclose(one[0], text_encoder.encode(TEXTS)[4], atol=1e-5)


def test_empty_string_is_a_finite_unit_vector_distinct_from_text(text_encoder):
    empty, kedi = text_encoder.encode(["", "kedi"])
    assert np.isfinite(empty).all() and abs(np.linalg.norm(empty) - 1) < 1e-5
    assert np.abs(empty - kedi).max() > 1e-3


def test_deterministic_across_calls_and_loads(text_encoder, tiny_student_dir):
    first = text_encoder.encode(TEXTS)
    np.testing.assert_array_equal(first, text_encoder.encode(TEXTS))
    np.testing.assert_allclose(TextEncoder.load(str(tiny_student_dir)).encode(TEXTS), first, atol=1e-6)


def test_batch_invariance_alone_vs_among_longer_texts(text_encoder):
    short = "kedi"
    alone = text_encoder.encode([short], batch_size=1)
    longer = [LONG * k for k in (1, 2, 3)] + ["köpek parkta koşuyor"] * 5
    for batch_size in (64, 3):
        mixed = text_encoder.encode(longer[:4] + [short] + longer[4:], batch_size=batch_size)
        assert np.abs(mixed[4] - alone[0]).max() <= 1e-5
    # every row is what the text gives alone: order is the caller's whatever the internal length sort does
    texts = TEXTS + longer
    together = text_encoder.encode(texts, batch_size=4)
    singles = np.concatenate([text_encoder.encode([t], batch_size=1) for t in texts])
    assert np.abs(together - singles).max() <= 1e-5


def test_turkish_dotted_and_dotless_i_are_kept(text_encoder):
    tokenizer = text_encoder.tokenizer
    probe = "İğdır'da ılık bir akşam"
    ids = tokenizer(probe, add_special_tokens=False)["input_ids"]
    assert tokenizer.decode(ids).replace(" ", "") == probe.replace(" ", "")  # cased: no İ->i / ı->i folding
    pairs = [("İki", "iki"), ("ılık", "ilik"), ("kız", "kiz"), ("ışık", "işik")]
    for a, b in pairs:
        assert tokenizer(a)["input_ids"] != tokenizer(b)["input_ids"]
        va, vb = text_encoder.encode([a, b])
        assert np.abs(va - vb).max() > 1e-4, (a, b)


def _truncated_text(tokenizer, text: str, max_length: int) -> str:
    """`text` cut to what `max_length` tokens ([CLS] + pieces + [SEP]) keep, checked to tokenize back the same."""
    ids = tokenizer(text, truncation=True, max_length=max_length)["input_ids"]
    short = tokenizer.decode(ids[1:-1])
    assert tokenizer(short)["input_ids"] == ids  # the cut text is exactly the truncated token sequence
    return short


def test_student_truncates_at_its_trained_max_length(text_encoder, tiny_student_dir):
    """student.json records max_length 64 (what training and `distill evaluate` used); encode_text must cut there
    too, not at the encoder's position limit, or the two disagree on long texts."""
    import json

    from distill.student import encode as distill_encode

    trained = json.loads((tiny_student_dir / "student.json").read_text())["max_length"]
    assert trained == 64 and text_encoder.max_length == 64 < text_encoder.position_limit()
    long_text = LONG * 5
    assert len(text_encoder.tokenizer(long_text)["input_ids"]) > 3 * trained
    assert len(text_encoder.tokenize([long_text])[0]) == trained
    short = _truncated_text(text_encoder.tokenizer, long_text, trained)
    vector, cut = text_encoder.encode([long_text, short])
    np.testing.assert_allclose(vector, cut, atol=1e-6)
    # the same vector `python -m distill evaluate` computes (distill.student.encode at student.json's max_length)
    evaluated = distill_encode(text_encoder.student, text_encoder.tokenizer, [long_text], trained)
    np.testing.assert_allclose(vector, evaluated[0] / np.linalg.norm(evaluated[0]), atol=1e-5)


def test_explicit_max_length_overrides_student_json(tiny_student_dir):
    encoder = TextEncoder.load(str(tiny_student_dir), max_length=16)
    assert encoder.max_length == 16
    long_text = LONG * 2
    vector, cut = encoder.encode([long_text, _truncated_text(encoder.tokenizer, long_text, 16)])
    np.testing.assert_allclose(vector, cut, atol=1e-6)


def test_bad_max_length_in_student_json_is_named(tiny_student_dir, tmp_path):
    import json
    import shutil

    folder = tmp_path / "student"
    shutil.copytree(tiny_student_dir, folder)
    meta = json.loads((folder / "student.json").read_text())
    (folder / "student.json").write_text(json.dumps({**meta, "max_length": "64"}))
    with pytest.raises(InputError, match=r"student.json has max_length '64', expected a positive integer"):
        TextEncoder.load(str(folder))
    (folder / "student.json").write_text(json.dumps({k: v for k, v in meta.items() if k != "max_length"}))
    unrecorded = TextEncoder.load(str(folder))
    assert unrecorded.max_length == unrecorded.position_limit() > 64  # none recorded: the position limit


def test_pair_truncates_at_the_position_limit(text_encoder, tiny_student_tf, tmp_path):
    """An encoder + head pair records no training length: the encoder's position limit applies."""
    pair = TextEncoder.load(str(tiny_student_tf), str(_foreign_head(tmp_path, text_encoder.student.head)))
    limit = pair.max_length
    assert limit == pair.student.encoder.config.max_position_embeddings > 64
    long_text = LONG * 40
    assert len(pair.tokenizer(long_text)["input_ids"]) > limit
    assert len(pair.tokenize([long_text])[0]) == limit
    a, b = pair.encode([long_text, long_text + " ve sonunda eklenen başka kelimeler"])
    assert np.isfinite(a).all()
    np.testing.assert_allclose(a, b, atol=1e-6)  # the tail beyond the limit is cut off


def test_non_string_item_is_named(text_encoder):
    with pytest.raises(InputError, match=r"text #1 is int"):
        text_encoder.encode(["kedi", 5])


def _foreign_head(tmp_path, head):
    """A head written like monatis/turkish-clip's: a tf_keras Sequential Dense saved as .h5 (other layer names)."""
    import tf_keras

    other = tf_keras.Sequential([tf_keras.Input(shape=(head.input_shape[-1],)), tf_keras.layers.Dense(512)])
    other.set_weights(head.get_weights())
    path = tmp_path / "clip_head.h5"
    other.save(path, save_format="h5")
    return path


def test_monatis_style_pair_matches_our_format(text_encoder, tiny_student_tf, tmp_path):
    head = _foreign_head(tmp_path, text_encoder.student.head)
    pair = TextEncoder.load(str(tiny_student_tf), str(head))
    assert pair.source["format"] == "encoder+head"
    np.testing.assert_allclose(pair.encode(TEXTS), text_encoder.encode(TEXTS), atol=1e-5)


def test_monatis_style_pair_from_pytorch_only_folder(text_encoder, tmp_path):
    """Most hub repos (as mys/distilbert-base-turkish-cased-clip may) hold PyTorch weights only."""
    from distill.export import save_pytorch_weights

    folder = tmp_path / "pt-only"
    save_pytorch_weights(text_encoder.student.encoder, folder)
    text_encoder.tokenizer.save_pretrained(str(folder))
    assert not (folder / "tf_model.h5").exists() and (folder / "model.safetensors").is_file()
    head = _foreign_head(tmp_path, text_encoder.student.head)
    pair = TextEncoder.load(str(folder), str(head))
    np.testing.assert_allclose(pair.encode(TEXTS), text_encoder.encode(TEXTS), atol=1e-5)


def test_pair_without_head_says_how_to_pass_it(tiny_student_tf, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TURKISH_CLIP_HEAD", raising=False)
    with pytest.raises(ModelNotFoundError, match="--head / TURKISH_CLIP_HEAD"):
        TextEncoder.load(str(tiny_student_tf))


def test_missing_hub_model_offline_is_one_line(text_encoder, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    head = _foreign_head(tmp_path, text_encoder.student.head)
    with pytest.raises(ModelNotFoundError) as info:
        TextEncoder.load("no-such-owner/no-such-turkish-model", head=str(head))
    message = str(info.value)
    assert "\n" not in message and "--model / TURKISH_CLIP_MODEL" in message and "make smoke" in message


# --- model pairing: a head carries the fingerprint of the encoder it was trained with ---------------------------
def _retrained_student(tmp_path, tiny_student_tf, name="other"):
    """Another save from the same base encoder, its weights nudged (as fine-tuning would): another fingerprint."""
    import distill  # noqa: F401
    from distill.export import save_student
    from distill.student import build_student, load_encoder, load_tokenizer

    encoder = load_encoder(str(tiny_student_tf))
    student = build_student(encoder, 512)
    weight = encoder.trainable_weights[0]
    weight.assign(weight + 0.01)
    return save_student(student, load_tokenizer(str(tiny_student_tf)), tmp_path / name, {"max_length": 64},
                        head_path=tmp_path / f"{name}_head.h5", pytorch=False)


def test_fingerprints_are_recorded_in_student_json_and_the_head(tiny_student_dir):
    import json

    from distill.export import encoder_fingerprint
    from distill.head import FINGERPRINT_ATTR, read_head_attrs

    meta = json.loads((tiny_student_dir / "student.json").read_text())
    assert len(meta["encoder_fingerprint"]) == 16
    assert read_head_attrs(tiny_student_dir / "clip_head.h5")[FINGERPRINT_ATTR] == meta["encoder_fingerprint"]
    from distill.student import load_encoder

    assert encoder_fingerprint(load_encoder(str(tiny_student_dir))) == meta["encoder_fingerprint"]


def test_a_head_of_another_encoder_is_an_error_unless_forced(text_encoder, tiny_student_dir, tiny_student_tf,
                                                             tmp_path, caplog):
    other = _retrained_student(tmp_path, tiny_student_tf)
    for head in (other / "clip_head.h5", tmp_path / "other_head.h5"):
        with pytest.raises(InputError, match="was trained with another encoder .* or --force"):
            TextEncoder.load(str(tiny_student_dir), str(head))
    with caplog.at_level("WARNING"):
        forced = TextEncoder.load(str(tiny_student_dir), str(tmp_path / "other_head.h5"), force=True)
    assert "loading anyway (--force)" in caplog.text and forced.encode(TEXTS).shape == (len(TEXTS), 512)
    # an HF encoder folder + our head: the encoder's weights are fingerprinted at load
    with pytest.raises(InputError, match="was trained with another encoder"):
        TextEncoder.load(str(tiny_student_tf), str(tmp_path / "other_head.h5"))
    assert TextEncoder.load(str(other), str(tmp_path / "other_head.h5")).dim == 512  # its own pair loads


def test_an_explicit_head_that_differs_from_the_folders_own_warns(tiny_student_dir, tmp_path, caplog):
    import numpy as np

    from distill.export import RUN_ATTR
    from distill.head import FINGERPRINT_ATTR, load_head, read_head_attrs, save_head

    own = tiny_student_dir / "clip_head.h5"
    head = load_head(own)
    head.layers[-1].bias.assign(np.ones(512, np.float32))
    attrs = read_head_attrs(own)
    other = save_head(head, tmp_path / "same_encoder_other_run.h5",
                      attrs={FINGERPRINT_ATTR: attrs[FINGERPRINT_ATTR], RUN_ATTR: "another-run"})
    with caplog.at_level("WARNING"):
        TextEncoder.load(str(tiny_student_dir), str(own))
    assert "instead of the student folder's own" not in caplog.text
    with caplog.at_level("WARNING"):
        TextEncoder.load(str(tiny_student_dir), str(other))
    assert "instead of the student folder's own" in caplog.text


def test_gpu_padding_never_passes_the_position_limit(tmp_path, monkeypatch):
    """On a GPU batches are rounded up to a multiple of 8; an encoder with 21 positions must still take a
    21-token text (rounding to 24 would index past its position table)."""
    import distill  # noqa: F401
    from distill.tiny import build_distilbert
    from tests.conftest import _distill_vocab_texts

    folder = build_distilbert(tmp_path / "short-positions", _distill_vocab_texts(), max_positions=21)
    pair_head = tmp_path / "head.h5"
    from distill.head import build_head, save_head

    save_head(build_head(32, 512), pair_head)
    encoder = TextEncoder.load(str(folder), str(pair_head))
    assert encoder.max_length == 21
    monkeypatch.setattr(TextEncoder, "pad_multiple", staticmethod(lambda: 8))  # as on a GPU
    vectors = encoder.encode([LONG * 10, "kedi"])
    assert vectors.shape == (2, 512) and np.isfinite(vectors).all()


def test_pad_to_multiple_caps_the_rounded_length():
    from distill.data import pad_to_multiple

    ids = [np.arange(21, dtype=np.int32), np.arange(3, dtype=np.int32)]
    assert pad_to_multiple(ids, 0, 8, limit=21)["input_ids"].shape[1] == 21
    assert pad_to_multiple(ids[1:], 0, 8, limit=21)["input_ids"].shape[1] == 8
    assert pad_to_multiple(ids, 0, 8)["input_ids"].shape[1] == 24  # uncapped
