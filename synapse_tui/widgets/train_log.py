"""The training log tail: lines queued as they arrive, written in batches, coloured by level."""

from __future__ import annotations

import time

from rich.text import Text
from textual.widgets import RichLog

LEVEL_VARIABLES = {"warning": "warning", "error": "error", "success": "success"}
"""Log level -> theme variable that colours its lines."""

LOG_INTERVAL_S = 1.0
"""The engine's log lines are written at most this often: each write of the log asks for a
layout of the whole screen (~10-15 ms), and a key arriving meanwhile waits for it."""


class TrainLog(RichLog):
    """A ``RichLog`` that takes lines with ``queue`` and writes them with ``flush``.

    Each ``RichLog.write`` grows the log's virtual size, which asks for a layout of the whole
    screen; the engine's lines are queued and written once a second (``flush_due``), and
    before any line of the pane's own, so a chatty run costs one layout a second, not one per
    line.
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, max_lines=2000, wrap=True, min_width=20)
        self._pending: list[tuple[str, str]] = []
        self._written_at = 0.0

    def queue(self, text: str, level: str = "info") -> None:
        """Keep a line for the next ``flush``."""
        self._pending.append((text, level))

    def flush_due(self) -> None:
        """Write the queued lines if the last write is ``LOG_INTERVAL_S`` old."""
        if time.monotonic() - self._written_at >= LOG_INTERVAL_S:
            self.flush()

    def flush(self) -> None:
        """Write every queued line now, coloured by the theme's level colours, in one go."""
        if not self._pending:
            return
        self._written_at = time.monotonic()
        pending, self._pending = self._pending, []
        variables = self.app.theme_variables
        for text, level in pending:
            colour = variables.get(LEVEL_VARIABLES.get(level, ""), "")
            self.write(Text(text, style=colour or ""), scroll_end=True)
