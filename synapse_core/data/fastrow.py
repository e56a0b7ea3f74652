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
from typing import Any

from synapse_core.data.banned import BannedMatcher
from synapse_core.data.bias import bias_detection
from synapse_core.data.reasoning import (_CANONICAL_RE, _StepSink, _add_step,
                                         parse_reasoning_tolerant, split_inline_reasoning)
from synapse_core.data.records import ChainStep, Message
from synapse_core.data.rows import SHAREGPT_ROLES, RowError, _given_metrics
from synapse_core.data.scoring import combine, conversation_quality, label_for, reasoning_terms

_OPENAI_ROLES = {"system": "system", "user": "user", "assistant": "assistant"}
_KEYS = {"sharegpt": ("conversations", SHAREGPT_ROLES, "from", "value"),
         "messages": ("messages", _OPENAI_ROLES, "role", "content")}

# The leaves of a canonical block, one findall each. In a canonical block each tag can only
# stand in its own section, so a whole-block scan finds what a section-by-section scan finds.
# The step index keeps its quotes so that an absent index ("") and an empty one ('""') differ.
_MEM_RE = re.compile(r"<(goal|subgoal|ctx|done|now)>([^<]*)</\1>")
_TRI_RE = re.compile(r"<tri>\s*<subj>([^<]*)</subj>\s*<pred>([^<]*)</pred>\s*<obj>([^<]*)</obj>"
                     r"\s*</tri>")
_ITEM_RE = re.compile(r"<(prop|proof|crit|doubt)>\s*(?:<sym>([^<]*)</sym>\s*)?"
                      r"(?:<nat>([^<]*)</nat>\s*)?</\1>")
_STEP_RE = re.compile(r'<step(?:\s+index=("[^"<>]*"))?(?:\s+depends_on="([^"<>]*)")?\s*>')

ReasoningSummary = tuple[bool, bool, list[tuple[str, str, str]], list[str], int, int,
                         list[tuple[int, tuple[int, ...]]], list[str]]
"""(goal, progress, valid triplets, malformed-triplet descriptions, logic items, items with
both sym and nat, (index, depends_on) per step, problems) of one reasoning block."""


def summarize_reasoning(text: str) -> ReasoningSummary:
    """What scoring needs of a reasoning block, as ``parse_reasoning`` would read it."""
    body = text.strip()
    if not body.startswith("<reasoning"):
        body = f"<reasoning>{body}</reasoning>"
    if not _CANONICAL_RE.fullmatch(body):
        r = parse_reasoning_tolerant(text)
        return (bool(r.goal), bool(r.done or r.now),
                [(t.subj, t.pred, t.obj) for t in r.triplets], r.malformed_triplets, len(r.logic),
                sum(1 for li in r.logic if li.sym and li.nat),
                [(st.index, st.depends_on) for st in r.steps], r.problems)
    mem: dict[str, str] = {}
    problems: list[str] = []
    for tag, value in _MEM_RE.findall(body):
        if tag in mem:
            problems.append(f"repeated <{tag}>")
        mem[tag] = value
    triplets = [(a.strip(), b.strip(), c.strip()) for a, b, c in _TRI_RE.findall(body)]
    malformed: list[str] = []
    if not all(a and b and c for a, b, c in triplets):
        valid = []
        for n, (a, b, c) in enumerate(triplets, 1):
            if a and b and c:
                valid.append((a, b, c))
                continue
            missing = [k for k, v in (("subj", a), ("pred", b), ("obj", c)) if not v]
            malformed.append(f"triplet {n} is empty" if len(missing) == 3
                             else f"triplet {n} lacks {'/'.join(missing)}")
        triplets = valid
    items = _ITEM_RE.findall(body)
    # an absent sym/nat is "" here and None in a Reasoning: falsy in both
    both = sum(1 for _, sym, nat in items if sym.strip() and nat.strip())
    steps: list[tuple[int, tuple[int, ...]]] = []
    sink = _StepSink()
    for idx, dep in _STEP_RE.findall(body):
        if idx[1:-1].isdecimal() and idx.isascii() and (not dep or dep.isdecimal()
                                                         and dep.isascii()):
            steps.append((int(idx[1:-1]), (int(dep),) if dep else ()))
        else:  # anything else as the reference reads it
            sink.steps = [ChainStep(i, d, "") for i, d in steps]
            _add_step(sink, idx[1:-1] if idx else None, dep, "")
            steps = [(st.index, st.depends_on) for st in sink.steps]
    goal, done, now = mem.get("goal"), mem.get("done"), mem.get("now")
    return (bool(goal and goal.strip()), bool(done and done.strip() or now and now.strip()),
            triplets, malformed, len(items), both, steps, problems + malformed + sink.problems)


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


