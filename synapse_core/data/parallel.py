"""Score the lines of a large JSONL file in worker processes, in order, in bounded memory.

The reading process cuts the file into blocks of about a MiB of whole lines (one ``read``
and one ``rfind`` each: it never walks the lines itself) and submits each block to a
``concurrent.futures.ProcessPoolExecutor``. A worker splits its block into lines, runs the
very same ``lines.parse_line`` as the single-process path and answers, per line, the reason
it is bad or its summary (a plain tuple in ``RowSummary``'s order, never a Record). The
reading process keeps an ordered window of futures (at most ``2 × workers + 2`` blocks in
flight: bounded memory, whatever the file size), takes their results in submission order
(so rows and bad lines keep file order) and turns each summary into a ``Record`` whose
conversation, reasons and raw row are rebuilt from the line's bytes only if someone reads
them.

Workers are started with ``forkserver`` where there is one (``spawn`` elsewhere): never
``fork``, which is unsafe in a threaded program such as the app.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import sys
from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from typing import Any, Iterator

from synapse_core.data.banned import BannedMatcher, matcher_from_config
from synapse_core.data.lines import (LineSource, RowSummary, from_summary, long_line_reason,
                                     summarize_line)
from synapse_core.data.records import BadLine, Record

BLOCK_BYTES = 1 << 20
"""Bytes of whole lines per task sent to a worker."""

_WORKER: dict[str, Any] = {}
"""A worker process's config, matcher and file (set once by ``_init_worker``)."""


def default_workers() -> int:
    """Worker processes to use: one per CPU this process may run on (at most 8); 1 means
    "score in this process". The machine's load is not subtracted: on a busy machine the
    workers take what CPU is left, and on a quiet one they use it all."""
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        n = os.cpu_count() or 1
    return max(1, min(8, n))


def make_pool(workers: int, config: Any, path: str, with_reasons: bool) -> ProcessPoolExecutor:
    """The pool of scoring processes for one file.

    Started while ``sys.stderr`` has a file descriptor: the process that starts workers
    (multiprocessing's resource tracker, the fork server) is handed ``sys.stderr.fileno()``,
    and inside the app Textual replaces stderr with an object whose ``fileno()`` is -1
    (starting a worker then fails with "bad value(s) in fds_to_keep"). Where stderr has no
    descriptor, the null device stands in while the pool starts its processes."""
    method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
    context = multiprocessing.get_context(method)
    if method == "forkserver":
        # The fork server imports the scoring modules once, and every worker it forks has
        # them: without this each worker spends a third of a second importing them itself.
        # (No effect when this process's fork server is already running.)
        context.set_forkserver_preload([__name__])
    with _stderr_with_fd():  # (the executor's queues start the tracker, its first task the
        # fork server; later workers are forked by the fork server, which needs no stderr)
        pool = ProcessPoolExecutor(workers, mp_context=context,
                                   initializer=_init_worker,
                                   initargs=(config, path, with_reasons))
        pool.submit(int).result()
    return pool


def _init_worker(config: Any, path: str, with_reasons: bool) -> None:
    _WORKER.update(config=config, path=path, with_reasons=with_reasons,
                   matcher=matcher_from_config(config))
    # What the worker imported lives as long as it does: the collector need not walk it
    # again at every collection (a block's rows are freed by reference counting anyway).
    gc.freeze()


def _score_block(line: int, offset: int, block: bytes
                 ) -> list[tuple[int, int, RowSummary | str | None]]:
    """``(line, start offset, summary | reason | None)`` for every line of a block of whole
    lines (the same checks, in the same order, as the single-process reader)."""
    # The collector stays off while a block is scored: a row's objects hold no cycles and are
    # freed by reference counting, but the block's summaries pile up and every collection
    # would walk them again (7% of a worker's time). Any cycle is collected after the block.
    gc.disable()
    try:
        return _score_lines(line, offset, block)
    finally:
        gc.enable()


def _score_lines(line: int, offset: int, block: bytes
                 ) -> list[tuple[int, int, RowSummary | str | None]]:
    config, matcher, path = _WORKER["config"], _WORKER["matcher"], _WORKER["path"]
    with_reasons = _WORKER["with_reasons"]
    limit = config.data.max_line_bytes
    out: list[tuple[int, int, RowSummary | str | None]] = []
    pos, n = 0, len(block)
    find = block.find
    while pos < n:
        nl = find(b"\n", pos)
        end = n if nl < 0 else nl + 1
        data = block[pos:end]
        if end - pos > limit and (end - pos > limit + 1 or len(data.rstrip(b"\r\n")) > limit):
            out.append((line, offset + pos, long_line_reason(end - pos, limit)))
        else:
            if line == 1 and data.startswith(b"\xef\xbb\xbf"):
                data = data[3:]
            out.append((line, offset + pos, summarize_line(
                data, line, path, config, matcher, offset + pos, with_reasons)))
        line += 1
        pos = end
    return out


