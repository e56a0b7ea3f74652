"""Messages shared between panes and the app (pane-private messages live in their pane)."""

from __future__ import annotations

from typing import Any

from textual.message import Message

from synapse_core.events import Event


class CoreEvent(Message):
    """An event from synapse_core, delivered on the UI thread. Never coalesced: every training
    step must reach the chart."""

    def __init__(self, event: Event, channel: str = "") -> None:
        super().__init__()
        self.event = event
        self.channel = channel


class CoreEventsReady(Message):
    """A ``BufferedSink`` holds an event that should be shown now (not only on the next
    redraw tick): the receiver drains the sink."""

    def __init__(self, channel: str = "") -> None:
        super().__init__()
        self.channel = channel


class RecordsLoaded(Message):
    """A batch of scored dataset records (``synapse_core.data`` Records) became available.

    Posted by the dataset pane while a file loads; the app forwards it to the graph pane.
    ``done`` is True on the last batch.
    """

    def __init__(self, records: list[Any], done: bool, path: str) -> None:
        super().__init__()
        self.records = records
        self.done = done
        self.path = path


class OpenSample(Message):
    """Show one dataset row (by its 1-based line number) in the dataset browser."""

    def __init__(self, line: int) -> None:
        super().__init__()
        self.line = line


class RunStateChanged(Message):
    """The training run's state changed (idle, loading, training, paused, stopping, done,
    failed); the header shows it."""

    def __init__(self, state: str, detail: str = "") -> None:
        super().__init__()
        self.state = state
        self.detail = detail


class ExportRequested(Message):
    """Queue an export of a finished run directory."""

    def __init__(self, run_dir: str) -> None:
        super().__init__()
        self.run_dir = run_dir
