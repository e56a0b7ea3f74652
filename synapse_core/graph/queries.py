"""Read-only questions asked of a ``KnowledgeGraph``.

Every function takes the graph's lock, so it may run in a UI worker while rows are still being
added. Entity arguments accept what a user types ("Neural Networks"); they are normalised.
"""

from __future__ import annotations

import difflib
import heapq
from collections import Counter
from dataclasses import dataclass

import networkx as nx

from synapse_core.graph.build import KnowledgeGraph
from synapse_core.graph.normalize import clean_text, predicate_text


@dataclass(frozen=True, slots=True)
class EntityHit:
    """A search result: the node key, its displayed name, how it matched and its degree."""

    key: str
    name: str
    match: str  # "exact", "prefix", "substring", "alias" or "fuzzy"
    degree: int


@dataclass(frozen=True, slots=True)
class Neighbour:
    """One edge seen from an entity: ``direction`` "out" (entity -> other) or "in"."""

    key: str
    name: str
    predicate: str
    direction: str
    lines: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class PathStep:
    """One hop of a path: ``subj --predicate--> obj`` as stated in the data."""

    subj: str
    predicate: str
    obj: str
    forward: bool
    """False when the path walks this edge backwards (undirected search)."""


_MATCH_RANK = {"exact": 0, "prefix": 1, "substring": 2, "alias": 3, "fuzzy": 4}


def search(kg: KnowledgeGraph, query: str, limit: int = 50, fuzzy: bool = True) -> list[EntityHit]:
    """Entities whose key or an alias contains ``query``, then close fuzzy matches.

    Ranked exact > prefix > substring > alias > fuzzy, then by degree (busiest first).
    """
    q = clean_text(query)
    if not q:
        return []
    with kg.lock:
        g = kg.graph
        found: dict[str, str] = {}
        for key in g:
            if q in key:
                found[key] = "exact" if key == q else "prefix" if key.startswith(q) else "substring"
        if len(found) < limit:
            for key, counts in kg.aliases.items():
                if key not in found and len(counts) > 1 and any(q in clean_text(a) for a in counts):
                    found[key] = "alias"
        if fuzzy and len(found) < limit:
            # difflib is O(nodes); cap the candidates it scores on huge graphs
            pool = list(g) if g.number_of_nodes() <= 200_000 else list(g)[:200_000]
            for key in difflib.get_close_matches(q, pool, n=limit, cutoff=0.75):
                found.setdefault(key, "fuzzy")
        deg = degrees(kg)
        hits = [EntityHit(k, kg.display(k), m, deg[k]) for k, m in found.items()]
    hits.sort(key=lambda h: (_MATCH_RANK[h.match], -h.degree, h.key))
    return hits[:limit]


def neighbours(kg: KnowledgeGraph, entity: str, direction: str = "both",
               predicate: str | None = None) -> list[Neighbour]:
    """Edges around ``entity`` (``direction`` "out", "in" or "both"), optionally one predicate.

    Sorted by how many rows state the edge (most first).
    """
    if direction not in ("out", "in", "both"):
        raise ValueError(f"direction must be out, in or both, not {direction!r}")
    pred = predicate_text(predicate) if predicate else None
    with kg.lock:
        key = kg.resolve(entity)
        if key is None:
            return []
        out: list[Neighbour] = []
        g = kg.graph
        if direction in ("out", "both"):
            for other, keyed in g._succ[key].items():
                for p, data in keyed.items():
                    if pred is None or p == pred:
                        out.append(Neighbour(other, kg.display(other), p, "out", tuple(kg.lines_of(data))))
        if direction in ("in", "both"):
            for other, keyed in g._pred[key].items():
                for p, data in keyed.items():
                    if pred is None or p == pred:
                        out.append(Neighbour(other, kg.display(other), p, "in", tuple(kg.lines_of(data))))
    out.sort(key=lambda n: (-len(n.lines), n.direction, n.predicate, n.key))
    return out


def shortest_path(kg: KnowledgeGraph, source: str, target: str,
                  directed: bool = True) -> list[PathStep] | None:
    """The fewest-hop chain of triplets from ``source`` to ``target``; None if unconnected.

    ``directed=False`` may walk edges backwards (``PathStep.forward`` says which way).
    """
    with kg.lock:
        a, b = kg.resolve(source), kg.resolve(target)
        if a is None or b is None:
            return None
        g = kg.graph
        view = g if directed else g.to_undirected(as_view=True)
        try:
            nodes = nx.shortest_path(view, a, b)
        except nx.NetworkXNoPath:
            return None
        steps: list[PathStep] = []
        for u, v in zip(nodes, nodes[1:]):
            fwd = g._succ[u].get(v)
            if fwd:
                p = max(fwd, key=lambda k: kg.count_of(fwd[k]))
                steps.append(PathStep(u, p, v, True))
            else:
                back = g._succ[v][u]
                p = max(back, key=lambda k: kg.count_of(back[k]))
                steps.append(PathStep(v, p, u, False))
    return steps


def degrees(kg: KnowledgeGraph) -> dict[str, int]:
    """Edges (in + out, self-loops twice) per entity: the graph keeps this up to date as rows
    arrive (networkx's degree view walks every adjacency each time). Do not modify it."""
    return kg.degree


def top_by_degree(kg: KnowledgeGraph, n: int = 20) -> list[tuple[str, int]]:
    """The ``n`` entities with the most edges (in + out), ties by name."""
    with kg.lock:
        return heapq.nsmallest(n, kg.degree.items(), key=lambda kd: (-kd[1], kd[0]))


