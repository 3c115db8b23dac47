"""LoRA: the right projections get adapters, only adapters (and the head) train in stage 2, the merged export is a
plain encoder giving the adapter model's vectors (TF and PyTorch), and a LoRA run resumes after SIGKILL."""
from __future__ import annotations

import dataclasses
import json
import signal
import time

import numpy as np
import pytest

import distill  # noqa: F401  (tf-keras before TensorFlow)
from turkish_clip.errors import UserError
from distill.config import OptionError, StageConfig, TrainConfig
from distill.lora import add_lora, find_projections, merge, parse_targets
from distill.student import build_student, encode, load_encoder, load_tokenizer
from distill.train import PAUSE_ENV, Trainer
from tests.distill.helpers import bag_cache
from tests.distill.test_export import TEXTS
from tests.distill.test_train import tiny_config, weights


def test_projections_of_distilbert_and_bert(tiny_student_tf):
    from transformers import BertConfig, TFBertModel

    distil = load_encoder(str(tiny_student_tf))
    layers = distil.config.n_layers
    names = [p.rsplit("/", 1)[-1] for p, _ in find_projections(distil, ("q", "v"))]
    assert sorted(names) == sorted(["q_lin", "v_lin"] * layers)
    assert len(find_projections(distil, parse_targets("q,k,v,out,ffn"))) == 6 * layers
    bert = TFBertModel(BertConfig(vocab_size=99, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                  num_attention_heads=2))
    bert(bert.dummy_inputs)
    paths = [p for p, _ in find_projections(bert, ("out", "ffn"))]
    assert len(paths) == 6 and not any("pooler" in p for p in paths)  # attention output, intermediate, output
    assert len(find_projections(bert, ("q", "k", "v"))) == 6
    with pytest.raises(UserError, match="lora_targets 'q,x': use a comma-separated subset of q, k, v, out, ffn"):
        parse_targets("q,x")
    with pytest.raises(OptionError, match="stage1.lora_rank=4 is not allowed"):
        TrainConfig(stage1=StageConfig(lora_rank=4))
    with pytest.raises(OptionError, match="lora_targets='attention'"):
        StageConfig(lora_rank=4, lora_targets="attention")


def test_adapters_start_at_the_base_model_and_merge_exactly(tiny_student_tf):
    plain = build_student(load_encoder(str(tiny_student_tf)), 16)
    tokenizer = load_tokenizer(str(tiny_student_tf))
    before = encode(plain, tokenizer, TEXTS)
    with pytest.raises(RuntimeError, match="add LoRA before the student's first encode"):
        add_lora(plain, rank=4, alpha=8.0, dropout=0.1, targets="q")
    student = build_student(load_encoder(str(tiny_student_tf)), 16, head=plain.head)
    lora = add_lora(student, rank=4, alpha=8.0, dropout=0.1, targets="q,k,v,out,ffn")
    np.testing.assert_array_equal(encode(student, tokenizer, TEXTS), before)  # B = 0: no change yet
    rng = np.random.default_rng(0)
    for adapter in lora.adapters:
        adapter.b.assign(rng.normal(0, 0.05, adapter.b.shape).astype(np.float32))
    adapted = encode(student, tokenizer, TEXTS)
    assert np.abs(adapted - before).max() > 1e-2  # the adapters act
    assert merge(student) == len(lora.adapters)
    np.testing.assert_allclose(encode(student, tokenizer, TEXTS), adapted, atol=1e-5)


@pytest.fixture(scope="module")
def lora_run(tmp_path_factory, tiny_student_tf):
    tmp = tmp_path_factory.mktemp("lora")
    config = tiny_config(tmp, tiny_student_tf, bag_cache(tmp / "data"), stage1=2, stage2=6)
    config = dataclasses.replace(config, stage2=dataclasses.replace(
        config.stage2, lora_rank=4, lora_alpha=8.0, lora_targets="q,k,v,out,ffn", learning_rate=1e-2))
    trainer = Trainer(config)
    trainer.record_baseline()
    trainer.fit_stage(1, config.stage1)
    encoder1 = weights(trainer.student.encoder)
    adapters1 = [w.numpy().copy() for w in trainer.student.lora.weights]
    trainer.fit_stage(2, config.stage2)
    trainable = {v.name for v in trainer.student.trainable_variables}
    tokenizer = load_tokenizer(str(tiny_student_tf))
    adapted = encode(trainer.student, tokenizer, TEXTS)
    encoder2 = weights(trainer.student.encoder)
    result = trainer.run()  # merges and exports
    return dict(tmp=tmp, trainer=trainer, result=result, encoder=(encoder1, encoder2), adapters1=adapters1,
                trainable=trainable, adapted=adapted, tokenizer=tokenizer)


