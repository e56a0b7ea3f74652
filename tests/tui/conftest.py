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


@pytest.fixture
def demo_head_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A run config on the first 12 lines of the bundled demo data (both reference shapes,
    given and computed metrics, a banned word), copied to a fixed file, with runs under this
    test's folder and the dataset pane's clock frozen (its status line says how long the load
    took): snapshot pictures change only when the app does."""
    import types
    from itertools import islice

    from synapse_core.config import RunConfig
    from synapse_core.paths import demo_dataset_path
    from synapse_tui.panes import dataset as dataset_pane

    monkeypatch.setattr(dataset_pane, "time", types.SimpleNamespace(monotonic=lambda: 1000.0))
    data = tmp_path / "prof_synapse_head.jsonl"
    with open(demo_dataset_path(), encoding="utf-8") as src:
        data.write_text("".join(islice(src, 12)), encoding="utf-8")
    cfg = RunConfig()
    cfg.data.path = str(data)
    cfg.training.runs_dir = str(tmp_path / "runs")
    return cfg