def read_blocks(fh: Any, limit: int) -> Iterator[tuple[int, int, bytes | None, str]]:
    """``(first line, start offset, bytes of whole lines, "")`` per block of about
    ``BLOCK_BYTES``; a line over ``limit`` that runs past a block is skipped here in 1 MiB
    reads and given as ``(line, start, None, reason)``, so memory stays bounded."""
    line, offset, buf, eof = 1, 0, b"", False
    while True:
        if not eof:
            data = fh.read(BLOCK_BYTES)
            eof = not data
            buf = buf + data if buf else data
        cut = buf.rfind(b"\n") + 1
        if cut:
            head, buf = buf[:cut], buf[cut:]
            yield line, offset, head, ""
            line += head.count(b"\n")
            offset += cut
        if eof:
            if buf:  # a last line without a newline
                yield line, offset, buf, ""
            return
        if len(buf) > limit + 1:  # this line is over the limit: skip to its end
            size, rest = len(buf), b""
            while True:
                data = fh.read(1 << 20)
                if not data:
                    eof = True
                    break
                nl = data.find(b"\n")
                if nl >= 0:
                    size += nl + 1
                    rest = data[nl + 1:]
                    break
                size += len(data)
            yield line, offset, None, long_line_reason(size, limit)
            line += 1
            offset += size
            buf = rest


def iter_parallel_chunks(fh: Any, path: str, config: Any, workers: int, stop: Any = None,
                         with_reasons: bool = False
                         ) -> Iterator[tuple[int, list[Record | BadLine]]]:
    """``(end offset, rows)`` per block of lines of the open binary file ``fh``, in order,
    scored by ``workers`` processes (blank lines are not rows). ``with_reasons``: the records
    carry their reasons (else they are rebuilt from the line when first read). A worker that
    fails raises its error here; an abandoned load cancels what is queued and stops the
    workers."""
    matcher = matcher_from_config(config)
    window: deque[tuple[int, int, bytes | None, Future | str]] = deque()
    most = 2 * workers + 2  # blocks read and not yet yielded: bounded memory
    pool = make_pool(workers, config, path, with_reasons)
    try:
        blocks = read_blocks(fh, config.data.max_line_bytes)
        exhausted = False
        while True:
            while not exhausted and len(window) < most:
                task = next(blocks, None)
                if task is None:
                    exhausted = True
                    break
                line, offset, block, reason = task
                window.append((line, offset, block, reason if block is None else
                               pool.submit(_score_block, line, offset, block)))
            if not window:
                return
            line, offset, block, result = window.popleft()
            if block is None:
                yield offset, [BadLine(path, line, result)]
            else:
                rows = result.result()
                yield offset + len(block), _items(rows, offset, block, path, config, matcher)
            if stop is not None and stop.is_set():
                return
    except BrokenProcessPool as e:  # (from a result, or from submitting to the broken pool)
        raise RuntimeError(f"{path}: a scoring process died ({e})") from e
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _items(rows: list[tuple[int, int, RowSummary | str | None]], base: int, block: bytes,
           path: str, config: Any, matcher: BannedMatcher) -> list[Record | BadLine]:
    out: list[Record | BadLine] = []
    append = out.append
    source = LineSource(block, base, path, config, matcher)
    for line, start, res in rows:
        if res is None:
            continue
        if res.__class__ is str:
            append(BadLine(path, line, res))
        else:
            append(from_summary(line, start, res, source))
    return out


@contextmanager
def _stderr_with_fd() -> Iterator[None]:
    """``sys.stderr`` with a file descriptor while the block runs (see ``make_pool``)."""
    try:
        usable = sys.stderr is not None and sys.stderr.fileno() >= 0
    except (AttributeError, OSError, ValueError):  # no fileno(), or a closed stream
        usable = False
    if usable:
        yield
        return
    real = sys.stderr
    with open(os.devnull, "w", encoding="utf-8") as null:
        sys.stderr = null
        try:
            yield
        finally:
            sys.stderr = real
