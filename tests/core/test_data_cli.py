"""``synapse score``: output rows, bad lines on stderr, summary, exit codes."""

from __future__ import annotations

import json
import os
from pathlib import Path

from synapse_core.cli import main


def test_score_writes_rows_and_reports_bad_lines(tmp_path: Path, capsys) -> None:
    data = tmp_path / "d.jsonl"
    data.write_text(json.dumps({"text": "Ah, hello."}) + "\nnot json\n"
                    + json.dumps({"conversations": [{"from": "human", "value": "q"},
                                                    {"from": "gpt", "value": "a"}],
                                  "quality_metrics": {"conversation_quality": 1,
                                                      "bias_detection": True,
                                                      "reasoning_quality": 1}}) + "\n")
    out = tmp_path / "scored.jsonl"
    assert main(["score", str(data), "--out", str(out), "--json"]) == 0
    cap = capsys.readouterr()
    assert cap.err.splitlines() == [
        f"{data}:2: invalid JSON: Expecting value (column 1)",
        "synapse score: 1 row without reasoning (reasoning_quality 0) scores at most 1, below "
        "the threshold 1.25"]
    assert json.loads(cap.out) == {"rows": 3, "valid": 2, "invalid": 1, "desirable": 1,
                                   "undesirable": 1, "flagged": 1, "label_given": 0,
                                   "no_reasoning": 1}
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert [r["line"] for r in rows] == [1, 3]
    first = rows[0]
    for key in ("shape", "conversation_quality", "bias_detection", "reasoning_quality", "score",
                "label", "metrics_source", "banned_words", "reasoning_problems"):
        assert key in first
    assert first["banned_words"][0]["word"] == "Ah" and first["metrics_source"] == "computed"
    assert rows[1]["score"] == 1.25 and rows[1]["label"] == "desirable"


def test_unreadable_file_exits_non_zero(tmp_path: Path, capsys) -> None:
    assert main(["score", str(tmp_path / "missing.jsonl")]) == 1
    assert "no such file" in capsys.readouterr().err
    cfg = tmp_path / "run.toml"
    cfg.write_text("[scoring]\nthreshold = 'high'\n")
    (tmp_path / "d.jsonl").write_text('{"text": "x"}\n')
    assert main(["score", str(tmp_path / "d.jsonl"), "--config", str(cfg)]) == 2


def test_out_naming_the_input_is_refused_unless_forced(tmp_path: Path, capsys) -> None:
    """`--out data.jsonl` on data.jsonl (or a hard link to it) would replace the dataset."""
    data = tmp_path / "data.jsonl"
    original = json.dumps({"text": "A short answer."}) + "\n"
    data.write_text(original)
    link = tmp_path / "link.jsonl"
    os.link(data, link)
    for out in (data, link, tmp_path / "." / "data.jsonl"):
        assert main(["score", str(data), "--out", str(out)]) == 2
        err = capsys.readouterr().err
        assert f"--out {out} is the input file itself" in err and "--force" in err
        assert data.read_text() == original
    assert main(["score", str(data), "--out", str(data), "--force"]) == 0
    assert json.loads(data.read_text())["line"] == 1  # replaced, as asked


def test_a_given_label_is_written_with_its_source_and_the_score(tmp_path: Path,
                                                                 capsys) -> None:
    data = tmp_path / "kto.jsonl"
    data.write_text(json.dumps({"prompt": "Say hi.", "completion": "Hi.", "label": True})
                    + "\n" + json.dumps({"prompt": "Say hi.", "completion": "Hi."}) + "\n")
    out = tmp_path / "scored.jsonl"
    assert main(["score", str(data), "--out", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["desirable"] == 1
    given, scored = [json.loads(x) for x in out.read_text().splitlines()]
    assert (given["label"], given["label_source"], given["score_label"]) == (
        "desirable", "given", "undesirable")
    assert given["score"] == scored["score"] < 1.25
    assert (scored["label"], scored["label_source"]) == ("undesirable", "score")


def test_a_threshold_that_empties_a_class_is_warned(tmp_path: Path, capsys) -> None:
    data = tmp_path / "d.jsonl"
    data.write_text(json.dumps({"conversations": [{"from": "human", "value": "q"},
                                                  {"from": "gpt", "value": "a"}],
                                "quality_metrics": {"conversation_quality": 1,
                                                    "bias_detection": 0,
                                                    "reasoning_quality": 1}}) + "\n")
    cfg = tmp_path / "run.toml"
    cfg.write_text("[scoring]\nthreshold = 5\n")
    assert main(["score", str(data), "--config", str(cfg)]) == 0
    err = capsys.readouterr().err
    assert "synapse score: warning: no desirable rows: scoring.threshold = 5 is above the best " \
           "score any row can have (1.75)" in err
