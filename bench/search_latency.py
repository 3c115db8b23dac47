"""Search page latency against the folder size: 1,000 and 100,000 indexed images (synthetic unit vectors, 512-dim
like ViT-B/32), so users know how far a folder can grow before they need a vector index.

Measured per query, median and 95th percentile over repeated queries: "rank" is the exact scan of the index
(`ImageIndex.search`: one [n, 512] @ [512] product + argsort); "HTTP search" and "HTTP zero-shot (3 labels)" are
full requests through the Flask app (test client: routing, ranking / probabilities, JSON). The query's text
encoding is NOT included (a stub returns a fixed vector): add one text through the encoder (see
bench/export_throughput.py), which does not grow with the folder. Usage: python -m bench.search_latency [--quick]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

from bench.common import RESULTS

DIM = 512


class StubModel:
    """encode_text without a network: a fixed pseudo-random unit vector per text (latency of everything else)."""

    logit_scale = 100.0
    text = type("Text", (), {"source": {"model": "stub", "format": "stub"}})()

    def encode_text(self, texts, batch_size=None):
        out = np.stack([np.random.default_rng(abs(hash(t)) % 2**32).normal(size=DIM) for t in texts]).astype(np.float32)
        return out / np.linalg.norm(out, axis=1, keepdims=True)


def synthetic_index(n: int, seed: int = 0):
    from inference_api.search import ImageIndex

    vectors = np.random.default_rng(seed).normal(size=(n, DIM)).astype(np.float32)  # [n, 512]
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return ImageIndex(Path("/nonexistent"), [f"img{i:06d}.jpg" for i in range(n)], vectors)


def percentiles(fn, repeats: int) -> dict:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return {"median_ms": round(float(np.median(times)), 2), "p95_ms": round(float(np.percentile(times, 95)), 2)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer repeats (well under a minute)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 100_000])
    parser.add_argument("--top", type=int, default=12)
    args = parser.parse_args(argv)
    from inference_api.server import create_app

    repeats = 20 if args.quick else 100
    model, rows = StubModel(), []
    for n in args.sizes:
        index = synthetic_index(n)
        client = create_app(model, index, default_top=args.top, templates=["bir {} fotoğrafı"]).test_client()
        query = model.encode_text(["kumsalda gün batımı"])[0]

        def http_search():
            response = client.get("/api/search", query_string={"q": "kumsalda gün batımı", "top": args.top})
            assert response.status_code == 200, response.get_json()

        def http_classify():
            response = client.get("/api/classify", query_string={"labels": "kedi, köpek, roket"})
            assert response.status_code == 200, response.get_json()

        row = {"images": n, "index_mb": round(index.vectors.nbytes / 2**20, 1),
               "rank": percentiles(lambda: index.search(query, args.top), repeats),
               "http_search": percentiles(http_search, repeats),
               "http_zero_shot_3_labels": percentiles(http_classify, max(5, repeats // 4))}
        rows.append(row)
    print(f"search latency per query, {DIM}-dim synthetic index, top {args.top}, {os.cpu_count()} CPUs"
          f"{', quick' if args.quick else ''}; text encoding of the query not included")
    print("| images | index MB | rank median / p95 ms | HTTP search median / p95 ms | HTTP zero-shot median / p95 ms |")
    print("|---|---|---|---|---|")
    for r in rows:
        cells = [f"{r[k]['median_ms']:.2f} / {r[k]['p95_ms']:.2f}" for k in ("rank", "http_search", "http_zero_shot_3_labels")]
        print(f"| {r['images']:,} | {r['index_mb']} | " + " | ".join(cells) + " |")
    result = {"benchmark": "search_latency", "quick": args.quick, "dim": DIM, "top": args.top, "rows": rows,
              "cpus": os.cpu_count(), "platform": platform.platform(), "load_average": os.getloadavg(),
              "note": "text encoding of the query excluded (stub); exact scan, no vector index"}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "search_latency.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {RESULTS / 'search_latency.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
