"""`make smoke` end to end: the whole pipeline on tiny models, as a user runs it (a subprocess)."""
import json
import os
import shutil
import subprocess
import sys
import unicodedata

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


@pytest.mark.slow
def test_smoke_in_hindi_runs_every_step_in_hindi(tmp_path):
    """`make smoke LANG=hi`: Hindi translations (tiny Marian en->hi), a student recorded as Hindi, zero-shot with
    the Hindi demo labels and templates, and the evaluation of the Hindi demo captions with Hindi row labels."""
    import pandas as pd

    from turkish_clip.languages import demo_labels

    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-m", "harness.smoke", "--lang", "hi", "--workdir", str(tmp_path)],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    assert "SMOKE OK (hi)" in out and "translation into Hindi" in out
    header = next(line for line in out.splitlines() if line.startswith("| image"))
    assert [cell.strip() for cell in header.split("|")[2:-2]] == demo_labels("hi")
    manifest = json.loads((tmp_path / "data" / "manifest.json").read_text())
    assert manifest["translation"]["lang"] == "hi" and manifest["translation"]["target_lang"] == "hi"
    translations = pd.read_parquet(tmp_path / "data" / "translations.parquet")["hi"].tolist()
    assert len(translations) == manifest["translation"]["count"]
    assert all(unicodedata.normalize("NFC", text) == text for text in translations)  # stored texts are NFC
    assert any("\u0900" <= ch <= "\u097f" for text in translations for ch in text)  # the tiny model writes Hindi
    student = json.loads((tmp_path / "student" / "student.json").read_text())
    assert student["lang"] == "hi" and student["text_column"] == "hi"
    results = json.loads((tmp_path / "evaluation" / "results.json").read_text())
    info = results["retrieval"]["demo-tiny-untrained"]["info"]
    assert (info["lang"], info["language"], info["captions"]) == ("hi", "Hindi", 12)
    report = (tmp_path / "evaluation" / "results.md").read_text()
    assert "| Student on Hindi |" in report and "| CLIP text encoder on Hindi (lower bound) |" in report
    assert "HI→EN R@1" in report


def test_smoke_unknown_language_is_one_line(capsys, tmp_path):
    from harness.smoke import main

    assert main(["--lang", "de", "--workdir", str(tmp_path / "w")]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "language 'de' is not available; use one of tr, hi" in err
    assert not (tmp_path / "w").exists()  # nothing created


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
@pytest.mark.parametrize("args, expected", [
    ([], "-m harness.smoke --lang tr"),
    (["LANG=hi"], "env LANG=C.UTF-8 .venv/bin/python -m harness.smoke --lang hi"),  # a code, not the locale
    (["SMOKE_LANG=hi"], "-m harness.smoke --lang hi"),
])
def test_make_smoke_passes_the_language(args, expected):
    # The user's own locale is not a language choice; a parent make (CI runs `make test`) must not leak its flags.
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES")}
    env["LANG"] = "C.UTF-8"
    done = subprocess.run(["make", "--no-print-directory", "-n", "-W", "requirements.txt", "smoke", *args],
                          cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1].endswith(expected)


def _fake_run(workdir, lang="tr"):
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
