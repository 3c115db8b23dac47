"""Translation throughput at the real opus-mt-tc-big-en-tr size: unsorted fixed batches vs ours (and CTranslate2).

Random weights (fixed seed) never stop on their own, so every method decodes exactly the same per-sentence budget,
ceil(factor × source tokens), and a batch runs as long as its longest budget, as a trained model's batch runs until
its longest translation ends. Naive = batches of --batch-size in the captions' own order through `model.generate`;
ours = `Translator.translate` (length-sorted batches of the same size); ctranslate2 = the same batches on the model
converted to CTranslate2 int8. Real COCO val2017 caption lengths, tokenised by a sentencepiece model trained on the
COCO captions (EN) and Tatoeba (TR). Usage: python -m bench.translation_throughput [--n N] [--batch-size B]
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import tempfile
from pathlib import Path

import numpy as np

os.environ.setdefault("USE_TF", "0")

import torch  # noqa: E402

from bench.common import RESULTS as RESULTS_DIR  # noqa: E402
from bench.common import coco_captions, timed, turkish_sentences  # noqa: E402
from data_tools import tiny_marian  # noqa: E402
from data_tools.translate import (CTranslate2Translator, MarianTranslator, TranslateOptions,  # noqa: E402
                                  convert_to_ctranslate2)

RESULTS = RESULTS_DIR / "translation_throughput.json"


def load_texts() -> tuple[list[str], list[str], str]:
    """All COCO val2017 captions and Tatoeba Turkish sentences (the shipped samples if ../shared is absent)."""
    english, source = coco_captions()
    turkish, _ = turkish_sentences()
    return [caption.strip() for caption in english], turkish, source


def naive_translate(model, tokenizer, captions: list[str], batch_size: int, factor: float) -> tuple[list, int]:
    """The usual loop: fixed batches in input order, tokenizer(padding=True), generate until the batch's budget."""
    outputs, slots = [], 0
    with torch.inference_mode():
        for start in range(0, len(captions), batch_size):
            inputs = tokenizer(captions[start : start + batch_size], padding=True, return_tensors="pt")  # [b, longest]
            budget = math.ceil(factor * inputs["input_ids"].shape[1])
            out = model.generate(**inputs, num_beams=1, do_sample=False, max_new_tokens=budget, min_new_tokens=budget,
                                 forced_eos_token_id=None)  # [b, 1 + budget]
            outputs += out[:, 1:].tolist()
            slots += out.shape[0] * budget
    return outputs, slots


def sorted_slots(translator, captions: list[str], batch_size: int) -> int:
    """Decoder token slots that the length-sorted batches spend (batch size × the batch's budget, summed)."""
    lengths = [len(ids) for ids in translator.encode(captions)]
    return sum(len(b) * translator.options.length_cap(lengths[b[0]]) for b in translator.batches(lengths, batch_size))


def run(n: int, batch_size: int, factor: float, seed: int, threads: int, ct2: bool, repeats: int = 2) -> dict:
    with tempfile.TemporaryDirectory(prefix="translation-bench-") as work:  # tokenizer files, CTranslate2 model
        return _run(Path(work), n, batch_size, factor, seed, threads, ct2, repeats)


