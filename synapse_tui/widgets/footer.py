"""The key footer: rebuilt only when the keys it shows change; "? Keys" always in sight.

Textual's ``Footer`` removes and re-mounts all of its key widgets whenever the screen's
bindings are updated, and they are updated on every focus move. Moving the focus inside a
pane (Tab between its buttons, charts and log) leaves the shown keys exactly as they were,
yet each move cost ~15 ms of UI-thread work plus a dozen dead widgets for the garbage
collector: time in which the next key waited.

On a narrow terminal (an 80-column SSH session) the dataset pane's keys need ~130 columns:
the footer turns compact, and the help key is pinned at the right edge in place of the
command palette's, so the keys that do not fit are one ``?`` away instead of silently cut.
"""

from __future__ import annotations

from typing import Hashable

from textual import events
from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Footer

NARROW_BELOW = 100
"""Terminal widths (columns) below which the footer is compact and "? Keys" is pinned."""

HELP_ACTION = "help"
"""The app's action that lists every key (``SynapseApp.action_help``)."""


class KeyFooter(Footer):
    """A ``Footer`` that recomposes only when what it would show differs from what it shows,
    and that keeps the help key visible on narrow terminals."""

    DEFAULT_CSS = """
    KeyFooter FooterKey.-pinned {
        dock: right;
        margin: 0;
        padding-right: 1;
        border-left: vkey $foreground 20%;
    }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._keys_known = False
        self._shown: Hashable | None = None
        self.recomposes = 0
        """How many times the keys were rebuilt (tests read it)."""

    def shown_keys(self, screen: Screen) -> Hashable:
        """Everything ``Footer.compose`` draws from: each shown binding's key, how the key is
        displayed, description, action, group, whether it is enabled and its tooltip; plus
        the command palette's key and the footer's own display switches."""
        app = self.app
        keys = tuple(
            (binding.key, app.get_key_display(binding), binding.description, binding.action,
             (binding.group.description, binding.group.compact) if binding.group else None,
             enabled, tooltip)
            for _, binding, enabled, tooltip in screen.active_bindings.values()
            if binding.show or binding.key == app.COMMAND_PALETTE_BINDING)
        return keys, self.show_command_palette, app.ENABLE_COMMAND_PALETTE, self.compact

    def compose(self) -> ComposeResult:
        """Record what is being composed, then compose as ``Footer`` does, marking the help
        key to be pinned when the footer is narrow."""
        if self._keys_known:
            self._shown = self.shown_keys(self.screen)
            self.recomposes += 1
        for widget in super().compose():
            # a FooterKey (not exported by Textual) has its binding's action
            if self.compact and getattr(widget, "action", None) == HELP_ACTION:
                widget.add_class("-pinned")
            yield widget

    def bindings_changed(self, screen: Screen) -> None:
        """Recompose (as ``Footer`` does) only when the shown keys would change."""
        if (self._keys_known and self.is_attached and screen is self.screen
                and self.shown_keys(screen) == self._shown):
            return
        self._keys_known = True
        super().bindings_changed(screen)

    def on_resize(self, event: events.Resize) -> None:
        """Narrow: compact, with "? Keys" pinned right instead of the palette's key (the
        palette lists every command, and so does "? Keys")."""
        narrow = event.size.width < NARROW_BELOW
        if narrow != self.compact:
            self.compact = narrow
            self.show_command_palette = not narrow
            if self._keys_known:  # else the first bindings update composes it
                self.call_after_refresh(self.recompose)
