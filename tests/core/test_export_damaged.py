"""Damaged inputs to export (issue 19 item 5): corrupt GGUFs, a truncated adapter, a bad queue
file, staging folders left by a killed export, remove right after cancel."""

from __future__ import annotations

import json
import os
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from synapse_core.cli import main
from synapse_core.export.gguf_check import write_sums
from synapse_core.export.queue import QUEUE_FILE, ExportQueue
from synapse_core.export.verify import verify_gguf


def _clip_gguf(path: Path) -> Path:
    """A small real GGUF (architecture clip, so verification needs no text model)."""
    import gguf

    w = gguf.GGUFWriter(str(path), "clip")
    w.add_name("tiny")
    w.add_tensor("v.blk.0.attn_q.weight", np.random.default_rng(0).normal(
        0, 0.02, (64, 64)).astype(np.float32))
    q = gguf.quants.quantize(np.random.default_rng(1).normal(0, 0.02, (64, 64)).astype(
        np.float32), gguf.GGMLQuantizationType.Q8_0)
    w.add_tensor("v.blk.0.ffn_up.weight", q, raw_shape=q.shape,
                 raw_dtype=gguf.GGMLQuantizationType.Q8_0)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


@pytest.fixture
def good(tmp_path):
    return _clip_gguf(tmp_path / "good.gguf")


@pytest.mark.parametrize("damage, says", [
    (lambda b: b"XXXX" + b[4:], "not a GGUF file (starts with b'XXXX'"),
    (lambda b: b"", "the file is empty"),
    (lambda b: b[:40], "more than a 40-byte file can hold"),
    (lambda b: b[:140], "the file ends inside"),
    (lambda b: b[:-3000], "(truncated)"),
    (lambda b: b[:8] + struct.pack("<Q", 2**60) + b[16:], "1,152,921,504,606,846,976 tensors"),
    (lambda b: b[:16] + struct.pack("<Q", 2**60) + b[24:], "1,152,921,504,606,846,976 keys"),
])
def test_verify_names_what_is_wrong_with_a_damaged_gguf(good, tmp_path, capsys, damage, says):
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(damage(good.read_bytes()))
    assert main(["export", "--verify", str(bad)]) == 1
    err = capsys.readouterr().err
    assert says in err and str(bad) in err and "Traceback" not in err


def test_verify_finds_nan_and_flipped_bytes_and_says_what_it_did_not_check(good, capsys):
    report = verify_gguf(good)
    assert report.ok
    assert any("whether the bytes are the ones exported" in n for n in report.not_checked)
    assert any("100% of the tensor data" in n for n in report.notes)
    write_sums(good.parent, [good])
    assert verify_gguf(good).ok and "SHA-256 matches SHA256SUMS" in verify_gguf(good).notes
    data = bytearray(good.read_bytes())
    start = len(data) - 4352 - 16384 + 100  # inside the f32 tensor's data
    for i in range(start, start + 2000):  # 2,000 bytes flipped
        data[i] ^= 0xFF
    good.write_bytes(bytes(data))
    flipped = verify_gguf(good)
    assert not flipped.ok and "differs from the one exported" in flipped.problems[0]
    for i in range(start, start + 2000):
        data[i] = 0xFF  # all-ones floats are NaN
    nan_file = good.with_name("nan.gguf")
    nan_file.write_bytes(bytes(data))
    assert main(["export", "--verify", str(nan_file)]) == 1
    out = capsys.readouterr().out
    assert "tensor v.blk.0.attn_q.weight holds 500 NaN/Inf values" in out and "FAILED" in out


def test_truncated_adapter_is_a_clear_error(tiny_model_dir, tmp_path, capsys):
    run = tmp_path / "run"
    (run / "adapter").mkdir(parents=True)
    (run / "adapter" / "adapter_config.json").write_text("{}")
    header = json.dumps({"w": {"dtype": "F32", "shape": [64, 64], "data_offsets": [0, 16384]}})
    blob = struct.pack("<Q", len(header)) + header.encode() + b"\0" * 16384
    (run / "adapter" / "adapter_model.safetensors").write_bytes(blob[:-5000])
    (run / "run.toml").write_text(f'[model]\nname_or_path = "{tiny_model_dir("mistral")}"\n')
    assert main(["export", str(run), "--out", str(tmp_path / "out"), "--no-verify"]) == 1
    err = capsys.readouterr().err
    assert "the adapter is damaged" in err and "adapter_model.safetensors" in err
    assert "(truncated)" in err and "Traceback" not in err


