"""A compact column store of the scored rows: what the browser keeps for a million rows.

One numpy array per summary column (about 70 bytes a row), grown by doubling. The full
``Record`` of a row is re-read from the file by byte offset when the user opens it
(``load.read_record``). Filtering and sorting return an index array (the "view"); the table
widget renders only the visible slice of it.

Filter language (space-separated terms, all must hold):
``label:desirable`` ``label:undesirable`` ``label_source:given|score`` ``shape:messages``
``source:given`` (metrics) ``decision:accept|reject|none``, comparisons on ``score cq bias rq turns banned problems line``
with ``< <= > >= = !=`` (``score<0.5``, ``banned>0``), and any other word or "quoted phrase" is a
case-insensitive text search of the raw row (done by ``search_lines`` over the file). A bare
``word:value`` whose word is not a field is an error naming the fields (quote it to search for
the text).
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np

from synapse_core.data.records import Record

SHAPES = ("sharegpt", "messages", "prompt_completion", "text")
_SHAPE_INDEX = {s: i for i, s in enumerate(SHAPES)}
DECISIONS = {"none": 0, "accept": 1, "reject": -1}
_COLS: dict[str, Any] = {
    "line": np.int64, "offset": np.int64, "shape": np.uint8, "turns": np.uint16,
    "cq": np.float64, "bias": np.float64, "rq": np.float64, "score": np.float64,
    "label": np.uint8, "banned": np.uint32, "problems": np.uint32, "given": np.uint8,
    "hash": np.uint64, "decision": np.int8, "label_source": np.uint8,
}
FIELDS: dict[str, tuple[str, ...]] = {
    "label": ("desirable", "undesirable"), "label_source": ("given", "score"), "shape": SHAPES,
    "source": ("given", "computed"), "decision": tuple(DECISIONS),
}
"""The ``field:value`` filters and the values each takes."""
NUMERIC_FILTERS = ("score", "cq", "bias", "rq", "turns", "banned", "problems", "line")
_CMP_RE = re.compile(r"^(%s)(<=|>=|!=|==|<|>|=)(-?\d+(?:\.\d*)?|-?\.\d+)$" % "|".join(NUMERIC_FILTERS))
_OPS: dict[str, Callable[[np.ndarray, float], np.ndarray]] = {
    "<": np.less, "<=": np.less_equal, ">": np.greater, ">=": np.greater_equal,
    "=": np.equal, "==": np.equal, "!=": np.not_equal,
}


_FIELD_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class FilterError(ValueError):
    """A filter term that cannot be understood; the message says which and why."""


@dataclass
class Filter:
    """A parsed filter: column predicates plus free-text terms (searched in the file)."""

    predicates: list[tuple[str, str, Any]]
    text: list[str]


def parse_filter(expr: str) -> Filter:
    """Parse the filter language (see the module doc). Raises FilterError on bad terms."""
    try:
        terms = shlex.split(expr)
    except ValueError as e:
        raise FilterError(f"filter: {e}") from None
    preds: list[tuple[str, str, Any]] = []
    text: list[str] = []
    bare = set(expr.split())  # a term written without quotes (a quoted one is always text)
    for term in terms:
        m = _CMP_RE.match(term)
        if m:
            preds.append((m.group(1), m.group(2), float(m.group(3))))
            continue
        key, sep, value = term.partition(":")
        if sep and key in FIELDS:
            value = value.lower()
            allowed = FIELDS[key]
            if value not in allowed:
                raise FilterError(f"{key}:{value}: choose one of {', '.join(allowed)}")
            preds.append((key, ":", value))
            continue
        if any(op in term for op in "<>") or (sep and key in NUMERIC_FILTERS):
            raise FilterError(f"{term!r}: write comparisons as e.g. score<0.5 or banned>0")
        if sep and term in bare and _FIELD_RE.match(key):
            raise FilterError(
                f"{key}:{value}: unknown field {key!r}; the fields are "
                f"{', '.join(f'{k}:' for k in FIELDS)} and comparisons on "
                f"{' '.join(NUMERIC_FILTERS)} (e.g. score<0.5); to search for the text, "
                f"quote it: \"{term}\"")
        text.append(term)
    return Filter(preds, text)


class RowTable:
    """Growable column store of the summary of every valid row."""

    def __init__(self, capacity: int = 4096) -> None:
        self._n = 0
        self._cols = {k: np.zeros(capacity, dtype=t) for k, t in _COLS.items()}

    def __len__(self) -> int:
        return self._n

    @property
    def nbytes(self) -> int:
        """Bytes held by the columns (capacity included)."""
        return sum(a.nbytes for a in self._cols.values())

    def col(self, name: str) -> np.ndarray:
        """The live slice of one column (a view; do not keep across ``add``)."""
        return self._cols[name][: self._n]

    def _grow(self, need: int) -> None:
        cap = len(self._cols["line"])
        if need <= cap:
            return
        while cap < need:
            cap *= 2
        for k, a in self._cols.items():
            b = np.zeros(cap, dtype=a.dtype)
            b[: self._n] = a[: self._n]
            self._cols[k] = b

    def add(self, r: Record) -> None:
        """Append one record's summary."""
        self.extend((r,))

    def extend(self, records: Iterable[Record]) -> None:
        """Append the summaries of several records."""
        recs = list(records)
        if not recs:
            return
        n0 = self._n
        self._grow(n0 + len(recs))
        c = self._cols
        sl = slice(n0, n0 + len(recs))
        # one pass over the records, then a column per field (zip transposes in C)
        (c["line"][sl], c["offset"][sl], c["shape"][sl], c["turns"][sl], c["cq"][sl],
         c["bias"][sl], c["rq"][sl], c["score"][sl], c["label"][sl], c["banned"][sl],
         c["problems"][sl], c["given"][sl], c["label_source"][sl], hashes) = zip(*[
            (r.line, r.offset, _SHAPE_INDEX[r.shape], min(65535, r.turns), r.conversation_quality,
             r.bias_detection, r.reasoning_quality, r.score, r.label == "desirable",
             len(r.banned), len(r.reasoning_problems), r.metrics_source == "given",
             r.given_label is not None, r.content_hash) for r in recs])
        joined = "".join(hashes)
        if len(joined) == 16 * len(recs):  # every row has its 16-digit hash: convert at once
            c["hash"][sl] = np.frombuffer(bytes.fromhex(joined), dtype=">u8")
        else:
            c["hash"][sl] = [int(h, 16) if h else 0 for h in hashes]
        lines = c["line"][sl]
        if n0 and lines[0] <= c["line"][n0 - 1] or (np.diff(lines) <= 0).any():
            raise ValueError("rows must be added in increasing line order")
        self._n = n0 + len(recs)

    def seal(self) -> None:
        """Drop spare capacity once loading is done."""
        for k, a in self._cols.items():
            self._cols[k] = a[: self._n].copy()

    def index_of(self, line: int) -> int | None:
        """Row index of a source line, or None when that line is not a valid row.

        Rows arrive in line order, so this is a binary search (no per-row dict: at a million
        rows a dict alone would cost ~100 MB)."""
        lines = self.col("line")
        i = int(np.searchsorted(lines, line))
        return i if i < self._n and lines[i] == line else None

    def row(self, i: int) -> dict[str, Any]:
        """One row's summary as plain values (for display)."""
        c = self._cols
        return {"line": int(c["line"][i]), "offset": int(c["offset"][i]),
                "shape": SHAPES[c["shape"][i]], "turns": int(c["turns"][i]),
                "cq": float(c["cq"][i]), "bias": float(c["bias"][i]), "rq": float(c["rq"][i]),
                "score": float(c["score"][i]),
                "label": "desirable" if c["label"][i] else "undesirable",
                "banned": int(c["banned"][i]), "problems": int(c["problems"][i]),
                "source": "given" if c["given"][i] else "computed",
                "label_source": "given" if c["label_source"][i] else "score",
                "hash": f"{int(c['hash'][i]):016x}", "decision": int(c["decision"][i])}

    def set_decision(self, line: int, decision: str) -> None:
        """Record an accept/reject/none for a line (for the decision filter and counts)."""
        i = self.index_of(line)
        if i is not None:
            self._cols["decision"][i] = DECISIONS[decision]

    def apply_decisions(self, decisions: Iterable[Any]) -> int:
        """Set the decision column from scratch to ``decisions`` (objects with ``line``,
        ``content_hash`` and ``decision``); those whose line now holds other content, or no
        valid row, are not applied and counted (the return value)."""
        col = self._cols["decision"]
        col[: self._n] = 0
        hashes = self.col("hash")
        stale = 0
        for d in decisions:
            i = self.index_of(d.line)
            if i is None or f"{int(hashes[i]):016x}" != d.content_hash:
                stale += 1
                continue
            col[i] = DECISIONS[d.decision]
        return stale

    # -----------------------------------------------------------------------------------------
    def mask(self, flt: Filter, text_lines: set[int] | None = None) -> np.ndarray:
        """Boolean mask of the rows matching the column predicates (and the text hits)."""
        m = np.ones(self._n, dtype=bool)
        for key, op, value in flt.predicates:
            if op == ":":
                if key == "label":
                    m &= self.col("label") == (value == "desirable")
                elif key == "shape":
                    m &= self.col("shape") == SHAPES.index(value)
                elif key == "source":
                    m &= self.col("given") == (value == "given")
                elif key == "label_source":
                    m &= self.col("label_source") == (value == "given")
                else:
                    m &= self.col("decision") == DECISIONS[value]
            else:
                m &= _OPS[op](self.col(key), value)
        if flt.text:
            hits = np.fromiter(text_lines or (), dtype=np.int64)
            m &= np.isin(self.col("line"), hits)
        return m

    def view(self, flt: Filter | None = None, sort: str | None = None, descending: bool = False,
             text_lines: set[int] | None = None) -> np.ndarray:
        """Row indices matching ``flt``, ordered by ``sort`` (stable; ties by line)."""
        idx = (np.nonzero(self.mask(flt, text_lines))[0] if flt and (flt.predicates or flt.text)
               else np.arange(self._n))
        if sort and sort != "line":
            key = self.col(sort)[idx]
            order = np.argsort(-key if descending and key.dtype.kind == "f" else key, kind="stable")
            if descending and key.dtype.kind != "f":
                order = order[::-1]
            idx = idx[order]
        elif descending:
            idx = idx[::-1]
        return idx

    def counts(self, bad_lines: int = 0) -> dict[str, int]:
        """The summary: rows, bad lines, desirable, undesirable, flagged, overridden, labels
        given by the rows themselves, and rows labelled by a score with no reasoning credit
        (rq 0: see ``scoring.no_reasoning_note``)."""
        lab = self.col("label")
        des = int(lab.sum())
        given = self.col("label_source") != 0
        return {"rows": self._n, "bad_lines": bad_lines, "desirable": des,
                "undesirable": self._n - des, "flagged": int((self.col("banned") > 0).sum()),
                "overridden": int((self.col("decision") != 0).sum()),
                "label_given": int(given.sum()),
                "no_reasoning": int(((self.col("rq") == 0) & ~given).sum())}


def search_lines(path: str | Path, terms: list[str], stop: Any = None) -> set[int]:
    """Lines of a JSONL file (or rows of a saved dataset) whose raw text contains every term,
    case-insensitively (ASCII case folding; other text must match exactly)."""
    p = Path(path)
    needles = [t.lower().encode("utf-8") for t in terms]
    # the same text as a JSON writer with ensure_ascii escapes it (\u00fc), lowered
    alt = [json.dumps(t.lower())[1:-1].lower().encode("ascii") for t in terms]
    hits: set[int] = set()
    if p.is_dir():
        from synapse_core.data.load import _load_dataset

        for i, row in enumerate(_load_dataset(p), 1):
            s = json.dumps(row, ensure_ascii=False).lower().encode("utf-8")
            if all(n in s for n in needles):
                hits.add(i)
        return hits
    with open(p, "rb") as fh:
        for line, raw in enumerate(fh, 1):
            low = raw.lower()
            if all(n in low or a in low for n, a in zip(needles, alt)):
                hits.add(line)
            if stop is not None and line % 8192 == 0 and stop.is_set():
                break
    return hits
