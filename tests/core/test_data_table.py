"""The column store: filter language, sort, counts, text search."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from synapse_core.config import RunConfig
from synapse_core.data.load import iter_rows
from synapse_core.data.table import FilterError, RowTable, parse_filter, search_lines


@pytest.fixture
def loaded(tmp_path: Path):
    p = tmp_path / "d.jsonl"
    lines = []
    for i in range(20):
        lines.append(json.dumps({"conversations": [
            {"from": "human", "value": f"topic {i} Zürich"},
            {"from": "gpt", "value": "Ah, yes." if i % 5 == 0 else "Fine answer."}],
            "quality_metrics": {"conversation_quality": i / 19, "bias_detection": 0.0,
                                "reasoning_quality": 0.9}}, ensure_ascii=i % 2 == 0))
    p.write_text("\n".join(lines) + "\n")
    t = RowTable(capacity=4)  # forces growth
    t.extend(r for r in iter_rows(p, RunConfig()))
    return p, t


def test_filters_sort_and_counts(loaded) -> None:
    p, t = loaded
    lines = lambda idx: [int(t.col("line")[i]) for i in idx]  # noqa: E731
    assert len(t) == 20
    assert lines(t.view(parse_filter("banned>0"))) == [1, 6, 11, 16]
    des = t.view(parse_filter("label:desirable"))
    assert all(t.col("score")[des] >= 1.25)
    assert lines(t.view(parse_filter("score<0.8 banned=1"))) == [1]
    assert lines(t.view(sort="cq", descending=True))[:3] == [20, 19, 18]
    t.set_decision(3, "reject")
    assert lines(t.view(parse_filter("decision:reject"))) == [3]
    assert t.counts(bad_lines=2) == {"rows": 20, "bad_lines": 2, "desirable": len(des),
                                     "undesirable": 20 - len(des), "flagged": 4, "overridden": 1}
    t.seal()
    assert t.index_of(20) == 19 and t.row(19)["line"] == 20


def test_bad_filters_are_explained() -> None:
    with pytest.raises(FilterError, match="choose one of desirable"):
        parse_filter("label:good")
    with pytest.raises(FilterError, match="comparisons"):
        parse_filter("score<<1")


def test_text_search_reads_the_file(loaded) -> None:
    p, t = loaded
    flt = parse_filter('"topic 1 "')
    hits = search_lines(p, flt.text)
    assert [int(t.col("line")[i]) for i in t.view(flt, text_lines=hits)] == [2]
    assert len(search_lines(p, ["zürich"])) == 20  # escaped and raw UTF-8 rows both match
