"""The training pane, fed with core events through the real bridge (MessageSink)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from textual.worker import WorkerFailed

from textual.app import App, ComposeResult
from textual.widgets import RichLog

from synapse_core.config import RunConfig
from synapse_core.events import LogLine
from synapse_core.telemetry.events import GpuSample, TelemetrySampled, TelemetryUnavailable
from synapse_core.training.events import (
    CheckpointSaved, ModelLoaded, PreviewGenerated, RunStarted, StepLogged, TrainingFailed,
    TrainingFinished, TrainingPaused,
)
from synapse_core.training.control import read_requests
from synapse_core.training.rundir import RunDir, read_state
from synapse_tui.bridge import MessageSink
from synapse_tui.messages import ExportRequested, RunStateChanged
from synapse_tui.panes.training import TrainingPane
from synapse_tui.widgets.plots import SeriesPlot
from synapse_tui.widgets.train_progress import TrainProgress
from synapse_tui.widgets.train_series import StepClock, downsample_minmax, format_eta

STEPS = 600


class PaneApp(App[None]):
    """The training pane alone, recording what it posts to the app."""

    def __init__(self, config: RunConfig) -> None:
        super().__init__()
        self.config = config
        self.states: list[str] = []
        self.exports: list[str] = []
        self.notices: list[str] = []

    def notify(self, message: str, **kwargs) -> None:  # noqa: ANN003 - App.notify's
        self.notices.append(message)
        super().notify(message, **kwargs)

    def compose(self) -> ComposeResult:
        yield TrainingPane(self.config, id="training-pane")

    def on_run_state_changed(self, message: RunStateChanged) -> None:
        self.states.append(message.state)

    def on_export_requested(self, message: ExportRequested) -> None:
        self.exports.append(message.run_dir)


def _step(i: int, total: int = STEPS) -> StepLogged:
    return StepLogged(step=i, total_steps=total, epoch=i / total * 3, loss=2.0 / (1 + i * 0.01),
                      learning_rate=5e-7 * min(1.0, i / 60), grad_norm=0.5, tokens_per_s=1234.0,
                      metrics={"rewards/chosen": 0.1 * i, "kl": 0.01}, ts=1000.0 + i * 0.5)


def _emit_run(sink: MessageSink, run_dir: str) -> None:
    """What an engine emits for a whole run, as fast as a thread can post."""
    sink.emit(RunStarted(run_dir=run_dir, objective="kto", model="demo", total_steps=STEPS,
                         num_train_epochs=3.0, train_rows=300))
    sink.emit(ModelLoaded(backend="hf", device="cpu", dtype="float32", attn_implementation="sdpa",
                          load_in_4bit=False, optim="adamw_torch", trainable_params=1_500_000,
                          total_params=68_000_000, added_tokens=56,
                          experts="no experts (dense model)", seconds=2.5,
                          notes=("paged_adamw_8bit needs CUDA: using adamw_torch",)))
    sink.emit(TelemetryUnavailable(reason="no NVIDIA GPU (NVML not found)"))
    for i in range(1, STEPS + 1):
        sink.emit(_step(i))
        if i % 100 == 0:
            sink.emit(LogLine(message=f"logged step {i}"))
    sink.emit(PreviewGenerated(step=STEPS, prompt="What is entropy?", text="🧙 Entropy is ..."))
    sink.emit(CheckpointSaved(step=STEPS, path=f"{run_dir}/checkpoints/checkpoint-{STEPS}",
                              reason="end"))
    sink.emit(TrainingFinished(run_dir=run_dir, step=STEPS, adapter_path=f"{run_dir}/adapter"))


async def test_every_step_reaches_the_chart(tmp_path) -> None:
    app = PaneApp(RunConfig())
    async with app.run_test(size=(120, 40)) as pilot:
        pane = app.query_one(TrainingPane)
        sink = pane.event_sink()  # the sink the engine gets: steps are taken on the tick
        thread = threading.Thread(target=_emit_run, args=(sink, str(tmp_path)))
        thread.start()
        for _ in range(400):  # bounded: a broken pane fails the test instead of hanging it
            await pilot.pause(0.05)
            if not thread.is_alive() and pane.state == "done":
                break
        thread.join()
        await pilot.pause(0.2)  # one more redraw tick

        assert pane.series.steps == list(range(1, STEPS + 1))
        assert pane.series.loss[-1] == _step(STEPS).loss
        loss_plot = app.query_one("#plot-loss", SeriesPlot)
        assert loss_plot.point_count("loss") == STEPS
        assert app.query_one("#plot-lr", SeriesPlot).point_count("lr") == STEPS
        # the frames on screen cover every step, and were built off the UI thread
        lr_plot = app.query_one("#plot-lr", SeriesPlot)
        for _ in range(100):  # bounded: the last frame may still be in its worker
            if loss_plot.shown_counts.get("loss") == lr_plot.shown_counts.get("lr") == STEPS:
                break
            await pilot.pause(0.05)
        assert loss_plot.shown_counts == {"loss": STEPS}
        assert app.query_one("#plot-lr", SeriesPlot).shown_counts == {"lr": STEPS}
        assert loss_plot.render_threads
        assert threading.current_thread().name not in loss_plot.render_threads
        # 600 events were drawn in far fewer redraws (the 10 Hz throttle), but drawn.
        assert 1 <= loss_plot.redraws < STEPS
        facts = app.query_one(TrainProgress).text
        assert f"step {STEPS}/{STEPS}" in facts and "1,234 tok/s" in facts
        assert "rewards/chosen" in str(app.query_one("#train-metrics").render())
        info = str(app.query_one("#train-facts").render())
        assert "adamw_torch" in info and "no experts" in info
        assert "Entropy" in str(app.query_one("#train-preview").render())
        gpu_plot = app.query_one("#plot-gpu-mem", SeriesPlot)
        assert gpu_plot.empty_text.startswith("GPU telemetry: not available — no NVIDIA GPU")
        log_text = "\n".join(str(line.text) for line in app.query_one("#train-log", RichLog).lines)
        assert "logged step 600" in log_text and "finished at step 600" in log_text
        assert app.states[-1] == "done"

        # a finished run can be sent to the export queue with one key
        pane.focus()
        await pilot.press("e")
        assert app.exports == [str(tmp_path)]


async def test_telemetry_samples_are_plotted() -> None:
    app = PaneApp(RunConfig())
    async with app.run_test(size=(120, 40)) as pilot:
        pane = app.query_one(TrainingPane)
        sink = MessageSink(pane)
        for t in range(5):
            gpu = GpuSample(index=0, name="H200", mem_used_gib=10.0 + t, mem_total_gib=139.0,
                            util_pct=50.0 + t, temp_c=60.0, power_w=300.0)
            sink.emit(TelemetrySampled(gpus=(gpu,), ts=100.0 + t))
        await pilot.pause(0.2)
        assert pane.series.gpu_mem_gib == [10.0, 11.0, 12.0, 13.0, 14.0]
        assert pane.series.tel_seconds == [0.0, 1.0, 2.0, 3.0, 4.0]
        assert app.query_one("#plot-gpu-util", SeriesPlot).point_count("util") == 5


async def test_multi_gpu_run_shows_every_gpu(tmp_path) -> None:
    """A 2-rank run: one memory and one utilisation curve per GPU (numbered as the user
    chose them), each GPU's latest readings as a line, and the rank count in the facts."""
    app = PaneApp(RunConfig())
    async with app.run_test(size=(120, 40)) as pilot:
        pane = app.query_one(TrainingPane)
        sink = pane.event_sink()  # the engine's sink: telemetry is taken on the tick
        sink.emit(RunStarted(run_dir=str(tmp_path), objective="sft", model="pixtral",
                             total_steps=10, num_train_epochs=1.0, train_rows=80, world_size=2))
        for t in range(5):
            gpus = tuple(GpuSample(index=i, name="NVIDIA H200", mem_used_gib=10.0 + i + t,
                                   mem_total_gib=139.8, util_pct=90.0 + i, temp_c=60.0 + i,
                                   power_w=400.0 + i) for i in (2, 3))
            sink.emit(TelemetrySampled(gpus=gpus, ts=100.0 + t))
        await pilot.pause(0.5)
        mem = app.query_one("#plot-gpu-mem", SeriesPlot)
        util = app.query_one("#plot-gpu-util", SeriesPlot)
        assert (mem.point_count("GPU2"), mem.point_count("GPU3")) == (5, 5)
        assert (util.point_count("GPU2"), util.point_count("GPU3")) == (5, 5)
        assert mem.point_count("used") == 0  # the sum is not drawn beside them
        assert pane.series.gpu_mem_by_index[3][1] == [13.0, 14.0, 15.0, 16.0, 17.0]
        readings = str(app.query_one("#train-gpus").render())
        assert "GPU 2 NVIDIA H200: 16.0/139.8 GiB" in readings
        assert "GPU 3 NVIDIA H200: 17.0/139.8 GiB" in readings and "403 W" in readings
        assert "2 ranks" in str(app.query_one("#train-facts").render())


