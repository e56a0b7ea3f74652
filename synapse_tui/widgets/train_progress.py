"""Step/epoch progress with tokens per second and the ETA."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Label, ProgressBar

from synapse_tui.widgets.train_series import format_eta


class TrainProgress(Horizontal):
    """A progress bar over optimizer steps and a line of facts about the pace."""

    DEFAULT_CSS = """
    TrainProgress {
        height: 1;
    }
    TrainProgress ProgressBar {
        width: 40;
    }
    TrainProgress #progress-facts {
        width: 1fr;
        color: $text-muted;
    }
    """

    def compose(self) -> ComposeResult:
        yield ProgressBar(total=100, show_eta=False, id="progress-bar")
        yield Label("no run", id="progress-facts")

    def show(self, step: int, total: int, epoch: float, tokens_per_s: float | None,
             eta_s: float | None) -> None:
        """Show the position of the run."""
        bar = self.query_one(ProgressBar)
        bar.update(total=max(total, 1), progress=min(step, max(total, 1)))
        tps = "-" if tokens_per_s is None else f"{tokens_per_s:,.0f}"
        self.query_one("#progress-facts", Label).update(
            f" step {step}/{total}  epoch {epoch:.2f}  {tps} tok/s  ETA {format_eta(eta_s)}")

    def show_text(self, text: str) -> None:
        """Show a line instead of the pace (no run, loading, a past run)."""
        self.query_one("#progress-facts", Label).update(f" {text}")

    def reset(self) -> None:
        """Back to an empty bar (not the animated indeterminate one: it repaints forever)."""
        self.query_one(ProgressBar).update(total=100, progress=0)
