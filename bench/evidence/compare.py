"""One picture of the evidence recipes against compute: R@1 on the test pool against wall minutes for each committed
evidence run (`bench/results/evidence*.json`), the peers and the 30-minute budget.

Usage: python -m bench.evidence.compare [--out bench/results/evidence_recipes.png]
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from . import report

RESULTS = Path(__file__).resolve().parents[2] / "bench" / "results"
RUNS = {  # file stem -> legend
    "evidence": "recipe: stage 1 on 20k rows, half the encoder frozen",
    "evidence_allweights": "first recipe: all weights in stage 2",
    "evidence_lora": "LoRA r=8 in stage 2",
}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.evidence.compare", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--results", default=str(RESULTS), help="folder with the evidence JSON files")
    p.add_argument("--out", default=str(RESULTS / "evidence_recipes.png"))
    args = p.parse_args(argv)
    runs = {label: json.loads((Path(args.results) / f"{stem}.json").read_text(encoding="utf-8"))
            for stem, label in RUNS.items() if (Path(args.results) / f"{stem}.json").is_file()}
    if not runs:
        print(f"error: no evidence results in {args.results}; run python -m bench.evidence.run first", file=sys.stderr)
        return 2
    report.plot_recipes(runs, args.out)
    for label, r in runs.items():
        budget = r.get("goals", {})
        print(f"{label}: R@1 {100 * r['student_test']['stage2']['R@1']:.1f} % at {r['seconds_total'] / 60:.1f} min; "
              f"within 30 min {100 * (budget.get('r1_within_budget') or 0):.1f} %")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
