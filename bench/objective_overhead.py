"""Cost of the contrastive objective: stage-2 step time (everything trainable, Adam) with loss "mse" vs
"mse+contrastive" with 0 and with 4,096 extra cached teacher negatives, at DistilBERT-base size (random weights),
batch 32, the same batches for every mode (distill.data.make_dataset, the trainer's stage-2 path, negatives drawn
there too). The modes alternate in rounds (their order rotating) so machine load hits all alike; tracing is excluded
(one warm-up step per mode). Overhead = a mode's ms/step over MSE's - 1, from CPU seconds (steadier on a shared
machine) and from wall seconds.
Usage: python -m bench.objective_overhead [--quick] [--rounds 4] [--steps 6] [--negatives 4096]
"""
from __future__ import annotations

import distill  # noqa: F401  (tf-keras before TensorFlow)

import argparse
import json
import os
import sys
import tempfile

import numpy as np
import tensorflow as tf
import tf_keras

from bench.common import REPO, RESULTS, coco_captions, timed
from distill.data import Split, make_dataset, tokenize
from distill.distiller import Distiller
from distill.student import build_student

BATCH = 32


def overhead(totals: dict[str, dict], base: str) -> dict[str, dict]:
    """Per mode: ms/step (wall, CPU) from summed seconds and steps, and % over `base` (CPU and wall)."""
    out = {}
    for mode, t in totals.items():
        wall, cpu = 1000 * t["wall_s"] / t["steps"], 1000 * t["cpu_s"] / t["steps"]
        ref = totals[base]
        out[mode] = {"ms_per_step_wall": round(wall, 1), "ms_per_step_cpu": round(cpu, 1),
                     "overhead_percent": round(100 * (cpu / (1000 * ref["cpu_s"] / ref["steps"]) - 1), 2),
                     "overhead_percent_wall": round(100 * (wall / (1000 * ref["wall_s"] / ref["steps"]) - 1), 2)}
    return out


def round_ratios(rounds: list[dict[str, dict]], mode: str, base: str, key: str = "cpu_s") -> list[float]:
    """Per round: % over `base` of `mode` (same batches, same round), to show the noise of the estimate."""
    return [round(100 * (r[mode][key] / r[base][key] - 1), 2) for r in rounds]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smoke check (< 1 min): a tiny model, 2 rounds of 2 steps")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--steps", type=int, default=6, help="steps per mode per round")
    parser.add_argument("--negatives", type=int, default=4096)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    from transformers import DistilBertConfig, TFDistilBertModel

    from bench.train_throughput import teacher_vectors
    from distill.tiny import build_tokenizer

    rounds_n, steps_n = (2, 2) if args.quick else (args.rounds, args.steps)
    captions, source = coco_captions()
    captions = list(dict.fromkeys(c.strip() for c in captions))
    rows = min(len(captions), max(args.negatives, BATCH * steps_n * rounds_n) + 1000)
    chosen = [captions[i] for i in np.random.default_rng(args.seed).choice(len(captions), rows, replace=False)]
    vocab = 2000 if args.quick else 32000
    with tempfile.TemporaryDirectory() as folder:
        tokenizer = build_tokenizer(folder, captions, vocab_size=vocab)
    ids = tokenize(tokenizer, chosen, 64)
    targets = teacher_vectors(ids, vocab=vocab)
    split = Split(chosen, np.arange(rows), np.full(rows, -1, np.int64), targets, np.arange(rows, dtype=np.int64))
    size = dict(dim=64, n_layers=2, n_heads=2, hidden_dim=128) if args.quick else dict(dim=768, n_layers=6, n_heads=12, hidden_dim=3072)
    tf_keras.utils.set_random_seed(args.seed)
    student = build_student(TFDistilBertModel(DistilBertConfig(vocab_size=vocab, **size)), targets.shape[1])
    modes = {"mse": ("mse", 0), "mse+contrastive, 0 extra negatives": ("mse+contrastive", 0),
             f"mse+contrastive, {args.negatives} extra negatives": ("mse+contrastive", args.negatives)}
    steps = {}
    for mode, (loss, _) in modes.items():
        distiller = Distiller(student, loss, temperature=0.05, contrastive_weight=0.3)
        distiller.compile(optimizer=tf_keras.optimizers.Adam(3e-4), jit_compile=False)
        steps[mode] = distiller.make_train_function()  # what fit() runs per step

    def data(mode: str, seed: int, n: int):
        return iter(make_dataset(ids, split, BATCH, pad_id=0, max_length=64, seed=seed, pad_multiple=1, max_batches=n,
                                 negatives=modes[mode][1]))

    for mode in modes:  # trace each mode's step once, untimed
        steps[mode](data(mode, 10_000, 1))
    rounds = []
    for r in range(rounds_n):
        order = list(modes)[r % len(modes):] + list(modes)[:r % len(modes)]
        result = {}
        for mode in order:
            iterator = data(mode, args.seed + r, steps_n)  # the same batches for every mode in this round

            def run(mode=mode, iterator=iterator):
                for _ in range(steps_n):
                    steps[mode](iterator)
            _, wall, cpu = timed(run)
            result[mode] = {"wall_s": wall, "cpu_s": cpu, "steps": steps_n}
        rounds.append(result)
        print(f"round {r + 1}/{rounds_n}: " + ", ".join(f"{m} {1000 * v['cpu_s'] / steps_n:.0f} CPU ms/step"
                                                        for m, v in result.items()), file=sys.stderr)
    totals = {m: {k: sum(r[m][k] for r in rounds) for k in ("wall_s", "cpu_s", "steps")} for m in modes}
    table = overhead(totals, "mse")
    for m in modes:
        table[m]["per_round_percent_cpu"] = round_ratios(rounds, m, "mse")
        table[m]["per_round_percent_wall"] = round_ratios(rounds, m, "mse", "wall_s")
    result = {"benchmark": "objective_overhead", "quick": args.quick, "source": source,
              "model": f"DistilBERT {size} vocab {vocab}, random weights", "batch_size": BATCH, "rounds": rounds_n,
              "steps_per_round": steps_n, "temperature": 0.05, "contrastive_weight": 0.3, "modes": table,
              "overhead_percent": {m: table[m]["overhead_percent"] for m in modes if m != "mse"},
              "load_average": [round(x, 1) for x in os.getloadavg()], "cpus": os.cpu_count(), "tensorflow": tf.__version__}
    out = (REPO / "runs" / "bench" if args.quick else RESULTS) / "objective_overhead.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"stage-2 step, {result['model']}, batch {BATCH}, {rounds_n} rounds x {steps_n} steps per mode ({source})\n")
    print("| loss | ms/step (CPU) | ms/step (wall) | overhead (CPU) | overhead (wall) | per round (CPU) |")
    print("|---|---|---|---|---|---|")
    for m, v in table.items():
        print(f"| {m} | {v['ms_per_step_cpu']} | {v['ms_per_step_wall']} | {v['overhead_percent']:+.1f} % | "
              f"{v['overhead_percent_wall']:+.1f} % | {', '.join(f'{x:+.1f}' for x in v['per_round_percent_cpu'])} |")
    print(f"\nload average {result['load_average']} on {os.cpu_count()} cores (written to {out.relative_to(REPO)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
