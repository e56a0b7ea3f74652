"""Score the lines of a large JSONL file in worker processes, in order, in bounded memory.

The reading process cuts the file into chunks of raw lines and hands them to a pool of
worker processes. Each worker runs the very
same ``load.parse_line`` as the single-process path and sends back, per line, either the
reason it is bad or a compact tuple of plain values (the summary the table, the counts and
the graph need), never a Record: pickling a whole conversation would cost more than scoring
it. The reading process turns each tuple into a ``Record`` whose ``messages``, ``reasons`` and
``raw`` are rebuilt from the line's bytes only if someone reads them (the detail view, the
CLI's reasons, the training set).

Workers are started with ``spawn`` (``fork`` is unsafe in a threaded app) and without the
caller's main script (see ``_bare_main``). At most ``2 × workers + 2`` chunks are in flight, so memory stays bounded whatever the file
size, and results are yielded in submission order, so rows and bad lines keep file order.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import threading
import types
from collections import deque
from contextlib import contextmanager
from functools import partial
from typing import Any, Iterable, Iterator

from synapse_core.data.banned import BannedMatcher, matcher_from_config
from synapse_core.data.records import BadLine, BannedMatch, Record

CHUNK_LINES = 1000
"""Lines per task sent to a worker."""

Entry = tuple[int, int, int, bytes | None, str]
"""``(line, start offset, end offset, line bytes or None, reason when None)`` as read."""

_WORKER: dict[str, Any] = {}
_MAIN_LOCK = threading.Lock()


def default_workers() -> int:
    """Worker processes to use: the CPUs this process may run on, at most 8."""
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        n = os.cpu_count() or 1
    return max(1, min(8, n))


def summary(r: Record, with_reasons: bool = False) -> tuple:
    """The compact, picklable summary of a full Record (what a worker sends back); with
    ``with_reasons`` it also carries the metrics' reasons (the CLI writes them)."""
    return (r.shape, r.turns, r.conversation_quality, r.bias_detection, r.reasoning_quality,
            r.metrics_source, r.score, r.label,
            tuple([(b.word, b.start, b.end, b.message) for b in r.banned]),
            r.reasoning_problems, r.content_hash, r.given_label,
            [(t.subj, t.pred, t.obj) for m in r.messages if m.reasoning
             for t in m.reasoning.triplets],
            r.malformed_triplets, r.reasons if with_reasons else None)


def from_summary(line: int, offset: int, s: tuple, detail: Any) -> Record:
    """A Record from a worker's summary; ``detail()`` builds the full one on demand."""
    (shape, turns, cq, bias, rq, source, score, label, banned, problems, chash, given_label,
     triplets, malformed, reasons) = s
    return Record(line, shape, None, cq, bias, rq, source, reasons, score, label,
                  [BannedMatch(*b) for b in banned] if banned else [], problems, None, chash,
                  offset, given_label, turns=turns, triplets=triplets,
                  malformed_triplets=malformed, detail=detail)


def _init_worker(config: Any, path: str, with_reasons: bool) -> None:
    _WORKER["config"] = config
    _WORKER["with_reasons"] = with_reasons
    _WORKER["matcher"] = matcher_from_config(config)
    _WORKER["path"] = path


def _score_chunk(entries: list[Entry]) -> list[tuple | str | None]:
    from synapse_core.data.load import parse_line

    config, matcher, path = _WORKER["config"], _WORKER["matcher"], _WORKER["path"]
    with_reasons = _WORKER["with_reasons"]
    out: list[tuple | str | None] = []
    for line, offset, _, data, reason in entries:
        if data is None:
            out.append(reason)
            continue
        item = parse_line(data, line, path, config, matcher, offset)
        out.append(None if item is None else item.reason if isinstance(item, BadLine)
                   else summary(item, with_reasons))
    return out


def _detail(data: bytes, line: int, path: str, config: Any, matcher: BannedMatcher,
            offset: int) -> Record:
    from synapse_core.data.load import parse_line

    item = parse_line(data, line, path, config, matcher, offset)
    if not isinstance(item, Record):  # the same bytes scored fine in the worker
        raise RuntimeError(f"{path}:{line}: the row could not be rebuilt")
    return item


def iter_parallel(entries: Iterable[Entry], path: str, config: Any, workers: int,
                  stop: Any = None, with_reasons: bool = False
                  ) -> Iterator[tuple[int, Record | BadLine | None]]:
    """``(end offset of the line, item)`` for every entry, in order, scored by ``workers``
    processes; item is None for a blank line. ``with_reasons``: the records carry their
    reasons (else they are rebuilt from the line when first read)."""
    matcher = matcher_from_config(config)
    ctx = multiprocessing.get_context("spawn")
    pending: deque[tuple[list[Entry], Any]] = deque()
    limit = 2 * workers + 2
    chunks = _chunks(entries)
    with _bare_main():
        pool = ctx.Pool(workers, initializer=_init_worker, initargs=(config, path, with_reasons))
    with pool:
        exhausted = False
        while True:
            while not exhausted and len(pending) < limit:
                chunk = next(chunks, None)
                if chunk is None:
                    exhausted = True
                    break
                pending.append((chunk, pool.apply_async(_score_chunk, (chunk,))))
            if not pending:
                return
            chunk, result = pending.popleft()
            for (line, offset, end, data, _), res in zip(chunk, result.get()):
                if res is None:
                    yield end, None
                elif isinstance(res, str):
                    yield end, BadLine(path, line, res)
                else:
                    yield end, from_summary(line, offset, res, partial(
                        _detail, data, line, path, config, matcher, offset))
            if stop is not None and stop.is_set():
                return


@contextmanager
def _bare_main() -> Iterator[None]:
    """Start workers without re-running the caller's ``__main__`` in each of them.

    ``spawn`` re-imports the main script in every worker, which runs a script without an
    ``if __name__ == "__main__":`` guard again (and fails); the workers only need this module,
    so they are started while ``__main__`` is an empty module."""
    with _MAIN_LOCK:
        real = sys.modules["__main__"]
        sys.modules["__main__"] = types.ModuleType("__main__")
        try:
            yield
        finally:
            sys.modules["__main__"] = real


def _chunks(entries: Iterable[Entry]) -> Iterator[list[Entry]]:
    chunk: list[Entry] = []
    for e in entries:
        chunk.append(e)
        if len(chunk) >= CHUNK_LINES:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
