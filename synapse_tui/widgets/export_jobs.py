"""The export jobs table: one row per job (source, quant, state, step, progress, size, check)."""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual.widgets import DataTable
from textual.widgets.data_table import CellDoesNotExist

from synapse_core.export.jobs import ExportJob

COLUMNS = ("Source", "Quant", "State", "Step", "Progress", "Size", "Verification")


def _size(job: ExportJob) -> str:
    total = 0
    for p in job.outputs.values():
        path = Path(p)
        if path.is_file():
            total += path.stat().st_size
    return f"{total / 2**20:,.1f} MiB" if total else "-"


def _bar(fraction: float, width: int = 10) -> str:
    full = int(round(fraction * width))
    return "█" * full + "░" * (width - full) + f" {fraction:4.0%}"


def job_cells(job: ExportJob) -> tuple[str | Text, ...]:
    """The row of one job."""
    state = Text(job.state, style={"done": "bold", "failed": "reverse", "cancelled": "dim",
                                   "running": "bold italic"}.get(job.state, ""))
    verification = ((job.verification or {}).get("summary", "") if job.state != "failed"
                    else job.error)
    src = Path(job.source).name or job.source
    return (src, job.quant, state, job.current_step or "-", _bar(job.progress), _size(job),
            (verification or "-")[:60])


class ExportJobsTable(DataTable):
    """Jobs in queue order; the row key is the job id."""

    DEFAULT_CSS = """
    ExportJobsTable { height: 1fr; border: round $panel; }
    """

    def on_mount(self) -> None:
        self.cursor_type = "row"
        self.zebra_stripes = True
        for c in COLUMNS:
            self.add_column(c, key=c.lower())

    def show(self, jobs: list[ExportJob]) -> None:
        """Bring the table in line with ``jobs`` (keeps the cursor on the same job)."""
        selected = self.selected_id
        ids = [j.id for j in jobs]
        current = [str(k.value) for k in self.rows]
        if current != ids:
            self.clear()
            for j in jobs:
                self.add_row(*job_cells(j), key=j.id)
            if selected in ids:
                self.move_cursor(row=ids.index(selected))
            return
        for j in jobs:
            for col, cell in zip(COLUMNS, job_cells(j)):
                self.update_cell(j.id, col.lower(), cell)

    @property
    def selected_id(self) -> str | None:
        """The job id under the cursor, if any."""
        if not self.row_count:
            return None
        try:
            return str(self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value)
        except CellDoesNotExist:  # cursor out of range: nothing selected
            return None
