"""The app shell: panes by key and mouse, palette, themes, keymap, routing, signals, CLI."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest
from textual.widgets import TabbedContent

from synapse_core.config import RunConfig, load_config
from synapse_tui.__main__ import main
from synapse_tui.app import SynapseApp
from synapse_tui.messages import OpenSample, RunStateChanged
from synapse_tui.screens.help import HelpScreen
from synapse_tui.widgets.header import RunHeader

ROWS = [
    {"conversations": [{"from": "human", "value": "What is entropy?"},
                       {"from": "gpt", "value": "<reasoning><kg><tri><subj>entropy</subj>"
                        "<pred>measures</pred><obj>disorder</obj></tri></kg></reasoning>"
                        "🧙 Entropy measures disorder."}],
     "quality_metrics": {"conversation_quality": 0.9, "bias_detection": 0.1,
                         "reasoning_quality": 0.8}},
    {"messages": [{"role": "user", "content": "Why is the sky blue?"},
                  {"role": "assistant", "content": "🧙 Rayleigh scattering.",
                   "reasoning": "<kg><tri><subj>sky</subj><pred>looks</pred>"
                                "<obj>blue</obj></tri></kg>"}]},
]


@pytest.fixture
def config(tmp_path: Path) -> RunConfig:
    data = tmp_path / "tiny.jsonl"
    data.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in ROWS),
                    encoding="utf-8")
    cfg = RunConfig()
    cfg.data.path = str(data)
    cfg.training.runs_dir = str(tmp_path / "runs")
    return cfg


def _active(app: SynapseApp) -> str:
    return app.query_one(TabbedContent).active


def _toasts(app: SynapseApp) -> list[str]:
    """The text of every notification shown on the screen now."""
    return [str(toast.render()) for toast in app.screen.query("Toast")]


async def test_switch_panes_by_key_and_mouse(config: RunConfig) -> None:
    app = SynapseApp(config)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        assert _active(app) == "dataset"
        for key, tab in (("3", "training"), ("2", "graph"), ("4", "export"), ("1", "dataset"),
                         ("f3", "training"), ("f4", "export")):
            await pilot.press(key)
            await pilot.pause()
            assert _active(app) == tab, key
        # the focus lands inside the shown pane, so its keys work at once
        await pilot.press("3")
        await pilot.pause()
        assert app.focused is not None and app.pane("training") in (app.focused,
                                                                    *app.focused.ancestors)
        await pilot.click("#--content-tab-graph")
        await pilot.pause()
        assert _active(app) == "graph"


async def test_palette_switches_pane_and_theme(config: RunConfig) -> None:
    app = SynapseApp(config)
    async with app.run_test(size=(120, 40)) as pilot:
        assert app.theme == "synapse-dark"
        assert {"synapse-dark", "synapse-light", "synapse-contrast"} <= set(app.available_themes)
        await pilot.press("ctrl+p")
        await pilot.pause()
        assert app.screen.__class__.__name__ == "CommandPalette"
        await pilot.press(*"show the training panel")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await pilot.pause()
        assert _active(app) == "training"
        await pilot.press("ctrl+p")
        await pilot.press(*"theme: synapse-light")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await pilot.pause()
        assert app.theme == "synapse-light"


async def test_theme_from_config_and_unknown_theme_warns(config: RunConfig) -> None:
    config.ui.theme = "synapse-light"
    app = SynapseApp(config)
    async with app.run_test(size=(120, 40)):
        assert app.theme == "synapse-light"
    config.ui.theme = "no-such-theme"
    app = SynapseApp(config)
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await pilot.pause()
        assert app.theme == "synapse-dark"
        assert any("no-such-theme" in text for text in _toasts(app))


async def test_a_setting_that_empties_a_label_class_is_shown(config: RunConfig) -> None:
    config.scoring.threshold = 5.0
    app = SynapseApp(config)
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await pilot.pause()
        shown = [str(toast.render()) for toast in app.screen.query("Toast")]
        assert any("scoring.threshold: 5.0 is above the best reachable score" in text
                   for text in shown), shown


async def test_keymap_override_from_config(config: RunConfig) -> None:
    config.ui.keymap = {"show-training": "f9", "no-such-binding": "f10"}
    app = SynapseApp(config)
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await pilot.pause()
        await pilot.press("3")  # the old key no longer shows the training pane
        await pilot.pause()
        assert _active(app) == "dataset"
        await pilot.press("f9")
        await pilot.pause()
        assert _active(app) == "training"
        assert any("no-such-binding" in text for text in _toasts(app))


async def test_header_shows_run_state_and_data(config: RunConfig) -> None:
    app = SynapseApp(config)
    async with app.run_test(size=(120, 40)) as pilot:
        header = app.query_one(RunHeader)
        assert header.data_label == config.data.path
        app.pane("training").post_message(RunStateChanged("training", "step 3"))
        await pilot.pause()
        assert header.state == "training" and header.has_class("-busy")
        assert "run: training · step 3" in str(app.query_one("#header-state").render())


async def test_loaded_records_reach_the_graph(config: RunConfig) -> None:
    """The dataset pane's RecordsLoaded is routed to GraphPane.add_records: the two triplets
    of the fixture file become graph edges."""
    app = SynapseApp(config)
    async with app.run_test(size=(120, 40)) as pilot:
        graph = app.pane("graph").graph
        for _ in range(100):
            if graph.edges >= 2:
                break
            await pilot.pause(0.1)
        assert graph.edges == 2 and graph.nodes == 4


async def test_open_sample_routes_to_dataset(config: RunConfig) -> None:
    app = SynapseApp(config, initial_tab="graph")
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        app.pane("graph").post_message(OpenSample(2))
        await pilot.pause()
        assert _active(app) == "dataset"


async def test_help_lists_binding_ids(config: RunConfig) -> None:
    app = SynapseApp(config, initial_tab="training")
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        ids = {row[2] for row in app.screen.rows}
        assert {"show-help", "quit", "start-training"} <= ids
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)


async def test_signal_without_run_exits(config: RunConfig) -> None:
    app = SynapseApp(config)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        app.handle_stop_signal(int(signal.SIGTERM))
        await pilot.pause()
    assert app.return_code == 128 + int(signal.SIGTERM)


async def test_write_config_from_palette_command(config: RunConfig, tmp_path: Path,
                                                 monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    app = SynapseApp(config)
    async with app.run_test(size=(120, 40)) as pilot:
        app.action_write_config()
        await pilot.pause()
    written = load_config(tmp_path / "run.toml")
    assert written.data.path == config.data.path


def test_cli_write_config_and_errors(tmp_path: Path, capsys) -> None:
    target = tmp_path / "run.toml"
    assert main(["--write-config", str(target)]) == 0
    assert load_config(target) == RunConfig()
    assert main(["--write-config", str(target)]) == 1  # never overwrites
    assert "exists" in capsys.readouterr().err

    bad = tmp_path / "bad.toml"
    bad.write_text("[training]\nlearning_rate = -1\n", encoding="utf-8")
    assert main(["--config", str(bad)]) == 2
    err = capsys.readouterr().err
    assert f"{bad}: training.learning_rate:" in err and "out of range" in err

    assert main(["--theme", "no-such-theme", "--config", str(target)]) == 2
    assert "synapse-light" in capsys.readouterr().err

    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert "synapse-tui" in capsys.readouterr().out


@pytest.mark.slow
@pytest.mark.parametrize("how", ["quit-leave", "sighup"])
async def test_the_run_outlives_the_app(config: RunConfig, tiny_model_dir, how: str) -> None:
    """The app starts a real run, then goes away (quit -> "leave it training", the default;
    or an SSH drop: a real SIGHUP to this process). The run process trains on to max_steps:
    state.json says finished and metrics.jsonl has every step once."""
    import os

    import psutil

    from synapse_core.training.rundir import load_metrics, read_state
    from synapse_tui.screens.quit_run import QuitRunScreen

    config.data.path = ""  # the demo dataset: enough rows for both KTO labels
    config.model.name_or_path = str(tiny_model_dir("pixtral"))
    config.model.max_seq_length = 64
    t = config.training
    t.max_steps, t.per_device_train_batch_size, t.gradient_accumulation_steps = 4, 2, 1
    t.gradient_checkpointing, t.save_steps = False, 1000
    app = SynapseApp(config, initial_tab="training")
    async with app.run_test(size=(120, 40)) as pilot:
        pane = app.pane("training")
        pane.start()
        for _ in range(2400):  # bounded: a broken run fails the test instead of hanging it
            if pane.series.steps or pane.state == "failed":
                break
            await pilot.pause(0.1)
        assert pane.series.steps, pane.state
        pid = read_state(Path(pane.run_dir))["pid"]
        if how == "quit-leave":
            await pilot.press("ctrl+q")
            await pilot.pause()
            assert isinstance(app.screen, QuitRunScreen)
            await pilot.press("enter")  # the focused, default choice: leave it training
        else:
            os.kill(os.getpid(), signal.SIGHUP)
        for _ in range(600):
            if app.return_code is not None:
                break
            await pilot.pause(0.1)
    assert app.return_code == (0 if how == "quit-leave" else 128 + int(signal.SIGHUP))
    run = Path(pane.run_dir)
    psutil.Process(pid).wait(timeout=300)  # the run process, left training, ends by itself
    assert read_state(run)["state"] == "finished"
    assert [r["step"] for r in load_metrics(run)] == [1, 2, 3, 4]


async def test_footer_rebuilds_only_when_its_keys_change(config: RunConfig) -> None:
    from synapse_tui.widgets.footer import KeyFooter

    app = SynapseApp(config, initial_tab="training")
    async with app.run_test(size=(120, 40)) as pilot:
        footer = app.query_one(KeyFooter)

        def keys() -> set[str]:
            return {key.key for key in footer.query("FooterKey")}

        for _ in range(100):  # bounded wait for the first compose with the pane's keys
            if {"s", "l"} <= keys():
                break
            await pilot.pause(0.05)
        assert {"s", "l"} <= keys()  # the training pane's keys are shown
        await pilot.pause(0.3)
        before = footer.recomposes
        for _ in range(4):  # focus moves inside the pane: same keys, no rebuild
            await pilot.press("tab")
            await pilot.pause(0.05)
        assert footer.recomposes == before
        await pilot.press("1")  # the dataset pane: other keys, rebuilt once at least
        for _ in range(100):
            if "l" not in keys():
                break
            await pilot.pause(0.05)
        assert footer.recomposes > before and "l" not in keys()


async def test_gc_waits_for_a_keys_repaint_and_long_lived_objects_are_frozen(
        config: RunConfig, monkeypatch) -> None:
    import gc

    gc.unfreeze()  # what earlier tests froze: this app must freeze its own start-up
    app = SynapseApp(config, initial_tab="training")
    async with app.run_test(size=(120, 40)) as pilot:
        for _ in range(100):  # bounded wait for the start-up load to complete
            if gc.get_freeze_count():
                break
            await pilot.pause(0.05)
        assert gc.get_freeze_count() > 0
        gc.unfreeze()
        app.post_message(RunStateChanged("loading"))
        await pilot.pause()
        assert gc.get_freeze_count() == 0
        app.post_message(RunStateChanged("training"))  # the run's model has loaded
        await pilot.pause()
        assert gc.get_freeze_count() > 0
        collecting: list[bool] = []
        focus_next = app.action_focus_next

        def recording_focus_next() -> None:
            collecting.append(gc.isenabled())
            focus_next()

        monkeypatch.setattr(app, "action_focus_next", recording_focus_next)
        before = app.last_input_at
        await pilot.press("tab")
        assert collecting == [False]  # no GC pass between the key and its repaint
        assert app.last_input_at > before  # the screen repaints at once for a while
        for _ in range(100):  # ... and collection resumes soon after
            if gc.isenabled():
                break
            await pilot.pause(0.05)
        assert gc.isenabled()
    gc.unfreeze()


async def test_quitting_right_after_a_key_leaves_the_gc_enabled(config: RunConfig) -> None:
    import gc

    app = SynapseApp(config, initial_tab="training")
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await pilot.press("ctrl+q")  # no run: exits at once, inside the key's GC hold
    enabled = gc.isenabled()
    gc.enable()  # for the tests after this one, whatever the outcome
    assert enabled


async def test_picked_theme_is_remembered_but_the_config_file_wins(
        config: RunConfig, tmp_path: Path, _own_config_home: Path) -> None:
    """A theme picked in the palette is the next start's theme (a per-user settings file,
    here in the test's own XDG config folder); a config file's ``[ui] theme`` and
    ``--theme`` still win; a broken settings file is reported and the default used."""
    from synapse_tui.settings import settings_path

    app = SynapseApp(config)
    async with app.run_test(size=(120, 40)) as pilot:
        assert app.theme == "synapse-dark"
        await pilot.press("ctrl+p", *"theme: synapse-light")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await pilot.pause()
        assert app.theme == "synapse-light"
    assert settings_path().is_relative_to(_own_config_home)
    assert 'theme = "synapse-light"' in settings_path().read_text(encoding="utf-8")

    async with SynapseApp(RunConfig()).run_test(size=(120, 40)) as pilot:
        assert pilot.app.theme == "synapse-light"  # remembered across a restart

    pinned = tmp_path / "pinned.toml"
    pinned.write_text('[ui]\ntheme = "synapse-dark"\n', encoding="utf-8")
    async with SynapseApp(load_config(pinned)).run_test(size=(120, 40)) as pilot:
        assert pilot.app.theme == "synapse-dark"  # the config file spells it out: it wins
    async with SynapseApp(RunConfig(), theme="synapse-contrast").run_test(
            size=(120, 40)) as pilot:
        assert pilot.app.theme == "synapse-contrast"  # --theme
    assert 'theme = "synapse-light"' in settings_path().read_text(encoding="utf-8")

    settings_path().write_text("[ui\n", encoding="utf-8")
    app = SynapseApp(RunConfig())
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await pilot.pause()
        assert app.theme == "synapse-dark"
        assert any("settings.toml" in text for text in _toasts(app))


async def test_a_focus_in_a_hidden_pane_does_not_switch_tabs(config: RunConfig) -> None:
    """A pane that focuses one of its widgets while hidden (the dataset pane does when its
    load ends) must not pull its tab over the one the user is on."""
    app = SynapseApp(config, initial_tab="training")
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        assert _active(app) == "training"
        hidden = next(w for w in app.pane("dataset").query("*") if w.focusable)
        hidden.focus()
        await pilot.pause()
        assert _active(app) == "training"
        assert app.focused is not None and app.pane("training") in (app.focused,
                                                                    *app.focused.ancestors)


async def test_narrow_footer_pins_the_help_key(config: RunConfig) -> None:
    """Below 100 columns the keys that do not fit are one "?" away: "? Keys" is pinned at
    the footer's right edge (the palette key's place) and opens the full list."""
    from synapse_tui.widgets.footer import KeyFooter

    app = SynapseApp(config)  # the dataset pane: more keys than 80 columns hold
    async with app.run_test(size=(120, 40)) as pilot:
        footer = app.query_one(KeyFooter)

        def at_right_edge(name: str) -> bool:
            """Key ``name`` is shown, ending at the footer's right edge."""
            return any(k.key == name and k.region.right == footer.region.right
                       for k in footer.query("FooterKey"))

        async def until(condition) -> bool:  # noqa: ANN001 - a callable
            for _ in range(200):  # bounded: the footer recomposes as the load and focus settle
                if condition():
                    return True
                await pilot.pause(0.05)
            return False

        assert await until(lambda: at_right_edge("ctrl+p"))  # the palette's key, wide
        await pilot.resize_terminal(80, 24)
        assert await until(lambda: at_right_edge("question_mark")
                           and not any(k.key == "ctrl+p" for k in footer.query("FooterKey")))
        assert footer.region.right == 80
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)


