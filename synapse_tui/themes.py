"""Themes: every ``themes/*.toml`` becomes a ``textual.theme.Theme`` registered at start.

A theme file holds the ``Theme`` fields (``name``, ``primary``, ``background``, ...,
``dark``) and an optional ``[variables]`` table of extra CSS variables. A broken file is
reported with its name and skipped, so one bad theme never keeps the app from starting.
"""

from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path

from textual.app import App
from textual.theme import Theme

from synapse_core.config import RunConfig, UIConfig
from synapse_core.paths import themes_dir

DEFAULT_THEME = "synapse-dark"
"""The theme used when the config names none (or one that does not exist)."""

_FIELDS = {f.name for f in dataclasses.fields(Theme)}


class ThemeFileError(ValueError):
    """A theme file is unreadable or holds unknown keys; the message names the file."""


def load_theme(path: Path) -> Theme:
    """Read one theme TOML file into a Theme (the name defaults to the file's stem)."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise ThemeFileError(f"{path.name}: {e}") from e
    raw.setdefault("name", path.stem)
    unknown = sorted(set(raw) - _FIELDS)
    if unknown:
        raise ThemeFileError(f"{path.name}: {unknown[0]}: unknown key; known keys: "
                             + ", ".join(sorted(_FIELDS)))
    if "primary" not in raw:
        raise ThemeFileError(f"{path.name}: primary: required")
    try:
        return Theme(**raw)
    except (TypeError, ValueError) as e:
        raise ThemeFileError(f"{path.name}: {e}") from e


def load_themes(folder: Path | None = None) -> tuple[list[Theme], list[str]]:
    """All themes in ``folder`` (default: the shipped ``themes/``) and the errors met."""
    folder = folder or themes_dir()
    themes: list[Theme] = []
    errors: list[str] = []
    for path in sorted(folder.glob("*.toml")) if folder.is_dir() else ():
        try:
            themes.append(load_theme(path))
        except ThemeFileError as e:
            errors.append(str(e))
    return themes, errors


def register_themes(app: App, folder: Path | None = None) -> list[str]:
    """Register every theme file with ``app``; returns the error lines (empty when all loaded)."""
    themes, errors = load_themes(folder)
    for theme in themes:
        app.register_theme(theme)
    return errors


def configured_theme(config: RunConfig) -> str | None:
    """The theme the run config asks for, or None when it leaves the choice to the user.

    A theme other than the default counts as asked for; so does the default when the
    config file spells it out (``[ui] theme = "synapse-dark"``), which is why the file is
    looked at: the parsed config cannot tell a default from a choice.
    """
    theme = config.ui.theme
    if theme and theme != UIConfig().theme:
        return theme
    if theme and config.source:
        try:
            raw = tomllib.loads(Path(config.source).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
            return None  # loaded once already: a file gone since then asks for nothing
        ui = raw.get("ui")
        if isinstance(ui, dict) and "theme" in ui:
            return theme
    return None


def theme_names(folder: Path | None = None) -> list[str]:
    """Names usable with ``--theme``: the shipped themes plus Textual's built-ins."""
    from textual.theme import BUILTIN_THEMES

    themes, _ = load_themes(folder)
    return sorted({t.name for t in themes} | set(BUILTIN_THEMES))
