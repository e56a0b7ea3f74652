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
    CheckpointSaved, ModelLoaded, PreviewGenerated, RunStarted, StepLogged, TrainingFinished,
)
from synapse_core.training.rundir import RunDir
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
            if plot._frame_size == plot.size:
                break
            await pilot.pause(0.05)
        assert plot._frame_size == plot.size
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