async def test_palette_offers_each_pane_key_by_its_tooltip(config: RunConfig) -> None:
    """Palette commands come from the bindings: a pane's key is found by its tooltip, and
    choosing it shows the pane and runs the key's action there."""
    from synapse_tui.commands import binding_commands
    from synapse_tui.panes.graph import GraphPane
    from synapse_tui.panes.training import TrainingPane

    app = SynapseApp(config)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        titles = {cmd.title for cmd in binding_commands(app)}
        for binding in GraphPane.BINDINGS:
            assert f"Graph: {binding.tooltip}" in titles
        assert "Training: Start a training run" in titles
        assert "Training: Pause or resume the running run" not in titles  # no run: not now
        assert app.query_one(GraphPane).sort == "degree"
        await pilot.press("ctrl+p", *"sort the entity list")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await pilot.pause()
        assert _active(app) == "graph"
        assert app.query_one(GraphPane).sort == "pagerank"
        assert not app.query_one(TrainingPane).active


async def test_training_buttons_run_their_keys_actions(config: RunConfig) -> None:
    """A button of the training pane runs the same action as its key (through Textual's
    action system): "Open run" opens the run picker, "Stop" with no run does nothing."""
    from synapse_tui.screens.open_run import OpenRunScreen

    app = SynapseApp(config, initial_tab="training")
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await pilot.click("#btn-stop")
        await pilot.pause()
        assert app.screen is app.screen_stack[0]  # disabled: no question asked
        await pilot.click("#btn-open")
        await pilot.pause()
        assert isinstance(app.screen, OpenRunScreen)