async def test_open_past_run_shows_its_curves(tmp_path) -> None:
    run = RunDir(tmp_path / "20260101-000000-kto")
    run.write_state(state="stopped", objective="kto", total_steps=40)
    for i in range(1, 31):
        run.append_metrics({"step": i, "epoch": i / 10, "loss": 3.0 - i * 0.05,
                            "learning_rate": 1e-5, "rewards/chosen": 0.2})
    run.close()
    app = PaneApp(RunConfig())
    async with app.run_test(size=(120, 40)) as pilot:
        pane = app.query_one(TrainingPane)
        pane.open_run(str(run.path))
        await app.workers.wait_for_complete()
        await pilot.pause(0.2)
        assert pane.state == "viewing"
        assert pane.series.steps == list(range(1, 31))
        assert app.query_one("#plot-loss", SeriesPlot).point_count("loss") == 30
        assert "30 logged steps" in app.query_one(TrainProgress).text
        # a stopped run can be resumed (binding shown) and exported
        assert pane.check_action("resume_run", ()) is True
        pane.focus()
        await pilot.press("e")
        assert app.exports == [str(run.path)]


async def test_open_missing_run_says_so(tmp_path) -> None:
    app = PaneApp(RunConfig())
    async with app.run_test(size=(120, 40)) as pilot:
        pane = app.query_one(TrainingPane)
        pane.open_run(str(tmp_path / "nope"))
        with pytest.raises(WorkerFailed, match="no such run directory"):
            await app.workers.wait_for_complete()
        await pilot.pause()
        assert pane.state == "idle"
        log_text = "\n".join(str(line.text) for line in app.query_one("#train-log", RichLog).lines)
        assert "cannot open run" in log_text and "nope" in log_text


