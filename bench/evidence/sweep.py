"""Choosing the evidence recipe on distill's VALIDATION split only (the LASER test pool is never read here).

Same data, teacher cache, split, seed and frozen-encoder features for every row; each row changes one thing against
the planned recipe and trains stage 2 for the same number of steps. Prints a table and writes
bench/results/evidence_sweep.{json,md}.
Usage: python -m bench.evidence.sweep [--steps 150] [--max-pairs 10000] [--coco 2000] [--only NAME ...]
"""
from __future__ import annotations

import distill  # noqa: F401  (tf-keras before TensorFlow)

import argparse  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import shutil  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from . import data, peers  # noqa: E402
from .run import COCO, E5, LASER_TEST, REPO, TATOEBA, embed_cache, log_lines  # noqa: E402

log = logging.getLogger("bench.evidence.sweep")
PLANNED = ["loss=mse+contrastive", "contrastive_weight=0.3", "temperature=0.05", "contrastive_negatives=4096",
           # the sweep's rows were measured before stage-1 sampling and partial freezing joined the recipe
           "stage1.max_rows=null", "stage2.freeze_embeddings=false", "stage2.freeze_layers=0", "stage2.max_minutes=null"]
# name -> overrides on top of the planned recipe (stage 2 everything at lr 3e-4, batch 32; ridge stage 1)
VARIANTS = {  # most informative first: a cut-short sweep still answers the main questions
    "planned: mse + 0.3 InfoNCE, t 0.05, 4096 negatives": [],
    "mse only": ["loss=mse"],
    "weight 0.1": ["contrastive_weight=0.1"],
    "stage 1 only: adam, 2 epochs over the features, lr 2e-2": ["stage1.solver=adam", "stage1.epochs=2",
                                                               "stage1.learning_rate=0.02", "stage2.epochs=0"],
    "no extra negatives": ["contrastive_negatives=0"],
    "temperature 0.1": ["temperature=0.1"],
    "weight 1.0": ["contrastive_weight=1.0"],
    "stage 2 lr 1e-4": ["stage2.learning_rate=1e-4"],
    "batch 64 (same examples: half the steps)": ["stage2.batch_size=64", "HALF_STEPS"],
}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.evidence.sweep", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=150, help="stage-2 steps of every row")
    p.add_argument("--max-pairs", type=int, default=10_000)
    p.add_argument("--coco", type=int, default=2_000)
    p.add_argument("--only", action="append", help="run only variants whose name contains this text")
    p.add_argument("--redo", action="store_true", help="run variants already in the results file again")
    p.add_argument("--work", default=str(REPO / "runs/evidence-sweep"))
    p.add_argument("--out", default=str(REPO / "bench/results/evidence_sweep"))
    args = p.parse_args(argv)
    log_lines()
    from data_tools.teacher import load_teacher
    from distill.train import Trainer

    from .train import evidence_config

    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    coco, _ = data.load_coco_english(COCO, args.coco, 42, holdout_images=1000)  # same held-out images as the run
    built = data.build(TATOEBA, LASER_TEST, 0.05, 42, max_pairs=args.max_pairs, coco=coco)
    teacher = load_teacher(peers.teacher_model_dir(), kind="hf-mean-pool")
    data_dir, _, _ = embed_cache(built, teacher, work)  # also embeds the test pool's English side (not read here)
    del teacher
    out_path = Path(f"{args.out}.json")
    rows = json.loads(out_path.read_text()) if out_path.is_file() else {}
    shared_features = work / "features"
    for name, sets in VARIANTS.items():
        if (args.only and not any(o in name for o in args.only)) or (name in rows and not args.redo):
            continue
        steps = args.steps // 2 if "HALF_STEPS" in sets else args.steps
        config = evidence_config(str(data_dir), str(E5), str(work / "v"), quick=False).override(
            PLANNED + ["stage2.epochs=1", f"stage2.steps_per_epoch={steps}", "verbose=0"]
            + [s for s in sets if s != "HALF_STEPS"])
        shutil.rmtree(config.run_dir, ignore_errors=True)
        if shared_features.is_dir():  # same texts, model and max_length: the cache key matches, nothing recomputed
            shutil.copytree(shared_features, Path(config.run_dir) / "features")
        began, cpu = time.time(), time.process_time()
        trainer = Trainer(config)
        trainer.record_baseline()
        trainer.fit_stage(1, config.stage1)
        stage1 = trainer.validate()
        trainer.fit_stage(2, config.stage2)
        final = trainer.validate() if config.stage2.epochs else stage1
        if not shared_features.is_dir():
            shutil.copytree(Path(config.run_dir) / "features", shared_features)
        rows[name] = {"overrides": sets, "stage1": stage1, "final": final, "train_rows": len(trainer.train),
                      "val_rows": len(trainer.val), "seconds": round(time.time() - began, 1),
                      "cpu_seconds": round(time.process_time() - cpu, 1)}
        log.info("%s: stage 1 val R@1 %.1f%%, final val R@1 %.1f%%, cosine %.3f", name, 100 * stage1["r1"],
                 100 * final["r1"], final["cosine"])
        out_path.write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")  # after every row: resumable by --only
    table = ["| variant (validation split only) | stage 1 val R@1 % | final val R@1 % | R@5 % | cosine | MSE |",
             "|---|---|---|---|---|---|"]
    for name, r in rows.items():
        f = r["final"]
        table.append(f"| {name} | {100 * r['stage1']['r1']:.1f} | {100 * f['r1']:.1f} | {100 * f['r5']:.1f} | "
                     f"{f['cosine']:.3f} | {f['mse']:.5f} |")
    text = "\n".join(table)
    Path(f"{args.out}.md").write_text(f"# Evidence sweep ({args.steps} stage-2 steps a row, validation only)\n\n{text}\n",
                                      encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
