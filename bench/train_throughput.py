"""Student training throughput at the real DistilBERT-base size (random weights): the common Keras way (unsorted
batches padded to max_length), unsorted batches with dynamic padding (`padding=True` per batch, the usual
transformers way) and ours (length-bucketed batches, dynamic padding), same run, same samples. The first pair
measures the dynamic-padding gain, the second the bucketing gain on top of it.

Caption lengths: COCO val2017 captions from ../shared/data (English, as the proxy for their Turkish translations;
the shipped 300-caption sample if ../shared is absent), tokenised by a cased 32,000-piece WordPiece vocabulary
trained on Tatoeba Turkish + those captions. Stage 2 (everything trainable), Adam, MSE to a learnable teacher.
Usage: python -m bench.train_throughput [--samples 512] [--batch-size 64] [--max-length 64]
       python -m bench.train_throughput --quick   # ~1 minute: a small model, 96 samples, one repeat; writes
                                                  # train_throughput_quick.json (the numbers only show it runs)
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import tempfile
import time

import distill  # noqa: F401  (tf-keras before TensorFlow)
import numpy as np
import tensorflow as tf
import tf_keras

from bench.common import RESULTS as RESULTS_DIR
from bench.common import REPO, coco_captions, turkish_sentences
from distill.data import batch_order, make_dataset, pad_batch, padded_length, tokenize
from distill.evaluate import metrics
from distill.student import build_student, encode_ids

RESULTS = RESULTS_DIR / "train_throughput.json"
MODES = {"bucketed": "bucketed, dynamic padding (ours)", "dynamic": "unsorted, dynamic padding (padding=True)",
         "fixed": "unsorted, padded to {max_length} (Keras)"}


def load_texts() -> tuple[list[str], list[str], str]:
    """(captions to train on, Turkish texts for the vocab, source note)."""
    captions, source = coco_captions()
    turkish, turkish_source = turkish_sentences()
    return [c.strip() for c in captions], turkish, f"{source} ({len(captions)} captions) + {turkish_source} vocab"


def teacher_vectors(ids: list[np.ndarray], dim: int = 512, vocab: int = 32000, seed: int = 0) -> np.ndarray:
    """A learnable stand-in for CLIP: a fixed random map of each caption's mean token vector, norm ~10 like CLIP's."""
    table = np.random.default_rng(seed).normal(size=(vocab, dim)).astype(np.float32)
    return np.stack([table[x[1:-1] if len(x) > 2 else x].mean(axis=0) for x in ids]) * 3.0


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def reset(student, optimizer, initial) -> None:
    """Back to the same initial weights and a fresh Adam (zeroed moments and step), without retracing."""
    student.set_weights(initial)
    for variable in optimizer.variables:
        variable.assign(tf.zeros_like(variable))


def unsorted_dynamic(ids, targets, batch_size, max_length, seed, multiple) -> tf.data.Dataset:
    """Shuffled batches each padded to its own longest caption (what `tokenizer(batch, padding=True)` gives)."""
    batches = batch_order(np.array([len(x) for x in ids]), batch_size, np.random.default_rng(seed), bucket=False)

    def generate():
        for index in batches:
            chunk = [ids[i] for i in index]
            yield pad_batch(chunk, 0, padded_length(chunk, multiple, max_length, fixed=False)), targets[index]

    spec = {k: tf.TensorSpec([None, None], tf.int32) for k in ("input_ids", "attention_mask")}
    return tf.data.Dataset.from_generator(generate, output_signature=(
        spec, tf.TensorSpec([None, targets.shape[1]], tf.float32))).prefetch(2)


def run_mode(student, optimizer, initial, ids, targets, val, args, mode: str) -> dict:
    """Train from the initial weights on `args.samples` samples; wall and CPU seconds of the fit."""
    reset(student, optimizer, initial)
    multiple = 8 if tf.config.list_physical_devices("GPU") else 1  # TrainConfig.pad_multiple=None's rule
    n = args.samples
    if mode == "dynamic":
        data = unsorted_dynamic(ids[:n], targets[:n], args.batch_size, args.max_length, args.seed, multiple)
    else:
        data = make_dataset(ids[:n], targets[:n], args.batch_size, pad_id=0, max_length=args.max_length,
                            seed=args.seed, bucket=mode == "bucketed", pool=50, pad_multiple=multiple)
    tokens = sum(min(len(x), args.max_length) for x in ids[:n])
    padded = sum(x["input_ids"].size for x, _ in data.as_numpy_iterator())
    wall, cpu = time.perf_counter(), time.process_time()
    history = student.fit(data, epochs=1, verbose=0)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    vectors = encode_ids(student, val[0], 128, pad_multiple=multiple)
    return {"mode": MODES[mode].format(max_length=args.max_length),
            "samples": n, "seconds": round(wall, 2), "cpu_seconds": round(cpu, 2), "samples_per_s": round(n / wall, 2),
            "padded_tokens": int(padded), "real_tokens": int(tokens), "padding_share": round(1 - tokens / padded, 3),
            "train_loss": round(float(history.history["loss"][-1]), 4),
            "val_mse_after": round(metrics(vectors, val[1])["mse"], 4), "peak_rss_mb": round(peak_rss_mb())}


def best_of(runs: list[dict]) -> dict:
    """The fastest repeat (least disturbed by other jobs on the machine), with every repeat's wall time."""
    best = dict(min(runs, key=lambda r: r["seconds"]))
    best["all_seconds"] = [r["seconds"] for r in runs]
    return best


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=64, help="TrainConfig's default")
    parser.add_argument("--max-length", type=int, default=64, help="TrainConfig's default")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=2, help="runs per mode, alternating; the fastest is reported")
    parser.add_argument("--quick", action="store_true", help="a small model, 96 samples, one repeat (~1 min); "
                        "writes train_throughput_quick.json")
    args = parser.parse_args(argv)
    size = dict(dim=768, n_layers=6, n_heads=12, hidden_dim=3072)
    results = RESULTS
    if args.quick:
        args.samples, args.repeats = 96, 1
        size = dict(dim=128, n_layers=2, n_heads=2, hidden_dim=256)
        results = RESULTS.with_name("train_throughput_quick.json")
    from distill.tiny import build_tokenizer
    from transformers import DistilBertConfig, TFDistilBertModel

    captions, turkish, source = load_texts()
    rng = np.random.default_rng(args.seed)
    chosen = [captions[i] for i in rng.choice(len(captions), size=args.samples + 256, replace=args.samples + 256 > len(captions))]
    with tempfile.TemporaryDirectory() as folder:
        tokenizer = build_tokenizer(folder, turkish + captions, vocab_size=32000)
    ids = tokenize(tokenizer, chosen, args.max_length)
    targets = teacher_vectors(ids)
    lengths = np.array([len(x) for x in ids])
    val = (ids[args.samples:], targets[args.samples:])
    ids, targets = ids[: args.samples], targets[: args.samples]

    tf_keras.utils.set_random_seed(args.seed)
    config = DistilBertConfig(vocab_size=32000, **size)
    student = build_student(TFDistilBertModel(config), 512)
    initial = student.get_weights()
    rss_model = peak_rss_mb()
    optimizer = tf_keras.optimizers.Adam(2e-5)
    student.compile(optimizer=optimizer, loss="mse")  # one compile: both modes feed [None, None] batches
    warm = make_dataset(ids[: args.batch_size], targets[: args.batch_size], args.batch_size, pad_id=0,
                        max_length=args.max_length, seed=None)
    student.fit(warm, epochs=1, verbose=0)  # traces the train step once (excluded from the timing)
    runs = {mode: [] for mode in MODES}
    for _ in range(args.repeats):  # alternate the modes so other jobs on the machine hit all alike
        for mode in MODES:
            runs[mode].append(run_mode(student, optimizer, initial, ids, targets, val, args, mode))
            if mode == "bucketed" and len(runs[mode]) == 1:
                rss_ours = peak_rss_mb()  # before any fixed-length run: ours' own peak
    rows = [best_of(runs[mode]) for mode in MODES]  # ours, unsorted dynamic, unsorted fixed
    rows[0]["peak_rss_mb"] = round(rss_ours)
    speedup = rows[0]["samples_per_s"] / rows[2]["samples_per_s"]
    cpu_speedup = rows[2]["cpu_seconds"] / rows[0]["cpu_seconds"]  # robust when other jobs share the cores
    gains = {"dynamic_padding": round(rows[1]["samples_per_s"] / rows[2]["samples_per_s"], 2),
             "bucketing": round(rows[0]["samples_per_s"] / rows[1]["samples_per_s"], 2)}

    result = {
        "benchmark": "train_throughput", "source": source, "model": (f"DistilBERT, vocab 32000, {size['n_layers']} layers, dim {size['dim']}, random"
                                                               + ("" if args.quick else " (base size)")),
        "batch_size": args.batch_size, "max_length": args.max_length,
        "tokens": {"mean": round(float(lengths.mean()), 1), "p95": int(np.percentile(lengths, 95)), "max": int(lengths.max())},
        "repeats": args.repeats, "rows": rows, "speedup": round(speedup, 2), "cpu_speedup": round(cpu_speedup, 2),
        "gains": gains, "quick": args.quick,
        "load_average": [round(x, 1) for x in os.getloadavg()], "rss_after_model_mb": round(rss_model),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "tensorflow": tf.__version__,
                    "tf_keras": tf_keras.__version__, "gpus": len(tf.config.list_physical_devices("GPU"))},
    }
    results.parent.mkdir(parents=True, exist_ok=True)
    results.write_text(json.dumps(result, indent=2) + "\n")
    print(f"student training, stage 2, batch {args.batch_size}, {args.samples} samples each (best of {args.repeats}); tokens mean "
          f"{result['tokens']['mean']}, p95 {result['tokens']['p95']}, max {result['tokens']['max']} ({source})\n")
    print("| batches | samples/s | wall s | CPU s | padding | train loss | val MSE after | peak RSS MB |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['mode']} | {r['samples_per_s']} | {r['seconds']} | {r['cpu_seconds']} | {r['padding_share']:.0%} | "
              f"{r['train_loss']} | {r['val_mse_after']} | {r['peak_rss_mb']} |")
    print(f"\nspeed-up: {speedup:.2f}x in samples/s ({gains['dynamic_padding']:.2f}x from dynamic padding, then "
          f"{gains['bucketing']:.2f}x from bucketing), {cpu_speedup:.2f}x in CPU seconds; load average during the run "
          f"{result['load_average']} on {os.cpu_count()} cores (written to {results.relative_to(REPO)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
