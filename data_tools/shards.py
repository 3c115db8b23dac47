"""Sharded, resumable steps over captions.parquet: fixed row-range shards, each written atomically under work/.

A step (translate, embed) streams the columns it needs shard by shard, computes each unfinished shard and writes
it with an atomic rename; a killed run resumes with the shard boundaries recorded in work/<step>/state.json. When
every shard exists, the final file is assembled streaming, the manifest updated and work/<step> deleted.
Options that change the result (`key`) must match to reuse shards or a finished output: never mix two models.
"""
from __future__ import annotations

import logging
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from tqdm.auto import tqdm

from data_tools import cache
from turkish_clip import files
from turkish_clip.errors import InputError, UserError
from turkish_clip.files import folder_lock

log = logging.getLogger(__name__)
DELAY_ENV = "DATA_TOOLS_SHARD_DELAY"  # testing hook: seconds to sleep after each written shard


@dataclass(frozen=True)
class Shard:
    """Rows [start, stop) of captions.parquet."""

    index: int
    start: int
    stop: int

    @property
    def rows(self) -> int:
        return self.stop - self.start

    @property
    def name(self) -> str:
        return f"shard-{self.start:012d}-{self.stop:012d}"


def plan_shards(rows: int, shard_size: int, cuts: list[int] | tuple[int, ...] = ()) -> list[Shard]:
    """Row ranges of `shard_size`, also split at each of `cuts` (where a --limit run stopped, so it did no more)."""
    if shard_size < 1:
        raise UserError(f"shard size must be >= 1, got {shard_size}")
    bounds = sorted(set(range(0, rows, shard_size)) | {c for c in cuts if 0 < c < rows} | {rows})
    return [Shard(i, start, stop) for i, (start, stop) in enumerate(zip(bounds, bounds[1:]))]


def iter_shard_chunks(path: str | Path, columns: list[str], shards: list[Shard]) -> Iterator[tuple[Shard, pa.Table]]:
    """Stream `columns` of a parquet file re-chunked to exactly the shard boundaries (memory: about one shard)."""
    if not shards:
        return
    pf = pq.ParquetFile(path)
    pending = iter(shards)
    shard = next(pending)
    buffer: list[pa.RecordBatch] = []
    buffered = 0
    for batch in pf.iter_batches(batch_size=max(1, min(shards[0].rows, 65536)), columns=columns):
        buffer.append(batch)
        buffered += batch.num_rows
        while shard is not None and buffered >= shard.rows:
            table = pa.Table.from_batches(buffer, schema=batch.schema)
            yield shard, table.slice(0, shard.rows).combine_chunks()
            rest = table.slice(shard.rows)
            buffer, buffered = rest.to_batches(), rest.num_rows
            shard = next(pending, None)
    if shard is not None:
        raise InputError(f"{path} ended at row {shard.start + buffered}, expected {shards[-1].stop} rows; "
                         f"the file changed during the run, rebuild the captions")


def pick(info: dict, paths: tuple[str, ...]) -> dict:
    """{"a.b": info["a"]["b"], ...} (None where missing)."""
    out = {}
    for path in paths:
        value = info
        for part in path.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        out[path] = value
    return out


def describe_diff(old: dict, new: dict) -> str:
    keys = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
    return ", ".join(f"{k}: {old.get(k)!r} → {new.get(k)!r}" for k in keys)


@dataclass
class StepOutcome:
    """What a step did; `summary()` is the command's output."""

    step: str
    status: str  # "done" | "already done" | "partial"
    rows: int
    computed_rows: int = 0
    reused_rows: int = 0
    seconds: float = 0.0
    outputs: list[str] = field(default_factory=list)
    note: str = ""

    def summary(self) -> str:
        rate = f", {self.computed_rows / self.seconds:,.1f} rows/s" if self.computed_rows and self.seconds else ""
        text = (f"{self.step}: {self.status}: {self.rows:,} rows ({self.computed_rows:,} computed, "
                f"{self.reused_rows:,} reused) in {self.seconds:.1f} s{rate}")
        if self.outputs:
            text += "\n  " + "\n  ".join(self.outputs)
        return text + (f"\n  {self.note}" if self.note else "")


