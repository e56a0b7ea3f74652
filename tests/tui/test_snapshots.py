"""Snapshot of the first screen a user sees on the training tab (pytest-textual-snapshot).

The snapshot is the whole app at 120x40 on the training tab, idle, with a fixed data label
and no clock: header, the four tab labels, the training panel and the footer. The other three
panes are still changing under other hands, so their tabs are in the picture but not their
contents (their own tests cover them). Update after an intended change with
``pytest tests/tui/test_snapshots.py --snapshot-update`` and review the SVG diff.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from synapse_core.config import RunConfig
from synapse_tui.app import SynapseApp
from synapse_tui.panes.dataset import DatasetPane


def test_first_screen_training_tab(snap_compare, tmp_path: Path) -> None:
    data = tmp_path / "tiny.jsonl"
    row = {"messages": [{"role": "user", "content": "Hi"},
                        {"role": "assistant", "content": "🧙 Hello."}]}
    data.write_text(json.dumps(row, ensure_ascii=False) + "\n", encoding="utf-8")
    cfg = RunConfig()
    cfg.data.path = str(data)
    cfg.training.runs_dir = str(tmp_path / "runs")
    app = SynapseApp(cfg, data_label="tiny.jsonl", initial_tab="training")

    async def settle(pilot) -> None:
        pane = app.query_one(DatasetPane)
        for _ in range(200):  # the one-row file is loaded (seconds at most on a busy machine)
            if not pane.loading and len(pane.table) == 1:
                break
            await asyncio.sleep(0.05)
        await pilot.pause(0.3)  # focus settles
        app.clear_notifications()
        await pilot.pause()

    assert snap_compare(app, terminal_size=(120, 40), run_before=settle)
