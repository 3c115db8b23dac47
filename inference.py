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

import numpy as np

import turkish_clip  # noqa: F401  (sets tf-keras and quiet TF before anything imports TensorFlow)
from data_tools.errors import InputError, UserError
from turkish_clip.models import DEFAULT_CLIP, ENV_CLIP, ENV_HEAD, ENV_MODEL, MONATIS_ENCODER, REPO, resolve_text_model
from turkish_clip.zeroshot import DEMO_LABELS, TEMPLATES

log = logging.getLogger("inference")
DEMO_IMAGES = REPO / "demo" / "images"


class TurkishCLIP:
    """The Turkish text encoder and CLIP's image encoder, loaded on first use.

    model: trained student folder (student.json) or a Hugging Face encoder id/folder (then `head` is its
    clip_head.h5); clip: OpenAI name, .pt file or Hugging Face CLIP folder. None means $TURKISH_CLIP_MODEL /
    $TURKISH_CLIP_HEAD / $TURKISH_CLIP_CLIP, else ./student and ViT-B/32.
    """

    def __init__(self, model: str | None = None, head: str | None = None, clip: str | None = None, *,
                 device: str | None = None, batch_size: int = 64, image_batch_size: int = 32,
                 max_length: int | None = None, force: bool = False):
        self.model, self.head, self.clip, self.device, self.force = model, head, clip, device, force
        self.batch_size, self.image_batch_size, self.max_length = batch_size, image_batch_size, max_length
        self._text = self._image = None

    @property
    def text(self):
        """The `turkish_clip.text_encoder.TextEncoder` (loaded on first use)."""
        if self._text is None:
            from turkish_clip.text_encoder import TextEncoder

            self._text = TextEncoder.load(self.model, self.head, batch_size=self.batch_size, max_length=self.max_length,
                                          force=self.force, device=self.device)
        return self._text

    @property
    def image(self):
        """The `turkish_clip.image_encoder.ImageEncoder` (loaded on first use)."""
        if self._image is None:
            from turkish_clip.image_encoder import ImageEncoder

            self._image = ImageEncoder.load(self.clip, device=self.device, batch_size=self.image_batch_size)
        return self._image

    def check_models(self) -> None:
        """Fail fast, in one line, if a model is missing: paths first (cheap), then CLIP, then the text model."""
        resolve_text_model(self.model, self.head)
        _ = self.image, self.text

    def encode_text(self, texts: str | Sequence[str], batch_size: int | None = None) -> np.ndarray:
        """Turkish texts -> L2-normalised float32 [n, dim] in CLIP space (caller's order; [] -> [0, dim])."""
        return self.text.encode(texts, batch_size)

    def encode_image(self, images, batch_size: int | None = None) -> np.ndarray:
        """Image paths or PIL images -> L2-normalised float32 [n, dim] (CLIP's image tower)."""
        return self.image.encode(images, batch_size)

    @property
    def logit_scale(self) -> float:
        """CLIP's softmax temperature from the checkpoint (100 for OpenAI's ViT-B/32)."""
        return self.image.logit_scale

    def label_vectors(self, labels: Sequence[str], templates: Sequence[str] | None = TEMPLATES) -> np.ndarray:
        from turkish_clip.zeroshot import label_vectors

        return label_vectors(self.encode_text, labels, templates)

    def classify(self, images, labels: Sequence[str], templates: Sequence[str] | None = TEMPLATES) -> np.ndarray:
        """Zero-shot probabilities float32 [n_images, n_labels] (softmax of logit_scale × cosine)."""
        from turkish_clip.zeroshot import check_labels, probabilities

        labels = check_labels(labels)
        return probabilities(self.encode_image(images), self.label_vectors(labels, templates), self.logit_scale)

    def index(self, folder, *, index_path=None, recursive: bool = False, progress: bool = True):
        """The folder's cached `ImageIndex`, refreshed for added, removed and changed files."""
        from turkish_clip.search import index_folder

        return index_folder(folder, self.image, index_path=index_path, recursive=recursive, progress=progress)

    def search(self, folder, query: str, top: int = 9, **index_options) -> list[tuple[Path, float]]:
        """(image path, cosine) of the `top` images of `folder` that best match the Turkish query."""
        query = check_query(query)
        index = self.index(folder, **index_options)
        return index.search(self.encode_text([query])[0], top)


