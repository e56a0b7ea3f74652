"""The key help: every binding the user can press now, with its id for remapping."""

from __future__ import annotations

from synapse_tui.markup import escape
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static


class HelpScreen(ModalScreen[None]):
    """Lists ``(keys, description, binding id)`` rows; any of escape/q/? closes it.

    The list has the focus when it opens, so the arrow keys, page up/down and home/end
    scroll it at once (the app turns Textual's auto-focus off for its own screen).
    """

    AUTO_FOCUS = "#help-scroll"

    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll {
        width: 90; max-width: 100%; height: auto; max-height: 90%;
        padding: 1 2; border: thick $primary; background: $surface;
    }
    """

    BINDINGS = [Binding("escape,q,question_mark", "close", "Close", id="help-close",
                        tooltip="Close the help")]

    def __init__(self, rows: list[tuple[str, str, str]]) -> None:
        super().__init__()
        self.rows = rows

    def compose(self) -> ComposeResult:
        width = max((len(k) for k, _, _ in self.rows), default=4) + 2
        lines = ["[b]Keys[/b]  (remap with [i]\\[ui] keymap = { <id> = \"<key>\" }[/i] "
                 "in the run config; ctrl+p opens the command palette; "
                 "↑↓ pgup pgdn scroll)", ""]
        for keys, description, binding_id in self.rows:
            lines.append(f"[b]{escape(keys.ljust(width))}[/b]{escape(description)}"
                         f"  [dim]{escape(binding_id)}[/dim]")
        with VerticalScroll(id="help-scroll"):
            yield Static("\n".join(lines), id="help-text")

    def action_close(self) -> None:
        self.dismiss(None)
