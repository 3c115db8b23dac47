"""`python -m distill train|evaluate`: thin wrappers building a TrainConfig (JSON file + flag overrides)."""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys

from turkish_clip.errors import UserError, at_least

from .config import LOSSES

EXAMPLES = """examples:
  python -m distill train --data data --model dbmdz/distilbert-base-turkish-cased
  python -m distill train --data data --loss mse --stage1-solver adam        # the original recipe
  python -m distill train --data data_hi --lang hi          # l3cube-pune/hindi-bert-v2 on the 'hi' column
  python -m distill train --config train.json --set stage2.epochs=5 --set stage2.learning_rate=1e-5
  python -m distill train --data data --set stage1.max_rows=20000 \
      --set stage2.freeze_embeddings=true --set stage2.freeze_layers=3     # a short CPU budget: cheaper steps
  python -m distill train --config runs/student/config.json --resume
  python -m distill evaluate --model student --data data
  python -m distill export --model student --format sentence-transformers student-st
  python -m distill export --model student --format onnx --quantize int8 student-onnx
"""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m distill", epilog=EXAMPLES,
                                     description="Train the student (Turkish by default: TF DistilBERT + mean pooling + Dense head) on a "
                                                 "cache of CLIP text vectors, or evaluate a trained one.",
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    train = sub.add_parser("train", help="distil a student from a cache folder (stage 1 head, stage 2 everything)",
                           epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    train.add_argument("--config", help="JSON file of TrainConfig options (flags below override it)")
    train.add_argument("--data", dest="data_dir", help="cache folder written by `python -m data_tools` (default: data)")
    train.add_argument("--lang", metavar="CODE", help="language (ISO code, default tr): picks the default --model and the text column "
                       "(tr: dbmdz/distilbert-base-turkish-cased, hi: l3cube-pune/hindi-bert-v2)")
    train.add_argument("--model", help="student encoder: hub id or local folder (default: the language's, see --lang)")
    train.add_argument("--run-dir", help="checkpoints, history.json/png, state.json (default: runs/student)")
    train.add_argument("--output-dir", help="fine-tuned encoder + tokenizer + student.json (default: student)")
    train.add_argument("--head", dest="head_path", help="where to write clip_head.h5 (default: ./clip_head.h5)")
    train.add_argument("--epochs1", type=at_least(0), help="stage 1 epochs (head only; with the ridge solver 0 skips stage 1, "
                       "any other value is one closed-form fit)")
    train.add_argument("--epochs2", type=at_least(0), help="stage 2 epochs (everything)")
    train.add_argument("--batch-size", type=at_least(1), help="batch size of both stages")
    train.add_argument("--loss", choices=LOSSES,
                       help="training objective (default mse+contrastive: MSE to the teacher vectors + 0.1 x InfoNCE; "
                            "see --set contrastive_weight=, temperature=, contrastive_negatives=; the image_ losses "
                            "need `python -m data_tools images`)")
    train.add_argument("--stage1-solver", choices=["ridge", "adam"],
                       help="stage 1 on cached frozen-encoder features: ridge = closed form in one pass (default), "
                            "adam = epochs over the features")
    train.add_argument("--include-english", action="store_true", default=None, help="also train on the English captions")
    train.add_argument("--seed", type=int)
    train.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                       help="any TrainConfig option, e.g. stage2.learning_rate=1e-5, max_length=32 (repeatable)")
    train.add_argument("--resume", action="store_true", help="continue the run in --run-dir from its last checkpoint (same options; only "
                       "epochs, patience, time budgets, verbosity and output paths may change)")
    train.add_argument("--print-config", action="store_true", help="print the resulting config as JSON and exit")
    train.add_argument("-q", "--quiet", action="store_true", help="no progress bars or epoch lines")
    train.add_argument("-v", "--verbose", action="count", default=0,
                       help="also log what TensorFlow and the libraries say (-vv for DEBUG)")
    evaluate = sub.add_parser("evaluate", help="metrics of a saved student on a cache (validation split by default)")
    evaluate.add_argument("--model", help="folder written by `distill train` (default: $TURKISH_CLIP_MODEL, else ./student, "
                          "else the user folder's student/, as for inference.py)")
    evaluate.add_argument("--data", dest="data_dir", default="data", help="cache folder (default: data)")
    evaluate.add_argument("--split", choices=["val", "all"], default="val")
    evaluate.add_argument("--batch-size", type=at_least(1), default=64)
    evaluate.add_argument("--json", action="store_true", help="print the metrics as JSON (recall as fractions)")
    evaluate.add_argument("-v", "--verbose", action="count", default=0, help="log details (-vv for DEBUG)")
    export = sub.add_parser("export", help="write a trained student as a sentence-transformers folder or an ONNX "
                            "graph (needs requirements-export.txt)", epilog=EXAMPLES,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    export.add_argument("out", help="new folder to write")
    export.add_argument("--format", required=True, choices=["sentence-transformers", "onnx"])
    export.add_argument("--model", default="student", help="folder written by `distill train` (default: student)")
    export.add_argument("--head", dest="head_path", help="clip_head.h5 to use instead of the folder's own")
    export.add_argument("--normalize", action="store_true", help="L2-normalise the output (recorded in the export)")
    export.add_argument("--max-length", type=int, help="tokens (default: the student's training max_length)")
    export.add_argument("--quantize", choices=["int8"], help="onnx: also write a dynamic int8 model_int8.onnx")
    return parser


def build_config(args: argparse.Namespace):
    """Defaults <- --config file <- named flags <- --set overrides."""
    from .config import TrainConfig

    config = TrainConfig.load(args.config) if args.config else TrainConfig()
    sets = [f"{k}={v}" for k in ("lang", "data_dir", "model", "run_dir", "output_dir", "head_path", "loss", "seed")
            if (v := getattr(args, k)) is not None]
    sets += [f"include_english={json.dumps(args.include_english)}"] if args.include_english is not None else []
    sets += [f"stage1.epochs={args.epochs1}"] if args.epochs1 is not None else []
    sets += [f"stage1.solver={args.stage1_solver}"] if args.stage1_solver is not None else []
    sets += [f"stage2.epochs={args.epochs2}"] if args.epochs2 is not None else []
    if args.batch_size is not None:
        sets += [f"stage1.batch_size={args.batch_size}", f"stage2.batch_size={args.batch_size}"]
    sets += ["verbose=0"] if args.quiet else []
    return config.override(sets + args.set)


def run_export(args: argparse.Namespace) -> str:
    if args.max_length is not None and args.max_length < 1:
        raise UserError(f"--max-length must be >= 1, got {args.max_length}")
    options = dict(head_path=args.head_path, normalize=args.normalize, max_length=args.max_length)
    if args.format == "sentence-transformers":
        if args.quantize:
            raise UserError("--quantize applies to --format onnx only")
        from .sentence_transformers_export import export_sentence_transformers

        out = export_sentence_transformers(args.model, args.out, **options)
        return f"wrote {out}/ (load it with SentenceTransformer({str(out)!r}))"
    from .onnx_export import export_onnx

    files = export_onnx(args.model, args.out, quantize=args.quantize, **options)
    return "wrote " + ", ".join(str(f) for f in files)


def format_metrics(m: dict) -> str:
    """mse, cosine and TR->EN recall in percent, as every table of the project shows recall."""
    return f"mse {m['mse']:.5g}  cosine {m['cosine']:.4f}  TR->EN R@1 {100 * m['r1']:.1f}%  R@5 {100 * m['r5']:.1f}%"


def setup_logging(verbose: int) -> None:
    """Our own INFO lines by default; TensorFlow's C++/absl lines and the libraries' chatter only with -v."""
    from turkish_clip.runtime import setup_tensorflow

    setup_tensorflow(verbose=verbose > 0)
    logging.basicConfig(level={0: logging.WARNING, 1: logging.INFO}.get(verbose, logging.DEBUG),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for ours in ("distill", "data_tools"):
        logging.getLogger(ours).setLevel(logging.DEBUG if verbose > 1 else logging.INFO)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    setup_logging(getattr(args, "verbose", 0))
    config = None
    try:
        if args.command == "train":
            config = build_config(args)
            if args.print_config:
                print(json.dumps(config.to_dict(), indent=2, ensure_ascii=False))
                return 0
            from .train import train

            result = train(config, resume=args.resume)
            print(f"validation: {format_metrics(result['metrics'])}")
            print(f"wrote {result['head_path']} and {result['output_dir']}/ (history in {config.run_dir}/history.json)")
        elif args.command == "export":
            print(run_export(args))
        else:
            from turkish_clip.models import ENV_MODEL, default_student

            from .evaluate import evaluate_saved

            model = args.model or os.environ.get(ENV_MODEL) or str(default_student())
            result = evaluate_saved(model, args.data_dir, args.split, args.batch_size)
            print(json.dumps(result, indent=2) if args.json else
                  f"{model} on {args.data_dir} ({result['split']}, {result['count']:,} captions): "
                  f"{format_metrics(result)}")
    except UserError as err:
        print(f"error: {' '.join(str(err).split())}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        from pathlib import Path

        run_dir = Path(config.run_dir) if config is not None else None
        if args.command == "train" and run_dir is not None and (run_dir / "state.json").is_file():
            print(f"interrupted: finished epochs are checkpointed in {run_dir}; to continue, run: python -m distill "
                  f"train --config {run_dir / 'config.json'} --resume", file=sys.stderr)
        else:
            print("interrupted; run the same command again to start over", file=sys.stderr)
        return 130
    return 0
