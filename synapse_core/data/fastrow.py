"""Score a row without building its Record: the summary the table, the counts and the graph need.

Loading a large file only needs, per row, the columns of the browser's table (shape, turns,
the three metrics, score, label, banned words, reasoning problems), the triplets for the
knowledge graph and the content hash for review decisions. ``summarize`` computes exactly
those, reusing the reference scorers (``conversation_quality``, ``bias_detection``, the banned
matcher, ``reasoning_terms``), but reads a canonical reasoning block with one ``findall``
into plain tuples instead of building ``Reasoning``/``Triplet``/``ChainStep`` objects, and
skips the metric reasons. The full Record (messages, reasons, raw) is rebuilt from the line
only when someone reads it (``records.Record`` does that).

Anything unusual (a field of the wrong type, a missing role, content parts, a reasoning block
given twice or cut off, a row the reference would reject) returns None, and the caller uses
the reference path (``rows.build_record``): so both always agree, which
``tests/core/test_data_fastpath.py`` checks row by row on the demo and benchmark data.
"""

from __future__ import annotations

import re
from math import isfinite
from typing import Any

from synapse_core.data.banned import BannedMatcher
from synapse_core.data.bias import bias_detection
from synapse_core.data.compiled import speedups
from synapse_core.data.reasoning import (_CANONICAL_RE, MAX_STEP_DIGITS, _StepSink, _add_step,
                                         parse_reasoning_tolerant, split_inline_reasoning)
from synapse_core.data.records import ChainStep
from synapse_core.data.rows import SHAREGPT_ROLES, RowError, _given_metrics
from synapse_core.data.scoring import (combine, conversation_quality_of, label_for,
                                        reasoning_terms)

_OPENAI_ROLES = {"system": "system", "user": "user", "assistant": "assistant"}
_KEYS = {"sharegpt": ("conversations", SHAREGPT_ROLES, "from", "value"),
         "messages": ("messages", _OPENAI_ROLES, "role", "content")}

# The leaves of a canonical block, one findall for all of them. In a canonical block each tag
# can only stand in its own section, and every "<" opens or closes an element of the grammar,
# so a whole-block scan finds what a section-by-section scan finds. Each alternative has a
# group that is never empty when it matches (the tag, or one letter of it), which tells them
# apart. The step index keeps its quotes so that an absent index ("") and an empty one ('""')
# differ.
_LEAVES_RE = re.compile(  # (the lookahead skips closing tags and the sections at once)
    r"<(?=[gscdntp])(?:(goal|subgoal|ctx|done|now)>([^<]*)"
    r"|(t)ri>\s*<subj>([^<]*)</subj>\s*<pred>([^<]*)</pred>\s*<obj>([^<]*)</obj>"
    r"|(prop|proof|crit|doubt)>\s*(?:<sym>([^<]*)</sym>\s*)?(?:<nat>([^<]*)</nat>)?"
    r'|step(?:\s+index=("[^"<>]*"))?(?:\s+depends_on="([^"<>]*)")?\s*>)')

_compiled = speedups.reasoning_summary if speedups is not None else None
_compiled_inline = speedups.inline_summary if speedups is not None else None
_compiled_cq = speedups.conversation_quality if speedups is not None else None

ReasoningSummary = tuple[bool, bool, list[tuple[str, str, str]], list[str], int, int,
                         list[tuple[int, tuple[int, ...]]], list[str]]
"""(goal, progress, valid triplets, malformed-triplet descriptions, logic items, items with
both sym and nat, (index, depends_on) per step, problems) of one reasoning block."""


def summarize_reasoning(text: str) -> ReasoningSummary:
    """What scoring needs of a reasoning block, as ``parse_reasoning`` would read it."""
    if _compiled is not None:  # the same for a canonical block, in one C pass
        got = _compiled(text)
        if got is not None:
            return got
    return summarize_reasoning_py(text)


