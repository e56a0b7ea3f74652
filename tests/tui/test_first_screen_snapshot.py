"""Snapshot of the very first screen: the dataset browser on fixed rows of the demo data.

The first 12 lines of the bundled `prof_synapse.jsonl` (both reference shapes, given and
computed metrics, a banned word) are copied to a fixed file, so the picture changes only
when the app does. Update after an intended change with
``pytest tests/tui/test_first_screen_snapshot.py --snapshot-update`` and review the SVG.
"""

from __future__ import annotations

from itertools import islice
from pathlib import Path

from synapse_core.config import RunConfig
from synapse_core.paths import demo_dataset_path
from synapse_tui.app import SynapseApp


def test_first_screen_dataset_browser(snap_compare, tmp_path: Path) -> None:
    data = tmp_path / "prof_synapse_head.jsonl"
    with open(demo_dataset_path(), encoding="utf-8") as src:
        data.write_text("".join(islice(src, 12)), encoding="utf-8")
    cfg = RunConfig()
    cfg.data.path = str(data)
    cfg.training.runs_dir = str(tmp_path / "runs")
    app = SynapseApp(cfg, data_label="prof_synapse_head.jsonl")

    async def settle(pilot) -> None:
        await pilot.pause(1.0)  # the 12-row load and the graph build finish; focus settles
        app.clear_notifications()
        await pilot.pause()

    assert snap_compare(app, terminal_size=(120, 40), run_before=settle)
