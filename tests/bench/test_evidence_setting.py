"""The evidence setting keeps working without bench-only packages: the REAL multilingual-e5-small student from
../shared (PyTorch-only safetensors, loaded by distill) learns from a tiny random BERT teacher (hf-mean-pool) in
a few steps of both stages, through data_tools' cache and bench.evidence.train (the Trainer the benchmark uses)."""
from __future__ import annotations

import shutil
import sys

import numpy as np
import pandas as pd
import pytest

from tests.conftest import shared_path

E5_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")


def _tiny_teacher(folder, e5_dir) -> str:
    """A random 1-layer BERT (hidden 32) saved like a hub text encoder, sharing e5's tokenizer files."""
    import torch
    from transformers import BertConfig, BertModel

    torch.manual_seed(0)
    config = BertConfig(vocab_size=34866, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=128, pad_token_id=1)
    BertModel(config, add_pooling_layer=False).save_pretrained(str(folder))
    for name in E5_FILES:
        shutil.copy(e5_dir / name, folder / name)
    return str(folder)


def _weights(layer) -> list[np.ndarray]:
    # by name: Keras lists trainable weights first, so partial freezing in stage 2 reorders `layer.weights`
    return [w.numpy().copy() for w in sorted(layer.weights, key=lambda w: w.name)]


@pytest.mark.slow
def test_real_e5_student_learns_in_both_stages(tmp_path, tatoeba_sample_tsv, monkeypatch):
    e5_dir = shared_path("models/multilingual-e5-small-trimmed")
    # torch teacher and TF student in one process: transformers reads USE_TF once, at its first import, and
    # data_tools' torch modules default it to 0 (so does their collection in a full run).
    if "transformers" not in sys.modules:
        monkeypatch.setenv("USE_TF", "AUTO")
    else:
        from transformers.utils import is_tf_available

        if not is_tf_available():
            pytest.skip("transformers was first imported with USE_TF=0 in this process; run tests/bench on its own")
    import distill  # noqa: F401  (tf-keras before TensorFlow)
    from bench.evidence.data import build
    from bench.evidence.train import EvidenceTrainer, evidence_config
    from data_tools.cache import write_dataset
    from data_tools.teacher import load_teacher

    sample = pd.read_csv(tatoeba_sample_tsv, sep="\t", quoting=3, dtype=str, keep_default_na=False)
    pairs_tsv, test_tsv = tmp_path / "pairs.tsv", tmp_path / "test.tsv"
    sample.iloc[:48].to_csv(pairs_tsv, sep="\t", index=False)
    sample.iloc[48:72].to_csv(test_tsv, sep="\t", index=False)
    built = build(pairs_tsv, test_tsv, val_fraction=0.25, seed=0)

    teacher = load_teacher(_tiny_teacher(tmp_path / "teacher", e5_dir), kind="hf-mean-pool")
    pairs = built.pairs
    table = pd.DataFrame({"caption_id": np.arange(len(pairs)), "image_id": pairs["group"], "split": pairs["split"],
                          "en": pairs["en"], "tr": pairs["tr"]})
    write_dataset(tmp_path / "data", table, teacher.encode(pairs["en"].tolist()), teacher_info=teacher.info(),
                  translation_info={"backend": "human", "model": "tatoeba"})
    test_teacher = teacher.encode(built.test["en"].tolist())

    config = evidence_config(str(tmp_path / "data"), str(e5_dir), str(tmp_path / "work"), quick=True, seed=0)
    config = config.override(["val_fraction=0.25", "max_length=32", "verbose=0",
                              "stage1.epochs=3", "stage1.batch_size=16", "stage1.learning_rate=0.01", "stage1.solver=adam",
                              "stage2.epochs=1", "stage2.batch_size=16", "stage2.learning_rate=1e-4"])
    snapshots = {}

    class Watched(EvidenceTrainer):
        def fit_stage(self, no, cfg):
            snapshots[f"before{no}"] = (_weights(self.student.encoder), _weights(self.student.head))
            super().fit_stage(no, cfg)

    trainer = Watched(config, built.test["tr"].tolist(), test_teacher)
    assert trainer.student.hidden_size == 384 and trainer.tokenizer.vocab_size == 34866  # the real e5 weights
    assert len(trainer.train) > 0 and len(trainer.val) > 0
    result = trainer.run()
    after = (_weights(trainer.student.encoder), _weights(trainer.student.head))

    enc0, head0 = snapshots["before1"]
    enc1, head1 = snapshots["before2"]
    assert all(np.array_equal(a, b) for a, b in zip(enc0, enc1))  # stage 1: encoder frozen
    assert not all(np.allclose(a, b) for a, b in zip(head0, head1))  # ... the head learned
    assert not all(np.allclose(a, b) for a, b in zip(enc1, after[0]))  # stage 2: the encoder moved too

    history = result["history"]
    stage1 = [r for r in history if r["stage"] == 1]
    base = history[0]
    assert stage1[-1]["loss"] < stage1[0]["loss"]  # training loss drops
    assert min(r["val_mse"] for r in stage1) < base["val_mse"]  # and validation follows
    test = trainer.test_results
    assert test["stage1"]["mse"] < test["untrained"]["mse"]  # unseen test pairs get closer to the teacher
    assert test["stage2"]["mse"] < test["untrained"]["mse"]
    assert (tmp_path / "work" / "student" / "student.json").is_file()
