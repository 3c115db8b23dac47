"""`python -m data_tools …` and the `turkish-clip-data` command (see data_tools/cli.py)."""
import os
import sys


def main() -> int:
    # A torch-only process: without this, importing transformers' CLIP also imports TensorFlow (+560 MB RSS).
    # Set here, at the entry point, not in library modules: transformers reads it once, at its first import, and a
    # process that also runs the TF student (inference, tests) must see TensorFlow.
    os.environ.setdefault("USE_TF", "0")
    from data_tools.cli import main as cli_main

    return cli_main()


if __name__ == "__main__":
    sys.exit(main())
