"""Pilot tests of the dataset browser: load, sort, filter, open a row, accept/reject, restart."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from textual.app import App, ComposeResult

from synapse_core.config import RunConfig, config_from_dict
from synapse_tui.messages import RecordsLoaded
from synapse_tui.panes.dataset import DatasetPane
from synapse_tui.widgets.dataset_detail import DatasetDetail
from synapse_tui.widgets.dataset_table import DatasetTable

REASONING = ("<reasoning><mem><goal>g</goal></mem><kg><tri><subj>a</subj><pred>b</pred>"
             "<obj>c</obj></tri></kg></reasoning>\n")


def _rows() -> list[str]:
    rows = []
    for i in range(30):
        cq = round(0.2 + 0.8 * (i % 10) / 9, 3)
        answer = f"Answer number {i}." + (" Let us delve in." if i % 7 == 0 else "")
        rows.append(json.dumps({"conversations": [
            {"from": "human", "value": f"question {i}"},
            {"from": "gpt", "value": REASONING + answer}],
            "quality_metrics": {"conversation_quality": cq, "bias_detection": 0.0,
                                "reasoning_quality": 0.8}}))
    rows.insert(5, "{broken json")
    return rows


@pytest.fixture
def run_config(tmp_path: Path) -> RunConfig:
    data = tmp_path / "data.jsonl"
    data.write_text("\n".join(_rows()) + "\n", encoding="utf-8")
    cfg_path = tmp_path / "run.toml"
    cfg_path.write_text('[data]\npath = "data.jsonl"\n', encoding="utf-8")
    return config_from_dict({"data": {"path": "data.jsonl"}}, source=str(cfg_path))


class PaneApp(App):
    def __init__(self, config: RunConfig) -> None:
        super().__init__()
        self.config = config
        self.batches: list[RecordsLoaded] = []

    def compose(self) -> ComposeResult:
        yield DatasetPane(self.config, id="dataset")

    def on_records_loaded(self, message: RecordsLoaded) -> None:
        self.batches.append(message)


async def _loaded(app: PaneApp, pilot) -> DatasetPane:
    pane = app.query_one(DatasetPane)
    for _ in range(50):
        await app.workers.wait_for_complete()
        await pilot.pause()
        if not pane.loading:
            break
    return pane


async def test_loads_counts_and_posts_batches(run_config: RunConfig) -> None:
    app = PaneApp(run_config)
    async with app.run_test(size=(120, 40)) as pilot:
        pane = await _loaded(app, pilot)
        assert len(pane.table) == 30
        assert pane.bad_count == 1 and str(pane.bad_lines[0]).endswith(":6: invalid JSON: "
                                                                      "Expecting property name "
                                                                      "enclosed in double quotes "
                                                                      "(column 2)")
        assert app.batches and app.batches[-1].done
        assert sum(len(b.records) for b in app.batches) == 30
        summary = str(pane.query_one("#dataset-summary").render())
        assert "30 rows" in summary and "1 bad lines" in summary and "5 flagged" in summary


async def test_sort_and_filter(run_config: RunConfig) -> None:
    app = PaneApp(run_config)
    async with app.run_test(size=(120, 40)) as pilot:
        pane = await _loaded(app, pilot)
        grid = pane.query_one(DatasetTable)
        await pilot.click(DatasetTable, offset=(28, 0))  # the "score" header cell
        await pilot.pause()
        assert grid.sort_key == "score" and not grid.descending
        await pilot.click(DatasetTable, offset=(28, 0))  # again: descending
        await pilot.pause()
        scores = pane.table.col("score")[grid.view_index]
        assert grid.descending and list(scores) == sorted(scores, reverse=True)
        await pilot.press("s")  # next column: cq
        assert grid.sort_key == "cq"
        await pilot.press("slash")
        for ch in "banned>0":
            await pilot.press(ch)
        await pilot.press("enter")
        await pilot.pause()
        assert len(grid.view_index) == 5
        assert all(pane.table.col("banned")[grid.view_index] > 0)
        pane.apply_filter('"question 12"')
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert [int(pane.table.col("line")[i]) for i in grid.view_index] == [14]


async def test_open_row_accept_reject_and_restart(run_config: RunConfig) -> None:
    app = PaneApp(run_config)
    async with app.run_test(size=(120, 40)) as pilot:
        pane = await _loaded(app, pilot)
        pane.open_line(9)  # question 7: line 6 is the broken one
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert pane.detail_record is not None and pane.detail_record.line == 9
        detail_text = str(pane.query_one(DatasetDetail).body.render())
        assert "score = 1×" in detail_text and "delve" in detail_text
        await pilot.press("r")
        await pilot.press("n")
        for ch in "too short":
            await pilot.press(ch if ch != " " else "space")
        await pilot.press("enter")
        await pilot.pause()
        pane.grid.cursor = pane.grid.position_of(8)
        await pilot.press("a")
        await pilot.pause()
        assert pane.table.counts()["overridden"] == 2
        sidecar = Path(run_config.source).with_name("run.decisions.json")
        doc = json.loads(sidecar.read_text())
        got = {d["line"]: (d["decision"], d["note"]) for d in doc["decisions"]}
        assert got == {9: ("reject", "too short"), 8: ("accept", "")}

    app2 = PaneApp(run_config)  # a restart: the decisions come back from the sidecar
    async with app2.run_test(size=(120, 40)) as pilot:
        pane = await _loaded(app2, pilot)
        assert pane.table.counts()["overridden"] == 2
        pane.apply_filter("decision:reject")
        await pilot.pause()
        assert [int(pane.table.col("line")[i]) for i in pane.grid.view_index] == [9]


async def test_bad_lines_panel_filter_errors_and_open_bad_line(run_config: RunConfig) -> None:
    app = PaneApp(run_config)
    async with app.run_test(size=(120, 40)) as pilot:
        pane = await _loaded(app, pilot)
        log = pane.query_one("#dataset-bad-lines")
        assert not log.has_class("-open")
        await pilot.press("b")
        assert log.has_class("-open") and log.lines[0].endswith(":6: invalid JSON: Expecting "
                                                                "property name enclosed in "
                                                                "double quotes (column 2)")
        pane.apply_filter("label:good")
        status = pane.query_one("#dataset-status")
        assert status.has_class("-error") and "choose one of" in str(status.render())
        assert len(pane.grid.view_index) == 30  # the bad filter changed nothing
        pane.open_line(6)
        await pilot.pause()
        assert "invalid JSON" in str(pane.query_one(DatasetDetail).body.render())
        await pilot.press("escape")
        assert not pane.query_one("#dataset-main").has_class("-detail-open")


async def test_reload_reads_the_file_again(run_config: RunConfig) -> None:
    app = PaneApp(run_config)
    async with app.run_test(size=(120, 40)) as pilot:
        pane = await _loaded(app, pilot)
        data = Path(run_config.source).with_name("data.jsonl")
        with open(data, "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"text": "one more row."}) + "\n")
        await pilot.press("R")
        pane = await _loaded(app, pilot)
        assert len(pane.table) == 31 and pane.bad_count == 1


async def test_a_large_file_is_scored_by_worker_processes_inside_the_app(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # a file of PARALLEL_MIN_ROWS rows or more is scored by worker processes, started from the
    # loader's thread while Textual captures stderr (its fileno() is -1: starting them once
    # failed with "bad value(s) in fds_to_keep")
    from synapse_core.data import parallel
    from synapse_core.data.load import PARALLEL_MIN_ROWS

    started: list[int] = []
    real_make_pool = parallel.make_pool

    def counting_make_pool(workers: int, *args, **kwargs):
        started.append(workers)
        return real_make_pool(workers, *args, **kwargs)

    monkeypatch.setattr(parallel, "make_pool", counting_make_pool)
    monkeypatch.setattr(parallel, "default_workers", lambda: 2)
    rows = _rows()  # 30 good rows and one broken line
    copies = PARALLEL_MIN_ROWS // len(rows) + 1
    data = tmp_path / "big.jsonl"
    data.write_text("\n".join(rows * copies) + "\n", encoding="utf-8")
    config = config_from_dict({"data": {"path": str(data)}})
    app = PaneApp(config)
    async with app.run_test(size=(120, 40)) as pilot:
        pane = await _loaded(app, pilot)
        assert len(pane.table) == 30 * copies
        assert pane.bad_count == copies
    assert started == [2]
