"""Dataset health read off the knowledge graph.

- coverage: rows with no usable triplet, rows with malformed ones;
- concentration: share of edges inside the largest weakly connected component, and the top-10
  entities' share of edge endpoints (each edge has two endpoints; a value near 1 means the
  dataset keeps talking about the same few things);
- contradictions: two edges between the same subject and object whose predicates are a
  marked pair of opposites ("increases"/"decreases"), or one is the negation of the other
  ("causes"/"does not cause", "is"/"is not").
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from dataclasses import dataclass, field

from synapse_core.graph.build import KnowledgeGraph
from synapse_core.graph.normalize import predicate_key
from synapse_core.graph.queries import components, degrees, isolated_triplets

DEFAULT_OPPOSITES: tuple[tuple[str, str], ...] = (
    ("increases", "decreases"),
    ("raises", "lowers"),
    ("causes", "prevents"),
    ("enables", "prevents"),
    ("promotes", "inhibits"),
    ("strengthens", "weakens"),
    ("supports", "contradicts"),
    ("proves", "disproves"),
    ("includes", "excludes"),
    ("accelerates", "slows"),
    ("is", "is not"),
)
"""Predicate pairs that cannot both hold between the same subject and object. Compared after
normalisation and third-person folding, so "increase"/"decreased"... see ``predicate_key``."""


@dataclass(frozen=True, slots=True)
class Contradiction:
    """Two edges between the same subject and object that cannot both be true."""

    subj: str
    obj: str
    pred_a: str
    pred_b: str
    lines_a: tuple[int, ...]
    lines_b: tuple[int, ...]
    reason: str  # "opposites" or "negation"


@dataclass(slots=True)
class GraphHealth:
    """The health figures ``synapse graph --json`` prints and the pane shows."""

    rows: int
    rows_with_kg: int
    rows_without_kg: int
    rows_with_malformed: int
    malformed_triplets: int
    triplets: int
    nodes: int
    edges: int
    components: int
    isolated_triplets: int
    largest_component_edge_share: float
    top10_endpoint_share: float
    contradictions: list[Contradiction] = field(default_factory=list)

    def to_dict(self, max_contradictions: int = 20) -> dict[str, object]:
        """Plain JSON-ready dict (contradictions capped, their total kept)."""
        return {
            "nodes": self.nodes, "edges": self.edges, "triplets": self.triplets,
            "rows": self.rows, "rows_with_kg": self.rows_with_kg,
            "rows_without_kg": self.rows_without_kg, "rows_with_malformed": self.rows_with_malformed,
            "malformed_triplets": self.malformed_triplets, "components": self.components,
            "isolated_triplets": self.isolated_triplets,
            "largest_component_edge_share": round(self.largest_component_edge_share, 4),
            "top10_endpoint_share": round(self.top10_endpoint_share, 4),
            "contradictions": len(self.contradictions),
            "contradiction_examples": [
                {"subj": c.subj, "obj": c.obj, "pred_a": c.pred_a, "pred_b": c.pred_b,
                 "lines_a": list(c.lines_a[:10]), "lines_b": list(c.lines_b[:10]),
                 "reason": c.reason}
                for c in self.contradictions[:max_contradictions]],
        }


def parse_opposites(specs: Iterable[str]) -> list[tuple[str, str]]:
    """``["a:b", ...]`` (the CLI's ``--opposites``) to pairs; raises ValueError naming the bad one."""
    out = []
    for spec in specs:
        a, sep, b = spec.partition(":")
        if not sep or not a.strip() or not b.strip():
            raise ValueError(f"--opposites {spec!r}: expected PRED:PRED, e.g. increases:decreases")
        out.append((a.strip(), b.strip()))
    return out


def _opposite_keys(opposites: Iterable[tuple[str, str]]) -> set[frozenset]:
    keys = set()
    for a, b in opposites:
        ka, kb = predicate_key(a), predicate_key(b)
        if ka != kb:
            keys.add(frozenset((ka, kb)))
    return keys


def contradictions(kg: KnowledgeGraph, opposites: Iterable[tuple[str, str]] | None = None,
                   include_defaults: bool = True) -> list[Contradiction]:
    """Contradictory edge pairs. ``opposites`` adds pairs to (or, with ``include_defaults``
    False, replaces) ``DEFAULT_OPPOSITES``; the negation rule always applies."""
    pairs = list(DEFAULT_OPPOSITES) if include_defaults else []
    pairs += list(opposites or ())
    marked = _opposite_keys(pairs)
    found: list[Contradiction] = []
    with kg.lock:
        for u, nbrs in kg.graph._succ.items():
            for v, keyed in nbrs.items():
                if len(keyed) < 2:
                    continue
                preds = sorted(keyed)
                for i, a in enumerate(preds):
                    ka = predicate_key(a)
                    for b in preds[i + 1:]:
                        kb = predicate_key(b)
                        if ka[0] == kb[0] and ka[1] != kb[1]:
                            reason = "negation"
                        elif frozenset((ka, kb)) in marked:
                            reason = "opposites"
                        else:
                            continue
                        found.append(Contradiction(
                            kg.display(u), kg.display(v), a, b, tuple(kg.lines_of(keyed[a])),
                            tuple(kg.lines_of(keyed[b])), reason))
    found.sort(key=lambda c: (-(len(c.lines_a) + len(c.lines_b)), c.subj, c.obj))
    return found


def health(kg: KnowledgeGraph, opposites: Iterable[tuple[str, str]] | None = None,
           include_defaults: bool = True) -> GraphHealth:
    """All health figures at once (see the module docstring for how each is computed)."""
    with kg.lock:
        g = kg.graph
        comps = components(kg)
        edges = kg.edges
        succ = g._succ
        largest_edges = sum(len(keyed) for u in comps[0] for keyed in succ[u].values()) \
            if comps else 0
        endpoints = 2 * edges
        top10 = heapq.nlargest(10, degrees(kg).values())
        return GraphHealth(
            rows=kg.rows, rows_with_kg=kg.rows_with_kg, rows_without_kg=kg.rows_without_kg,
            rows_with_malformed=kg.rows_with_malformed, malformed_triplets=kg.malformed_triplets,
            triplets=kg.triplets, nodes=g.number_of_nodes(), edges=edges,
            components=len(comps), isolated_triplets=len(isolated_triplets(kg)),
            largest_component_edge_share=largest_edges / edges if edges else 0.0,
            top10_endpoint_share=sum(top10) / endpoints if endpoints else 0.0,
            contradictions=contradictions(kg, opposites, include_defaults),
        )
