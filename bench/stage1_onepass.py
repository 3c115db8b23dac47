"""Stage 1 today (Adam on the head, the frozen encoder re-run on every token batch) vs one-pass stage 1 (the frozen
encoder's pooled features computed once with distill.features.cached_features, then the closed-form ridge head of
distill.ridge, its penalty chosen on validation MSE as distill.train does).

The one-pass time (train + validation features, accumulate, solve per penalty, choose) is the unit. Today's stage 1
then trains from the same initial head in chunks of steps; after each chunk (untimed) its head is scored on the same
validation features. It stops when its validation R@1 reaches the one-pass head's, or after `--cap` x the one-pass
CPU seconds. `speedup` = today's CPU seconds to reach / one-pass CPU seconds (CPU seconds: steadier than wall time
on a shared machine; wall ratios are reported too). Tracing of both paths is excluded (each is warmed up once).

Settings: `distilbert` (DistilBERT-base size, random weights, a learnable synthetic teacher on COCO captions) and
`proxy` (the real multilingual-e5-small student, all-MiniLM-L6-v2 teacher(EN) targets, Tatoeba TR inputs).
Usage: python -m bench.stage1_onepass --setting distilbert|proxy [--quick] [--lrs 1e-3 2e-2] [--cap 20]
"""
from __future__ import annotations

import distill  # noqa: F401  (tf-keras before TensorFlow)

import argparse
import json
import logging
import os
import sys
import tempfile
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
import tensorflow as tf
import tf_keras

from bench.common import REPO, RESULTS, SHARED, TATOEBA, coco_captions, timed
from distill import ridge
from distill.data import Split, make_dataset, tokenize
from distill.distiller import Distiller
from distill.evaluate import metrics
from distill.features import cached_features, ids_key
from distill.student import build_student, encode_ids

log = logging.getLogger("bench.stage1_onepass")
E5 = SHARED / "models" / "multilingual-e5-small-trimmed"
BATCH = 64  # StageConfig's stage-1 batch size


@dataclass
class Setting:
    name: str
    student: object  # distill.student.Student
    train_ids: list
    train: Split
    val_ids: list
    val_targets: np.ndarray
    pad_id: int
    info: dict


def _split(texts: list[str], targets: np.ndarray, keys: np.ndarray) -> Split:
    return Split(list(texts), np.arange(len(texts)), np.full(len(texts), -1, np.int64), targets.astype(np.float32),
                 keys.astype(np.int64))


def distilbert_setting(n_train: int, n_val: int, seed: int, quick: bool) -> Setting:
    """DistilBERT-base size (quick: a tiny one), random weights; teacher = bench.train_throughput's learnable map."""
    from transformers import DistilBertConfig, TFDistilBertModel

    from bench.train_throughput import teacher_vectors
    from distill.tiny import build_tokenizer

    captions, source = coco_captions()
    captions = list(dict.fromkeys(c.strip() for c in captions))  # distinct captions: one teacher vector each
    rng = np.random.default_rng(seed)
    chosen = [captions[i] for i in rng.choice(len(captions), n_train + n_val, replace=False)]
    vocab = 2000 if quick else 32000
    with tempfile.TemporaryDirectory() as folder:
        tokenizer = build_tokenizer(folder, captions, vocab_size=vocab)
    ids = tokenize(tokenizer, chosen, 64)
    targets = teacher_vectors(ids, vocab=vocab)
    size = dict(dim=64, n_layers=2, n_heads=2, hidden_dim=128) if quick else dict(dim=768, n_layers=6, n_heads=12, hidden_dim=3072)
    tf_keras.utils.set_random_seed(seed)
    student = build_student(TFDistilBertModel(DistilBertConfig(vocab_size=vocab, **size)), targets.shape[1])
    keys = np.arange(len(chosen))
    return Setting("distilbert", student, ids[:n_train], _split(chosen[:n_train], targets[:n_train], keys[:n_train]),
                   ids[n_train:], targets[n_train:], 0,
                   {"model": f"DistilBERT {size} vocab {vocab}, random weights", "teacher": "synthetic learnable (512-d)",
                    "data": f"{source}: {n_train} train + {n_val} validation distinct captions"})