GOOD_JOB = {"source": "/runs/a", "quant": "q8_0", "state": "cancelled"}


@pytest.mark.parametrize("content, kept", [
    ("[]", 0), ("null", 0), ('{"jobs": 5}', 0), ("{not json", 0),
    (json.dumps({"jobs": [5, GOOD_JOB]}), 1),
    (json.dumps({"jobs": [GOOD_JOB, {"source": "/runs/b", "quant": 7},
                          {"source": "/runs/c", "steps": {"merge": {"progress": "x"}}}]}), 1),
])
def test_bad_queue_file_is_set_aside_and_good_jobs_kept(tmp_path, content, kept):
    out = tmp_path / "out"
    out.mkdir()
    (out / QUEUE_FILE).write_text(content)
    q = ExportQueue(out)
    assert [j.source for j in q.jobs()] == ["/runs/a"] * kept
    assert len(q.notices) == 1 and "queue.json.bad" in q.notices[0]
    assert (out / "queue.json.bad").read_text() == content  # nothing the user had is lost
    assert len(json.loads((out / QUEUE_FILE).read_text())["jobs"]) == kept
    if kept and "quant" in content and "7" in content:
        assert "jobs[1]: quant: int 7 is not str" in q.notices[0]
        assert "jobs[2]: steps.merge.progress" in q.notices[0]


def test_remove_right_after_cancel_waits_for_the_cancel(tiny_model_dir, tmp_path):
    from synapse_core.events import CallbackSink
    from synapse_core.export.events import ExportProgressed

    holder: dict = {}

    def on_event(e):
        if isinstance(e, ExportProgressed) and e.step == "convert" and "removed" not in holder:
            q = holder["q"]
            q.cancel(e.job_id)
            assert q.is_cancelling(e.job_id)
            holder["removed"] = q.remove(e.job_id)

    q = ExportQueue(tmp_path / "out", CallbackSink(on_event))
    holder["q"] = q
    q.add(tiny_model_dir("mistral"), verify=False)
    q.start()
    assert q.wait_idle(timeout=300)
    q.stop()
    assert holder["removed"] is False  # not removed at once: it was still cancelling
    assert q.jobs() == [] and json.loads((tmp_path / "out" / QUEUE_FILE).read_text())["jobs"] == []
    assert not list((tmp_path / "out").glob(".*.partial"))


def test_cli_removes_stale_staging_and_keeps_live_ones(tmp_path, capsys):
    out = tmp_path / "out"
    dead = out / ".r-q4_k_m-dead.partial"
    live = out / ".r-q4_k_m-live.partial"
    for d in (dead, live):
        d.mkdir(parents=True)
        (d / "big.gguf").write_bytes(b"GGUF")
    # a pid that is not running (a killed export); the live one is this very process
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    (dead / ".owner").write_text(f"{proc.pid} 0\n")
    import psutil

    (live / ".owner").write_text(f"{os.getpid()} {psutil.Process().create_time()}\n")
    main(["export", str(tmp_path / "nowhere"), "--out", str(out), "--no-verify"])
    assert f"removed {dead}" in capsys.readouterr().out
    assert not dead.exists() and live.exists()


def test_sigterm_cancels_and_removes_staging(tiny_model_dir, tmp_path):
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "synapse_core.cli", "export",
                             str(tiny_model_dir("mistral")), "--out", str(out), "--no-verify"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 120
        while not list(out.glob(".*.partial/*.gguf*")):  # bounded poll: conversion started
            assert proc.poll() is None and time.monotonic() < deadline
            try:
                proc.wait(timeout=0.1)
            except subprocess.TimeoutExpired:
                pass
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, output
    assert "SIGTERM: cancelling" in output and "staging folder was removed" in output
    assert not list(out.glob(".*.partial"))
