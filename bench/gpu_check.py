"""GPU readiness in one command (a few minutes on a CUDA machine): the tiny pipeline on the GPU, with what a real
GPU run turns on, and checks that would catch the ways it goes wrong.

1. torch CLIP and the TF student in one process: TensorFlow's memory growth is on, so TF does not take the GPU
   from torch (checked: torch can still allocate most of the device after TF has run).
2. Teacher parity: CLIP text vectors in fp16 (the CUDA default) vs fp32 on the GPU vs fp32 on the CPU.
3. The tiny pipeline: captions -> Marian translation (fp16 on CUDA) -> teacher vectors -> two-stage training with
   mixed precision and XLA forced on (`distill.train`), then `inference.TurkishCLIP(device="cuda")`.
4. MirroredStrategy over every GPU found (also over one): the student trains a few steps under it.

Writes bench/results/gpu_check.json and prints a table. On a machine without CUDA it says so and writes nothing.
Usage: python -m bench.gpu_check [--out bench/results/gpu_check.json]
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

from bench.common import REPO, RESULTS, SAMPLES

OUT = RESULTS / "gpu_check.json"


def cuda_problem() -> str | None:
    """Why this machine cannot run the check (None: it can). Imports torch, and TensorFlow only if torch has CUDA."""
    import torch

    if not torch.cuda.is_available():
        return (f"no CUDA GPU found (torch {torch.__version__}: torch.cuda.is_available() is False); "
                f"bench/gpu_check.py needs a CUDA machine; nothing was run or written")
    import distill  # noqa: F401  (tf-keras before TensorFlow)
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    for gpu in gpus:  # before TF touches the devices: take GPU memory as needed, leave the rest to torch
        try:
            tf.config.experimental.set_memory_growth(gpu, True)
        except RuntimeError:  # already initialised (e.g. by turkish_clip.runtime, which also sets it)
            pass
    if not gpus:
        return (f"torch sees {torch.cuda.device_count()} CUDA GPU(s) but TensorFlow {tf.__version__} sees none: "
                f"pip install -r requirements-gpu.txt (tensorflow[and-cuda]); nothing was run or written")
    return None


class Checks:
    """Named checks with their numbers; a failing check is recorded, not raised, so every check reports."""

    def __init__(self):
        self.rows: list[dict] = []

    def run(self, name: str, fn) -> dict:
        began = time.perf_counter()
        try:
            details = fn() or {}
            ok = bool(details.pop("ok", True))
        except Exception as error:  # noqa: BLE001  (a check that fails reports why and the others still run)
            details, ok = {"error": f"{type(error).__name__}: {str(error)[:300]}"}, False
        row = {"check": name, "ok": ok, "seconds": round(time.perf_counter() - began, 1), **details}
        self.rows.append(row)
        print(f"| {name} | {'ok' if ok else 'FAILED'} | {row['seconds']} | "
              f"{json.dumps({k: v for k, v in details.items()}, ensure_ascii=False)[:160]} |", flush=True)
        return details


def teacher_parity(clip_pt: Path, captions: list[str], device: str = "cuda") -> dict:
    import numpy as np

    from data_tools.teacher import load_teacher

    vectors = {name: load_teacher(str(clip_pt), device=dev, fp16=fp16).encode(captions, batch_size=64)
               for name, dev, fp16 in (("gpu_fp16", device, True), ("gpu_fp32", device, False),
                                       ("cpu_fp32", "cpu", False))}

    def cosine(a, b):
        a, b = a / np.linalg.norm(a, axis=1, keepdims=True), b / np.linalg.norm(b, axis=1, keepdims=True)
        return float((a * b).sum(axis=1).min())

    fp16 = cosine(vectors["gpu_fp16"], vectors["gpu_fp32"])
    devices = float(np.abs(vectors["gpu_fp32"] - vectors["cpu_fp32"]).max())
    return {"ok": fp16 > 0.999 and devices < 1e-3, "captions": len(captions), "min_cosine_fp16_vs_fp32": round(fp16, 6),
            "max_abs_gpu_vs_cpu_fp32": devices}


def pipeline(work: Path, models: dict, device: str = "cuda") -> dict:
    from data_tools.pipeline import EmbedConfig, TranslateConfig, build_captions, embed_captions, translate_captions
    from distill.config import StageConfig, TrainConfig
    from distill.train import train

    data = work / "data"
    build_captions(data, [SAMPLES / "coco_captions_val2017_sample.json"])
    translate_captions(data, TranslateConfig(model=str(models["marian"]), batch_size=64, max_length=40, device=device))
    embed_captions(data, EmbedConfig(teacher=str(models["clip"]), dtype="float32", batch_size=64, device=device))
    config = TrainConfig(data_dir=str(data), model=str(models["distilbert"]), run_dir=str(work / "run"),
                         output_dir=str(work / "student"), head_path=str(work / "clip_head.h5"), max_length=32,
                         val_fraction=0.1, verbose=0, mixed_precision="on", jit_compile="on",
                         stage1=StageConfig(epochs=2, learning_rate=1e-3, batch_size=32),
                         stage2=StageConfig(epochs=2, learning_rate=1e-4, batch_size=32, warmup_fraction=0.1,
                                            decay="linear"))
    result = train(config)
    history = result["history"]
    losses = [r["loss"] for r in history if r["loss"] is not None]
    import math

    return {"ok": all(math.isfinite(x) for x in losses) and history[-1]["val_mse"] < history[0]["val_mse"],
            "val_mse_before": round(history[0]["val_mse"], 5), "val_mse_after": round(history[-1]["val_mse"], 5),
            "epochs": len(losses), "mixed_precision": "on", "xla": "on"}


def inference_on_gpu(work: Path, models: dict, device: str = "cuda") -> dict:
    import numpy as np
    import tensorflow as tf
    import torch

    import inference

    model = inference.TurkishCLIP(str(work / "student"), None, str(models["clip"]), device=device)
    images = sorted(inference.DEMO_IMAGES.glob("*.jpg"))
    probabilities = model.classify(images, ["kedi", "roket", "kahve fincanı"])
    text = model.encode_text(["bir kedi", "kırmızı bir otobüs"])
    if device == "cpu":  # --cpu-dry-run: the code path only
        return {"ok": bool(np.isfinite(probabilities).all() and np.isfinite(text).all()), "images": len(images)}
    tf_peak = tf.config.experimental.get_memory_info("GPU:0")["peak"]
    free, total = torch.cuda.mem_get_info()
    probe = torch.empty(int(free * 0.5), dtype=torch.uint8, device="cuda")  # torch can still take half of what is free
    del probe
    return {"ok": bool(np.isfinite(probabilities).all() and np.isfinite(text).all() and free > 0.5 * total),
            "images": len(images), "tf_peak_mb": round(tf_peak / 2**20, 1),
            "torch_peak_mb": round(torch.cuda.max_memory_allocated() / 2**20, 1),
            "gpu_free_after_tf_share": round(free / total, 3),
            "student_device": str(model.text.student.head.weights[0].device)}


def mirrored(models: dict, work: Path) -> dict:
    import numpy as np
    import tensorflow as tf
    import tf_keras

    from distill.data import load_splits, make_dataset, tokenize
    from distill.student import build_student, load_encoder, load_tokenizer

    gpus = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")[:1]  # CPU: --cpu-dry-run
    strategy = tf.distribute.MirroredStrategy([d.name for d in gpus])
    train, _, _ = load_splits(work / "data", val_fraction=0.1)
    tokenizer = load_tokenizer(str(models["distilbert"]))
    ids = tokenize(tokenizer, train.texts, 32)
    with strategy.scope():
        student = build_student(load_encoder(str(models["distilbert"])), train.targets.shape[1])
        student.compile(optimizer=tf_keras.optimizers.Adam(1e-3), loss="mse")
    data = make_dataset(ids, train.targets, 16 * len(gpus), pad_id=tokenizer.pad_token_id or 0, max_length=32,
                        seed=0, pad_multiple=8)
    history = student.fit(data, epochs=2, verbose=0).history["loss"]
    return {"ok": bool(np.isfinite(history).all() and history[-1] < history[0]), "replicas": strategy.num_replicas_in_sync,
            "loss": [round(x, 5) for x in history]}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.gpu_check", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=str(OUT), help="the JSON to write (default: %(default)s)")
    parser.add_argument("--cpu-dry-run", action="store_true", help="developers: run the same code on the CPU to "
                        "check the script itself (its numbers say nothing about GPUs); needs --out")
    args = parser.parse_args(argv)
    if args.cpu_dry_run and Path(args.out).resolve() == OUT.resolve():
        parser.error("--cpu-dry-run must not write the committed result: pass another --out")
    device = "cpu" if args.cpu_dry_run else "cuda"
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    problem = None if args.cpu_dry_run else cuda_problem()
    if problem:
        print(f"gpu_check: {problem}", file=sys.stderr)
        return 2
    import tensorflow as tf
    import torch

    from data_tools.tiny import build_openai_clip
    from data_tools.tiny_marian import build_marian, sample_texts
    from distill.tiny import build_distilbert

    began = time.perf_counter()
    checks = Checks()
    print("| check | result | seconds | details |\n|---|---|---|---|", flush=True)
    with tempfile.TemporaryDirectory(prefix="gpu-check-") as folder:
        work = Path(folder)
        english, turkish = sample_texts(SAMPLES)
        models = {"marian": build_marian(work / "marian", english, turkish),
                  "clip": build_openai_clip(work / "clip.pt", embed_dim=512),
                  "distilbert": build_distilbert(work / "distilbert", turkish)}
        checks.run("teacher fp16 vs fp32 parity", lambda: teacher_parity(models["clip"], english, device))
        checks.run("tiny pipeline, mixed precision + XLA", lambda: pipeline(work, models, device))
        checks.run("torch CLIP + TF student in one process", lambda: inference_on_gpu(work, models, device))
        checks.run("MirroredStrategy over the GPUs found", lambda: mirrored(models, work))
    result = {"benchmark": "gpu_check", "ok": all(r["ok"] for r in checks.rows), "checks": checks.rows,
              "dry_run_on_cpu": args.cpu_dry_run,
              "seconds": round(time.perf_counter() - began, 1),
              "machine": {"gpus_torch": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())],
                          "gpus_tensorflow": len(tf.config.list_physical_devices("GPU")),
                          "python": platform.python_version(), "torch": torch.__version__,
                          "cuda": torch.version.cuda, "tensorflow": tf.__version__}}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\ngpu_check: {'all checks passed' if result['ok'] else 'SOME CHECKS FAILED'} in {result['seconds']} s "
          f"(written to {out.relative_to(REPO) if out.is_relative_to(REPO) else out})")
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
