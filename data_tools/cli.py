"""`python -m data_tools captions|translate|embed|images|prepare`: a thin argparse layer over data_tools.pipeline."""
from __future__ import annotations

import argparse
import logging
import sys
import time

from turkish_clip.errors import UserError, at_least
from data_tools.pipeline import BACKENDS, CaptionsConfig, EmbedConfig, TranslateConfig

POSITIVE = at_least(1)  # the one rule for counts (--limit, --batch-size, --max-length, ...)
DESCRIPTION = """Build a turkish-clip dataset folder: COCO captions -> translations -> CLIP teacher vectors.
Every step is resumable (kill it and run the same command again) and does nothing when already done."""

EXAMPLES = {
    "captions": """\
  python -m data_tools captions --data-dir data captions_train2014.json captions_val2014.json
  python -m data_tools captions --data-dir data --karpathy dataset_coco.json captions_train2014.json.gz
  python -m data_tools captions --data-dir smoke --limit 200 tests/samples/coco_captions_val2017_sample.json
  (--exclude none keeps the XTD10 test images; by default their captions are removed)""",
    "translate": """\
  python -m data_tools translate --data-dir data                      # opus-mt-tc-big-en-tr, greedy
  python -m data_tools translate --data-dir data --num-beams 4 --batch-size 64 --device cuda
  python -m data_tools translate --data-dir data --backend ctranslate2  # int8 on CPU
  python -m data_tools translate --data-dir data_hi --lang hi          # Helsinki-NLP/opus-mt-en-hi
  python -m data_tools translate --data-dir data --backend import --import human_tr.tsv""",
    "embed": """\
  python -m data_tools embed --data-dir data                          # OpenAI ViT-B/32, float16 vectors
  python -m data_tools embed --data-dir data --teacher ~/models/ViT-B-32.pt --dtype float32
  python -m data_tools embed --data-dir data --teacher openai/clip-vit-base-patch32 --device cuda --batch-size 1024""",
    "images": """\
  python -m data_tools images --data-dir data ~/coco              # holds train2014/ and val2014/
  python -m data_tools images --data-dir tasvir ~/Flicker8k_Dataset --clip ~/models/ViT-B-32.pt
  python -m data_tools images --data-dir data ~/coco --device cuda --batch-size 256 --workers 8""",
    "prepare": """\
  python -m data_tools prepare --data-dir data captions_train2014.json captions_val2014.json
  python -m data_tools prepare --data-dir smoke --limit 100 --model ./opus-mt-tc-big-en-tr --teacher ./ViT-B-32.pt
""",
}


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-dir", default="data", help="the dataset folder (default: %(default)s)")
    p.add_argument("--overwrite", "--force", action="store_true",
                   help="recompute even if done, discarding shards or outputs made with other options")
    p.add_argument("-v", "--verbose", action="count", default=0, help="log details (INFO; -vv for DEBUG)")


def _captions_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("inputs", nargs="*", metavar="CAPTIONS_JSON",
                   help="COCO caption annotation files (captions_*2014/2017.json, plain or .gz)")
    p.add_argument("--karpathy", metavar="JSON", help="Karpathy split file (dataset_coco.json): its splits are used")
    p.add_argument("--exclude", action="append", metavar="IDS",
                   help="image ids to exclude: 'default' (the 1,000 XTD10 test images), a file of ids, or 'none'; "
                        "repeat to combine lists (--exclude default --exclude mine.tsv)")
    p.add_argument("--exclude-karpathy", default="test,val", metavar="SPLITS",
                   help="with --karpathy: exclude these Karpathy splits' images from training, so COCO Karpathy "
                        "test stays a clean test (default: %(default)s; 'none' keeps them)")
    p.add_argument("--limit", type=POSITIVE, metavar="N", help="keep only the first N captions (quick runs)")


