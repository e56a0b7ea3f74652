"""The training pane: start, watch and steer a fine-tuning run; open a past run's curves.

The engine (``synapse_core.training.engine.Engine``) runs in a worker thread and reports
through the pane's ``BufferedSink``: a 5 Hz tick takes the queued steps, telemetry and log
lines (other events are taken at once), appends them to plain lists and redraws the charts
and the progress line, so a run logging hundreds of steps a second keeps the UI responsive
and still gets every step onto the chart. ``CoreEvent`` messages (a ``MessageSink``) work
too.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.reactive import reactive
from textual.widgets import Button, Static
from textual.worker import Worker, WorkerCancelled, WorkerFailed, WorkerState

from synapse_core.config import RunConfig
from synapse_core.events import LogLine
from synapse_core.telemetry.events import TelemetrySampled, TelemetryUnavailable
from synapse_core.training.control import RunControl
from synapse_core.training.events import (
    SETUP_PHASES, CheckpointSaved, ModelLoaded, PreviewGenerated, RunStarted, SetupProgressed,
    StepLogged, TrainingFailed, TrainingFinished, TrainingPaused, TrainingResumed,
)
from synapse_tui.bridge import BufferedSink
from synapse_tui.messages import CoreEvent, CoreEventsReady, ExportRequested, RunStateChanged
from synapse_tui.screens.confirm import ConfirmScreen
from synapse_tui.screens.open_run import OpenRunScreen
from synapse_tui.widgets.plots import SeriesPlot
from synapse_tui.widgets.train_controls import ACTION_OF, TrainControls
from synapse_tui.widgets.train_facts import ModelFacts, ObjectiveMetrics, PreviewView
from synapse_tui.widgets.train_gpus import GpuReadings
from synapse_tui.widgets.train_log import TrainLog
from synapse_tui.widgets.train_progress import TrainProgress
from synapse_tui.widgets.train_series import StepClock, TrainingSeries

ACTIVE_STATES = ("loading", "training", "paused", "stopping")
"""States in which a worker thread is running the engine."""

REDRAW_INTERVAL_S = 0.2
"""Charts and the progress line redraw at most this often (5 Hz): one chart frame costs
~10-20 ms of plotext + ANSI decoding on a busy 2-core machine, and keys must stay snappy."""


INPUT_FIRST_S = 0.05
"""A redraw tick this soon after a key or mouse press is skipped (the data waits for the next
tick, 0.2 s later): the key's own layout and repaint do not share the CPU with it."""


