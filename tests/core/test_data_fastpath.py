"""The worker processes give exactly what the single-process reader gives.

* rows scored in worker processes (``RowSummary`` records, lazily rebuilt detail) against full
  Records built in this process, on the bundled demo data and on the benchmark's generated
  rows (plus bad, blank, over-long and BOM lines): every field ``synapse score`` writes, the
  bad lines, the order, the rebuilt conversation, reasons and raw row, and the table's columns;
* the one-pass reader of canonical reasoning blocks against the tolerant parser, on every
  block of those rows;
* a worker that dies is an error, not a hang; an abandoned load leaves no worker behind.
"""

from __future__ import annotations

import importlib.util
import json
import threading
from pathlib import Path
from typing import Iterable

import pytest

from synapse_core.config import RunConfig
from synapse_core.data import parallel
from synapse_core.data.cli import scored_row
from synapse_core.data.load import iter_rows
from synapse_core.data.reasoning import (_CANONICAL_RE, parse_reasoning,
                                         parse_reasoning_tolerant, split_inline_reasoning)
from synapse_core.data.records import BadLine, Record
from synapse_core.data.table import RowTable
from synapse_core.paths import demo_dataset_path

ROOT = Path(__file__).resolve().parents[2]


def _bench_module():
    spec = importlib.util.spec_from_file_location("data_bench", ROOT / "benchmarks" / "data_bench.py")
    mod = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def bench_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """3,000 benchmark rows (with its broken lines), then blank, over-long, non-UTF-8,
    wrong-shape and oddly spaced lines, behind a byte-order mark."""
    path = tmp_path_factory.mktemp("fast") / "bench.jsonl"
    _bench_module().generate(path, 3000)
    body = path.read_bytes()
    extra = (b"\n   \n" + b'{"text": "' + b"x" * 4000 + b'"}\n' + b'{"text": "caf\xe9"}\n'
             + b'{"foo": 1}\n' + b'{"messages": []}\n' + b'[1, 2]\n'
             # what json.loads accepts around an object, and what it does not
             + b' {"text": "leading space"}\n' + b'{"text": "tabs and CR"}\t \r\n'
             + b'{"text": "form feed after"}\x0c\n' + b'{"text": "a"} {"text": "b"}\n'
             + b'{"text": "\\u0044elve, Ah!"}\n' + b'{"text": "\xef\xbb\xbfbom inside"}\n')
    path.write_bytes(b"\xef\xbb\xbf" + body + extra)
    return path


def _config() -> RunConfig:
    cfg = RunConfig()
    cfg.data.max_line_bytes = 3000  # the 4,000-byte line is over it
    return cfg


def _out(item: Record | BadLine) -> str:
    if isinstance(item, BadLine):
        return "BAD " + str(item)
    return json.dumps(scored_row(item), ensure_ascii=False, sort_keys=True)


def _reference(path: Path, config: RunConfig) -> list[Record | BadLine]:
    """The reference: full Records built in this process."""
    out = list(iter_rows(path, config, workers=1, with_reasons=True))
    assert all(r._detail is None and r._messages is not None for r in out
               if isinstance(r, Record))
    return out


def _assert_same(path: Path, config: RunConfig) -> list[Record | BadLine]:
    ref = _reference(path, config)
    serial = list(iter_rows(path, config, workers=1))
    assert [_out(x) for x in serial] == [_out(x) for x in ref]
    fast = list(iter_rows(path, config, workers=2))
    assert [_out(x) for x in fast] == [_out(x) for x in ref]
    refs = [r for r in ref if isinstance(r, Record)]
    fasts = [r for r in fast if isinstance(r, Record)]
    assert [(r.offset, r.content_hash, r.given_label, r.malformed_triplets) for r in fasts] == \
        [(r.offset, r.content_hash, r.given_label, r.malformed_triplets) for r in refs]
    # the detail rebuilt on demand is the reference's
    for a, b in zip(fasts[::97], refs[::97]):
        assert a.raw == b.raw and a.reasons == b.reasons
        assert [(m.role, m.content, m.reasoning) for m in a.messages] == \
            [(m.role, m.content, m.reasoning) for m in b.messages]
    t_ref, t_fast = RowTable(), RowTable()
    t_ref.extend(refs)
    t_fast.extend(fasts)
    for col in ("line", "offset", "shape", "turns", "cq", "bias", "rq", "score", "label",
                "banned", "problems", "given", "hash"):
        assert t_fast.col(col).tolist() == t_ref.col(col).tolist(), col
    return ref


def test_parallel_matches_single_process_on_benchmark_rows(bench_file: Path) -> None:
    ref = _assert_same(bench_file, _config())
    bad = [x for x in ref if isinstance(x, BadLine)]
    reasons = {b.reason.split(":")[0] for b in bad}
    assert {"invalid JSON", "not UTF-8", "no conversations, messages, prompt+completion or text "
            "field", "messages"} <= reasons
    assert any(b.reason.startswith("line is ") for b in bad)
    assert sum(isinstance(x, Record) for x in ref) > 2000
    assert any(r.reasoning_problems for r in ref if isinstance(r, Record))
    assert any(r.banned for r in ref if isinstance(r, Record))


