"""Events and sinks: how the core reports to whoever listens (the app, the CLI, a test).

Events are frozen dataclasses named in the past tense and hold plain values only (no
tensors, no widgets), so they can cross threads and be written as JSON. Each domain module
defines its own events by subclassing ``Event``; this module holds the protocol and the
generic sinks.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol, runtime_checkable


@dataclass(frozen=True)
class Event:
    """Base of every event. ``ts`` is a UNIX timestamp taken when the event was made."""

    ts: float = field(default_factory=time.time, kw_only=True)

    @property
    def kind(self) -> str:
        """The event's class name, e.g. ``StepLogged``."""
        return type(self).__name__

    def to_dict(self) -> dict[str, Any]:
        """Plain dict with the kind, for JSON logs."""
        d = dataclasses.asdict(self)
        d["kind"] = self.kind
        return d


@dataclass(frozen=True)
class LogLine(Event):
    """A human-readable line for the log tail (``level`` is info, warning or error)."""

    message: str
    level: str = "info"
    source: str = ""


@runtime_checkable
class EventSink(Protocol):
    """Anything that takes events. Must be safe to call from a worker thread."""

    def emit(self, event: Event) -> None:  # pragma: no cover - protocol
        ...


class NullSink:
    """Drops every event (headless runs that only want the files)."""

    def emit(self, event: Event) -> None:
        return None


class ListSink:
    """Keeps every event in a list (tests, the CLI summary). Thread-safe."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self._lock = threading.Lock()

    def emit(self, event: Event) -> None:
        with self._lock:
            self.events.append(event)

    def of(self, cls: type) -> list[Any]:
        """The events that are instances of ``cls``, in order."""
        with self._lock:
            return [e for e in self.events if isinstance(e, cls)]


class CallbackSink:
    """Calls a function for each event."""

    def __init__(self, fn: Callable[[Event], None]) -> None:
        self._fn = fn

    def emit(self, event: Event) -> None:
        self._fn(event)


class TeeSink:
    """Forwards each event to several sinks."""

    def __init__(self, *sinks: EventSink) -> None:
        self.sinks = list(sinks)

    def emit(self, event: Event) -> None:
        for s in self.sinks:
            s.emit(event)
