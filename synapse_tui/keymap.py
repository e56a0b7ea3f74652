"""Key remapping: ``[ui] keymap`` in the run config maps binding ids to keys.

Every binding in the app has a kebab-case ``id`` (``show-training``, ``stop-training``);
``keymap = { show-training = "f3", stop-training = "ctrl+x" }`` replaces its keys through
Textual's own keymap support (``App.set_keymap``). Ids that no binding has are reported, not
silently ignored, because a typo would otherwise leave the user wondering.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from textual.app import App
from textual.binding import Binding
from textual.dom import DOMNode


def binding_ids(nodes: Iterable[DOMNode | type[DOMNode]]) -> dict[str, Binding]:
    """The bindings with an id declared by these nodes' classes (and their bases)."""
    found: dict[str, Binding] = {}
    for node in nodes:
        cls = node if isinstance(node, type) else type(node)
        for klass in cls.__mro__:
            for b in getattr(klass, "BINDINGS", ()) or ():
                if isinstance(b, Binding) and b.id:
                    found.setdefault(b.id, b)
    return found


def apply_keymap(app: App, keymap: Mapping[str, str],
                 known: Iterable[str] | None = None) -> list[str]:
    """Apply ``keymap`` to ``app``; returns the ids that match no known binding.

    ``known`` defaults to the ids of the app, its screen and every widget mounted now.
    """
    app.set_keymap(dict(keymap))
    if known is None:
        nodes: list[DOMNode] = [app, *app.screen_stack, *app.query("*")]
        known = binding_ids(nodes)
    known_set = set(known)
    return sorted(k for k in keymap if k not in known_set)
