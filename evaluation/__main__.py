"""`python -m evaluation`: see evaluation/cli.py."""
import sys

from turkish_clip.runtime import setup_tensorflow

setup_tensorflow()  # tf-keras, quiet TF logs, GPU memory growth: before anything imports TensorFlow
from evaluation.cli import main  # noqa: E402

sys.exit(main())
