"""The export pane in a small app: jobs from disk, add, retry, remove, reorder (Pilot)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from pathlib import Path

import pytest
from textual.app import App, ComposeResult
from textual.widgets import Static

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


# -- issue 18: one truth for the export keys ------------------------------------------------
def test_readme_export_keys_are_the_bindings():
    import re

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    row = next(line for line in readme.splitlines() if line.startswith("| export |"))
    in_readme = set(re.findall(r"`([^`]+)`", row))
    bound = {k.strip() for b in ExportPane.BINDINGS for k in b.key.split(",")}
    assert in_readme == bound, (in_readme ^ bound)
    first = {b.key.split(",")[0] for b in ExportPane.BINDINGS}  # what footer and `?` show
    assert {"x", "u", "n"} <= first


def _job_with_log(tmp_path: Path, lines: int) -> ExportJob:
    out = tmp_path / "exports"
    out.mkdir(exist_ok=True)
    job = ExportJob(source=str(tmp_path / "run-a"), state="failed", error="boom",
                    log=[f"log line {i}" for i in range(lines)])
    (out / QUEUE_FILE).write_text(json.dumps({"version": 1, "jobs": [job.to_dict()]}))
    return job


async def test_report_scrolls_with_the_keyboard_at_once(tmp_path):
    from synapse_tui.screens.export_report import ExportReportScreen

    _job_with_log(tmp_path, 200)
    app = _PaneApp(_config(tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        pane = app.query_one(ExportPane)
        await _settle(pane, pilot)
        pane.query_one(ExportJobsTable).focus()
        await pilot.press("v")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, ExportReportScreen)
        text = screen.query_one("#report-text")
        assert text.has_focus and text.scroll_y == 0
        await pilot.press("pagedown", "down")
        await pilot.pause()
        assert text.scroll_y > 10
        await pilot.press("end")
        await pilot.pause()
        assert text.scroll_y == text.max_scroll_y > 150
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, ExportReportScreen)


async def test_bad_queue_file_is_set_aside_with_a_notice(tmp_path):
    out = tmp_path / "exports"
    out.mkdir()
    good = ExportJob(source=str(tmp_path / "run-a"), state="cancelled")
    (out / QUEUE_FILE).write_text(json.dumps({"jobs": [5, good.to_dict()]}))
    app = _PaneApp(_config(tmp_path))
    async with app.run_test(size=(120, 40)) as pilot:
        pane = app.query_one(ExportPane)
        await _settle(pane, pilot)
        assert _states(pane.query_one(ExportJobsTable)) == ["cancelled"]
        log_text = " ".join(line.text for line in pane.query_one("#export-log").lines)
        assert "jobs[0]: a job must be an object, not int" in log_text
        assert "queue.json.bad" in log_text and (out / "queue.json.bad").is_file()


# -- issue 14: llama.cpp crashes in its child, the app goes on ------------------------------
@pytest.fixture
def kill_on():
    from synapse_core.export import llama_proc

    stops = []

    def arm(op: str) -> None:
        def fn(req) -> None:
            if req.op == op:
                os.kill(req.pid, signal.SIGSEGV)
        stops.append(llama_proc.watch(fn))

    yield arm
    for stop in stops:
        stop()


@pytest.mark.slow
async def test_verify_child_segfault_fails_the_job_and_the_app_goes_on(tiny_model_dir, tmp_path,
                                                                      kill_on):
    from synapse_core.export import llama_proc
    from synapse_tui.screens.export_report import ExportReportScreen

    kill_on("generate")
    cfg = _config(tmp_path)
    cfg.export.quant, cfg.export.mmproj = "q8_0", False
    app = _PaneApp(cfg)
    async with app.run_test(size=(120, 40)) as pilot:
        pane = app.query_one(ExportPane)
        job_id = pane.add_job(str(tiny_model_dir("mistral")))
        assert await asyncio.to_thread(pane.queue.wait_idle, 600)
        pane._dirty = True
        pane._redraw()
        await pilot.pause()
        job = pane.queue.get(job_id)
        assert job.state == "failed" and job.steps["verify"].state == "failed"
        assert "llama.cpp crashed (SIGSEGV) while generating from" in job.error
        assert _states(pane.query_one(ExportJobsTable)) == ["failed"]
        # the app still answers keys: the report opens and closes
        pane.query_one(ExportJobsTable).focus()
        await pilot.press("v")
        await pilot.pause()
        assert isinstance(app.screen, ExportReportScreen)
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, ExportReportScreen)
        saved = json.loads((tmp_path / "exports" / QUEUE_FILE).read_text())
        assert [(j["id"], j["state"]) for j in saved["jobs"]] == [(job_id, "failed")]
        assert "SIGSEGV" in saved["jobs"][0]["error"]
        assert not list((tmp_path / "exports").glob(".*.partial"))
        assert llama_proc.live_pids() == []


class _ChatApp(App):
    def __init__(self, gguf: Path) -> None:
        super().__init__()
        self.gguf = gguf

    def compose(self) -> ComposeResult:
        yield Static("home", id="home")

    def on_mount(self) -> None:
        from synapse_tui.screens.chat import ChatScreen

        self.push_screen(ChatScreen(self.gguf, []))


@pytest.mark.slow
async def test_chat_child_crash_is_shown_and_the_screen_closes(tiny_model_dir, tmp_path,
                                                               kill_on):
    from textual.widgets import Input

    from synapse_core.export import llama_proc
    from synapse_core.export.convert import convert_to_gguf
    from synapse_tui.screens.chat import ChatScreen

    gguf = convert_to_gguf(tiny_model_dir("mistral"), tmp_path / "m.gguf")
    kill_on("chat_send")
    app = _ChatApp(gguf)
    async with app.run_test(size=(100, 30)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, ChatScreen)
        inp = screen.query_one("#chat-input", Input)
        assert not inp.disabled
        inp.value = "Hello"
        await pilot.press("enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        errors = [str(w.render()) for w in screen.query(".chat-error")]
        assert errors and "llama.cpp crashed (SIGSEGV) while generating from m.gguf" in errors[0]
        assert not inp.disabled  # the user can try again or leave
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, ChatScreen)
        assert str(app.query_one("#home", Static).render()) == "home"
    assert llama_proc.live_pids() == []


async def test_amx_build_is_said_in_the_pane_and_the_chat_screen(tmp_path, monkeypatch):
    from synapse_core.export import llama_proc
    from synapse_tui.screens.chat import ChatScreen

    monkeypatch.setattr(llama_proc, "system_info",
                        lambda: "CPU : AVX2 = 1 | AVX512 = 1 | AMX_INT8 = 1 | REPACK = 1 | ")
    app = _PaneApp(_config(tmp_path))
    async with app.run_test(size=(120, 40)) as pilot:
        pane = app.query_one(ExportPane)
        job_id = pane.add_job(str(tmp_path))
        await _settle(pane, pilot)
        job = pane.queue.get(job_id)
        assert job.state == "failed" and "AMX_INT8 = 1" in job.error
        assert "llama-cmake-args.sh" in job.error
        log_text = " ".join(line.text for line in pane.query_one("#export-log").lines)
        assert "llama.cpp: llama.cpp was built with AMX" in log_text
        app.push_screen(ChatScreen(tmp_path / "m.gguf", []))
        await pilot.pause()
        for worker in [w for w in app.workers if w.group == "chat"]:
            await worker.wait()  # not wait_for_complete: the queue's worker serves on
        await pilot.pause()
        error = str(app.screen.query_one("#chat-error", Static).render())
        assert "AMX_INT8 = 1" in error and "llama-cmake-args.sh" in error
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, ChatScreen)


async def test_chat_shows_text_that_looks_like_markup_as_it_is(tmp_path):
    """A model's reply (or a file name, or an error) holding '[...:' is text, not markup: the
    demo model's 'Además**[ … arke=:' raised MarkupError and closed the app."""
    from synapse_tui.screens.chat import ChatScreen

    app = _ChatApp(tmp_path / "run[x:1].gguf")  # no such file: the load error is shown
    async with app.run_test(size=(100, 30)) as pilot:
        for worker in [w for w in app.workers if w.group == "chat"]:
            await worker.wait()
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, ChatScreen)
        assert "run[x:1].gguf: could not load" in str(screen.query_one("#chat-title").render())
        assert "run[x:1].gguf" in str(screen.query_one("#chat-error").render())
        screen.post_message(ChatScreen.Failed("llama.cpp said **[ arke=: and [/b]"))
        await pilot.pause()
        shown = [str(w.render()) for w in screen.query(".chat-error")]
        assert any("**[ arke=: and [/b]" in text for text in shown)