def proxy_setting(n_pairs: int, seed: int) -> Setting:
    """Real multilingual-e5-small student; targets all-MiniLM-L6-v2(EN); inputs Tatoeba TR; 90/10 split by
    sentence component (no sentence on both sides)."""
    from bench.evidence import data, peers
    from data_tools.teacher import load_teacher
    from distill.student import load_encoder, load_tokenizer

    pairs = data.read_pairs(TATOEBA)
    pairs = pairs.iloc[np.sort(np.random.default_rng(seed).choice(len(pairs), n_pairs, replace=False))].reset_index(drop=True)
    is_val = data.split_components(data.sentence_components(pairs), 0.1, seed)
    teacher = load_teacher(peers.teacher_model_dir(), kind="hf-mean-pool")
    targets = teacher.encode(pairs["en"].tolist(), batch_size=256)
    del teacher
    tokenizer = load_tokenizer(str(E5))
    ids = tokenize(tokenizer, pairs["tr"].tolist(), 64)
    keys = pd.factorize(pairs["en"])[0]
    tr, va = np.flatnonzero(~is_val), np.flatnonzero(is_val)
    student = build_student(load_encoder(str(E5)), targets.shape[1])
    return Setting("proxy", student, [ids[i] for i in tr], _split(pairs["tr"].iloc[tr].tolist(), targets[tr], keys[tr]),
                   [ids[i] for i in va], targets[va], tokenizer.pad_token_id,
                   {"model": "multilingual-e5-small-trimmed (real weights)", "teacher": "all-MiniLM-L6-v2 (EN), 384-d",
                    "data": f"{TATOEBA.name}: {n_pairs} random pairs, {len(tr)} train / {len(va)} validation (TR inputs)"})


def one_pass(s: Setting, folder: str) -> tuple[dict, np.ndarray]:
    """Features once (train + validation, float16 like TrainConfig.feature_dtype) and the ridge head chosen on
    validation MSE; returns its record and the validation features both heads are scored on."""
    hidden = s.student.hidden_size

    def features(name, ids):
        return cached_features(f"{folder}/{name}.npy", ids, lambda b: s.student.pool_batch(b).numpy(), hidden,
                               ids_key(ids, s.name), batch_size=2 * BATCH, pad_id=s.pad_id, pad_multiple=1, progress=False)

    def fit():
        train_f, val_f = features("train", s.train_ids), features("val", s.val_ids)
        gram = ridge.accumulate(train_f, s.train.targets)
        best = None
        for penalty in ridge.PENALTIES:
            kernel, bias = ridge.solve(gram, penalty)
            val = metrics(ridge.predict(val_f, kernel, bias), s.val_targets)
            if best is None or val["mse"] < best[0]["mse"]:
                best = (val, penalty)
        return best, np.asarray(val_f, np.float32)

    ((val, penalty), val_features), wall, cpu = timed(fit)
    return {"wall_s": round(wall, 2), "cpu_s": round(cpu, 2), "penalty": penalty, **_rounded(val)}, val_features


def _rounded(val: dict) -> dict:
    return {"val_r1": round(val["r1"], 4), "val_mse": round(val["mse"], 5), "val_cosine": round(val["cosine"], 4)}


def reset(head, initial: list, optimizer) -> None:
    """The head back to its initial weights and Adam to zero moments and step (no retracing)."""
    head.set_weights(initial)
    for variable in optimizer.variables:
        variable.assign(tf.zeros_like(variable))


