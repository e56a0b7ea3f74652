"""Loading: each shape, each kind of bad input, saved datasets, re-reading one row."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from synapse_core.config import RunConfig, config_from_dict
from synapse_core.data.load import DataError, iter_rows, read_record
from synapse_core.data.records import BadLine, Record

R = ("<reasoning><mem><goal>teach</goal></mem><kg><tri><subj>salt</subj><pred>dissolves in</pred>"
     "<obj>water</obj></tri></kg></reasoning>")


def write(tmp_path: Path, lines: list, name: str = "d.jsonl") -> Path:
    p = tmp_path / name
    with open(p, "wb") as fh:
        for line in lines:
            fh.write(line if isinstance(line, bytes) else
                     (line if isinstance(line, str) else json.dumps(line)).encode("utf-8"))
            fh.write(b"\n")
    return p


def rows(path: Path, config: RunConfig | None = None) -> list:
    return list(iter_rows(path, config or RunConfig()))


def test_four_shapes_detected_per_row(tmp_path: Path) -> None:
    p = write(tmp_path, [
        {"conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": R + "\nA"}],
         "quality_metrics": {"conversation_quality": 0.9, "bias_detection": False,
                             "reasoning_quality": 0.8}},
        {"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "q"},
                      {"role": "assistant", "content": "A", "reasoning": R}]},
        {"prompt": "q", "completion": R + "\nA", "label": True},
        {"text": "just text"},
    ])
    out = rows(p)
    assert [r.shape for r in out] == ["sharegpt", "messages", "prompt_completion", "text"]
    assert [r.line for r in out] == [1, 2, 3, 4]
    sg, msg, pc, _ = out
    assert sg.metrics_source == "given" and sg.bias_detection == 0.0
    assert sg.score == 1.0 * 0.9 - 0.5 * 0.0 + 0.75 * 0.8 and sg.label == "desirable"
    assert msg.metrics_source == "computed" and set(msg.reasons) == {
        "conversation_quality", "bias_detection", "reasoning_quality"}
    for r in (sg, msg, pc):
        assert r.triplets[0].subj == "salt"
        assert [m.content for m in r.messages if m.role == "assistant"] == ["A"]
    assert pc.given_label is True and msg.turns == 2


def test_bad_lines_are_reported_and_set_aside(tmp_path: Path) -> None:
    good = {"text": "fine"}
    p = write(tmp_path, [
        good, "{not json", b'{"text": "caf\xff"}', {"messages": []},
        {"messages": [{"role": "narrator", "content": "x"}]},
        {"conversations": [{"from": "human", "value": 3}]}, [1, 2], {"nothing": 1},
        {"text": "x" * 300}, "", good,
        {"conversations": [{"from": "gpt", "value": "a"}], "quality_metrics":
         {"conversation_quality": "high"}},
    ])
    cfg = config_from_dict({"data": {"max_line_bytes": 200}})
    out = rows(p, cfg)
    bad = {b.line: b.reason for b in out if isinstance(b, BadLine)}
    assert [r.line for r in out if isinstance(r, Record)] == [1, 11]
    assert bad[2].startswith("invalid JSON")
    assert bad[3] == "not UTF-8: byte 0xff at column 14"
    assert bad[4] == "messages: empty conversation"
    assert "messages[0].role: unknown role 'narrator'" in bad[5]
    assert bad[6] == "conversations[0].value: expected a string, got int"
    assert bad[7] == "expected a JSON object, got list"
    assert "no conversations, messages" in bad[8]
    assert bad[9].startswith("line is 313 bytes, over data.max_line_bytes=200")
    assert "quality_metrics.conversation_quality" in bad[12]
    assert 10 not in bad  # blank lines are not rows
    assert str(out[1]) == f"{p}:2: {bad[2]}"


def test_long_line_does_not_break_line_numbers(tmp_path: Path) -> None:
    p = write(tmp_path, [{"text": "a"}, {"text": "y" * 5000}, {"text": "b"}])
    out = rows(p, config_from_dict({"data": {"max_line_bytes": 100}}))
    assert [type(x).__name__ for x in out] == ["Record", "BadLine", "Record"]
    assert out[2].line == 3


def test_missing_and_empty_files_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such file"):
        rows(tmp_path / "nope.jsonl")
    (tmp_path / "empty.jsonl").write_bytes(b"")
    with pytest.raises(DataError, match="empty"):
        rows(tmp_path / "empty.jsonl")
    (tmp_path / "blank.jsonl").write_bytes(b"\n\n  \n")
    with pytest.raises(DataError, match="no rows"):
        rows(tmp_path / "blank.jsonl")


def test_input_file_is_not_modified_and_rows_reread_by_offset(tmp_path: Path) -> None:
    p = write(tmp_path, [{"text": "one"}, {"text": "two, with delve"}])
    before = p.read_bytes()
    out = rows(p)
    assert p.read_bytes() == before
    again = read_record(p, 2, out[1].offset, RunConfig())
    assert isinstance(again, Record) and again.messages[0].content == "two, with delve"
    assert again.content_hash == out[1].content_hash and again.banned[0].word == "delve"


def test_saved_datasets_folder(tmp_path: Path) -> None:
    import datasets

    ds = datasets.Dataset.from_list([
        {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]},
        {"messages": [{"role": "user", "content": "q2"}, {"role": "assistant", "content": "b"}]},
    ])
    ds.save_to_disk(str(tmp_path / "ds"))
    out = rows(tmp_path / "ds")
    assert [(r.line, r.shape) for r in out] == [(1, "messages"), (2, "messages")]
    again = read_record(tmp_path / "ds", 2, -1, RunConfig())
    assert again.messages[1].content == "b" and again.content_hash == out[1].content_hash


def test_batches_report_progress_to_a_sink(tmp_path: Path) -> None:
    from synapse_core.data.events import DatasetLoaded, DatasetLoadProgressed
    from synapse_core.data.load import iter_batches
    from synapse_core.events import ListSink

    p = write(tmp_path, [{"text": f"row {i}."} for i in range(25)] + ["{bad"])
    sink = ListSink()
    batches = list(iter_batches(p, RunConfig(), batch_size=10, sink=sink))
    assert [len(b.records) + len(b.bad) for b in batches] == [10, 10, 6]
    assert [b.done for b in batches] == [False, False, True]
    assert batches[-1].bytes_read == batches[-1].total_bytes == p.stat().st_size
    prog = sink.of(DatasetLoadProgressed)
    assert [e.rows for e in prog] == [10, 20, 25] and prog[-1].bad_lines == 1
    (done,) = sink.of(DatasetLoaded)
    assert (done.rows, done.bad_lines, done.desirable + done.undesirable) == (25, 1, 25)


def test_byte_order_mark_and_crlf(tmp_path: Path) -> None:
    p = tmp_path / "bom.jsonl"
    p.write_bytes(b'\xef\xbb\xbf{"text": "one."}\r\n{"text": "two."}\r\n')
    out = rows(p)
    assert [r.messages[0].content for r in out] == ["one.", "two."]


def test_a_block_nested_thousands_deep_is_a_bad_line_not_a_failed_load(tmp_path: Path) -> None:
    deep = "<reasoning>" * 3000
    rows = [{"messages": [{"role": "user", "content": "q"},
                          {"role": "assistant", "content": "a", "reasoning": deep}]},
            {"text": deep + " answer"},
            {"text": "fine"}]
    path = tmp_path / "deep.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    for workers in (1, 2):
        items = list(iter_rows(path, RunConfig(), workers=workers))
        assert [str(i) for i in items if isinstance(i, BadLine)] == [
            f"{path}:1: messages[1].reasoning: <reasoning> block nested too deeply to read",
            f"{path}:2: text: <reasoning> block nested too deeply to read"]
        assert [r.line for r in items if not isinstance(r, BadLine)] == [3]


BAD_CORPUS = Path(__file__).resolve().parents[1] / "data" / "bad"


def _expected_bad_lines(path: Path) -> dict[int, str]:
    """``NAME.expect`` beside ``NAME.jsonl``: ``LINE<TAB>part of the reason`` per bad line."""
    out = {}
    for row in path.with_suffix(".expect").read_text(encoding="utf-8").splitlines():
        if row.strip() and not row.startswith("#"):
            line, reason = row.split("\t", 1)
            out[int(line)] = reason
    return out


@pytest.mark.parametrize("path", sorted(BAD_CORPUS.glob("*.jsonl")), ids=lambda p: p.stem)
def test_every_bad_input_of_the_corpus_is_a_bad_line_everywhere(
        path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """tests/data/bad/: each file loads with exactly its expected bad lines (FILE:LINE and the
    reason) and no exception, through the loader, `synapse score --out`, `synapse graph
    --out` and training preparation (whose kept rows are then written)."""
    from synapse_core.cli import main
    from synapse_core.data.prepare import prepare_dataset, write_prepared

    expected = _expected_bad_lines(path)
    items = rows(path)
    bad = {b.line: b.reason for b in items if isinstance(b, BadLine)}
    assert sorted(bad) == sorted(expected)
    for line, part in expected.items():
        assert part in bad[line], (line, bad[line])
    valid = sum(isinstance(i, Record) for i in items)
    assert valid >= 2  # every corpus file keeps good rows around its bad ones

    scored = tmp_path / "scored.jsonl"
    assert main(["score", str(path), "--out", str(scored), "--json"]) == 0
    out = capsys.readouterr()
    counts = json.loads(out.out.strip().splitlines()[-1])
    assert (counts["valid"], counts["invalid"]) == (valid, len(expected))
    for line in expected:
        assert f"{path}:{line}: " in out.err
    assert len(scored.read_text(encoding="utf-8").splitlines()) == valid

    graph = tmp_path / "graph.json"
    assert main(["graph", str(path), "--out", str(graph), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["bad_lines"] == len(expected) and graph.stat().st_size > 0

    config = RunConfig()
    prepared = prepare_dataset(config, data_path=path, decisions_path=tmp_path / "dec.json")
    assert [b.line for b in prepared.bad_lines] == sorted(expected)
    assert len(prepared.rows) + len(prepared.rejected) == valid
    write_prepared(prepared, tmp_path / "prepared")
    assert (tmp_path / "prepared" / "bad_lines.txt").read_text(encoding="utf-8").count(
        "\n") == len(expected)


def test_bad_lines_are_listed_first_twenty_then_a_count() -> None:
    from synapse_core.data.load import describe_bad_lines

    bad = [BadLine("d.jsonl", i, "invalid JSON: Expecting value (column 1)") for i in range(1, 26)]
    lines = describe_bad_lines(bad)
    assert lines[0] == "bad line d.jsonl:1: invalid JSON: Expecting value (column 1)"
    assert len(lines) == 21 and lines[19].startswith("bad line d.jsonl:20: ")
    assert lines[20].startswith("… and 5 more bad lines")
    assert describe_bad_lines(bad[:3]) == [f"bad line {b}" for b in bad[:3]]