class TrainingPane(Vertical):
    """Controls, live curves, progress, model facts, objective metrics, preview and log."""

    DEFAULT_CSS = """
    TrainingPane { height: 1fr; }
    TrainingPane #train-plots { height: 2fr; min-height: 10; }
    TrainingPane #curve-row, TrainingPane #gpu-row { height: 1fr; }
    TrainingPane #gpu-note { height: 1; padding: 0 1; color: $text-muted; display: none; }
    TrainingPane.-no-gpu #gpu-row { display: none; }
    TrainingPane.-no-gpu #gpu-note { display: block; }
    TrainingPane #train-bottom { height: 1fr; min-height: 6; }
    TrainingPane #train-info { width: 1fr; border: round $panel; padding: 0 1; }
    TrainingPane #train-log { width: 1fr; border: round $panel; }
    """

    BINDINGS = [
        Binding("s", "start", "Start", id="start-training", tooltip="Start a training run"),
        Binding("x", "stop", "Stop", id="stop-training",
                tooltip="Checkpoint, then stop the run (asks first)"),
        Binding("p", "toggle_pause", "Pause/Resume", id="pause-training",
                tooltip="Pause or resume the running run"),
        Binding("c", "checkpoint", "Checkpoint", id="checkpoint-now",
                tooltip="Save a checkpoint at the end of the current step"),
        Binding("o", "open_run", "Open run", id="open-run",
                tooltip="Show the curves of a past run"),
        Binding("r", "resume_run", "Resume run", id="resume-run",
                tooltip="Continue the opened run from its last checkpoint"),
        Binding("e", "export", "Export", id="export-run",
                tooltip="Queue a GGUF export of the finished or opened run"),
        Binding("l", "toggle_details", "Details", id="toggle-training-details",
                tooltip="Hide or show the facts and log, giving the charts the room"),
    ]

    can_focus = True

    state: reactive[str] = reactive("idle")
    """Run state: idle, loading, training, paused, stopping, done, failed, viewing."""

    run_dir: reactive[str] = reactive("")
    """Folder of the run shown (live or opened); empty when none."""

    show_details: reactive[bool] = reactive(True)
    """Whether the facts and log are shown under the charts (``l`` hides them)."""

    def __init__(self, config: RunConfig, *, id: str | None = None,
                 classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.config = config
        self.series = TrainingSeries()
        """Every logged step and telemetry sample of the run shown."""
        self.control: RunControl | None = None
        """Control of the running engine (None when no run is active)."""
        self._clock = StepClock()
        self._last_step: StepLogged | None = None
        self._dirty = False
        self._sink = BufferedSink(self, quiet=(StepLogged, TelemetrySampled, LogLine))
        self._latest_telemetry: TelemetrySampled | None = None
        self._gpus_charted: tuple[int, ...] = ()
        self._worker: Worker[None] | None = None
        self._opened_state = ""

    # ------------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        yield TrainControls(id="train-controls")
        yield TrainProgress(id="train-progress")
        with Vertical(id="train-plots"):
            with Horizontal(id="curve-row"):
                yield SeriesPlot("loss", id="plot-loss")
                yield SeriesPlot("learning rate", id="plot-lr")
            with Horizontal(id="gpu-row"):
                yield SeriesPlot("GPU memory (GiB)", xlabel="seconds", id="plot-gpu-mem",
                                 empty="GPU telemetry: waiting for a run")
                yield SeriesPlot("GPU utilisation (%)", xlabel="seconds", id="plot-gpu-util",
                                 empty="GPU telemetry: waiting for a run")
            yield Static("", id="gpu-note")
        with Horizontal(id="train-bottom"):
            with VerticalScroll(id="train-info"):
                yield ObjectiveMetrics(id="train-metrics")  # first: it changes every step
                yield GpuReadings(id="train-gpus")
                yield ModelFacts(id="train-facts")
                yield PreviewView(id="train-preview")
            yield TrainLog(id="train-log")

    def on_mount(self) -> None:
        self.query_one("#train-info").border_title = "run"
        self.query_one("#train-log").border_title = "log"
        self._bind_series()
        self.set_interval(REDRAW_INTERVAL_S, self._tick)
        self._sync_buttons()

    def on_unmount(self) -> None:
        # The app is closing with a run still going (a crash, a forced exit): ask the engine
        # thread to checkpoint and end, rather than train on with nobody watching.
        if self.control is not None:
            self.control.stop("exit")

    def _bind_series(self) -> None:
        s = self.series
        self._gpus_charted: tuple[int, ...] = ()
        self.query_one("#plot-loss", SeriesPlot).set_series("loss", s.steps, s.loss)
        self.query_one("#plot-lr", SeriesPlot).set_series("lr", s.steps, s.learning_rate)
        self.query_one("#plot-gpu-mem", SeriesPlot).set_series("used", s.tel_seconds,
                                                               s.gpu_mem_gib)
        self.query_one("#plot-gpu-util", SeriesPlot).set_series("util", s.tel_seconds,
                                                                s.gpu_util_pct)

    # ------------------------------------------------------------------ public API

    @property
    def active(self) -> bool:
        """True while an engine worker runs (loading, training, paused, stopping)."""
        return self.state in ACTIVE_STATES

    def start(self, resume_from: str | None = None) -> bool:
        """Start a run (or continue ``resume_from``); False when one is already active."""
        if self.active:
            self.notify("A run is already active.", severity="warning")
            return False
        self.series.clear()
        self._bind_series()
        self._clock.reset()
        self._last_step = None
        self.query_one(TrainProgress).show_setup(0, len(SETUP_PHASES), "starting")
        self.query_one(ModelFacts).show_text("loading the model…")
        self.query_one(GpuReadings).clear()
        self.control = RunControl()
        self._set_state("loading", "resuming" if resume_from else "")
        self._log(f"starting{' from ' + resume_from if resume_from else ''}: "
                  f"{self.config.training.objective} on {self.config.model.name_or_path}")
        self._worker = self._train(self.config, self.control, resume_from)
        return True

    def stop_run(self, reason: str = "user") -> bool:
        """Ask the running engine to checkpoint and stop; False when nothing runs."""
        if not self.active or self.control is None:
            return False
        self.control.stop(reason)
        self._set_state("stopping", reason)
        self._log(f"stop requested ({reason}): checkpointing, then stopping")
        return True

    async def wait_finished(self) -> None:
        """Wait until the engine worker has ended (any outcome)."""
        worker = self._worker
        if worker is None or worker.is_finished or worker.state == WorkerState.PENDING:
            return
        try:
            await worker.wait()
        except (WorkerFailed, WorkerCancelled):
            return  # the failure is shown by _worker_changed; here we only wait for the end

    def event_sink(self) -> BufferedSink:
        """The sink an engine reports to: its events reach this pane on the UI thread (steps,
        telemetry and log lines on the redraw tick, the rest at once; all in order)."""
        return self._sink

    def open_run(self, run_dir: str) -> None:
        """Show the curves of a past run from its ``metrics.jsonl``."""
        if self.active:
            self.notify("Stop the active run before opening another.", severity="warning")
            return
        self._log(f"opening {run_dir}")
        self._load_run(Path(run_dir))

    # ------------------------------------------------------------------ workers (core only)

    @work(thread=True, exclusive=True, exit_on_error=False, group="training")
    def _train(self, config: RunConfig, control: RunControl, resume_from: str | None) -> None:
        # The engine module imports torch/transformers: only when a run starts.
        from synapse_core.training.engine import Engine

        Engine(config, self.event_sink(), control=control, resume_from=resume_from).run()

    @work(thread=True, exclusive=True, exit_on_error=False, group="load-run")
    def _load_run(self, run_dir: Path) -> tuple[Path, list[dict[str, Any]], dict[str, Any]]:
        from synapse_core.training.rundir import load_metrics, read_state

        if not run_dir.is_dir():
            raise FileNotFoundError(f"{run_dir}: no such run directory")
        return run_dir, load_metrics(run_dir), read_state(run_dir)

    @on(Worker.StateChanged)
    def _worker_changed(self, event: Worker.StateChanged) -> None:
        worker, state = event.worker, event.state
        if worker.group == "training" and state in (WorkerState.ERROR, WorkerState.SUCCESS,
                                                   WorkerState.CANCELLED):
            self.control = None
            if state == WorkerState.ERROR and self.state != "failed":
                self._failed(f"{type(worker.error).__name__}: {worker.error}")
            elif self.state in ACTIVE_STATES:  # ended without a final event
                self._set_state("done" if state == WorkerState.SUCCESS else "idle")
            self._sync_buttons()
        elif worker.group == "load-run":
            if state == WorkerState.ERROR:
                self._log(f"cannot open run: {worker.error}", "error")
                self.notify(f"Cannot open run: {worker.error}", severity="error")
            elif state == WorkerState.SUCCESS and worker.result is not None:
                self._show_past_run(*worker.result)

    def _show_past_run(self, run_dir: Path, rows: list[dict[str, Any]],
                       state: dict[str, Any]) -> None:
        self.series.load_rows(rows)
        self._bind_series()
        self.run_dir = str(run_dir)
        self._opened_state = str(state.get("state", "unknown"))
        last = self.series.steps[-1] if self.series.steps else 0
        total = int(state.get("total_steps", 0) or 0)
        progress = self.query_one(TrainProgress)
        progress.fraction = last / total if total else None
        progress.show_text(f"past run {run_dir.name}: {len(self.series.steps)} logged steps, "
                           f"state {self._opened_state}")
        self.query_one(ModelFacts).show_text(f"past run {run_dir}")
        self.query_one(ObjectiveMetrics).show(self.series.last_metrics)
        self._set_state("viewing", run_dir.name)
        self._dirty = True
        self.flush_display()

    # ------------------------------------------------------------------ events from core

    def on_core_event(self, message: CoreEvent) -> None:
        message.stop()
        self._handle(message.event)

    def on_core_events_ready(self, message: CoreEventsReady) -> None:
        message.stop()
        self._take_events()

    def _take_events(self) -> None:
        for ev in self._sink.drain():
            self._handle(ev)

    def _handle(self, ev: Any) -> None:
        if isinstance(ev, StepLogged):  # the hot path: append and mark, draw on the timer
            self.series.add_step(ev)
            self._clock.mark(ev.ts, ev.step)
            self._last_step = ev
            self._dirty = True
            if self.state == "loading":
                self._set_state("training")
        elif isinstance(ev, TelemetrySampled):
            self.remove_class("-no-gpu")
            self.series.add_telemetry(ev)
            self._latest_telemetry = ev
            if len(ev.gpus) > 1:
                self._chart_each_gpu()
            self._dirty = True
        elif isinstance(ev, LogLine):  # hot path too: written in a batch on the timer
            self.query_one(TrainLog).queue(ev.message, ev.level)
        else:
            self._on_lifecycle(ev)

    def _on_lifecycle(self, ev: Any) -> None:
        if isinstance(ev, SetupProgressed):
            if self._last_step is None:  # a late set-up event never hides the steps
                self.query_one(TrainProgress).show_setup(ev.index, ev.count, ev.message)
        elif isinstance(ev, RunStarted):
            self.run_dir = ev.run_dir
            self.query_one(ModelFacts).show_run(ev)
            self._log(f"run started in {ev.run_dir}: {ev.total_steps} steps")
            self.query_one(TrainProgress).show(ev.resumed_from_step, ev.total_steps, 0.0,
                                               None, None)
        elif isinstance(ev, ModelLoaded):
            self.query_one(ModelFacts).show_model(ev)
            self._log(f"model loaded: {ev.backend} on {ev.device}, optim {ev.optim}")
            if self.state == "loading":
                self._set_state("training")
        elif isinstance(ev, TelemetryUnavailable):
            reason = ev.reason
            if reason.lower().startswith("gpu telemetry not available"):
                reason = reason.split(":", 1)[-1].strip()  # the engine's own prefix, once
            text = f"GPU telemetry: not available — {reason}"
            for plot in self.query(SeriesPlot).filter("#plot-gpu-mem, #plot-gpu-util"):
                plot.set_empty_text(text)
            # One line instead of two empty charts: the curves get the room.
            self.query_one("#gpu-note", Static).update(text)
            self.add_class("-no-gpu")
            self._log(text, "warning")
            self._dirty = True
        elif isinstance(ev, CheckpointSaved):
            self._log(f"checkpoint ({ev.reason}) at step {ev.step}: {ev.path}")
        elif isinstance(ev, PreviewGenerated):
            self.query_one(PreviewView).show(ev)
        elif isinstance(ev, TrainingPaused):
            self._set_state("paused", f"step {ev.step}")
            self._log(f"paused at step {ev.step}")
        elif isinstance(ev, TrainingResumed):
            self._clock.reset()
            self._set_state("training")
            self._log(f"resumed at step {ev.step}")
        elif isinstance(ev, TrainingFinished):
            self.run_dir = ev.run_dir
            self._dirty = True
            self.flush_display()
            how = f"stopped ({ev.reason})" if ev.stopped else "finished"
            self._log(f"{how} at step {ev.step}; adapter: {ev.adapter_path}", "success")
            self._set_state("done", f"{how} at step {ev.step}")
        elif isinstance(ev, TrainingFailed):
            hint = f" — {ev.hint}" if ev.hint else ""
            self._failed(f"{ev.kind}: {ev.message}{hint}")

    # ------------------------------------------------------------------ display

    def _chart_each_gpu(self) -> None:
        """With several GPUs (a multi-GPU run), one curve per GPU instead of the sum and
        the mean, labelled as the user numbers them."""
        s = self.series
        indices = tuple(sorted(s.gpu_mem_by_index))
        if indices == self._gpus_charted:
            return
        self._gpus_charted = indices
        for plot_id, curves in (("#plot-gpu-mem", s.gpu_mem_by_index),
                                ("#plot-gpu-util", s.gpu_util_by_index)):
            plot = self.query_one(plot_id, SeriesPlot)
            plot.clear_series()
            for i in sorted(curves):
                plot.set_series(f"GPU{i}", *curves[i])

    def _tick(self) -> None:
        """The redraw tick: take the engine's queued events, then show what they changed, all
        in one screen update (the log at most once a second, see ``TrainLog``). A tick
        right after a key waits for the next one, so the key's repaint goes first."""
        if time.monotonic() - getattr(self.app, "last_input_at", -1.0) < INPUT_FIRST_S:
            return
        self._take_events()
        self.flush_display()
        self.query_one(TrainLog).flush_due()

    def flush_display(self) -> None:
        """Redraw charts and the progress line if data arrived since the last redraw."""
        if self._dirty:
            self._dirty = False
            if (tel := self._latest_telemetry) is not None:
                self._latest_telemetry = None
                self.query_one(GpuReadings).show(tel)
            if (ev := self._last_step) is not None and self.state != "viewing":
                eta = self._clock.eta_seconds(ev.step, ev.total_steps)
                self.query_one(TrainProgress).show(ev.step, ev.total_steps, ev.epoch,
                                                   ev.tokens_per_s, eta)
                self.query_one(ObjectiveMetrics).show(ev.metrics, ev.grad_norm)
            for plot in self.query(SeriesPlot):
                plot.mark_dirty()
        for plot in self.query(SeriesPlot):
            plot.redraw_if_dirty()

    def _log(self, text: str, level: str = "info") -> None:
        """Append a plain line to the log tail (after any engine lines still queued)."""
        log = self.query_one(TrainLog)
        log.queue(text, level)
        log.flush()

    def _failed(self, text: str) -> None:
        self._log(f"failed: {text}", "error")
        self.notify(text, title="Training failed", severity="error", timeout=10)
        self._set_state("failed", text[:60])

    def _set_state(self, state: str, detail: str = "") -> None:
        self.state = state
        self.post_message(RunStateChanged(state, detail))
        self._sync_buttons()

    def _sync_buttons(self) -> None:
        if not self.is_mounted:
            return
        self.query_one(TrainControls).sync(self._allowed(), paused=self.state == "paused")
        self.refresh_bindings()

    def _exportable(self) -> bool:
        return bool(self.run_dir) and self.state in ("done", "viewing")

    # ------------------------------------------------------------------ actions

    def _allowed(self) -> dict[str, bool]:
        """Which actions make sense in the current state."""
        state = self.state
        return {
            "start": not self.active,
            "stop": self.active and state != "stopping",
            "toggle_pause": state in ("training", "paused"),
            "checkpoint": state in ("training", "paused"),
            "open_run": not self.active,
            "resume_run": state == "viewing" and self._opened_state not in ("finished", ""),
            "export": self._exportable(),
        }

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Show only the actions that make sense now (start and open stay, greyed out)."""
        allowed = self._allowed().get(action)
        if allowed is None or allowed:
            return True
        return None if action in ("start", "open_run") else False

    def action_start(self) -> None:
        """The pre-run summary first (its one-key fixes apply to this run), then the run."""
        if self.active:
            self.notify("A run is already active.", severity="warning")
            return
        from synapse_tui.screens.prerun import PreRunScreen

        def answered(changes: dict[str, Any] | None) -> None:
            if changes is None:
                return
            for name, value in changes.items():
                setattr(self.config.training, name, value)
                self._log(f"{name} = {value} for this run (pre-run summary)")
            self.start()

        self.app.push_screen(PreRunScreen(self.config), answered)

    def action_stop(self) -> None:
        if not self.active:
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self.stop_run("user")

        self.app.push_screen(ConfirmScreen(
            "Stop training? A checkpoint is saved first; the remaining steps are not run "
            "(you can resume later from the checkpoint).", "Stop"), answered)

    def action_toggle_pause(self) -> None:
        if self.control is None or self.state not in ("training", "paused"):
            return
        if self.control.paused:
            self.control.resume()
            self._log("resume requested")
        else:
            self.control.pause()
            self._log("pause requested (takes effect after the current step)")

    def action_checkpoint(self) -> None:
        if self.control is not None and self.state in ("training", "paused"):
            self.control.checkpoint()
            self._log("checkpoint requested")

    def action_open_run(self) -> None:
        if self.active:
            return
        runs_dir = self.config.resolve_path(self.config.training.runs_dir)

        def picked(path: str | None) -> None:
            if path:
                self.open_run(path)

        self.app.push_screen(OpenRunScreen(runs_dir), picked)

    def action_resume_run(self) -> None:
        if self.state == "viewing" and self.run_dir:
            self.start(resume_from=self.run_dir)

    def watch_has_focus(self, has_focus: bool) -> None:
        # Textual restyles a widget and all its descendants when its focus changes; no rule
        # styles the pane's children by the pane's focus, so restyle the pane alone (its
        # ~25 widgets took ~5 ms of a Tab into or out of the pane).
        self.app.stylesheet.update_nodes([self], animate=True)

    def action_toggle_details(self) -> None:
        self.show_details = not self.show_details

    def watch_show_details(self, shown: bool) -> None:
        # The row's own display, not a class on the pane: a class change restyles the whole
        # pane (~25 widgets, ~9 ms) before the layout; this is a layout alone.
        self.query_one("#train-bottom").display = shown

    def action_export(self) -> None:
        if not self._exportable():
            self.notify("No finished or opened run to export yet.", severity="warning")
            return
        self.post_message(ExportRequested(self.run_dir))
        self._log(f"export queued: {self.run_dir}")

    @on(Button.Pressed)
    def _button(self, event: Button.Pressed) -> None:
        event.stop()
        action = ACTION_OF.get(event.button.id or "")
        if action is not None:
            getattr(self, f"action_{action}")()
