"""Image-vector throughput of `data_tools.image_step.encode_images`: decoding + CLIP preprocessing in worker
threads ahead of the model, against decode-then-encode in one thread (the same function with workers=0).

Images are generated with PIL (COCO-like 640x480 JPEGs), so no data set is needed. --model tiny (default) uses a
tiny CLIP with a 224 px ViT-B/32-shaped input (decoding dominates, as on a GPU); --model vit-b-32 uses a random
real-size ViT-B/32 image tower (the model dominates on a CPU).
Usage: python -m bench.image_embed_throughput [--quick] [--n 200] [--workers 2] [--model tiny|vit-b-32]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from bench.common import RESULTS as RESULTS_DIR
from bench.common import timed
from turkish_clip.clip_towers import OpenAIClip
from data_tools.image_step import encode_images
from data_tools.tiny import VIT_B_32, openai_clip_model

RESULTS = RESULTS_DIR / "image_embed_throughput.json"
MODELS = {"tiny": dict(embed_dim=32, width=64, layers=1, vision_width=64, vision_layers=2, image_resolution=224,
                       patch_size=32),
          "vit-b-32": dict(VIT_B_32, layers=1)}  # the text tower is not used: one layer keeps start-up short


def make_images(folder: Path, n: int, seed: int) -> list[Path]:
    """n photo-like 640x480 JPEGs (gradient, shapes, noise; quality 90, like COCO's files)."""
    rng = np.random.default_rng(seed)
    paths = []
    y, x = np.mgrid[0:480, 0:640]
    for i in range(n):
        base = np.stack([(x * rng.uniform(0.1, 0.4) + y * rng.uniform(0.1, 0.4) + rng.uniform(0, 255)) % 256
                         for _ in range(3)], axis=-1)
        noisy = np.clip(base + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8)  # [480, 640, 3]
        image = Image.fromarray(noisy)
        draw = ImageDraw.Draw(image)
        for _ in range(6):
            x0, y0 = rng.integers(0, 560), rng.integers(0, 400)
            draw.ellipse([x0, y0, x0 + rng.integers(20, 200), y0 + rng.integers(20, 200)],
                         fill=tuple(int(c) for c in rng.integers(0, 256, 3)))
        path = folder / f"COCO_val2014_{i:012d}.jpg"
        image.save(path, quality=90)
        paths.append(path)
    return paths


def run(n: int, batch_size: int, workers: int, model: str, rounds: int, seed: int) -> dict:
    clip = OpenAIClip(openai_clip_model(**MODELS[model], seed=seed), f"random {model}", device="cpu", fp16=False)
    with tempfile.TemporaryDirectory() as tmp:
        paths = make_images(Path(tmp), n, seed)
        encode_images(clip, paths[:batch_size], batch_size, workers)  # warm up kernels and the page cache
        totals = {"one_thread": [0.0, 0.0], "threads": [0.0, 0.0]}
        vectors = {}
        for k in range(rounds):  # alternate the order so load from other processes falls on both alike
            for name in (("one_thread", "threads") if k % 2 == 0 else ("threads", "one_thread")):
                count = 0 if name == "one_thread" else workers
                (out, _, _), wall, cpu = timed(lambda: encode_images(clip, paths, batch_size, count))
                vectors[name] = out
                totals[name][0] += wall
                totals[name][1] += cpu
    result = {"benchmark": "image_embed_throughput", "n": n, "rounds": rounds, "batch_size": batch_size,
              "workers": workers, "model": model, "model_shape": MODELS[model], "images": "640x480 JPEG, generated",
              "max_abs_diff": float(np.abs(vectors["one_thread"] - vectors["threads"]).max()),
              "load_average_after": round(os.getloadavg()[0], 2),
              "machine": {"cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                          "torch": torch.__version__, "python": platform.python_version()}}
    for name, (wall, cpu) in totals.items():
        result[name] = {"seconds": wall, "cpu_seconds": cpu, "images_per_s": n * rounds / wall}
    result["speedup"] = totals["one_thread"][0] / totals["threads"][0]
    return result


def table(r: dict) -> str:
    lines = ["| method | images | wall s | CPU s | images/s |", "|---|---:|---:|---:|---:|"]
    for name, label in (("one_thread", "decode then encode, one thread"),
                        ("threads", f"{r['workers']} decoding threads ahead of the model")):
        m = r[name]
        lines.append(f"| {label} | {r['n'] * r['rounds']} | {m['seconds']:.1f} | {m['cpu_seconds']:.1f} "
                     f"| {m['images_per_s']:.1f} |")
    lines.append(f"\nspeed-up **{r['speedup']:.2f}x** ({r['model']} model, batch {r['batch_size']}, "
                 f"{r['machine']['cpu_count']} CPU cores, load average {r['load_average_after']}); "
                 f"max abs diff {r['max_abs_diff']:.1e}")
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="200 images, tiny model, 2 rounds (about a minute)")
    parser.add_argument("--n", type=int, default=400)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--workers", type=int, default=min(4, os.cpu_count() or 1))
    parser.add_argument("--model", choices=sorted(MODELS), default="tiny")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if args.quick:
        args.n, args.model, args.rounds = 200, "tiny", 2
    result = run(args.n, args.batch_size, args.workers, args.model, args.rounds, args.seed)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(table(result))
    print(f"\nwritten {args.out}")


if __name__ == "__main__":
    main()
