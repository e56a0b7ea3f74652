"""The command palette's synapse commands (ctrl+p), built from the key bindings.

Every binding of the app and of the four panes that has a tooltip becomes a command: the
tooltip is its title (prefixed with the pane's name), the key and binding id its help, and
choosing it runs the binding's own action through Textual's action system, on the pane, after
showing the pane's tab. So each text is written once (in ``BINDINGS``), the palette adds no
behaviour of its own, and a command the pane cannot do now (``check_action``) is not offered,
as its key is not shown in the footer. Themes and "write config", which have no key, are the
only commands written here.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, replace
from functools import partial
from typing import TYPE_CHECKING, cast

from textual.actions import parse
from textual.binding import Binding
from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.dom import DOMNode

if TYPE_CHECKING:
    from synapse_tui.app import SynapseApp


@dataclass(frozen=True)
class Command:
    """One palette entry."""

    title: str
    help: str
    callback: Callable[[], object | Awaitable[object]]
    discover: bool = True
    """Listed before anything is typed (themes are found by typing only)."""


def _bindings(node: DOMNode) -> Iterator[Binding]:
    """The node's own bindings that have a tooltip (what the palette can describe)."""
    for klass in type(node).__mro__:
        for binding in klass.__dict__.get("BINDINGS", ()) or ():
            if isinstance(binding, Binding) and binding.tooltip:
                yield binding


def _can_run(node: DOMNode, action: str) -> bool:
    """Whether ``node`` allows ``action`` now (as the footer decides what it shows)."""
    _, name, params = parse(action)
    return bool(node.check_action(name, params))


def binding_commands(app: SynapseApp) -> list[Command]:
    """The app's and every pane's bindings as palette commands, in tab order."""
    cmds: list[Command] = []
    for binding in _bindings(app):
        if binding.action != "quit":  # Textual's own "Quit" command is already there
            cmds.append(Command(binding.tooltip, _key_help(app, binding),
                                partial(app.run_action, binding.action)))
    for title, pane in app.panes():
        for binding in _bindings(pane):
            if _can_run(pane, binding.action):
                cmds.append(Command(f"{title}: {binding.tooltip}", _key_help(app, binding),
                                    partial(app.run_pane_action, pane, binding.action)))
    return cmds


def _key_help(app: SynapseApp, binding: Binding) -> str:
    keys = " / ".join(app.get_key_display(replace(binding, key=key.strip()))
                      for key in binding.key.split(","))
    return f"key {keys} · id {binding.id}" if binding.id else f"key {keys}"


class SynapseCommands(Provider):
    """Commands for every key of the app and its panes, plus themes and writing the config."""

    def _commands(self) -> list[Command]:
        app = cast("SynapseApp", self.app)
        cmds = binding_commands(app)
        for name in sorted(app.available_themes):
            cmds.append(Command(f"Theme: {name}", "Switch the colour theme (remembered)",
                                partial(setattr, app, "theme", name), discover=False))
        cmds.append(Command("Config: write the current settings",
                            f"Write {app.config_target()}", app.action_write_config))
        return cmds

    async def discover(self) -> Hits:
        """Show the key commands before anything is typed."""
        for cmd in self._commands():
            if cmd.discover:
                yield DiscoveryHit(cmd.title, cmd.callback, help=cmd.help)

    async def search(self, query: str) -> Hits:
        """Fuzzy-match the query against every command's title."""
        matcher = self.matcher(query)
        for cmd in self._commands():
            score = matcher.match(cmd.title)
            if score > 0:
                yield Hit(score, matcher.highlight(cmd.title), cmd.callback, help=cmd.help)
