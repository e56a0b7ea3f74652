"""Score the lines of a large JSONL file in worker processes, in order, in bounded memory.

The reading process cuts the file into blocks of about a MiB of whole lines (one ``read``
and one ``rfind`` each: it never walks the lines itself) and hands them to a pool of worker
processes. Each worker splits its block into lines, runs the very same ``load.parse_line``
as the single-process path and sends back, per line, either the reason it is bad or a
compact tuple of plain values (the summary the table, the counts and the graph need), never
a Record: pickling a whole conversation would cost more than scoring it. The reading process turns each tuple into a ``Record`` whose ``messages``, ``reasons`` and
``raw`` are rebuilt from the line's bytes only if someone reads them (the detail view, the
CLI's reasons, the training set).

Workers are forked when the caller has a single thread (the CLI, the benchmark) and spawned
otherwise (``fork`` is unsafe in a threaded app such as the TUI), without re-running the
caller's main script (see ``_bare_main``). At most ``2 × workers + 2`` blocks are in flight,
so memory stays bounded whatever the file size, and results are yielded in submission order,
so rows and bad lines keep file order.
"""

from __future__ import annotations

import gc
import json
import marshal
import multiprocessing
import os
import struct
import sys
import threading
import traceback
import types
from collections import deque
from contextlib import contextmanager
from multiprocessing import connection as mp_connection
from typing import Any, Iterator

from synapse_core.data.banned import BannedMatcher, matcher_from_config
from synapse_core.data.fastrow import summarize
from synapse_core.data.records import BadLine, BannedMatch, Record
from synapse_core.data.rows import content_hash

BLOCK_BYTES = 1 << 20
"""Bytes of whole lines per task sent to a worker."""

_WORKER: dict[str, Any] = {}
_MAIN_LOCK = threading.Lock()
_INVALID = object()


def default_workers() -> int:
    """Worker processes to use: one per CPU this process may run on (at most 8); 1 means
    "score in this process". The machine's load is not subtracted: the reading process and
    the hand-off cost about a tenth of the scoring, so on a busy machine the workers take
    what CPU is left, and on a quiet one they use it all (a rule that gave one process at a
    load average of 1.8 on two CPUs loaded 17k rows/s where two workers loaded 26k)."""
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        n = os.cpu_count() or 1
    return max(1, min(8, n))


def summary(r: Record, with_reasons: bool = False) -> tuple:
    """The compact summary of a full Record (what a worker sends back: plain values, tuples
    rather than lists); with ``with_reasons`` it also carries the metrics' reasons (the CLI
    writes them)."""
    return (r.shape, r.turns, r.conversation_quality, r.bias_detection, r.reasoning_quality,
            r.metrics_source, r.score, r.label,
            tuple([(b.word, b.start, b.end, b.message) for b in r.banned]),
            tuple(r.reasoning_problems), r.content_hash, r.given_label,
            tuple([(t.subj, t.pred, t.obj) for m in r.messages if m.reasoning
                   for t in m.reasoning.triplets]),
            tuple(r.malformed_triplets), r.reasons if with_reasons else None)


def from_summary(line: int, offset: int, s: tuple, detail: Any) -> Record:
    """A Record from a summary; ``detail(record)`` builds the full one on demand."""
    (shape, turns, cq, bias, rq, source, score, label, banned, problems, chash, given_label,
     triplets, malformed, reasons) = s
    return Record(line, shape, None, cq, bias, rq, source, reasons, score, label,
                  tuple([BannedMatch(*b) for b in banned]) if banned else (), problems, None,
                  chash, offset, given_label, turns=turns, triplets=triplets,
                  malformed_triplets=malformed, detail=detail)


class LineSource:
    """The lazy detail of the summary records of one block of lines (or of one line): their
    full Record, rebuilt from the bytes of their line. One per block, shared by its rows."""

    __slots__ = ("block", "base", "path", "config", "matcher")

    def __init__(self, block: bytes, base: int, path: str, config: Any,
                 matcher: BannedMatcher) -> None:
        self.block, self.base, self.path, self.config, self.matcher = (block, base, path,
                                                                       config, matcher)

    def __call__(self, r: Record) -> Record:
        start = r.offset - self.base
        end = self.block.find(b"\n", start) + 1 or len(self.block)
        data = self.block[start:end]
        if r.line == 1 and data.startswith(b"\xef\xbb\xbf"):
            data = data[3:]
        return rebuild_record(data, r.line, self.path, self.config, self.matcher, r.offset)


def _init_worker(config: Any, path: str, with_reasons: bool) -> None:
    _WORKER["config"] = config
    _WORKER["with_reasons"] = with_reasons
    _WORKER["matcher"] = matcher_from_config(config)
    _WORKER["path"] = path


def long_line_reason(size: int, limit: int) -> str:
    """The bad-line reason for a line of ``size`` bytes over ``data.max_line_bytes``."""
    return f"line is {size} bytes, over data.max_line_bytes={limit}"


