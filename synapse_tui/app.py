"""SynapseApp: composes the four panes and routes messages between them. It computes nothing.

Panes talk only through ``synapse_tui.messages``; the app finds the receiving pane by its type
and calls its method (RecordsLoaded -> GraphPane.add_records, OpenSample ->
DatasetPane.open_line, ExportRequested -> ExportPane.add_job, RunStateChanged -> the header).
"""

from __future__ import annotations

import asyncio
import gc
import signal
import time
from pathlib import Path

from textual import events, on
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.reactive import Reactive
from textual.screen import Screen
from textual.theme import Theme
from textual.widget import Widget
from textual.widgets import TabbedContent, Tabs, TabPane

from synapse_core.config import RunConfig, config_warnings, write_config
from synapse_tui.commands import SynapseCommands
from synapse_tui.keymap import apply_keymap
from synapse_tui.messages import ExportRequested, OpenSample, RecordsLoaded, RunStateChanged
from synapse_tui.panes.dataset import DatasetPane
from synapse_tui.panes.export import ExportPane
from synapse_tui.panes.graph import GraphPane
from synapse_tui.panes.training import TrainingPane
from synapse_tui.screens.confirm import ConfirmScreen
from synapse_tui.screens.help import HelpScreen
from synapse_tui.screens.quit_run import LEAVE, STOP, QuitRunScreen
from synapse_tui.settings import SettingsError, save_theme, saved_theme
from synapse_tui.themes import DEFAULT_THEME, configured_theme, register_themes
from synapse_tui.widgets.footer import KeyFooter
from synapse_tui.widgets.header import RunHeader

Pane = DatasetPane | GraphPane | TrainingPane | ExportPane
"""Any of the four panes."""

PANES: tuple[tuple[str, str, type[Pane]], ...] = (
    ("dataset", "Dataset", DatasetPane),
    ("graph", "Graph", GraphPane),
    ("training", "Training", TrainingPane),
    ("export", "Export", ExportPane),
)
"""(tab id, tab title, pane class) of each pane, in tab order."""

INPUT_WINDOW_S = 0.1
"""For this long after a key or a mouse press, the garbage collector waits (a young-generation
pass, up to ~10 ms while a run streams, then runs after the key's repaint instead of before
it)."""

STOP_SIGNALS = tuple(getattr(signal, n) for n in ("SIGHUP", "SIGTERM") if hasattr(signal, n))
"""An SSH drop (SIGHUP) or a kill (SIGTERM) ends the app and leaves a run training (it is a
process of its own; the next synapse-tui attaches to it)."""

HARD_EXIT_S = 5.0
"""After a hang-up, the app exits within this long even if the terminal it would restore is
gone (writing to a dead terminal can block the shutdown): nothing is lost, the run is a
process of its own and the app holds no unsaved work."""

TERMINAL_CHECK_S = 2.0
"""How often the app checks that its terminal still exists (an SSH drop that sent no
SIGHUP leaves stdin at end-of-file forever)."""


def freeze_long_lived_objects() -> None:
    """Collect once, then exempt every object alive now from the GC's later passes.

    What is alive once the app has started (widgets, the loaded data set, the graph), and
    again once a run's model is loaded, stays alive for the session. With ~150k such objects
    a full collection took ~100 ms on the UI thread, and a streaming run triggered one every
    few seconds: the worst key latencies. Frozen, a pass scans only what came after.
    """
    gc.collect()
    gc.freeze()


class PaneTab(TabPane):
    """One tab of the app. A widget inside it that takes the focus while the tab is hidden
    (a pane focusing its table when a background load ends) does not bring the tab to the
    front under the user, as ``TabPane`` would; the app then puts the focus back in the
    shown pane (``SynapseApp._keep_focus_in_shown_pane``)."""

    @on(TabPane.Focused)
    def _focused_while_hidden(self, event: TabPane.Focused) -> None:
        if self.app.query_one(TabbedContent).active != self.id:
            event.stop()


class MainScreen(Screen):
    """The app's first screen: Textual's, without the full repaint on every focus move.

    ``Screen.focused`` repaints every cell when the focus moves (a full compositor update,
    ~10 ms here). The widgets that gain and lose the focus repaint themselves, restyled by
    their ``:focus`` rules, so here the focus change repaints nothing else.
    """

    focused: Reactive[Widget | None] = Reactive(None, repaint=False)
    """The focused widget or None (as ``Screen.focused``, without the full repaint)."""


