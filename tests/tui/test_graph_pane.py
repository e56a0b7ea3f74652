"""GraphPane in a small host app: records through the real loader, search, ego graph, samples."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from textual import on
from textual.app import App, ComposeResult
from textual.widgets import Input, OptionList, Static
from textual.worker import WorkerCancelled, WorkerFailed

from synapse_core.config import RunConfig
from synapse_core.data.load import iter_rows
from synapse_core.data.records import Record
from synapse_tui.messages import OpenSample
from synapse_tui.panes.graph import GraphPane
from synapse_tui.widgets.graph_ego import EgoGraph


def _row(triplets: list[tuple[str, str, str]]) -> str:
    kg = "".join(f"<tri><subj>{s}</subj><pred>{p}</pred><obj>{o}</obj></tri>"
                 for s, p, o in triplets)
    reply = f"<reasoning><kg>{kg}</kg></reasoning>\n🧙 An answer."
    return json.dumps({"messages": [{"role": "user", "content": "Tell me."},
                                    {"role": "assistant", "content": reply}]})


@pytest.fixture
def records(tmp_path: Path) -> list[Record]:
    rows = [
        _row([("Sunlight", "powers", "photosynthesis"), ("photosynthesis", "produces", "oxygen")]),
        _row([("plants", "perform", "Photosynthesis"), ("photosynthesis", "produces", "Oxygen"),
              ("oxygen", "supports", "respiration")]),
        _row([("CO2", "increases", "plant growth"), ("CO2", "decreases", "plant growth")]),
        json.dumps({"messages": [{"role": "user", "content": "hi"},
                                 {"role": "assistant", "content": "No reasoning at all."}]}),
    ]
    path = tmp_path / "small.jsonl"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    out = [r for r in iter_rows(path, RunConfig()) if isinstance(r, Record)]
    assert len(out) == 4
    return out


class GraphHost(App):
    """Hosts one GraphPane and records the OpenSample messages it posts."""

    def __init__(self) -> None:
        super().__init__()
        self.opened: list[int] = []

    def compose(self) -> ComposeResult:
        yield GraphPane(RunConfig(), id="graph")

    @on(OpenSample)
    def _open(self, message: OpenSample) -> None:
        self.opened.append(message.line)


async def _settle(app: App, pilot) -> None:
    """Wait for every worker, twice (a finished worker may start another). A superseded
    search is cancelled on purpose (exclusive workers), which wait_for_complete reports."""
    for _ in range(2):
        try:
            await app.workers.wait_for_complete()
        except WorkerCancelled:
            await app.workers.wait_for_complete()
        await pilot.pause()


async def test_search_open_neighbourhood_and_jump_to_sample(records: list[Record]) -> None:
    app = GraphHost()
    async with app.run_test(size=(120, 40)) as pilot:
        pane = app.query_one(GraphPane)
        pane.add_records(records[:2], False)  # the pane updates while the file loads
        pane.add_records(records[2:], True)
        await _settle(app, pilot)
        status = str(app.query_one("#graph-status", Static).render())
        assert "built 4 rows" in status and "7 entities" in status
        health = str(app.query_one("#graph-health", Static).render())
        assert "1 without" in health and "1 contradictions" in health

        await pilot.press("slash")
        assert isinstance(app.focused, Input)
        await pilot.press(*"photosynth", "enter")  # search now, then to the first hit
        await _settle(app, pilot)
        entities = app.query_one("#graph-entities", OptionList)
        assert entities.option_count == 1 and app.focused is entities
        await _settle(app, pilot)
        assert pane.selected == "photosynthesis"

        ego = app.query_one(EgoGraph)
        drawing = "\n".join(ego.text_lines())
        assert "photosynthesis" in drawing
        assert "produces (2)" in drawing and "oxygen" in drawing
        assert "sunlight" in drawing.casefold() and "powers" in drawing
        assert "respiration" not in drawing  # depth 1
        await pilot.press("d")
        await _settle(app, pilot)
        assert "respiration" in "\n".join(ego.text_lines())

        samples = app.query_one("#graph-samples", OptionList)
        assert [samples.get_option_at_index(i).id for i in range(samples.option_count)] == ["1", "2"]
        await pilot.press("n")
        assert app.focused is samples
        await pilot.press("down", "enter")
        await pilot.pause()
        assert app.opened == [2]


async def test_sort_cycles_and_small_terminal(records: list[Record]) -> None:
    app = GraphHost()
    async with app.run_test(size=(80, 24)) as pilot:
        pane = app.query_one(GraphPane)
        pane.add_records(records, True)
        await _settle(app, pilot)
        entities = app.query_one("#graph-entities", OptionList)
        assert entities.get_option_at_index(0).id == "photosynthesis"  # highest degree
        entities.focus()
        await pilot.press("s", "s")  # degree -> pagerank -> name
        await _settle(app, pilot)
        assert pane.sort == "name"
        assert entities.get_option_at_index(0).id == "co2"
        pane.select_entity("oxygen")
        await _settle(app, pilot)
        lines = app.query_one(EgoGraph).text_lines()
        assert any("oxygen" in ln for ln in lines)
        assert all(len(ln) <= app.query_one(EgoGraph).content_size.width for ln in lines)


async def test_new_load_after_done_starts_a_new_graph(records: list[Record]) -> None:
    app = GraphHost()
    async with app.run_test(size=(120, 40)) as pilot:
        pane = app.query_one(GraphPane)
        pane.add_records(records, True)
        await _settle(app, pilot)
        assert pane.graph.rows == 4
        pane.add_records(records[:1], True)
        await _settle(app, pilot)
        assert pane.graph.rows == 1 and pane.graph.nodes == 3


async def test_contradictions_listed_and_opened(records: list[Record]) -> None:
    app = GraphHost()
    async with app.run_test(size=(120, 40)) as pilot:
        pane = app.query_one(GraphPane)
        pane.add_records(records, True)
        await _settle(app, pilot)
        app.query_one("#graph-entities", OptionList).focus()
        await pilot.press("c")
        samples = app.query_one("#graph-samples", OptionList)
        assert app.focused is samples and samples.option_count == 2  # both sides, one row
        assert "CO2" in str(samples.get_option_at_index(0).prompt)
        await pilot.press("enter")
        await pilot.pause()
        assert app.opened == [3]


async def test_a_failing_build_is_reported_and_the_next_load_works(records: list[Record]) -> None:
    class Broken:
        line = 1
        malformed_triplets: list[str] = []

        @property
        def triplets(self):
            raise RuntimeError("triplets unreadable")

    app = GraphHost()
    async with app.run_test(size=(120, 40)) as pilot:
        pane = app.query_one(GraphPane)
        pane.add_records([Broken()], True)
        with pytest.raises(WorkerFailed):
            await app.workers.wait_for_complete()
        await pilot.pause()
        assert "triplets unreadable" in str(app.query_one("#graph-status", Static).render())
        pane.add_records(records, True)
        await _settle(app, pilot)
        assert "built" in str(app.query_one("#graph-status", Static).render())
        assert pane.graph.rows == 4


def test_health_line_keeps_every_figure_at_80_columns() -> None:
    """On an 80-column terminal (2 lines of 78 cells) the health summary is reworded, never
    cut: every figure stays; the first contradiction's example gives way first."""
    from rich.text import Text

    from synapse_core.graph.health import Contradiction, GraphHealth
    from synapse_tui.widgets.graph_text import health_markup

    h = GraphHealth(rows=1_234_567, rows_with_kg=1_200_000, rows_without_kg=34_567,
                    rows_with_malformed=4_321, malformed_triplets=5_000, triplets=3_000_000,
                    nodes=500_000, edges=900_000, components=12_345, isolated_triplets=10,
                    largest_component_edge_share=0.915, top10_endpoint_share=0.14,
                    contradictions=[Contradiction("CO2", "plant growth", "increases",
                                                  "decreases", (21,), (22,), "opposites")] * 3)
    full = Text.from_markup(health_markup(h)).plain
    assert "plant growth" in full
    for width in (78, 100):
        text = Text.from_markup(health_markup(h, width=width, lines=2)).plain
        assert len(text) <= 2 * width, width
        for figure in ("1,200,000", "34,567", "4,321", "12,345", "92%", "14%",
                       "3 contradictions"):
            assert figure in text, (width, figure)
