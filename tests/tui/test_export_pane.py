"""The export pane in a small app: jobs from disk, add, retry, remove, reorder (Pilot)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from textual.app import App, ComposeResult

from synapse_core.config import RunConfig
from synapse_core.export.jobs import ExportJob
from synapse_core.export.queue import QUEUE_FILE
from synapse_tui.panes.export import ExportPane
from synapse_tui.widgets.export_jobs import ExportJobsTable


class _PaneApp(App):
    def __init__(self, config: RunConfig) -> None:
        super().__init__()
        self.config = config

    def compose(self) -> ComposeResult:
        yield ExportPane(self.config, id="export")


def _config(tmp_path: Path) -> RunConfig:
    cfg = RunConfig()
    cfg.export.out_dir = str(tmp_path / "exports")
    cfg.training.runs_dir = str(tmp_path / "runs")
    return cfg


def _states(table: ExportJobsTable) -> list[str]:
    return [str(table.get_row_at(i)[2]) for i in range(table.row_count)]


async def _settle(pane: ExportPane, pilot) -> None:
    assert await asyncio.to_thread(pane.queue.wait_idle, 60)
    pane._dirty = True
    pane._redraw()
    await pilot.pause()


async def test_pane_shows_persisted_jobs_and_edits_them(tmp_path):
    out = tmp_path / "exports"
    out.mkdir()
    cancelled = ExportJob(source=str(tmp_path / "run-a"), state="cancelled")
    interrupted = ExportJob(source=str(tmp_path / "run-b"), state="running")
    (out / QUEUE_FILE).write_text(json.dumps(
        {"version": 1, "jobs": [cancelled.to_dict(), interrupted.to_dict()]}))
    app = _PaneApp(_config(tmp_path))
    async with app.run_test(size=(120, 40)) as pilot:
        pane = app.query_one(ExportPane)
        await _settle(pane, pilot)
        table = pane.query_one(ExportJobsTable)
        assert _states(table) == ["cancelled", "failed"]  # the running one was interrupted
        log_text = "\n".join(str(line) for line in pane.query_one("#export-log").lines)
        assert "interrupted" in log_text

        # retry the cancelled job: it runs, and fails because its folder does not exist
        table.focus()
        table.move_cursor(row=0)
        await pilot.press("r")
        await _settle(pane, pilot)
        assert _states(table)[0] == "failed"
        assert "no such folder" in pane.queue.get(cancelled.id).error

        # add a job through the app-facing method
        job_id = pane.add_job(str(tmp_path / "run-c"))
        await _settle(pane, pilot)
        assert table.row_count == 3 and pane.queue.get(job_id).state == "failed"

        # chat refuses a job that did not finish
        table.move_cursor(row=2)
        await pilot.press("t")
        await pilot.pause()
        assert not app.screen_stack[-1].__class__.__name__ == "ChatScreen"

        # remove the selected job
        await pilot.press("x")
        await pilot.pause()
        assert table.row_count == 2
        assert [j.id for j in pane.queue.jobs()] == [cancelled.id, interrupted.id]
        assert json.loads((out / QUEUE_FILE).read_text())["jobs"][1]["id"] == interrupted.id


async def test_empty_queue_says_how_to_add_a_job(tmp_path):
    app = _PaneApp(_config(tmp_path))
    async with app.run_test(size=(120, 40)) as pilot:
        pane = app.query_one(ExportPane)
        await _settle(pane, pilot)
        assert pane.query_one(ExportJobsTable).row_count == 0
        log_text = " ".join(line.text for line in pane.query_one("#export-log").lines)
        assert "No export jobs yet" in log_text
        assert "Q4_K_M" in log_text and "q6_k" in log_text  # what a job will do, from config
