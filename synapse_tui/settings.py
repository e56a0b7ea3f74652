"""What the app remembers for the user between sessions: today, the colour theme.

The file is ``settings.toml`` in ``$XDG_CONFIG_HOME/synapse-tui`` (``~/.config/synapse-tui``)::

    [ui]
    theme = "synapse-light"

It is written by the app (atomically) whenever the user picks a theme; a run config's
``[ui] theme`` and ``--theme`` still win over it, so a project can fix its look. A file that
cannot be read is reported and ignored: the app starts with its default theme.
"""

from __future__ import annotations

import json
import os
import tempfile
import tomllib
from pathlib import Path

from synapse_core.paths import config_home

SETTINGS_NAME = "settings.toml"


class SettingsError(ValueError):
    """The settings file exists but cannot be read; the message names the file."""


def settings_path() -> Path:
    """Where the per-user settings live (follows ``XDG_CONFIG_HOME`` at call time)."""
    return config_home() / SETTINGS_NAME


def saved_theme(path: Path | None = None) -> str | None:
    """The theme the user last picked, or None when none was saved.

    Raises ``SettingsError`` (naming the file and the key) when the file is unreadable.
    """
    path = path or settings_path()
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise SettingsError(f"{path}: {e}") from e
    theme = raw.get("ui", {}).get("theme") if isinstance(raw.get("ui"), dict) else None
    if theme is not None and not isinstance(theme, str):
        raise SettingsError(f"{path}: ui.theme: expected a string, got {theme!r}")
    return theme or None


def save_theme(name: str, path: Path | None = None) -> Path:
    """Remember ``name`` as the user's theme; returns the file written.

    Written to a temporary file in the same folder, then renamed over the old one, so a
    crash or a full disk never leaves half a file behind.
    """
    path = path or settings_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    # json.dumps quotes and escapes as a TOML basic string does
    text = ("# Written by synapse-tui when you pick a theme (a run config's [ui] theme wins).\n"
            f"[ui]\ntheme = {json.dumps(name, ensure_ascii=False)}\n")
    fd, tmp = tempfile.mkstemp(prefix=".settings-", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
