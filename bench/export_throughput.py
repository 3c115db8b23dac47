"""Text encoding with the exports at the real DistilBERT size (dbmdz/distilbert-base-turkish-cased's shape, random
weights, head 768->512): TF student vs ONNX fp32 vs ONNX dynamic int8, on the same Turkish texts.

Each runtime runs in its own fresh process, so cold start (process start -> first vector, imports included) and
peak RSS are its own. texts/s is measured after a warm-up batch; agreement is the min cosine to the TF vectors.
Usage: python -m bench.export_throughput [--quick] [--n N] [--batch-size B] [--threads T]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

START = time.perf_counter()  # a worker's cold start counts from here (before any heavy import)

import numpy as np  # noqa: E402

from bench.common import REPO, RESULTS, turkish_sentences  # noqa: E402

RUNTIMES = ("tf", "onnx-fp32", "onnx-int8")


def build_model(folder: Path, texts: list[str]) -> tuple[Path, Path]:
    """A real-size random student saved like `distill train` does, and its ONNX export (fp32 + int8)."""
    import distill  # noqa: F401
    import tf_keras

    from distill.export import save_student
    from distill.onnx_export import export_onnx
    from distill.student import build_student, load_encoder, load_tokenizer
    from distill.tiny import build_real_size

    base = build_real_size(folder / "base", texts, pytorch_only=False)
    tf_keras.utils.set_random_seed(0)
    student = build_student(load_encoder(str(base)), 512)
    info = {"base_model": "random dbmdz/distilbert-base-turkish-cased shape", "max_length": 64}
    model_dir = save_student(student, load_tokenizer(str(base)), folder / "student", info, head_path=None, pytorch=True)
    onnx_dir = folder / "onnx"
    export_onnx(model_dir, onnx_dir, quantize="int8")
    return model_dir, onnx_dir


def peak_rss_mb() -> int:
    """This process's peak RSS (VmHWM; ru_maxrss would carry the parent's peak over fork + exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024)
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def worker(runtime: str, model: str, texts_file: str, batch_size: int, out: str) -> None:
    """Runs in a fresh process: load, encode once to warm up, encode all texts timed; JSON on stdout."""
    texts = json.loads(Path(texts_file).read_text(encoding="utf-8"))
    if runtime == "tf":
        from turkish_clip.runtime import setup_tensorflow

        setup_tensorflow()
        from inference_api.text_encoder import TextEncoder

        encoder = TextEncoder.load(model, batch_size=batch_size)
    else:
        from inference_api.onnx_encoder import OnnxTextEncoder

        encoder = OnnxTextEncoder.load(model, variant=runtime.split("-")[1], batch_size=batch_size)
    encoder.encode(texts[:batch_size], normalize=False)
    cold = time.perf_counter() - START
    wall, cpu = time.perf_counter(), time.process_time()
    vectors = encoder.encode(texts, normalize=False)  # [n, 512]
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    np.save(out, vectors)
    print(json.dumps({"runtime": runtime, "texts": len(texts), "seconds": round(wall, 3), "cpu_seconds": round(cpu, 3),
                      "texts_per_s": round(len(texts) / wall, 1), "cold_start_s": round(cold, 2),
                      "peak_rss_mb": peak_rss_mb(),
                      "imports_tensorflow": "tensorflow" in sys.modules, "imports_torch": "torch" in sys.modules}))


