"""`python -m harness.smoke`: the whole pipeline end to end on tiny UNTRAINED models built on the fly.

bundled COCO captions -> tiny Marian translation -> tiny CLIP teacher vectors -> two-stage distillation of a tiny
DistilBERT -> zero-shot classification and search of demo/images with inference.py -> retrieval evaluation
(python -m evaluation) of the demo photos with Turkish captions. It proves an installation
works where the real models cannot be reached; its numbers say nothing about quality.
"""
from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from turkish_clip.runtime import setup_tensorflow

setup_tensorflow()  # tf-keras, quiet TF logs, GPU memory growth: before anything imports TensorFlow
from turkish_clip.errors import UserError  # noqa: E402

REPO = Path(__file__).resolve().parent.parent  # the harness runs from a checkout: it needs tests/samples
log = logging.getLogger(__name__)
SAMPLES = REPO / "tests" / "samples"
BANNER = ("#" * 100 + "\n#  SMOKE TEST WITH TINY, UNTRAINED MODELS (random weights, a few seconds of training on 300 captions).\n"
          "#  It checks that every step runs end to end. The probabilities and scores below are MEANINGLESS;\n"
          "#  for real results point inference.py at the real models (python inference.py --help).\n" + "#" * 100)

HTML_BANNER = ('<body><p style="background:#b91c1c;color:#fff;padding:10px;font-weight:700">SMOKE TEST with TINY, '
               'UNTRAINED models: these matches and scores are meaningless.</p>')


def build_models(models: Path) -> dict[str, Path]:
    """Tiny Marian (en->tr), tiny CLIP (.pt, 512-dim like ViT-B/32) and tiny DistilBERT, in the real formats."""
    import distill  # noqa: F401  (tf-keras before TensorFlow)
    from data_tools.tiny import build_openai_clip
    from data_tools.tiny_marian import build_marian, sample_texts
    from distill.tiny import build_distilbert

    english, turkish = sample_texts(SAMPLES)
    return {"marian": build_marian(models / "opus-mt-tiny", english, turkish),
            "clip": build_openai_clip(models / "tiny-ViT-B-32.pt", embed_dim=512),
            "distilbert": build_distilbert(models / "distilbert-tiny", turkish)}


def run(workdir: Path) -> float:
    """Every step into `workdir`; prints each step's summary and the zero-shot table; returns seconds taken."""
    from data_tools.pipeline import EmbedConfig, TranslateConfig, build_captions, embed_captions, translate_captions
    from distill.config import StageConfig, TrainConfig
    from distill.train import train

    import inference

    began = time.perf_counter()
    print(BANNER, flush=True)
    step = lambda text: print(f"\n== {text} ({time.perf_counter() - began:.0f} s)", flush=True)  # noqa: E731
    step("building tiny models (Marian en->tr, CLIP, DistilBERT)")
    models = build_models(workdir / "models")
    data = workdir / "data"
    step("captions: the bundled COCO val2017 sample")
    print(build_captions(data, [SAMPLES / "coco_captions_val2017_sample.json"]).summary())
    step("translation with the tiny Marian")
    print(translate_captions(data, TranslateConfig(model=str(models["marian"]), batch_size=64, max_length=40)).summary())
    step("teacher vectors with the tiny CLIP text tower")
    print(embed_captions(data, EmbedConfig(teacher=str(models["clip"]), dtype="float32", batch_size=64)).summary())
    step("two-stage distillation (stage 1: head only, stage 2: everything)")
    config = TrainConfig(data_dir=str(data), model=str(models["distilbert"]), run_dir=str(workdir / "run"),
                         output_dir=str(workdir / "student"), head_path=str(workdir / "clip_head.h5"),
                         max_length=32, val_fraction=0.1, verbose=0,
                         stage1=StageConfig(epochs=2, learning_rate=1e-3, batch_size=32),
                         stage2=StageConfig(epochs=1, learning_rate=1e-4, batch_size=32, warmup_fraction=0.1,
                                            decay="linear"))
    result = train(config)
    for record in result["history"]:
        loss = "-" if record["loss"] is None else f"{record['loss']:.5f}"
        print(f"  stage {record['stage']} epoch {record['epoch']}: loss {loss}  val_mse {record['val_mse']:.5f}  "
              f"val_cosine {record['val_cosine']:.4f}")
    step("zero-shot classification of demo/images with inference.py")
    args = ["--model", str(workdir / "student"), "--clip", str(models["clip"])]
    code = inference.main(args)
    step("search of demo/images with inference.py")
    code = code or inference.main(["search", "--images", str(inference.DEMO_IMAGES), "--query", "bir kedi fotoğrafı",
                                   "--top", "3", "--index", str(workdir / "index.npz"),
                                   "--html", str(workdir / "contact_sheet.html"), *args])
    if code:
        raise UserError("inference failed on the smoke models (see above)")
    step("evaluation: retrieval on the 6 demo photos with 12 hand-written Turkish captions (TINY UNTRAINED models: "
         "the numbers are meaningless)")
    from evaluation.cli import main as evaluate
    from evaluation.demo import write_demo_captions

    captions = write_demo_captions(workdir / "evaluation" / "demo_captions.tsv")
    if evaluate(["retrieval", "--dataset", "captions-tsv", "--captions", str(captions), "--name", "demo-tiny-untrained",
                 "--out", str(workdir / "evaluation"), "--no-progress", *args]):
        raise UserError("evaluation failed on the smoke models (see above)")
    sheet = workdir / "contact_sheet.html"
    sheet.write_text(sheet.read_text(encoding="utf-8").replace("<body>", HTML_BANNER, 1), encoding="utf-8")
    return time.perf_counter() - began


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.smoke", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", help="where to build everything (default: a new temporary folder)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (always kept with --workdir)")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # every model is local: never wait for the hub
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    workdir = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="turkish-clip-smoke-"))
    if args.workdir and workdir.exists() and any(workdir.iterdir()):
        print(f"error: --workdir {workdir} is not empty; give a new or empty folder", file=sys.stderr)
        return 2
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        seconds = run(workdir)
    except UserError as error:
        print(f"error: smoke test failed: {error} (files in {workdir})", file=sys.stderr)
        return 2
    print(f"\nSMOKE OK in {seconds:.0f} s: captions -> translation -> teacher -> two-stage training -> zero-shot "
          f"-> search -> evaluation all ran, on TINY UNTRAINED models.")
    if args.workdir or args.keep:
        print(f"outputs in {workdir} (contact sheet: {workdir / 'contact_sheet.html'})")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
