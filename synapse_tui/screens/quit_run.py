"""Asked when the app quits while a run trains: leave it training, stop it, or stay."""

from __future__ import annotations

from synapse_tui.markup import escape
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label

from synapse_tui.screens.confirm import ChoiceBar

LEAVE, STOP = "leave", "stop"
"""What ``QuitRunScreen`` dismisses with (None: cancel)."""


class QuitRunScreen(ModalScreen[str | None]):
    """Quit with a run training: ``leave`` it training (the default: runs outlive the
    dashboard), ``stop`` it (checkpoint first), or cancel (None)."""

    DEFAULT_CSS = """
    QuitRunScreen { align: center middle; }
    QuitRunScreen > Vertical {
        width: 72; max-width: 100%; height: auto; padding: 1 2;
        border: thick $primary; background: $surface;
    }
    QuitRunScreen #quit-question { width: 1fr; margin-bottom: 1; }
    """

    BINDINGS = [
        Binding("l", "leave", "Leave training", id="quit-leave",
                tooltip="Quit; the run keeps training (synapse-tui attaches to it next time)"),
        Binding("s", "stop", "Stop run", id="quit-stop",
                tooltip="Checkpoint the run, stop it, then quit"),
        Binding("escape,c", "cancel", "Cancel", id="quit-cancel", tooltip="Do not quit"),
    ]

    def __init__(self, run_name: str) -> None:
        super().__init__()
        self.run_name = run_name

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(escape(f"The run {self.run_name} is training. It runs in a process of "
                               "its own: leave it training (synapse-tui attaches to it next "
                               "time; synapse runs lists it), or checkpoint and stop it?"),
                        id="quit-question")
            # only the focused button is highlighted (ChoiceBar): what Enter presses
            with ChoiceBar():
                yield Button("Cancel", id="quit-cancel")
                yield Button("Stop it", id="quit-stop", classes="-destructive")
                yield Button("Leave it training", id="quit-leave")

    def on_mount(self) -> None:
        self.query_one("#quit-leave", Button).focus()  # the safe choice is the default

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss({"quit-leave": LEAVE, "quit-stop": STOP}.get(event.button.id or ""))

    def action_leave(self) -> None:
        self.dismiss(LEAVE)

    def action_stop(self) -> None:
        self.dismiss(STOP)

    def action_cancel(self) -> None:
        self.dismiss(None)
