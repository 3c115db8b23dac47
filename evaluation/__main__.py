"""`python -m evaluation` and the `turkish-clip-eval` command: see evaluation/cli.py."""
import sys


def main() -> int:
    from turkish_clip.runtime import setup_tensorflow

    setup_tensorflow()  # tf-keras, quiet TF logs, GPU memory growth: before anything imports TensorFlow
    from evaluation.cli import main as cli_main

    return cli_main()


if __name__ == "__main__":
    sys.exit(main())