def summarize_reasoning_py(text: str) -> ReasoningSummary:
    """``summarize_reasoning`` in Python alone (what the compiled reader must equal)."""
    body = text.strip()
    if not body.startswith("<reasoning"):
        body = f"<reasoning>{body}</reasoning>"
    if not _CANONICAL_RE.fullmatch(body):
        return tolerant_summary_py(text)
    mem: dict[str, str] = {}
    problems: list[str] = []
    triplets: list[tuple[str, str, str]] = []
    malformed: list[str] = []
    n_items = both = 0
    steps: list[tuple[int, tuple[int, ...]]] = []
    sink: _StepSink | None = None
    n_tri = 0
    for tag, value, t, subj, pred, obj, kind, sym, nat, idx, dep in _LEAVES_RE.findall(body):
        if t:
            n_tri += 1
            subj, pred, obj = subj.strip(), pred.strip(), obj.strip()
            if subj and pred and obj:
                triplets.append((subj, pred, obj))
                continue
            missing = [k for k, v in (("subj", subj), ("pred", pred), ("obj", obj)) if not v]
            malformed.append(f"triplet {n_tri} is empty" if len(missing) == 3
                             else f"triplet {n_tri} lacks {'/'.join(missing)}")
        elif tag:
            if tag in mem:
                problems.append(f"repeated <{tag}>")
            mem[tag] = value
        elif kind:
            n_items += 1
            # an absent sym/nat is "" here and None in a Reasoning: falsy in both
            if sym and nat and sym.strip() and nat.strip():
                both += 1
        elif sink is None and idx[1:-1].isdecimal() and idx.isascii() and (
                not dep or dep.isdecimal() and dep.isascii()) and (
                len(idx) <= MAX_STEP_DIGITS + 2 and len(dep) <= MAX_STEP_DIGITS):
            steps.append((int(idx[1:-1]), (int(dep),) if dep else ()))
        else:  # anything else as the reference reads it
            if sink is None:
                sink = _StepSink()
                sink.steps = [ChainStep(i, d, "") for i, d in steps]
            _add_step(sink, idx[1:-1] if idx else None, dep, "")
    if sink is not None:
        steps = [(st.index, st.depends_on) for st in sink.steps]
        problems += malformed
        problems += sink.problems
    elif malformed:
        problems += malformed
    goal, done, now = mem.get("goal"), mem.get("done"), mem.get("now")
    return (bool(goal and goal.strip()), bool(done and done.strip() or now and now.strip()),
            triplets, malformed, n_items, both, steps, problems)


def tolerant_summary_py(text: str) -> ReasoningSummary:
    """The summary of a block that is not canonical, from the tolerant parser."""
    r = parse_reasoning_tolerant(text)
    return (bool(r.goal), bool(r.done or r.now),
            [(t.subj, t.pred, t.obj) for t in r.triplets], r.malformed_triplets, len(r.logic),
            sum(1 for li in r.logic if li.sym and li.nat),
            [(st.index, st.depends_on) for st in r.steps], r.problems)


def _rq(summaries: list[ReasoningSummary | None]) -> float:
    """``scoring.reasoning_quality``'s value from reasoning summaries."""
    if not summaries:
        return 0.0
    scores = []
    for r in summaries:
        if r is None:
            scores.append(0.0)
            continue
        goal, progress, triplets, malformed, n_logic, both, steps, problems = r
        have = goal + progress + bool(triplets) + bool(n_logic) + bool(steps)
        completeness, tri, chain, _, logic, clean = reasoning_terms(
            have, len(triplets), len(malformed), steps, n_logic, both, len(problems))
        scores.append(completeness + tri + chain + logic + clean)
    return round(sum(scores) / len(scores), 4)


def _starts_with_block(content: str) -> bool:
    """``content.lstrip().startswith("<reasoning")`` without copying the content."""
    return content.startswith("<reasoning") or (
        content[:1].isspace() and content.lstrip().startswith("<reasoning"))


def _answer(content: str, reasoning: Any) -> tuple[str, ReasoningSummary | None] | None:
    if reasoning is not None:
        if type(reasoning) is not str or _starts_with_block(content):
            return None
        block, answer = reasoning, content
    elif _starts_with_block(content):
        if _compiled_inline is not None:  # the split and the summary in one C call
            got = _compiled_inline(content)
            if got is not None:
                return got
        block, answer, problems = split_inline_reasoning(content)
        if problems:
            return None
    else:
        return content, None
    if block is None or not block or block.isspace():  # (not block.strip(), without a copy)
        return answer, None
    return answer, summarize_reasoning(block)


