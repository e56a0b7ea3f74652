"""Queries: search, neighbours, paths, rankings, components, predicates, samples, ego view."""

from __future__ import annotations

import networkx as nx
import pytest

from synapse_core.data.records import Triplet as T
from synapse_core.graph.build import KnowledgeGraph, build_graph
from synapse_core.graph.ego import ego_view
from synapse_core.graph import queries as q


@pytest.fixture
def kg() -> KnowledgeGraph:
    return build_graph([
        (1, [T("Sunlight", "powers", "photosynthesis"), T("photosynthesis", "produces", "oxygen")], 0),
        (2, [T("plants", "perform", "Photosynthesis"), T("Photosynthesis", "produces", "Oxygen"),
             T("oxygen", "supports", "respiration")], 0),
        (3, [T("respiration", "releases", "energy"), T("photosynthesis", "requires", "water")], 0),
        (4, [T("entropy", "measures", "disorder")], 0),                       # isolated triplet
        (5, [T("CO2", "increases", "plant growth"), T("CO2", "decreases", "plant growth")], 0),
    ])


def test_search_substring_then_fuzzy(kg: KnowledgeGraph) -> None:
    hits = q.search(kg, "photo")
    assert hits[0].key == "photosynthesis" and hits[0].match == "prefix"
    assert hits[0].name == "photosynthesis" and hits[0].degree == 4
    assert [h.key for h in q.search(kg, "SYNTHESIS")] == ["photosynthesis"]
    fuzzy = q.search(kg, "photosynthsis")  # a typo
    assert fuzzy and fuzzy[0].key == "photosynthesis" and fuzzy[0].match == "fuzzy"
    assert q.search(kg, "zzzz") == [] and q.search(kg, "  ") == []


def test_search_finds_by_alias(kg: KnowledgeGraph) -> None:
    kg.add_row(6, [T("GPUs", "run", "kernels"), T("gpu", "has", "memory")])
    assert [h.key for h in q.search(kg, "gpus", fuzzy=False)] == ["gpu"]


def test_neighbours_by_direction_and_predicate(kg: KnowledgeGraph) -> None:
    out = q.neighbours(kg, "Photosynthesis", "out")
    assert {(n.key, n.predicate) for n in out} == {("oxygen", "produces"), ("water", "requires")}
    assert out[0].key == "oxygen" and out[0].lines == (1, 2)  # most stated first
    inc = q.neighbours(kg, "photosynthesis", "in")
    assert {n.key for n in inc} == {"sunlight", "plant"} and all(n.direction == "in" for n in inc)
    assert [n.key for n in q.neighbours(kg, "photosynthesis", predicate="Requires")] == ["water"]
    assert len(q.neighbours(kg, "photosynthesis")) == 4
    assert q.neighbours(kg, "unknown thing") == []
    with pytest.raises(ValueError):
        q.neighbours(kg, "oxygen", "sideways")


def test_shortest_path_directed_and_undirected(kg: KnowledgeGraph) -> None:
    path = q.shortest_path(kg, "sunlight", "energy")
    assert [(s.subj, s.predicate, s.obj) for s in path] == [
        ("sunlight", "powers", "photosynthesis"), ("photosynthesis", "produces", "oxygen"),
        ("oxygen", "supports", "respiration"), ("respiration", "releases", "energy")]
    assert q.shortest_path(kg, "energy", "sunlight") is None
    back = q.shortest_path(kg, "energy", "sunlight", directed=False)
    assert len(back) == 4 and not back[0].forward
    assert q.shortest_path(kg, "entropy", "oxygen", directed=False) is None
    assert q.shortest_path(kg, "nothing", "oxygen") is None