def test_only_adapters_and_head_train_in_stage2(lora_run):
    trainer = lora_run["trainer"]
    encoder1, encoder2 = lora_run["encoder"]
    assert all(np.array_equal(a, b) for a, b in zip(encoder1, encoder2))  # the base is bit-identical
    adapter_names = {w.name for w in trainer.student.lora.weights}
    head_names = {w.name for w in trainer.student.head.trainable_weights}
    assert lora_run["trainable"] == adapter_names | head_names
    assert all(np.abs(w).max() > 0 for w in lora_run["adapters1"][1::2]) is False  # B was zero after stage 1
    history = lora_run["result"]["history"]
    after_stage1 = [r for r in history if r["stage"] == 1][-1]
    assert history[-1]["val_mse"] < 0.9 * after_stage1["val_mse"]  # the adapters learnt something


def test_merged_export_is_a_plain_encoder_with_the_adapter_models_vectors(lora_run):
    import torch
    from transformers import AutoModel

    from distill.export import load_student

    out = lora_run["tmp"] / "student"
    loaded, tokenizer, meta = load_student(out)
    assert getattr(loaded, "lora", None) is None and meta["lora"] == {"rank": 4, "alpha": 8.0,
                                                                     "targets": "q,k,v,out,ffn", "merged": True}
    np.testing.assert_allclose(encode(loaded, tokenizer, TEXTS), lora_run["adapted"], atol=1e-5)
    batch = tokenizer(TEXTS, padding=True, return_tensors="np")
    model = AutoModel.from_pretrained(str(out)).eval()  # the PyTorch weights, as transformers >= 5 users load them
    with torch.no_grad():
        torch_states = model(**{k: torch.tensor(v) for k, v in batch.items()}).last_hidden_state.numpy()
    tf_states = loaded.encoder(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
    np.testing.assert_allclose(torch_states, tf_states.numpy(), atol=1e-5)


@pytest.mark.slow
def test_lora_run_resumes_after_sigkill(tmp_path, tiny_student_tf):
    from tests.distill.test_cli import _run

    config = tiny_config(tmp_path, tiny_student_tf, bag_cache(tmp_path / "data", n_images=60), stage1=1, stage2=4)
    config = dataclasses.replace(config, stage2=dataclasses.replace(config.stage2, lora_rank=2, patience=4,
                                                                    learning_rate=1e-2))
    config.save(tmp_path / "train.json")
    first = _run(["train", "--config", str(tmp_path / "train.json")], env={PAUSE_ENV: "2:2"})
    state_path, deadline, state = tmp_path / "run" / "state.json", time.time() + 600, {}
    while time.time() < deadline and first.poll() is None and (state.get("stage"), state.get("epoch")) != (2, 2):
        time.sleep(0.2)
        state = json.loads(state_path.read_text()) if state_path.is_file() else {}
    first.send_signal(signal.SIGKILL)
    first.wait(30)
    assert first.returncode == -signal.SIGKILL, f"run ended before the kill: {first.stderr.read()[-2000:]}"
    killed = Trainer(TrainConfig.load(tmp_path / "run" / "config.json"), resume=True)  # restores ckpt-s2-e2
    restored = [w.numpy() for w in killed.student.lora.weights]
    assert any(np.abs(w).max() > 0 for w in restored[1::2])  # trained adapters (B) came back from the checkpoint
    del killed
    second = _run(["train", "--config", str(tmp_path / "run" / "config.json"), "--resume"])
    out, err = second.communicate(timeout=600)
    assert second.returncode == 0, err[-3000:]
    assert "restored ckpt-s2-e2 with optimizer state" in err
    history = json.loads((tmp_path / "run" / "history.json").read_text())
    assert [(r["stage"], r["epoch"]) for r in history] == [(0, 0), (1, 1)] + [(2, e) for e in range(1, 5)]
    assert json.loads((tmp_path / "student" / "student.json").read_text())["lora"]["rank"] == 2
