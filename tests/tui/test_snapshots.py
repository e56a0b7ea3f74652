"""Snapshots (pytest-textual-snapshot): the training tab's first screen, and every tab at 80x24.

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

import pytest
from textual.widgets import Static

from synapse_core.config import RunConfig
from synapse_tui.app import SynapseApp
from synapse_tui.panes import dataset as dataset_pane
from synapse_tui.panes.dataset import DatasetPane
from synapse_tui.panes.graph import GraphPane


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


@pytest.mark.parametrize("tab", ["dataset", "graph", "training", "export"])
def test_every_tab_at_80x24(tab: str, snap_compare, tmp_path: Path,
                            demo_head_config) -> None:
    """An 80x24 SSH session: each tab on fixed data (the demo's first 12 rows) with a frozen
    clock. Nothing important may be cut: the graph's health figures, the dataset's status,
    and (in the footer) the help key that lists whatever keys do not fit."""
    cfg = demo_head_config
    cfg.export.out_dir = str(tmp_path / "exports")
    app = SynapseApp(cfg, data_label="prof_synapse_head.jsonl", initial_tab=tab)

    async def settle(pilot) -> None:
        pane = app.query_one(dataset_pane.DatasetPane)
        graph = app.query_one(GraphPane)
        for _ in range(400):  # the load and the graph's health (seconds on a busy machine)
            if not pane.loading and len(pane.table) == 12 and graph.health is not None:
                break
            await asyncio.sleep(0.05)
        # the export folder is this test's temporary folder: show it the same everywhere
        app.query_one("#export-status", Static).update("exports in <tmp>/exports")
        await pilot.pause(0.3)  # the entity list, focus and footer settle
        app.clear_notifications()
        await pilot.pause()

    assert snap_compare(app, terminal_size=(80, 24), run_before=settle)