def parse_line_summary(data: bytes, line: int, path: str, config: Any, matcher: BannedMatcher,
                       offset: int, with_reasons: bool = False) -> tuple | str | None:
    """``load.parse_line`` as a summary: None for a blank line, the reason for a bad one, else
    the summary tuple (from ``fastrow.summarize``, or from the reference Record when the row
    needs it or ``with_reasons`` asks for the reasons)."""
    if not with_reasons:
        try:
            obj = _decode(data.decode("utf-8"))
        except (ValueError, RecursionError, StopIteration):  # parse_line words the reason
            obj = _INVALID
        if obj is not _INVALID:
            try:
                s = summarize(obj, config, matcher, content_hash(data.strip()))
            except RecursionError:  # parse_line names the field
                s = None
            if s is not None:
                return s
    from synapse_core.data.load import parse_line  # (load imports this module)

    item = parse_line(data, line, path, config, matcher, offset)
    return (None if item is None else item.reason if isinstance(item, BadLine)
            else summary(item, with_reasons))


_scan_once = json.JSONDecoder().scan_once


def _decode(text: str) -> Any:
    """``json.loads(text)`` for a line holding one object; anything else (or anything it
    cannot decode) goes to ``json.loads`` itself, which raises as it does."""
    if text[:1] == "{":  # what json.loads does after its whitespace scan, minus its wrapping
        obj, end = _scan_once(text, 0)
        if end == len(text) or not text[end:].strip(" \t\n\r"):
            return obj
    return json.loads(text)


def _score_block(task: tuple[int, int, bytes]) -> list[tuple[int, int, int, Any]]:
    """``(line, start, end, summary | reason | None)`` for every line of a block of whole
    lines (the same checks, in the same order, as the single-process reader)."""
    line, offset, block = task
    config, matcher, path = _WORKER["config"], _WORKER["matcher"], _WORKER["path"]
    with_reasons = _WORKER["with_reasons"]
    limit = config.data.max_line_bytes
    out: list[tuple[int, int, int, Any]] = []
    pos, n = 0, len(block)
    find = block.find
    while pos < n:
        nl = find(b"\n", pos)
        end = n if nl < 0 else nl + 1
        data = block[pos:end]
        if end - pos > limit and (end - pos > limit + 1 or len(data.rstrip(b"\r\n")) > limit):
            out.append((line, offset + pos, offset + end, long_line_reason(end - pos, limit)))
        else:
            if line == 1 and data.startswith(b"\xef\xbb\xbf"):
                data = data[3:]
            out.append((line, offset + pos, offset + end, parse_line_summary(
                data, line, path, config, matcher, offset + pos, with_reasons)))
        line += 1
        pos = end
    return out


def _read_blocks(fh: Any, limit: int) -> Iterator[tuple[int, int, bytes | None, str]]:
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


def rebuild_record(data: bytes, line: int, path: str, config: Any, matcher: BannedMatcher,
            offset: int) -> Record:
    """The full Record of a line that was scored as a summary (its lazy detail)."""
    from synapse_core.data.load import parse_line

    item = parse_line(data, line, path, config, matcher, offset)
    if not isinstance(item, Record):  # the same bytes scored fine in the worker
        raise RuntimeError(f"{path}:{line}: the row could not be rebuilt")
    return item


class _Workers:
    """Worker processes fed through one pipe each: a task is ``(first line, offset, length)``
    of a block of whole lines, which the worker reads from the file itself (``os.pread``), so
    the reading process never copies a block into a pipe; the answer is one ``marshal``
    payload per block (a list of plain tuples: no pickling of objects, no helper threads)."""

    def __init__(self, ctx: Any, workers: int, config: Any, path: str, with_reasons: bool):
        self.conns: list[Any] = []
        self.procs: list[Any] = []
        with _bare_main(), _stderr_with_fd():
            for _ in range(workers):
                ours, theirs = ctx.Pipe()
                proc = ctx.Process(target=_worker_main, daemon=True,
                                   args=(theirs, config, path, with_reasons))
                proc.start()
                theirs.close()
                self.conns.append(ours)
                self.procs.append(proc)

    def close(self) -> None:
        """Stop the workers (at once: an abandoned load must not keep them scoring)."""
        for conn in self.conns:
            try:
                conn.send_bytes(b"")
            except OSError:  # already gone: nothing to stop
                continue
        for conn in self.conns:
            conn.close()
        for proc in self.procs:
            proc.join(timeout=5)
            if proc.is_alive():
                proc.terminate()
                proc.join()


