"""Write the knowledge graph as GraphML or node-link JSON (atomically).

Both formats hold, per node: ``id`` (the normalised key), ``label`` (the most common spelling),
``aliases`` (every spelling with its count) and ``degree``; per edge: ``predicate``, ``count``
(how many rows state it) and ``lines`` (those rows' 1-based line numbers). GraphML allows only
scalar attributes, so there ``aliases`` is a JSON string and ``lines`` a comma-separated list.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import networkx as nx

from synapse_core.fileio import atomic_write_text
from synapse_core.graph.build import KnowledgeGraph

FORMATS = {".graphml": "graphml", ".json": "json"}


def format_for(path: str | Path) -> str:
    """``graphml`` or ``json`` from the file extension; ValueError for anything else."""
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise ValueError(f"{path}: unknown graph format {suffix!r}; use .graphml or .json")
    return FORMATS[suffix]


def node_link(kg: KnowledgeGraph) -> dict[str, Any]:
    """The node-link dict (networkx's layout: ``nodes``, ``edges``, ``directed``, ``multigraph``)."""
    with kg.lock:
        g = kg.graph
        nodes = [{"id": k, "label": kg.display(k), "aliases": dict(kg.aliases.get(k, {})),
                  "degree": g.degree(k)} for k in g]
        edges = [{"source": u, "target": v, "key": p, "predicate": p,
                  "count": kg.count_of(d), "lines": kg.lines_of(d)}
                 for u, v, p, d in g.edges(keys=True, data=True)]
    return {"directed": True, "multigraph": True, "graph": {}, "nodes": nodes, "edges": edges}


def _graphml_graph(kg: KnowledgeGraph) -> nx.MultiDiGraph:
    out = nx.MultiDiGraph()
    with kg.lock:
        g = kg.graph
        for k in g:
            out.add_node(k, label=kg.display(k), degree=g.degree(k),
                         aliases=json.dumps(dict(kg.aliases.get(k, {})), ensure_ascii=False))
        for u, v, p, d in g.edges(keys=True, data=True):
            lines = kg.lines_of(d)
            out.add_edge(u, v, key=p, predicate=p, count=len(lines),
                         lines=",".join(map(str, lines)))
    return out


def export_graph(kg: KnowledgeGraph, path: str | Path) -> Path:
    """Write ``kg`` to ``path`` in the format its extension names; returns the path."""
    p = Path(path)
    fmt = format_for(p)
    if fmt == "json":
        text = json.dumps(node_link(kg), ensure_ascii=False)
    else:
        text = "\n".join(nx.generate_graphml(_graphml_graph(kg), encoding="utf-8")) + "\n"
    return atomic_write_text(p, text)
