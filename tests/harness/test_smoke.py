"""`make smoke` end to end: the whole pipeline on tiny models, as a user runs it (a subprocess)."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import REPO


@pytest.mark.slow
def test_smoke_runs_every_step_and_writes_every_output(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-m", "harness.smoke", "--workdir", str(tmp_path)], cwd=REPO,
                          env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    assert "TINY, UNTRAINED MODELS" in out and "SMOKE OK" in out
    # zero-shot table: one row per demo photo, probabilities of a row sum to ~100 %
    rows = [line for line in out.splitlines() if line.startswith("| ") and ".jpg" in line]
    assert len(rows) == len(list((REPO / "demo" / "images").glob("*.jpg")))
    for row in rows:
        percents = [float(cell.strip().rstrip("%")) for cell in row.split("|")[2:-2]]
        assert sum(percents) == pytest.approx(100.0, abs=0.05 * len(percents))  # each cell rounded to 0.1 %
    # the cache, the trained student and the evaluation report all exist and agree with each other
    manifest = json.loads((tmp_path / "data" / "manifest.json").read_text())
    vectors = np.load(tmp_path / "data" / "teacher.npy")
    assert vectors.shape == (manifest["teacher"]["count"], manifest["teacher"]["dim"])
    assert (tmp_path / "student" / "clip_head.h5").is_file()
    results = json.loads((tmp_path / "evaluation" / "results.json").read_text())
    assert "Student on Turkish" in (tmp_path / "evaluation" / "results.md").read_text()
    assert "student" in json.dumps(results) and "clip_tr" in json.dumps(results) and "clip_en" in json.dumps(results)
