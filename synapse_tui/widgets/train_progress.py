"""Step/epoch progress with tokens per second and the ETA, on one line.

Drawn by ``render`` from plain state and refreshed with a repaint only: a ``Label`` or a
``ProgressBar`` update asks for a layout of the whole screen, which at the panel's 10 Hz
redraw cost more than everything else together (see benchmarks/ui_latency.py).
"""

from __future__ import annotations

from textual.content import Content
from textual.widget import Widget

from synapse_tui.widgets.train_series import format_eta

BAR_WIDTH = 32
"""Cells of the bar; the facts take the rest of the line."""


class TrainProgress(Widget):
    """``━━━━━━━╸──────  42%  step 84/200  epoch 1.26  5,120 tok/s  ETA 3m07s``."""

    DEFAULT_CSS = """
    TrainProgress {
        height: 1;
        width: 1fr;
    }
    """

    def __init__(self, id: str | None = None) -> None:
        super().__init__(id=id)
        self.fraction: float | None = None
        """Share of steps done (None: no bar, only the text)."""
        self.text = "no run"
        """The facts after the bar."""

    def show(self, step: int, total: int, epoch: float, tokens_per_s: float | None,
             eta_s: float | None) -> None:
        """Show the position of the run."""
        self.fraction = min(1.0, step / total) if total > 0 else 0.0
        tps = "-" if tokens_per_s is None else f"{tokens_per_s:,.0f}"
        self.text = (f"step {step}/{total}  epoch {epoch:.2f}  {tps} tok/s  "
                     f"ETA {format_eta(eta_s)}")
        self.refresh()

    def show_setup(self, index: int, count: int, message: str) -> None:
        """The run is setting up (before step 1): which part of how many, and what."""
        self.fraction = None  # no bar yet: a 0% bar reads as stuck
        self.text = f"set-up {index}/{count}: {message}…"
        self.refresh()

    def show_text(self, text: str) -> None:
        """Show a line instead of the pace (no run, loading, a past run)."""
        self.text = text
        self.refresh()

    def reset(self) -> None:
        """Back to an empty bar."""
        self.fraction = 0.0
        self.text = ""
        self.refresh()

    def render(self) -> Content:
        parts: list[str | tuple[str, str]] = []
        if self.fraction is not None:
            done = self.fraction * BAR_WIDTH
            full = int(done)
            half = "╸" if done - full >= 0.5 and full < BAR_WIDTH else ""
            parts.append(("━" * full + half, "$primary"))
            parts.append(("─" * (BAR_WIDTH - full - len(half)), "$panel-lighten-2"))
            parts.append(f" {self.fraction * 100:3.0f}%  ")
        parts.append((self.text, "$text-muted"))
        return Content.assemble(*parts)
