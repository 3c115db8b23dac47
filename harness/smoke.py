"""`python -m harness.smoke`: the whole pipeline end to end on tiny UNTRAINED models built on the fly.

bundled COCO captions -> tiny Marian translation -> tiny CLIP teacher vectors -> two-stage distillation of a tiny
DistilBERT -> zero-shot classification and search of demo/images with inference.py -> retrieval evaluation
(python -m evaluation) of the demo photos with hand-written captions; `--lang hi` does all of it in Hindi. It proves an installation
works where the real models cannot be reached; its numbers say nothing about quality.
"""
from __future__ import annotations

import argparse
import contextlib
import io
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


def build_models(models: Path, lang: str = "tr") -> dict[str, Path]:
    """Tiny Marian (en->lang), tiny CLIP (.pt, 512-dim like ViT-B/32) and tiny DistilBERT, in the real formats.
    Turkish vocabularies come from the Tatoeba sample, other languages' from their shipped texts (languages/)."""
    import distill  # noqa: F401  (tf-keras before TensorFlow)
    from data_tools.tiny import build_openai_clip
    from data_tools.tiny_marian import build_marian, sample_texts
    from distill.tiny import build_distilbert
    from turkish_clip.languages import sample_texts as language_texts

    english, target = sample_texts(SAMPLES)
    if lang != "tr":
        target = language_texts(lang)
    return {"marian": build_marian(models / f"opus-mt-tiny-en-{lang}", english, target, target_lang=lang),
            "clip": build_openai_clip(models / "tiny-ViT-B-32.pt", embed_dim=512),
            "distilbert": build_distilbert(models / f"distilbert-tiny-{lang}", target)}


def run(workdir: Path, lang: str = "tr") -> float:
    """Every step into `workdir`, in language `lang`; prints each step's summary and the zero-shot table; returns
    seconds taken."""
    from data_tools.pipeline import EmbedConfig, TranslateConfig, build_captions, embed_captions, translate_captions
    from distill.config import StageConfig, TrainConfig
    from distill.train import train

    import inference
    from turkish_clip.languages import demo_labels, fill_templates, language, templates

    name = language(lang).name
    began = time.perf_counter()
    print(BANNER, flush=True)
    step = lambda text: print(f"\n== {text} ({time.perf_counter() - began:.0f} s)", flush=True)  # noqa: E731
    step(f"building tiny models (Marian en->{lang}, CLIP, DistilBERT with a {name} vocabulary)")
    models = build_models(workdir / "models", lang)
    data = workdir / "data"
    step("captions: the bundled COCO val2017 sample")
    print(build_captions(data, [SAMPLES / "coco_captions_val2017_sample.json"]).summary())
    step(f"translation into {name} with the tiny Marian")
    print(translate_captions(data, TranslateConfig(model=str(models["marian"]), target_lang=lang, batch_size=64,
                                                   max_length=40)).summary())
    step("teacher vectors with the tiny CLIP text tower")
    print(embed_captions(data, EmbedConfig(teacher=str(models["clip"]), dtype="float32", batch_size=64)).summary())
    step("two-stage distillation (stage 1: head only, stage 2: everything)")
    config = TrainConfig(data_dir=str(data), lang=lang, model=str(models["distilbert"]), run_dir=str(workdir / "run"),
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
    step(f"zero-shot classification of demo/images with inference.py ({name} labels and templates)")
    args = ["--model", str(workdir / "student"), "--clip", str(models["clip"]), "--lang", lang]
    code = inference.main(args)
    step("search of demo/images with inference.py")
    query = fill_templates(demo_labels(lang)[:1], templates(lang)[:1])[0][0]  # "bir kedi fotoğrafı."
    code = code or inference.main(["search", "--images", str(inference.DEMO_IMAGES), "--query", query,
                                   "--top", "3", "--index", str(workdir / "index.npz"),
                                   "--html", str(workdir / "contact_sheet.html"), *args])
    if code:
        raise UserError("inference failed on the smoke models (see above)")
    step(f"evaluation: retrieval on the 6 demo photos with 12 hand-written {name} captions (TINY UNTRAINED models: "
         "the numbers are meaningless)")
    from evaluation.cli import main as evaluate
    from evaluation.demo import write_demo_captions

    captions = write_demo_captions(workdir / "evaluation" / "demo_captions.tsv", lang=lang)
    if evaluate(["retrieval", "--dataset", "captions-tsv", "--captions", str(captions), "--name", "demo-tiny-untrained",
                 "--out", str(workdir / "evaluation"), "--no-progress", *args]):
        raise UserError("evaluation failed on the smoke models (see above)")
    sheet = workdir / "contact_sheet.html"
    sheet.write_text(sheet.read_text(encoding="utf-8").replace("<body>", HTML_BANNER, 1), encoding="utf-8")
    return time.perf_counter() - began


class _HiddenFolder(io.TextIOBase):
    """stdout with a temporary folder's path shown as <tmp>: its files are deleted at the end, so naming them
    would only mislead (--keep or --workdir show the real paths)."""

    def __init__(self, stream, folder: Path):
        self.stream, self.folder = stream, str(folder)

    def write(self, text: str) -> int:
        return self.stream.write(text.replace(self.folder, "<tmp>"))

    def flush(self) -> None:
        self.stream.flush()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.smoke", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", help="where to build everything (default: a new temporary folder)")
    parser.add_argument("--keep", action="store_true",
                        help="keep the temporary folder and print its paths (always kept with --workdir)")
    parser.add_argument("--lang", default="tr", help="language of the whole run, ISO code (default: %(default)s; "
                        "hi: Hindi translations, student, labels and captions)")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # every model is local: never wait for the hub
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    from turkish_clip.languages import language

    try:
        args.lang = language(args.lang).code
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    workdir = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="turkish-clip-smoke-"))
    if args.workdir and workdir.exists() and any(workdir.iterdir()):
        print(f"error: --workdir {workdir} is not empty; give a new or empty folder", file=sys.stderr)
        return 2
    workdir.mkdir(parents=True, exist_ok=True)
    keep = bool(args.workdir or args.keep)
    try:
        with contextlib.redirect_stdout(sys.stdout if keep else _HiddenFolder(sys.stdout, workdir)):
            seconds = run(workdir, args.lang)
    except UserError as error:
        print(f"error: smoke test failed: {error} (files kept in {workdir})", file=sys.stderr)
        return 2
    print(f"\nSMOKE OK ({args.lang}) in {seconds:.0f} s: captions -> translation -> teacher -> two-stage training -> zero-shot "
          f"-> search -> evaluation all ran, on TINY UNTRAINED models.")
    if keep:
        print(f"outputs in {workdir} (contact sheet: {workdir / 'contact_sheet.html'})")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
        print("(<tmp>: a temporary folder, now deleted; --keep or --workdir DIR keeps the outputs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
