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


# -- a damaged decisions file, decisions from another writer -------------------------------
def _sidecar(config: RunConfig) -> Path:
    return Path(config.source).with_name("run.decisions.json")


def _text(widget) -> str:
    return str(widget.render())


@pytest.mark.parametrize("damage", ["cut in half", "[1,2]"])
async def test_a_damaged_decisions_file_is_said_and_recovered(run_config: RunConfig,
                                                              damage: str) -> None:
    from synapse_core.data.decisions import DecisionStore
    from synapse_core.data.load import iter_rows
    from synapse_tui.widgets.dataset_recover import RecoverDecisions

    data = Path(run_config.source).with_name("data.jsonl")
    hashes = {r.line: r.content_hash for r in iter_rows(data, run_config)
              if hasattr(r, "content_hash")}
    store = DecisionStore(_sidecar(run_config), data)
    for line in (2, 3, 4):
        store.set(line, "reject", hashes[line])
    text = _sidecar(run_config).read_text()
    damaged = text[: text.index('"line": 4')] if damage == "cut in half" else damage
    _sidecar(run_config).write_text(damaged)

    app = PaneApp(run_config)
    async with app.run_test(size=(120, 40)) as pilot:
        pane = await _loaded(app, pilot)
        assert len(pane.table) == 30  # the tab loads the rows whatever the sidecar holds
        assert isinstance(app.screen, RecoverDecisions)
        dialog = _text(app.screen.query_one("#recover-text"))
        assert str(_sidecar(run_config)) in dialog and "run.decisions.json.bad" in dialog
        await pilot.press("escape")  # not now: the pane keeps saying so
        notes = pane.query_one("#dataset-notes")
        assert notes.display and "training will not start" in _text(notes)
        await pilot.press("r")  # a decision now would overwrite the damaged file: refused
        await pilot.pause()
        assert _sidecar(run_config).read_text() == damaged
        assert isinstance(app.screen, RecoverDecisions)  # offered again
        await pilot.press("enter")  # the highlighted button: start from the saved copy
        await app.workers.wait_for_complete()
        await pilot.pause()
        kept = [2, 3] if damage == "cut in half" else []
        assert pane.table.counts()["overridden"] == len(kept)
        assert [d.line for d in DecisionStore(_sidecar(run_config), "").all()] == kept
        assert not pane.query_one("#dataset-notes").has_class("-error")
        assert "started again from the saved copy" in _text(pane.query_one("#dataset-status"))


async def test_decisions_of_another_dashboard_are_kept_and_shown(run_config: RunConfig) -> None:
    from synapse_core.data.decisions import DecisionStore
    from synapse_core.data.load import iter_rows

    data = Path(run_config.source).with_name("data.jsonl")
    hashes = {r.line: r.content_hash for r in iter_rows(data, run_config)
              if hasattr(r, "content_hash")}
    app = PaneApp(run_config)
    async with app.run_test(size=(120, 40)) as pilot:
        pane = await _loaded(app, pilot)
        other = DecisionStore(_sidecar(run_config), data)  # a second dashboard, open already
        pane.grid.cursor = pane.grid.position_of(1)
        await pilot.press("r")
        other.set(2, "reject", hashes[2])
        other.set(4, "reject", hashes[4])
        pane.grid.cursor = pane.grid.position_of(3)
        await pilot.press("r")
        await pilot.pause()
        saved = json.loads(_sidecar(run_config).read_text())["decisions"]
        assert [d["line"] for d in saved] == [1, 2, 3, 4]
        pane.apply_filter("decision:reject")
        await pilot.pause()
        assert [int(pane.table.col("line")[i]) for i in pane.grid.view_index] == [1, 2, 3, 4]
        other.set(5, "reject", hashes[5])  # and with no change made here, it shows up too
        pane.poll_decisions()  # (what the pane's timer does every 2 s)
        await pilot.pause()
        assert pane.table.counts()["overridden"] == 5


# -- labels given by the rows, rows without reasoning, an empty class -----------------------
@pytest.fixture
def kto_config(tmp_path: Path):
    def make(**scoring) -> RunConfig:
        data = tmp_path / "kto.jsonl"
        data.write_text("\n".join(json.dumps(r) for r in [
            {"prompt": "Say hi.", "completion": "Hi there, friend.", "label": True},
            {"prompt": "Say hi.", "completion": "Go away.", "label": False},
            {"prompt": "Say hi.", "completion": "Hello."},
            {"conversations": [{"from": "human", "value": "q"},
                               {"from": "gpt", "value": REASONING + "An answer."}],
             "quality_metrics": {"conversation_quality": 1.0, "bias_detection": 0.0,
                                 "reasoning_quality": 0.9}}]) + "\n")
        return config_from_dict({"data": {"path": str(data)}, "scoring": scoring})
    return make


