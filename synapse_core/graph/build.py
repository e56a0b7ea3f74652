"""The knowledge graph of a dataset's ``<kg>`` triplets, built incrementally as rows stream in.

A networkx ``MultiDiGraph``: nodes are normalised entities (``normalize.entity_key``), every
original spelling kept as an alias with its count (the most common one is displayed). There is
one edge per distinct (subject, predicate, object); its key is the normalised predicate and its
only attribute, ``e``, an edge id: ``lines_of(data)`` gives the 1-based row ids (the ``line``
of each dataset row) that state it, in the order they arrived, from compact flat arrays. 100k rows x 5 triplets build in a
few seconds and a few hundred MB (see ``benchmarks/graph_bench.py``).

Read-only queries live in ``queries.py``, health figures in ``health.py``; they take the
graph's ``lock`` so a UI thread may query while a worker thread is still adding rows.
"""

from __future__ import annotations

import gc
import threading
from array import array
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Protocol

import networkx as nx

from synapse_core.graph.normalize import entity_key, predicate_text


MAX_SKIPS_KEPT = 1000
"""Skipped triplets remembered for the report; the rest are only counted."""


class TripletLike(Protocol):
    """Anything with ``subj``, ``pred`` and ``obj`` strings (``synapse_core.data`` Triplet)."""

    subj: str
    pred: str
    obj: str


@dataclass(frozen=True, slots=True)
class RowSkip:
    """A triplet that could not become an edge (an empty part after normalisation)."""

    line: int
    reason: str


