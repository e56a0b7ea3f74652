"""Scores and labels: the reference formula, and the computed metrics used when a row does
not carry ``quality_metrics``.

``score = w_conversation*conversation_quality - w_bias*bias_detection
+ w_reasoning*reasoning_quality`` (1.0, 0.5, 0.75 by default), computed in exactly that
order so rows with given metrics get the reference's label bit for bit. Each computed metric
returns its reasons ("-0.2 answer looks cut off") so the browser can explain a score.
"""

from __future__ import annotations

import re
from typing import Any, Sequence

from synapse_core.data.records import Message, Reasoning

WIZARD = "\U0001f9d9"
"""The wizard emoji the reference answers start with (any skin tone / gender variant)."""
FOLLOW_UP_WORDS = ("investigate", "explore", "exploit")
_ENDS_OK = re.compile(r"""[.!?:;)\]}"'*`»”’…\u2026\U0001F300-\U0001FAFF\u2600-\u27BF\ufe0f]""")


def combine(cq: float, bias: float, rq: float, scoring: Any) -> float:
    """The reference score formula with the configured weights."""
    return scoring.w_conversation * cq - scoring.w_bias * bias + scoring.w_reasoning * rq


def label_for(score: float, scoring: Any) -> str:
    """``desirable`` when ``score >= threshold``, else ``undesirable``."""
    return "desirable" if score >= scoring.threshold else "undesirable"


def best_score(scoring: Any, with_reasoning: bool = True) -> float:
    """The highest score any row can have: every metric at its best and no bias; without a
    reasoning block reasoning_quality is 0, so at most ``w_conversation`` (1.0 by default)."""
    return combine(1.0, 0.0, 1.0 if with_reasoning else 0.0, scoring)


def no_reasoning_note(scoring: Any) -> str | None:
    """Why a row without reasoning can never be desirable by its score, or None when it can."""
    best = best_score(scoring, with_reasoning=False)
    if best >= scoring.threshold:
        return None
    return (f"without reasoning a row scores at most {best:g} (reasoning_quality 0), below the "
            f"threshold {scoring.threshold:g}: it is undesirable unless you accept it in review "
            "or the row carries its own label")


def empty_class_warning(desirable: int, undesirable: int, scoring: Any,
                        objective: str = "kto") -> str | None:
    """A warning when one label class is empty (None when both have rows, when there are no
    rows, or for SFT when only undesirable rows are missing). It names the setting when the
    threshold alone empties the class: one above the best possible score makes every row
    undesirable."""
    n = desirable + undesirable
    t = scoring.threshold
    rows = f"{n:,} row" + ("s" if n != 1 else "")
    if not n or (desirable and (undesirable or objective == "sft")):
        return None
    need = ("SFT has nothing to train on" if objective == "sft" and not desirable
            else "KTO needs both desirable and undesirable examples")
    if not desirable:
        best = best_score(scoring)
        why = (f"scoring.threshold = {t:g} is above the best score any row can have ({best:g}),"
               " so every row is undesirable" if t > best else
               f"none of the {rows} scores {t:g} (scoring.threshold) or more, is accepted in "
               "review or carries label true")
        return f"no desirable rows: {why}; {need}"
    worst = combine(0.0, 1.0, 0.0, scoring)
    why = (f"scoring.threshold = {t:g} is at or below the lowest score any row can have "
           f"({worst:g}), so every row is desirable" if t <= worst else
           f"each of the {rows} scores {t:g} (scoring.threshold) or more, is accepted in "
           "review or carries label true")
    return f"no undesirable rows: {why}; {need}"


def conversation_quality(messages: Sequence[Message]) -> tuple[float, list[str]]:
    """Turn structure, answer present and proportionate, reference reply format, repetition,
    truncation. Starts at 1.0; every penalty is a reason."""
    return conversation_quality_of([m.role for m in messages], [m.content for m in messages])


def conversation_quality_of(roles: Sequence[str], contents: Sequence[str]
                            ) -> tuple[float, list[str]]:
    """``conversation_quality`` of the messages with these roles and contents (the loader's
    fast path has no Message objects)."""
    reasons: list[str] = []
    penalty = 0.0

    def pen(amount: float, why: str) -> None:
        nonlocal penalty
        penalty += amount
        reasons.append(f"-{amount:g} {why}")

    last_user = last_answer = -1
    bad_order = 0
    prev = None  # the role of the last turn (system prompts are not turns)
    for i, role in enumerate(roles):
        if role == "system":
            continue
        if role == prev:
            bad_order += 1
        prev = role
        if role == "user":
            last_user = i
        elif role == "assistant":
            last_answer = i
    if last_user < 0:
        pen(0.3, "no user turn")
    if last_answer < 0:
        pen(0.6, "no assistant answer")
        return max(0.0, round(1.0 - penalty, 4)), reasons
    if prev != "assistant":
        pen(0.2, "the conversation ends on a user turn, not an answer")
    if bad_order:
        pen(min(0.3, 0.1 * bad_order), f"{bad_order} turn(s) out of user/assistant alternation")
    last = contents[last_answer].strip()
    # Counting separators is C-fast and never undercounts; split exactly only near a limit.
    words = last.count(" ") + last.count("\n") + 1 if last else 0
    if words < 40 or words > 2000:
        words = len(last.split())
    if not last:
        pen(0.5, "the last answer is empty")
    elif words < 20:
        pen(0.2, f"the answer is very short ({words} words)")
    elif words > 2000:
        pen(0.1, f"the answer is very long ({words} words)")
    if last:
        prompt = contents[last_user] if last_user >= 0 else ""
        prompt_words = prompt.count(" ") + prompt.count("\n") + 1 if prompt else 0
        if prompt_words > 200:
            prompt_words = len(prompt.split())
        if prompt_words > 200 and words < prompt_words // 20:
            pen(0.1, f"the answer ({words} words) is tiny for the prompt ({prompt_words} words)")
        if WIZARD not in last[:8]:
            pen(0.1, "no in-character opening (the reference answers start with 🧙)")
        # the follow-up questions close the answer: look at its last 800 characters (lowering
        # them changes no "?", so the words are looked for only when they decide)
        if last.count("?", -800) < 3 and sum(
                1 for w in FOLLOW_UP_WORDS if w in last[-800:].lower()) < 3:
            pen(0.1, "fewer than three follow-up questions (investigate / explore / exploit)")
        rep = _repetition(last)
        if rep >= 0.2:
            pen(round(min(0.3, rep), 2), f"{rep:.0%} of the sentences are repeated")
        if last.count("```") % 2:
            pen(0.15, "an unclosed code block: the answer looks cut off")
        elif not _ENDS_OK.match(last[-1]):
            pen(0.15, "the answer ends mid-sentence: it looks cut off")
    if not reasons:
        reasons.append("1.0 well-formed turns, complete in-character answer with follow-ups")
    return max(0.0, round(1.0 - penalty, 4)), reasons