@dataclass
class ShardedStep:
    """One resumable step. `load()` loads the model and returns its manifest info; `compute(shard, chunk)` gives
    a shard's result; `save_shard(result, path)` writes it; `assemble(paths, path)` writes the final file
    streaming and returns extra manifest info."""

    data_dir: Path
    step: str  # manifest entry: "teacher" | "translation"
    command: str  # CLI command that runs it (for messages)
    output: str  # final file name in data_dir
    suffix: str  # shard file suffix (".npy", ".parquet")
    columns: list[str]
    key: dict  # options that change the result; must match to reuse shards or the finished output
    options: dict  # the whole config, recorded in the manifest
    shard_size: int
    load: Callable[[], dict]
    compute: Callable[[Shard, pa.Table], Any]
    save_shard: Callable[[Any, Path], None]
    assemble: Callable[[list[Path], Path], dict]
    loaded_key: tuple[str, ...] = ()  # fields of load()'s info that must also match (e.g. compute dtype)
    key_defaults: dict = field(default_factory=dict)  # what a recorded key lacking an entry meant (older caches)
    # A step over another row list than captions.parquet (e.g. its distinct image ids): the row count and a
    # `chunks(shards)` giving (shard, table) like iter_shard_chunks. The key still includes the captions' hash.
    rows: int | None = None
    chunks: Callable[[list[Shard]], Iterator[tuple[Shard, pa.Table]]] | None = None

    def advance(self, rows: int) -> None:
        """Called by `compute` to move the progress bar inside a long shard (the rest is added when it is saved)."""
        if self._bar is not None:
            self._bar.update(rows)
            self._advanced += rows

    _bar = None  # the progress bar while shards are computed (see advance)
    _advanced = 0

    @property
    def work_dir(self) -> Path:
        return self.data_dir / cache.WORK / self.step

    def shard_path(self, shard: Shard) -> Path:
        return self.work_dir / f"{shard.name}{self.suffix}"

    def run(self, force: bool = False, limit: int | None = None) -> StepOutcome:
        self.data_dir = Path(self.data_dir)
        cache.read_manifest(self.data_dir)  # a clear error before anything else
        with folder_lock(self.data_dir):
            return self._run(force, limit)

    def _full_key(self, manifest: dict) -> dict:
        captions = manifest.get("captions")
        if not captions:
            raise InputError(f"{self.data_dir} has no captions yet; run: python -m data_tools captions "
                             f"--data-dir {self.data_dir} INPUT.json")
        return {**self.key, "captions_sha256": captions["sha256"]}

    def _full(self, key: dict) -> dict:
        return {**self.key_defaults, **key}

    def _run(self, force: bool, limit: int | None) -> StepOutcome:
        t0 = time.perf_counter()
        manifest = cache.read_manifest(self.data_dir)
        key = self._full_key(manifest)
        rows = manifest["captions"]["count"] if self.rows is None else self.rows
        finished = manifest.get(self.step)
        output = self.data_dir / self.output
        # every entry of both keys is compared (a changed option is never "already done"), missing ones as defaults
        done_key = self._full(finished.get("key", {})) if finished else None
        key = self._full(key)
        state_path = self.work_dir / "state.json"
        state = files.read_json_file(state_path) if state_path.exists() else None
        if state is not None:
            state["key"] = self._full(state.get("key", {}))
        files.remove_stale_tmp(self.data_dir), files.remove_stale_tmp(self.work_dir)

        if finished and output.is_file() and done_key == key and not force:
            if state is not None and state.get("key") == key:
                shutil.rmtree(self.work_dir)  # killed after the manifest update, before the clean-up
            elif state is not None:
                log.warning("%s holds partial shards made with other options; --overwrite discards them",
                            self.work_dir)
            return StepOutcome(self.step, "already done", rows, reused_rows=rows, outputs=[str(output)],
                               note=f"nothing to do: {output.name} matches the options; use --overwrite to redo it")
        if state is not None and state.get("key") != key:
            if not force:
                raise UserError(f"{self.work_dir} holds partial {self.step} shards made with other options "
                                f"({describe_diff(state.get('key', {}), key)}); re-run with the same options to "
                                f"resume, or pass --overwrite to discard them")
            shutil.rmtree(self.work_dir)
            state = None
        elif state is not None and force:
            shutil.rmtree(self.work_dir)
            state = None
        if finished and output.is_file() and done_key != key and not force:
            raise UserError(f"{output} was computed with other options ({describe_diff(done_key, key)}); "
                            f"pass --overwrite to replace it")

        shard_size = state["shard_size"] if state else self.shard_size
        if state and state["shard_size"] != self.shard_size:
            log.info("resuming with the recorded shard size %d (not %d)", shard_size, self.shard_size)
        cuts = list(state.get("cuts", [])) if state else []
        shards = plan_shards(rows, shard_size, cuts)
        if limit is not None and any(s.start < limit < s.stop and not self.shard_path(s).exists() for s in shards):
            cuts.append(limit)  # --limit N computes N rows, whatever the shard size; the cut is kept for resuming
            shards = plan_shards(rows, shard_size, cuts)
            if state is not None:
                state["cuts"] = sorted(cuts)
                files.write_json_atomic(state_path, state)
        todo = [s for s in shards if not self.shard_path(s).exists() and (limit is None or s.start < limit)]
        reused = sum(s.rows for s in shards if self.shard_path(s).exists())
        info = self.load() if todo or state is None else state["model"]
        loaded = pick(info, self.loaded_key)
        if state is None:
            self.work_dir.mkdir(parents=True, exist_ok=True)
            state = {"step": self.step, "key": key, "shard_size": shard_size, "rows": rows, "model": info,
                     "cuts": sorted(cuts)}
            files.write_json_atomic(state_path, state)
        elif pick(state["model"], self.loaded_key) != loaded:
            raise UserError(f"{self.work_dir} holds shards computed differently "
                            f"({describe_diff(pick(state['model'], self.loaded_key), loaded)}); "
                            f"resume on the same kind of device, or pass --overwrite to discard them")
        if reused:
            log.info("%s: resuming, %d of %d rows already done", self.step, reused, rows)

        computed = self._compute_shards(shards, todo, rows, reused)
        seconds = time.perf_counter() - t0
        if any(not self.shard_path(s).exists() for s in shards):
            done = sum(s.rows for s in shards if self.shard_path(s).exists())
            return StepOutcome(self.step, "partial", rows, computed, reused, seconds, [str(self.work_dir)],
                               note=f"{done:,} of {rows:,} rows done (--limit); re-run without --limit to finish")
        extra = self._finish(shards, output, state, key)
        seconds = time.perf_counter() - t0
        log.info("%s: %s", self.step, extra)
        return StepOutcome(self.step, "done", rows, computed, reused, seconds, [str(output), str(self.data_dir /
                                                                                                cache.MANIFEST)])

    def _compute_shards(self, shards: list[Shard], todo: list[Shard], rows: int, reused: int) -> int:
        if not todo:
            return 0
        delay = float(os.environ.get(DELAY_ENV, "0") or 0)
        wanted = {s.index for s in todo}
        computed = 0
        last = todo[-1].stop
        planned = [s for s in shards if s.start < last]
        source = self.chunks(planned) if self.chunks else iter_shard_chunks(self.data_dir / cache.CAPTIONS,
                                                                            self.columns, planned)
        with tqdm(total=rows, initial=reused, unit="rows", desc=self.step, smoothing=0.1) as bar:
            self._bar = bar
            for shard, chunk in source:
                if shard.index not in wanted:
                    continue
                self._advanced = 0
                result = self.compute(shard, chunk)
                with files.atomic_path(self.shard_path(shard)) as tmp:
                    self.save_shard(result, tmp)
                computed += shard.rows
                bar.update(shard.rows - self._advanced)
                if delay:
                    time.sleep(delay)
            self._bar = None
        return computed

    def _finish(self, shards: list[Shard], output: Path, state: dict, key: dict) -> dict:
        for shard in shards:
            found = shard_rows(self.shard_path(shard), self.command)
            if found != shard.rows:
                raise InputError(f"{self.shard_path(shard)} has {found} rows, expected {shard.rows}; "
                                 f"delete it and re-run {self.command} to recompute it")
        with files.atomic_path(output) as tmp:
            try:
                extra = self.assemble([self.shard_path(s) for s in shards], tmp)
            except DamagedShardError as error:  # same message, naming this step's command
                raise DamagedShardError(str(error).replace("run the same command", f"run {self.command}")) from None
        info = {**state["model"], **extra, "count": state["rows"], "key": key, "options": self.options,
                "shard_size": state["shard_size"], "captions_sha256": key["captions_sha256"]}
        cache.update_manifest(self.data_dir, **{self.step: info})
        shutil.rmtree(self.work_dir)
        work_root = self.data_dir / cache.WORK
        if work_root.is_dir() and not any(work_root.iterdir()):
            work_root.rmdir()
        return info


