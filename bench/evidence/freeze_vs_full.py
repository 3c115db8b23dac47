"""Partial freezing against full fine-tuning at equal wall time in the evidence proxy (issue 9): the same data,
split, ridge stage 1 and recipe as `python -m bench.evidence.run`, then stage 2 for the same number of minutes with
all weights training, or with the embedding layer and the lowest N transformer blocks frozen (`stage2.freeze_*`).

Validation only: this chooses a setting, so the LASER test pool is not read (distill's validation split decides;
the evidence run scores the test pool once for the chosen configuration). Choice rule, fixed before the run: the
highest validation R@1; among the modes within 0.5 points of it, the one with the highest validation cosine.

Usage: python -m bench.evidence.freeze_vs_full [--work runs/evidence] [--minutes 6] [--modes full,emb,emb+3,emb+6]
       [--out bench/results/freeze_vs_full]
Needs a finished `python -m bench.evidence.run --work WORK` (its teacher cache and frozen features are reused).
"""
from __future__ import annotations

import distill  # noqa: F401  (tf-keras before TensorFlow)

import argparse  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import re  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

from turkish_clip.errors import UserError  # noqa: E402

from .equal_time import equal_time_config, run_config  # noqa: E402
from .run import REPO, log_lines  # noqa: E402

log = logging.getLogger("bench.evidence.freeze_vs_full")
MODE = re.compile(r"^(full|emb)(?:\+(\d+))?(?:@([0-9.eE+-]+))?$")


def mode_overrides(mode: str, lr: float) -> list[str]:
    """'full' -> nothing frozen; 'emb' -> the embedding layer; 'emb+N' -> it and the lowest N blocks; a suffix
    '@LR' sets that mode's learning rate (default `lr`)."""
    match = MODE.match(mode)
    if not match or (match.group(1) == "full" and match.group(2)):
        raise UserError(f"mode {mode!r}: use full, emb or emb+N (N transformer blocks frozen above the embeddings), "
                        "optionally with @LR")
    try:
        rate = float(match.group(3)) if match.group(3) else lr
    except ValueError:
        raise UserError(f"mode {mode!r}: {match.group(3)!r} is not a learning rate") from None
    frozen = [] if match.group(1) == "full" else ["stage2.freeze_embeddings=true",
                                                  f"stage2.freeze_layers={int(match.group(2) or 0)}"]
    return [f"stage2.learning_rate={rate}", *frozen]


def choose(rows: list[dict], within: float = 0.005) -> dict:
    """The rule above: best validation R@1, ties (within `within`) broken by validation cosine."""
    best = max(r["val_r1"] for r in rows)
    return max((r for r in rows if r["val_r1"] >= best - within), key=lambda r: r["val_cosine"])


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.evidence.freeze_vs_full", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--work", default=str(REPO / "runs/evidence"), help="a finished evidence run's work folder")
    p.add_argument("--minutes", type=float, default=6.0, help="stage-2 wall minutes for each mode (default 6)")
    p.add_argument("--modes", default="full,emb,emb+3,emb+6", help="comma-separated: full, emb, emb+N")
    p.add_argument("--lr", type=float, default=3e-4, help="stage-2 learning rate for every mode (the recipe's)")
    p.add_argument("--out", default=str(REPO / "bench/results/freeze_vs_full"))
    p.add_argument("--seed", type=int, default=42)
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    log_lines()
    work = Path(args.work)
    try:
        modes = [m.strip() for m in args.modes.split(",") if m.strip()]
        overrides = {m: mode_overrides(m, args.lr) for m in modes}
        if not (work / "data" / "teacher.npy").is_file():
            raise UserError(f"{work} holds no finished evidence run; run python -m bench.evidence.run --work {work} first")
        rows = _measured(args)
        for mode in modes:
            if any(r["mode"] == mode for r in rows):
                log.info("%s: measured already in %s.json (kept)", mode, args.out)
                continue
            config = equal_time_config(work, f"freeze-{mode}", args.minutes, args.seed, overrides[mode])
            rows.append(run_config(work, mode, config))
            _write(args, rows)  # after each mode: a killed run keeps what it measured
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(_write(args, rows))
    print(f"wrote {args.out}.json, {args.out}.md")
    return 0


def _measured(args) -> list[dict]:
    """Rows of an earlier run with the same minutes and seed (resumable: measured modes are not run again)."""
    path = Path(f"{args.out}.json")
    if not path.is_file():
        return []
    old = json.loads(path.read_text(encoding="utf-8"))
    if old.get("minutes_each") != args.minutes or old.get("seed", args.seed) != args.seed:
        return []
    return old["rows"]


def _write(args, rows: list[dict]) -> str:
    chosen = choose(rows)
    full = next((r for r in rows if r["mode"] == "full"), None)
    for r in rows:  # ratio to full fine-tuning's steps (the first full row: the recipe's learning rate)
        r["step_ratio_vs_full"] = round(r["steps"] / full["steps"], 2) if full else None
    result = {"benchmark": "freeze_vs_full", "minutes_each": args.minutes, "seed": args.seed, "rows": rows,
              "chosen": chosen["mode"], "rule": "highest validation R@1; within 0.5 points, highest validation cosine",
              "test_pool_read": False}
    lines = [f"Stage 2 for {args.minutes:g} wall minutes each after the same ridge stage 1 (evidence proxy, 2-core CPU, "
             f"learning rate constant after 2 % warm-up); distill's validation split only (the test pool is not read).",
             "", "| frozen in stage 2 | lr | trainable params | steps | steps vs full | val R@1 % | val cosine | val MSE |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        name = {"full": "nothing (full fine-tuning)", "emb": "embeddings"}.get(
            r["mode"], f"embeddings + lowest {r['freeze_layers']} blocks")
        lines.append(f"| {name} | {r['learning_rate']:g} | {r['trainable_params']:,} | {r['steps']} | {r['step_ratio_vs_full'] or '—'} | "
                     f"{100 * r['val_r1']:.1f} | {r['val_cosine']:.3f} | {r['val_mse']:.5f} |")
    lines += ["", f"Chosen by the rule fixed before the run (highest validation R@1; within 0.5 points, the highest "
              f"validation cosine): **{chosen['mode']}**."]
    table = "\n".join(lines)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(f"{args.out}.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    Path(f"{args.out}.md").write_text(f"# Partial freezing vs full fine-tuning at equal wall time\n\n{table}\n",
                                      encoding="utf-8")
    return table


if __name__ == "__main__":
    sys.exit(main())
