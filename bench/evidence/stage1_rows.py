"""How many training rows the stage-1 ridge head needs (issue 9): ridge heads fitted on seeded samples of the
evidence run's cached frozen-encoder features, scored on distill's validation split only (the penalty, too, is
picked on validation, as `distill train` does). Chooses `stage1.max_rows` for the evidence recipe.

Usage: python -m bench.evidence.stage1_rows [--work runs/evidence] [--rows 10000,20000,30000,45000,0]
       [--out bench/results/stage1_rows]
Needs a finished `python -m bench.evidence.run --work WORK` (its cache and run/features/ are read, nothing trained).
"""
from __future__ import annotations

import distill  # noqa: F401  (tf-keras before TensorFlow)

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from turkish_clip.errors import UserError  # noqa: E402

from .run import REPO  # noqa: E402


def fit_on_sample(features: np.ndarray, targets: np.ndarray, val_features: np.ndarray, val_targets: np.ndarray,
                  rows: int, seed: int) -> dict:
    """Ridge head on `rows` seeded training rows (0: all), the penalty with the best validation R@1."""
    from distill import ridge
    from turkish_clip.metrics import fidelity

    n = len(features)
    index = np.arange(n) if not rows or rows >= n else np.sort(np.random.default_rng(seed).permutation(n)[:rows])
    began = time.time()
    gram = ridge.accumulate(np.asarray(features[index], np.float32), targets[index])
    best = None
    for penalty in ridge.PENALTIES:
        kernel, bias = ridge.solve(gram, penalty)
        got = fidelity(val_features @ kernel + bias, val_targets)
        if best is None or got["R@1"] > best["val_r1"]:
            best = {"rows": len(index), "penalty": penalty, "val_r1": got["R@1"], "val_cosine": got["cosine"],
                    "val_mse": got["mse"]}
    return {**best, "fit_seconds": round(time.time() - began, 2)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.evidence.stage1_rows", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--work", default=str(REPO / "runs/evidence"))
    p.add_argument("--rows", default="10000,20000,30000,45000,0", help="sample sizes (0: all rows)")
    p.add_argument("--out", default=str(REPO / "bench/results/stage1_rows"))
    p.add_argument("--seed", type=int, default=42)
    args = p.parse_args(argv)
    from distill.data import load_splits

    work = Path(args.work)
    try:
        features_dir = work / "run" / "features"
        if not (features_dir / "train.npy").is_file():
            raise UserError(f"{features_dir}/train.npy is missing; run python -m bench.evidence.run --work {work} first")
        config = json.loads((work / "run" / "config.json").read_text(encoding="utf-8"))
        train, val, _ = load_splits(str(work / "data"), config["text_column"], config["val_fraction"], config["seed"],
                                    config["include_english"], config["normalize_targets"], config["max_train"])
        features = np.load(features_dir / "train.npy", mmap_mode="r")
        val_features = np.asarray(np.load(features_dir / "val.npy"), np.float32)
        if len(features) != len(train) or len(val_features) != len(val):
            raise UserError(f"{features_dir} holds {len(features)}/{len(val_features)} rows for a {len(train)}/"
                            f"{len(val)} split: the features were computed on a sample; rerun the evidence run")
        rows = [fit_on_sample(features, train.targets, val_features, val.targets, int(r), args.seed)
                for r in args.rows.split(",")]
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    lines = [f"Ridge head (stage 1) on seeded samples of the evidence run's {len(train):,} training rows; distill's "
             f"validation split ({len(val):,} captions) only.", "",
             "| training rows | penalty | val R@1 % | val cosine | val MSE |", "|---|---|---|---|---|"]
    lines += [f"| {r['rows']:,} | {r['penalty']:g} | {100 * r['val_r1']:.1f} | {r['val_cosine']:.3f} | "
              f"{r['val_mse']:.5f} |" for r in rows]
    table = "\n".join(lines)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(f"{args.out}.json").write_text(json.dumps({"benchmark": "stage1_rows", "seed": args.seed, "rows": rows},
                                                   indent=2) + "\n", encoding="utf-8")
    Path(f"{args.out}.md").write_text(f"# How many rows the stage-1 head needs\n\n{table}\n", encoding="utf-8")
    print(table)
    print(f"wrote {args.out}.json, {args.out}.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
