"""`python -m evaluation retrieval|zero-shot`: load a test set, run the three baselines, write and print the report.

Thin layer: argument parsing and dataset choice here; the work is in `evaluation.run`, the files in
`evaluation.report`. Results of earlier runs into the same --out folder are kept (merged by set name).
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path
from typing import Sequence

from turkish_clip.errors import InputError, UserError, at_least
from turkish_clip.models import DEFAULT_CLIP, ENV_CLIP, ENV_HEAD, ENV_MODEL, MONATIS_ENCODER

log = logging.getLogger("evaluation")
RETRIEVAL_SETS = ("xtd10", "xm3600", "flickr", "coco-karpathy", "captions-tsv")
ZERO_SHOT_SETS = ("cifar10", "cifar100", "labels-tsv", "folder")

EPILOG = f"""datasets (files are yours; nothing is downloaded):
  xtd10          --captions FOLDER with test_1kcaptions_<lang>.txt + test_image_names.txt (+ _en for the upper
                 bound), --images the COCO image folder (train2014/ or 2017-style names)
  xm3600         --captions captions.jsonl (Crossmodal-3600), --images the folder of <key>.jpg
  flickr         --captions dataset_flickr8k.json or a Flickr8k.token.txt-style file (TasvirEt), --images the
                 Flickr8k images; --split-file Flickr_8k.testImages.txt, --english Flickr8k.token.txt (upper bound)
  coco-karpathy  --captions dataset_coco.json, --images the COCO folder, --translations your Turkish translations
                 keyed by sentid (without them the set is English only)
  captions-tsv   --captions captions.tsv (image<TAB>caption, optional header image/caption/en), --images base folder
  cifar10/100    --images the unpacked python version (cifar-10-batches-py / cifar-100-python) or root/<class>/
  labels-tsv     --labels labels.tsv (image<TAB>class), --images base folder, --classes classes.txt (label order)
  folder         --images root/<class>/<images>
  Class names in --lang: shipped lists for CIFAR (tr, hi); otherwise the class names themselves or --names FILE.
  --names-en FILE (one English name per class, label order) adds the upper-bound row.

models (flag, else environment variable, else default; as in inference.py):
  --model / {ENV_MODEL}  trained student folder (default ./student) or a Hugging Face encoder id/folder such as
                        {MONATIS_ENCODER} with --head / {ENV_HEAD} clip_head.h5
  --clip  / {ENV_CLIP}   CLIP (default {DEFAULT_CLIP}): image tower and the baseline text tower
  Without the real models, `make smoke` runs this on tiny untrained models.

examples:
  python -m evaluation retrieval --dataset xtd10 --captions XTD10/test --images coco/ --out results/
  python -m evaluation retrieval --dataset xm3600 --captions xm3600/captions.jsonl --images xm3600/images --out results/
  python -m evaluation retrieval --dataset flickr --captions tasviret.json --images Flicker8k_Dataset --out results/
  python -m evaluation retrieval --dataset captions-tsv --captions my_captions.tsv --out results/
  python -m evaluation zero-shot --dataset cifar10 --images cifar-10-batches-py --out results/
  python -m evaluation zero-shot --dataset folder --images photos_by_class/ --names-en english.txt --out results/
  python -m evaluation retrieval --dataset xm3600 --lang hi --captions xm3600/captions.jsonl --images xm3600/images
  python -m evaluation zero-shot --dataset cifar100 --lang hi --images cifar-100-python --out results_hi/