class SynapseApp(App[int]):
    """The synapse-tui dashboard: dataset, knowledge graph, training and export panes."""

    CSS_PATH = "app.tcss"
    VERTICAL_BREAKPOINTS = [(0, "-short"), (32, "-tall")]
    """Screen classes panes can use to lay out for 24-row terminals."""
    AUTO_FOCUS = None  # the shown pane takes the focus (on_mount), not the first tab widget
    TITLE = "synapse-tui"
    COMMANDS = App.COMMANDS | {SynapseCommands}
    BINDINGS = [
        Binding("1,f1", "show_pane('dataset')", "Dataset", id="show-dataset", show=False,
                tooltip="Show the dataset browser"),
        Binding("2,f2", "show_pane('graph')", "Graph", id="show-graph", show=False,
                tooltip="Show the knowledge graph"),
        Binding("3,f3", "show_pane('training')", "Training", id="show-training", show=False,
                tooltip="Show the training panel"),
        Binding("4,f4", "show_pane('export')", "Export", id="show-export", show=False,
                tooltip="Show the export queue"),
        Binding("question_mark", "help", "Keys", id="show-help",
                tooltip="List every key binding and its id"),
        Binding("ctrl+q", "quit", "Quit", id="quit", priority=True,
                tooltip="Quit (asks first while a run is training)"),
    ]

    def __init__(self, config: RunConfig, *, data_label: str = "",
                 initial_tab: str = "dataset", theme: str | None = None) -> None:
        """``theme`` is a theme given on the command line; without one the run config's
        ``[ui] theme`` is used when it sets one, else the theme the user last picked."""
        super().__init__()
        self.config = config
        self.data_label = data_label or config.data.path or "demo (prof_synapse.jsonl)"
        self.initial_tab = initial_tab
        self._started = False
        self._gc_held = False
        self.last_input_at = -INPUT_WINDOW_S
        """``time.monotonic()`` of the last key or mouse press."""
        self._startup_warnings = register_themes(self)
        # settings that leave a label class empty: said where the user looks, not on stderr
        self._startup_warnings += [str(w) for w in config_warnings(config)]
        wanted = theme or configured_theme(config)
        if wanted is None:
            try:
                wanted = saved_theme()
            except SettingsError as e:
                self._startup_warnings.append(f"settings: {e}")
        wanted = wanted or DEFAULT_THEME
        if wanted not in self.available_themes:
            # themes/ missing entirely (an install without it) still leaves Textual's own
            fallback = DEFAULT_THEME if DEFAULT_THEME in self.available_themes else "textual-dark"
            self._startup_warnings.append(f"ui.theme: unknown theme {wanted!r}; "
                                          f"using {fallback}")
            wanted = fallback
        self.theme = wanted

    # ------------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        yield RunHeader(id="header")
        with TabbedContent(initial=self.initial_tab, id="tabs"):
            for n, (tab_id, title, pane_cls) in enumerate(PANES, 1):
                with PaneTab(f"{n} {title}", id=tab_id):
                    yield pane_cls(self.config, id=f"{tab_id}-pane")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one(RunHeader).data_label = self.data_label
        unknown = apply_keymap(self, self.config.ui.keymap)
        if unknown:
            self._startup_warnings.append("ui.keymap: no binding with id "
                                          + ", ".join(unknown))
        for line in self._startup_warnings:
            self.notify(line, severity="warning", timeout=10)
        self._install_signal_handlers()
        if not self.is_headless and _has_terminal():
            self.set_interval(TERMINAL_CHECK_S, self._check_terminal)
        # subscribed after the start-up theme is set: only the user's own picks are saved
        self.theme_changed_signal.subscribe(self, self._remember_theme)
        # After the panes' own deferred focus calls (a focus inside a hidden tab is sent
        # back to the shown one: see PaneTab).
        self.call_after_refresh(self.action_show_pane, self.initial_tab)
        self.call_after_refresh(self._attach_live_run)

    def _attach_live_run(self) -> None:
        """A run training in the background (``synapse train --detach``, a dashboard that
        was left): the training pane attaches to the newest."""
        self.query_one(TrainingPane).attach_newest_live()

    def get_default_screen(self) -> Screen:
        """The screen the panes live on (see ``MainScreen``)."""
        return MainScreen(id="_default")

    # ------------------------------------------------------------------ panes

    def pane(self, tab_id: str) -> Pane:
        """The pane in tab ``tab_id``."""
        return self.query_one(f"#{tab_id}-pane", next(c for t, _, c in PANES if t == tab_id))

    def panes(self) -> list[tuple[str, Pane]]:
        """(tab title, pane) of every pane, in tab order."""
        return [(title, self.pane(tab_id)) for tab_id, title, _ in PANES]

    def tab_of(self, pane: Widget) -> str:
        """The tab id that holds ``pane``."""
        return next(tab_id for tab_id, _, cls in PANES if isinstance(pane, cls))

    async def run_pane_action(self, pane: Widget, action: str) -> bool:
        """Show ``pane``'s tab, then run one of its binding's actions (the palette's way of
        pressing a pane's key); False when the action cannot act now."""
        self.action_show_pane(self.tab_of(pane))
        return await self.run_action(action, pane)

    def action_show_pane(self, tab_id: str) -> None:
        """Switch to tab ``tab_id`` and put the focus in its pane."""
        self.query_one(TabbedContent).active = tab_id
        self.call_after_refresh(self._focus_pane, tab_id)

    def _focus_pane(self, tab_id: str) -> None:
        pane = self.pane(tab_id)
        if pane.focusable:
            pane.focus()
            return
        for widget in pane.query("*"):
            if widget.focusable:
                widget.focus()
                return

    def on_descendant_blur(self) -> None:
        self.call_after_refresh(self._keep_focus_in_shown_pane)

    def on_descendant_focus(self) -> None:
        self.call_after_refresh(self._keep_focus_in_shown_pane)

    def _keep_focus_in_shown_pane(self) -> None:
        # A hidden pane may focus one of its widgets (on mount, after a load): the shown
        # pane's keys would stop working, or the focus would vanish when that widget hides.
        if self.screen is not self.screen_stack[0]:
            return
        tabs = self.query_one(TabbedContent)
        focused = self.focused
        if focused is not None:
            chain = (focused, *focused.ancestors)
            if any(isinstance(node, Tabs) for node in chain):
                return  # the tab bar itself (arrow keys between tabs)
            if self.pane(tabs.active) in chain:
                return
        self._focus_pane(tabs.active)

    # ------------------------------------------------------------------ routing

    @on(RecordsLoaded)
    def _records_loaded(self, message: RecordsLoaded) -> None:
        self.query_one(GraphPane).add_records(message.records, message.done)
        if message.done and not self._started:
            self._started = True  # the start-up load is complete
            self.call_after_refresh(freeze_long_lived_objects)

    @on(OpenSample)
    def _open_sample(self, message: OpenSample) -> None:
        self.action_show_pane("dataset")
        self.query_one(DatasetPane).open_line(message.line)

    @on(ExportRequested)
    def _export_requested(self, message: ExportRequested) -> None:
        if self.query_one(ExportPane).add_job(message.run_dir) is not None:
            self.notify(f"Export queued: {message.run_dir}")

    @on(RunStateChanged)
    def _run_state_changed(self, message: RunStateChanged) -> None:
        header = self.query_one(RunHeader)
        if header.state == "loading" and message.state == "training":
            freeze_long_lived_objects()  # the run's model is loaded and stays
        header.state = message.state
        header.detail = message.detail

    # ------------------------------------------------------------------ themes

    def _remember_theme(self, theme: Theme) -> None:
        """The user picked ``theme`` (palette, theme picker): keep it for the next start (and
        in the settings "write config" writes)."""
        self.config.ui.theme = theme.name
        try:
            save_theme(theme.name)
        except OSError as e:  # a read-only home must not break the theme switch itself
            self.notify(f"Theme not remembered: {e}", severity="warning")

    # ------------------------------------------------------------------ key latency

    async def on_event(self, event: events.Event) -> None:
        """Note a key or mouse press and hold the garbage collector while it is handled and
        repainted (see ``INPUT_WINDOW_S``), then handle the event as ``App`` does."""
        if isinstance(event, (events.Key, events.MouseDown)):
            self.last_input_at = time.monotonic()
            if not self._gc_held and gc.isenabled():
                gc.disable()
                self._gc_held = True
                self.set_timer(INPUT_WINDOW_S, self._release_gc)
        await super().on_event(event)

    def _release_gc(self) -> None:
        self._gc_held = False
        gc.enable()

    # ------------------------------------------------------------------ app actions

    def action_help(self) -> None:
        """Show every active key binding with its id."""
        rows = sorted({(ab.binding.key_display or self.get_key_display(ab.binding),
                        ab.binding.description or ab.binding.action, ab.binding.id or "")
                       for ab in self.screen.active_bindings.values()
                       if ab.binding.description}, key=lambda r: r[2] or r[1])
        self.push_screen(HelpScreen(rows))

    def config_target(self) -> Path:
        """Where "write config" writes: the loaded file, else ``run.toml`` in the cwd."""
        return Path(self.config.source) if self.config.source else Path.cwd() / "run.toml"

    def action_write_config(self) -> None:
        """Write the current settings as TOML (asks before replacing another file)."""
        target = self.config_target()

        def write(yes: bool | None = True) -> None:
            if yes:
                write_config(self.config, target)
                self.notify(f"Config written to {target}")

        if target.exists() and str(target) != (self.config.source or ""):
            self.push_screen(ConfirmScreen(f"Replace {target}?", "Replace"), write)
        else:
            write()

    async def action_quit(self) -> None:
        """Quit; while a run trains, ask: leave it training (default), stop it, or cancel."""
        pane = self.query_one(TrainingPane)
        if not pane.active:
            self.exit()
            return

        def answered(choice: str | None) -> None:
            if choice == LEAVE:
                pane.detach()
                self.run_worker(self._exit_after_training(0), group="shutdown")
            elif choice == STOP and pane.stop_run("user"):
                self.run_worker(self._exit_after_training(0), group="shutdown")

        name = Path(pane.run_dir).name if pane.run_dir else "(starting)"
        self.push_screen(QuitRunScreen(name), answered)

    async def _exit_after_training(self, code: int) -> None:
        await self.query_one(TrainingPane).wait_finished()
        self.exit(return_code=code)

    # ------------------------------------------------------------------ signals

    def _install_signal_handlers(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in STOP_SIGNALS:
            try:
                loop.add_signal_handler(sig, self.handle_stop_signal, int(sig))
            except (NotImplementedError, RuntimeError, ValueError):
                # Not the main thread or not a Unix loop: the default action stays.
                return

    def on_unmount(self) -> None:
        if self._gc_held:  # exiting within the input window: the timer will not fire
            self._release_gc()
        loop = asyncio.get_running_loop()
        for sig in STOP_SIGNALS:
            try:
                loop.remove_signal_handler(sig)
            except (NotImplementedError, RuntimeError, ValueError):
                return  # never installed (see _install_signal_handlers)

    def handle_stop_signal(self, signum: int) -> None:
        """SIGHUP/SIGTERM: leave a run training (a process of its own), then exit, within
        ``HARD_EXIT_S`` even if the terminal is gone."""
        self.query_one(TrainingPane).detach()
        if not self.is_headless:  # a real terminal (a test's app shares pytest's process)
            _exit_soon(128 + signum)
        self.exit(return_code=128 + signum)

    def _check_terminal(self) -> None:
        if not _has_terminal():  # the terminal went away without a SIGHUP reaching us
            self.handle_stop_signal(int(getattr(signal, "SIGHUP", 1)))


def _has_terminal() -> bool:
    """Whether this process still has its controlling terminal (``/dev/tty`` opens)."""
    import os

    try:
        fd = os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY)
    except OSError:
        return False
    os.close(fd)
    return True


def _exit_soon(code: int) -> None:
    """End the process after ``HARD_EXIT_S`` unless it ended by itself: restoring a terminal
    that is gone can block Textual's shutdown forever (seen after an SSH drop)."""
    import os
    import threading

    def later() -> None:
        time.sleep(HARD_EXIT_S)  # a daemon thread: returns never if the app exits first
        os._exit(code)

    threading.Thread(target=later, name="synapse-exit-guard", daemon=True).start()
