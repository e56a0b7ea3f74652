"""Find the tags of a reasoning block, in time linear in its length whatever it holds.

``iter_tags`` replaces a backtracking tag regex that took exponential time on an unclosed tag
with many attributes (and quadratic time on thousands of tags whose attributes never end):
it finds the same tags and attribute values (``tests/core/test_data_linear_property.py``
checks it against that regex), each position explored at most once.
"""

from __future__ import annotations

import re
from typing import Iterator, NamedTuple

from synapse_core.config import REASONING_TAGS

KNOWN_TAGS = frozenset(REASONING_TAGS)
"""The tag names of the reasoning schema; any other ``<`` is text."""


class Tag(NamedTuple):
    """One tag found by ``iter_tags``: ``text[start:end]``, its name, attributes (the last of
    a repeated name wins), and whether it closes (``</x>``) or closes itself (``<x/>``)."""

    start: int
    end: int
    name: str
    attrs: dict[str, str]
    closing: bool
    selfclosing: bool


# The pieces of a tag, each matched where the scanner stands (possessive: no backtracking).
_NAME_RE = re.compile(r"\w++")
_ATTR_HEAD_RE = re.compile(r"\s++([\w-]++)\s*+(=)\s*+")
_UNQUOTED_RE = re.compile(r"[^\s>]*+")
_TAIL_RE = re.compile(r"\s*+(/?)>")
_NAMES = "|".join(sorted(REASONING_TAGS, key=len, reverse=True))
# In C, from "<" to "<": a whole tag without attributes, or the start of one that may have
# some (the Python scanner reads it). Every "<" before no known name is skipped here.
_TAG_START_RE = re.compile(rf"<(?:(/?)({_NAMES})\s*+(/?)>|(?=/?(?:{_NAMES})\b))")
# A tag's attributes, read from its attribute text once the tag is found (the lookbehind keeps
# a failed name from being tried again from each of its letters).
_ATTR_RE = re.compile(r"(?<![\w-])([\w-]++)\s*+=\s*+(?:\"([^\"]*+)\"|'([^']*+)'|([^\s>]*+))")


def iter_tags(text: str) -> Iterator[Tag]:
    """Every known tag of ``text`` in order, left to right, never overlapping, in time linear
    in ``len(text)`` whatever it holds.

    A tag is ``<``, an optional ``/``, a known tag name (a whole word), any number of
    attributes ``name=value`` each after whitespace, optional whitespace, an optional ``/`` and
    ``>``; a value is ``"…"``, ``'…'`` or runs to the next whitespace or ``>``. Every other
    ``<`` is text. Where a value can be read more than one way (a quote that closes far away,
    or not at all), the ways are tried in the order a backtracking regex would try them, so
    the tags found are the ones such a regex finds. Whether a tag can end from a position
    between two attributes depends only on the text from there on, so the positions from
    which none can end are remembered for the whole text: each is explored once, and the
    search stays linear where the regex took exponential time.
    """
    return map(Tag._make, tags(text))


def tags(text: str) -> Iterator[tuple[int, int, str, dict[str, str], bool, bool]]:
    """``iter_tags`` as plain tuples ``(start, end, name, attrs, closing, selfclosing)``
    (the tree builder reads tens of thousands of them)."""
    dead: set[int] = set()  # attribute boundaries from which no tag can end
    quotes: dict[int, int] = {}  # an opening quote -> its closing quote (-1: none)
    pos = 0
    while True:
        for m in _TAG_START_RE.finditer(text, pos):
            slash, name, selfclose = m.group(1, 2, 3)
            if name is not None:  # a tag without attributes: all read by the regex
                yield m.start(), m.end(), name, {}, slash == "/", selfclose == "/"
                continue
            tag = _read_tag(text, m.start(), dead, quotes)
            if tag is not None:
                yield tag
                pos = tag[1]
                break  # go on after the tag
        else:
            return


def _read_tag(text: str, pos: int, dead: set[int], quotes: dict[int, int]
              ) -> tuple[int, int, str, dict[str, str], bool, bool] | None:
    i = pos + 1
    closing = text.startswith("/", i)
    if closing:
        i += 1
    m = _NAME_RE.match(text, i)
    if m is None or m.group() not in KNOWN_TAGS:
        return None
    first = node = m.end()
    # Depth-first over the boundaries between attributes, each value's first reading first.
    # ``passed``: the boundaries of the current path; ``forks``: (index in passed, the other
    # readings of the value after it, the last to try first; -1 - j: "to the next whitespace
    # or > from j"). A boundary from which every reading failed is dead.
    passed: list[int] = []
    forks: list[tuple[int, list[int]]] = []
    head_match, unquoted, tail_match = _ATTR_HEAD_RE.match, _UNQUOTED_RE.match, _TAIL_RE.match
    while True:
        if node not in dead:
            head = head_match(text, node)
            if head is not None:
                passed.append(node)
                j = head.end()
                eq = head.end(2)
                others = [eq] if j > eq else []  # with whitespace after "=": an empty value
                q = text[j:j + 1]
                if q == '"' or q == "'":
                    k = quotes.get(j)
                    if k is None:
                        k = quotes[j] = text.find(q, j + 1)
                    if k >= 0:
                        others.append(-1 - j)
                        node = k + 1
                    else:
                        node = unquoted(text, j).end()
                else:
                    node = unquoted(text, j).end()
                if others:
                    forks.append((len(passed) - 1, others))
                continue
            tail = tail_match(text, node)
            if tail is not None:
                attrs = ({a.group(1): a.group(2) if a.group(2) is not None else
                          a.group(3) if a.group(3) is not None else a.group(4)
                          for a in _ATTR_RE.finditer(text, first, node)} if node > first else {})
                return pos, tail.end(), m.group(), attrs, closing, bool(tail.group(1))
            dead.add(node)
        if not forks:
            dead.update(passed)
            return None
        at, others = forks[-1]
        dead.update(passed[at + 1:])
        del passed[at + 1:]
        node = others.pop()
        if not others:
            forks.pop()
        if node < 0:
            node = unquoted(text, -1 - node).end()