def _translate_args(p: argparse.ArgumentParser, prefix: str = "") -> None:
    d = TranslateConfig()
    g = p.add_argument_group("translation")
    g.add_argument("--backend", choices=BACKENDS, default=d.backend, help="default: %(default)s")
    g.add_argument("--lang", "--target-lang", dest="target_lang", default=d.target_lang, metavar="CODE",
                   help="target language, ISO code: the translations column and the default --model "
                        "(default: %(default)s; hi: Helsinki-NLP/opus-mt-en-hi)")
    g.add_argument("--model", help=f"MT model: hub id or local folder (default: the language's, {d.model} for tr)")
    g.add_argument("--num-beams", type=POSITIVE, default=d.num_beams, help="1 = greedy (default: %(default)s)")
    g.add_argument("--target-token", help="target language token of multi-target models, e.g. '>>tur<<'")
    g.add_argument("--max-length", type=POSITIVE, default=d.max_length, help="most generated tokens (default: %(default)s)")
    g.add_argument(f"--{prefix}batch-size", dest="mt_batch_size", type=POSITIVE, default=d.batch_size,
                   help="sentences per batch (default: %(default)s)")
    g.add_argument(f"--{prefix}shard-size", dest="mt_shard_size", type=POSITIVE, default=d.shard_size,
                   help="captions per resumable shard (default: %(default)s)")
    g.add_argument(f"--{prefix}dtype", dest="mt_dtype", help="marian: torch dtype (default float16 on CUDA)")
    g.add_argument("--compute-type", help="ctranslate2: int8, float16, ... (default int8 on CPU, float16 on CUDA)")
    g.add_argument("--import", dest="import_path", metavar="PATH",
                   help="backend import: existing translations (TSV/CSV/JSON/JSONL keyed by caption_id)")
    g.add_argument("--text-column", help="backend import: the translation column (default: the target language)")


def _embed_args(p: argparse.ArgumentParser, prefix: str = "") -> None:
    d = EmbedConfig()
    g = p.add_argument_group("teacher vectors")
    g.add_argument("--teacher", default=d.teacher,
                   help="OpenAI CLIP name or .pt path, or Hugging Face CLIP id/folder (default: %(default)s)")
    g.add_argument("--kind", choices=("openai-clip", "hf-clip", "hf-mean-pool"), help="default: from the name")
    g.add_argument("--dtype", choices=("float16", "float32"), default=d.dtype, help="stored dtype (default: %(default)s)")
    g.add_argument("--batch-size", type=POSITIVE, default=d.batch_size, help="captions per batch (default: %(default)s)")
    g.add_argument("--shard-size", type=POSITIVE, default=d.shard_size,
                   help="captions per resumable shard (default: %(default)s)")
    g.add_argument("--fp16", action=argparse.BooleanOptionalAction, default=None,
                   help="compute in fp16 (default: on CUDA only)")
    g.add_argument(f"--{prefix}max-length", dest="teacher_max_length", type=POSITIVE, metavar="N",
                   help="hf-mean-pool teachers: most tokens per caption (default: 128; CLIP teachers use 77)")