def _answer(content: str, reasoning: Any) -> tuple[str, ReasoningSummary | None] | None:
    if reasoning is not None:
        if type(reasoning) is not str or content.lstrip().startswith("<reasoning"):
            return None
        block, answer = reasoning, content
    elif content.lstrip().startswith("<reasoning"):
        block, answer, problems = split_inline_reasoning(content)
        if problems:
            return None
    else:
        return content, None
    if block is None or not block.strip():
        return answer, None
    return answer, summarize_reasoning(block)


def summarize(obj: Any, config: Any, matcher: BannedMatcher, content_hash: str = "") -> tuple | None:
    """The summary of a decoded row in the layout of ``parallel.summary`` (reasons None), or
    None when the row needs the reference path (see the module doc)."""
    if type(obj) is not dict:
        return None
    messages: list[Message] = []
    reasonings: list[ReasoningSummary | None] = []
    given_label = None
    if "conversations" in obj or "messages" in obj:
        shape = "sharegpt" if "conversations" in obj else "messages"
        field, roles, role_key, text_key = _KEYS[shape]
        items = obj[field]
        if type(items) is not list or not items:
            return None
        for m in items:
            if type(m) is not dict:
                return None
            role = m.get(role_key)
            role = roles.get(role) if type(role) is str else None
            content = m.get(text_key)
            if role is None or type(content) is not str:
                return None
            if role == "assistant":
                got = _answer(content, m.get("reasoning"))
                if got is None:
                    return None
                messages.append(Message("assistant", got[0]))
                reasonings.append(got[1])
            else:
                messages.append(Message(role, content))
    elif "prompt" in obj and "completion" in obj:
        shape = "prompt_completion"
        prompt, completion, given_label = obj["prompt"], obj["completion"], obj.get("label")
        if type(prompt) is not str or type(completion) is not str or not (
                given_label is None or type(given_label) is bool):
            return None
        got = _answer(completion, None)
        if got is None or not (prompt.strip() or got[0].strip() or got[1] is not None):
            return None
        messages = [Message("user", prompt), Message("assistant", got[0])]
        reasonings.append(got[1])
    elif "text" in obj:
        shape = "text"
        text = obj["text"]
        if type(text) is not str or not text.strip():
            return None
        got = _answer(text, None)
        if got is None:
            return None
        messages.append(Message("assistant", got[0]))
        reasonings.append(got[1])
    else:
        return None
    try:
        given = _given_metrics(obj)
    except RowError:
        return None
    answers = [m.content for m in messages if m.role == "assistant"]
    cq = given["conversation_quality"] if "conversation_quality" in given else \
        conversation_quality(messages)[0]
    bias = given["bias_detection"] if "bias_detection" in given else bias_detection(answers)[0]
    rq = given["reasoning_quality"] if "reasoning_quality" in given else _rq(reasonings)
    score = combine(cq, bias, rq, config.scoring)
    banned = tuple((b.word, b.start, b.end, b.message) for i, m in enumerate(messages)
                   if m.role == "assistant" for b in matcher.find(m.content, i)) if matcher else ()
    present = [r for r in reasonings if r is not None]
    return (shape, sum(1 for m in messages if m.role != "system"), cq, bias, rq,
            "given" if len(given) == 3 else "computed", score, label_for(score, config.scoring),
            banned, [p for r in present for p in r[7]], content_hash, given_label,
            [t for r in present for t in r[2]], [d for r in present for d in r[3]], None)
