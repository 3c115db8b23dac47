"""LoRA vs full fine-tuning at the real DistilBERT-base size (random weights, CPU): stage-2 step time, peak RSS
and trainable parameters, each mode in its own process (so peak RSS is that mode's alone).

Same student (DistilBERT-base 768 wide, 6 layers, vocabulary 30,522, + Dense(768->512) head), same batches of
random token ids, Adam, MSE, through distill's own Student, Distiller and distill.lora. LoRA: rank 8 on q,v
(the LoRA paper's choice), base frozen. Usage: python -m bench.lora_train [--quick] [--steps N] [--batch-size B]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time

from bench.common import RESULTS as RESULTS_DIR
from bench.common import REPO

RESULTS = RESULTS_DIR / "lora_train.json"


def measure(mode: str, rank: int, targets: str, batch_size: int, length: int, warmup: int, steps: int) -> dict:
    """One mode in this process: median seconds per training step, trainable parameters, peak RSS."""
    import distill  # noqa: F401  (tf-keras before TensorFlow)
    import numpy as np
    import tensorflow as tf
    import tf_keras
    from transformers import DistilBertConfig, TFDistilBertModel

    from distill.distiller import Distiller
    from distill.lora import add_lora
    from distill.student import build_student

    tf_keras.utils.set_random_seed(0)
    encoder = TFDistilBertModel(DistilBertConfig())  # distilbert-base shapes, random weights
    student = build_student(encoder, 512)
    if mode == "lora":
        add_lora(student, rank=rank, alpha=2.0 * rank, dropout=0.0, targets=targets)
        student.encoder.trainable = False
    trainable = int(sum(np.prod(v.shape) for v in student.trainable_variables))
    distiller = Distiller(student, "mse")
    distiller.compile(optimizer=tf_keras.optimizers.Adam(1e-5))
    rng = np.random.default_rng(0)
    x = {"input_ids": rng.integers(1000, 30000, (batch_size, length)).astype(np.int32),
         "attention_mask": np.ones((batch_size, length), np.int32)}
    y = {"target": rng.normal(size=(batch_size, 512)).astype(np.float32), "key": np.arange(batch_size),
         "group": np.arange(batch_size)}
    times = []
    for step in range(warmup + steps):
        began = time.perf_counter()
        distiller.train_on_batch(x, y)
        if step >= warmup:
            times.append(time.perf_counter() - began)
    return {"mode": mode, "step_seconds": float(np.median(times)), "step_seconds_all": times,
            "trainable_params": trainable, "total_params": int(sum(np.prod(v.shape) for v in student.weights)),
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "threads": tf.config.threading.get_intra_op_parallelism_threads()}


def run_child(args, mode: str) -> dict:
    command = [sys.executable, "-m", "bench.lora_train", "--child", mode, "--steps", str(args.steps),
               "--warmup", str(args.warmup), "--batch-size", str(args.batch_size), "--length", str(args.length),
               "--rank", str(args.rank), "--targets", args.targets]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "TF_USE_LEGACY_KERAS": "1"}
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, check=False)
    if done.returncode:
        raise SystemExit(f"{mode} run failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def table(r: dict) -> str:
    lines = ["| mode | trainable params | step s (median) | peak RSS MB |", "|---|---:|---:|---:|"]
    for m in (r["full"], r["lora"]):
        label = "full fine-tuning" if m["mode"] == "full" else f"LoRA r={r['rank']} on {r['targets']}"
        lines.append(f"| {label} | {m['trainable_params']:,} | {m['step_seconds']:.2f} | {m['peak_rss_mb']:,.0f} |")
    lines.append(f"\nspeed-up **{r['speedup']:.2f}x**, peak memory **{100 * r['memory_saving']:.0f}% less**, "
                 f"{r['trainable_fraction'] * 100:.2f}% of the parameters train (batch {r['batch_size']} x "
                 f"{r['length']} tokens, {r['steps']} timed steps after {r['warmup']}, {os.cpu_count()} CPU cores, "
                 f"load average {r['load_average_after']})")
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="batch 8, 2 warm-up + 3 timed steps")
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--length", type=int, default=32)
    parser.add_argument("--rank", type=int, default=8)
    parser.add_argument("--targets", default="q,v")
    parser.add_argument("--child", choices=("full", "lora"), help=argparse.SUPPRESS)
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args(argv)
    if args.quick:
        args.steps, args.warmup, args.batch_size = 3, 2, 8
    if args.child:
        print(json.dumps(measure(args.child, args.rank, args.targets, args.batch_size, args.length, args.warmup,
                                 args.steps)))
        return
    full, lora = run_child(args, "full"), run_child(args, "lora")
    result = {"benchmark": "lora_train", "quick": args.quick, "batch_size": args.batch_size, "length": args.length,
              "steps": args.steps, "warmup": args.warmup, "rank": args.rank, "targets": args.targets,
              "model": "DistilBERT-base shapes (random) + Dense(768->512), Adam, MSE", "full": full, "lora": lora,
              "speedup": full["step_seconds"] / lora["step_seconds"],
              "memory_saving": 1 - lora["peak_rss_mb"] / full["peak_rss_mb"],
              "trainable_fraction": lora["trainable_params"] / full["trainable_params"],
              "load_average_after": round(os.getloadavg()[0], 2),
              "machine": {"cpu_count": os.cpu_count(), "python": platform.python_version()}}
    with open(args.out, "w") as f:
        f.write(json.dumps(result, indent=2) + "\n")
    print(table(result))
    print(f"\nwritten {args.out}")


if __name__ == "__main__":
    main()
