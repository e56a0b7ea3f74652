"""One JSONL line to a row: ``parse_line`` (used by the loader and by its worker processes),
the ``RowSummary`` a worker sends back, and the Record rebuilt from a summary.

Whatever a line holds, reading it never raises: it gives a ``Record``, a ``BadLine`` naming
the line and the reason, or None for a blank line. JSON is decoded by orjson (about three
times quicker than ``json``); what orjson refuses goes to ``json`` itself, which either words
the error (``json``'s messages name the column) or reads what orjson is stricter about (NaN,
lone surrogate escapes, which the row checks then report).
"""

from __future__ import annotations

import json
import re
from typing import Any, NamedTuple

import orjson

from synapse_core.data.banned import BannedMatcher
from synapse_core.data.records import BadLine, BannedMatch, Record
from synapse_core.data.rows import RowError, build_record, content_hash

_loads = orjson.loads
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD]").search
"""Whether a line may hold a surrogate escape (one regex search: two ``in`` tests of three
bytes took four times as long)."""
_JSONDecodeError = orjson.JSONDecodeError


class RowSummary(NamedTuple):
    """What the table, the counts, the graph and review decisions need of one row: the
    plain values a worker process sends back instead of a whole Record (pickling a
    conversation costs more than scoring it)."""

    shape: str
    turns: int
    conversation_quality: float
    bias_detection: float
    reasoning_quality: float
    metrics_source: str
    score: float
    label: str
    banned: tuple[tuple[str, int, int, int], ...]
    """(word, start, end, message) per banned-word match."""
    reasoning_problems: tuple[str, ...]
    content_hash: str
    given_label: bool | None
    triplets: tuple[tuple[str, str, str], ...]
    malformed_triplets: tuple[str, ...]
    reasons: dict[str, list[str]] | None
    """The metrics' reasons when asked for (the CLI writes them), else None."""


def long_line_reason(size: int, limit: int) -> str:
    """The bad-line reason for a line of ``size`` bytes over ``data.max_line_bytes``."""
    return f"line is {size} bytes, over data.max_line_bytes={limit}"


def parse_line(data: bytes, line: int, path: str, config: Any, matcher: BannedMatcher,
               offset: int = -1) -> Record | BadLine | None:
    """One JSONL line (bytes, without the size check) to a Record, a BadLine, or None if blank.
    Never raises: any failure while reading the row makes it a bad line with the reason."""
    try:
        obj = _loads(data)
    except _JSONDecodeError:
        obj = _decode_slow(data)
        if obj is _BLANK:
            return None
        if type(obj) is str:
            return BadLine(path, line, obj)
    if _SURROGATE_ESCAPE(data) and (where := _lone_surrogate(obj)):
        return BadLine(path, line, where)
    return parse_object(obj, line, path, config, matcher, content_hash(data.strip()), offset)


def parse_object(obj: Any, line: int, path: str, config: Any, matcher: BannedMatcher,
                 chash: str, offset: int = -1) -> Record | BadLine:
    """One decoded row to a Record, or a BadLine with the reason (never raises)."""
    try:
        return build_record(obj, line, config, matcher, chash, offset)
    except RowError as e:
        return BadLine(path, line, str(e))
    except Exception as e:  # noqa: BLE001 - no row may stop a load: it is set aside, named
        return BadLine(path, line, f"the row could not be read: {type(e).__name__}: {e}")


_BLANK = object()


