"""Before step 1: the set-up as progress (not a bare 0%), and the pre-run summary with its
one-key KTO weight fix."""

from __future__ import annotations

import sys
from pathlib import Path

from textual.app import App, ComposeResult

from synapse_core.config import RunConfig, load_config
from synapse_core.training.events import RunStarted, SetupProgressed, StepLogged
from synapse_core.training.kto_weights import kto_weight_advice
from synapse_core.training.rundir import CONFIG_FILE
from synapse_tui.bridge import MessageSink
from synapse_tui.panes.training import TrainingPane
from synapse_tui.widgets.train_progress import TrainProgress

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "core"))
from test_demo_setup import write_unbalanced_data  # noqa: E402  (one helper for both suites)


class PaneApp(App[None]):
    """The training pane alone."""

    def __init__(self, config: RunConfig) -> None:
        super().__init__()
        self.config = config

    def compose(self) -> ComposeResult:
        yield TrainingPane(self.config, id="training-pane")


def _progress_text(app: PaneApp) -> str:
    return str(app.query_one(TrainProgress).render())


async def test_setup_progress_replaces_the_bare_zero() -> None:
    app = PaneApp(RunConfig())
    async with app.run_test(size=(120, 40)) as pilot:
        pane = app.query_one(TrainingPane)
        sink = MessageSink(pane)
        sink.emit(SetupProgressed(phase="model", message="loading the model demo", index=3))
        await pilot.pause()
        text = _progress_text(app)
        assert "set-up 3/5: loading the model demo" in text and "0%" not in text

        # the run started: the first step's set-up is shown, not "0% step 0/60"
        sink.emit(RunStarted(run_dir="r", objective="kto", model="demo", total_steps=60,
                             num_train_epochs=1.0, train_rows=316))
        sink.emit(SetupProgressed(phase="first_step", message="taking the first step", index=5))
        await pilot.pause()
        assert "set-up 5/5: taking the first step" in _progress_text(app)

        sink.emit(StepLogged(step=1, total_steps=60, epoch=0.01, loss=0.7, learning_rate=1e-4))
        await pilot.pause(0.3)  # steps are drawn on the 5 Hz tick
        sink.emit(SetupProgressed(phase="first_step", message="late", index=5))
        await pilot.pause(0.3)
        text = _progress_text(app)
        assert "step 1/60" in text and "set-up" not in text


async def test_pre_run_summary_offers_trls_weights_as_one_key(tmp_path) -> None:
    """`s` shows the summary with the data's counts; TRL's weight advice is offered; `w`
    takes it and the run that starts carries it (its run.toml says so)."""
    data = write_unbalanced_data(tmp_path / "mine.jsonl", desirable=6, undesirable=2)
    cfg = RunConfig()
    cfg.data.path = str(data)
    cfg.model.name_or_path = str(tmp_path / "no-model")  # the run fails fast at model load
    cfg.training.runs_dir = str(tmp_path / "runs")
    advice = kto_weight_advice(6, 2, 1.0, 1.0)
    assert advice is not None
    app = PaneApp(cfg)
    async with app.run_test(size=(120, 40)) as pilot:
        pane = app.query_one(TrainingPane)
        pane.focus()
        await pilot.press("s")
        await pilot.pause()
        assert type(app.screen).__name__ == "PreRunScreen"
        await app.screen.workers.wait_for_complete()
        await pilot.pause()
        assert "6 desirable, 2 undesirable" in str(app.screen.query_one("#prerun-data").render())
        advice_text = str(app.screen.query_one("#prerun-advice").render())
        assert f"desirable_weight in [{advice.desirable_range[0]}" in advice_text
        assert "press w" in advice_text

        await pilot.press("escape")  # cancel: no run, nothing changed
        await pilot.pause()
        assert pane.state == "idle" and cfg.training.desirable_weight == 1.0

        await pilot.press("s")
        await pilot.pause()
        await app.screen.workers.wait_for_complete()
        await pilot.pause()
        await pilot.press("w")
        await pilot.pause()
        assert f"desirable_weight = {advice.value}" in str(
            app.screen.query_one("#prerun-advice").render())
        await pilot.press("enter")
        await pilot.pause()
        assert type(app.screen).__name__ != "PreRunScreen"
        assert pane.state in ("loading", "failed")  # started (it may have failed already)
        await pane.wait_finished()
        await pilot.pause()
        assert pane.state == "failed"  # no such model: fine, the run was made with the fix
    runs = list((tmp_path / "runs").iterdir())
    assert len(runs) == 1
    assert load_config(runs[0] / CONFIG_FILE).training.desirable_weight == advice.value
