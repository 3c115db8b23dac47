"""Turkish CLIP inference: `encode_text` (Turkish text -> CLIP ViT-B/32 space), `encode_image`, zero-shot
classification and image search. Library use:

    from inference import encode_text, encode_image
    text = encode_text(["bir kedi fotoğrafı", "kumsalda gün batımı"])  # float32 [2, 512], unit rows
    image = encode_image(["demo/images/cat.jpg"])                       # float32 [1, 512], unit rows
    similarity = text @ image.T

Models load lazily once and are reused; `TurkishCLIP(model=..., head=..., clip=...)` gives explicit control.
Run `python inference.py --help` for the command line.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import Sequence

from turkish_clip.runtime import setup_tensorflow

setup_tensorflow()  # tf-keras, quiet TF logs, GPU memory growth: before anything imports TensorFlow
from inference_api.api import (DEMO_IMAGES, SHIPPED, TurkishCLIP, check_query, default_model,  # noqa: E402
                               encode_image, encode_text)
from inference_api.zeroshot import DEMO_LABELS, TEMPLATES  # noqa: E402
from turkish_clip.errors import InputError, UserError, at_least  # noqa: E402
from turkish_clip.models import DEFAULT_CLIP, ENV_CLIP, ENV_HEAD, ENV_MODEL, MONATIS_ENCODER  # noqa: E402

__all__ = ["TurkishCLIP", "default_model", "encode_text", "encode_image", "check_query", "main"]
log = logging.getLogger("inference")


# ------------------------------------------------------------------------------------------------ command line

EPILOG = f"""models (flag, else environment variable, else default):
  --model / {ENV_MODEL}  trained student folder (default: ./student, written by `python -m distill train`),
                        or a Hugging Face encoder id/folder such as {MONATIS_ENCODER} (monatis/turkish-clip)
  --head  / {ENV_HEAD}   clip_head.h5 Dense 768->512 (default: the student folder's own, which only --head
                        replaces; a Hugging Face encoder needs it named: ./clip_head.h5 is never picked up)
  --force               load a head trained with another encoder (its fingerprint disagrees) anyway
  --clip  / {ENV_CLIP}   CLIP: OpenAI name ({DEFAULT_CLIP}, cached in ~/.cache/clip or $CLIP_CACHE), an OpenAI .pt
                        file, or a Hugging Face CLIP id/folder
  Without the real models, `make smoke` checks the installation with tiny untrained models.

examples:
  python inference.py                                   # zero-shot demo on demo/images with Turkish labels
  python inference.py classify --images photo.jpg DIR --labels kedi köpek "kahve fincanı"
  python inference.py search --images ~/Pictures --query "kumsalda gün batımı" --top 9 --html sonuc.html
  python inference.py serve --images ~/Pictures          # search page at http://127.0.0.1:8000/