def test_downsample_keeps_extremes() -> None:
    xs = list(range(10_000))
    ys = [0.0] * 10_000
    ys[5_123] = 99.0
    ys[7_777] = -5.0
    dx, dy = downsample_minmax(xs, ys, 200)
    assert len(dx) <= 200 and 99.0 in dy and -5.0 in dy
    assert downsample_minmax([1, 2], [3, 4], 200) == ([1, 2], [3, 4])


def test_eta_and_format() -> None:
    clock = StepClock()
    assert clock.eta_seconds(1, 10) is None
    clock.mark(0.0, 1)
    clock.mark(2.0, 3)
    assert clock.eta_seconds(3, 10) == 7.0
    assert format_eta(7.0) == "7s" and format_eta(187) == "3m07s" and format_eta(3720) == "1h02m"
    assert format_eta(None) == "-"


async def _until(pilot, condition, tries: int = 1200) -> bool:
    """Pause in 0.1 s steps until ``condition()`` (bounded: a hung run fails the test)."""
    for _ in range(tries):
        if condition():
            return True
        await pilot.pause(0.1)
    return condition()


@pytest.mark.slow
async def test_real_training_from_the_panel(tiny_model_dir, tmp_path) -> None:
    """Start real KTO training of the tiny Pixtral on the demo data from the panel, see steps
    arrive, pause and resume, refuse then confirm the stop; the run checkpoints and stops."""
    cfg = RunConfig()
    cfg.model.name_or_path = str(tiny_model_dir("pixtral"))
    cfg.model.max_seq_length = 64
    t = cfg.training
    t.max_steps, t.per_device_train_batch_size, t.gradient_accumulation_steps = 500, 2, 1
    t.gradient_checkpointing, t.learning_rate, t.save_steps = False, 1e-4, 1000
    t.runs_dir = str(tmp_path / "runs")
    app = PaneApp(cfg)
    async with app.run_test(size=(120, 40)) as pilot:
        pane = app.query_one(TrainingPane)
        pane.focus()
        await pilot.press("s")  # the pre-run summary, then Enter starts
        await pilot.pause()
        assert type(app.screen).__name__ == "PreRunScreen"
        await pilot.press("enter")
        assert await _until(pilot, lambda: len(pane.series.steps) >= 2 or pane.state == "failed")
        assert pane.state == "training", pane.state
        assert "no experts" in str(app.query_one("#train-facts").render())

        await pilot.press("p")
        assert await _until(pilot, lambda: pane.state == "paused")
        await pilot.press("p")
        assert await _until(pilot, lambda: pane.state == "training")

        await pilot.press("x")
        await pilot.pause()
        assert type(app.screen).__name__ == "ConfirmScreen"
        await pilot.press("n")  # cancel: nothing is lost, the run goes on
        await pilot.pause()
        assert pane.state == "training" and pane.control is not None
        assert not pane.control.stop_requested.is_set()

        await pilot.press("x")
        await pilot.pause()
        await pilot.press("y")
        assert await _until(pilot, lambda: pane.state in ("done", "failed"))
        await pane.wait_finished()
        await pilot.pause(0.2)
        assert pane.state == "done"
        steps = pane.series.steps
        assert steps == list(range(1, len(steps) + 1)) and len(steps) < 500
        assert app.states[:2] == ["loading", "training"] and "stopping" in app.states
        checkpoints = list((Path(pane.run_dir) / "checkpoints").glob("checkpoint-*"))
        assert checkpoints, "a stopped run leaves a checkpoint"


