"""The export pane: the persistent export queue, its jobs and log, and chat with a result.

The queue (``synapse_core.export.queue.ExportQueue``) runs jobs in a Textual thread worker and
reports through a ``MessageSink``; event handlers only mark the table dirty, and a 4 Hz timer
redraws it, so per-tensor progress never floods the UI.
"""

from __future__ import annotations

from pathlib import Path

from synapse_tui.markup import escape
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import RichLog, Static
from textual.worker import Worker, WorkerState

from synapse_core.config import RunConfig
from synapse_core.events import LogLine
from synapse_core.export.events import (ExportCancelled, ExportFailed, ExportFinished,
                                        ExportStepFinished)
from synapse_core.export.queue import ExportQueue
from synapse_tui.bridge import MessageSink
from synapse_tui.messages import CoreEvent
from synapse_tui.widgets.export_jobs import ExportJobsTable

REDRAW_INTERVAL_S = 0.25


class ExportPane(Vertical):
    """Jobs table (source, quant, state, step, progress, size, verification) and a log."""

    DEFAULT_CSS = """
    ExportPane { height: 1fr; }
    ExportPane #export-status { height: 1; color: $text-muted; padding: 0 1; }
    ExportPane #export-log { height: 12; border: round $panel; }
    """

    BINDINGS = [
        Binding("a", "add", "Add", id="export-add", tooltip="Queue an export of a run folder"),
        Binding("c", "cancel", "Cancel", id="export-cancel",
                tooltip="Cancel the selected job (a running one stops between tensors; its "
                "llama.cpp process is killed)"),
        Binding("r", "retry", "Retry", id="export-retry", tooltip="Queue a failed or cancelled job again"),
        Binding("x,delete", "remove", "Remove", id="export-remove",
                tooltip="Remove the selected job from the queue (files stay)"),
        Binding("u,shift+up", "move(-1)", "Up", id="export-move-up", tooltip="Move the queued job up"),
        Binding("n,shift+down", "move(1)", "Down", id="export-move-down",
                tooltip="Move the queued job down"),
        Binding("v", "report", "Report", id="export-report",
                tooltip="Show the selected job's log and verification report (scrolls with the "
                "arrow keys)"),
        Binding("t", "chat", "Chat", id="export-chat", tooltip="Chat with the exported GGUF"),
    ]

    def __init__(self, config: RunConfig, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.config = config
        self.out_dir = config.resolve_path(config.export.out_dir)
        self.queue: ExportQueue | None = None
        self._dirty = True

    def compose(self) -> ComposeResult:
        yield Static(f"exports in {escape(str(self.out_dir))}", id="export-status")
        yield ExportJobsTable(id="export-jobs")
        # min_width: RichLog wraps at 78 columns at least, wider than its box at 80x24
        log = RichLog(id="export-log", markup=True, wrap=True, max_lines=2000, min_width=20)
        log.can_focus = False  # keys go to the jobs table
        yield log

    def on_mount(self) -> None:
        try:
            self.queue = ExportQueue(self.out_dir, MessageSink(self, "export"))
        except ValueError as e:  # a corrupt queue file: say where, keep the pane usable
            self._log(f"[b]queue not loaded:[/b] {escape(str(e))}")
            return
        for notice in self.queue.notices:  # a damaged queue file was set aside
            self._log(f"[b]queue file:[/b] {escape(notice)}")
            self.notify(notice, severity="warning", timeout=10)
        jobs = self.queue.jobs()
        for job in jobs:
            if job.state == "failed" and job.error.startswith("interrupted"):
                self._log(f"job {job.id} ({escape(job.source)}) was interrupted; r retries it")
        if not jobs:
            ex = self.config.export
            rules = ", ".join(f"{escape(k)} -> {v}" for k, v in ex.overrides.items())
            self._log(f"No export jobs yet. When a run finishes, press [b]e[/b] on the Training "
                      f"tab, or [b]a[/b] here to pick a run folder: the adapter is merged, "
                      f"converted to GGUF, quantized to {ex.quant.upper()}"
                      + (f" ({rules})" if rules else "")
                      + (", the vision tower written as mmproj" if ex.mmproj else "")
                      + (", and verified in llama.cpp" if ex.verify else "") + ".")
        self.set_interval(REDRAW_INTERVAL_S, self._redraw)
        self._serve()

    def on_unmount(self) -> None:
        if self.queue is not None:
            self.queue.stop(timeout=0)

    @work(thread=True, exclusive=True, exit_on_error=False, group="export-queue")
    def _serve(self) -> None:
        from synapse_core.export.llama_proc import build_problem

        assert self.queue is not None
        try:
            problem = build_problem()  # reads libllama's CPU features (no model, no kernel)
        except (ImportError, OSError) as e:
            problem = f"llama-cpp-python cannot be loaded: {e}"
        if problem:  # say it now; jobs that verify fail at once with the same words
            self.app.call_from_thread(self._log, f"[b]llama.cpp:[/b] {escape(problem)}")
        self.queue.serve()

    @on(Worker.StateChanged)
    def _worker_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group == "export-queue" and event.state == WorkerState.ERROR:
            self._log(f"[b]export queue stopped:[/b] {escape(str(event.worker.error))}")
            self.notify(f"export queue stopped: {event.worker.error}", severity="error")

    # -- public: the app calls this on ExportRequested ---------------------------------------
    def add_job(self, run_dir: str) -> str | None:
        """Queue an export of ``run_dir`` with the config's export settings; returns the id."""
        if self.queue is None:
            self.notify("the export queue is not available", severity="error")
            return None
        ex = self.config.export
        job = self.queue.add(run_dir, quant=ex.quant, overrides=dict(ex.overrides),
                             mmproj=ex.mmproj, verify=ex.verify,
                             min_top1_agreement=ex.min_top1_agreement)
        self._log(f"queued {escape(run_dir)} as job {job.id} ({ex.quant})")
        self._dirty = True
        return job.id

    # -- events -------------------------------------------------------------------------------
    @on(CoreEvent)
    def _core_event(self, message: CoreEvent) -> None:
        if message.channel != "export":
            return
        message.stop()
        e = message.event
        self._dirty = True
        if isinstance(e, LogLine):
            self._log(escape(e.message))
        elif isinstance(e, ExportFinished):
            self.notify(f"export {e.job_id} verified: {e.summary}")
        elif isinstance(e, ExportFailed):
            self.notify(f"export {e.job_id} failed: {e.error}", severity="error", timeout=8)
        elif isinstance(e, ExportCancelled):
            self._log(f"job {e.job_id} cancelled")
        elif isinstance(e, ExportStepFinished) and e.skipped:
            self._log(f"{e.step} skipped: {escape(e.detail)}")

    def _redraw(self) -> None:
        if self._dirty and self.queue is not None:
            self._dirty = False
            self.query_one(ExportJobsTable).show(self.queue.jobs())

    def _log(self, text: str) -> None:
        self.query_one("#export-log", RichLog).write(text)

    def _selected(self) -> str | None:
        job_id = self.query_one(ExportJobsTable).selected_id
        if job_id is None:
            self.notify("no job selected", severity="warning")
        return job_id

    def _edit(self, fn_name: str, *args: int) -> None:
        job_id = self._selected()
        if job_id is None or self.queue is None:
            return
        try:
            getattr(self.queue, fn_name)(job_id, *args)
        except (ValueError, KeyError) as e:
            self.notify(str(e), severity="warning")
        self._dirty = True
        self._redraw()

    # -- actions ------------------------------------------------------------------------------
    def action_add(self) -> None:
        from synapse_tui.screens.open_run import OpenRunScreen

        runs = self.config.resolve_path(self.config.training.runs_dir)

        def picked(path: str | None) -> None:
            if path:
                self.add_job(path)

        self.app.push_screen(OpenRunScreen(runs), picked)

    def action_cancel(self) -> None:
        self._edit("cancel")
        job_id = self.query_one(ExportJobsTable).selected_id
        if job_id and self.queue is not None and self.queue.is_cancelling(job_id):
            self.notify(f"cancelling job {job_id} (its llama.cpp process, if any, is stopped)")

    def action_retry(self) -> None:
        self._edit("retry")

    def action_remove(self) -> None:
        job_id = self._selected()
        if job_id is None or self.queue is None:
            return
        try:
            removed = self.queue.remove(job_id)
        except (ValueError, KeyError) as e:
            self.notify(str(e), severity="warning")
            return
        if not removed:
            self.notify(f"job {job_id} is cancelling; it is removed when it has stopped")
        self._dirty = True
        self._redraw()

    def action_move(self, delta: int) -> None:
        self._edit("move", delta)

    def action_report(self) -> None:
        job_id = self._selected()
        if job_id is None or self.queue is None:
            return
        from synapse_core.export.pipeline import log_path
        from synapse_tui.screens.export_report import ExportReportScreen

        job = self.queue.get(job_id)
        log_file = log_path(self.out_dir, job)
        self.app.push_screen(ExportReportScreen(job, str(log_file) if log_file.is_file() else ""))

    def action_chat(self) -> None:
        job_id = self._selected()
        if job_id is None or self.queue is None:
            return
        job = self.queue.get(job_id)
        path = job.outputs.get("quant") or job.outputs.get("bf16")
        if job.state != "done" or not path or not Path(path).is_file():
            self.notify("chat needs a finished export (state done)", severity="warning")
            return
        from synapse_core.export.pipeline import log_path
        from synapse_tui.screens.chat import ChatScreen

        chat_log = log_path(self.out_dir, job).with_suffix(".chat.log")
        self.app.push_screen(ChatScreen(Path(path), list(self.config.banned_words.words),
                                        log_path=chat_log))