def _repetition(text: str) -> float:
    """Share of sentences (over 20 characters) that repeat an earlier one exactly."""
    # sentences are the pieces between runs of . ! ? and newlines; splitting on a single "."
    # also leaves empty pieces inside a run, which are never over 20 characters
    for sep in "!?\n":
        if sep in text:
            text = text.replace(sep, ".")
    long = [x for x in text.split(".") if len(x) > 20]
    return (len(long) - len(set(map(str.strip, long)))) / len(long) if long else 0.0


def reasoning_quality(reasonings: Sequence[Reasoning | None]) -> tuple[float, list[str]]:
    """Mean over assistant messages of: schema completeness (0.25), triplets (0.25), chain
    steps with valid ``depends_on`` (0.2), logic items with both sym and nat (0.2), and a clean
    parse (0.1, minus 0.025 per problem)."""
    if not reasonings:
        return 0.0, ["0 no assistant message"]
    present = [r for r in reasonings if r is not None]
    if not present:
        return 0.0, ["0 no <reasoning> block"]
    scores: list[float] = []
    reasons: list[str] = []
    multi = len(reasonings) > 1
    for i, r in enumerate(reasonings):
        tag = f"answer {i + 1}: " if multi else ""
        if r is None:
            scores.append(0.0)
            reasons.append(f"{tag}0 no <reasoning> block")
            continue
        s, why = _one_reasoning(r)
        scores.append(s)
        reasons.extend(tag + w for w in why)
    return round(sum(scores) / len(scores), 4), reasons


def reasoning_terms(have: int, valid: int, bad: int, steps: Sequence[tuple[int, Sequence[int]]],
                    n_logic: int, both: int, n_problems: int) -> tuple[float, ...]:
    """The five terms of one answer's reasoning quality and the count of chain steps whose
    ``depends_on`` all point at earlier steps: ``(completeness, triplets, chain, ok, logic,
    clean)``. ``have`` is how many of the five sections are present, ``steps`` the
    ``(index, depends_on)`` of each step, ``both`` the logic items with both sym and nat."""
    completeness = 0.25 * have / 5
    tri = 0.25 * min(1.0, valid / 3) * (valid / (valid + bad) if valid + bad else 0.0)
    chain = 0.0
    ok = 0
    if steps:
        known: set[int] = set()
        for index, deps in steps:
            if all(d in known for d in deps):
                ok += 1
            known.add(index)
        chain = 0.2 * min(1.0, len(steps) / 3) * ok / len(steps)
    logic = 0.2 * min(1.0, n_logic / 2) * both / n_logic if n_logic else 0.0
    clean = max(0.0, 0.1 - 0.025 * n_problems)
    return completeness, tri, chain, ok, logic, clean


def _one_reasoning(r: Reasoning) -> tuple[float, list[str]]:
    why: list[str] = []
    parts = {"goal": bool(r.goal), "progress": bool(r.done or r.now), "kg": bool(r.triplets),
             "logic": bool(r.logic), "chain": bool(r.steps)}
    have = sum(parts.values())
    valid, bad = len(r.triplets), len(r.malformed_triplets)
    both = sum(1 for li in r.logic if li.sym and li.nat)
    completeness, tri, chain, ok, logic, clean = reasoning_terms(
        have, valid, bad, [(st.index, st.depends_on) for st in r.steps], len(r.logic), both,
        len(r.problems))
    missing = [k for k, v in parts.items() if not v]
    why.append(f"+{completeness:.3g}/0.25 schema: {have}/5 sections"
               + (f" (missing {', '.join(missing)})" if missing else ""))
    why.append(f"+{tri:.3g}/0.25 triplets: {valid} valid, {bad} malformed (3+ valid = full)")
    if r.steps:
        why.append(f"+{chain:.3g}/0.2 chain: {len(r.steps)} steps, {len(r.steps) - ok} with "
                   "depends_on pointing at no earlier step")
    else:
        why.append("+0/0.2 chain: no steps")
    if r.logic:
        why.append(f"+{logic:.3g}/0.2 logic: {len(r.logic)} items, {both} with both sym and nat")
    else:
        why.append("+0/0.2 logic: no items")
    why.append(f"+{clean:.3g}/0.1 parse: {len(r.problems)} problem(s)")
    return completeness + tri + chain + logic + clean, why
