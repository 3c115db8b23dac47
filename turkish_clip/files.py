"""Atomic file writes, damaged-file reads and one-writer folder locks: what every on-disk step needs.

A file is written to a hidden temporary sibling, fsynced and renamed over the target, so a killed run leaves
either the old file or the new one, never half of one.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import re
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import numpy as np

from turkish_clip.errors import InputError, UserError

log = logging.getLogger(__name__)


def fsync_dir(folder: Path) -> None:
    """Make a rename in `folder` durable."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def tmp_name(final: Path) -> Path:
    """A hidden temporary sibling of `final` (same folder, so os.replace is atomic)."""
    return final.with_name(f".{final.stem}.tmp-{os.getpid()}{final.suffix}")  # keep the suffix (np.save adds one)


@contextmanager
def atomic_path(final: str | Path) -> Iterator[Path]:
    """Yield a temporary path to write; on success fsync it and rename it over `final`."""
    final = Path(final)
    tmp = tmp_name(final)
    try:
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, final)
        fsync_dir(final.parent)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_json_atomic(path: str | Path, obj: dict) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")


def read_json_file(path: str | Path) -> dict:
    """A JSON file we wrote (work state); a damaged one names the file and the fix."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InputError(f"{path} is damaged ({e}); delete {Path(path).parent} and re-run the step") from e


def write_npy_atomic(path: str | Path, array: np.ndarray) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.lib.format.write_array(f, np.ascontiguousarray(array), allow_pickle=False)


def remove_stale_tmp(folder: Path) -> int:
    """Delete temporary files left by killed runs (`.<stem>.tmp-<pid><suffix>` whose process no longer runs, or
    this process's own); another live process's file is being written and is left alone. Returns how many."""
    count = 0
    if folder.is_dir():
        for tmp in folder.glob(".*.tmp-*"):
            match = re.search(r"\.tmp-(\d+)", tmp.name)
            if match and int(match.group(1)) != os.getpid() and pid_alive(int(match.group(1))):
                continue
            tmp.unlink(missing_ok=True)
            count += 1
    return count


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@contextmanager
def folder_lock(data_dir: Path, wait: bool = False) -> Iterator[None]:
    """One writer per cache folder (the lock dies with the process, also on SIGKILL). wait=False: a second writer
    gets a UserError at once; wait=True: it waits its turn (evaluations sharing a --cache)."""
    with open(data_dir / ".lock", "w") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if not wait:
                raise UserError(f"another data_tools run is writing to {data_dir}; wait for it to finish") from None
            log.info("waiting for another run writing to %s", data_dir)
            fcntl.flock(f, fcntl.LOCK_EX)
        yield