# ---------------------------------------------------------------- streaming assembly

class DamagedShardError(InputError):
    """A shard file cannot be read (truncated, overwritten); deleting it makes the next run recompute it."""


def damaged(path: Path, error: BaseException, command: str = "the same command") -> DamagedShardError:
    return DamagedShardError(f"{path} is damaged ({type(error).__name__}: {str(error).splitlines()[0][:120] if str(error) else 'unreadable'}); "
                             f"delete it and run {command} again to recompute it (other shards are kept)")


def read_shard_npy(path: Path, mmap: bool = False, command: str = "the same command") -> np.ndarray:
    """A shard's array; a damaged file is a one-line DamagedShardError naming it and how to recover."""
    try:
        return np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except (ValueError, OSError, EOFError) as error:
        raise damaged(path, error, command) from None


def shard_rows(path: Path, command: str = "the same command") -> int:
    """Rows in a shard file (.npy header or parquet metadata; nothing is loaded)."""
    if path.suffix == ".npy":
        return int(read_shard_npy(path, mmap=True, command=command).shape[0])
    try:
        return pq.ParquetFile(path).metadata.num_rows
    except (pa.ArrowException, OSError) as error:
        raise damaged(path, error, command) from None


def assemble_npy(paths: list[Path], out: Path, dtype: str) -> dict:
    """Concatenate [rows, dim] shard arrays into one .npy, one shard in memory at a time.

    Written through a plain file (not a writable memmap), so the process's RSS does not grow with the output.
    """
    dtype = np.dtype(dtype)
    shapes = [read_shard_npy(p, mmap=True).shape for p in paths]  # headers only
    dim = shapes[0][1]
    for path, shape in zip(paths, shapes):
        if len(shape) != 2 or shape[1] != dim:
            raise InputError(f"{path} has shape {shape}, expected [rows, {dim}]; delete it and re-run")
    header = {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False,
              "shape": (sum(s[0] for s in shapes), dim)}  # [n, dim], the same header np.save writes
    with open(out, "wb") as f:
        np.lib.format.write_array_header_1_0(f, header)
        for path in paths:
            f.write(np.ascontiguousarray(read_shard_npy(path), dtype=dtype).tobytes())
    return {"dim": int(dim), "dtype": str(dtype)}