def _images_args(p: argparse.ArgumentParser) -> None:
    from data_tools.image_step import ImagesConfig

    d = ImagesConfig()
    p.add_argument("image_dir", metavar="IMAGE_FOLDER",
                   help="folder with the captions' images: COCO_train2014_<id>.jpg / <id:012d>.jpg / Flickr "
                        "<id>_<hex>.jpg names, in sub-folders too")
    p.add_argument("--clip", help="OpenAI CLIP name or .pt path, or Hugging Face CLIP id/folder "
                                  "(default: the teacher's CLIP, else ViT-B/32)")
    p.add_argument("--dtype", choices=("float16", "float32"), default=d.dtype, help="stored dtype (default: %(default)s)")
    p.add_argument("--batch-size", type=int, default=d.batch_size, help="images per batch (default: %(default)s)")
    p.add_argument("--shard-size", type=int, default=d.shard_size,
                   help="images per resumable shard (default: %(default)s)")
    p.add_argument("--workers", type=int, help="image decoding threads (default: min(4, CPU cores); 0: none)")
    p.add_argument("--fp16", action=argparse.BooleanOptionalAction, default=None,
                   help="compute in fp16 (default: on CUDA only)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m data_tools", description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="examples:\n" + "\n".join(EXAMPLES.values()))
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    helps = {"captions": "read COCO caption files into captions.parquet",
             "translate": "translate the captions into translations.parquet",
             "embed": "compute CLIP teacher vectors of the English captions into teacher.npy",
             "images": "compute CLIP image vectors of the captions' images into images.npy",
             "prepare": "captions, translate and embed in one go"}
    for name, text in helps.items():
        p = sub.add_parser(name, help=text, description=text, epilog="examples:\n" + EXAMPLES[name],
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        _common(p)
        if name in ("captions", "prepare"):
            _captions_args(p)
        if name in ("translate", "prepare"):
            _translate_args(p, prefix="mt-" if name == "prepare" else "")
        if name in ("embed", "prepare"):
            _embed_args(p, prefix="teacher-" if name == "prepare" else "")
        if name == "images":
            _images_args(p)
        if name in ("translate", "embed", "images"):
            p.add_argument("--limit", type=POSITIVE, metavar="N", help="compute only the shards covering the first N "
                           f"{'images' if name == 'images' else 'captions'} and stop (the step stays resumable)")
        if name != "captions":
            p.add_argument("--device", help="cpu, cuda, cuda:1, ... (default: cuda when present)")
    return parser


def _configs(args) -> tuple[CaptionsConfig | None, TranslateConfig | None, EmbedConfig | None]:
    captions = translate = embed = None
    if args.command in ("captions", "prepare"):
        from pathlib import Path

        from data_tools.pipeline import resolve_exclude

        karpathy_splits = [] if args.exclude_karpathy == "none" else [
            s.strip() for s in args.exclude_karpathy.split(",") if s.strip()]
        captions = CaptionsConfig([str(Path(p).resolve()) for p in args.inputs],
                                  str(Path(args.karpathy).resolve()) if args.karpathy else None,
                                  resolve_exclude(args.exclude or ["default"]), args.limit, karpathy_splits)
    if args.command in ("translate", "prepare"):
        translate = TranslateConfig(
            backend=args.backend, model=args.model, target_lang=args.target_lang, num_beams=args.num_beams,
            target_token=args.target_token, max_length=args.max_length, batch_size=args.mt_batch_size,
            shard_size=args.mt_shard_size, device=args.device, dtype=args.mt_dtype, compute_type=args.compute_type,
            import_path=args.import_path, text_column=args.text_column)
    if args.command in ("embed", "prepare"):
        embed = EmbedConfig(teacher=args.teacher, kind=args.kind, dtype=args.dtype, batch_size=args.batch_size,
                            shard_size=args.shard_size, device=args.device, fp16=args.fp16,
                            max_length=args.teacher_max_length)
    return captions, translate, embed


def run(args) -> None:
    from data_tools import pipeline

    t0 = time.perf_counter()
    captions, translate, embed = _configs(args)
    if args.command == "captions":
        outcomes = [pipeline.build_captions(args.data_dir, config=captions, force=args.overwrite)]
    elif args.command == "translate":
        outcomes = [pipeline.translate_captions(args.data_dir, translate, force=args.overwrite, limit=args.limit)]
    elif args.command == "images":
        from pathlib import Path

        from data_tools.image_step import ImagesConfig, embed_images

        config = ImagesConfig(image_dir=str(Path(args.image_dir).expanduser().resolve()), clip=args.clip,
                              dtype=args.dtype, batch_size=args.batch_size, shard_size=args.shard_size,
                              workers=args.workers, device=args.device, fp16=args.fp16)
        outcomes = [embed_images(args.data_dir, config, force=args.overwrite, limit=args.limit)]
    elif args.command == "embed":
        outcomes = [pipeline.embed_captions(args.data_dir, embed, force=args.overwrite, limit=args.limit)]
    else:
        outcomes = pipeline.prepare(args.data_dir, captions, translate, embed, force=args.overwrite)
    for outcome in outcomes:
        print(outcome.summary())
    if len(outcomes) > 1:
        print(f"total: {time.perf_counter() - t0:.1f} s, dataset folder {args.data_dir}")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    level = {0: logging.WARNING, 1: logging.INFO}.get(args.verbose, logging.DEBUG)
    logging.basicConfig(level=level,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    try:
        run(args)
    except UserError as error:
        print(f"error: {' '.join(str(error).split())}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: finished shards are kept; run the same command again to resume", file=sys.stderr)
        return 130
    return 0
