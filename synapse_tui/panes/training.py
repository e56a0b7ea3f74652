"""The training pane: start, watch and steer a fine-tuning run; attach to a live one; open a
past run's curves.

Every run trains in a run process of its own (``synapse_core.training.supervisor``); the
pane's worker thread follows its run folder (the run it started, or a live run it attached
to) and reports through the pane's ``BufferedSink``: a 5 Hz tick takes the queued steps,
telemetry and log lines (other events are taken at once), appends them to plain lists and
redraws the charts and the progress line, so a run logging hundreds of steps a second keeps
the UI responsive and still gets every step onto the chart. The whole history is replayed
from the files first, so an attached or resumed run shows its whole curve. ``detach()``
stops following and leaves the run training. ``CoreEvent`` messages (a ``MessageSink``)
work too.
"""

from __future__ import annotations

import threading
import time
from enum import StrEnum
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
from synapse_core.training.rundir import run_summary
from synapse_core.training.state import RunState
from synapse_core.training.events import (
    SETUP_PHASES, CheckpointSaved, ModelLoaded, PreviewGenerated, RunStarted, SetupProgressed,
    StepLogged, TrainingFailed, TrainingFinished, TrainingPaused, TrainingResumed,
)
from synapse_tui.bridge import BufferedSink
from synapse_tui.messages import CoreEvent, CoreEventsReady, ExportRequested, RunStateChanged
from synapse_tui.screens.confirm import ConfirmScreen
from synapse_tui.screens.open_run import OpenRunScreen
from synapse_tui.terminal_notify import notify_terminal
from synapse_tui.widgets.plots import SeriesPlot
from synapse_tui.widgets.train_controls import ACTION_OF, TrainControls
from synapse_tui.widgets.train_facts import ModelFacts, ObjectiveMetrics, PreviewView
from synapse_tui.widgets.train_gpus import GpuReadings
from synapse_tui.widgets.train_log import TrainLog
from synapse_tui.widgets.train_progress import TrainProgress
from synapse_tui.widgets.train_series import StepClock, TrainingSeries

class PanelState(StrEnum):
    """What the training panel is doing (the header shows it); a run's own state, on disk
    and in ``synapse runs``, is a ``synapse_core.training.state.RunState``."""

    IDLE = "idle"
    LOADING = "loading"
    """A run process is starting (or the panel is attaching to one): no step yet."""
    TRAINING = "training"
    PAUSED = "paused"
    STOPPING = "stopping"
    DONE = "done"
    """The run followed here finished or stopped (``last_outcome`` says which)."""
    FAILED = "failed"
    """It failed or died (``last_outcome`` says which)."""
    VIEWING = "viewing"
    """A past run's curves, opened with ``o``."""


ACTIVE_STATES = (PanelState.LOADING, PanelState.TRAINING, PanelState.PAUSED,
                 PanelState.STOPPING)
"""States in which a worker thread follows a run process."""

REDRAW_INTERVAL_S = 0.2
"""Charts and the progress line redraw at most this often (5 Hz): one chart frame costs
~10-20 ms of plotext + ANSI decoding on a busy 2-core machine, and keys must stay snappy."""