_default: TurkishCLIP | None = None


def default_model() -> TurkishCLIP:
    """The shared instance behind `encode_text` / `encode_image` (models from env vars or defaults)."""
    global _default
    if _default is None:
        _default = TurkishCLIP()
    return _default


def encode_text(texts: str | Sequence[str], batch_size: int = 64) -> np.ndarray:
    """Turkish texts -> L2-normalised float32 [n, 512] CLIP ViT-B/32 text vectors, in the caller's order."""
    return default_model().encode_text(texts, batch_size)


def encode_image(images, batch_size: int = 32) -> np.ndarray:
    """Image paths or PIL images -> L2-normalised float32 [n, 512] CLIP ViT-B/32 image vectors."""
    return default_model().encode_image(images, batch_size)


def check_query(query: str) -> str:
    if not isinstance(query, str) or not query.strip():
        raise InputError('the search query is empty; give a Turkish description, e.g. --query "kumsalda gün batımı"')
    return query.strip()


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
    common.add_argument("--batch-size", type=int, default=argparse.SUPPRESS if suppress else 64,
                        help="texts per batch (default 64)")
    common.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS if suppress else False,
                        help="log what is loaded and done")
    return common


def _template_options(suppress: bool) -> argparse.ArgumentParser:
    templates = argparse.ArgumentParser(add_help=False, argument_default=argparse.SUPPRESS if suppress else None)
    templates.add_argument("--no-templates", action="store_true", default=argparse.SUPPRESS if suppress else False,
                           help="encode the bare labels, no prompt ensemble")
    templates.add_argument("--template", action="append", metavar="TEXT",
                           help=f"prompt template with {{}} for the label (repeatable; default: the {len(TEMPLATES)} "
                                f"templates of evaluation/labels/templates.tsv, e.g. {TEMPLATES[0]!r})")
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
    search.add_argument("--top", type=int, default=9, help="number of results (default 9)")
    search.add_argument("--html", help="also write an HTML contact sheet of the results here")
    search.add_argument("--index", help="index file (default: $TURKISH_CLIP_CACHE or ~/.cache/turkish-clip/index/...)")
    search.add_argument("--recursive", action="store_true", help="include sub-folders")
    return parser


def _image_list(items: Sequence[str]) -> list[Path]:
    """Files as given, folders expanded to their images (sorted)."""
    from data_tools.images import iter_image_files

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
        from turkish_clip.zeroshot import check_templates

        return tuple(check_templates(args.template))
    return TEMPLATES


def _describe(model: TurkishCLIP) -> str:
    src = model.text.source
    return (f"text: {src.get('model')} ({src.get('format')}, head {src.get('head')}) · image: CLIP {model.image.model_id}"
            f" · logit scale {model.logit_scale:.1f}")


def run_classify(model: TurkishCLIP, images: Sequence[str], labels: Sequence[str], templates) -> str:
    from turkish_clip.zeroshot import check_labels, format_table

    labels = check_labels(labels)
    paths = _image_list(images)
    model.check_models()
    probs = model.classify(paths, labels, templates)
    return f"{_describe(model)}\n\n{format_table([p.name for p in paths], labels, probs)}"


def run_search(model: TurkishCLIP, args) -> str:
    from turkish_clip.contact_sheet import write_contact_sheet

    query = check_query(args.query)
    if args.top < 1:
        raise InputError(f"--top must be >= 1, got {args.top}")
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
    if not args.verbose:  # transformers' load chatter ("All model checkpoint layers were used ...")
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    model = TurkishCLIP(args.model, args.head, args.clip, device=args.device, batch_size=args.batch_size,
                        force=args.force)
    try:
        if args.command == "search":
            print(run_search(model, args))
        elif args.command == "classify":
            print(run_classify(model, args.images, args.labels, _templates(args)))
        else:
            images = sorted(p for p in DEMO_IMAGES.iterdir() if p.suffix.lower() == ".jpg")
            print(run_classify(model, [str(p) for p in images], list(DEMO_LABELS), _templates(args)))
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