def _run(work: Path, n: int, batch_size: int, factor: float, seed: int, threads: int, ct2: bool,
         repeats: int) -> dict:
    if threads:
        torch.set_num_threads(threads)
    english, turkish, source = load_texts()
    rng = np.random.default_rng(seed)
    captions = [english[i] for i in rng.choice(len(english), size=n, replace=n > len(english))]
    config = tiny_marian.tc_big_config()
    tokenizer = tiny_marian.write_tokenizer(work / "hf", english, turkish, spm_vocab_size=24000,
                                            model_vocab_size=config.vocab_size)
    config.save_pretrained(work / "hf")  # config + tokenizer, no weights: what the CTranslate2 converter reads
    model = tiny_marian.random_marian(config, seed)  # [~236 M parameters], in memory only
    options = TranslateOptions(batch_size=batch_size, max_length=1024, max_length_factor=factor, max_length_offset=0,
                               force_length=True)
    ours = MarianTranslator(model, tokenizer, options, "random opus-mt-tc-big-en-tr", "tr")
    lengths = [len(ids) for ids in ours.encode(captions)]
    useful = sum(options.length_cap(x) for x in lengths)
    naive_translate(model, tokenizer, captions[:4], 4, factor)  # warm up
    ours.translate(captions[:4])

    # Repeat in ABBA order and keep each method's best time: other jobs on a shared machine come and go.
    runs = {"naive": lambda: naive_translate(model, tokenizer, captions, batch_size, factor),
            "ours": lambda: ours.translate(captions)}
    if ct2:
        import ctranslate2

        folder = convert_to_ctranslate2(model, work / "ct2-int8", "int8", config_dir=work / "hf")
        engine = ctranslate2.Translator(str(folder), device="cpu", compute_type="int8",
                                        intra_threads=threads or torch.get_num_threads())
        fast = CTranslate2Translator(engine, tokenizer, options, "random opus-mt-tc-big-en-tr (int8)", "tr")
        fast.translate(captions[:4])
        runs["ct2"] = lambda: fast.translate(captions)
    best, outputs = {}, {}
    for i in range(repeats):
        for name in (list(runs) if i % 2 == 0 else list(runs)[::-1]):
            outputs[name], wall, cpu = timed(runs[name])
            old = best.get(name, (math.inf, math.inf))
            best[name] = (min(old[0], wall), min(old[1], cpu))
    naive_ids, naive_slots = outputs["naive"]
    rows = {"naive (unsorted fixed batches)": {"slots": naive_slots},
            "ours (length-sorted, torch)": {"slots": sorted_slots(ours, captions, batch_size)}}
    if ct2:
        rows["ours + CTranslate2 int8"] = {"slots": sorted_slots(fast, captions, batch_size)}
    for row, name in zip(rows.values(), runs):
        row.update(wall_s=best[name][0], cpu_s=best[name][1])
    naive_text = [tokenizer.decode(ids[: options.length_cap(x)], skip_special_tokens=True)
                  for ids, x in zip(naive_ids, lengths)]
    same = sum(a == b for a, b in zip(naive_text, outputs["ours"]))

    base = rows["naive (unsorted fixed batches)"]
    for row in rows.values():
        row.update(sentences_per_s=n / row["wall_s"], speedup_wall=base["wall_s"] / row["wall_s"],
                   speedup_cpu=base["cpu_s"] / row["cpu_s"], padding_waste=1 - useful / row["slots"])
    return {
        "n": n, "batch_size": batch_size, "repeats": repeats, "length_factor": factor, "seed": seed, "captions": source,
        "model": "opus-mt-tc-big-en-tr architecture, random weights (d_model 1024, 6+6 layers, 16 heads, ffn 4096, "
                 f"vocab {config.vocab_size})",
        "source_tokens": {"mean": float(np.mean(lengths)), "max": int(max(lengths))}, "useful_slots": useful,
        "naive_vs_ours_same_text": f"{same}/{n}", "methods": rows,
        "machine": {"cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(), "torch": torch.__version__,
                    "transformers": __import__("transformers").__version__, "python": platform.python_version(),
                    "ctranslate2": __import__("ctranslate2").__version__ if ct2 else None,
                    "platform": platform.platform(), "load_average": os.getloadavg()},
    }


def table(r: dict) -> str:
    lines = [f"n = {r['n']} COCO captions (mean {r['source_tokens']['mean']:.1f} source tokens, max "
             f"{r['source_tokens']['max']}), batch {r['batch_size']}, "
             f"budget ceil({r['length_factor']} × source tokens), "
             f"{r['machine']['torch_threads']} threads, best of {r['repeats']}; naive and ours gave the same text for "
             f"{r['naive_vs_ours_same_text']}",
             "", "| method | decoder slots | padding waste | wall s | sentences/s | speed-up (wall) | speed-up (CPU) |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for name, m in r["methods"].items():
        lines.append(f"| {name} | {m['slots']} | {m['padding_waste']:.0%} | {m['wall_s']:.1f} | "
                     f"{m['sentences_per_s']:.2f} | {m['speedup_wall']:.2f}× | {m['speedup_cpu']:.2f}× |")
    return "\n".join(lines)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=256, help="captions (default: %(default)s)")
    p.add_argument("--batch-size", type=int, default=32,
                   help="sentences per batch, every method (default: %(default)s)")
    p.add_argument("--factor", type=float, default=1.2, help="new tokens per source token (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=0, help="torch / CTranslate2 threads (default: torch's)")
    p.add_argument("--repeats", type=int, default=2, help="runs per method, best kept (default: %(default)s)")
    p.add_argument("--no-ct2", action="store_true", help="skip CTranslate2")
    p.add_argument("--out", type=Path, default=RESULTS)
    args = p.parse_args(argv)
    result = run(args.n, args.batch_size, args.factor, args.seed, args.threads, not args.no_ct2, args.repeats)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(table(result))


if __name__ == "__main__":
    main()
