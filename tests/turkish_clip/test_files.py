"""Atomic writes keep the old file on failure; stale temporaries of killed runs are swept."""
from __future__ import annotations

import json

import pytest

from turkish_clip import files


def test_atomic_path_leaves_old_file_on_error(tmp_path):
    target = tmp_path / "f.json"
    files.write_json_atomic(target, {"a": 1})
    with pytest.raises(RuntimeError):
        with files.atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed")
    assert json.loads(target.read_text()) == {"a": 1} and list(tmp_path.iterdir()) == [target]


def test_remove_stale_tmp(tmp_path):
    (tmp_path / ".teacher.tmp-999999999.npy").write_bytes(b"x")  # no such process: left by a killed run
    (tmp_path / "keep.npy").write_bytes(b"x")
    assert files.remove_stale_tmp(tmp_path) == 1 and [p.name for p in tmp_path.iterdir()] == ["keep.npy"]


def test_remove_stale_tmp_spares_a_file_another_live_process_is_writing(tmp_path):
    import subprocess
    import sys

    writer = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        live = tmp_path / f".teacher.tmp-{writer.pid}.npy"
        live.write_bytes(b"being written")
        assert files.remove_stale_tmp(tmp_path) == 0 and live.exists()
    finally:
        writer.kill()
        writer.wait()
    assert files.remove_stale_tmp(tmp_path) == 1 and not live.exists()
