"""Integration harnesses run from a checkout (not library code, not installed): `python -m harness.smoke` is
`make smoke`, the whole pipeline on tiny untrained models through the same commands a user runs."""