def test_parallel_matches_single_process_on_demo_data() -> None:
    ref = _assert_same(demo_dataset_path(), RunConfig())
    assert sum(isinstance(x, Record) for x in ref) >= 100


def test_parallel_with_reasons_and_stop(bench_file: Path) -> None:
    config = _config()
    fast = list(iter_rows(bench_file, config, workers=2, with_reasons=True))
    ref = _reference(bench_file, config)
    assert [_out(x) for x in fast] == [_out(x) for x in ref]
    stop = threading.Event()
    seen = []
    for item in iter_rows(bench_file, config, workers=2, stop=stop):
        seen.append(item)
        if len(seen) == 10:
            stop.set()
    assert 10 <= len(seen) < len(ref)
    assert [_out(x) for x in seen] == [_out(x) for x in ref[:len(seen)]]


def test_parallel_block_edges_and_spawned_workers(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Tiny blocks: lines over the limit that run past several blocks (first line, middle,
    last line without a newline), CRLF, blank lines, a BOM; then the same with workers
    spawned from a second thread (as in the app)."""
    monkeypatch.setattr(parallel, "BLOCK_BYTES", 256)
    good = '{"prompt": "What is entropy?", "completion": "🧙 Entropy measures disorder."}'
    rows = ["{" + '"text": "' + "y" * 3000 + '"}', good, "", good + "\r", "   ", '{"text": ""}',
            '{"text": "' + "z" * 700 + '"}', '{"text": "' + "w" * 2600 + '"}', good,
            '{"text": "' + "q" * 5000 + '"}']
    path = tmp_path / "edges.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + "\n".join(rows).encode("utf-8"))
    config = RunConfig()
    config.data.max_line_bytes = 800
    ref = [_out(x) for x in _reference(path, config)]
    assert [_out(x) for x in iter_rows(path, config, workers=1)] == ref
    assert sum(x.startswith("BAD") and "over data.max_line_bytes=800" in x for x in ref) == 3
    assert [_out(x) for x in iter_rows(path, config, workers=2)] == ref
    got: list[str] = []
    t = threading.Thread(target=lambda: got.extend(
        _out(x) for x in iter_rows(path, config, workers=2)))
    t.start()
    t.join(timeout=120)
    assert got == ref


def _blocks(path: Path) -> list[str]:
    return blocks_in(path.read_bytes().splitlines())


def blocks_in(lines: Iterable[str | bytes]) -> list[str]:
    """Every reasoning block of these JSONL lines (a message's field or inline)."""
    out = []
    for raw in lines:
        try:
            obj = json.loads(raw)
        except ValueError:
            continue
        if not isinstance(obj, dict):
            continue
        for m in obj.get("conversations", []) + obj.get("messages", []):
            if not isinstance(m, dict):
                continue
            if isinstance(m.get("reasoning"), str):
                out.append(m["reasoning"])
            content = m.get("value", m.get("content"))
            block = split_inline_reasoning(content)[0] if isinstance(content, str) else None
            if block:
                out.append(block)
    return out


def test_one_pass_reasoning_matches_tolerant_parser(bench_file: Path) -> None:
    blocks = _blocks(bench_file) + _blocks(demo_dataset_path())
    canonical = 0
    for b in blocks:
        body = b.strip()
        if not body.startswith("<reasoning"):
            body = f"<reasoning>{body}</reasoning>"
        if _CANONICAL_RE.fullmatch(body):
            canonical += 1
            assert parse_reasoning(b) == parse_reasoning_tolerant(b)
    assert canonical > 1000


def _workers() -> list:
    """Our scoring processes: the pool's workers are children of its fork server (or, with
    ``spawn``, of this process, beside multiprocessing's helpers)."""
    import psutil

    me = psutil.Process()
    return [p for p in me.children(recursive=True)
            if "resource_tracker" not in " ".join(p.cmdline()) and (
                p.ppid() != me.pid or "forkserver" not in " ".join(p.cmdline()))]


def test_a_dying_worker_is_an_error_not_a_hang(bench_file: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """A scoring process that dies is reported (the reader raises, naming the file), and an
    abandoned load leaves no scoring process behind."""
    import signal

    monkeypatch.setattr(parallel, "BLOCK_BYTES", 8192)  # hundreds of blocks: some still queued

    gen = iter_rows(bench_file, _config(), workers=2)
    assert isinstance(next(gen), (Record, BadLine))
    gen.close()  # abandoned after one row
    assert _workers() == []
    gen = iter_rows(bench_file, _config(), workers=2)
    next(gen)
    victims = _workers()
    assert victims
    for p in victims:
        p.send_signal(signal.SIGKILL)
    with pytest.raises(RuntimeError, match="a scoring process died"):
        list(gen)
    assert _workers() == []
