"""Building the graph: nodes, aliases, edge provenance, malformed rows, streaming."""

from __future__ import annotations

import gc

from synapse_core.data.reasoning import parse_reasoning
from synapse_core.data.records import Triplet as T
from synapse_core.graph.build import KnowledgeGraph, build_graph


def test_same_triplet_on_several_rows_is_one_edge_with_every_line() -> None:
    kg = KnowledgeGraph()
    kg.add_row(3, [T("Sunlight", "powers", "photosynthesis")])
    kg.add_row(7, [T("sunlight", "Powers", "Photosynthesis")])
    kg.add_row(9, [T("SUNLIGHT", "powers", "photosynthesis"),
                   T("sunlight", "powers", "photosynthesis")])  # twice on one row
    assert kg.nodes == 2 and kg.edges == 1 and kg.triplets == 4
    assert kg.edge_lines("sunlight", "photosynthesis", "powers") == [3, 7, 9, 9]
    data = kg.graph.get_edge_data("sunlight", "photosynthesis", key="powers")
    assert kg.lines_of(data) == [3, 7, 9, 9] and kg.count_of(data) == 4
    assert not gc.is_tracked(data)  # compact provenance: nothing per edge for the GC to walk


def test_different_predicates_are_parallel_edges() -> None:
    kg = build_graph([(1, [T("a", "causes", "b"), T("a", "prevents", "b")], 0)])
    assert kg.edges == 2
    assert sorted(kg.graph["a"]["b"]) == ["causes", "prevents"]
    assert kg.edge_lines("a", "b", "causes") == kg.edge_lines("a", "b", "prevents") == [1]
    assert kg.edge_lines("a", "b", "is") == []


def test_aliases_keep_spellings_and_display_the_most_common() -> None:
    kg = KnowledgeGraph()
    kg.add_row(1, [T("Neural Networks", "are", "models")])
    kg.add_row(2, [T("neural network", "are", "models")])
    kg.add_row(3, [T("neural network", "learn", "weights")])
    assert kg.aliases["neural network"] == {"Neural Networks": 1, "neural network": 2}
    assert kg.display("neural network") == "neural network"
    kg.add_row(4, [T("Neural Networks", "x", "y"), T("Neural Networks", "x", "z")])
    assert kg.display("neural network") == "Neural Networks"


def test_rows_without_and_with_malformed_triplets_are_counted() -> None:
    kg = KnowledgeGraph()
    kg.add_row(1, [T("a", "is", "b")])
    kg.add_row(2, [], malformed=2)
    kg.add_row(3, [])
    kg.add_row(4, [T("  ", "is", "b"), T("c", "is", "d")])  # an empty subject is malformed too
    assert kg.rows == 4 and kg.rows_with_kg == 2 and kg.rows_without_kg == 2
    assert kg.rows_with_malformed == 2 and kg.malformed_triplets == 3
    assert kg.skipped_count == 1 and kg.skipped[0].line == 4 and "empty subject" in kg.skipped[0].reason


def test_malformed_triplets_from_the_parser_never_become_edges() -> None:
    texts = [
        "<kg><tri><subj>a</subj><pred>b</pred></tri></kg>",              # missing obj
        "<kg><tri><pred>b</pred><obj>c</obj></tri></kg>",                # missing subj
        "<kg><tri></tri></kg>",                                          # empty
        "<tri><subj>a</subj><pred>b</pred><obj>c</obj></tri>",           # outside <kg>
        "<kg><tri><subj>x<pred>y</pred></subj><obj>z</obj></tri></kg>",  # nested wrongly
    ]
    kg = KnowledgeGraph()
    for line, text in enumerate(texts, 1):
        r = parse_reasoning(text)
        kg.add_row(line, r.triplets, len(r.malformed_triplets))
    assert kg.rows_with_malformed == 4
    # the wrongly nested one is recovered by the tolerant parser (and reported as a problem)
    assert list(kg.graph.edges(keys=True)) == [("x", "z", "y")]
    assert kg.rows_with_kg == 1


def test_add_records_takes_records_and_skips_bad_lines() -> None:
    class Rec:
        def __init__(self, line, tri, bad=()):
            self.line, self.triplets, self.malformed_triplets = line, tri, list(bad)

    class Bad:
        line, reason = 5, "invalid JSON"

    kg = KnowledgeGraph()
    n = kg.add_records([Rec(1, [T("a", "r", "b")]), Bad(), Rec(2, [], ["triplet 1 is empty"])])
    assert n == 2 and kg.rows == 2 and kg.rows_with_malformed == 1


def test_incremental_equals_one_shot_and_version_grows() -> None:
    rows = [(i, [T(f"e{i % 7}", "r", f"e{(i * 3) % 11}")], 0) for i in range(1, 60)]
    one = build_graph(rows)
    inc = KnowledgeGraph()
    versions = []
    for chunk in (rows[:20], rows[20:45], rows[45:]):
        for line, tri, bad in chunk:
            inc.add_row(line, tri, bad)
        versions.append(inc.version)
    assert versions == sorted(versions) and len(set(versions)) == 3
    assert sorted(one.graph.edges(keys=True)) == sorted(inc.graph.edges(keys=True))
    assert one.edges == inc.edges == one.graph.number_of_edges()


def test_clear_forgets_everything() -> None:
    kg = build_graph([(1, [T("a", "r", "b")], 1)])
    kg.clear()
    assert kg.nodes == kg.edges == kg.rows == kg.malformed_triplets == 0


def test_running_degree_matches_networkx() -> None:
    kg = build_graph([(1, [T("a", "r", "b"), T("a", "s", "b"), T("b", "r", "a")], 0),
                      (2, [T("a", "r", "b"), T("c", "loops", "c")], 0)])
    assert kg.degree == dict(kg.graph.degree()) == {"a": 3, "b": 3, "c": 2}
