"""bench.gpu_check on a machine without CUDA: one clear message, exit code 2, nothing written."""
from __future__ import annotations

import pytest


def test_without_cuda_it_says_so_and_writes_nothing(tmp_path, capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA: run python -m bench.gpu_check itself")
    from bench.gpu_check import OUT, main

    before = OUT.exists() and OUT.read_bytes()
    assert main(["--out", str(tmp_path / "gpu_check.json")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("gpu_check: no CUDA GPU found") and "nothing was run or written" in err
    assert err.count("\n") == 1
    assert not (tmp_path / "gpu_check.json").exists() and (OUT.exists() and OUT.read_bytes()) == before
