"""The typed shape of one dataset row after loading, parsing and scoring.

``Record`` is what ``iter_rows`` yields for every valid line; ``BadLine`` is what it yields
for a line it had to set aside. Both hold plain values only, so they cross threads and can be
written as JSON. Records are streamed, never all kept: the browser keeps a compact column
store (``synapse_core.data.table``) and re-reads a row's detail from its byte offset.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Triplet:
    """One ``<tri>`` of a ``<kg>`` block: subject --predicate--> object."""

    subj: str
    pred: str
    obj: str


@dataclass(frozen=True, slots=True)
class LogicItem:
    """One ``<prop>``/``<proof>``/``<crit>``/``<doubt>`` with its symbolic and plain forms."""

    kind: str
    sym: str | None
    nat: str | None


@dataclass(frozen=True, slots=True)
class ChainStep:
    """One ``<step index="N" depends_on="M">`` of a ``<chain>``."""

    index: int
    depends_on: tuple[int, ...]
    text: str


@dataclass(slots=True)
class Reasoning:
    """The parsed ``<reasoning>`` block of one assistant message.

    ``problems`` lists every recovery the tolerant parser made (unclosed tags, stray text,
    wrong nesting); they count against reasoning quality and are shown to the user.
    """

    raw: str
    goal: str | None = None
    subgoal: str | None = None
    done: str | None = None
    now: str | None = None
    ctx: str | None = None
    triplets: list[Triplet] = field(default_factory=list)
    malformed_triplets: list[str] = field(default_factory=list)
    logic: list[LogicItem] = field(default_factory=list)
    steps: list[ChainStep] = field(default_factory=list)
    extras: dict[str, list[str]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Message:
    """One chat turn. ``content`` is the visible answer (without the reasoning block)."""

    role: str
    content: str
    reasoning: Reasoning | None = None


@dataclass(frozen=True, slots=True)
class BannedMatch:
    """A banned word found in a message: ``content[start:end]`` of ``messages[message]``."""

    word: str
    start: int
    end: int
    message: int


@dataclass(slots=True)
class Record:
    """One valid dataset row, parsed, scored and labelled.

    ``line`` (1-based line in the source file, or 1-based row index of a saved ``datasets``
    folder) is the row id everywhere: decisions, the graph's sample links, the CLI output.
    """

    line: int
    shape: str
    messages: list[Message]
    conversation_quality: float
    bias_detection: float
    reasoning_quality: float
    metrics_source: str
    reasons: dict[str, list[str]]
    score: float
    label: str
    banned: list[BannedMatch]
    reasoning_problems: list[str]
    raw: dict[str, Any]
    content_hash: str = ""
    """Short hash of the row's JSON text; decisions are keyed by line *and* this."""
    offset: int = -1
    """Byte offset of the line in a JSONL file (-1 for a ``datasets`` folder)."""
    given_label: bool | None = None
    """A ``label`` carried by a prompt/completion row, if any (kept for reference)."""

    @property
    def triplets(self) -> list[Triplet]:
        """All triplets of all assistant messages, in order."""
        return [t for m in self.messages if m.reasoning for t in m.reasoning.triplets]

    @property
    def malformed_triplets(self) -> list[str]:
        """Descriptions of every malformed ``<tri>`` of all assistant messages."""
        return [t for m in self.messages if m.reasoning for t in m.reasoning.malformed_triplets]

    @property
    def turns(self) -> int:
        """Number of user and assistant messages (system prompts are not turns)."""
        return sum(1 for m in self.messages if m.role != "system")

    @property
    def desirable(self) -> bool:
        """True when the automatic label is desirable."""
        return self.label == "desirable"


@dataclass(frozen=True, slots=True)
class BadLine:
    """A line that was set aside. ``str()`` gives ``FILE:LINE: reason``."""

    path: str
    line: int
    reason: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.reason}"
