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
                                     "undesirable": 20 - len(des), "flagged": 4, "overridden": 1,
                                     "label_given": 0, "no_reasoning": 0}
    t.seal()
    assert t.index_of(20) == 19 and t.row(19)["line"] == 20


def test_bad_filters_are_explained() -> None:
    with pytest.raises(FilterError, match="choose one of desirable"):
        parse_filter("label:good")
    with pytest.raises(FilterError, match="comparisons"):
        parse_filter("score<<1")


def test_an_unknown_field_is_an_error_naming_the_known_ones() -> None:
    """`foo:bar` was silently searched for as text."""
    with pytest.raises(FilterError) as err:
        parse_filter("label:desirable foo:bar")
    msg = str(err.value)
    assert "unknown field 'foo'" in msg
    for known in ("label:", "label_source:", "shape:", "source:", "decision:", "score"):
        assert known in msg
    assert '"foo:bar"' in msg  # how to search for the text instead
    assert parse_filter('"foo:bar"').text == ["foo:bar"]  # quoted: a text search
    assert parse_filter("'note: x'").text == ["note: x"]
    assert parse_filter("label_source:given").predicates == [("label_source", ":", "given")]


def test_text_search_reads_the_file(loaded) -> None:
    p, t = loaded
    flt = parse_filter('"topic 1 "')
    hits = search_lines(p, flt.text)
    assert [int(t.col("line")[i]) for i in t.view(flt, text_lines=hits)] == [2]
    assert len(search_lines(p, ["zürich"])) == 20  # escaped and raw UTF-8 rows both match


def test_a_rows_own_label_is_used_and_marked_given(tmp_path: Path) -> None:
    """TRL's unpaired-preference rows: `"label": true` is desirable whatever the score."""
    p = tmp_path / "kto.jsonl"
    p.write_text("\n".join(json.dumps(r) for r in [
        {"prompt": "Say hi.", "completion": "Hi.", "label": True},
        {"prompt": "Say hi.", "completion": "Go away.", "label": False},
        {"prompt": "Say hi.", "completion": "Hello."}]) + "\n")
    t = RowTable()
    recs = list(iter_rows(p, RunConfig()))
    t.extend(recs)
    assert [r.label for r in recs] == ["desirable", "undesirable", "undesirable"]
    assert [r.label_source for r in recs] == ["given", "given", "score"]
    assert all(r.score < 1.25 for r in recs)  # the score is still computed
    assert [t.row(i)["label_source"] for i in range(3)] == ["given", "given", "score"]
    given = t.view(parse_filter("label_source:given"))
    assert [int(t.col("line")[i]) for i in given] == [1, 2]
    c = t.counts()
    assert c["desirable"] == 1 and c["label_given"] == 2 and c["no_reasoning"] == 1
