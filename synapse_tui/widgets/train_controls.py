"""The training pane's button row; each button names the pane action it triggers."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Button

BUTTONS: tuple[tuple[str, str, str, str | None, str], ...] = (
    ("btn-start", "Start", "start", "success", "Start a run (s)"),
    ("btn-pause", "Pause", "toggle_pause", None, "Pause or resume (p)"),
    ("btn-stop", "Stop", "stop", "error", "Checkpoint and stop (x)"),
    ("btn-checkpoint", "Checkpoint", "checkpoint", None, "Checkpoint now (c)"),
    ("btn-open", "Open run", "open_run", None, "Show a past run (o)"),
    ("btn-export", "Export", "export", None, "Queue a GGUF export (e)"),
)
"""(button id, label, pane action, variant, tooltip)."""

ACTION_OF = {button_id: action for button_id, _, action, _, _ in BUTTONS}
"""Button id -> the pane action it runs."""


class TrainControls(Horizontal):
    """Start, Pause/Resume, Stop, Checkpoint, Open run, Export."""

    DEFAULT_CSS = """
    TrainControls { height: auto; }
    TrainControls Button { width: auto; min-width: 0; margin-right: 1; }
    """

    def compose(self) -> ComposeResult:
        for button_id, label, _, variant, tooltip in BUTTONS:
            yield Button(label, id=button_id, compact=True, variant=variant or "default",
                         tooltip=tooltip)

    def sync(self, enabled: dict[str, bool], paused: bool) -> None:
        """Enable the buttons whose action is allowed now; Pause reads Resume while paused."""
        for button_id, _, action, _, _ in BUTTONS:
            self.query_one(f"#{button_id}", Button).disabled = not enabled.get(action, False)
        self.query_one("#btn-pause", Button).label = "Resume" if paused else "Pause"
