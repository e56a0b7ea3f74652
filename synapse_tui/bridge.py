"""The bridge from core to UI: an EventSink that posts each event as a message.

``post_message`` is thread-safe, so the engine's worker thread emits straight into the
widget's queue and the handler runs on the UI thread.
"""

from __future__ import annotations

from textual.message_pump import MessagePump

from synapse_core.events import Event
from synapse_tui.messages import CoreEvent


class MessageSink:
    """Posts every core event to ``target`` as a ``CoreEvent`` (with an optional channel)."""

    def __init__(self, target: MessagePump, channel: str = "") -> None:
        self._target = target
        self._channel = channel

    def emit(self, event: Event) -> None:
        self._target.post_message(CoreEvent(event, self._channel))
