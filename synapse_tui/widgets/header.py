"""The app's header: name, the data file and the training run's state."""

from __future__ import annotations

from synapse_tui.markup import escape
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.reactive import reactive
from textual.widgets import Label

STATE_CLASSES = {
    "idle": "-idle", "loading": "-busy", "training": "-busy", "paused": "-paused",
    "stopping": "-paused", "done": "-done", "failed": "-failed",
}


class RunHeader(Horizontal):
    """One line: the app's name, the data being worked on, and the run state."""

    DEFAULT_CSS = """
    RunHeader {
        height: 1;
        background: $panel;
        color: $foreground;
    }
    RunHeader #header-title { width: auto; padding: 0 1; text-style: bold; color: $primary; }
    RunHeader #header-data { width: 1fr; color: $text-muted; }
    RunHeader #header-state { width: auto; padding: 0 1; }
    RunHeader.-busy #header-state { background: $primary; color: $text; }
    RunHeader.-paused #header-state { background: $warning; color: $text; }
    RunHeader.-done #header-state { background: $success; color: $text; }
    RunHeader.-failed #header-state { background: $error; color: $text; }
    """

    state: reactive[str] = reactive("idle")
    """The run state as the training pane last reported it (idle, training, ...)."""

    detail: reactive[str] = reactive("")
    """A short detail shown with the state (step, reason)."""

    data_label: reactive[str] = reactive("")
    """The data file (or "demo") the app was opened on."""

    def compose(self) -> ComposeResult:
        yield Label("synapse-tui", id="header-title")
        yield Label("", id="header-data")
        yield Label("", id="header-state")

    def on_mount(self) -> None:
        self._show()

    def watch_state(self) -> None:
        self._show()

    def watch_detail(self) -> None:
        self._show()

    def watch_data_label(self) -> None:
        self._show()

    def _show(self) -> None:
        if not self.is_mounted:
            return
        for cls in set(STATE_CLASSES.values()):
            self.remove_class(cls)
        self.add_class(STATE_CLASSES.get(self.state, "-idle"))
        self.query_one("#header-data", Label).update(f"data: {escape(self.data_label)}")
        text = f"run: {self.state}" + (f" · {self.detail}" if self.detail else "")
        self.query_one("#header-state", Label).update(escape(text))
