"""What the benchmarks share: where the real data is (../shared, or the shipped samples in a fresh clone) and a
timer that also reports CPU seconds (steadier than wall time on a shared machine)."""
from __future__ import annotations

import gzip
import json
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("TURKISH_CLIP_SHARED", REPO.parent / "shared"))
COCO = SHARED / "data" / "coco" / "captions_val2017.json.gz"
TATOEBA = SHARED / "data" / "tatoeba" / "eng-tur.tsv"
SAMPLES = REPO / "tests" / "samples"
COCO_SAMPLE = SAMPLES / "coco_captions_val2017_sample.json"
TATOEBA_SAMPLE = SAMPLES / "tatoeba_eng_tur_sample.tsv"
RESULTS = REPO / "bench" / "results"


def _fallback(real: Path, sample: Path) -> Path:
    if real.exists():
        return real
    print(f"note: {real} not found; using the shipped sample {sample.name} (numbers are less representative)",
          file=sys.stderr)
    return sample


def coco_captions() -> tuple[list[str], str]:
    """The English COCO val2017 captions as published (25,014), or the shipped 300-caption sample."""
    path = _fallback(COCO, COCO_SAMPLE)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as file:
        return [a["caption"] for a in json.load(file)["annotations"]], str(path)


def turkish_sentences() -> tuple[list[str], str]:
    """The Turkish side of Tatoeba eng-tur (73,841 pairs), or the shipped 300-pair sample."""
    path = _fallback(TATOEBA, TATOEBA_SAMPLE)
    lines = path.read_text(encoding="utf-8").splitlines()[1:]
    return [line.split("\t")[1] for line in lines if "\t" in line], str(path)


def timed(fn):
    """(result, wall seconds, this process's CPU seconds)."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return result, time.perf_counter() - wall, time.process_time() - cpu