def test_top_by_degree_and_pagerank(kg: KnowledgeGraph) -> None:
    assert q.top_by_degree(kg, 3) == [("photosynthesis", 4), ("co2", 2), ("oxygen", 2)]  # distinct edges; ties by name
    pr = q.pagerank(kg)
    assert abs(sum(pr.values()) - 1.0) < 1e-6
    # matches networkx's reference implementation on the row-count-weighted graph
    simple = nx.DiGraph()
    simple.add_nodes_from(kg.graph)
    for u, v, d in kg.graph.edges(data=True):
        w = simple.get_edge_data(u, v, {"weight": 0})["weight"]
        simple.add_edge(u, v, weight=w + kg.count_of(d))
    ref = _reference_pagerank(simple)
    for k in pr:
        assert abs(pr[k] - ref[k]) < 1e-4
    top = q.top_by_pagerank(kg, 1)[0][0]
    assert top == max(ref, key=ref.get)
    assert q.pagerank(kg) is pr  # cached until the graph changes
    kg.add_row(9, [T("a", "b", "c")])
    assert q.pagerank(kg) is not pr


def _reference_pagerank(g: nx.DiGraph, alpha: float = 0.85) -> dict[str, float]:
    # networkx's pure-Python power iteration (its default needs scipy, not a dependency)
    from networkx.algorithms.link_analysis.pagerank_alg import _pagerank_python
    return _pagerank_python(g, alpha=alpha, weight="weight", tol=1e-10, max_iter=500)


def test_components_and_isolated_triplets(kg: KnowledgeGraph) -> None:
    comps = q.components(kg)
    assert [len(c) for c in comps] == [7, 2, 2]
    assert q.isolated_triplets(kg) == [("entropy", "measures", "disorder")]  # CO2 pair has 2 edges


def test_predicates_by_frequency(kg: KnowledgeGraph) -> None:
    preds = q.predicates(kg)
    assert preds[0] == ("produces", 2)
    assert dict(preds)["measures"] == 1 and len(preds) == 9


def test_samples_and_entity_predicates(kg: KnowledgeGraph) -> None:
    assert q.samples(kg, "photosynthesis") == [1, 2, 3]
    assert q.samples(kg, "Oxygen") == [1, 2]
    assert q.entity_predicates(kg, "photosynthesis")[0] == ("produces", "out", 2)
    assert q.sample_triplets(kg, "water", 3) == [("photosynthesis", "requires", "water")]


def test_ego_view_depths_and_caps(kg: KnowledgeGraph) -> None:
    one = ego_view(kg, "photosynthesis", 1)
    assert [b.name for b in one.out] == ["oxygen", "water"] and one.out[0].count == 2
    assert {b.key for b in one.inc} == {"sunlight", "plant"}
    assert all(not b.children for b in one.out)
    two = ego_view(kg, "photosynthesis", 2)
    oxygen = two.out[0]
    assert [(c.predicate, c.name) for c in oxygen.children] == [("supports", "respiration")]
    capped = ego_view(kg, "photosynthesis", 1, max_branches=1)
    assert len(capped.out) == 1 and capped.more_out == 1
    assert ego_view(kg, "nope") is None
    with pytest.raises(ValueError):
        ego_view(kg, "oxygen", 3)


def test_sample_index_gives_one_triplet_per_row_and_the_total(kg: KnowledgeGraph) -> None:
    rows, total = q.sample_index(kg, "oxygen")
    assert total == 2 and [r[0] for r in rows] == [1, 2]
    assert rows[0] == (1, "photosynthesis", "produces", "oxygen")
    capped, total = q.sample_index(kg, "photosynthesis", limit=1)
    assert total == 3 and len(capped) == 1 and capped[0][0] == 1
    assert q.sample_index(kg, "nothing") == ([], 0)


def test_entity_detail_gathers_what_the_pane_shows(kg: KnowledgeGraph) -> None:
    from synapse_core.graph.ego import entity_detail

    d = entity_detail(kg, "Photosynthesis", depth=2, sample_limit=2)
    assert d.view.key == "photosynthesis" and d.degree == 4
    assert d.pagerank is None  # never computed on the UI's behalf
    assert d.aliases == [("photosynthesis", 3), ("Photosynthesis", 2)]
    assert [ln for ln, _ in d.samples] == [1, 2] and d.more_samples == 1
    assert d.samples[0] == (1, "photosynthesis —produces→ oxygen")  # one of its triplets there
    q.pagerank(kg)
    assert entity_detail(kg, "photosynthesis").pagerank > 0
    assert entity_detail(kg, "nothing") is None
