"""The process model without training: run folders, their owner lock and liveness, the
control protocol, ``synapse runs`` / ``synapse control``, and the supervisor's verdict on a
run process that vanished. Real processes and files throughout; no model is trained here
(tests/core/test_training_lifecycle.py trains)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from synapse_core.config import RunConfig
from synapse_core.events import ListSink
from synapse_core.training import rundir as rd
from synapse_core.training import supervisor
from synapse_core.training.control import (ControlFileReader, ControlFileWriter, RunControl,
                                           read_requests, reset_requests, send_request)
from synapse_core.training.engine import Engine, write_end_state
from synapse_core.training.events import (StepLogged, TrainingFailed, TrainingFinished,
                                          event_from_dict)
from synapse_core.training.state import RunState


def _cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "synapse_core.cli", *args],
                          capture_output=True, text=True, timeout=timeout)


def _sleeper() -> subprocess.Popen[bytes]:
    """A live process that is not a run (stands for "some pid" in a state.json)."""
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])


def _run_folder(path: Path, state: str, pid: int | None, steps: int = 3,
                heartbeat: float | None = None) -> Path:
    run = rd.RunDir(path)
    for i in range(1, steps + 1):
        run.append_metrics({"step": i, "loss": 2.0 - i * 0.1})
        run.append_event(StepLogged(step=i, total_steps=10, epoch=0.1 * i, loss=2.0 - i * 0.1,
                                    learning_rate=1e-4).to_dict())
    run.write_state(state=state, objective="sft", total_steps=10, step=steps, pid=pid,
                    heartbeat=time.time() if heartbeat is None else heartbeat)
    run.close()
    return path


# -- states ----------------------------------------------------------------------------------

def test_run_state_enum_and_failure_field():
    assert RunState.parse("running").live and RunState.parse("paused").live
    assert RunState.parse("died").ended and not RunState.parse("died").live
    assert RunState.parse("bogus") is RunState.DAMAGED
    failed = TrainingFailed(message="boom", failure="oom", step=3, exit_code=-9)
    d = failed.to_dict()
    assert d["kind"] == "TrainingFailed" and d["failure"] == "oom"  # nothing shadows kind
    assert event_from_dict(json.loads(json.dumps(d))) == failed
    old = dict(d, failure_kind="nan")  # written by an older version
    del old["failure"]
    assert event_from_dict(old).failure == "nan"


def test_end_state_clears_a_stale_error(tmp_path):
    """After SIGINT and a resume, a finished run keeps no "interrupted" error."""
    run = rd.RunDir(tmp_path / "r")
    write_end_state(run, TrainingFailed(message="interrupted", failure="error", step=2))
    assert rd.read_state(run.path)["error"] == "interrupted"
    write_end_state(run, TrainingFinished(run_dir=str(run.path), step=4, adapter_path="a"))
    state = rd.read_state(run.path)
    assert state["state"] == "finished" and "error" not in state and "failure" not in state


# -- liveness and the owner lock -----------------------------------------------------------

def test_live_needs_a_live_pid_and_a_fresh_heartbeat(tmp_path):
    sleeper = _sleeper()
    try:
        now = time.time()
        live = {"state": "running", "pid": sleeper.pid, "heartbeat": now}
        assert rd.live_pid(live) == sleeper.pid
        assert rd.live_pid(dict(live, heartbeat=now - rd.HEARTBEAT_STALE_S - 1)) is None
        assert rd.live_pid(dict(live, state="finished")) is None
    finally:
        sleeper.kill()
        sleeper.wait(timeout=10)
    assert rd.live_pid(live) is None  # the pid is gone


def test_one_owner_per_run_folder(tmp_path):
    """The lock names its live owner; it is free again the moment that process dies."""
    folder = tmp_path / "run"
    folder.mkdir()
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from synapse_core.training.rundir import RunLock; "
        f"RunLock({str(folder)!r}).acquire(); print('locked', flush=True); time.sleep(60)")],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        assert rd.lock_owner(folder) == holder.pid
        with pytest.raises(rd.RunInUse, match=f"in use by process {holder.pid}"):
            rd.RunLock(folder).acquire()
        with pytest.raises(rd.RunInUse):  # a second writer is refused before it starts
            supervisor.launch(RunConfig(), run_dir=folder)
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=10)
        assert rd.lock_owner(folder) is None
        rd.RunLock(folder).acquire().release()
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait(timeout=10)


# -- the control protocol -------------------------------------------------------------------

def test_control_requests_from_several_writers_are_acknowledged_in_order(tmp_path):
    path = tmp_path / "control.json"
    reset_requests(path)
    control, acks = RunControl(), []
    reader = ControlFileReader(path, control, acknowledge=lambda a, s: acks.append((a, s)))
    app = RunControl()
    writer = ControlFileWriter(path)
    app.pause()
    assert writer.sync(app) and not writer.sync(app)
    seq = send_request(path, "checkpoint")  # synapse control, between two app requests
    reader.poll()
    assert control.paused and control.checkpoint_requested.is_set()
    assert acks == [("checkpoint", seq)]
    app.resume()
    writer.sync(app)
    reader.poll()
    assert not control.paused and acks[-1] == ("resume", seq + 1)
    send_request(path, "stop")
    reader.poll()
    assert control.stop_requested.is_set() and acks[-1][0] == "stop"
    reset_requests(path)  # a resumed run starts without the old stop, the numbers go on
    req = read_requests(path)
    assert not req["stop"] and req["seq"] == seq + 2
    fresh = RunControl()
    ControlFileReader(path, fresh)
    assert not fresh.stop_requested.is_set()
    with pytest.raises(ValueError, match="unknown request"):
        send_request(path, "explode")


# -- synapse runs / synapse control ---------------------------------------------------------

def test_runs_lists_damaged_runs_and_the_rest(tmp_path):
    root = tmp_path / "runs"
    good = _run_folder(root / "a-good", "finished", None)
    five = _run_folder(root / "b-five", "stopped", None)
    with open(five / rd.METRICS_FILE, "a") as fh:
        fh.write("5\n")  # valid JSON, not an object
    utf = _run_folder(root / "c-utf", "stopped", None)
    with open(utf / rd.METRICS_FILE, "ab") as fh:
        fh.write(b'{"step": 4, "loss": "\xff\xfe"}\n')
    nonnum = _run_folder(root / "d-step", "stopped", None)
    with open(nonnum / rd.METRICS_FILE, "a") as fh:
        fh.write('{"step": "four", "loss": 1.0}\n')
    folder = root / "e-folder"
    folder.mkdir(parents=True)
    (folder / rd.METRICS_FILE).mkdir()  # a folder where the file should be
    (folder / rd.CONFIG_FILE).write_text("")
    bad_state = _run_folder(root / "f-state", "finished", None)
    (bad_state / rd.STATE_FILE).write_text("[1, 2]")
    res = _cli("runs", str(root), "--json")
    assert res.returncode == 0, res.stderr
    rows = {Path(r["run_dir"]).name: r for r in map(json.loads, res.stdout.splitlines())}
    assert set(rows) == {"a-good", "b-five", "c-utf", "d-step", "e-folder", "f-state"}
    assert rows["a-good"]["state"] == "finished" and rows["a-good"]["step"] == 3
    for name, line in (("b-five", 4), ("c-utf", 4), ("d-step", 4)):
        assert rows[name]["state"] == "stopped" and rows[name]["step"] == 3
        assert f"metrics.jsonl:{line}" in rows[name]["reason"], rows[name]
    assert rows["e-folder"]["state"] == "damaged" and "metrics.jsonl" in rows["e-folder"]["reason"]
    assert rows["f-state"]["state"] == "damaged" and "state.json" in rows["f-state"]["reason"]
    assert {"run_dir", "state", "step", "total_steps", "pid", "objective", "last_loss",
            "updated"} <= set(rows["a-good"])
    table = _cli("runs", str(root))
    assert table.returncode == 0 and "damaged" in table.stdout and "a-good" in table.stdout


def test_runs_shows_a_stale_run_as_died_and_a_live_one_with_its_pid(tmp_path):
    root = tmp_path / "runs"
    gone = _sleeper()
    gone.kill()
    gone.wait(timeout=10)
    _run_folder(root / "stale", "running", gone.pid)
    sleeper = _sleeper()
    try:
        _run_folder(root / "live", "running", sleeper.pid)
        rows = {Path(r["run_dir"]).name: r for r in rd.list_runs(root)}
        assert rows["stale"]["state"] == "died" and rows["stale"]["pid"] is None
        assert rows["stale"]["reason"] == "process vanished"
        assert rows["live"]["state"] == "running" and rows["live"]["pid"] == sleeper.pid
        assert [r["run_dir"] for r in rd.live_runs(root)] == [str(root / "live")]
    finally:
        sleeper.kill()
        sleeper.wait(timeout=10)


def test_control_refuses_a_missing_or_ended_run_and_times_out_on_a_deaf_one(tmp_path):
    res = _cli("control", str(tmp_path / "nope"), "stop")
    assert res.returncode == 2 and "no such run" in res.stderr
    ended = _run_folder(tmp_path / "ended", "finished", None)
    res = _cli("control", str(ended), "pause")
    assert res.returncode == 1 and "not live (state finished)" in res.stderr
    sleeper = _sleeper()  # "live" by its pid and heartbeat, but nobody reads control.json
    try:
        deaf = _run_folder(tmp_path / "deaf", "running", sleeper.pid)
        res = _cli("control", str(deaf), "checkpoint", "--timeout", "1")
        assert res.returncode == 1 and "did not acknowledge the request within 1 s" in res.stderr
    finally:
        sleeper.kill()
        sleeper.wait(timeout=10)


# -- the supervisor's verdicts --------------------------------------------------------------

def test_attach_to_a_vanished_run_replays_it_and_says_it_died(tmp_path):
    """A run whose state says running but whose process is gone (nobody watched it die):
    the follower replays its steps, then ends it as died ("process vanished") and writes
    that into the folder, once."""
    gone = _sleeper()
    gone.kill()
    gone.wait(timeout=10)
    run = _run_folder(tmp_path / "r", "running", gone.pid, steps=4, heartbeat=time.time() - 60)
    sink = ListSink()
    result = supervisor.attach(run, sink)
    assert [e.step for e in sink.of(StepLogged)] == [1, 2, 3, 4]
    assert isinstance(result, TrainingFailed) and result.failure == "died"
    assert result.step == 4 and "vanished" in result.message and result.exit_code is None
    state = rd.read_state(run)
    assert state["state"] == "died" and "vanished" in state["reason"]
    second = ListSink()
    again = supervisor.attach(run, second)  # a second dashboard: the same end, not written twice
    assert isinstance(again, TrainingFailed) and again.failure == "died"
    lines = (run / rd.EVENTS_FILE).read_text().splitlines()
    assert sum('"TrainingFailed"' in x for x in lines) == 1


def test_a_run_process_that_fails_at_once_ends_with_its_own_event(tmp_path):
    """A real run process given rows it cannot train on: its own TrainingFailed (not a
    "died"), state failed, the lock free and no process left."""
    sink = ListSink()
    result = supervisor.run(RunConfig(), sink, run_dir=tmp_path / "run", rows=[{"prompt": "x"}])
    assert isinstance(result, TrainingFailed) and result.failure == "data", result
    assert "row 0: missing completion" in result.message
    assert [e for e in sink.events if isinstance(e, (TrainingFailed, TrainingFinished))] \
        == [result]
    assert rd.read_state(tmp_path / "run")["state"] == "failed"
    assert rd.lock_owner(tmp_path / "run") is None


def test_a_config_that_cannot_work_is_refused_before_any_process_starts(tmp_path):
    from synapse_core.config import ConfigError

    cfg = RunConfig()
    cfg.training.per_device_train_batch_size = 1  # KTO needs 2
    with pytest.raises(ConfigError, match="training.per_device_train_batch_size"):
        supervisor.launch(cfg, run_dir=tmp_path / "run")
    assert not (tmp_path / "run" / rd.LOCK_FILE).exists()


def test_resume_without_a_checkpoint_leaves_each_step_once(tmp_path):
    """`--resume` of a run with no checkpoint restarts from step 0: its metrics and step
    events are dropped first (they were [1, 2, 1, 2, 3, 4])."""
    run = _run_folder(tmp_path / "r", "stopped", None, steps=2)
    rd.RunDir(run).append_event({"kind": "RunStarted", "run_dir": str(run), "objective": "sft",
                                 "model": "m", "total_steps": 10, "num_train_epochs": 1.0,
                                 "train_rows": 4})
    warnings = rd.truncate_after(run, 0)
    assert warnings and "step 0 (no checkpoint)" in warnings[-1]
    assert rd.load_metrics(run) == []
    kinds = [json.loads(x)["kind"] for x in (run / rd.EVENTS_FILE).read_text().splitlines()]
    assert kinds == ["RunStarted"]  # the history of the run stays, its steps go
    assert rd.truncate_after(run, 0) == []  # nothing more to drop: the files are left alone


def test_resume_skips_a_damaged_metrics_line_with_a_warning(tmp_path):
    """A real resume (its run process fails at once on the missing model): the damaged
    metrics line is skipped and said, as FILE:LINE, in the events and train.log."""
    from synapse_core.config import write_config
    from synapse_core.events import LogLine

    run = _run_folder(tmp_path / "r", "stopped", None, steps=3)
    with open(run / rd.METRICS_FILE, "a") as fh:
        fh.write("{not json\n")
    cfg = RunConfig()
    cfg.model.name_or_path = "nobody/no-such-model-xyz"
    write_config(cfg, run / rd.CONFIG_FILE)
    rows, problems = rd.load_metrics_checked(run)
    assert [r["step"] for r in rows] == [1, 2, 3]
    assert problems == ["metrics.jsonl:4: not a JSON object"]
    sink = ListSink()
    result = supervisor.run(None, sink, resume_from=run, rows=[{"prompt": "x"}])
    assert isinstance(result, TrainingFailed)
    said = [e.message for e in sink.of(LogLine) if e.level == "warning"]
    assert "skipped a damaged line: metrics.jsonl:4: not a JSON object" in said
    assert "metrics.jsonl:4" in (run / rd.LOG_FILE).read_text()
    assert rd.load_metrics_checked(run)[1] == []  # the damaged line is gone


def test_corrupt_checkpoint_is_named(tmp_path):
    """A resume from a checkpoint whose files cannot be read fails at once, naming the file
    (before any model loads)."""
    from synapse_core.config import write_config

    run = _run_folder(tmp_path / "r", "stopped", None, steps=2)
    write_config(RunConfig(), run / rd.CONFIG_FILE)
    ckpt = run / "checkpoints" / "checkpoint-2"
    ckpt.mkdir(parents=True)
    (ckpt / "trainer_state.json").write_text('{"global_step": 2}')
    (ckpt / "adapter_model.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{bad")
    result = Engine(None, ListSink(), resume_from=run, rows=[]).run()
    assert isinstance(result, TrainingFailed) and result.failure == "checkpoint", result
    assert str(ckpt / "adapter_model.safetensors") in result.message
    (ckpt / "trainer_state.json").write_text('{"global_st')
    result = Engine(None, ListSink(), resume_from=run, rows=[]).run()
    assert result.failure == "checkpoint" and str(ckpt / "trainer_state.json") in result.message


def test_resume_of_a_read_only_run_folder_says_so(tmp_path):
    """`synapse train --resume` on a read-only file system: one clear line naming the path
    and "read-only", exit 1, no traceback."""
    from synapse_core.config import write_config

    mount = tmp_path / "ro"
    mount.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)],
                          capture_output=True, text=True)
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {made.stderr.strip()}")
    try:
        run = _run_folder(mount / "run", "stopped", None, steps=2)
        write_config(RunConfig(), run / rd.CONFIG_FILE)
        subprocess.run(["mount", "-o", "remount,ro", str(mount)], check=True)
        res = _cli("train", "--resume", str(run))
        assert res.returncode == 1, res.stderr
        assert "read-only file system: cannot write" in res.stderr and str(run) in res.stderr
        assert "Traceback" not in res.stderr
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)