def run_worker(runtime: str, model: Path, texts_file: Path, batch_size: int, out: Path, threads: int | None) -> dict:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "TRANSFORMERS_VERBOSITY": "error"}
    if threads:
        env.update(OMP_NUM_THREADS=str(threads), TF_NUM_INTRAOP_THREADS=str(threads))
    command = [sys.executable, "-m", "bench.export_throughput", "--worker", runtime, "--model", str(model),
               "--texts", str(texts_file), "--batch-size", str(batch_size), "--vectors", str(out)]
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{runtime} worker failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="200 texts (2-3 minutes on 2 shared cores, most of it "
                        "building and exporting the model)")
    parser.add_argument("--n", type=int, help="texts to encode (default 2000, --quick 200)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, help="intra-op threads of every runtime (default: theirs)")
    parser.add_argument("--worker", choices=RUNTIMES, help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    parser.add_argument("--texts", help=argparse.SUPPRESS)
    parser.add_argument("--vectors", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(args.worker, args.model, args.texts, args.batch_size, args.vectors)
        return 0
    n = args.n or (200 if args.quick else 2000)
    sentences, source = turkish_sentences()
    rng = np.random.default_rng(0)
    texts = [sentences[i] for i in rng.choice(len(sentences), size=n)]
    with tempfile.TemporaryDirectory(prefix="export-bench-") as tmp:
        tmp = Path(tmp)
        t0 = time.perf_counter()
        model_dir, onnx_dir = build_model(tmp, sentences[:5000])
        export_s = time.perf_counter() - t0
        (tmp / "texts.json").write_text(json.dumps(texts, ensure_ascii=False), encoding="utf-8")
        rows, vectors = [], {}
        for runtime in RUNTIMES:
            model = model_dir if runtime == "tf" else onnx_dir
            rows.append(run_worker(runtime, model, tmp / "texts.json", args.batch_size, tmp / f"{runtime}.npy",
                                   args.threads))
            vectors[runtime] = np.load(tmp / f"{runtime}.npy")
        sizes = {"onnx-fp32": (onnx_dir / "model.onnx").stat().st_size, "onnx-int8": (onnx_dir / "model_int8.onnx").stat().st_size,
                 "tf": (model_dir / "tf_model.h5").stat().st_size + (model_dir / "clip_head.h5").stat().st_size}
    ref = vectors["tf"]
    for row in rows:
        v = vectors[row["runtime"]]
        row["min_cosine_to_tf"] = round(float(((v * ref).sum(1) / np.linalg.norm(v, axis=1) / np.linalg.norm(ref, axis=1)).min()), 5)
        row["model_mb"] = round(sizes[row["runtime"]] / 2**20, 1)
    tf_row = rows[0]
    speedup = {r["runtime"]: round(r["texts_per_s"] / tf_row["texts_per_s"], 2) for r in rows[1:]}
    # CPU seconds per text: steadier than wall time when other jobs share the cores
    speedup_cpu = {r["runtime"]: round(tf_row["cpu_seconds"] / r["cpu_seconds"], 2) for r in rows[1:]}
    print(f"{n} Turkish texts ({Path(source).name}), batch {args.batch_size}, DistilBERT-base size (random), "
          f"{os.cpu_count()} CPUs{', quick' if args.quick else ''}; export took {export_s:.0f} s")
    print("| runtime | texts/s | × TF | CPU s | × TF by CPU s | cold start s | peak RSS MB | model MB | min cos to TF | "
          "imports TF / torch |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['runtime']} | {r['texts_per_s']:.1f} | {speedup.get(r['runtime'], 1.0):.2f} | {r['cpu_seconds']:.2f} | "
              f"{speedup_cpu.get(r['runtime'], 1.0):.2f} | {r['cold_start_s']:.1f} | "
              f"{r['peak_rss_mb']} | {r['model_mb']} | {r['min_cosine_to_tf']:.5f} | "
              f"{r['imports_tensorflow']} / {r['imports_torch']} |")
    result = {"benchmark": "export_throughput", "quick": args.quick, "texts": n, "source": source,
              "batch_size": args.batch_size, "threads": args.threads, "cpus": os.cpu_count(),
              "platform": platform.platform(), "export_seconds": round(export_s, 1), "rows": rows,
              "speedup": speedup, "speedup_cpu_seconds": speedup_cpu,
              "load_average": os.getloadavg(), "goal": "int8 >= 2x TF texts/s on CPU, smaller peak RSS"}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "export_throughput.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {RESULTS / 'export_throughput.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