FRAME_SHOW_INTERVAL_S = 0.05
"""A chart frame built in its worker is put on screen within this long (not on the next 5 Hz
tick): a followed run's step reaches the screen ~0.15 s sooner, and showing a finished frame
is a swap, not a build."""


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

    state: reactive[PanelState] = reactive(PanelState.IDLE)
    """What the panel shows (``PanelState``); the run's own state is a ``RunState``."""

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
        self._tick_put_off = False
        self._sink = BufferedSink(self, quiet=(StepLogged, TelemetrySampled, LogLine))
        self._latest_telemetry: TelemetrySampled | None = None
        self._gpus_charted: tuple[int, ...] = ()
        self._worker: Worker[None] | None = None
        self._opened_state: RunState | None = None
        self._leave = threading.Event()
        """Set to stop following the run and leave it training (quit, SIGHUP, detach)."""
        self._replaying_until = 0.0
        """Events older than this (UNIX time) are history being replayed: no notification."""
        self.last_outcome: RunState | None = None
        """How the last run followed here ended: finished, stopped, failed or died."""

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
        self._plots = list(self.query(SeriesPlot))  # fixed at compose; asked 20 times a second
        self.set_interval(REDRAW_INTERVAL_S, self._tick)
        self.set_interval(FRAME_SHOW_INTERVAL_S, self._show_frames)
        self._sync_buttons()

    def on_unmount(self) -> None:
        # The app is closing with a run still going: the run is a process of its own and
        # trains on (the quit dialog asked first); only the following ends.
        self._leave.set()

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

    def _reset_view(self) -> None:
        self.series.clear()
        self._bind_series()
        self._clock.reset()
        self._last_step = None
        self.query_one(TrainProgress).reset()
        self.query_one(GpuReadings).clear()
        self.control = RunControl()
        self._leave = threading.Event()
        self._replaying_until = 0.0

    def start(self, resume_from: str | None = None) -> bool:
        """Start a run (or continue ``resume_from``); False when one is already active."""
        if self.active:
            self.notify("A run is already active.", severity="warning")
            return False
        self._reset_view()
        self.query_one(TrainProgress).show_setup(0, len(SETUP_PHASES), "starting")
        self.query_one(ModelFacts).show_text("loading the model…")
        assert self.control is not None
        self._set_state(PanelState.LOADING, "resuming" if resume_from else "")
        self._log(f"starting{' from ' + resume_from if resume_from else ''}: "
                  f"{self.config.training.objective} on {self.config.model.name_or_path}")
        self._replaying_until = time.time()  # a resume replays the history first
        self._worker = self._train(self.config, self.control, resume_from, self._leave)
        return True

    def attach(self, run_dir: str) -> bool:
        """Follow a live run another process started (``synapse train``, another dashboard):
        its whole curve from the files, then live; its controls act on it. False when a run
        is already followed here."""
        if self.active:
            self.notify("A run is already active.", severity="warning")
            return False
        self._reset_view()
        assert self.control is not None
        self.run_dir = run_dir
        self.query_one(ModelFacts).show_text(f"attached to {run_dir}")
        self._set_state(PanelState.LOADING, "attaching")
        self._log(f"attached to {run_dir}")
        self._replaying_until = time.time()
        self._worker = self._follow_live(run_dir, self.control, self._leave)
        return True

    def detach(self) -> bool:
        """Stop following the run and leave it training; False when none is followed."""
        if not self.active:
            return False
        self._leave.set()
        self._log(f"left {self.run_dir or 'the run'} training (synapse runs lists it)")
        return True

    def stop_run(self, reason: str = "user") -> bool:
        """Ask the running engine to checkpoint and stop; False when nothing runs."""
        if not self.active or self.control is None:
            return False
        self.control.stop(reason)
        self._set_state(PanelState.STOPPING, reason)
        self._log(f"stop requested ({reason}): checkpointing, then stopping")
        return True

    async def wait_finished(self) -> None:
        """Wait until the following worker has ended (any outcome)."""
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
    def _train(self, config: RunConfig, control: RunControl, resume_from: str | None,
               detach: threading.Event) -> None:
        from synapse_core.training import supervisor

        supervisor.run(None if resume_from else config, self.event_sink(), control,
                       detach=detach, resume_from=resume_from, from_start=True)

    @work(thread=True, exclusive=True, exit_on_error=False, group="training")
    def _follow_live(self, run_dir: str, control: RunControl, detach: threading.Event) -> None:
        from synapse_core.training import supervisor

        supervisor.attach(run_dir, self.event_sink(), control, detach=detach)

    def attach_newest_live(self) -> None:
        """Look for live runs under ``training.runs_dir`` (in a worker) and attach to the
        newest; the others are said in a notification (``o`` lists them all)."""
        self._find_live()

    @work(thread=True, exclusive=True, exit_on_error=False, group="find-live")
    def _find_live(self) -> list[dict[str, Any]]:
        from synapse_core.training.rundir import live_runs

        return live_runs(self.config.resolve_path(self.config.training.runs_dir))

    @work(thread=True, exclusive=True, exit_on_error=False, group="load-run")
    def _load_run(self, run_dir: Path) -> tuple[Path, list[dict[str, Any]], dict[str, Any]]:
        from synapse_core.training.rundir import load_metrics

        if not run_dir.is_dir():
            raise FileNotFoundError(f"{run_dir}: no such run directory")
        return run_dir, load_metrics(run_dir), run_summary(run_dir)

    @on(Worker.StateChanged)
    def _worker_changed(self, event: Worker.StateChanged) -> None:
        worker, state = event.worker, event.state
        if worker.group == "training" and state in (WorkerState.ERROR, WorkerState.SUCCESS,
                                                   WorkerState.CANCELLED):
            self.control = None
            if state == WorkerState.ERROR and self.state != PanelState.FAILED:
                self._failed(f"{type(worker.error).__name__}: {worker.error}")
            elif self.state in ACTIVE_STATES:  # ended without a final event: detached
                self._take_events()
                self._set_state(PanelState.IDLE, "left training" if self._leave.is_set() else "")
            self._sync_buttons()
        elif worker.group == "find-live" and state == WorkerState.SUCCESS and worker.result:
            runs = worker.result
            newest = runs[0]
            if not self.active and self.attach(newest["run_dir"]):
                more = f"; {len(runs) - 1} more live (o lists them)" if len(runs) > 1 else ""
                self.notify(f"Attached to the live run {Path(newest['run_dir']).name} "
                            f"(pid {newest['pid']}, step {newest['step']}){more}",
                            title="Live run")
        elif worker.group == "load-run":
            if state == WorkerState.ERROR:
                self._log(f"cannot open run: {worker.error}", "error")
                self.notify(f"Cannot open run: {worker.error}", severity="error")
            elif state == WorkerState.SUCCESS and worker.result is not None:
                run_dir, _, summary = worker.result
                if summary["pid"] is not None:  # still training somewhere: follow it
                    self.attach(str(run_dir))
                else:
                    self._show_past_run(*worker.result)

    def _show_past_run(self, run_dir: Path, rows: list[dict[str, Any]],
                       state: dict[str, Any]) -> None:
        self.series.load_rows(rows)
        self._bind_series()
        self.run_dir = str(run_dir)
        self._opened_state = RunState.parse(state["state"])
        last = self.series.steps[-1] if self.series.steps else 0
        total = int(state.get("total_steps", 0) or 0)
        progress = self.query_one(TrainProgress)
        progress.fraction = last / total if total else None
        progress.show_text(f"past run {run_dir.name}: {len(self.series.steps)} logged steps, "
                           f"state {self._opened_state}")
        self.query_one(ModelFacts).show_text(f"past run {run_dir}")
        self.query_one(ObjectiveMetrics).show(self.series.last_metrics)
        self._set_state(PanelState.VIEWING, run_dir.name)
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
            if self.state == PanelState.LOADING:
                self._set_state(PanelState.TRAINING)
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
            if self.state == PanelState.LOADING:
                self._set_state(PanelState.TRAINING)
        elif isinstance(ev, TelemetryUnavailable):
            text = f"GPU telemetry: not available — {ev.cause or ev.reason}"
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
            self._set_state(PanelState.PAUSED, f"step {ev.step}")
            self._log(f"paused at step {ev.step}")
        elif isinstance(ev, TrainingResumed):
            self._clock.reset()
            self._set_state(PanelState.TRAINING)
            self._log(f"resumed at step {ev.step}")
        elif isinstance(ev, TrainingFinished):
            self.run_dir = ev.run_dir
            self._dirty = True
            self.flush_display()
            how = f"stopped ({ev.reason})" if ev.stopped else "finished"
            self.last_outcome = RunState.STOPPED if ev.stopped else RunState.FINISHED
            adapter = f"; adapter: {ev.adapter_path}" if ev.adapter_path else ""
            self._log(f"{how} at step {ev.step}{adapter}", "success")
            self._set_state(PanelState.DONE, f"{how} at step {ev.step}")
            self._announce(f"Run {how} at step {ev.step}", Path(ev.run_dir).name, ev.ts)
        elif isinstance(ev, TrainingFailed):
            if ev.run_dir:
                self.run_dir = ev.run_dir
            self.last_outcome = RunState.DIED if ev.failure == "died" else RunState.FAILED
            hint = f" — {ev.hint}" if ev.hint else ""
            self._failed(f"{ev.failure}: {ev.message}{hint}", notify=False)
            self._announce(f"Run {self.last_outcome} at step {ev.step}: {ev.message}",
                           Path(ev.run_dir).name if ev.run_dir else "", ev.ts, error=True)

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
        right after a key is put off until INPUT_FIRST_S after it (not to the next tick,
        0.2 s later), so the key's repaint goes first and a followed step still reaches the
        chart soon while someone types."""
        wait = INPUT_FIRST_S - (time.monotonic() - getattr(self.app, "last_input_at", -1.0))
        if wait > 0:
            if not self._tick_put_off:
                self._tick_put_off = True
                self.set_timer(wait + 0.005, self._put_off_tick)
            return
        self._take_events()
        self.flush_display()
        self.query_one(TrainLog).flush_due()

    def _put_off_tick(self) -> None:
        self._tick_put_off = False
        self._tick()

    def _show_frames(self) -> None:
        """Put chart frames finished since the last tick on screen (nothing else: the data
        is taken, and new frames started, on the 5 Hz tick)."""
        if time.monotonic() - getattr(self.app, "last_input_at", -1.0) < INPUT_FIRST_S:
            return
        for plot in self._plots:
            plot.redraw_if_dirty()

    def flush_display(self) -> None:
        """Redraw charts and the progress line if data arrived since the last redraw."""
        if self._dirty:
            self._dirty = False
            if (tel := self._latest_telemetry) is not None:
                self._latest_telemetry = None
                self.query_one(GpuReadings).show(tel)
            if (ev := self._last_step) is not None and self.state != PanelState.VIEWING:
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

    def _failed(self, text: str, notify: bool = True) -> None:
        self._log(f"failed: {text}", "error")
        if notify:
            self.notify(text, title="Training failed", severity="error", timeout=10)
        self._set_state(PanelState.FAILED, text[:60])

    def _announce(self, text: str, run_name: str, ts: float, error: bool = False) -> None:
        """Tell the engineer a run ended: a notification, the bell and the terminal's desktop
        notification (OSC 9 / 777, which travel over SSH). Not for an end replayed from an
        old run's files."""
        if ts < self._replaying_until - 5.0:
            return
        self.notify(text, title=f"synapse: {run_name}" if run_name else "synapse",
                    severity="error" if error else "information", timeout=15)
        self.app.bell()
        if not self.app.is_headless:
            notify_terminal(f"synapse: {run_name}", text)

    def _set_state(self, state: str, detail: str = "") -> None:
        self.state = state
        self.post_message(RunStateChanged(state, detail))
        self._sync_buttons()

    def _sync_buttons(self) -> None:
        if not self.is_mounted:
            return
        self.query_one(TrainControls).sync(self._allowed(), paused=self.state == PanelState.PAUSED)
        self.refresh_bindings()

    def _exportable(self) -> bool:
        return bool(self.run_dir) and self.state in (PanelState.DONE, PanelState.VIEWING)

    # ------------------------------------------------------------------ actions

    def _allowed(self) -> dict[str, bool]:
        """Which actions make sense in the current state."""
        state = self.state
        return {
            "start": not self.active,
            "stop": self.active and state != PanelState.STOPPING,
            "toggle_pause": state in (PanelState.TRAINING, PanelState.PAUSED),
            "checkpoint": state in (PanelState.TRAINING, PanelState.PAUSED),
            "open_run": not self.active,
            "resume_run": self._resumable(),
            "export": self._exportable(),
        }

    def _resumable(self) -> bool:
        if not self.run_dir or self.active:
            return False
        if self.state == PanelState.VIEWING:
            return self._opened_state not in (RunState.FINISHED, RunState.DAMAGED, None)
        return self.state in (PanelState.DONE, PanelState.FAILED) and self.last_outcome in (
            RunState.STOPPED, RunState.FAILED, RunState.DIED)

    def why_not(self, action: str) -> str:
        """Why ``action`` cannot act now (said when its key is pressed), "" when it can."""
        if self._allowed().get(action, True):
            return ""
        if action == "resume_run":
            if self.active:
                return "A run is active: stop it (x) before resuming another."
            if RunState.FINISHED in (self.last_outcome, self._opened_state):
                return "This run finished: there is nothing to resume."
            return "No stopped run to resume: open one first (o)."
        if action == "export":
            if self.active:
                return "The run is still training: export it once it has finished or stopped."
            return "No finished or opened run to export yet (o opens one)."
        return ""

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Show only the actions that make sense now (start and open stay, greyed out);
        once a run is shown, the resume and export keys stay live even when they cannot act,
        so that pressing one says why (with no run at all they are hidden)."""
        allowed = self._allowed().get(action)
        if allowed is None or allowed:
            return True
        if action in ("resume_run", "export"):
            return True if self.run_dir else False
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
        if self.control is None or self.state not in (PanelState.TRAINING, PanelState.PAUSED):
            return
        # by what the run does, not by this panel's last request: another dashboard or
        # synapse control may have paused or resumed it since
        if self.state == PanelState.PAUSED:
            if self.control.paused:
                self.control.resume()
            else:
                self._send_request(self.run_dir, "resume")
            self._log("resume requested")
        else:
            if not self.control.paused:
                self.control.pause()
            else:
                self._send_request(self.run_dir, "pause")
            self._log("pause requested (takes effect after the current step)")

    @work(thread=True, exit_on_error=False, group="control-request")
    def _send_request(self, run_dir: str, action: str) -> None:
        """A request this panel's RunControl already stands for (the run changed since):
        written to the run's control file directly."""
        from synapse_core.training.control import CONTROL_FILE, send_request

        send_request(Path(run_dir) / CONTROL_FILE, action)

    def action_checkpoint(self) -> None:
        if self.control is not None and self.state in (PanelState.TRAINING, PanelState.PAUSED):
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
        why = self.why_not("resume_run")
        if why:
            self.notify(why, severity="warning")
            return
        self.start(resume_from=self.run_dir)

    def watch_has_focus(self, has_focus: bool) -> None:
        # Textual restyles a widget and all its descendants when its focus changes (its ~25
        # widgets took ~5 ms of a Tab into or out of the pane); no rule styles the pane or
        # its children by the pane's focus, so there is nothing to restyle.
        return

    def action_toggle_details(self) -> None:
        self.show_details = not self.show_details

    def watch_show_details(self, shown: bool) -> None:
        # The row's own display, not a class on the pane: a class change restyles the whole
        # pane (~25 widgets, ~9 ms) before the layout; this is a layout alone.
        self.query_one("#train-bottom").display = shown

    def action_export(self) -> None:
        why = self.why_not("export")
        if why:
            self.notify(why, severity="warning")
            return
        self.post_message(ExportRequested(self.run_dir))
        self._log(f"export queued: {self.run_dir}")

    @on(Button.Pressed)
    async def _button(self, event: Button.Pressed) -> None:
        event.stop()
        action = ACTION_OF.get(event.button.id or "")
        if action is not None:  # as its key would (Textual's action system, check_action)
            await self.run_action(action)