async def test_resize_keeps_the_old_frame_until_the_worker_rebuilds() -> None:
    """The details toggle resizes the charts: the UI thread fits the previous frame to the
    new size at once, and a worker builds the new frame (never the UI thread)."""
    app = PaneApp(RunConfig())
    async with app.run_test(size=(120, 40)) as pilot:
        pane = app.query_one(TrainingPane)
        sink = MessageSink(pane)
        for i in range(1, 51):
            sink.emit(_step(i))
        await pilot.pause(0.3)
        plot = app.query_one("#plot-loss", SeriesPlot)
        height_before = plot.size.height
        pane.focus()
        await pilot.press("l")
        assert not pane.show_details and plot.size.height > height_before
        for _ in range(100):  # bounded: a lost rebuild fails the test instead of hanging it
            if plot.frame_size == plot.size:
                break
            await pilot.pause(0.05)
        assert plot.frame_size == plot.size
        assert plot.shown_counts == {"loss": 50}
        assert plot.render_threads and threading.current_thread().name not in plot.render_threads
        lines = [plot.render_line(y).text for y in range(plot.size.height)]
        assert all(len(line) == plot.size.width for line in lines)
        assert any("⠁" <= ch <= "⣿" for line in lines for ch in line), "braille curve drawn"


async def test_engine_sink_queues_steps_and_wakes_the_pane_for_the_rest(tmp_path,
                                                                       monkeypatch) -> None:
    """Steps wait for the redraw tick (no message each); a lifecycle event posts one wake-up,
    and the pane then takes everything queued, in order, nothing dropped."""
    from synapse_tui.messages import CoreEventsReady

    app = PaneApp(RunConfig())
    async with app.run_test(size=(120, 40)) as pilot:
        pane = app.query_one(TrainingPane)
        await pilot.pause()
        posted: list[object] = []
        post = pane.post_message

        def recording_post(message) -> bool:  # noqa: ANN001
            posted.append(message)
            return post(message)

        monkeypatch.setattr(pane, "post_message", recording_post)
        sink = pane.event_sink()
        for i in range(1, 51):
            sink.emit(_step(i))
            sink.emit(LogLine(message=f"line {i}"))
        assert not [m for m in posted if isinstance(m, CoreEventsReady)]
        sink.emit(RunStarted(run_dir=str(tmp_path), objective="kto", model="demo",
                             total_steps=STEPS, num_train_epochs=3.0, train_rows=300))
        sink.emit(CheckpointSaved(step=50, path="ckpt", reason="user"))
        assert len([m for m in posted if isinstance(m, CoreEventsReady)]) == 1
        for i in range(51, 61):
            sink.emit(_step(i))
        await pilot.pause()
        assert pane.run_dir == str(tmp_path)  # handled at once, not on the 5 Hz tick
        assert pane.series.steps[:50] == list(range(1, 51))  # taken with it, before it
        for _ in range(40):  # bounded: the tick takes the last ten
            if len(pane.series.steps) == 60:
                break
            await pilot.pause(0.05)
        assert pane.series.steps == list(range(1, 61))
        assert sink.drain() == []