class KnowledgeGraph:
    """Entities and predicates of every row's triplets, with per-edge row provenance.

    Feed it with ``add_row(line, triplets, malformed)`` or ``add_records(records)``; rows may
    arrive in any order and in as many batches as needed. ``version`` grows with every change,
    so derived figures (PageRank, components) are cached until the next row arrives.
    """

    def __init__(self) -> None:
        self.graph: nx.MultiDiGraph = nx.MultiDiGraph()
        self.aliases: dict[str, dict[str, int]] = {}
        """entity key -> {original spelling (whitespace collapsed): count}."""
        self.predicate_counts: Counter[str] = Counter()
        """normalised predicate -> number of triplet statements."""
        self.rows = 0
        self.rows_with_kg = 0
        self.rows_with_malformed = 0
        self.malformed_triplets = 0
        self.triplets = 0
        """Triplet statements that became edges (repeats of one edge counted each time)."""
        self.skipped: list[RowSkip] = []
        """Triplets dropped because a part was empty once normalised (the first few)."""
        self.skipped_count = 0
        self.edge_count = 0
        """Distinct edges (kept here: networkx counts them by walking every node)."""
        # Provenance lives outside networkx, in five flat arrays: one linked list of statements
        # (row lines) per edge. An edge's attribute dict holds only its id ({"e": 7}), so it is
        # not tracked by the cyclic GC; per-edge arrays were 500k more objects for every
        # collection to walk (a second-long pause per full collection at 100k rows).
        self._st_line = array("I")   # statement -> row line
        self._st_next = array("q")   # statement -> next statement of the same edge, -1 = last
        self._e_count = array("I")   # edge id -> statements
        self._e_head = array("q")    # edge id -> first statement
        self._e_tail = array("q")    # edge id -> last statement
        self.degree: dict[str, int] = {}
        """entity key -> distinct edges in and out (self-loops twice), kept as edges arrive."""
        self._names: dict[str, tuple[str, str]] = {}
        self._preds: dict[str, str] = {}
        self.version = 0
        self.lock = threading.RLock()
        self._cache: dict[str, tuple[int, Any]] = {}
        self._display: dict[str, tuple[int, str]] = {}

    # -------------------------------------------------------------------------------- building

    def add_row(self, line: int, triplets: Sequence[TripletLike], malformed: int = 0) -> int:
        """Add one dataset row's triplets; ``malformed`` counts its unusable ``<tri>``.

        Returns the number of triplets that became (or reinforced) edges.
        """
        with self.lock:
            g = self.graph
            succ = g._succ  # direct adjacency access: 3x faster than has_edge/add_edge per triplet
            pred_adj = g._pred
            aliases = self.aliases
            names = self._names
            preds = self._preds
            pred_counts = self.predicate_counts
            degree = self.degree
            st_line, st_next = self._st_line, self._st_next
            e_count, e_head, e_tail = self._e_count, self._e_head, self._e_tail
            added = 0
            new_edges = False
            for t in triplets:
                s_raw, p_raw, o_raw = t.subj, t.pred, t.obj
                # plain-dict memos of raw text -> (key, spelling): datasets repeat entities a lot
                sm = names.get(s_raw)
                if sm is None:
                    sm = names[s_raw] = (entity_key(s_raw), _spelling(s_raw))
                om = names.get(o_raw)
                if om is None:
                    om = names[o_raw] = (entity_key(o_raw), _spelling(o_raw))
                p = preds.get(p_raw)
                if p is None:
                    p = preds[p_raw] = predicate_text(p_raw)
                s, o = sm[0], om[0]
                if not (s and p and o):
                    malformed += 1  # an empty part is a malformed triplet too
                    self.skipped_count += 1
                    if len(self.skipped) < MAX_SKIPS_KEPT:
                        part = "subject" if not s else "predicate" if not p else "object"
                        self.skipped.append(RowSkip(line, f"empty {part} in "
                                                    f"({s_raw!r}, {p_raw!r}, {o_raw!r})"))
                    continue
                for key, spelling in (sm, om):
                    counts = aliases.get(key)
                    if counts is None:
                        aliases[key] = {spelling: 1}
                    else:
                        counts[spelling] = counts.get(spelling, 0) + 1
                nbrs = succ.get(s)
                if nbrs is None:
                    g.add_node(s)
                    nbrs = succ[s]
                if o not in succ:
                    g.add_node(o)
                keyed = nbrs.get(o)
                if keyed is None:
                    # What MultiDiGraph.add_edge does, minus its per-call overhead (a third of
                    # the build time): one key dict shared by the successor and predecessor maps.
                    keyed = nbrs[o] = {}
                    pred_adj[o][s] = keyed
                data = keyed.get(p)
                stmt = len(st_line)
                st_line.append(line)
                st_next.append(-1)
                if data is None:
                    keyed[p] = {"e": len(e_count)}
                    e_count.append(1)
                    e_head.append(stmt)
                    e_tail.append(stmt)
                    self.edge_count += 1
                    degree[s] = degree.get(s, 0) + 1
                    degree[o] = degree.get(o, 0) + 1
                    new_edges = True
                else:
                    e = data["e"]
                    st_next[e_tail[e]] = stmt
                    e_tail[e] = stmt
                    e_count[e] += 1
                pred_counts[p] = pred_counts.get(p, 0) + 1
                added += 1
            if new_edges:
                nx._clear_cache(g)  # networkx caches derived views; add_edge would clear them
            self.rows += 1
            self.triplets += added
            if added:
                self.rows_with_kg += 1
            if malformed:
                self.rows_with_malformed += 1
                self.malformed_triplets += malformed
            self.version += 1
            return added

    def add_rows(self, rows: Iterable[tuple[int, Sequence[TripletLike], int]]) -> int:
        """Add many ``(line, triplets, malformed_count)`` rows at once (faster than add_row in
        a loop: the cyclic garbage collector is paused for the batch); returns the count."""
        n = 0
        with self.lock, _gc_paused():
            for line, triplets, malformed in rows:
                self.add_row(line, triplets, malformed)
                n += 1
        return n

    def add_records(self, records: Iterable[Any]) -> int:
        """Add ``synapse_core.data`` Records (``line``, ``triplets``, ``malformed_triplets``).

        Other items (``BadLine``) are ignored; returns how many records were added.
        """
        return self.add_rows((r.line, r.triplets, len(r.malformed_triplets)) for r in records
                             if getattr(r, "triplets", None) is not None)

    def clear(self) -> None:
        """Forget everything (a new dataset is being loaded)."""
        with self.lock:
            lock = self.lock
            self.__init__()  # type: ignore[misc]
            self.lock = lock  # a reader may be waiting on it

    # -------------------------------------------------------------------------------- access

    def display(self, key: str) -> str:
        """The most common original spelling of an entity (its key if unknown)."""
        counts = self.aliases.get(key)
        if not counts:
            return key
        cached = self._display.get(key)
        total = sum(counts.values())
        if cached and cached[0] == total:
            return cached[1]
        name = max(counts.items(), key=lambda kv: (kv[1], kv[0] == key, -len(kv[0])))[0]
        self._display[key] = (total, name)
        return name

    def has_entity(self, key: str) -> bool:
        """True when ``key`` (already normalised) is a node."""
        return key in self.graph

    def resolve(self, name: str) -> str | None:
        """The node key for a name as a user would type it, or None."""
        key = name if name in self.graph else entity_key(name)
        return key if key in self.graph else None

    @property
    def nodes(self) -> int:
        """Number of distinct entities."""
        return self.graph.number_of_nodes()

    @property
    def edges(self) -> int:
        """Number of distinct (subject, predicate, object) edges."""
        return self.edge_count

    @property
    def rows_without_kg(self) -> int:
        """Rows that gave no usable triplet."""
        return self.rows - self.rows_with_kg

    def cached(self, name: str, compute: Any) -> Any:
        """Memoise ``compute()`` until the graph changes (PageRank, components...)."""
        with self.lock:
            hit = self._cache.get(name)
            if hit is not None and hit[0] == self.version:
                return hit[1]
            value = compute()
            self._cache[name] = (self.version, value)
            return value

    def peek_cached(self, name: str) -> Any:
        """A value ``cached`` computed for the current version, else None (never computes)."""
        with self.lock:
            hit = self._cache.get(name)
            return hit[1] if hit is not None and hit[0] == self.version else None

    def lines_of(self, data: dict[str, int]) -> list[int]:
        """The rows (1-based lines) stating an edge, in arrival order, from its attribute dict."""
        out = []
        line, nxt = self._st_line, self._st_next
        i = self._e_head[data["e"]]
        while i != -1:
            out.append(line[i])
            i = nxt[i]
        return out

    def count_of(self, data: dict[str, int]) -> int:
        """How many statements (rows, repeats counted) an edge has, from its attribute dict."""
        return self._e_count[data["e"]]

    def edge_lines(self, subj: str, obj: str, pred: str) -> list[int]:
        """The rows stating (subj, pred, obj), keys already normalised; [] if absent."""
        data = self.graph._succ.get(subj, {}).get(obj, {}).get(pred)
        return self.lines_of(data) if data else []


@lru_cache(maxsize=262_144)
def _spelling(raw: str) -> str:
    return " ".join(raw.split())


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic GC while a batch is added, then restore it as it was.

    Every edge allocates a dict and an array that cannot form cycles; without the pause the
    collector walks the ever-growing graph again and again, which halves build speed.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def build_graph(rows: Iterable[tuple[int, Sequence[TripletLike], int]]) -> KnowledgeGraph:
    """Build a graph from ``(line, triplets, malformed_count)`` tuples."""
    kg = KnowledgeGraph()
    kg.add_rows(rows)
    return kg
