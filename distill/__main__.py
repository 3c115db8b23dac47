"""`python -m distill` and the `turkish-clip-distill` command (importing `distill` sets TensorFlow up)."""
import sys

from distill.cli import main

if __name__ == "__main__":
    sys.exit(main())