@pytest.mark.slow
async def test_app_attaches_to_a_detached_run_and_stops_it(tiny_model_dir, tmp_path) -> None:
    """`synapse train --detach` -> `synapse runs --json` shows it running with a pid -> a new
    app attaches on start and its chart gains points live; a second dashboard sees the same
    run -> `synapse control RUN stop` -> stopped with a checkpoint, no process left ->
    `synapse train --resume` continues the curve, each step once."""
    import asyncio
    import json
    import subprocess
    import sys

    from synapse_core.config import write_config
    from synapse_core.events import ListSink
    from synapse_core.training import supervisor
    from synapse_core.training.rundir import last_checkpoint, load_metrics, lock_owner, read_state
    from synapse_tui.app import SynapseApp

    cfg = RunConfig()
    cfg.data.path = ""  # the demo data
    cfg.model.name_or_path = str(tiny_model_dir("pixtral"))
    cfg.model.max_seq_length = 64
    t = cfg.training
    t.objective, t.packing = "sft", False
    t.max_steps, t.per_device_train_batch_size, t.gradient_accumulation_steps = 300, 2, 1
    t.gradient_checkpointing, t.save_steps = False, 1000
    t.runs_dir = str(tmp_path / "runs")
    cfg_path = write_config(cfg, tmp_path / "run.toml")
    cli = [sys.executable, "-m", "synapse_core.cli"]
    started = subprocess.run([*cli, "train", "--config", str(cfg_path), "--detach"],
                             capture_output=True, text=True, timeout=120)
    assert started.returncode == 0, started.stderr
    run = Path(started.stdout.splitlines()[0])
    try:
        listed = subprocess.run([*cli, "runs", "--config", str(cfg_path), "--json"],
                                capture_output=True, text=True, timeout=60)
        row = json.loads(listed.stdout.splitlines()[0])
        assert row["run_dir"] == str(run) and row["pid"] == read_state(run)["pid"]
        assert row["state"] in ("starting", "running")

        app = SynapseApp(cfg, initial_tab="training")
        async with app.run_test(size=(120, 40)) as pilot:
            pane = app.query_one(TrainingPane)
            assert await _until(pilot, lambda: len(pane.series.steps) >= 2
                                or pane.state == "failed", tries=2400)
            assert pane.run_dir == str(run) and pane.state == "training", pane.state
            seen = len(pane.series.steps)
            assert await _until(pilot, lambda: len(pane.series.steps) > seen)  # live
            assert pane.series.steps == list(range(1, len(pane.series.steps) + 1))

            other, leave = ListSink(), threading.Event()  # a second dashboard on the same run
            follower = threading.Thread(target=supervisor.attach, args=(run, other),
                                        kwargs={"detach": leave}, daemon=True)
            follower.start()
            assert await _until(pilot, lambda: len(other.of(StepLogged)) >= seen)
            leave.set()
            follower.join(timeout=30)

            stop = await asyncio.create_subprocess_exec(
                *cli, "control", str(run), "stop", stderr=asyncio.subprocess.PIPE)
            _, err = await asyncio.wait_for(stop.communicate(), timeout=240)
            assert stop.returncode == 0, err
            assert await _until(pilot, lambda: pane.state == "done")
            assert pane.last_outcome == "stopped"
        state = read_state(run)
        assert state["state"] == "stopped" and lock_owner(run) is None
        ckpt = last_checkpoint(run)
        assert ckpt is not None
        stopped_at = int(ckpt.name.split("-")[1])
        resumed = subprocess.run([*cli, "train", "--resume", str(run), "--max-steps",
                                  str(stopped_at + 2)], capture_output=True, text=True,
                                 timeout=300)
        assert resumed.returncode == 0, resumed.stderr
        assert f"resuming at step {stopped_at}" in resumed.stderr
        assert [r["step"] for r in load_metrics(run)] == list(range(1, stopped_at + 3))
    finally:
        pid = read_state(run).get("pid")
        if lock_owner(run) is not None and pid:  # a failed assertion must not leave it training
            import os
            import signal

            os.kill(pid, signal.SIGKILL)


def _toasts(app: PaneApp) -> str:
    """The notifications the app was asked to show."""
    return "\n".join(app.notices)