def pagerank(kg: KnowledgeGraph, alpha: float = 0.85, tol: float = 1e-8,
             max_iter: int = 100) -> dict[str, float]:
    """PageRank of every entity (edges weighted by how many rows state them); cached.

    A numpy power iteration (scipy is not a dependency): 500k edges take well under a second.
    """
    return kg.cached(f"pagerank:{alpha}", lambda: _pagerank(kg, alpha, tol, max_iter))


def _pagerank(kg: KnowledgeGraph, alpha: float, tol: float, max_iter: int) -> dict[str, float]:
    import numpy as np  # only needed here; keeps importing the graph package light

    g = kg.graph
    nodes = list(g)
    n = len(nodes)
    if n == 0:
        return {}
    index = {k: i for i, k in enumerate(nodes)}
    src, dst, w = [], [], []
    count = kg.count_of
    for u, nbrs in g._succ.items():
        iu = index[u]
        for v, keyed in nbrs.items():
            src.append(iu)
            dst.append(index[v])
            w.append(sum(count(d) for d in keyed.values()))
    src_a = np.asarray(src, dtype=np.int64)
    dst_a = np.asarray(dst, dtype=np.int64)
    w_a = np.asarray(w, dtype=np.float64)
    out_w = np.bincount(src_a, weights=w_a, minlength=n)
    dangling = out_w == 0
    norm = w_a / out_w[src_a]  # every edge's source has out-weight >= 1
    rank = np.full(n, 1.0 / n)
    for _ in range(max_iter):
        spread = np.bincount(dst_a, weights=rank[src_a] * norm, minlength=n)
        new = alpha * (spread + rank[dangling].sum() / n) + (1.0 - alpha) / n
        done = np.abs(new - rank).sum() < n * tol
        rank = new
        if done:
            break
    return {k: float(r) for k, r in zip(nodes, rank)}


def top_by_pagerank(kg: KnowledgeGraph, n: int = 20) -> list[tuple[str, float]]:
    """The ``n`` most central entities by PageRank."""
    pr = pagerank(kg)
    return heapq.nsmallest(n, pr.items(), key=lambda kv: (-kv[1], kv[0]))


def components(kg: KnowledgeGraph) -> list[set[str]]:
    """Weakly connected components, largest first; cached until the graph changes."""
    def compute() -> list[set[str]]:
        comps = list(nx.weakly_connected_components(kg.graph))
        comps.sort(key=lambda c: (-len(c), min(c)))
        return comps
    return kg.cached("components", compute)


def isolated_triplets(kg: KnowledgeGraph) -> list[tuple[str, str, str]]:
    """Triplets whose subject and object appear in no other triplet (a component of 1 edge)."""
    out: list[tuple[str, str, str]] = []
    with kg.lock:
        g = kg.graph
        for comp in components(kg):
            if len(comp) > 2:
                continue
            edges = [(u, p, v) for u in comp for v, keyed in g._succ[u].items() for p in keyed]
            if len(edges) == 1:
                out.append(edges[0])
    out.sort()
    return out


def predicates(kg: KnowledgeGraph) -> list[tuple[str, int]]:
    """Predicates by how many triplet statements use them (most first)."""
    with kg.lock:
        return sorted(kg.predicate_counts.items(), key=lambda kv: (-kv[1], kv[0]))


def entity_predicates(kg: KnowledgeGraph, entity: str) -> list[tuple[str, str, int]]:
    """``(predicate, direction, statements)`` around one entity, most used first."""
    counts: Counter[tuple[str, str]] = Counter()
    with kg.lock:
        key = kg.resolve(entity)
        if key is None:
            return []
        for direction, adj in (("out", kg.graph._succ), ("in", kg.graph._pred)):
            for keyed in adj[key].values():
                for p, d in keyed.items():
                    counts[(p, direction)] += kg.count_of(d)
    return sorted(((p, d, c) for (p, d), c in counts.items()), key=lambda t: (-t[2], t[0], t[1]))


def samples(kg: KnowledgeGraph, entity: str) -> list[int]:
    """The rows (1-based lines) with a triplet naming ``entity``, ascending."""
    lines: set[int] = set()
    with kg.lock:
        key = kg.resolve(entity)
        if key is None:
            return []
        for adj in (kg.graph._succ, kg.graph._pred):
            for keyed in adj[key].values():
                for d in keyed.values():
                    lines.update(kg.lines_of(d))
    return sorted(lines)


def sample_index(kg: KnowledgeGraph, entity: str,
                 limit: int | None = None) -> tuple[list[tuple[int, str, str, str]], int]:
    """The first ``limit`` rows naming ``entity``, each with one of its triplets there as
    ``(line, subject, predicate, object)`` display names, and the number of rows in all."""
    first: dict[int, tuple[str, str, bool]] = {}
    with kg.lock:
        key = kg.resolve(entity)
        if key is None:
            return [], 0
        for out, adj in ((True, kg.graph._succ), (False, kg.graph._pred)):
            for other, keyed in adj[key].items():
                for p, d in keyed.items():
                    for line in kg.lines_of(d):
                        if line not in first:
                            first[line] = (other, p, out)
        lines = sorted(first)
        total = len(lines)
        if limit is not None:
            lines = lines[:limit]
        me = kg.display(key)
        rows = []
        for line in lines:
            other, p, out = first[line]
            name = kg.display(other)
            rows.append((line, me, p, name) if out else (line, name, p, me))
    return rows, total


def sample_triplets(kg: KnowledgeGraph, entity: str, line: int) -> list[tuple[str, str, str]]:
    """The (subject, predicate, object) names of ``entity``'s edges stated on one row."""
    out = []
    for nb in neighbours(kg, entity):
        if line in nb.lines:
            me = kg.display(kg.resolve(entity) or entity)
            out.append((me, nb.predicate, nb.name) if nb.direction == "out"
                       else (nb.name, nb.predicate, me))
    return out