"""


def _common(suppress: bool) -> argparse.ArgumentParser:
    """Options accepted before and after the command; after it they must not reset what was given before."""
    common = argparse.ArgumentParser(add_help=False, argument_default=argparse.SUPPRESS if suppress else None)
    common.add_argument("--model", help=f"text model: student folder or HF encoder id/folder (env {ENV_MODEL})")
    common.add_argument("--head", help=f"clip_head.h5 (env {ENV_HEAD})")
    common.add_argument("--force", action="store_true", default=argparse.SUPPRESS if suppress else False,
                        help="load a head whose encoder fingerprint disagrees with the encoder (warning, not error)")
    common.add_argument("--clip", help=f"CLIP name, .pt file or HF folder (env {ENV_CLIP}; default {DEFAULT_CLIP})")
    common.add_argument("--device", help="cpu, cuda or cuda:N, for CLIP (torch) and the student (TensorFlow) alike "
                                         "(default: cuda if available)")
    common.add_argument("--lang", metavar="CODE", help="language of labels and templates, ISO code (default: the student's, else "
                                       "tr); e.g. hi for the Hindi demo labels and templates")
    common.add_argument("--backend", choices=["tf", "onnx"], help="text model runtime: tf (student folder) or onnx "
                        "(folder of `distill export --format onnx`, run by onnxruntime; default: onnx for such a folder)")
    common.add_argument("--batch-size", type=at_least(1), default=argparse.SUPPRESS if suppress else 64,
                        help="texts per batch (default 64)")
    common.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS if suppress else False,
                        help="log what is loaded and done")
    return common


def _template_options(suppress: bool) -> argparse.ArgumentParser:
    templates = argparse.ArgumentParser(add_help=False, argument_default=argparse.SUPPRESS if suppress else None)
    templates.add_argument("--no-templates", action="store_true", default=argparse.SUPPRESS if suppress else False,
                           help="encode the bare labels, no prompt ensemble")
    templates.add_argument("--template", action="append", metavar="TEXT",
                           help=f"prompt template with {{}} for the label (repeatable; default: the shipped templates "
                                f"of --lang in turkish_clip/languages/<lang>/templates.tsv, e.g. {TEMPLATES[0]!r})")
    return templates


def _parser() -> argparse.ArgumentParser:
    common, sub_common = _common(False), _common(True)
    templates = _template_options(False)
    parser = argparse.ArgumentParser(prog="python inference.py", parents=[common, templates],
                                     description="Turkish zero-shot classification and image search with CLIP. "
                                                 "No command: classify demo/images with Turkish labels.",
                                     epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command")
    classify = sub.add_parser("classify", parents=[sub_common, _template_options(True)], help="zero-shot classify images",
                              epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    classify.add_argument("--images", nargs="+", required=True, help="image files and/or folders")
    classify.add_argument("--labels", nargs="+", required=True, help="Turkish labels, e.g. kedi köpek")
    search = sub.add_parser("search", parents=[sub_common], help="rank a folder's images by a Turkish query",
                            epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    search.add_argument("--images", required=True, help="folder of images (indexed once, refreshed on change)")
    search.add_argument("--query", required=True, help='Turkish description, e.g. "kumsalda gün batımı"')
    search.add_argument("--top", type=at_least(1), default=9, help="number of results (default 9)")
    search.add_argument("--html", help="also write an HTML contact sheet of the results here")
    search.add_argument("--index", help="index file (default: $TURKISH_CLIP_CACHE or ~/.cache/turkish-clip/index/...)")
    search.add_argument("--recursive", action="store_true", help="include sub-folders")
    serve = sub.add_parser("serve", parents=[sub_common], help="local web page: search and zero-shot over a folder",
                           epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    serve.add_argument("--images", required=True, help="folder of images (indexed once, refreshed on change)")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    serve.add_argument("--port", type=int, default=8000, help="port (default 8000; 0 picks a free one)")
    serve.add_argument("--top", type=int, default=12, help="results per query (default 12)")
    serve.add_argument("--index", help="index file (default: $TURKISH_CLIP_CACHE or ~/.cache/turkish-clip/index/...)")
    serve.add_argument("--recursive", action="store_true", help="include sub-folders")
    return parser


def _image_list(items: Sequence[str]) -> list[Path]:
    """Files as given, folders expanded to their images (sorted)."""
    from turkish_clip.images import iter_image_files

    paths: list[Path] = []
    for item in items:
        path = Path(item)
        if path.is_dir():
            found = list(iter_image_files(path))
            if not found:
                raise InputError(f"image folder {path} has no images; pass a folder that contains images")
            paths += found
        elif not path.is_file():
            raise InputError(f"image {path} does not exist; check the path")
        else:
            paths.append(path)
    return paths


def _templates(args) -> tuple[str, ...] | None:
    if args.no_templates:
        return None
    if args.template:
        from inference_api.zeroshot import check_templates

        return tuple(check_templates(args.template))
    return SHIPPED


def _describe(model: TurkishCLIP) -> str:
    src = model.text.source
    return (f"text: {src.get('model')} ({src.get('format')}, head {src.get('head')}) · image: CLIP {model.image.model_id}"
            f" · logit scale {model.logit_scale:.1f}")


def _readable(paths: list[Path]) -> tuple[list[Path], list[Path]]:
    """(readable, unreadable) images: corrupt files are skipped with a warning, as `search` does."""
    from turkish_clip.images import load_image

    good, bad = [], []
    for path in paths:
        try:
            load_image(path)
            good.append(path)
        except InputError as error:
            log.warning("skipping %s", error)
            bad.append(path)
    if not good:
        raise InputError(f"none of the {len(paths)} images could be read (first: {bad[0]}); replace or remove them")
    return good, bad


def run_classify(model: TurkishCLIP, images: Sequence[str], labels: Sequence[str], templates) -> str:
    from inference_api.zeroshot import check_labels, format_table

    labels = check_labels(labels)
    paths, unreadable = _readable(_image_list(images))
    model.check_models()
    probs = model.classify(paths, labels, templates)
    skipped = (f"\n\n{len(unreadable)} unreadable image(s) skipped: {', '.join(str(p) for p in unreadable)}"
               if unreadable else "")
    return f"{_describe(model)}\n\n{format_table([p.name for p in paths], labels, probs)}{skipped}"


def run_search(model: TurkishCLIP, args) -> str:
    from inference_api.contact_sheet import write_contact_sheet

    from turkish_clip.images import iter_image_files

    query = check_query(args.query)
    if args.top < 1:
        raise InputError(f"--top must be >= 1, got {args.top}")
    if next(iter_image_files(args.images, recursive=args.recursive), None) is None:  # before any model loads
        raise InputError(f"image folder {args.images} has no images; pass a folder that contains images")
    model.check_models()
    index = model.index(args.images, index_path=args.index, recursive=args.recursive, progress=sys.stderr.isatty())
    results = index.search(model.encode_text([query])[0], args.top)
    counts = index.counts
    lines = [_describe(model), f"{counts['images']} images indexed in {index.index_path} ({counts['reused']} reused, "
             f"{counts['embedded']} embedded, {counts['removed']} removed, {counts['skipped']} unreadable skipped)", ""]
    lines += [f"{rank:>3}  {score:.4f}  {path}" for rank, (path, score) in enumerate(results, 1)]
    if args.html:
        lines.append(f"\ncontact sheet: {write_contact_sheet(args.html, query, results, note=_describe(model))}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    setup_tensorflow(verbose=args.verbose)  # -v also shows TF's start-up logs (TF is not loaded yet)
    if not args.verbose:  # transformers' load chatter ("All model checkpoint layers were used ...")
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    model = TurkishCLIP(args.model, args.head, args.clip, device=args.device, batch_size=args.batch_size,
                        lang=args.lang, backend=args.backend, force=args.force)
    try:
        if args.command == "search":
            print(run_search(model, args))
        elif args.command == "serve":
            from inference_api.server import serve

            if not 1 <= args.top <= 200 or not 0 <= args.port <= 65535:
                raise InputError(f"--top must be 1-200 and --port 0-65535, got {args.top} and {args.port}")
            if not Path(args.images).is_dir():
                raise InputError(f"image folder {args.images} does not exist; pass a folder of images with --images")
            serve(model, args.images, host=args.host, port=args.port, index_path=args.index,
                  recursive=args.recursive, progress=sys.stderr.isatty(), top=args.top)
        elif args.command == "classify":
            print(run_classify(model, args.images, args.labels, _templates(args)))
        else:
            if not DEMO_IMAGES.is_dir():
                raise InputError(f"the demo photos ({DEMO_IMAGES}) come with a checkout of the repository, not with "
                                 f"`pip install`; run `classify --images ... --labels ...` on your own images")
            images = sorted(p for p in DEMO_IMAGES.iterdir() if p.suffix.lower() == ".jpg")
            from turkish_clip.languages import demo_labels

            print(run_classify(model, [str(p) for p in images], demo_labels(model.lang), _templates(args)))
    except UserError as error:
        print(f"error: {' '.join(str(error).split())}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
