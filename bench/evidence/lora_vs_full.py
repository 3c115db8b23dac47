"""LoRA against full fine-tuning at equal wall time in the evidence proxy (issue 12): the same data, split, ridge
stage 1 and recipe as `python -m bench.evidence.run`, then stage 2 for the same number of minutes with either all
weights training or LoRA adapters (base frozen). Each configuration is scored once on the LASER test pool at the end;
validation R@1 comes from distill's own split. Both use a constant learning rate after a short warm-up, so stopping
at the time budget cuts neither's schedule short.

Usage: python -m bench.evidence.lora_vs_full [--work runs/evidence] [--minutes 6] [--lora-rank 8]
       [--lora-lr 1e-3] [--out bench/results/lora_vs_full]
Needs a finished `python -m bench.evidence.run --work WORK` (its teacher cache and frozen features are reused).
"""
from __future__ import annotations

import distill  # noqa: F401  (tf-keras before TensorFlow)

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from turkish_clip.errors import UserError  # noqa: E402

from . import data  # noqa: E402
from .equal_time import equal_time_config, run_config  # noqa: E402
from .run import COCO, CAPTION_CHECK, FULL_COCO, FULL_MAX_PAIRS, LASER_TEST, REPO, TATOEBA, log_lines  # noqa: E402


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.evidence.lora_vs_full", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--work", default=str(REPO / "runs/evidence"), help="a finished evidence run's work folder")
    p.add_argument("--minutes", type=float, default=6.0, help="stage-2 wall minutes for each mode (default 6)")
    p.add_argument("--full-lr", type=float, default=3e-4, help="full fine-tuning learning rate (the evidence recipe's)")
    p.add_argument("--lora-rank", type=int, default=8)
    p.add_argument("--lora-lr", type=float, default=1e-3, help="LoRA learning rate (not tuned; adapters usually "
                   "want a larger one than full fine-tuning)")
    p.add_argument("--lora-targets", default="q,v", help="projections with adapters (default: distill's, q,v)")
    p.add_argument("--out", default=str(REPO / "bench/results/lora_vs_full"))
    p.add_argument("--seed", type=int, default=42)
    return p


def mode_config(work: Path, mode: str, args):
    lora = mode == "lora"
    return equal_time_config(work, mode, args.minutes, args.seed, [
        f"stage2.learning_rate={args.lora_lr if lora else args.full_lr}",
        f"stage2.lora_rank={args.lora_rank if lora else 0}", f"stage2.lora_targets={args.lora_targets}"])


def run_mode(work: Path, mode: str, args, test_tr, test_teacher) -> dict:
    return run_config(work, mode, mode_config(work, mode, args), test_tr, test_teacher)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    log_lines()
    work = Path(args.work)
    if not (work / "data" / "teacher.npy").is_file() or not (work / "test_teacher.npy").is_file():
        print(f"error: {work} holds no finished evidence run; run python -m bench.evidence.run --work {work} first",
              file=sys.stderr)
        return 2
    try:
        coco, _ = data.load_coco_english(COCO, FULL_COCO, args.seed, CAPTION_CHECK)
        built = data.build(TATOEBA, LASER_TEST, 0.05, args.seed, max_pairs=FULL_MAX_PAIRS, coco=coco)
        test_tr, test_teacher = built.test["tr"].tolist(), np.load(work / "test_teacher.npy")
        if len(test_tr) != len(test_teacher):
            raise UserError(f"{work}/test_teacher.npy has {len(test_teacher)} rows for {len(test_tr)} test pairs: "
                            "the evidence run used other data options; rerun it with the defaults")
        rows = [run_mode(work, mode, args, test_tr, test_teacher) for mode in ("full", "lora")]
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    full, lora = rows
    result = {"benchmark": "lora_vs_full", "minutes_each": args.minutes, "rows": rows,
              "test_pool": len(test_tr), "step_ratio": round(lora["steps"] / max(full["steps"], 1), 2),
              "r1_difference_lora_minus_full": round(lora["test"]["R@1"] - full["test"]["R@1"], 4)}
    lines = [f"Stage 2 for {args.minutes:g} wall minutes each after the same ridge stage 1 (evidence proxy, 2-core CPU); "
             f"test R@1 on the {len(test_tr)}-pair LASER pool, scored once per configuration.", "",
             "| mode | lr | trainable params | steps | val R@1 % | test R@1 % | test R@5 % | test cosine |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        name = "full fine-tuning" if r["mode"] == "full" else f"LoRA r={r['lora_rank']} ({r['lora_targets']})"
        lines.append(f"| {name} | {r['learning_rate']:g} | {r['trainable_params']:,} | {r['steps']} | "
                     f"{100 * r['val_r1']:.1f} | {100 * r['test']['R@1']:.1f} | {100 * r['test']['R@5']:.1f} | "
                     f"{r['test']['cosine']:.3f} |")
    table = "\n".join(lines)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(f"{args.out}.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    Path(f"{args.out}.md").write_text(f"# LoRA vs full fine-tuning at equal wall time\n\n{table}\n", encoding="utf-8")
    print(table)
    print(f"wrote {args.out}.json, {args.out}.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
