"""Stream a dataset: JSONL of any size (bounded memory) or a saved ``datasets`` folder.

``iter_rows`` yields a ``Record`` per valid row and a ``BadLine`` per row set aside (invalid
JSON, wrong types, empty conversation, unknown role, non-UTF-8 bytes, a line over
``data.max_line_bytes``). Blank lines are not rows and are skipped. A missing or empty file
raises ``DataError``. The input is opened read-only and never modified.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from synapse_core.data import parallel
from synapse_core.data.banned import matcher_from_config
from synapse_core.data.events import DatasetLoaded, DatasetLoadFailed, DatasetLoadProgressed
from synapse_core.data.lines import long_line_reason, parse_line, parse_object
from synapse_core.data.records import BadLine, Record
from synapse_core.data.rows import content_hash
from synapse_core.events import EventSink
from synapse_core.paths import demo_dataset_path


PARALLEL_MIN_ROWS = 16_384
"""Files with fewer (estimated) rows are scored in this process: starting workers costs more."""


class DataError(OSError):
    """The dataset cannot be read at all (missing, empty, not a dataset)."""


def resolve_data_path(config: Any) -> Path:
    """``data.path`` resolved against the config file; empty means the embedded demo."""
    if not config.data.path:
        return demo_dataset_path()
    return config.resolve_path(config.data.path)


def describe_bad_lines(bad: list[BadLine], first: int = 20) -> list[str]:
    """``FILE:LINE: reason`` for the first ``first`` bad lines, then how many more there are
    (where a run or a command lists what it set aside)."""
    out = [f"bad line {b}" for b in bad[:first]]
    if len(bad) > first:
        out.append(f"… and {len(bad) - first:,} more bad lines (`synapse score` lists them all)")
    return out


def _is_dataset_dir(p: Path) -> bool:
    return p.is_dir() and any((p / n).exists() for n in
                              ("dataset_info.json", "state.json", "dataset_dict.json"))


def iter_rows(path: str | Path, config: Any, *, stop: threading.Event | None = None,
              progress: Any = None, workers: int | None = None,
              with_reasons: bool = False) -> Iterator[Record | BadLine]:
    """Every row of ``path`` (JSONL file or saved ``datasets`` folder), in order.

    ``stop`` ends the stream early; ``progress(bytes_read, total_bytes)`` is called every
    few hundred lines (rows instead of bytes for a ``datasets`` folder). A JSONL file of
    ``PARALLEL_MIN_ROWS`` rows or more is scored by ``workers`` processes (default: one per
    CPU, see ``parallel.default_workers``; 1 means in this process), with the same
    results in the same order. Rows read in this process are full Records; rows scored by
    workers are Records that rebuild ``messages``/``raw`` (and ``reasons``) from their line
    when first read, and ``with_reasons`` has the workers send the reasons at once (the CLI
    writes them).
    """
    for items in iter_chunks(path, config, stop=stop, progress=progress, workers=workers,
                             with_reasons=with_reasons):
        yield from items


def iter_chunks(path: str | Path, config: Any, *, stop: threading.Event | None = None,
                progress: Any = None, workers: int | None = None,
                with_reasons: bool = False) -> Iterator[list[Record | BadLine]]:
    """``iter_rows`` as lists of consecutive rows (a block of the file each: fewer steps
    per row for a caller that takes them in batches)."""
    p = Path(path)
    if _is_dataset_dir(p):
        yield from _chunked(_iter_dataset(p, config, stop, progress))
        return
    if p.is_dir():
        raise DataError(f"{p}: a folder that is not a saved `datasets` dataset")
    try:
        total = p.stat().st_size
    except FileNotFoundError:
        raise DataError(f"{p}: no such file") from None
    if total == 0:
        raise DataError(f"{p}: the file is empty (no rows)")
    limit = config.data.max_line_bytes
    spath = str(path)
    any_row = False
    if workers is None:
        workers = (parallel.default_workers() if estimate_rows(p, total) >= PARALLEL_MIN_ROWS
                   else 1)
    with open(p, "rb") as fh:
        if workers > 1:
            chunks: Iterator[tuple[int, list[Record | BadLine]]] = parallel.iter_parallel_chunks(
                fh, spath, config, workers, stop, with_reasons)
        else:
            chunks = _serial_chunks(_read_lines(fh, limit), spath, config)
        for offset, items in chunks:
            if items:
                any_row = True
                yield items
            if progress is not None:
                progress(offset, total)
            if stop is not None and stop.is_set():
                return
        if progress is not None:
            progress(total, total)
    if not any_row:
        raise DataError(f"{p}: the file has no rows (only blank lines)")


def _chunked(items: Iterator[Record | BadLine], size: int = 512) -> Iterator[list[Record | BadLine]]:
    chunk: list[Record | BadLine] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def estimate_rows(p: Path, total: int) -> int:
    """Rows in the file, estimated from its first MiB (to choose between one process and
    several: starting workers costs more than scoring a small file)."""
    with open(p, "rb") as fh:
        head = fh.read(1 << 20)
    return total * (head.count(b"\n") + 1) // max(1, len(head))


def _read_lines(fh: Any, limit: int) -> Iterator[tuple[int, int, int, bytes | None, str]]:
    """``(line, start, end, bytes, "")`` per line, or ``(line, start, end, None, reason)`` for
    a line over ``limit`` bytes (its rest is skipped in 1 MiB chunks)."""
    offset = 0
    line = 0
    readline = fh.readline
    while True:
        data = readline(limit + 1)
        if not data:
            return
        line += 1
        start = offset
        offset += len(data)
        if len(data) > limit and not data.endswith(b"\n") or len(data.rstrip(b"\r\n")) > limit:
            size = len(data)
            while not data.endswith(b"\n"):  # drain the rest of the long line in chunks
                data = readline(1 << 20)
                if not data:
                    break
                size += len(data)
                offset += len(data)
            yield line, start, offset, None, long_line_reason(size, limit)
            continue
        if line == 1 and data.startswith(b"\xef\xbb\xbf"):
            data = data[3:]  # a UTF-8 byte-order mark some editors write
        yield line, start, offset, data, ""


def _serial_chunks(lines: Iterator[tuple[int, int, int, bytes | None, str]], path: str,
                   config: Any, size: int = 512) -> Iterator[tuple[int, list[Record | BadLine]]]:
    """Score in this process: ``(end offset, rows)`` per ``size`` lines."""
    matcher = matcher_from_config(config)
    chunk: list[Record | BadLine] = []
    end = 0
    for n, (line, start, end, data, reason) in enumerate(lines, 1):
        if data is None:
            chunk.append(BadLine(path, line, reason))
        else:
            item = parse_line(data, line, path, config, matcher, start)
            if item is not None:
                chunk.append(item)
        if n % size == 0:
            yield end, chunk
            chunk = []
    yield end, chunk


def _load_dataset(p: Path) -> Any:
    import datasets  # heavy (pyarrow): only when a saved dataset is opened

    ds = datasets.load_from_disk(str(p))
    if isinstance(ds, datasets.DatasetDict):
        if not ds:
            raise DataError(f"{p}: the DatasetDict has no splits")
        ds = ds["train"] if "train" in ds else ds[next(iter(ds))]
    return ds


def _iter_dataset(p: Path, config: Any, stop: threading.Event | None,
                  progress: Any) -> Iterator[Record | BadLine]:
    ds = _load_dataset(p)
    total = len(ds)
    if total == 0:
        raise DataError(f"{p}: the dataset has no rows")
    matcher = matcher_from_config(config)
    for i, row in enumerate(ds, 1):
        yield _dataset_row(row, i, str(p), config, matcher)
        if i % 2048 == 0:
            if progress is not None:
                progress(i, total)
            if stop is not None and stop.is_set():
                return
    if progress is not None:
        progress(total, total)


def _dataset_row(row: dict[str, Any], i: int, path: str, config: Any,
                 matcher: Any) -> Record | BadLine:
    """Row ``i`` of a ``datasets`` folder (its hash from its JSON with sorted keys)."""
    obj = {k: v for k, v in row.items() if v is not None}
    try:
        data = json.dumps(obj, ensure_ascii=False, sort_keys=True).encode("utf-8")
    except (TypeError, ValueError) as e:  # a value JSON cannot hold (bytes, a date, NaN...)
        return BadLine(path, i, f"the row could not be read: {e}")
    return parse_object(obj, i, path, config, matcher, content_hash(data))


def read_record(path: str | Path, line: int, offset: int, config: Any) -> Record | BadLine:
    """Re-read one row for the detail view: by byte offset in a JSONL file, by index in a
    ``datasets`` folder."""
    p = Path(path)
    matcher = matcher_from_config(config)
    if _is_dataset_dir(p):
        return _dataset_row(_load_dataset(p)[line - 1], line, str(path), config, matcher)
    with open(p, "rb") as fh:
        fh.seek(offset)
        data = fh.readline(config.data.max_line_bytes + 1)
    item = parse_line(data, line, str(path), config, matcher, offset)
    if item is None:
        return BadLine(str(path), line, "blank line (the file changed since it was loaded?)")
    return item


@dataclass
class LoadBatch:
    """A batch of rows read so far, for the browser's progress and the graph."""

    records: list[Record] = field(default_factory=list)
    bad: list[BadLine] = field(default_factory=list)
    bytes_read: int = 0
    total_bytes: int = 0
    done: bool = False