def _given(obj: dict[str, Any]) -> dict[str, float] | None:
    """``rows._given_metrics`` (None where it raises), quicker for three finite floats."""
    qm = obj.get("quality_metrics")
    if qm is None:
        return {}
    if type(qm) is dict and len(qm) == 3:
        try:
            cq, bias, rq = (qm["conversation_quality"], qm["bias_detection"],
                            qm["reasoning_quality"])
        except KeyError:
            pass
        else:
            if (type(cq) is float and type(bias) is float and type(rq) is float
                    and isfinite(cq) and isfinite(bias) and isfinite(rq)):
                return {"conversation_quality": cq, "bias_detection": bias,
                        "reasoning_quality": rq}
    try:
        return _given_metrics(obj)
    except RowError:
        return None


def summarize(obj: Any, config: Any, matcher: BannedMatcher, content_hash: str = "") -> tuple | None:
    """The summary of a decoded row in the layout of ``parallel.summary`` (reasons None), or
    None when the row needs the reference path (see the module doc)."""
    if type(obj) is not dict:
        return None
    roles: list[str] = []
    contents: list[str] = []
    reasonings: list[ReasoningSummary | None] = []
    given_label = None
    shape = ("sharegpt" if "conversations" in obj else "messages" if "messages" in obj
             else "")
    if shape:
        field, role_map, role_key, text_key = _KEYS[shape]
        items = obj[field]
        if type(items) is not list or not items:
            return None
        for m in items:
            if type(m) is not dict:
                return None
            role = m.get(role_key)
            role = role_map.get(role) if type(role) is str else None
            content = m.get(text_key)
            if role is None or type(content) is not str:
                return None
            if role == "assistant":
                got = _answer(content, m.get("reasoning"))
                if got is None:
                    return None
                content = got[0]
                reasonings.append(got[1])
            roles.append(role)
            contents.append(content)
    elif "prompt" in obj and "completion" in obj:
        shape = "prompt_completion"
        prompt, completion, given_label = obj["prompt"], obj["completion"], obj.get("label")
        if type(prompt) is not str or type(completion) is not str or not (
                given_label is None or type(given_label) is bool):
            return None
        got = _answer(completion, None)
        if got is None or not (prompt.strip() or got[0].strip() or got[1] is not None):
            return None
        roles = ["user", "assistant"]
        contents = [prompt, got[0]]
        reasonings.append(got[1])
    elif "text" in obj:
        shape = "text"
        text = obj["text"]
        if type(text) is not str or not text.strip():
            return None
        got = _answer(text, None)
        if got is None:
            return None
        roles = ["assistant"]
        contents = [got[0]]
        reasonings.append(got[1])
    else:
        return None
    given = _given(obj)
    if given is None:
        return None
    cq = given.get("conversation_quality")
    if cq is None and _compiled_cq is not None:
        cq = _compiled_cq(roles, contents)
    if cq is None:
        cq = conversation_quality_of(roles, contents)[0]
    bias = given.get("bias_detection")
    rq = given.get("reasoning_quality")
    if rq is None:
        rq = _rq(reasonings)
    # the answers' lowered UTF-8, shared by the banned words and the bias prefilters
    answers = [(i, c, c.encode("utf-8", "surrogatepass").lower())
               for i, c in enumerate(contents) if roles[i] == "assistant"]
    if bias is None:
        bias = bias_detection([c for _, c, _ in answers], [b for _, _, b in answers])[0]
    score = combine(cq, bias, rq, config.scoring)
    banned: tuple = ()
    if matcher:
        found = [hit for i, c, b in answers for hit in matcher.find(c, i, b)]
        if found:
            banned = tuple((b.word, b.start, b.end, b.message) for b in found)
    n_none = reasonings.count(None)
    if n_none == len(reasonings):
        problems = triplets = malformed = ()
    elif n_none == 0 and len(reasonings) == 1:  # the usual single answer with a block
        r = reasonings[0]
        problems, triplets, malformed = tuple(r[7]), tuple(r[2]), tuple(r[3])
    else:
        present = [r for r in reasonings if r is not None]
        problems = tuple([p for r in present for p in r[7]])
        triplets = tuple([t for r in present for t in r[2]])
        malformed = tuple([d for r in present for d in r[3]])
    return (shape, len(roles) - roles.count("system"), cq, bias, rq,
            "given" if len(given) == 3 else "computed", score, label_for(score, config.scoring),
            banned, problems, content_hash, given_label, triplets, malformed, None)
