"""Benchmarks: `python -m bench.<name>` prints a markdown table and writes bench/results/<name>.json."""
