"""The key footer, rebuilt only when the keys it shows change.

Textual's ``Footer`` removes and re-mounts all of its key widgets whenever the screen's
bindings are updated, and they are updated on every focus move. Moving the focus inside a
pane (Tab between its buttons, charts and log) leaves the shown keys exactly as they were,
yet each move cost ~15 ms of UI-thread work plus a dozen dead widgets for the garbage
collector: time in which the next key waited.
"""

from __future__ import annotations

from typing import Hashable

from textual.screen import Screen
from textual.widgets import Footer


class KeyFooter(Footer):
    """A ``Footer`` that recomposes only when what it would show differs from what it shows."""

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
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

    def compose(self):  # noqa: ANN201 - Footer.compose's own result type
        """Record what is being composed, then compose as ``Footer`` does."""
        if self._bindings_ready:
            self._shown = self.shown_keys(self.screen)
            self.recomposes += 1
        return super().compose()

    def bindings_changed(self, screen: Screen) -> None:
        """Recompose (as ``Footer`` does) only when the shown keys would change."""
        if (self._bindings_ready and self.is_attached and screen is self.screen
                and self.shown_keys(screen) == self._shown):
            return
        super().bindings_changed(screen)
