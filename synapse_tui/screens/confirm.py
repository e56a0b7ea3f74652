"""A yes/no question asked before something that loses work.

The safe answer (Cancel) has the focus when the dialog opens, so Enter on its own never does
the destructive thing. Only the focused button is highlighted (the destructive one is only
coloured as a warning until it takes the focus), and a hint line says what Enter does now,
so what the user sees selected is always what Enter presses.
"""

from __future__ import annotations

from synapse_tui.markup import escape
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label

CANCEL_LABEL = "Cancel"


class ChoiceBar(Horizontal):
    """A dialog's row of buttons where only the focused one is highlighted.

    Give the buttons the default variant (a variant's colour reads as "selected") and mark
    a destructive one with the ``-destructive`` class: it is drawn in the error colour, and
    filled with it only while focused. ``←``/``→`` move between the buttons as tab does.
    """

    DEFAULT_CSS = """
    ChoiceBar { height: auto; align-horizontal: right; }
    ChoiceBar > Button {
        margin-left: 2; min-width: 12; background: $surface !important;
        background-tint: transparent !important;
    }
    ChoiceBar > Button.-destructive { color: $text-error; }
    ChoiceBar > Button:focus {
        background: $primary !important; color: $text; text-style: bold !important;
    }
    ChoiceBar > Button.-destructive:focus { background: $error !important; }
    """

    BINDINGS = [
        Binding("left,up", "app.focus_previous", "Previous", show=False,
                id="choice-previous", tooltip="Highlight the previous button"),
        Binding("right,down", "app.focus_next", "Next", show=False,
                id="choice-next", tooltip="Highlight the next button"),
    ]


class ConfirmScreen(ModalScreen[bool]):
    """Ask ``question``; dismisses with True (confirm) or False (cancel, escape).

    Enter presses the focused button (Cancel at first); tab or the arrow keys move between
    the buttons; ``y`` confirms and ``n``/escape cancel from anywhere in the dialog.
    """

    DEFAULT_CSS = """
    ConfirmScreen { align: center middle; }
    ConfirmScreen > Vertical {
        width: 64; max-width: 100%; height: auto; padding: 1 2;
        border: thick $warning; background: $surface;
    }
    ConfirmScreen #confirm-question { width: 1fr; margin-bottom: 1; }
    ConfirmScreen #confirm-hint { width: 1fr; margin-top: 1; color: $text-muted; }
    """

    BINDINGS = [
        Binding("y", "confirm", "Yes", id="confirm-yes", tooltip="Confirm"),
        Binding("n,escape", "cancel", "No", id="confirm-no", tooltip="Cancel"),
    ]

    def __init__(self, question: str, confirm_label: str = "Yes") -> None:
        super().__init__()
        self.question = question
        self.confirm_label = confirm_label

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(escape(self.question), id="confirm-question")
            with ChoiceBar(id="confirm-buttons"):
                yield Button(CANCEL_LABEL, id="confirm-cancel")
                yield Button(self.confirm_label, id="confirm-ok", classes="-destructive")
            yield Label("", id="confirm-hint")

    def on_mount(self) -> None:
        """The safe choice takes the focus: Enter alone never confirms."""
        self.query_one("#confirm-cancel", Button).focus()

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "confirm-ok")

    def on_descendant_focus(self) -> None:
        """Say what Enter does now (the focused button's label)."""
        focused = self.focused
        label = focused.label if isinstance(focused, Button) else CANCEL_LABEL
        self.query_one("#confirm-hint", Label).update(
            f"enter: [b]{escape(str(label))}[/b] · tab/←→ choose · y yes · n/esc no")

    def action_confirm(self) -> None:
        self.dismiss(True)

    def action_cancel(self) -> None:
        self.dismiss(False)
