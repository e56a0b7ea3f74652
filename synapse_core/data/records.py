"""The typed shape of one dataset row after loading, parsing and scoring.

``Record`` is what ``iter_rows`` yields for every valid line; ``BadLine`` is what it yields
for a line it had to set aside. Both hold plain values only, so they cross threads and can be
written as JSON. Records are streamed, never all kept: the browser keeps a compact column
store (``synapse_core.data.table``) and re-reads a row's detail from its byte offset.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, NamedTuple, Sequence


# Triplets, logic items and steps are named tuples: a block holds a dozen of them and a
# named tuple is built in a third of the time a frozen dataclass takes (they compare,
# hash and read by field name alike; a named tuple also equals a plain tuple of its fields).
class Triplet(NamedTuple):
    """One ``<tri>`` of a ``<kg>`` block: subject --predicate--> object."""

    subj: str
    pred: str
    obj: str


class LogicItem(NamedTuple):
    """One ``<prop>``/``<proof>``/``<crit>``/``<doubt>`` with its symbolic and plain forms."""

    kind: str
    sym: str | None
    nat: str | None


class ChainStep(NamedTuple):
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


class Record:
    """One valid dataset row, parsed, scored and labelled.

    ``line`` (1-based line in the source file, or 1-based row index of a saved ``datasets``
    folder) is the row id everywhere: decisions, the graph's sample links, the CLI output.

    A record read by the loader as a summary carries its scores, label, banned words,
    reasoning problems and triplets, and builds ``messages``, ``reasons`` and ``raw`` from its
    line only when one of them is first read (``detail(record)`` does it, returning the full
    Record the reference path builds). Its ``banned`` and ``reasoning_problems`` are tuples
    (fewer objects for the garbage collector to follow); a full Record's are lists.
    """

    __slots__ = ("line", "shape", "conversation_quality", "bias_detection", "reasoning_quality",
                 "metrics_source", "score", "label", "banned", "reasoning_problems",
                 "content_hash", "offset", "given_label", "_messages", "_reasons", "_raw",
                 "_turns", "_triplets", "_malformed", "_detail")

    def __init__(self, line: int, shape: str, messages: list[Message] | None = None,
                 conversation_quality: float = 0.0, bias_detection: float = 0.0,
                 reasoning_quality: float = 0.0, metrics_source: str = "computed",
                 reasons: dict[str, list[str]] | None = None, score: float = 0.0,
                 label: str = "undesirable", banned: list[BannedMatch] | None = None,
                 reasoning_problems: list[str] | None = None, raw: dict[str, Any] | None = None,
                 content_hash: str = "", offset: int = -1, given_label: bool | None = None, *,
                 turns: int | None = None,
                 triplets: Sequence[tuple[str, str, str]] | None = None,
                 malformed_triplets: Sequence[str] | None = None,
                 detail: Callable[[Record], Record] | None = None) -> None:
        self.line = line
        self.shape = shape
        self.conversation_quality = conversation_quality
        self.bias_detection = bias_detection
        self.reasoning_quality = reasoning_quality
        self.metrics_source = metrics_source
        self.score = score
        # A row's own boolean ``label`` (TRL's unpaired-preference format) is used as given;
        # the score is still computed and shown beside it.
        self.label = label if given_label is None else ("desirable" if given_label
                                                        else "undesirable")
        self.banned = [] if banned is None else banned
        self.reasoning_problems = [] if reasoning_problems is None else reasoning_problems
        self.content_hash = content_hash
        """Short hash of the row's JSON text; decisions are keyed by line *and* this."""
        self.offset = offset
        """Byte offset of the line in a JSONL file (-1 for a ``datasets`` folder)."""
        self.given_label = given_label
        """A ``label`` carried by a prompt/completion row, if any: it is the row's label."""
        self._messages = messages
        self._reasons = reasons
        self._raw = raw
        self._turns = turns
        self._triplets = triplets
        self._malformed = malformed_triplets
        self._detail = detail if messages is None else None

    def _fill(self) -> None:
        full = self._detail(self) if self._detail is not None else None
        self._detail = None
        if full is None:
            self._messages = self._messages or []
            self._reasons = self._reasons or {}
            self._raw = self._raw or {}
            return
        self._messages, self._reasons, self._raw = full.messages, full.reasons, full.raw

    @property
    def messages(self) -> list[Message]:
        """The conversation (built from the line on first use for a lazily loaded row)."""
        if self._messages is None:
            self._fill()
        return self._messages  # type: ignore[return-value]

    @property
    def reasons(self) -> dict[str, list[str]]:
        """Why each computed metric has its value (``{metric: [reason, ...]}``)."""
        if self._reasons is None:
            self._fill()
        return self._reasons  # type: ignore[return-value]

    @property
    def raw(self) -> dict[str, Any]:
        """The decoded JSON object of the row."""
        if self._raw is None:
            self._fill()
        return self._raw  # type: ignore[return-value]

    @property
    def triplets(self) -> list[Triplet]:
        """All triplets of all assistant messages, in order."""
        if self._triplets is not None:  # (subj, pred, obj) tuples from the summary
            return [Triplet(*t) for t in self._triplets]
        return [t for m in self.messages if m.reasoning for t in m.reasoning.triplets]

    @property
    def malformed_triplets(self) -> list[str]:
        """Descriptions of every malformed ``<tri>`` of all assistant messages."""
        if self._malformed is not None:
            return list(self._malformed)
        return [t for m in self.messages if m.reasoning for t in m.reasoning.malformed_triplets]

    @property
    def turns(self) -> int:
        """Number of user and assistant messages (system prompts are not turns)."""
        if self._turns is not None:
            return self._turns
        return sum(1 for m in self.messages if m.role != "system")

    @property
    def label_source(self) -> str:
        """``given`` when the row carries its own ``label``, else ``score`` (the threshold)."""
        return "score" if self.given_label is None else "given"

    @property
    def desirable(self) -> bool:
        """True when the row's label (given, or from its score) is desirable."""
        return self.label == "desirable"

    def __repr__(self) -> str:
        return (f"Record(line={self.line}, shape={self.shape!r}, score={self.score!r}, "
                f"label={self.label!r}, metrics_source={self.metrics_source!r})")


@dataclass(frozen=True, slots=True)
class BadLine:
    """A line that was set aside. ``str()`` gives ``FILE:LINE: reason``."""

    path: str
    line: int
    reason: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.reason}"
