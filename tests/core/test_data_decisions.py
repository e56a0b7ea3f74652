"""Review decisions: a damaged sidecar stops training preparation instead of being ignored, and
decisions from several writers (threads, processes, two dashboards) are merged, never lost."""

from __future__ import annotations

import json
import multiprocessing
from pathlib import Path

import pytest

from synapse_core.config import config_from_dict
from synapse_core.data.decisions import (DecisionsDamaged, DecisionStore, decisions_path_for,
                                         salvage_decisions)
from synapse_core.data.load import iter_rows
from synapse_core.data.prepare import prepare_dataset

R = "<reasoning><mem><goal>g</goal></mem></reasoning>"


def _row(i: int) -> str:
    return json.dumps({"conversations": [
        {"from": "human", "value": f"q{i}"}, {"from": "gpt", "value": f"{R}\nAnswer {i}."}],
        "quality_metrics": {"conversation_quality": 1.0 if i % 4 else 0.2, "bias_detection": 0.0,
                            "reasoning_quality": 0.8}})


@pytest.fixture
def reviewed(tmp_path: Path):
    """A 12-row dataset with rows 1, 3, 5, 7, 9 rejected in review."""
    data = tmp_path / "d.jsonl"
    data.write_text("\n".join(_row(i) for i in range(1, 13)) + "\n")
    config = config_from_dict({"data": {"path": "d.jsonl"}}, source=str(tmp_path / "run.toml"))
    hashes = {r.line: r.content_hash for r in iter_rows(data, config)}
    store = DecisionStore(decisions_path_for(config, data), data)
    for line in (1, 3, 5, 7, 9):
        store.set(line, "reject", hashes[line], "off topic")
    assert len(prepare_dataset(config).rows) == 7
    return config, store.path, hashes


@pytest.mark.parametrize("damage", ["cut in half", "[1,2]", '{"decisions": 5}',
                                    '{"decisions": [{"line": 1}]}', "not utf-8"])
def test_a_damaged_sidecar_stops_preparation_naming_it_and_its_copy(reviewed, damage) -> None:
    config, path, _ = reviewed
    text = path.read_bytes()
    damaged = {"cut in half": text[: len(text) // 2], "not utf-8": b"\xff\xfe" + text}.get(
        damage, damage.encode())
    path.write_bytes(damaged)
    with pytest.raises(DecisionsDamaged) as err:
        prepare_dataset(config)  # it used to keep 12 rows (the 5 rejected ones too) or crash
    message = str(err.value)
    bad = path.with_name(path.name + ".bad")
    assert str(path) in message and str(bad) in message and "rejected" in message
    assert bad.read_bytes() == damaged and path.read_bytes() == damaged  # nothing lost
    store = DecisionStore(path, "")
    assert store.damage and len(store) == 0 and store.bad_copy == bad
    with pytest.raises(DecisionsDamaged):  # no change may overwrite the damaged file
        store.set(2, "accept", "0" * 16)
    assert path.read_bytes() == damaged


def test_recover_starts_from_what_the_saved_copy_holds(reviewed) -> None:
    config, path, hashes = reviewed
    text = path.read_text()
    cut = text[: text.index('"line": 7')]  # rows 1, 3 and 5 complete, row 7 cut off
    path.write_text(cut)
    store = DecisionStore(path, "")
    assert store.recover() == 3
    assert store.damage is None and [d.line for d in store.all()] == [1, 3, 5]
    assert path.with_name(path.name + ".bad").read_text() == cut
    prepared = prepare_dataset(config)
    assert [m["line"] for m in prepared.meta] == [2, 4, 6, 7, 8, 9, 10, 11, 12]
    store.set(7, "reject", hashes[7])  # and it takes changes again
    assert [d.line for d in DecisionStore(path, "").all()] == [1, 3, 5, 7]


def test_salvage_reads_every_complete_entry_of_any_damage() -> None:
    good = {"line": 2, "decision": "reject", "content_hash": "ab"}
    assert list(salvage_decisions(json.dumps([good, 5]))) == [2]
    assert list(salvage_decisions(json.dumps({"decisions": [{"line": "x"}, good]}))) == [2]
    cut = json.dumps({"version": 1, "decisions": [good, {**good, "line": 4}]})[:-12]
    assert list(salvage_decisions(cut)) == [2]
    assert salvage_decisions("") == {} and salvage_decisions("{" * 100_000) == {}


def _decide_many(path: str, start: int, n: int) -> None:
    store = DecisionStore(path, "d.jsonl")
    for line in range(start, start + 2 * n, 2):
        store.set(line, "reject" if line % 4 == 1 else "accept", f"{line:016x}", f"n{line}")


def test_two_processes_making_500_decisions_each_lose_none(tmp_path: Path) -> None:
    path = tmp_path / "run.decisions.json"
    ctx = multiprocessing.get_context("spawn")  # a fresh interpreter each: no shared state
    procs = [ctx.Process(target=_decide_many, args=(str(path), start, 500)) for start in (1, 2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=240)
        assert p.exitcode == 0
    store = DecisionStore(path, "")
    assert store.damage is None
    assert [d.line for d in store.all()] == list(range(1, 1001))
    assert all(d.note == f"n{d.line}" for d in store.all())


def test_two_dashboards_on_one_dataset_keep_both_sets(tmp_path: Path) -> None:
    """Instance A rejects rows 1 and 3, instance B rows 2 and 4 (each opened before the other
    wrote): the file holds all four, and each instance sees the other's after a refresh."""
    path = tmp_path / "run.decisions.json"
    a, b = DecisionStore(path, ""), DecisionStore(path, "")
    a.set(1, "reject", "h1")
    b.set(2, "reject", "h2")
    a.set(3, "reject", "h3")
    b.set(4, "reject", "h4")
    b.clear(1)  # B undoes A's row 1: a change, merged like any other
    assert [d.line for d in DecisionStore(path, "").all()] == [2, 3, 4]
    assert a.refresh() and [d.line for d in a.all()] == [2, 3, 4]
    assert not a.refresh()  # nothing new
    assert json.loads(path.read_text())["decisions"][0]["note"] == ""


def test_a_missing_sidecar_is_empty_not_damaged(tmp_path: Path) -> None:
    store = DecisionStore(tmp_path / "none.json", "")
    assert store.damage is None and len(store) == 0 and not store.load_errors
