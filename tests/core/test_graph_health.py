"""Health figures and contradiction detection."""

from __future__ import annotations

import pytest

from synapse_core.data.records import Triplet as T
from synapse_core.graph.build import build_graph
from synapse_core.graph.health import contradictions, health, parse_opposites


def test_opposite_predicates_between_the_same_pair_are_contradictions() -> None:
    kg = build_graph([
        (1, [T("CO2", "increases", "plant growth")], 0),
        (2, [T("co2", "Decreases", "Plant Growth")], 0),
        (3, [T("CO2", "decreases", "temperature")], 0),   # different object: no conflict
    ])
    found = contradictions(kg)
    assert len(found) == 1
    c = found[0]
    assert (c.subj, c.obj, {c.pred_a, c.pred_b}, c.reason) == (
        "CO2", "plant growth", {"increases", "decreases"}, "opposites")
    assert {c.lines_a, c.lines_b} == {(1,), (2,)}


def test_a_triplet_and_its_negation_contradict() -> None:
    kg = build_graph([
        (1, [T("smoking", "causes", "cancer"), T("vaccines", "cause", "autism")], 0),
        (2, [T("smoking", "does not cause", "cancer"), T("vaccines", "don't cause", "autism")], 0),
        (3, [T("a whale", "is", "a fish"), T("a whale", "is not", "a fish")], 0),
    ])
    found = {(c.subj, c.reason) for c in contradictions(kg)}
    assert found == {("smoking", "negation"), ("vaccines", "negation"), ("a whale", "negation")}


def test_user_opposites_extend_or_replace_the_defaults() -> None:
    kg = build_graph([(1, [T("x", "attracts", "y"), T("x", "repels", "y"),
                           T("a", "increases", "b"), T("a", "decreases", "b")], 0)])
    assert {c.subj for c in contradictions(kg)} == {"a"}
    assert {c.subj for c in contradictions(kg, [("attracts", "repels")])} == {"a", "x"}
    only = contradictions(kg, [("attracts", "repels")], include_defaults=False)
    assert {c.subj for c in only} == {"x"}


def test_parse_opposites() -> None:
    assert parse_opposites(["attracts:repels", " is : is not "]) == [
        ("attracts", "repels"), ("is", "is not")]
    with pytest.raises(ValueError, match="PRED:PRED"):
        parse_opposites(["attracts"])


def test_health_figures() -> None:
    kg = build_graph([
        (1, [T("a", "r", "b"), T("b", "r", "c")], 0),
        (2, [T("c", "r", "d"), T("a", "increases", "d"), T("a", "decreases", "d")], 1),
        (3, [], 2),
        (4, [T("x", "r", "y")], 0),
    ])
    h = health(kg)
    assert (h.rows, h.rows_with_kg, h.rows_without_kg) == (4, 3, 1)
    assert (h.rows_with_malformed, h.malformed_triplets) == (2, 3)
    assert (h.nodes, h.edges, h.triplets, h.components, h.isolated_triplets) == (6, 6, 6, 2, 1)
    assert h.largest_component_edge_share == pytest.approx(5 / 6)
    assert h.top10_endpoint_share == pytest.approx(1.0)  # only 6 entities
    assert len(h.contradictions) == 1
    d = h.to_dict()
    assert d["rows_without_kg"] == 1 and d["contradictions"] == 1
    assert d["contradiction_examples"][0]["reason"] == "opposites"


def test_top10_share_on_a_spread_out_graph() -> None:
    rows = [(i, [T(f"s{i}", "r", f"o{i}")], 0) for i in range(1, 41)]  # 80 entities, degree 1
    h = health(build_graph(rows))
    assert h.top10_endpoint_share == pytest.approx(10 / 80)
    assert h.largest_component_edge_share == pytest.approx(1 / 40)
    assert h.isolated_triplets == 40 and not h.contradictions
