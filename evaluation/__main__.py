"""`python -m evaluation`: see evaluation/cli.py."""
import sys

import turkish_clip  # noqa: F401  (tf-keras and quiet TF before anything imports TensorFlow)
from evaluation.cli import main

sys.exit(main())
