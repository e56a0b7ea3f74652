"""One export job's report: state, steps, verification and log, scrolled with the keyboard.

The report opens with its text focused, so the arrow keys, page up/down and home/end scroll
it at once (no Tab first); escape or ``v`` closes it.
"""

from __future__ import annotations

from synapse_tui.markup import escape
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import RichLog, Static

from synapse_core.export.jobs import ExportJob


def report_lines(job: ExportJob, log_file: str = "") -> list[str]:
    """The report of ``job`` as markup lines."""
    out = [f"[b]job {job.id}[/b] {escape(job.source)}", f"state: [b]{job.state}[/b]"
           + (f" - {escape(job.error)}" if job.error else "")]
    for name, st in job.steps.items():
        took = f" {st.seconds:.1f}s" if st.seconds else ""
        out.append(f"  {name:<9} {st.state:<9}{took} {escape(st.detail)}".rstrip())
    for kind, path in job.outputs.items():
        out.append(f"  {kind}: {escape(path)}")
    if log_file:
        out.append(f"log file (with llama.cpp's own lines): {escape(log_file)}")
    out.append("")
    out += [escape(line) for line in job.log]
    return out


class ExportReportScreen(ModalScreen[None]):
    """The selected job's report in a scrollable, focused log."""

    DEFAULT_CSS = """
    ExportReportScreen { align: center middle; }
    ExportReportScreen > Vertical { width: 90%; height: 90%; border: round $primary;
                                    background: $surface; }
    ExportReportScreen #report-hint { height: 1; color: $text-muted; padding: 0 1; }
    ExportReportScreen #report-text { height: 1fr; }
    """

    BINDINGS = [
        Binding("escape,v,q", "close", "Close", id="export-report-close",
                tooltip="Close the report"),
    ]

    def __init__(self, job: ExportJob, log_file: str = "") -> None:
        super().__init__()
        self.job = job
        self.log_file = log_file

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("↑/↓, page up/down, home/end scroll · escape closes", id="report-hint")
            yield RichLog(id="report-text", markup=True, wrap=True, auto_scroll=False)

    def on_mount(self) -> None:
        text = self.query_one("#report-text", RichLog)
        for line in report_lines(self.job, self.log_file):
            text.write(line)
        text.focus()

    def action_close(self) -> None:
        self.dismiss(None)
