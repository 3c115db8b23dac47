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


def _fake_run(workdir):
    (workdir / "data").mkdir()
    print(f"captions: done\n  {workdir / 'data' / 'captions.parquet'}")
    return 1.0


def test_smoke_names_its_files_only_when_it_keeps_them(monkeypatch, capsys, tmp_path):
    from harness import smoke

    monkeypatch.setattr(smoke, "run", _fake_run)
    made = []
    monkeypatch.setattr(smoke.tempfile, "mkdtemp", lambda prefix: made.append(str(tmp_path / f"t{len(made)}")) or made[-1])
    assert smoke.main([]) == 0
    out = capsys.readouterr().out
    assert made[0] not in out and "<tmp>/data/captions.parquet" in out and "--keep" in out
    assert not (tmp_path / "t0").exists()  # deleted, so not named
    assert smoke.main(["--keep"]) == 0
    out = capsys.readouterr().out
    assert f"{made[1]}/data/captions.parquet" in out and f"outputs in {made[1]}" in out
    assert (tmp_path / "t1" / "data").is_dir()
