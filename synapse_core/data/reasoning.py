"""Parse the ``<reasoning>`` block of an assistant reply into a typed ``Reasoning``.

One reader, linear in the length of any input:

* a block in the schema's canonical shape is recognised by one grammar regex whose every
  quantifier is possessive (the grammar is deterministic, so they change nothing it accepts,
  and the engine can never backtrack into it) and read with one ``finditer``;
* anything else (unclosed tags, stray text, wrong nesting, tags inside text) goes through the
  tag scanner (``tags.iter_tags``) and a tolerant tree builder that recovers what it
  can and records each recovery in ``Reasoning.problems``.

Tests check that both paths read a canonical block identically, and that the time to read any
tag soup grows linearly with its length (``tests/core/test_data_linear.py``).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from synapse_core.data.records import ChainStep, LogicItem, Reasoning, Triplet
from synapse_core.data.tags import KNOWN_TAGS, tags

CONTAINERS = frozenset({"reasoning", "mem", "prog", "kg", "logic", "chain", "tri"})
LOGIC_KINDS = ("prop", "proof", "crit", "doubt")
EXTRA_KINDS = ("reflect", "cont", "err", "note", "warn", "verb")
LEAVES = frozenset({"goal", "subgoal", "done", "now", "ctx", "subj", "pred", "obj", "sym", "nat",
                    "step", *EXTRA_KINDS})
REOPEN_CLOSES = frozenset({"tri", "prop", "proof", "crit", "doubt", "mem", "kg", "logic",
                           "chain", "prog"})
_EXPECTED_PARENT = {
    "goal": "mem", "subgoal": "mem", "prog": "mem", "ctx": "mem", "done": "prog", "now": "prog",
    "tri": "kg", "step": "chain", "prop": "logic", "proof": "logic", "crit": "logic",
    "doubt": "logic", "mem": "reasoning", "kg": "reasoning", "logic": "reasoning",
    "chain": "reasoning",
}
MAX_DEPTH = 256
"""Deepest nesting of tags the reader builds (the schema needs 5); deeper is an error."""

_INT_RE = re.compile(r"-?\d+")
_DEP_SPLIT = re.compile(r"[,\s;]+")


class ReasoningTooDeep(ValueError):
    """A block whose tags nest deeper than ``MAX_DEPTH`` (no schema block does)."""


def short_text(text: str, n: int = 40) -> str:
    """``text`` on one line (runs of whitespace as one space), cut to ``n`` characters."""
    return _clip(" ".join(text.split()), n)


def parse_reasoning(text: str) -> Reasoning:
    """Parse a reasoning block (with or without its outer ``<reasoning>`` tags), in time
    linear in its length. Raises ``ReasoningTooDeep`` for tags nested over ``MAX_DEPTH``."""
    raw = text
    body = text.strip()
    if not body.startswith("<reasoning"):
        body = f"<reasoning>{body}</reasoning>"
    if _CANONICAL_RE.fullmatch(body):
        return _fast_extract(raw, body)
    return parse_reasoning_tolerant(raw)


def parse_reasoning_tolerant(text: str) -> Reasoning:
    """The tolerant path alone (used for broken blocks; public so tests can compare paths)."""
    body = text.strip()
    if not body.startswith("<reasoning"):
        body = f"<reasoning>{body}</reasoning>"
    problems: list[str] = []
    root = _tolerant_tree(body, problems)
    out = Reasoning(raw=text, problems=problems)
    _Extractor(out).visit(root, "")
    return out


# The canonical grammar: sections in any order and number, leaves hold plain text only, so
# one fullmatch checks the whole structure. Every choice is decided by the next tag name, so
# each quantifier is possessive and each group atomic: the engine never gives back what it
# matched (no backtracking: linear). It has no capturing group: CPython 3.11's possessive
# repeats can misplace a group inside them ("The span of capturing group is wrong").
def _leaves(*names: str) -> str:
    """``<t>text</t>`` for any of the tag ``names``, as one atomic alternation."""
    return "(?>" + "|".join(rf"<{t}>[^<]*+</{t}>" for t in names) + ")"


_EXTRA = _leaves("reflect", "cont", "err", "note", "warn", "verb")
_CANON_MEM = (r"<mem>\s*+(?>(?>" + _leaves("goal", "subgoal", "ctx")
              + r"|<prog>\s*+(?>" + _leaves("done", "now") + r"\s*+)*+</prog>)\s*+)*+</mem>")
_CANON_KG = (r"<kg>\s*+(?><tri>\s*+<subj>[^<]*+</subj>\s*+<pred>[^<]*+</pred>\s*+<obj>[^<]*+"
             r"</obj>\s*+</tri>\s*+)*+</kg>")
_CANON_LOGIC = (r"<logic>\s*+(?>(?>" + "|".join(
    rf"<{k}>\s*+(?><sym>[^<]*+</sym>\s*+)?+(?><nat>[^<]*+</nat>\s*+)?+</{k}>"
    for k in LOGIC_KINDS) + r")\s*+)*+</logic>")
_CANON_CHAIN = (r'<chain>\s*+(?>(?><step(?>\s++index="[^"<>]*+")?+'
                r'(?>\s++depends_on="[^"<>]*+")?+\s*+>[^<]*+</step>|' + _EXTRA
                + r")\s*+)*+</chain>")
_CANONICAL_RE = re.compile(
    r"\s*+<reasoning>\s*+(?>(?>" + "|".join((_CANON_MEM, _CANON_KG, _CANON_LOGIC, _CANON_CHAIN,
                                             _EXTRA)) + r")\s*+)*+</reasoning>\s*+")


# A canonical block read kind by kind: one findall each, in C (a literal prefix lets the engine
# skip to each candidate). In a block the grammar above accepted, each tag stands only in its
# own section and each [^<]* ends at the "<" the next literal needs, so each finds exactly the
# elements of its kind, in document order, without backtracking. Marker groups tell an absent
# <sym>/<nat>/index from an empty one (findall gives "" for both).
_MEM_RE = re.compile(r"<(goal|subgoal|ctx|done|now|reflect|cont|err|note|warn|verb)>([^<]*)<")
_TRI_RE = re.compile(r"<tri>\s*<subj>([^<]*)</subj>\s*<pred>([^<]*)</pred>\s*<obj>([^<]*)<")
_LOGIC_RE = re.compile(r"<(prop|proof|crit|doubt)>\s*(?:(<sym>)([^<]*)</sym>\s*)?"
                       r"(?:(<nat>)([^<]*)</nat>)?")
_STEP_RE = re.compile(r'<step(?:\s+index=("[^"<>]*"))?(?:\s+depends_on="([^"<>]*)")?\s*>([^<]*)<')
_MEM_TAGS = frozenset({"goal", "subgoal", "ctx", "done", "now"})


def _fast_extract(raw: str, body: str) -> Reasoning:
    # Problems are listed by kind: memory, then triplets, then steps. Each kind is looked for
    # only from its section's first opening tag to its last closing one (str.find is far
    # quicker than the regex engine's scan), and an absent section costs no scan at all.
    out = Reasoning(raw=raw)
    problems = out.problems
    seen: set[str] = set()
    extras = out.extras
    for tag, value in _MEM_RE.findall(body):  # the memory leaves and the extra kinds
        if tag in _MEM_TAGS:
            if tag in seen:
                problems.append(f"repeated <{tag}>")
            seen.add(tag)
            setattr(out, tag, value.strip())
        elif tag in extras:
            extras[tag].append(value.strip())
        else:
            extras[tag] = [value.strip()]
    find, rfind = body.find, body.rfind
    if (lo := find("<kg>")) >= 0:
        triplets = out.triplets
        for n, (s, p, o) in enumerate(_TRI_RE.findall(body, lo, rfind("</kg>")), 1):
            s, p, o = s.strip(), p.strip(), o.strip()
            if s and p and o:
                triplets.append(Triplet(s, p, o))
                continue
            missing = [k for k, v in (("subj", s), ("pred", p), ("obj", o)) if not v]
            desc = (f"triplet {n} is empty" if len(missing) == 3
                    else f"triplet {n} lacks {'/'.join(missing)}")
            out.malformed_triplets.append(desc)
            problems.append(desc)
    if (lo := find("<logic>")) >= 0:
        out.logic = [LogicItem(kind, sym.strip() if has_sym else None,
                               nat.strip() if has_nat else None)
                     for kind, has_sym, sym, has_nat, nat in _LOGIC_RE.findall(
                         body, lo, rfind("</logic>"))]
    if (lo := find("<chain>")) >= 0:
        steps = out.steps
        for idx, dep, text in _STEP_RE.findall(body, lo, rfind("</chain>")):
            idx = idx[1:-1] if idx else None
            if idx and idx.isascii() and idx.isdecimal() and len(idx) <= MAX_STEP_DIGITS and (
                    not dep or dep.isascii() and dep.isdecimal() and len(dep) <= MAX_STEP_DIGITS):
                steps.append(ChainStep(int(idx), (int(dep),) if dep else (), text.strip()))
            else:  # anything else as the tolerant path reads it (problems named alike)
                _add_step(out, idx, dep, text.strip())
    return out


def _tolerant_tree(body: str, problems: list[str]) -> ET.Element:
    """Build a tree from known tags only; every other ``<``/``&`` is plain text."""
    builder = ET.TreeBuilder()
    stack: list[str] = ["reasoning"]
    open_count = {"reasoning": 1}  # tags on the stack (a membership test in O(1))
    pos = 0
    builder.start("reasoning", {})
    first = True
    root_closed = False
    data, start_tag, end_tag = builder.data, builder.start, builder.end

    def pop() -> None:
        tag = stack.pop()
        open_count[tag] -= 1
        end_tag(tag)

    for at, end, tag, attrs, closing, selfclosing in tags(body):
        if at > pos:
            data(body[pos:at])
        pos = end
        if first and not closing and tag == "reasoning" and at == 0:
            first = False
            continue  # the outer tag was opened above
        first = False
        if closing:
            if not open_count.get(tag):
                problems.append(f"stray </{tag}> ignored")
                continue
            while stack[-1] != tag:
                problems.append(f"unclosed <{stack[-1]}> closed by </{tag}>")
                pop()
            if tag == "reasoning" and len(stack) == 1:
                root_closed = True
                continue  # close at the very end, after any trailing text
            pop()
            continue
        if stack[-1] in LEAVES:
            problems.append(f"unclosed <{stack[-1]}> closed by <{tag}>")
            pop()
        if tag in REOPEN_CLOSES and open_count.get(tag):
            while stack[-1] != tag:
                problems.append(f"unclosed <{stack[-1]}> closed by <{tag}>")
                pop()
            problems.append(f"unclosed <{tag}> closed by the next <{tag}>")
            pop()
        start_tag(tag, attrs)
        if selfclosing:
            end_tag(tag)
        else:
            if len(stack) >= MAX_DEPTH:
                raise ReasoningTooDeep(f"tags nested over {MAX_DEPTH} deep")
            stack.append(tag)
            open_count[tag] = open_count.get(tag, 0) + 1
    if pos < len(body):
        data(body[pos:])
    while len(stack) > 1:
        problems.append(f"unclosed <{stack[-1]}>")
        pop()
    if not root_closed:
        problems.append("unclosed <reasoning>")
    end_tag("reasoning")
    return builder.close()


def _text(el: ET.Element) -> str:
    return "".join(el.itertext()).strip()


class _Extractor:
    """Walks the tree once, filling a Reasoning and noting what is out of place."""

    def __init__(self, out: Reasoning) -> None:
        self.out = out
        self.tri_count = 0

    def problem(self, msg: str) -> None:
        self.out.problems.append(msg)

    def visit(self, el: ET.Element, parent: str) -> None:
        tag = el.tag
        out = self.out
        expected = _EXPECTED_PARENT.get(tag)
        if expected and parent != expected and tag != "tri":
            self.problem(f"<{tag}> outside <{expected}>")
        if tag in CONTAINERS and tag != "tri":
            self._stray_text(el)
            for child in el:
                self.visit(child, tag)
        elif tag in ("goal", "subgoal", "ctx", "done", "now"):
            if getattr(out, tag) is not None:
                self.problem(f"repeated <{tag}>")
            setattr(out, tag, _text(el))
        elif tag == "tri":
            self._triplet(el, parent)
        elif tag in LOGIC_KINDS:
            sym = el.find("sym")
            nat = el.find("nat")
            out.logic.append(LogicItem(tag, _text(sym) if sym is not None else None,
                                       _text(nat) if nat is not None else None))
        elif tag == "step":
            self._step(el)
        elif tag in EXTRA_KINDS:
            out.extras.setdefault(tag, []).append(_text(el))
        elif tag in KNOWN_TAGS:  # subj/pred/obj/sym/nat where they do not belong
            self.problem(f"stray <{tag}> inside <{parent}>")
        else:
            self.problem(f"unknown tag <{tag}>")
            for child in el:
                self.visit(child, parent)

    def _stray_text(self, el: ET.Element) -> None:
        bits = [el.text or ""] + [c.tail or "" for c in el]
        stray = "".join(bits).strip()
        if stray:
            self.problem(f"stray text in <{el.tag}>: '{short_text(stray)}'")

    def _triplet(self, el: ET.Element, parent: str) -> None:
        self.tri_count += 1
        n = self.tri_count
        parts = {}
        for child in el:
            if child.tag in ("subj", "pred", "obj"):
                parts[child.tag] = _text(child)
        if parent != "kg":
            desc = f"triplet {n} outside <kg>"
            self.out.malformed_triplets.append(desc)
            self.problem(desc)
            return
        missing = [k for k in ("subj", "pred", "obj") if not parts.get(k)]
        if len(missing) == 3:
            desc = f"triplet {n} is empty"
        elif missing:
            desc = f"triplet {n} lacks {'/'.join(missing)}"
        else:
            self.out.triplets.append(Triplet(parts["subj"], parts["pred"], parts["obj"]))
            return
        self.out.malformed_triplets.append(desc)
        self.problem(desc)

    def _step(self, el: ET.Element) -> None:
        _add_step(self.out, el.get("index"), el.get("depends_on"), _text(el))


MAX_STEP_DIGITS = 100
"""A step number with more digits is reported as not a number (``int`` refuses 4,300)."""


def _clip(text: str, n: int = 40) -> str:
    """``text``, cut to ``n`` characters with an ellipsis when longer."""
    return text if len(text) <= n else text[: n - 1] + "…"


def _number(text: str) -> int | None:
    """``int(text)`` for an optionally signed decimal number (any script's decimal digits, but
    not superscripts and the like, which ``int`` refuses), spaces around allowed; else None."""
    if text.isdecimal():  # the usual case, without a regex
        return int(text) if len(text) <= MAX_STEP_DIGITS else None
    m = _INT_RE.fullmatch(text.strip())
    return int(m.group()) if m and len(m.group()) <= MAX_STEP_DIGITS + 1 else None


def _add_step(out: Reasoning, idx_raw: str | None, dep_raw: str | None, text: str) -> None:
    index, deps = step_fields(len(out.steps), idx_raw, dep_raw, out.problems)
    out.steps.append(ChainStep(index, deps, text))


def step_fields(n_before: int, idx_raw: str | None, dep_raw: str | None,
                problems: list[str]) -> tuple[int, tuple[int, ...]]:
    """``(index, depends_on)`` of the step after ``n_before`` others, from its raw ``index``
    and ``depends_on`` attributes; what cannot be read is appended to ``problems``."""
    index = n_before + 1
    if idx_raw is None:
        problems.append(f"step {index} has no index")
    elif (number := _number(idx_raw)) is not None:
        index = number
    else:
        problems.append(f"step index {_clip(idx_raw)!r} is not a number")
    deps: list[int] = []
    if dep_raw:
        for tok in [dep_raw] if dep_raw.isdecimal() else _DEP_SPLIT.split(dep_raw.strip()):
            if not tok:
                continue
            if (number := _number(tok)) is not None:
                deps.append(number)
            else:
                problems.append(f"step {index}: depends_on {_clip(tok)!r} is not a number")
    return index, tuple(deps)


def split_inline_reasoning(content: str) -> tuple[str | None, str, list[str]]:
    """Split an assistant reply that starts with ``<reasoning>`` into (block, answer, problems).

    Without a ``</reasoning>`` the block is taken to end after its last closing reasoning tag.
    """
    stripped = content if content.startswith("<reasoning") else content.lstrip()
    if not stripped.startswith("<reasoning"):
        return None, content, []
    end = stripped.find("</reasoning>")
    if end >= 0:
        cut = end + len("</reasoning>")
        return stripped[:cut], stripped[cut:].strip(), []
    cut = len(stripped)
    for _, end, _, _, closing, _ in tags(stripped):  # linear: see iter_tags
        if closing:
            cut = end
    return stripped[:cut], stripped[cut:].strip(), ["unclosed <reasoning>: the block was cut "
                                                     "after its last closing tag"]
