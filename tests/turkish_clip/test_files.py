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
    (tmp_path / ".teacher.tmp-123.npy").write_bytes(b"x")
    (tmp_path / "keep.npy").write_bytes(b"x")
    assert files.remove_stale_tmp(tmp_path) == 1 and [p.name for p in tmp_path.iterdir()] == ["keep.npy"]
