"""The neighbourhood of one entity, shaped for drawing: what ``GraphPane`` shows.

``ego_view(kg, entity, depth)`` returns the entity's out-edges (it -> X) and in-edges
(X -> it), each with how many rows state it; at depth 2 every out-neighbour also lists its own
out-edges and every in-neighbour its own in-edges, so both sides read as chains that run
through the entity. Branches are sorted by statement count and capped; the caps' remainders
are reported (``more_out``...) so the drawing can say "+N more".
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field

from synapse_core.graph.build import KnowledgeGraph
from synapse_core.graph.queries import entity_predicates, sample_index


@dataclass(frozen=True, slots=True)
class EgoLeaf:
    """A depth-2 edge seen from a depth-1 neighbour."""

    name: str
    predicate: str
    count: int


@dataclass(slots=True)
class EgoBranch:
    """A depth-1 edge and, at depth 2, the next hop from its far end."""

    key: str
    name: str
    predicate: str
    count: int
    children: list[EgoLeaf] = field(default_factory=list)
    more_children: int = 0


@dataclass(slots=True)
class EgoView:
    """One entity's neighbourhood (see the module docstring)."""

    key: str
    name: str
    depth: int
    out: list[EgoBranch] = field(default_factory=list)
    inc: list[EgoBranch] = field(default_factory=list)
    more_out: int = 0
    more_in: int = 0


def _edges(kg: KnowledgeGraph, adj: dict, key: str, skip: str | None,
           n: int) -> tuple[list[tuple[str, str, int]], int]:
    """The ``n`` most stated edges of ``key`` in ``adj`` and how many there are in all
    (a partial sort: hubs have tens of thousands of edges)."""
    count = kg.count_of
    edges = ((other, p, count(d)) for other, keyed in adj[key].items() if other != skip
             for p, d in keyed.items())
    total = sum(len(keyed) for other, keyed in adj[key].items() if other != skip)
    return heapq.nsmallest(n, edges, key=lambda t: (-t[2], t[1], t[0])), total


def ego_view(kg: KnowledgeGraph, entity: str, depth: int = 1, max_branches: int = 12,
             max_children: int = 3) -> EgoView | None:
    """The neighbourhood of ``entity`` to ``depth`` 1 or 2; None if it is not in the graph."""
    if depth not in (1, 2):
        raise ValueError(f"depth must be 1 or 2, not {depth}")
    with kg.lock:
        key = kg.resolve(entity)
        if key is None:
            return None
        g = kg.graph
        view = EgoView(key, kg.display(key), depth)
        for adj, branches, side in ((g._succ, view.out, "out"), (g._pred, view.inc, "in")):
            edges, total = _edges(kg, adj, key, None, max_branches)
            for other, p, n in edges:
                b = EgoBranch(other, kg.display(other), p, n)
                if depth == 2 and other != key:
                    nxt, count = _edges(kg, adj, other, key, max_children)
                    b.children = [EgoLeaf(kg.display(o), q, c) for o, q, c in nxt]
                    b.more_children = max(0, count - max_children)
                branches.append(b)
            rest = max(0, total - max_branches)
            if side == "out":
                view.more_out = rest
            else:
                view.more_in = rest
    return view


@dataclass(frozen=True, slots=True)
class EntityDetail:
    """Everything the graph pane shows for one entity: its ego view, degree, PageRank (when
    already computed), spellings, predicates and first sample rows with one triplet each."""

    view: EgoView
    degree: int
    pagerank: float | None
    aliases: list[tuple[str, int]]
    predicates: list[tuple[str, str, int]]
    samples: list[tuple[int, str]]
    more_samples: int


def entity_detail(kg: KnowledgeGraph, entity: str, depth: int = 1,
                  sample_limit: int = 500) -> EntityDetail | None:
    """Gather an ``EntityDetail`` under the graph's lock; None if the entity is unknown."""
    with kg.lock:
        view = ego_view(kg, entity, depth)
        if view is None:
            return None
        rows, total = sample_index(kg, view.key, sample_limit)
        ranks = kg.peek_cached("pagerank:0.85")  # never computed here: it can take seconds
        return EntityDetail(
            view=view, degree=kg.degree.get(view.key, 0),
            pagerank=ranks.get(view.key) if ranks else None,
            aliases=sorted(kg.aliases.get(view.key, {}).items(), key=lambda kv: -kv[1]),
            predicates=entity_predicates(kg, view.key),
            samples=[(ln, f"{s} —{p}→ {o}") for ln, s, p, o in rows],
            more_samples=max(0, total - sample_limit))
