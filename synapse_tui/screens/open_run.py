"""Pick a run directory: a past run to show its curves, or a live one to attach to."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from synapse_tui.markup import escape
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, OptionList
from textual.widgets.option_list import Option


def _run_option(run: dict[str, Any]) -> Option:
    """One ``list_runs`` summary as a list entry (its id is the run folder)."""
    loss = run.get("last_loss")
    loss_text = "-" if loss is None else f"{loss:.4g}"
    live = "● live " if run.get("pid") else "  "
    state = str(run.get("state", "?"))
    if run.get("reason") and state in ("died", "damaged"):
        state += f" ({run['reason']})"
    label = (f"{live}{run.get('name', run['dir'])}  {run.get('objective', '?')}  "
             f"step {run.get('step', 0)}/{run.get('total_steps', 0) or '?'}  "
             f"loss {loss_text}  {state}")
    return Option(escape(label), id=str(run["dir"]))


class OpenRunScreen(ModalScreen[str | None]):
    """Lists the runs under ``runs_dir`` (live ones marked ● live) and takes a typed path;
    dismisses with the folder. Enter opens the highlighted run (or the typed path); the
    arrow keys move in the list from the path field."""

    DEFAULT_CSS = """
    OpenRunScreen { align: center middle; }
    OpenRunScreen > Vertical {
        width: 90; max-width: 100%; height: auto; max-height: 90%;
        padding: 1 2; border: thick $primary; background: $surface;
    }
    OpenRunScreen OptionList { height: auto; max-height: 16; }
    OpenRunScreen #open-run-status { color: $text-muted; }
    """

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="open-run-cancel",
                        tooltip="Close without opening a run"),
                Binding("down", "list_down", "Next run", show=False, id="open-run-next",
                        tooltip="Highlight the next run in the list"),
                Binding("up", "list_up", "Previous run", show=False, id="open-run-previous",
                        tooltip="Highlight the previous run in the list")]

    def __init__(self, runs_dir: Path) -> None:
        super().__init__()
        self.runs_dir = runs_dir

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(f"Open a run (runs in {escape(str(self.runs_dir))})")
            yield Input(placeholder="run directory (Enter to open)", id="open-run-path")
            yield Label("looking for runs…", id="open-run-status")
            yield OptionList(id="open-run-list")

    def on_mount(self) -> None:
        self.query_one(Input).focus()
        self._find_runs()

    @work(thread=True, exclusive=True, exit_on_error=False, group="open-run")
    def _find_runs(self) -> None:
        from synapse_core.training.rundir import list_runs

        runs = list_runs(self.runs_dir)
        self.app.call_from_thread(self._show_runs, runs)

    def _show_runs(self, runs: list[dict[str, Any]]) -> None:
        options = self.query_one(OptionList)
        options.clear_options()
        options.add_options([_run_option(r) for r in runs])
        if runs:
            options.highlighted = 0  # Enter opens it, from the list or the empty path field
        live = sum(1 for r in runs if r.get("pid"))
        self.query_one("#open-run-status", Label).update(
            (f"{len(runs)} run(s) found" + (f", {live} live" if live else "")
             + "; Enter opens the highlighted one") if runs else "no runs found; type a path")

    def on_worker_state_changed(self, event: Any) -> None:
        if event.worker.group == "open-run" and event.worker.error is not None:
            self.query_one("#open-run-status", Label).update(
                escape(f"cannot list runs: {event.worker.error}"))

    @on(Input.Submitted)
    def _typed(self, event: Input.Submitted) -> None:
        if event.value.strip():
            self.dismiss(event.value.strip())
            return
        options = self.query_one(OptionList)
        if options.highlighted is not None:
            self.dismiss(options.get_option_at_index(options.highlighted).id)

    def action_list_down(self) -> None:
        self.query_one(OptionList).action_cursor_down()

    def action_list_up(self) -> None:
        self.query_one(OptionList).action_cursor_up()

    @on(OptionList.OptionSelected)
    def _picked(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)