async def test_open_run_dialog_opens_the_highlighted_run_with_enter(tmp_path) -> None:
    from synapse_tui.screens.open_run import OpenRunScreen

    runs = tmp_path / "runs"
    for name in ("20260101-000000-kto", "20260102-000000-sft"):
        run = RunDir(runs / name)
        run.write_state(state="stopped", objective="kto", total_steps=10)
        run.append_metrics({"step": 1, "loss": 1.0, "learning_rate": 1e-5})
        run.close()
    cfg = RunConfig()
    cfg.training.runs_dir = str(runs)
    app = PaneApp(cfg)
    async with app.run_test(size=(120, 40)) as pilot:
        pane = app.query_one(TrainingPane)
        pane.focus()
        await pilot.press("o")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert isinstance(app.screen, OpenRunScreen)
        await pilot.press("down")  # from the path field: the list moves
        await pilot.press("enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert pane.state == "viewing"
        assert Path(pane.run_dir).name == "20260101-000000-kto"  # the second, oldest


async def test_attached_run_that_dies_is_told_and_keys_say_why(tmp_path) -> None:
    """Attached to a live run (a real process as its pid): `e` says why it cannot export
    while it trains; when the process vanishes the pane says it died (a notification, the
    log) and `r` can resume it; `r` on a finished run says why not."""
    import subprocess
    import sys
    import time

    from textual.widgets import RichLog

    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        run = RunDir(tmp_path / "runs" / "20260101-000000-sft")
        for i in (1, 2, 3):
            run.append_event(_step(i, 10).to_dict())
        run.write_state(state="running", objective="sft", total_steps=10, step=3,
                        pid=sleeper.pid, heartbeat=time.time())
        run.close()
        app = PaneApp(RunConfig())
        async with app.run_test(size=(120, 40)) as pilot:
            pane = app.query_one(TrainingPane)
            pane.attach(str(run.path))
            assert await _until(pilot, lambda: len(pane.series.steps) == 3)
            assert pane.state == "training"
            pane.focus()
            await pilot.press("e")
            await pilot.pause()
            assert "still training" in _toasts(app)
            assert not app.exports
            # paused by someone else (synapse control, another dashboard): p resumes it
            paused = RunDir(run.path)
            paused.append_event(TrainingPaused(step=3).to_dict())
            paused.close()
            assert await _until(pilot, lambda: pane.state == "paused")
            await pilot.press("p")
            assert await _until(
                pilot, lambda: read_requests(run.path / "control.json")["action"] == "resume")
            sleeper.kill()
            sleeper.wait(timeout=10)
            assert await _until(pilot, lambda: pane.state == "failed")
            assert pane.last_outcome == "died"
            assert "died at step 3" in _toasts(app)
            log = "\n".join(str(x.text) for x in app.query_one("#train-log", RichLog).lines)
            assert "vanished" in log
            assert pane.check_action("resume_run", ()) is True and not pane.why_not("resume_run")
            assert read_state(run.path)["state"] == "died"
    finally:
        if sleeper.poll() is None:
            sleeper.kill()
            sleeper.wait(timeout=10)


async def test_resume_key_says_why_after_a_finished_run(tmp_path) -> None:
    app = PaneApp(RunConfig())
    async with app.run_test(size=(120, 40)) as pilot:
        pane = app.query_one(TrainingPane)
        sink = MessageSink(pane)
        sink.emit(_step(1, 1))
        sink.emit(TrainingFinished(run_dir=str(tmp_path), step=1, adapter_path="a"))
        await pilot.pause(0.2)
        assert pane.state == "done" and pane.last_outcome == "finished"
        pane.focus()
        await pilot.press("r")
        await pilot.pause()
        assert "finished: there is nothing to resume" in _toasts(app)
        assert pane.state == "done"
        sink.emit(TrainingFinished(run_dir=str(tmp_path), step=1, adapter_path="a",
                                   stopped=True, reason="user"))
        await pilot.pause(0.2)
        assert pane.why_not("resume_run") == ""  # r after a stop, in the same app instance


def test_desktop_notification_escapes(monkeypatch) -> None:
    """OSC 9 and OSC 777 with the text cleaned of anything that would end them early; inside
    tmux each is wrapped in its passthrough sequence."""
    import io

    from synapse_tui.terminal_notify import notify_terminal, sequences

    monkeypatch.delenv("TMUX", raising=False)
    out = sequences("synapse: run", "Run finished at step 6;\x07 done")
    assert out == ("\x1b]9;synapse: run: Run finished at step 6,  done\x07"
                   "\x1b]777;notify;synapse: run;Run finished at step 6,  done\x07")
    monkeypatch.setenv("TMUX", "/tmp/tmux-0/default,1,0")
    wrapped = sequences("t", "b")
    assert wrapped == ("\x1bPtmux;\x1b\x1b]9;t: b\x07\x1b\\"
                       "\x1bPtmux;\x1b\x1b]777;notify;t;b\x07\x1b\\")
    stream = io.StringIO()
    notify_terminal("t", "b", stream)
    assert stream.getvalue() == wrapped
