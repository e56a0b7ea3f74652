"""The dialog shown when the review decisions sidecar cannot be read.

It says what is wrong and where the saved copy is, and offers to start again from the
decisions that copy still holds. Until the user recovers (or repairs the file), no decision is
applied and training refuses to start: nothing trains on a row the user rejected.
"""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static


class RecoverDecisions(ModalScreen[bool]):
    """Ask whether to start again from the saved copy; dismisses with True to recover."""

    DEFAULT_CSS = """
    RecoverDecisions { align: center middle; }
    RecoverDecisions > Vertical {
        width: 90%; max-width: 100; height: auto; padding: 1 2;
        border: thick $error; background: $panel;
    }
    RecoverDecisions #recover-title { text-style: bold; color: $error; }
    RecoverDecisions #recover-text { margin: 1 0; }
    RecoverDecisions Horizontal { height: auto; }
    RecoverDecisions Button { margin-right: 2; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "dismiss(False)", "Not now", id="recover-decisions-cancel",
                tooltip="Leave the file as it is (training stays blocked)"),
        Binding("left", "app.focus_previous", show=False),
        Binding("right", "app.focus_next", show=False),
    ]

    def __init__(self, path: str, bad_copy: str | None, reason: str, recoverable: int) -> None:
        super().__init__()
        self.path, self.bad_copy, self.reason = path, bad_copy, reason
        self.recoverable = recoverable

    def compose(self) -> ComposeResult:
        kept = f"A copy is kept as {self.bad_copy}. " if self.bad_copy else ""
        n = self.recoverable
        start = (f"Start from the saved copy ({n} decision{'s' if n != 1 else ''})" if n
                 else "Start with no decisions")
        with Vertical():
            yield Static("The review decisions cannot be read", id="recover-title")
            yield Static(
                f"{self.path}: {self.reason}.\n\n{kept}None of its decisions is applied, and "
                "training will not start, so that no row you rejected is trained on.\n\n"
                + (f"The saved copy still holds {n} complete decision{'s' if n != 1 else ''}: "
                   "start from them (the damaged file stays in the copy), or leave the file "
                   "as it is and repair it yourself." if n else
                   "No complete decision can be read from it: start with none (the damaged "
                   "file stays in the copy), or leave the file as it is and repair it "
                   "yourself."), id="recover-text")
            with Horizontal():
                yield Button(start, id="recover-start", variant="primary")
                yield Button("Not now", id="recover-cancel")

    def on_mount(self) -> None:
        self.query_one("#recover-start", Button).focus()

    @on(Button.Pressed, "#recover-start")
    def _start(self) -> None:
        self.dismiss(True)

    @on(Button.Pressed, "#recover-cancel")
    def _cancel(self) -> None:
        self.dismiss(False)
