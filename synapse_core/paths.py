"""Where synapse-tui keeps things on disk (XDG base directories)."""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path


def cache_dir() -> Path:
    """``$XDG_CACHE_HOME/synapse-tui`` (default ``~/.cache/synapse-tui``): rebuildable things."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "synapse-tui"


def data_dir() -> Path:
    """``$XDG_DATA_HOME/synapse-tui`` (default ``~/.local/share/synapse-tui``): user state."""
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "synapse-tui"


def config_home() -> Path:
    """``$XDG_CONFIG_HOME/synapse-tui`` (default ``~/.config/synapse-tui``)."""
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "synapse-tui"


def demo_dataset_path() -> Path:
    """The bundled sample dataset (``prof_synapse.jsonl``)."""
    return Path(str(resources.files("synapse_core") / "demo" / "prof_synapse.jsonl"))


def themes_dir() -> Path:
    """The ``themes/`` folder shipped with the app (a sibling of the packages)."""
    here = Path(__file__).resolve().parent.parent / "themes"
    if here.is_dir():
        return here
    return Path(str(resources.files("synapse_tui") / "theme_files"))
