"""The command palette's synapse commands (ctrl+p): panes, training, export, theme, config.

Each command only calls an action of the app or the training pane; the palette adds no
behaviour of its own, so everything here is also reachable by key.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, cast

from textual.command import DiscoveryHit, Hit, Hits, Provider

if TYPE_CHECKING:
    from synapse_tui.app import SynapseApp

Command = tuple[str, str, Callable[[], object]]


class SynapseCommands(Provider):
    """Commands for switching panes, steering training, exporting, theming and config."""

    def _commands(self) -> list[Command]:
        app = cast("SynapseApp", self.app)
        cmds: list[Command] = []
        for tab_id, title in app.pane_titles():
            cmds.append((f"Show {title.lower()} pane", f"Switch to the {title} tab",
                         partial(app.action_show_pane, tab_id)))
        training = [
            ("start", "Training: start a run", "Start training with the current config"),
            ("stop", "Training: stop the run", "Checkpoint, then stop (asks first)"),
            ("toggle_pause", "Training: pause / resume", "Pause or resume the running run"),
            ("checkpoint", "Training: checkpoint now", "Save a checkpoint after this step"),
            ("open_run", "Training: open a past run", "Show the curves of a past run"),
            ("resume_run", "Training: resume the opened run",
             "Continue the opened run from its last checkpoint"),
            ("export", "Export: queue the finished or opened run",
             "Send the run to the export queue"),
        ]
        for action, title, help_text in training:
            cmds.append((title, help_text, partial(app.training_action, action)))
        for name in sorted(app.available_themes):
            cmds.append((f"Theme: {name}", "Switch the colour theme",
                         partial(setattr, app, "theme", name)))
        cmds.append(("Config: write the current settings", f"Write {app.config_target()}",
                     app.action_write_config))
        cmds.append(("Help: keys", "List every key binding and its id", app.action_help))
        return cmds

    async def discover(self) -> Hits:
        """Show the pane and training commands before anything is typed."""
        for title, help_text, callback in self._commands():
            if not title.startswith("Theme:"):
                yield DiscoveryHit(title, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        """Fuzzy-match the query against every command's title."""
        matcher = self.matcher(query)
        for title, help_text, callback in self._commands():
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title), callback, help=help_text)