async def test_given_labels_and_rows_without_reasoning_are_explained(kto_config) -> None:
    app = PaneApp(kto_config())
    async with app.run_test(size=(140, 40)) as pilot:
        pane = await _loaded(app, pilot)
        assert "2 labels given" in _text(pane.query_one("#dataset-summary"))
        notes = _text(pane.query_one("#dataset-notes"))
        assert "1 row without reasoning (rq 0): at most 1 < threshold 1.25" in notes
        pane.open_line(1)
        await app.workers.wait_for_complete()
        await pilot.pause()
        detail = _text(pane.query_one(DatasetDetail).body)
        assert "desirable  (label given)" in detail and "score = 1×" in detail
        assert "its score alone would make it undesirable" in detail
        pane.open_line(3)
        await app.workers.wait_for_complete()
        await pilot.pause()
        detail = _text(pane.query_one(DatasetDetail).body)
        assert "(label score)" in detail and "without reasoning a row scores at most 1" in detail
        row = pane.table.row(0)
        assert (row["label"], row["label_source"]) == ("desirable", "given")
        header = pane.grid._header_text()
        assert "label by" in header
        at = header.index("label by")
        lines = [pane.grid._row_text(i)[0] for i in range(4)]
        assert [x[at: at + 8].strip() for x in lines] == ["given", "given", "score", "score"]


async def test_a_threshold_that_empties_a_class_is_warned_in_the_summary(tmp_path) -> None:
    data = tmp_path / "d.jsonl"
    data.write_text("\n".join(_rows()) + "\n")
    for threshold, warned in ((1.25, None), (5, "no desirable rows: scoring.threshold = 5 is "
                                                "above the best score any row can have (1.75)")):
        app = PaneApp(config_from_dict({"data": {"path": str(data)},
                                        "scoring": {"threshold": threshold}}))
        async with app.run_test(size=(140, 40)) as pilot:
            pane = await _loaded(app, pilot)
            notes = _text(pane.query_one("#dataset-notes"))
            if warned:
                assert warned in notes and pane.table.counts()["desirable"] == 0
            else:
                assert "no desirable" not in notes


async def test_the_detail_scrolls_with_the_keyboard_and_says_how(run_config: RunConfig,
                                                                tmp_path: Path) -> None:
    long_answer = "\n".join(f"Paragraph {i} of a long answer." for i in range(120))
    data = tmp_path / "long.jsonl"
    data.write_text(json.dumps({"messages": [{"role": "user", "content": "Tell me a lot."},
                                             {"role": "assistant", "content": long_answer}]})
                    + "\n")
    app = PaneApp(config_from_dict({"data": {"path": str(data)}}))
    async with app.run_test(size=(120, 30)) as pilot:
        pane = await _loaded(app, pilot)
        await pilot.press("enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        detail = pane.query_one(DatasetDetail)
        hint = _text(detail.query_one("#dataset-detail-hint"))
        assert "shift+↓/↑ scroll" in hint and "]/[ page" in hint
        assert detail.max_scroll_y > 20 and detail.scroll_y == 0
        assert pane.grid.has_focus  # no Tab first
        await pilot.press("shift+down", "shift+down", "shift+down")
        await pilot.pause()
        assert detail.scroll_y == 3
        await pilot.press("right_square_bracket")
        await pilot.pause()
        assert detail.scroll_y > 10
        await pilot.press("left_square_bracket", "shift+up", "shift+up", "shift+up")
        await pilot.pause()
        assert detail.scroll_y == 0 and pane.grid.has_focus


async def test_an_unknown_filter_field_is_an_error_naming_the_fields(run_config) -> None:
    app = PaneApp(run_config)
    async with app.run_test(size=(120, 40)) as pilot:
        pane = await _loaded(app, pilot)
        pane.apply_filter("foo:bar")
        await pilot.pause()
        status = pane.query_one("#dataset-status")
        assert status.has_class("-error")
        assert "unknown field 'foo'" in _text(status) and "label_source:" in _text(status)
        assert len(pane.grid.view_index) == 30


async def test_summary_line_wraps_instead_of_losing_counts_on_a_narrow_terminal(
        run_config: RunConfig) -> None:
    """At 60 columns the counts do not fit one line: the summary takes a second line rather
    than cutting the last counts (the override count was lost at 80x24 on the demo)."""
    app = PaneApp(run_config)
    async with app.run_test(size=(60, 24)) as pilot:
        await _loaded(app, pilot)
        await pilot.pause()
        summary = app.query_one("#dataset-summary")
        assert summary.size.height == 2
        screen = app.export_screenshot()
        assert "overridden" in screen and "flagged" in screen
