"""Snapshot of the very first screen: the dataset browser on fixed rows of the demo data.

The first 12 lines of the bundled `prof_synapse.jsonl` (both reference shapes, given and
computed metrics, a banned word) are copied to a fixed file, so the picture changes only
when the app does. Update after an intended change with
``pytest tests/tui/test_first_screen_snapshot.py --snapshot-update`` and review the SVG.
"""

from __future__ import annotations

import asyncio

from synapse_tui.app import SynapseApp
from synapse_tui.panes import dataset as dataset_pane


def test_first_screen_dataset_browser(snap_compare, demo_head_config) -> None:
    app = SynapseApp(demo_head_config, data_label="prof_synapse_head.jsonl")

    async def settle(pilot) -> None:
        pane = app.query_one(dataset_pane.DatasetPane)
        for _ in range(200):  # the 12-row load finishes (seconds at most on a busy machine)
            if not pane.loading and len(pane.table) == 12:
                break
            await asyncio.sleep(0.05)
        await pilot.pause(0.3)  # the graph build and focus settle
        app.clear_notifications()
        await pilot.pause()

    assert snap_compare(app, terminal_size=(120, 40), run_before=settle)