outputs in --out: results.json, results.md, recall_<set>.png, confusion_<set>_<model>.png, cache/ (image vectors)
"""


def _options() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--out", default="results", help="results folder (default ./results)")
    common.add_argument("--cache", help="image-embedding cache folder (default: OUT/cache)")
    common.add_argument("--name", help="name of the set in the report (default: from the files)")
    common.add_argument("--lang", metavar="CODE", help="language of the captions / class names, ISO code (default: the one the "
                        "student was trained for, else tr); zero-shot uses its shipped templates and CIFAR names")
    common.add_argument("--model", help=f"text model: student folder or HF encoder id/folder (env {ENV_MODEL})")
    common.add_argument("--head", help=f"clip_head.h5 (env {ENV_HEAD}; a student folder uses its own)")
    common.add_argument("--force", action="store_true",
                        help="load a head whose encoder fingerprint disagrees with the encoder (warning, not error)")
    common.add_argument("--clip", help=f"CLIP name, .pt file or HF folder (env {ENV_CLIP}; default {DEFAULT_CLIP})")
    common.add_argument("--device", help="cpu, cuda or cuda:N, for CLIP (torch) and the student (TensorFlow) alike "
                                         "(default: cuda if available)")
    common.add_argument("--backend", choices=["tf", "onnx"], help="text model runtime: tf or onnx (a folder of "
                        "`distill export --format onnx`; default: onnx for such a folder)")
    common.add_argument("--batch-size", type=at_least(1), default=64, help="texts per batch (default 64)")
    common.add_argument("--image-batch-size", type=at_least(1), default=32, help="images per batch (default 32)")
    common.add_argument("--no-progress", action="store_true", help="no progress bars")
    common.add_argument("-v", "--verbose", action="store_true", help="log what is loaded and done")
    return common


def build_parser() -> argparse.ArgumentParser:
    common = _options()
    parser = argparse.ArgumentParser(prog="python -m evaluation", epilog=EPILOG,
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     description="Evaluate the student text encoder against CLIP: the student on "
                                                 "the text in --lang (Turkish by default), CLIP on the same text (lower "
                                                 "bound) and CLIP on English (upper bound), side by side.")
    sub = parser.add_subparsers(dest="command", required=True)
    kw = dict(parents=[common], epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    retrieval = sub.add_parser("retrieval", help="text<->image Recall@1/5/10 (and fidelity with aligned English)", **kw)
    retrieval.add_argument("--dataset", required=True, choices=RETRIEVAL_SETS)
    retrieval.add_argument("--captions", required=True, help="captions file or folder (see datasets below)")
    retrieval.add_argument("--images", help="image folder (captions-tsv: default the TSV's folder)")
    retrieval.add_argument("--split", default="test", help="Karpathy JSON split (default test)")
    retrieval.add_argument("--split-file", help="flickr: image list of the split (Flickr_8k.testImages.txt)")
    retrieval.add_argument("--english", help="flickr: English captions of the same images (upper bound)")
    retrieval.add_argument("--translations", help="coco-karpathy: Turkish captions keyed by sentid")
    zero_shot = sub.add_parser("zero-shot", help="zero-shot classification top-1/top-5 with prompts in --lang", **kw)
    zero_shot.add_argument("--dataset", required=True, choices=ZERO_SHOT_SETS)
    zero_shot.add_argument("--images", required=True, help="images (see datasets below)")
    zero_shot.add_argument("--labels", help="labels-tsv: the labels.tsv file")
    zero_shot.add_argument("--classes", help="classes.txt: class names in label order")
    zero_shot.add_argument("--names", "--names-tr", dest="names_tr", metavar="FILE",
                           help="class names in --lang, one per line in label order")
    zero_shot.add_argument("--names-en", help="English class names, one per line in label order (upper bound)")
    zero_shot.add_argument("--template", action="append", metavar="TEXT",
                           help="prompt template in --lang with {} (repeatable; default: the shipped templates)")
    return parser


def _need(value, flag: str, dataset: str):
    if not value:
        raise InputError(f"--dataset {dataset} needs {flag}; see python -m evaluation --help")
    return value


def load_retrieval_set(args):
    from evaluation import datasets, datasets_coco, datasets_flickr, datasets_xm3600

    d = args.dataset
    if d == "captions-tsv":
        result = datasets.load_captions_tsv(args.captions, args.images, lang=args.lang, name=args.name)
    elif d == "xtd10":
        result = datasets_coco.load_xtd10(args.captions, _need(args.images, "--images", d), lang=args.lang)
    elif d == "xm3600":
        result = datasets_xm3600.load_crossmodal3600(args.captions, _need(args.images, "--images", d), lang=args.lang)
    elif d == "flickr":
        result = datasets_flickr.load_flickr(args.captions, _need(args.images, "--images", d), split=args.split,
                                             lang=args.lang, split_file=args.split_file, english=args.english,
                                             name=args.name)
    else:
        result = datasets_coco.load_coco_karpathy(args.captions, _need(args.images, "--images", d), split=args.split,
                                                  translations=args.translations, lang=args.lang)
    if args.name:
        result.name = args.name
    return result


def _name_file(path: str | None, n_classes: int, flag: str) -> list[str] | None:
    from evaluation.classification import read_class_list

    if path is None:
        return None
    names = read_class_list(path)
    if len(names) != n_classes:
        raise InputError(f"{flag} {path}: {len(names)} names for {n_classes} classes; one name per class, label order")
    return names


def load_zero_shot_set(args, cache: Path):
    """(ClassificationSet, class names in args.lang, English names or None)."""
    from evaluation.classification import load_image_folder, load_labels_tsv, read_class_list
    from evaluation.datasets_cifar import load_cifar
    from evaluation.labels import names_for

    d = args.dataset
    if d in ("cifar10", "cifar100"):
        dataset, english = load_cifar(args.images, d, cache)
        turkish = names_for(english, d, args.lang)
    else:
        classes = read_class_list(args.classes) if args.classes else None
        if d == "labels-tsv":
            dataset = load_labels_tsv(_need(args.labels, "--labels", d), args.images, classes=classes, name=args.name)
        else:
            dataset = load_image_folder(args.images, classes=classes, name=args.name)
        turkish, english = list(dataset.classes), None
    n = len(dataset.classes)
    turkish = _name_file(args.names_tr, n, "--names") or turkish
    english = _name_file(args.names_en, n, "--names-en") or english
    if args.name:
        dataset.name = args.name
    return dataset, turkish, english


def _previous(out: Path) -> dict:
    """Results already in out/results.json (kept and merged); {} when none."""
    from evaluation.report import FORMAT

    path = out / "results.json"
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InputError(f"{path} is not valid JSON ({error}); move it away or choose another --out") from None
    if {k: data.get(k) for k in FORMAT} != FORMAT:
        raise InputError(f"{path} is not a turkish-clip evaluation file; choose another --out")
    return {k: v for k, v in data.items() if k not in FORMAT}


def resolve_lang(args) -> str:
    """--lang, else the language the student records (student.json "lang"), else tr. Zero-shot needs shipped
    resources (one line listing the languages that have them); retrieval takes any code (e.g. Crossmodal-3600's)."""
    from turkish_clip.languages import DEFAULT_LANG, language
    from turkish_clip.models import model_language

    lang = args.lang or model_language(args.model, args.head) or DEFAULT_LANG
    return language(lang).code if args.command == "zero-shot" else lang


def run(args) -> str:
    """Load the set (fast errors first), then the models; evaluate, write the report, return the table."""
    from evaluation.report import markdown_tables, write_report
    from evaluation.run import evaluate_retrieval, evaluate_zero_shot, merge
    from inference_api.api import TurkishCLIP

    out = Path(args.out)
    cache = Path(args.cache) if args.cache else out / "cache"
    args.lang = resolve_lang(args)
    if args.batch_size < 1 or args.image_batch_size < 1:
        raise InputError("--batch-size and --image-batch-size must be >= 1")
    previous = _previous(out)
    if args.command == "retrieval":
        dataset = load_retrieval_set(args)
    else:
        dataset, turkish, english = load_zero_shot_set(args, cache)
        if args.template:
            from inference_api.zeroshot import check_templates

            check_templates(args.template)  # "bir {} {x}" or "{} {": one line naming the template
    model = TurkishCLIP(args.model, args.head, args.clip, device=args.device, batch_size=args.batch_size,
                        image_batch_size=args.image_batch_size, backend=args.backend, force=args.force)
    model.check_models()
    progress = not args.no_progress
    if args.command == "retrieval":
        results = evaluate_retrieval(dataset, model, cache_dir=cache, progress=progress, lang=args.lang)
    else:
        results = evaluate_zero_shot(dataset, model, cache_dir=cache, names_tr=turkish, names_en=english,
                                     templates_tr=args.template, progress=progress, lang=args.lang)
    written = write_report(merge(previous, results), out)
    files = "\n".join(f"  {path}" for path in written.values())
    return f"{markdown_tables(results)}\nwritten:\n{files}"


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    from turkish_clip.runtime import setup_tensorflow

    setup_tensorflow(verbose=args.verbose)  # -v also shows TF's start-up logs (TF loads later, with the models)
    if not args.verbose:  # transformers' load chatter
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    try:
        print(run(args))
    except UserError as error:
        print(f"error: {' '.join(str(error).split())}", file=sys.stderr)
        return 2
    return 0
