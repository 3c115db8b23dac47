"""Peak RSS of `python -m data_tools embed`: it must not grow with the number of captions.

Runs the real CLI in a subprocess (its own peak RSS from os.wait4) on the real COCO val2017 captions repeated to
100k and 1M rows (unique caption ids) with a tiny CLIP teacher, and once with the real-size ViT-B/32 text tower
(random weights) on a smaller count. Goals: 1M vs 100k within 10 %, real size under 3 GB.

    python -m bench.embed_memory                       # ~5-10 min on 2 CPU cores
    python -m bench.embed_memory --counts 20000 200000 --real-count 2000   # quicker
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

import pyarrow as pa

from bench.common import COCO, COCO_SAMPLE, REPO
from bench.common import RESULTS as RESULTS_DIR

RESULTS = RESULTS_DIR / "embed_memory.json"
GOAL_GROWTH, GOAL_REAL_GB = 0.10, 3.0


def coco_captions() -> tuple[pa.Table, str]:
    """The real COCO val2017 captions (25,014), or the shipped 300-caption sample when ../shared is absent."""
    from data_tools.captions import read_captions

    source = COCO if COCO.exists() else COCO_SAMPLE
    table, _ = read_captions([source], exclude_image_ids=None)
    return pa.Table.from_pandas(table, preserve_index=False), str(source)


def write_repeated_captions(data_dir: Path, base: pa.Table, count: int) -> None:
    """captions.parquet of `count` rows: `base` repeated, written chunk by chunk, caption ids made unique."""
    from data_tools import cache

    def chunks():
        done, rep = 0, 0
        while done < count:
            chunk = base.slice(0, min(base.num_rows, count - done))
            ids = pa.array(range(rep * base.num_rows, rep * base.num_rows + chunk.num_rows), pa.int64())
            yield chunk.set_column(0, "caption_id", ids)
            done, rep = done + chunk.num_rows, rep + 1

    cache.write_captions(data_dir, chunks(), {"sources": ["bench: repeated COCO captions"], "options": {}})


def peak_rss_run(argv: list[str]) -> tuple[float, float, str]:
    """Run a command; its own peak RSS (MB, from wait4's rusage) and wall time; raises with stderr on failure."""
    t0 = time.perf_counter()
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1", "USE_TF": "0"}
    with tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(argv, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=err, text=True)
        out = proc.stdout.read()
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode:
            err.seek(0)
            raise RuntimeError(f"{' '.join(argv)} failed ({proc.returncode}):\n{err.read()[-3000:]}")
    return usage.ru_maxrss / 1024, time.perf_counter() - t0, out  # ru_maxrss is in KB on Linux


def run_embed(work: Path, name: str, base: pa.Table, count: int, teacher: Path, batch: int, shard: int) -> dict:
    data_dir = work / name
    write_repeated_captions(data_dir, base, count)
    argv = [sys.executable, "-m", "data_tools", "embed", "--data-dir", str(data_dir), "--teacher", str(teacher),
            "--device", "cpu", "--batch-size", str(batch), "--shard-size", str(shard), "--dtype", "float16"]
    rss, seconds, out = peak_rss_run(argv)
    manifest = json.loads((data_dir / "manifest.json").read_text())["teacher"]
    assert manifest["count"] == count, manifest
    row = {"run": name, "captions": count, "dim": manifest["dim"], "batch_size": batch, "shard_size": shard,
           "peak_rss_mb": round(rss, 1), "seconds": round(seconds, 1), "captions_per_s": round(count / seconds, 1),
           "teacher_npy_mb": round((data_dir / "teacher.npy").stat().st_size / 2**20, 1)}
    print(f"  {name}: {count:,} captions, peak RSS {rss:,.0f} MB, {seconds:.0f} s", file=sys.stderr)
    shutil.rmtree(data_dir)
    return row


def load_only(teacher: Path) -> float:
    """Peak RSS of a process that imports the pipeline and loads the teacher, nothing else (the fixed cost)."""
    code = ("from data_tools import pipeline, shards; from data_tools.teacher import load_teacher; "
            f"load_teacher({str(teacher)!r}, device='cpu')")
    return round(peak_rss_run([sys.executable, "-c", code])[0], 1)


def machine() -> dict:
    def version(name):
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return None

    return {"cpu_count": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
            "torch": version("torch"), "tensorflow": version("tensorflow"), "pyarrow": version("pyarrow"),
            "numpy": version("numpy")}


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--counts", type=int, nargs=2, default=[100_000, 1_000_000], help="tiny-teacher caption counts")
    p.add_argument("--real-count", type=int, default=5000, help="captions for the real-size ViT-B/32 run (0: skip)")
    p.add_argument("--batch-size", type=int, default=4096, help="tiny-teacher batch size")
    p.add_argument("--shard-size", type=int, default=16384)
    p.add_argument("--workdir", default=None, help="scratch folder (default: a temporary one)")
    p.add_argument("--out", default=str(RESULTS))
    args = p.parse_args(argv)

    from data_tools.tiny import VIT_B_32_TEXT, build_openai_clip

    work = Path(args.workdir or tempfile.mkdtemp(prefix="embed_memory_"))
    work.mkdir(parents=True, exist_ok=True)
    base, source = coco_captions()
    tiny = build_openai_clip(work / "tiny.pt", embed_dim=32, width=64, layers=1, vision_layers=1)
    rows = [{"run": "tiny: load only", "captions": 0, "peak_rss_mb": load_only(tiny)}]
    for count in args.counts:
        rows.append(run_embed(work, f"tiny {count:,}", base, count, tiny, args.batch_size, args.shard_size))
    small, large = rows[1]["peak_rss_mb"], rows[2]["peak_rss_mb"]
    growth = (large - small) / small
    real = None
    if args.real_count:
        real_pt = build_openai_clip(work / "vit-b-32-random.pt", **VIT_B_32_TEXT, vision_width=64, vision_layers=1)
        rows.append({"run": "ViT-B/32 size: load only", "captions": 0, "peak_rss_mb": load_only(real_pt)})
        real = run_embed(work, f"ViT-B/32 size {args.real_count:,}", base, args.real_count, real_pt, 256,
                         min(args.shard_size, 4096))
        rows.append(real)
    shutil.rmtree(work) if not args.workdir else None

    result = {"machine": machine(), "captions_source": source, "rows": rows,
              "growth_large_vs_small": round(growth, 4), "goal_growth": GOAL_GROWTH,
              "growth_ok": abs(growth) < GOAL_GROWTH,
              "real_size_peak_gb": round(real["peak_rss_mb"] / 1024, 2) if real else None,
              "real_size_ok": (real["peak_rss_mb"] / 1024 < GOAL_REAL_GB) if real else None}
    print("| run | captions | peak RSS (MB) | time (s) | captions/s | teacher.npy (MB) |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['run']} | {r['captions']:,} | {r['peak_rss_mb']:,.0f} | {r.get('seconds', '')} | "
              f"{r.get('captions_per_s', '')} | {r.get('teacher_npy_mb', '')} |")
    print(f"\n{args.counts[1]:,} vs {args.counts[0]:,} captions: peak RSS {growth:+.1%} (goal: < {GOAL_GROWTH:.0%}: "
          f"{'met' if result['growth_ok'] else 'NOT met'})")
    if real:
        print(f"real-size ViT-B/32 text tower: {result['real_size_peak_gb']} GB (goal < {GOAL_REAL_GB} GB: "
              f"{'met' if result['real_size_ok'] else 'NOT met'})")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()