def adam_until(s: Setting, lr: float, initial: list, target_r1: float, budget_cpu: float, max_wall: float,
               val_features: np.ndarray, chunk: int, seed: int, max_steps: int | None = None) -> list[dict]:
    """Today's stage 1 (Distiller(student, "mse"), encoder frozen, Adam at a constant `lr`, batches of tokens from
    make_dataset, a new shuffle each epoch) in chunks of `chunk` steps; the curve of (steps, seconds, val R@1)."""
    head = s.student.head
    s.student.encoder.trainable = False
    optimizer = tf_keras.optimizers.Adam(lr)
    distiller = Distiller(s.student, "mse")
    distiller.compile(optimizer=optimizer, jit_compile=False)
    train_function = distiller.make_train_function()  # what fit() runs per step
    per_epoch = -(-len(s.train_ids) // BATCH)

    def epoch_iterator(epoch: int):
        return iter(make_dataset(s.train_ids, s.train, BATCH, pad_id=s.pad_id, max_length=64, seed=seed * 1000 + epoch + 1,
                                 pad_multiple=1))

    train_function(epoch_iterator(-1))  # trace once (untimed), then start again from the initial head
    reset(head, initial, optimizer)
    curve, steps, wall, cpu, iterator = [], 0, 0.0, 0.0, None
    while True:
        def run_chunk():
            nonlocal iterator, steps
            for _ in range(chunk):
                if steps % per_epoch == 0:
                    iterator = epoch_iterator(steps // per_epoch)
                train_function(iterator)
                steps += 1
        _, w, c = timed(run_chunk)
        wall, cpu = wall + w, cpu + c
        kernel, bias = head.layers[-1].get_weights()
        val = metrics(ridge.predict(val_features, kernel, bias), s.val_targets)
        curve.append({"steps": steps, "epochs": round(steps / per_epoch, 2), "cpu_s": round(cpu, 2),
                      "wall_s": round(wall, 2), **_rounded(val)})
        log.info("lr %g: %s", lr, curve[-1])
        if val["r1"] >= target_r1 or cpu >= budget_cpu or wall >= max_wall or (max_steps and steps >= max_steps):
            return curve


def speedup_summary(curve: list[dict], target_r1: float, base_cpu: float, base_wall: float, cap: float) -> dict:
    """When (CPU/wall seconds, as multiples of the one-pass time) the curve first reached `target_r1`; if never,
    speedup is the string '>= X' with X the multiple actually spent (the cap when the budget ran out)."""
    hit = next((c for c in curve if c["val_r1"] >= target_r1), None)
    best = max((c["val_r1"] for c in curve), default=None)
    if hit is not None:
        return {"reached": True, "speedup": round(hit["cpu_s"] / base_cpu, 2),
                "speedup_wall": round(hit["wall_s"] / base_wall, 2), "steps": hit["steps"], "epochs": hit["epochs"],
                "cpu_s": hit["cpu_s"], "wall_s": hit["wall_s"], "best_val_r1": best}
    last = curve[-1] if curve else {"cpu_s": 0.0, "wall_s": 0.0, "steps": 0, "epochs": 0.0}
    spent = min(cap, last["cpu_s"] / base_cpu)
    return {"reached": False, "speedup": f">= {spent:.3g}", "speedup_wall": f">= {last['wall_s'] / base_wall:.3g}",
            "steps": last["steps"], "epochs": last["epochs"], "cpu_s": last["cpu_s"], "wall_s": last["wall_s"],
            "best_val_r1": best}


def replay(s: Setting, lr: float, features: np.ndarray, val_features: np.ndarray, initial: list, max_steps: int,
           chunk: int, seed: int) -> list[dict]:
    """Today's Adam trajectory without the encoder: the same batches as `adam_until` (make_dataset's order, rebuilt
    by distill.data.batch_order with the same seeds), the same initial head, the pooled features from the cache.
    The frozen encoder runs in inference mode, so its outputs are these features (up to float16 storage)."""
    from distill.data import batch_labels, batch_order
    from distill.head import build_head

    head = build_head(features.shape[1], s.train.targets.shape[1])
    head.set_weights(initial)
    model = Distiller(head, "mse")
    model.compile(optimizer=tf_keras.optimizers.Adam(lr), jit_compile=False)
    lengths, groups = np.fromiter((len(x) for x in s.train_ids), np.int64), s.train.negative_groups()
    curve, steps, epoch = [], 0, 0
    while steps < max_steps:
        for index in batch_order(lengths, BATCH, np.random.default_rng(seed * 1000 + epoch + 1), True, 50):
            model.train_on_batch(np.asarray(features[index], np.float32), batch_labels(s.train, index, groups))
            steps += 1
            if steps % chunk == 0 or steps == max_steps:
                kernel, bias = head.layers[-1].get_weights()
                curve.append({"steps": steps, **_rounded(metrics(ridge.predict(val_features, kernel, bias), s.val_targets))})
            if steps == max_steps:
                break
        epoch += 1
    return curve


def replay_summary(curve: list[dict], target_r1: float, cpu_per_step: float, wall_per_step: float, base_cpu: float,
                   base_wall: float) -> dict:
    """Time to reach `target_r1` on the replayed trajectory, priced at today's measured seconds per step."""
    hit = next((c for c in curve if c["val_r1"] >= target_r1), None)
    last = curve[-1]["steps"] if curve else 0
    best = max((c["val_r1"] for c in curve), default=None)
    if hit is None:
        return {"reached": False, "speedup": f">= {last * cpu_per_step / base_cpu:.3g}",
                "speedup_wall": f">= {last * wall_per_step / base_wall:.3g}", "steps": last, "best_val_r1": best}
    return {"reached": True, "speedup": round(hit["steps"] * cpu_per_step / base_cpu, 2),
            "speedup_wall": round(hit["steps"] * wall_per_step / base_wall, 2), "steps": hit["steps"], "best_val_r1": best}


def agreement(measured: list[dict], replayed: list[dict]) -> float | None:
    """Largest |val R@1 difference| between the measured and the replayed curve at the steps both have."""
    at = {c["steps"]: c["val_r1"] for c in replayed}
    diffs = [abs(c["val_r1"] - at[c["steps"]]) for c in measured if c["steps"] in at]
    return round(max(diffs), 4) if diffs else None


def conclusive(summary: dict, cap: float) -> bool:
    """A measured run settles the question when it reached the target or spent the whole cap."""
    return summary["reached"] or float(str(summary["speedup"]).split()[-1]) >= cap


def overall(summaries: dict[str, dict]) -> float | str:
    """The speed-up against the fastest of today's runs: the smallest reached one, else the smallest lower bound."""
    reached = [v["speedup"] for v in summaries.values() if v["reached"]]
    if reached:
        return min(reached)
    return min((v["speedup"] for v in summaries.values()), key=lambda x: float(x.split()[-1]))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--setting", choices=("distilbert", "proxy"), required=True)
    parser.add_argument("--quick", action="store_true", help="smoke check (< 1 min): tiny sizes, cap 3x")
    parser.add_argument("--lrs", type=float, nargs="+", default=[1e-3, 2e-2], help="today's Adam learning rates")
    parser.add_argument("--cap", type=float, default=20.0, help="stop today's run at this multiple of the one-pass CPU s")
    parser.add_argument("--max-wall", type=float, default=600.0, help="and at this many wall seconds per run")
    parser.add_argument("--chunk", type=int, help="steps between validations (default: 1/4 epoch)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    for noisy in ("transformers", "tensorflow", "absl", "h5py", "distill"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    cap = 3.0 if args.quick else args.cap
    if args.setting == "distilbert":
        s = distilbert_setting(200 if args.quick else 1000, 100 if args.quick else 300, args.seed, args.quick)
    else:
        s = proxy_setting(600 if args.quick else 8000, args.seed)
    s.student.pool_batch({k: tf.ones((2, 5), tf.int32) for k in ("input_ids", "attention_mask")})  # trace, untimed
    initial = s.student.head.get_weights()
    chunk = args.chunk or max(1, -(-len(s.train_ids) // BATCH) // 4)
    runs = {}
    with tempfile.TemporaryDirectory() as folder:
        base, val_features = one_pass(s, folder)
        log.info("one pass: %s", base)
        train_features = np.load(f"{folder}/train.npy")
    for lr in args.lrs:
        curve = adam_until(s, lr, initial, base["val_r1"], cap * base["cpu_s"], args.max_wall, val_features, chunk,
                           args.seed)
        measured = speedup_summary(curve, base["val_r1"], base["cpu_s"], base["wall_s"], cap)
        per_step = (curve[-1]["cpu_s"] / curve[-1]["steps"], curve[-1]["wall_s"] / curve[-1]["steps"])
        steps = int(np.ceil(cap * base["cpu_s"] / per_step[0]))
        replayed = replay(s, lr, train_features, val_features, initial, steps, chunk, args.seed)
        projected = replay_summary(replayed, base["val_r1"], *per_step, base["cpu_s"], base["wall_s"])
        final = measured if conclusive(measured, cap) else projected
        runs[f"{lr:g}"] = {"lr": lr, "source": "measured" if final is measured else "replay", **final,
                           "measured": measured, "replay": projected,
                           "cpu_s_per_step": round(per_step[0], 4), "wall_s_per_step": round(per_step[1], 4),
                           "replay_vs_measured_max_r1_diff": agreement(curve, replayed),
                           "curve": curve, "replay_curve": replayed}
    # the scores above use cached validation features; check the last head through the encoder itself (untimed)
    through = metrics(encode_ids(s.student, s.val_ids, 2 * BATCH, s.pad_id, 1), s.val_targets)["r1"]
    result = {"benchmark": "stage1_onepass", "setting": s.name, "quick": args.quick, **s.info,
              "train_rows": len(s.train_ids), "val_rows": len(s.val_ids), "batch_size": BATCH, "cap": cap,
              "max_wall_s": args.max_wall, "chunk_steps": chunk, "one_pass": base,
              "speedup": overall(runs), "adam": runs,
              "check": {"last_adam_head_val_r1_through_encoder": round(through, 4),
                        "same_head_on_cached_features": runs[f"{args.lrs[-1]:g}"]["curve"][-1]["val_r1"]},
              "method": "measured: today's stage 1 run through the frozen encoder until it reaches the one-pass R@1, "
                        "the cap, or max_wall_s; where that run was cut by max_wall_s, the speed-up comes from the "
                        "replay: the same Adam trajectory (same batches, same initial head) on the cached features, "
                        "its steps priced at the measured seconds per step of the real run",
              "load_average": [round(x, 1) for x in os.getloadavg()], "cpus": os.cpu_count(),
              "tensorflow": tf.__version__}
    out = (REPO / "runs" / "bench" if args.quick else RESULTS) / f"stage1_onepass_{s.name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"stage 1, {s.name}: {s.info['model']}; {s.info['data']}; batch {BATCH}; validation R@1 on the same "
          f"cached features; today's runs stop at the one-pass R@1 or {cap:g}x its CPU time\n")
    print("| stage 1 | reached one-pass R@1 | CPU s | wall s | x one-pass (CPU) | x one-pass (wall) | val R@1 (best) | steps (epochs) |")
    print("|---|---|---|---|---|---|---|---|")
    print(f"| one pass: features + ridge (λ {base['penalty']:g}) | - | {base['cpu_s']} | {base['wall_s']} | 1 | 1 | "
          f"{base['val_r1']:.4f} | - |")
    for r in runs.values():
        m, p = r["measured"], r["replay"]
        print(f"| today: Adam lr {r['lr']:g}, measured (encoder on every batch) | {'yes' if m['reached'] else 'no'} | "
              f"{m['cpu_s']} | {m['wall_s']} | {m['speedup']} | {m['speedup_wall']} | {m['best_val_r1']:.4f} | "
              f"{m['steps']} ({m['epochs']}) |")
        print(f"| today: Adam lr {r['lr']:g}, replayed on cached features, priced at {r['cpu_s_per_step']} CPU s/step | "
              f"{'yes' if p['reached'] else 'no'} | ~{p['steps'] * r['cpu_s_per_step']:.1f} | ~{p['steps'] * r['wall_s_per_step']:.1f} | "
              f"{p['speedup']} | {p['speedup_wall']} | {p['best_val_r1']:.4f} | {p['steps']} |")
    used = ", ".join(f"lr {r['lr']:g}: {r['source']} (replay vs measured R@1 differ by <= {r['replay_vs_measured_max_r1_diff']})"
                     for r in runs.values())
    print(f"\nsources: {used}")
    print(f"\nspeed-up of one-pass stage 1 (vs the fastest of today's runs, CPU seconds): {result['speedup']}; load "
          f"average {result['load_average']} on {os.cpu_count()} cores (written to {out.relative_to(REPO)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
