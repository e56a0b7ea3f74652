"""Run processes that train (tiny Pixtral, CPU) and end every way they can: killed by
SIGKILL and SIGSEGV mid-step (a ``died`` TrainingFailed naming the signal and the last
step, resumed from the last checkpoint on the same curve), ``on_finish`` run once per end
with its variables, and a full disk (one terminal event, a true state, "disk full")."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import threading
from pathlib import Path
from typing import Any

import psutil
import pytest

from synapse_core.config import RunConfig
from synapse_core.events import Event
from synapse_core.training import rundir as rd
from synapse_core.training import supervisor
from synapse_core.training.control import RunControl
from synapse_core.training.events import (CheckpointSaved, RunStarted, StepLogged,
                                          TrainingFailed, TrainingFinished)
from tiny_runs import schedule_config

SYSTEM = {"role": "system", "content": "You are Professor Synapse."}
QUESTIONS = ["What is entropy?", "Why is the sky blue?", "Name a prime.", "What is 2+2?"]
TIMEOUT_S = 240.0


def sft_rows() -> list[dict]:
    return [{"messages": [SYSTEM, {"role": "user", "content": q},
                          {"role": "assistant", "content": f"<reasoning><goal>{q}</goal>"
                                                           f"</reasoning>\nAnswer {i}."}]}
            for i, q in enumerate(QUESTIONS)]


def config(model_dir: Path, steps: int, tmp_path: Path) -> RunConfig:
    cfg = schedule_config(model_dir, steps)
    cfg.training.objective = "sft"
    cfg.training.packing = False
    cfg.training.save_steps = 2
    cfg.training.on_finish = (f'echo "$SYNAPSE_RUN_STATE|$SYNAPSE_RUN_STEP|$SYNAPSE_RUN_LOSS|'
                              f'$SYNAPSE_RUN_DIR" >> {tmp_path / "ended.txt"}')
    return cfg


class Followed:
    """``supervisor.run`` in a worker thread (as the app runs it); events into a queue."""

    def __init__(self, cfg: RunConfig | None, **kwargs: Any) -> None:
        self.q: queue.Queue[Event] = queue.Queue()
        self.events: list[Event] = []
        self.result: Event | None = None
        self.control = RunControl()
        self.thread = threading.Thread(target=self._run, args=(cfg, kwargs), daemon=True)
        self.thread.start()

    def emit(self, event: Event) -> None:
        self.events.append(event)
        self.q.put(event)

    def _run(self, cfg: RunConfig | None, kwargs: dict[str, Any]) -> None:
        self.result = supervisor.run(cfg, self, self.control, **kwargs)

    def wait_for(self, test: Any) -> Event:
        while True:
            try:
                event = self.q.get(timeout=TIMEOUT_S)
            except queue.Empty:
                pytest.fail("no matching event in time")
            if test(event):
                return event
            assert not isinstance(event, (TrainingFinished, TrainingFailed)), event

    def join(self) -> Event:
        self.thread.join(timeout=TIMEOUT_S)
        assert not self.thread.is_alive() and self.result is not None
        return self.result


def no_run_process(run: Path) -> bool:
    needle = f"run_main {run}"
    for p in psutil.process_iter(["cmdline"]):
        try:
            if needle in " ".join(p.info["cmdline"] or []) and p.status() != psutil.STATUS_ZOMBIE:
                return False
        except psutil.Error:
            continue
    return True


@pytest.mark.slow
def test_killed_run_process_is_died_with_its_signal_and_resumes(tiny_model_dir, tmp_path):
    """SIGKILL at step 3 (checkpoint at 2), resume; SIGSEGV at step 5 (checkpoint at 4),
    resume to the end: each death is a TrainingFailed naming the signal and the last step,
    the folder says died, on_finish ran once per end, and the curve has each step once."""
    from synapse_core.events import ListSink
    from synapse_core.training.engine import Engine

    model = tiny_model_dir("pixtral")
    steps = 8
    reference = Engine(config(model, steps, tmp_path), ListSink(), run_dir=tmp_path / "ref",
                       rows=sft_rows()).run()
    assert isinstance(reference, TrainingFinished), getattr(reference, "traceback", reference)
    run = tmp_path / "run"
    kwargs: dict[str, Any] = dict(run_dir=run, rows=sft_rows())
    for sig, at in ((signal.SIGKILL, 3), (signal.SIGSEGV, 5)):
        followed = Followed(config(model, steps, tmp_path) if sig == signal.SIGKILL else None,
                            **kwargs)
        followed.wait_for(lambda e: isinstance(e, StepLogged) and e.step == at)
        pid = rd.read_state(run)["pid"]
        os.kill(pid, sig)  # mid-step: the next step is being computed
        result = followed.join()
        assert isinstance(result, TrainingFailed), result
        assert result.failure == "died" and result.exit_code == -int(sig)
        assert f"killed by {sig.name} after step {at}" in result.message
        assert result.step == at
        state = rd.read_state(run)
        assert state["state"] == "died" and sig.name in state["reason"]
        assert rd.run_summary(run)["state"] == "died"
        assert no_run_process(run) and rd.lock_owner(run) is None
        kwargs = dict(resume_from=run, rows=sft_rows())  # the run's own config from here
    final = Followed(None, **kwargs)
    started = final.wait_for(lambda e: isinstance(e, RunStarted))
    assert started.resumed_from_step == 4
    result = final.join()
    assert isinstance(result, TrainingFinished) and result.step == steps, result
    a, b = rd.load_metrics(tmp_path / "ref"), rd.load_metrics(run)
    assert [r["step"] for r in b] == list(range(1, steps + 1))
    for ra, rb in zip(a, b):
        assert rb["loss"] == pytest.approx(ra["loss"], abs=1e-5), (ra, rb)
    step_events = [json.loads(x) for x in (run / rd.EVENTS_FILE).read_text().splitlines()
                   if '"StepLogged"' in x]
    assert [e["step"] for e in step_events] == list(range(1, steps + 1))
    assert rd.read_state(run)["state"] == "finished" and "error" not in rd.read_state(run)
    ended = (tmp_path / "ended.txt").read_text().splitlines()
    states = [line.split("|") for line in ended if line.endswith(f"|{run}")]
    # one line per end of this run: the two deaths (written by the follower), the finish
    assert [s[0] for s in states] == ["died", "died", "finished"], ended
    assert [s[1] for s in states] == ["3", "5", str(steps)]
    assert float(states[-1][2]) == pytest.approx(b[-1]["loss"])
    assert no_run_process(run)


@pytest.mark.slow
def test_full_disk_ends_the_run_once_with_a_true_state(tiny_model_dir, tmp_path):
    """The run folder on a 2 MB tmpfs: the first checkpoint does not fit. One terminal
    event, failure "disk" saying "disk full" and the path, state.json failed, and the
    incomplete checkpoint removed so the end could be written."""
    mount = tmp_path / "small"
    mount.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)],
                          capture_output=True, text=True)
    if made.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here (needs root): {made.stderr.strip()}")
    try:
        cfg = config(tiny_model_dir("pixtral"), 6, tmp_path)
        cfg.training.save_steps = 1
        followed = Followed(cfg, run_dir=mount / "run", rows=sft_rows())
        result = followed.join()
        assert isinstance(result, TrainingFailed), result
        assert result.failure == "disk" and "disk full" in result.message
        assert str(mount / "run") in result.message
        ends = [e for e in followed.events if isinstance(e, (TrainingFinished, TrainingFailed))]
        assert ends == [result]
        assert not [e for e in followed.events if isinstance(e, CheckpointSaved)]
        state = rd.read_state(mount / "run")
        assert state["state"] == "failed" and "disk full" in state["error"]
        lines = (mount / "run" / rd.EVENTS_FILE).read_text().splitlines()
        assert sum('"TrainingFailed"' in x for x in lines) == 1
        assert rd.checkpoints_of(mount / "run") == []
        assert no_run_process(mount / "run")
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)


@pytest.mark.slow
def test_signals_during_set_up_leave_a_true_state(tiny_model_dir, tmp_path):
    """SIGTERM to the run process while it loads the model: it stops before its first step
    (state stopped, step 0); SIGKILL there: died. Never "running" for good."""
    for sig, want in ((signal.SIGTERM, "stopped"), (signal.SIGKILL, "died")):
        run = tmp_path / sig.name
        followed = Followed(config(tiny_model_dir("pixtral"), 4, tmp_path), run_dir=run,
                            rows=sft_rows())
        for _ in range(600):  # bounded: the run process takes its lock within seconds
            pid = rd.read_state(run).get("pid")
            if pid and rd.lock_owner(run) == pid:  # started: its signal handlers are set
                break
            followed.thread.join(timeout=0.1)
        assert pid and rd.lock_owner(run) == pid and not rd.load_metrics(run)
        os.kill(pid, sig)
        result = followed.join()
        state = rd.read_state(run)
        assert state["state"] == want, (state, result)
        assert not [e for e in followed.events if isinstance(e, StepLogged)]
        if want == "stopped":
            assert isinstance(result, TrainingFinished) and result.stopped
            assert result.step == 0 and state["step"] == 0
        else:
            assert isinstance(result, TrainingFailed) and "SIGKILL after step 0" in result.message
        assert no_run_process(run)
