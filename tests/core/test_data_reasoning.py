"""The reasoning parser: the full schema, and recovery from broken XML."""

from __future__ import annotations

import pytest

from synapse_core.data.reasoning import (parse_reasoning, parse_reasoning_tolerant,
                                         split_inline_reasoning)
from synapse_core.data.records import ChainStep, LogicItem, Triplet

GOOD = """<reasoning>
<mem><goal>Explain entropy</goal><subgoal>intuition</subgoal>
<prog><done>defined</done><now>example</now></prog><ctx>student</ctx></mem>
<kg><tri><subj>entropy</subj><pred>measures</pred><obj>disorder</obj></tri>
<tri><subj>heat</subj><pred>flows to</pred><obj>cold</obj></tri></kg>
<logic><prop><sym>∀x (P(x) → Q(x))</sym><nat>all P are Q</nat></prop>
<doubt><nat>maybe not</nat></doubt></logic>
<chain><step index="1">define</step><step index="2" depends_on="1">example</step>
<step index="3" depends_on="1, 2">conclude</step><reflect>fair?</reflect></chain>
<note>keep it short</note><warn>careful</warn>
</reasoning>"""


def test_full_schema() -> None:
    r = parse_reasoning(GOOD)
    assert (r.goal, r.subgoal, r.done, r.now, r.ctx) == (
        "Explain entropy", "intuition", "defined", "example", "student")
    assert r.triplets == [Triplet("entropy", "measures", "disorder"),
                          Triplet("heat", "flows to", "cold")]
    assert r.logic == [LogicItem("prop", "∀x (P(x) → Q(x))", "all P are Q"),
                       LogicItem("doubt", None, "maybe not")]
    assert r.steps == [ChainStep(1, (), "define"), ChainStep(2, (1,), "example"),
                       ChainStep(3, (1, 2), "conclude")]
    assert r.extras == {"reflect": ["fair?"], "note": ["keep it short"], "warn": ["careful"]}
    assert r.problems == [] and r.malformed_triplets == []


def test_fast_and_tolerant_paths_agree_on_a_valid_block() -> None:
    assert parse_reasoning(GOOD) == parse_reasoning_tolerant(GOOD)
    inner = GOOD.removeprefix("<reasoning>").removesuffix("</reasoning>")
    assert parse_reasoning(inner).triplets == parse_reasoning(GOOD).triplets


def test_unclosed_tags_recovered_and_listed() -> None:
    broken = GOOD.replace("</goal>", "").replace(
        "</tri>\n<tri><subj>heat", "\n<tri><subj>heat")
    r = parse_reasoning(broken)
    assert r.goal == "Explain entropy" and r.subgoal == "intuition"
    assert len(r.triplets) == 2
    assert "unclosed <goal> closed by <subgoal>" in r.problems
    assert "unclosed <tri> closed by the next <tri>" in r.problems


def test_stray_text_wrong_nesting_and_bad_triplets() -> None:
    text = ("<reasoning>hmm wait<kg><tri><subj>a</subj><pred>b</pred></tri><tri></tri>"
            "</kg><tri><subj>x</subj><pred>y</pred><obj>z</obj></tri>"
            "<chain><step index=\"two\" depends_on=\"1,x\">s</step></chain>"
            "<logic><prop><sym>p & q < r</sym><nat>ok</nat></prop></logic></reasoning>")
    r = parse_reasoning(text)
    assert r.triplets == []
    assert r.malformed_triplets == ["triplet 1 lacks obj", "triplet 2 is empty",
                                    "triplet 3 outside <kg>"]
    assert any(p.startswith("stray text in <reasoning>: 'hmm wait'") for p in r.problems)
    assert "step index 'two' is not a number" in r.problems
    assert any("depends_on 'x'" in p for p in r.problems)
    assert r.logic == [LogicItem("prop", "p & q < r", "ok")]  # < and & in text are fine


def test_stray_closing_tag_and_unclosed_block() -> None:
    r = parse_reasoning("<reasoning><mem><goal>g</goal></ctx></mem><kg><tri><subj>a</subj>")
    assert r.goal == "g"
    assert "stray </ctx> ignored" in r.problems
    assert r.problems[1:4] == ["unclosed <tri>", "unclosed <kg>", "unclosed <reasoning>"]
    assert r.malformed_triplets == ["triplet 1 lacks pred/obj"]


def test_split_inline_reasoning() -> None:
    block, answer, problems = split_inline_reasoning("  <reasoning><mem/></reasoning>\n\n🧙 Hi")
    assert block == "<reasoning><mem/></reasoning>" and answer == "🧙 Hi" and problems == []
    assert split_inline_reasoning("plain answer") == (None, "plain answer", [])
    block, answer, problems = split_inline_reasoning(
        "<reasoning><mem><goal>g</goal></mem>\nThe answer.")
    assert block.endswith("</mem>") and answer == "The answer." and problems


@pytest.mark.parametrize("attrs, problem", [
    ('index="²"', "step index '²' is not a number"),  # isdigit() but int() refuses it
    ('index="1" depends_on="²"', "step 1: depends_on '²' is not a number"),
    ('index="' + "9" * 5000 + '"', "step index '" + "9" * 39 + "…' is not a number"),
    ('index="2" depends_on="1,' + "1" * 5000 + '"', "step 2: depends_on '" + "1" * 39
     + "…' is not a number"),
])
def test_odd_step_numbers_are_problems_not_crashes(attrs: str, problem: str) -> None:
    text = f"<reasoning><chain><step {attrs}>x</step></chain></reasoning>"
    assert problem in parse_reasoning(text).problems
    assert problem in parse_reasoning_tolerant(text).problems


def test_unicode_decimal_step_numbers_are_read() -> None:
    r = parse_reasoning('<reasoning><chain><step index="\u0661">a</step>'
                        '<step index=" 2 " depends_on="\u0661, -3">b</step></chain></reasoning>')
    assert [(s.index, s.depends_on) for s in r.steps] == [(1, ()), (2, (1, -3))]
    assert r.problems == []