def assemble_parquet(paths: list[Path], out: Path, schema: pa.Schema) -> dict:
    """Concatenate shard tables into one parquet file, one shard at a time."""
    with pq.ParquetWriter(out, schema) as writer:
        for path in paths:
            try:
                table = pq.read_table(path)
            except (pa.ArrowException, OSError) as error:
                raise damaged(path, error) from None
            writer.write_table(table.cast(schema))
    return {}


def call_naming_item(fn: Callable[[list[str]], object], texts: list[str], ids: list[int], what: str):
    """fn(texts); if it raises, bisect to the first caption that fails alone and name its caption_id."""
    try:
        return fn(texts)
    except MemoryError:
        raise
    except Exception as error:  # noqa: BLE001 — re-raised below, named by caption_id when one item is the cause
        if "OutOfMemory" in type(error).__name__:
            raise UserError(f"{what} ran out of memory; lower --batch-size") from error
        lo, hi = 0, len(texts)
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if _fails(fn, texts[lo:mid]):
                hi = mid
            elif _fails(fn, texts[mid:hi]):
                lo = mid
            else:
                raise
        cause = _fails(fn, texts[lo:hi])
        if not cause:
            raise
        raise InputError(f"caption_id {ids[lo]}: the {what} rejects {texts[lo][:80]!r} ({type(cause).__name__}: "
                         f"{str(cause).splitlines()[0][:160] if str(cause) else ''}); fix or drop this caption "
                         f"(finished shards are kept; re-run to resume)") from cause


def _fails(fn, texts) -> BaseException | None:
    try:
        fn(texts)
    except Exception as error:  # noqa: BLE001 — the probe reports the error to the caller
        return error
    return None