def iter_batches(path: str | Path, config: Any, *, batch_size: int = 2000,
                 stop: threading.Event | None = None, sink: EventSink | None = None,
                 workers: int | None = None) -> Iterator[LoadBatch]:
    """``iter_rows`` grouped into batches of about ``batch_size`` rows, with progress; the last
    batch has ``done=True``. ``sink`` gets ``DatasetLoadProgressed`` per batch and
    ``DatasetLoaded`` (or ``DatasetLoadFailed``) at the end. ``workers`` as for ``iter_rows``."""
    pos = [0, 0]
    counts = {"rows": 0, "bad": 0, "desirable": 0, "flagged": 0}

    def progress(done: int, total: int) -> None:
        pos[0], pos[1] = done, total

    def emit(batch: LoadBatch) -> None:
        batch.bytes_read, batch.total_bytes = pos
        counts["rows"] += len(batch.records)
        counts["bad"] += len(batch.bad)
        counts["desirable"] += sum(1 for r in batch.records if r.label == "desirable")
        counts["flagged"] += sum(1 for r in batch.records if r.banned)
        if sink is not None:
            sink.emit(DatasetLoadProgressed(str(path), counts["rows"], counts["bad"], *pos))

    batch = LoadBatch()
    try:
        for items in iter_chunks(path, config, stop=stop, progress=progress, workers=workers):
            i = 0
            while i < len(items):
                take = items[i:i + batch_size - len(batch.records) - len(batch.bad)]
                i += len(take)
                for item in take:
                    if item.__class__ is BadLine:
                        batch.bad.append(item)
                    else:
                        batch.records.append(item)
                if len(batch.records) + len(batch.bad) >= batch_size:
                    emit(batch)
                    yield batch
                    batch = LoadBatch()
    except DataError as e:
        if sink is not None:
            sink.emit(DatasetLoadFailed(str(path), str(e)))
        raise
    batch.done = True
    emit(batch)
    if sink is not None:
        sink.emit(DatasetLoaded(str(path), counts["rows"], counts["bad"], counts["desirable"],
                                counts["rows"] - counts["desirable"], counts["flagged"]))
    yield batch