def _decode_slow(data: bytes) -> Any:
    """What orjson refused, decoded by ``json``: the object, ``_BLANK``, or the reason."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        return f"not UTF-8: byte 0x{data[e.start]:02x} at column {e.start + 1}"
    if not text.strip():
        return _BLANK
    try:
        # without the line break, a string left open is reported as such (not as a control
        # character: the line break it ran into)
        return json.loads(text.rstrip("\r\n"))
    except json.JSONDecodeError as e:
        if e.msg.startswith("Unterminated string"):
            return f"invalid JSON: unterminated string starting at column {e.colno}"
        if e.msg.startswith("Invalid control character"):
            return (f"invalid JSON: a raw control character (0x{ord(e.doc[e.pos]):02x}) inside a "
                    f"string at column {e.colno} (write it as an escape such as \\t)")
        return f"invalid JSON: {e.msg} (column {e.colno})"
    except RecursionError:
        return "invalid JSON: nested too deeply"
    except ValueError as e:  # an integer of more than 4,300 digits (int() refuses it)
        return f"invalid JSON: {e}".split(";")[0]


def _lone_surrogate(obj: Any) -> str:
    """Where a string of ``obj`` holds a lone surrogate (a ``\\ud800`` escape with no pair:
    not Unicode text, it cannot be written as UTF-8), as a reason naming the field; else ""."""
    todo: list[tuple[str, Any]] = [("", obj)]
    while todo:
        where, value = todo.pop()
        if type(value) is str:
            at = _surrogate_at(value)
            if at >= 0:
                return (f"{where or 'the row'}: lone surrogate \\u{ord(value[at]):04x} at "
                        f"character {at + 1} (not valid Unicode text)")
        elif type(value) is dict:
            for k, v in reversed(value.items()):
                if _surrogate_at(k) >= 0:
                    return f"{where or 'the row'}: a key holds a lone surrogate"
                todo.append((f"{where}.{k}" if where else k, v))
        elif type(value) is list:
            todo.extend((f"{where}[{i}]", v) for i, v in reversed(list(enumerate(value))))
    return ""


def _surrogate_at(text: str) -> int:
    """Index of the first lone surrogate of ``text``, or -1."""
    if text.isascii():
        return -1
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as e:
        return e.start
    return -1


def summarize(r: Record, with_reasons: bool = False) -> RowSummary:
    """The summary of a Record; with ``with_reasons`` it carries the metrics' reasons.

    A plain tuple in ``RowSummary``'s field order: it crosses the process boundary, and
    pickle writes and reads a plain tuple in C, where a named tuple costs a Python call each
    way (``RowSummary._make`` gives the named form)."""
    banned = r.banned
    return (r.shape, r.turns, r.conversation_quality, r.bias_detection, r.reasoning_quality,
            r.metrics_source, r.score, r.label,
            tuple([(b.word, b.start, b.end, b.message) for b in banned]) if banned else (),
            tuple(r.reasoning_problems), r.content_hash, r.given_label,
            tuple([tuple(t) for t in r.triplets]), tuple(r.malformed_triplets),
            r.reasons if with_reasons else None)  # type: ignore[return-value]


def summarize_line(data: bytes, line: int, path: str, config: Any, matcher: BannedMatcher,
                   offset: int, with_reasons: bool = False) -> RowSummary | str | None:
    """``parse_line`` as a summary: None for a blank line, the reason for a bad one."""
    item = parse_line(data, line, path, config, matcher, offset)
    if item is None or item.__class__ is BadLine:
        return item and item.reason
    return summarize(item, with_reasons)


def from_summary(line: int, offset: int, s: RowSummary | tuple, detail: Any) -> Record:
    """A Record from a summary (named or plain tuple); ``detail(record)`` builds the full one
    on demand."""
    (shape, turns, cq, bias, rq, source, score, label, banned, problems, chash, given,
     triplets, malformed, reasons) = s
    return Record(line, shape, None, cq, bias, rq, source, reasons, score, label,
                  tuple([BannedMatch(*b) for b in banned]) if banned else (),
                  problems, None, chash, offset, given,
                  turns=turns, triplets=triplets, malformed_triplets=malformed, detail=detail)


class LineSource:
    """The lazy detail of the summary records of one block of lines: their full Record,
    rebuilt from the bytes of their line. One per block, shared by its rows."""

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
        item = parse_line(data, r.line, self.path, self.config, self.matcher, r.offset)
        if not isinstance(item, Record):  # the same bytes scored fine in the worker
            raise RuntimeError(f"{self.path}:{r.line}: the row could not be rebuilt")
        return item
