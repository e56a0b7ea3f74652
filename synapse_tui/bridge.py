"""The bridge from core to UI: sinks that hand core events to a widget on the UI thread.

``MessageSink`` posts every event as a message (``post_message`` is thread-safe, so the
engine's worker thread emits straight into the widget's queue). ``BufferedSink`` queues the
high-rate events (training steps, telemetry samples, log lines) for the widget to take on
its own redraw tick, and posts a message only for the rest, so a run logging a hundred steps a
second costs the UI thread a few wake-ups a second instead of a hundred.
"""

from __future__ import annotations

import threading

from textual.message_pump import MessagePump

from synapse_core.events import Event
from synapse_tui.messages import CoreEvent, CoreEventsReady


class MessageSink:
    """Posts every core event to ``target`` as a ``CoreEvent`` (with an optional channel)."""

    def __init__(self, target: MessagePump, channel: str = "") -> None:
        self._target = target
        self._channel = channel

    def emit(self, event: Event) -> None:
        self._target.post_message(CoreEvent(event, self._channel))


class BufferedSink:
    """Queues core events, in order, until ``target`` takes them with ``drain``.

    Events of the ``quiet`` types are only queued (the target drains on a timer); any other
    event also posts one ``CoreEventsReady``, so a run starting, pausing or failing shows at
    once, after everything queued before it. Nothing is ever dropped: ``drain`` returns every
    event emitted since the last ``drain``. Safe to call ``emit`` from any thread.
    """

    def __init__(self, target: MessagePump, quiet: tuple[type, ...] = (),
                 channel: str = "") -> None:
        self._target = target
        self._quiet = quiet
        self._channel = channel
        self._lock = threading.Lock()
        self._queue: list[Event] = []
        self._wake_posted = False

    def emit(self, event: Event) -> None:
        with self._lock:
            self._queue.append(event)
            if self._wake_posted or isinstance(event, self._quiet):
                return
            self._wake_posted = True
        self._target.post_message(CoreEventsReady(self._channel))

    def drain(self) -> list[Event]:
        """Every event emitted since the last call, oldest first."""
        with self._lock:
            events, self._queue = self._queue, []
            self._wake_posted = False
        return events
