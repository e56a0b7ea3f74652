"""UI test fixtures: each test gets its own per-user config folder.

The app remembers the theme the user picks in ``$XDG_CONFIG_HOME/synapse-tui``; a folder per
test keeps one test's pick from changing the next test's first screen (and a developer's own
settings out of every test).
"""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _own_config_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "xdg-config"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home))
    return home
