"""The pre-run summary: what a run will train, on what, and the fixes worth making first.

Shown by the training pane's Start: the objective, model, data and schedule at once, then the
data's counts (read in a worker: scoring a large file takes seconds). For KTO with unbalanced
classes it says what TRL would warn about mid-run and offers the suggested weight as one key
(``w``). Enter (or ``s``) starts, Escape cancels. Dismisses with the training settings to change
(``{}`` for none) or None when cancelled.
"""

from __future__ import annotations

from typing import Any

from synapse_tui.markup import escape
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static
from textual.worker import Worker, WorkerState

from synapse_core.config import RunConfig
from synapse_core.training.kto_weights import KtoWeightAdvice, kto_weight_advice


class PreRunScreen(ModalScreen[dict[str, Any] | None]):
    """Summary of the run about to start, with one-key fixes; see the module docstring."""

    DEFAULT_CSS = """
    PreRunScreen { align: center middle; }
    PreRunScreen > Vertical {
        width: 80; max-width: 100%; height: auto; max-height: 100%; padding: 1 2;
        border: thick $primary; background: $surface;
    }
    PreRunScreen #prerun-plan, PreRunScreen #prerun-data { width: 1fr; }
    PreRunScreen #prerun-advice { width: 1fr; margin-top: 1; color: $warning; display: none; }
    PreRunScreen #prerun-advice.-shown { display: block; }
    PreRunScreen Horizontal { height: auto; margin-top: 1; align-horizontal: right; }
    PreRunScreen Button { margin-left: 2; }
    PreRunScreen #prerun-fix { display: none; }
    PreRunScreen #prerun-fix.-shown { display: block; }
    """

    BINDINGS = [
        Binding("enter,s", "start", "Start", id="prerun-start", tooltip="Start the run"),
        Binding("w", "use_weights", "Use suggested weights", id="prerun-use-weights",
                tooltip="Set the KTO class weight TRL recommends for this data"),
        Binding("escape", "cancel", "Cancel", id="prerun-cancel", tooltip="Back, no run"),
    ]

    def __init__(self, config: RunConfig) -> None:
        super().__init__()
        self.config = config
        self.changes: dict[str, Any] = {}
        """Training settings the user chose here (applied by the caller when it starts)."""
        self.advice: KtoWeightAdvice | None = None
        """TRL's weight advice for the data's counts (None: fine, not KTO, or not counted)."""

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(self._plan(), id="prerun-plan")
            yield Static("counting rows…", id="prerun-data")
            yield Label("", id="prerun-advice")
            with Horizontal():
                yield Button("Cancel", id="prerun-cancel-button")
                yield Button("Use suggested weights (w)", id="prerun-fix")
                yield Button("Start (enter)", variant="primary", id="prerun-start-button")

    def on_mount(self) -> None:
        self.query_one(Vertical).border_title = "start a run"
        self.query_one("#prerun-start-button", Button).focus()  # Enter = the highlighted Start
        self._count_rows(self.config)

    def _plan(self) -> str:
        c, t = self.config, self.config.training
        data = c.data.path or "the bundled demo data"
        steps = (f"{t.max_steps} steps" if t.max_steps > 0
                 else f"{t.num_train_epochs:g} epochs")
        kto = (f"; beta {t.beta:g}, weights desirable {t.desirable_weight:g} / undesirable "
               f"{t.undesirable_weight:g}" if t.objective == "kto" else "")
        return (f"[b]{escape(t.objective.upper())}[/b] on {escape(c.model.name_or_path)}\n"
                f"data: {escape(data)}\n"
                f"{steps}, batch {t.per_device_train_batch_size} x "
                f"{t.gradient_accumulation_steps}, {c.model.max_seq_length} tokens a row, "
                f"lr {t.learning_rate:g}{escape(kto)}")

    @work(thread=True, exclusive=True, exit_on_error=False, group="prerun-count")
    def _count_rows(self, config: RunConfig) -> dict[str, int]:
        from synapse_core.data.prepare import prepare_dataset  # the engine reads it the same way

        return prepare_dataset(config).counts

    @on(Worker.StateChanged)
    def _counted(self, event: Worker.StateChanged) -> None:
        if event.worker.group != "prerun-count":
            return
        data = self.query_one("#prerun-data", Static)
        if event.state == WorkerState.ERROR:
            data.update(f"cannot read the data: {escape(str(event.worker.error))}")
        elif event.state == WorkerState.SUCCESS and event.worker.result is not None:
            self._show_counts(event.worker.result)

    def _show_counts(self, counts: dict[str, int]) -> None:
        t = self.config.training
        left_out = counts.get("rejected", 0) + counts.get("bad_lines", 0)
        self.query_one("#prerun-data", Static).update(
            f"{counts['kept']} rows to train on: {counts['desirable']} desirable, "
            f"{counts['undesirable']} undesirable"
            + (f" ({left_out} left out)" if left_out else ""))
        if t.objective != "kto":
            return
        self.advice = kto_weight_advice(counts["desirable"], counts["undesirable"],
                                        t.desirable_weight, t.undesirable_weight)
        if self.advice is not None:
            self.query_one("#prerun-advice", Label).update(
                f"⚠ {escape(self.advice.message)} — press w to use it")
            self.query_one("#prerun-advice").add_class("-shown")
            self.query_one("#prerun-fix").add_class("-shown")

    def action_use_weights(self) -> None:
        advice = self.advice
        if advice is None:
            self.notify("No weight change to make: the KTO weights suit this data.")
            return
        old = getattr(self.config.training, advice.field)
        self.changes[advice.field] = advice.value
        self.query_one("#prerun-advice", Label).update(
            f"✓ {advice.field} = {advice.value} for this run (was {old:g}); TRL's range for "
            f"{advice.desirable} desirable / {advice.undesirable} undesirable rows")
        self.query_one("#prerun-advice").add_class("-shown")
        self.query_one("#prerun-fix").remove_class("-shown")
        self.query_one("#prerun-start-button", Button).focus()

    def action_start(self) -> None:
        self.dismiss(dict(self.changes))

    def action_cancel(self) -> None:
        self.dismiss(None)

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        event.stop()
        action = {"prerun-cancel-button": self.action_cancel,
                  "prerun-fix": self.action_use_weights,
                  "prerun-start-button": self.action_start}.get(event.button.id or "")
        if action is not None:
            action()