def _worker_main(conn: Any, config: Any, path: str, with_reasons: bool) -> None:
    """A worker's loop: read the task's block from the file, score it, answer one payload."""
    _init_worker(config, path, with_reasons)
    # This process only scores blocks: what it inherited or imported lives as long as it does,
    # so the collector need not walk it again; and a block's rows are freed by reference
    # counting, so it collects once a block, not every few hundred objects (4% of the time).
    gc.freeze()
    gc.disable()
    fd = os.open(path, os.O_RDONLY)
    try:
        while True:
            try:
                task = conn.recv_bytes()
            except EOFError:  # the reading process is gone
                return
            if not task:
                return
            line, offset, length = _TASK.unpack(task)
            try:
                block = os.pread(fd, length, offset)
                if len(block) != length:
                    raise RuntimeError(f"{path}: the file changed while it was read")
                payload = b"R" + marshal.dumps(_score_block((line, offset, block)))
                gc.collect()
            except Exception:  # noqa: BLE001 - reported to the reader, which raises it
                payload = b"E" + traceback.format_exc().encode("utf-8", "replace")
            try:
                conn.send_bytes(payload)
            except OSError:  # the reading process stopped listening: the load was abandoned
                return
    finally:
        os.close(fd)


_TASK = struct.Struct("<qqq")
_DEPTH = 2
"""Tasks queued per worker: one to score and the next, so a worker never waits for work."""


def iter_parallel_chunks(fh: Any, path: str, config: Any, workers: int, stop: Any = None,
                         with_reasons: bool = False
                         ) -> Iterator[tuple[int, list[Record | BadLine]]]:
    """``(end offset, rows)`` per block of lines of the open binary file ``fh``, in order,
    scored by ``workers`` processes (blank lines are not rows). ``with_reasons``: the records
    carry their reasons (else they are rebuilt from the line when first read)."""
    matcher = matcher_from_config(config)
    limit = config.data.max_line_bytes
    # fork is quick and safe while this is the only thread; a threaded app gets spawn
    method = "fork" if threading.active_count() == 1 and hasattr(os, "fork") else "spawn"
    pool = _Workers(multiprocessing.get_context(method), workers, config, path, with_reasons)
    blocks = _read_blocks(fh, limit)
    most = 2 * workers + 2  # blocks read and not yet yielded: bounded memory
    held: dict[int, tuple[int, bytes | None, Any]] = {}  # seq -> (offset, block, result)
    queued: list[deque[int]] = [deque() for _ in range(workers)]  # seqs sent, per worker
    sent = done = 0
    exhausted = False
    try:
        while True:
            while not exhausted and sent - done < most:
                w = min(range(workers), key=lambda i: len(queued[i]))
                if len(queued[w]) >= _DEPTH:
                    break
                task = next(blocks, None)
                if task is None:
                    exhausted = True
                    break
                line, offset, block, reason = task
                if block is None:
                    held[sent] = (offset, None, BadLine(path, line, reason))
                else:
                    pool.conns[w].send_bytes(_TASK.pack(line, offset, len(block)))
                    queued[w].append(sent)
                    held[sent] = (offset, block, None)
                sent += 1
            if done == sent:
                return
            base, block, result = held[done]
            if block is not None and result is None:  # wait for any worker's answer
                ready = mp_connection.wait([pool.conns[i] for i in range(workers) if queued[i]])
                for conn in ready:
                    w = pool.conns.index(conn)
                    try:
                        payload = conn.recv_bytes()
                    except EOFError:
                        raise RuntimeError(f"{path}: a scoring process died") from None
                    if payload[:1] != b"R":
                        raise RuntimeError(f"{path}: a scoring process failed:\n"
                                           + payload[1:].decode("utf-8", "replace"))
                    seq = queued[w].popleft()
                    held[seq] = held[seq][:2] + (payload,)
                continue
            del held[done]
            done += 1
            if block is None:
                yield base, [result]
            else:
                yield base + len(block), _items(marshal.loads(memoryview(result)[1:]), base,
                                                block, path, config, matcher)
            if stop is not None and stop.is_set():
                return
    finally:
        pool.close()


def _items(rows: list[tuple[int, int, int, Any]], base: int, block: bytes, path: str,
           config: Any, matcher: BannedMatcher) -> list[Record | BadLine]:
    out: list[Record | BadLine] = []
    append = out.append
    source = LineSource(block, base, path, config, matcher)
    for line, start, _, res in rows:
        if res is None:
            continue
        if res.__class__ is str:
            append(BadLine(path, line, res))
        else:
            append(from_summary(line, start, res, source))
    return out


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


@contextmanager
def _stderr_with_fd() -> Iterator[None]:
    """Start workers with a ``sys.stderr`` that has a file descriptor.

    ``spawn`` starts multiprocessing's resource tracker, which hands ``sys.stderr.fileno()`` to
    its process; in the TUI, Textual captures stderr with an object whose ``fileno()`` is -1,
    and starting a worker failed with "bad value(s) in fds_to_keep". Where stderr has no
    descriptor, the tracker gets the null device while the workers start."""
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
