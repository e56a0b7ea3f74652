"""Property tests of the reasoning reader (hypothesis): random tag soup never raises and stays
within a linear time bound, finds the same tags as the backtracking regex it replaced, and
canonical blocks read back the fields they were written from, by both paths alike."""

from __future__ import annotations

import re
import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from synapse_core.config import REASONING_TAGS
from synapse_core.data.reasoning import (parse_reasoning, parse_reasoning_tolerant,
                                         split_inline_reasoning)
from synapse_core.data.records import ChainStep, LogicItem, Triplet
from synapse_core.data.tags import iter_tags

# The tag regex the reader replaced: the oracle of what a tag is. It backtracks exponentially
# on an unclosed tag with many attributes, so it is only given short soup here.
_OLD_TAG_RE = re.compile(r"<(/?)(" + "|".join(sorted(REASONING_TAGS, key=len, reverse=True))
                         + r")\b((?:\s+[\w-]+\s*=\s*(?:\"[^\"]*\"|'[^']*'|[^\s>]*))*)\s*(/?)>")
_OLD_ATTR_RE = re.compile(r"([\w-]+)\s*=\s*(?:\"([^\"]*)\"|'([^']*)'|([^\s>]*))")

PROPS = settings(max_examples=300, deadline=None, database=None, derandomize=True,
                 suppress_health_check=[HealthCheck.too_slow])

_PIECES = ["<", ">", "/", "/>", "</", '"', "'", "=", " ", "\n", "\u2003", "x", "é", "-", "1",
           "index", "depends_on", " index=", ' a="', " b='", " c=d", "&", "<x>", "<goalx>",
           *[f"<{t}" for t in REASONING_TAGS], *[f"</{t}" for t in REASONING_TAGS],
           *[f"<{t}>" for t in REASONING_TAGS], *[f"</{t}>" for t in REASONING_TAGS]]
soup = st.lists(st.sampled_from(_PIECES) | st.text(max_size=3), max_size=80).map("".join)


def _old_tags(text: str) -> list[tuple]:
    out = []
    for m in _OLD_TAG_RE.finditer(text):
        closing, tag, attrs, selfclose = m.groups()
        values = {a.group(1): next(g for g in a.groups()[1:] if g is not None)
                  for a in _OLD_ATTR_RE.finditer(attrs)} if attrs else {}
        out.append((m.start(), m.end(), tag, values, bool(closing), bool(selfclose)))
    return out


@PROPS
@given(soup)
def test_soup_never_raises_and_stays_linear(text: str) -> None:
    t0 = time.process_time()
    r = parse_reasoning(text)
    block, answer, problems = split_inline_reasoning(text)
    spent = time.process_time() - t0
    assert isinstance(r.problems, list) and isinstance(answer, str)
    # a generous linear bound: the reader spends a few microseconds a character; the regex
    # it replaced took seconds on 80 characters of the wrong kind
    assert spent < 0.05 + 50e-6 * len(text), (spent, text)


@PROPS
@given(soup)
def test_tags_are_those_the_old_regex_found(text: str) -> None:
    # (80 pieces hold at most a handful of attributes in one tag: the oracle stays quick)
    assert [(t.start, t.end, t.name, t.attrs, t.closing, t.selfclosing)
            for t in iter_tags(text)] == _old_tags(text)


_leaf = st.text(st.characters(blacklist_characters="<", blacklist_categories=("Cs",)),
                max_size=12).map(str.strip)
_triplet = st.tuples(_leaf, _leaf, _leaf)
_logic = st.tuples(st.sampled_from(["prop", "proof", "crit", "doubt"]),
                   st.none() | _leaf, st.none() | _leaf)
_step = st.tuples(st.integers(0, 10**6), st.lists(st.integers(0, 99), max_size=3), _leaf)
_space = st.sampled_from(["", " ", "\n", "\n  "])


@PROPS
@given(goal=st.none() | _leaf, now=st.none() | _leaf, triplets=st.lists(_triplet, max_size=4),
       logic=st.lists(_logic, max_size=3), steps=st.lists(_step, max_size=4),
       notes=st.lists(_leaf, max_size=2), sp=_space)
def test_canonical_blocks_read_back_their_fields(goal, now, triplets, logic, steps, notes,
                                                 sp) -> None:
    mem = (f"<goal>{goal}</goal>" if goal is not None else "") + (
        f"<prog><now>{now}</now></prog>" if now is not None else "")
    kg = "".join(f"<tri>{sp}<subj>{s}</subj><pred>{p}</pred>{sp}<obj>{o}</obj></tri>"
                 for s, p, o in triplets)
    lg = "".join(f"<{k}>" + (f"<sym>{y}</sym>{sp}" if y is not None else "")
                 + (f"<nat>{n}</nat>" if n is not None else "") + f"</{k}>" for k, y, n in logic)
    ch = "".join(f'<step index="{i}"' + (f' depends_on="{",".join(map(str, d))}"' if d else "")
                 + f">{t}</step>{sp}" for i, d, t in steps)
    ex = "".join(f"<note>{n}</note>" for n in notes)
    text = (f"<reasoning>{sp}<mem>{mem}</mem>{sp}<kg>{kg}</kg><logic>{lg}</logic>{sp}"
            f"<chain>{ch}</chain>{ex}</reasoning>")
    r = parse_reasoning(text)
    assert r == parse_reasoning_tolerant(text)  # both paths read it alike
    assert (r.goal, r.now) == (goal, now)
    full = [Triplet(*t) for t in triplets if all(t)]
    assert r.triplets == full
    assert len(r.malformed_triplets) == len(triplets) - len(full)
    assert r.logic == [LogicItem(*item) for item in logic]
    assert r.steps == [ChainStep(i, tuple(d), t) for i, d, t in steps]
    assert r.extras == ({"note": notes} if notes else {})
    assert r.problems == r.malformed_triplets
