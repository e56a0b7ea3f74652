"""Confirm dialogs and the key help: what is highlighted is what Enter does; Enter alone never
does the destructive thing; the help scrolls with the keyboard at once."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from textual.app import App, ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Button, Label

from synapse_core.config import RunConfig
from synapse_tui.app import SynapseApp
from synapse_tui.panes.training import TrainingPane
from synapse_tui.screens.confirm import ConfirmScreen
from synapse_tui.screens.help import HelpScreen
from synapse_tui.screens.quit_run import LEAVE, STOP, QuitRunScreen

DIALOGS = [
    ("Stop training? A checkpoint is saved first.", "Stop"),
    ("Replace run.toml?", "Replace"),
]


class DialogHost(App[None]):
    """Opens one ConfirmScreen and records its answers."""

    def __init__(self, question: str, label: str) -> None:
        super().__init__()
        self.question, self.label = question, label
        self.answers: list[bool | None] = []

    def compose(self) -> ComposeResult:
        yield Label("behind the dialog")

    def ask(self) -> None:
        self.push_screen(ConfirmScreen(self.question, self.label), self.answers.append)


def _highlighted(screen: ConfirmScreen | QuitRunScreen) -> list[str]:
    """Ids of the buttons drawn highlighted (a background other than the dialog's)."""
    dialog = screen.query_one("Vertical").styles.background
    return [b.id or "" for b in screen.query(Button) if b.styles.background != dialog]


@pytest.mark.parametrize(("question", "label"), DIALOGS)
async def test_enter_does_what_is_highlighted_and_cancel_is_the_default(
        question: str, label: str) -> None:
    app = DialogHost(question, label)
    async with app.run_test(size=(80, 24)) as pilot:
        app.ask()
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, ConfirmScreen)
        cancel = screen.query_one("#confirm-cancel", Button)
        # opens on Cancel: focused, the only highlighted button, and the hint says so
        assert screen.focused is cancel
        assert _highlighted(screen) == ["confirm-cancel"]
        assert "enter: Cancel" in str(screen.query_one("#confirm-hint", Label).render())
        await pilot.press("enter")
        await pilot.pause()
        assert app.answers == [False]  # Enter alone never confirms

        for move in ("right", "tab"):
            app.ask()
            await pilot.pause()
            screen = app.screen
            await pilot.press(move)
            await pilot.pause()
            ok = screen.query_one("#confirm-ok", Button)
            assert screen.focused is ok
            assert _highlighted(screen) == ["confirm-ok"]
            assert f"enter: {label}" in str(screen.query_one("#confirm-hint", Label).render())
            await pilot.press("enter")
            await pilot.pause()
        assert app.answers == [False, True, True]

        app.ask()  # back from the destructive button: Enter cancels again
        await pilot.pause()
        await pilot.press("right", "left", "enter")
        await pilot.pause()
        app.ask()
        await pilot.pause()
        await pilot.press("escape")
        await pilot.pause()
        assert app.answers == [False, True, True, False, False]


class QuitHost(App[None]):
    """Opens the quit-with-a-run question and records its answers."""

    def __init__(self) -> None:
        super().__init__()
        self.answers: list[str | None] = []

    def compose(self) -> ComposeResult:
        yield Label("behind the dialog")

    def ask(self) -> None:
        self.push_screen(QuitRunScreen("run-20260101-000000"), self.answers.append)


async def test_quit_with_a_run_highlights_what_enter_presses() -> None:
    """Quit while a run trains: "Leave it training" (nothing lost) is focused and the only
    highlighted button; moving to "Stop it" moves the highlight, and Enter presses it."""
    app = QuitHost()
    async with app.run_test(size=(80, 24)) as pilot:
        app.ask()
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, QuitRunScreen)
        assert screen.focused is screen.query_one("#quit-leave", Button)
        assert _highlighted(screen) == ["quit-leave"]
        await pilot.press("enter")
        await pilot.pause()
        app.ask()
        await pilot.pause()
        screen = app.screen
        await pilot.press("left")
        await pilot.pause()
        assert _highlighted(screen) == ["quit-stop"]
        await pilot.press("enter")
        await pilot.pause()
        app.ask()
        await pilot.pause()
        await pilot.press("escape")
        await pilot.pause()
        assert app.answers == [LEAVE, STOP, None]


async def test_help_scrolls_with_the_keyboard_at_once(tmp_path: Path) -> None:
    """At 80x24 the key list is longer than the overlay: the arrow and page keys scroll it
    without a Tab first."""
    cfg = RunConfig()
    cfg.training.runs_dir = str(tmp_path / "runs")
    data = tmp_path / "one.jsonl"
    data.write_text(json.dumps({"messages": [{"role": "user", "content": "Hi"},
                                             {"role": "assistant", "content": "Hello."}]})
                    + "\n", encoding="utf-8")
    cfg.data.path = str(data)
    app = SynapseApp(cfg, initial_tab="training")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        assert "[ui] keymap" in str(app.screen.query_one("#help-text").render())
        scroll = app.screen.query_one("#help-scroll", VerticalScroll)
        assert scroll.max_scroll_y > 0, "the list fits: nothing to scroll at this size"
        assert scroll.has_focus
        await pilot.press("down")
        await pilot.pause()
        assert scroll.scroll_y == 1
        await pilot.press("end")
        await pilot.pause()
        assert scroll.scroll_y == scroll.max_scroll_y
        await pilot.press("pageup", "home")
        await pilot.pause()
        assert scroll.scroll_y == 0
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, HelpScreen)


@pytest.mark.slow
async def test_enter_on_the_stop_and_quit_dialogs_keeps_a_real_run_going(
        tiny_model_dir, tmp_path: Path) -> None:
    """A real run in the app: the Quit question opens on "Leave it training" (escape here:
    stay); Enter on the Stop dialog cancels (the run goes on, no stop requested); choosing
    Stop and pressing Enter stops it."""
    cfg = RunConfig()
    cfg.training.runs_dir = str(tmp_path / "runs")
    cfg.model.name_or_path = str(tiny_model_dir("pixtral"))
    cfg.model.max_seq_length = 64
    t = cfg.training
    t.max_steps, t.per_device_train_batch_size, t.gradient_accumulation_steps = 500, 2, 1
    t.gradient_checkpointing, t.save_steps = False, 1000
    app = SynapseApp(cfg, initial_tab="training")
    async with app.run_test(size=(120, 40)) as pilot:
        pane = app.query_one(TrainingPane)
        await pilot.pause()
        pane.start()
        for _ in range(2400):  # bounded: a broken run fails the test instead of hanging it
            if pane.series.steps or pane.state == "failed":
                break
            await pilot.pause(0.1)
        assert pane.series.steps and pane.active, pane.state
        await pilot.press("ctrl+q")
        await pilot.pause()
        assert isinstance(app.screen, QuitRunScreen)
        assert app.screen.focused is app.screen.query_one("#quit-leave", Button)
        await pilot.press("escape")
        await pilot.pause()
        await pilot.press("x")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("enter")
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmScreen)
        assert app.is_running and pane.active
        assert pane.control is not None and not pane.control.stop_requested.is_set()
        await pilot.press("x")
        await pilot.pause()
        await pilot.press("right", "enter")
        await pilot.pause()
        assert pane.control is not None and pane.control.stop_requested.is_set()
        await pane.wait_finished()
        assert not pane.active
