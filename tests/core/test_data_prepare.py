"""Decisions sidecar and the prepared training set (KTO and SFT), written to disk."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from synapse_core.config import config_from_dict
from synapse_core.data.decisions import DecisionStore, decisions_path_for
from synapse_core.data.load import iter_rows
from synapse_core.data.prepare import load_prepared_rows, prepare_dataset, write_prepared

R = "<reasoning><mem><goal>g</goal></mem></reasoning>"


def _row(i: int, cq: float, answer: str = "Answer.") -> str:
    return json.dumps({"conversations": [
        {"from": "system", "value": "sys"}, {"from": "human", "value": f"q{i}"},
        {"from": "gpt", "value": f"{R}\n{answer}"}],
        "quality_metrics": {"conversation_quality": cq, "bias_detection": 0.0,
                            "reasoning_quality": 0.8}})


@pytest.fixture
def setup(tmp_path: Path):
    data = tmp_path / "d.jsonl"
    data.write_text("\n".join([_row(1, 1.0), _row(2, 0.2), _row(3, 1.0, "Ah, delve."),
                               "{bad", json.dumps({"text": "plain"})]) + "\n")
    src = tmp_path / "run.toml"

    def cfg(**sections):
        return config_from_dict({"data": {"path": "d.jsonl"}, **sections}, source=str(src))
    return data, cfg


def test_kto_rows_conversational_with_inline_reasoning(setup) -> None:
    data, cfg = setup
    p = prepare_dataset(cfg())
    assert [m["line"] for m in p.meta] == [1, 2, 3]
    row = p.rows[0]
    assert row["prompt"] == [{"role": "system", "content": "sys"},
                             {"role": "user", "content": "q1"}]
    assert row["completion"] == [{"role": "assistant", "content": f"{R}\nAnswer."}]
    assert [r["label"] for r in p.rows] == [True, False, True]
    assert p.counts["bad_lines"] == 1
    assert [(r["line"], r["reason"].split(" (")[0]) for r in p.rejected] == [
        (5, "no user prompt before the answer")]


def test_decisions_override_and_stale_ones_are_reported(setup) -> None:
    data, cfg = setup
    config = cfg()
    path = decisions_path_for(config, data)
    assert path.name == "run.decisions.json"
    hashes = {r.line: r.content_hash for r in iter_rows(data, config) if hasattr(r, "content_hash")}
    store = DecisionStore(path, data)
    store.set(1, "reject", hashes[1], "off topic")
    store.set(2, "accept", hashes[2])
    store.set(3, "reject", "0000000000000000")  # made on other content: stale
    p = prepare_dataset(config)
    assert [(m["line"], m["label"], m["decision"]) for m in p.meta] == [
        (2, True, "accept"), (3, True, "")]
    assert p.rejected[0]["line"] == 1 and p.rejected[0]["reason"] == "rejected in review: off topic"
    assert [d.line for d in p.stale_decisions] == [3]
    assert DecisionStore(path).get(1).note == "off topic"  # reloads from disk


def test_policy_drop_min_score_and_sft(setup) -> None:
    data, cfg = setup
    p = prepare_dataset(cfg(banned_words={"policy": "drop"}, scoring={"min_score": 1.0}))
    reasons = {r["line"]: r["reason"] for r in p.rejected}
    assert reasons[3] == "banned words: Ah, delve"
    assert reasons[2].startswith("score 0.800 below scoring.min_score 1.0")
    sft = prepare_dataset(cfg(training={"objective": "sft", "per_device_train_batch_size": 1}))
    assert [m["line"] for m in sft.meta] == [1, 3]
    assert {r["line"]: r["reason"] for r in sft.rejected}[2].startswith("undesirable")
    assert sft.rows[0]["messages"][-1]["content"] == f"{R}\nAnswer."


def test_write_prepared_jsonl_and_datasets(setup, tmp_path: Path) -> None:
    import datasets

    data, cfg = setup
    p = prepare_dataset(cfg())
    out = write_prepared(p, tmp_path / "prep")
    assert load_prepared_rows(out) == p.rows
    assert len((out / "rejected.jsonl").read_text().splitlines()) == 1
    assert "d.jsonl:4: invalid JSON" in (out / "bad_lines.txt").read_text()
    ds = datasets.load_from_disk(str(out / "dataset"))
    assert ds.column_names == ["prompt", "completion", "label"] and len(ds) == 3
    write_prepared(p, out)  # rewriting swaps the folder in whole
    assert len(datasets.load_from_disk(str(out / "dataset"))) == 3


def test_demo_dataset_when_path_is_empty() -> None:
    cfg = config_from_dict({})
    p = prepare_dataset(cfg, decisions_path=None)
    assert p.data_path.endswith("prof_synapse.jsonl") and p.rows
    assert {type(r["label"]) for r in p.rows} == {bool}


def test_a_threshold_above_the_best_score_warns_that_no_row_is_desirable(setup) -> None:
    _, cfg = setup
    with pytest.warns(UserWarning, match="no desirable rows"):
        p = prepare_dataset(cfg(scoring={"threshold": 5}))
    assert p.counts["desirable"] == 0 and p.counts["kept"] == 3
    assert len(p.warnings) == 1
    assert "scoring.threshold = 5 is above the best score any row can have (1.75)" \
        in p.warnings[0]
    assert "KTO needs both desirable and undesirable" in p.warnings[0]


def test_no_warning_when_both_classes_have_rows(setup) -> None:
    _, cfg = setup
    p = prepare_dataset(cfg())
    assert p.counts["desirable"] and p.counts["undesirable"] and p.warnings == []


def test_a_rows_own_label_is_trained_as_given(tmp_path: Path) -> None:
    data = tmp_path / "kto.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in [
        {"prompt": "Say hi.", "completion": "Hi.", "label": True},
        {"prompt": "Say hi.", "completion": "Go away.", "label": False}]) + "\n")
    config = config_from_dict({"data": {"path": str(data)}})
    p = prepare_dataset(config, decisions_path=tmp_path / "dec.json")
    assert [r["label"] for r in p.rows] == [True, False]
    assert [m["label_source"] for m in p.meta] == ["given", "given"]


def test_a_row_without_an_assistant_turn_is_no_example(tmp_path: Path) -> None:
    data = tmp_path / "q.jsonl"
    data.write_text(json.dumps({"messages": [{"role": "user", "content": "Anyone?"}]}) + "\n"
                    + _row(2, 1.0) + "\n")
    [rec, _] = list(iter_rows(data, config_from_dict({})))
    assert "no assistant turn: this row has no answer to train on" in rec.reasoning_problems
    # accepted in review, so that SFT's "desirable only" does not leave it out first
    DecisionStore(tmp_path / "dec.json", data).set(1, "accept", rec.content_hash)
    for objective in ("kto", "sft"):
        config = config_from_dict({"data": {"path": str(data)},
                                   "training": {"objective": objective}})
        p = prepare_dataset(config, decisions_path=tmp_path / "dec.json")
        assert [(r["line"], r["reason"]) for r in p.rejected] == [
            (1, "no assistant turn: the row has no answer to train on")]
