"""Teacher throughput at the real ViT-B/32 text-tower size: naive 77-token batches vs length-sorted trimmed batches.

Naive = clip.tokenize-style ids padded to 77, batches in the captions' own order, `CLIP.encode_text`.
Ours = `Teacher.encode` (sorted by token length, each batch run only up to its longest caption).
Random weights (fixed seed), real COCO val2017 caption lengths. Usage: python -m bench.teacher_throughput [--n N]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
from pathlib import Path

import numpy as np
import torch

from bench.common import RESULTS as RESULTS_DIR
from bench.common import coco_captions, timed
from data_tools.clip_tokens import ClipTokenizer, pad
from turkish_clip.clip_towers import OpenAIClip
from data_tools.teacher import Teacher
from data_tools.tiny import VIT_B_32_TEXT, openai_clip_model

RESULTS = RESULTS_DIR / "teacher_throughput.json"


def load_captions(n: int, seed: int) -> tuple[list[str], str]:
    """A fixed random subset of n real COCO captions (the shipped 300-caption sample if ../shared is absent)."""
    captions, source = coco_captions()
    rng = np.random.default_rng(seed)
    index = rng.choice(len(captions), size=n, replace=n > len(captions))
    return [captions[i] for i in index], source


def naive_encode(model, tokenizer: ClipTokenizer, captions: list[str], batch_size: int) -> np.ndarray:
    """The usual loop: clip.tokenize to 77, batches in input order, model.encode_text."""
    out = []
    with torch.inference_mode():
        for start in range(0, len(captions), batch_size):
            tokens = pad(tokenizer.encode_batch(captions[start : start + batch_size]), 77)  # [b, 77]
            out.append(model.encode_text(tokens.to(model.text_projection.device)).float().cpu().numpy())
    return np.concatenate(out)


def run(n: int, batch_size: int, seed: int, device: str | None) -> dict:
    captions, source = load_captions(n, seed)
    model = openai_clip_model(**VIT_B_32_TEXT, seed=seed)
    teacher = Teacher(OpenAIClip(model, "random ViT-B/32 text tower", device=device))  # fp16 on CUDA, as ours
    naive_tokenizer = ClipTokenizer()
    lengths = np.array([len(ids) for ids in naive_tokenizer.encode_batch(captions)])  # also warms its BPE cache
    teacher.tokenizer.encode_batch(captions)  # warm our tokenizer's cache too: both timings are model + padding
    naive_encode(teacher.clip.model, naive_tokenizer, captions[:8], 8)  # warm up kernels
    teacher.encode(captions[:8])

    # Interleave the two methods batch by batch (alternating which goes first) so that load from other processes
    # on a shared machine falls on both alike. Ours gets exactly the batches Teacher.encode forms on the whole list
    # (longest first); each is passed through Teacher.encode, so tokenising, padding and copying are timed too.
    order = np.argsort(-lengths, kind="stable")
    batches = {"naive": [np.arange(i, min(i + batch_size, n)) for i in range(0, n, batch_size)],
               "ours": [order[i : i + batch_size] for i in range(0, n, batch_size)]}
    methods = {"naive": lambda texts: naive_encode(teacher.clip.model, naive_tokenizer, texts, batch_size),
               "ours": lambda texts: teacher.encode(texts, batch_size=batch_size)}
    load_before = os.getloadavg()
    totals = {"naive": [0.0, 0.0], "ours": [0.0, 0.0]}
    vectors = {"naive": np.empty((n, teacher.dim), np.float32), "ours": np.empty((n, teacher.dim), np.float32)}
    for k in range(len(batches["naive"])):
        for name in (("naive", "ours") if k % 2 == 0 else ("ours", "naive")):
            index = batches[name][k]
            out, wall, cpu = timed(lambda: methods[name]([captions[i] for i in index]))
            vectors[name][index] = out
            totals[name][0] += wall
            totals[name][1] += cpu
    naive, ours = vectors["naive"], vectors["ours"]
    padded = [int(lengths[index].max()) for index in batches["ours"]]
    result = {
        "benchmark": "teacher_throughput", "n": n, "batch_size": batch_size, "seed": seed,
        "captions": source,
        "model": "openai-clip CLIP text tower, width 512, 12 layers, 8 heads, embed 512, random weights",
        "device": str(teacher.clip.device), "compute_dtype": teacher.compute_dtype,
        "tokens": {"mean": float(lengths.mean()), "max": int(lengths.max()), "p95": float(np.percentile(lengths, 95)),
                   "truncated": int((lengths == 77).sum()), "mean_padded_length_ours": float(np.mean(padded))},
        "max_abs_diff": float(np.abs(naive - ours).max()),
        "load_average_before_after": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
        "machine": {"cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                    "torch": torch.__version__, "python": platform.python_version(), "platform": platform.platform(),
                    "cuda": torch.cuda.get_device_name() if torch.cuda.is_available() else None},
    }
    for name, (wall, cpu) in totals.items():
        result[name] = {"seconds": wall, "cpu_seconds": cpu, "captions_per_s": n / wall}
    result["speedup"] = totals["naive"][0] / totals["ours"][0]
    result["speedup_cpu_time"] = totals["naive"][1] / totals["ours"][1]
    return result


def table(r: dict) -> str:
    rows = [("naive: clip.tokenize to 77, input-order batches", r["naive"]),
            ("ours: Teacher.encode (length-sorted, trimmed)", r["ours"])]
    lines = ["| method | captions | batch | wall s | CPU s | captions/s |", "|---|---:|---:|---:|---:|---:|"]
    lines += [f"| {name} | {r['n']} | {r['batch_size']} | {m['seconds']:.1f} | {m['cpu_seconds']:.1f} "
              f"| {m['captions_per_s']:.1f} |" for name, m in rows]
    t = r["tokens"]
    lines += ["", f"speed-up **{r['speedup']:.2f}×** wall ({r['speedup_cpu_time']:.2f}× CPU time), max abs diff {r['max_abs_diff']:.2e} "
              f"({r['device']}, {r['compute_dtype']}, {r['machine']['torch_threads']} torch threads, "
              f"load average {r['load_average_before_after']}); "
              f"tokens per caption mean {t['mean']:.1f}, p95 {t['p95']:.0f}, max {t['max']}; "
              f"mean padded length ours {t['mean_padded_length_ours']:.1f} vs 77"]
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="captions to embed (default 2000)")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--device", default=None, help="default: cuda if available, else cpu")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    result = run(args.n, args.batch_size, args.seed, args.device)
    print(table(result))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
