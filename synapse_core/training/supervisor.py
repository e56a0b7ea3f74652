"""One way every run works: a run process of its own, followed through its run folder.

``launch`` prepares the run folder (run.toml, launch.json, a fresh control file; on a
resume, the metrics and step events past the checkpoint dropped so each step appears once)
and starts ``python -m synapse_core.training.run_main RUN_DIR`` in a session of its own, so
it outlives the terminal and the dashboard that started it. ``follow`` is the supervisor
loop, the same for a run this process launched, a run started by ``synapse train`` in
another shell, or one a second dashboard also watches:

- it tails ``events.jsonl`` into an ``EventSink`` (from the start: the whole curve is
  replayed, then followed live);
- it turns a local ``RunControl``'s requests (keys, signals) into ``control.json`` requests;
- it ends with exactly one terminal event: the run's own, or, when the process vanished
  without writing one (SIGKILL, a segfault, an OOM kill), a ``TrainingFailed`` with
  ``failure="died"`` naming the signal or exit code and the last completed step, which it
  also writes into the folder (state ``died``) so the folder tells the truth afterwards;
- a ``detach`` event set from another thread ends the following at once and leaves the run
  training (returns None).

``run`` is ``launch`` + ``follow``: what the app's worker thread and ``synapse train`` call.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from synapse_core.config import ConfigError, RunConfig, load_config, write_config
from synapse_core.events import Event, EventSink, LogLine
from synapse_core.exitcodes import signal_name
from synapse_core.fileio import atomic_write_json, atomic_write_jsonl
from synapse_core.training import rundir as rd
from synapse_core.training.control import CONTROL_FILE, ControlFileWriter, RunControl, \
    reset_requests
from synapse_core.training.events import StepLogged, TrainingFailed, TrainingFinished
from synapse_core.training.run_main import LAUNCH_FILE
from synapse_core.training.state import RunState

VANISHED_GRACE_S = 3.0
"""Once the process is gone, how long a follower without the process handle waits for the
end another follower (the launcher) may still write, before writing "died" itself."""
KILL_GRACE_S = 10.0
"""Seconds between SIGTERM and SIGKILL when a stop is not honoured in time."""
STOP_EXTRA_S = 60.0
"""Added to ``training.stop_timeout_s`` before a stopping run process is killed (a
multi-process run's own supervisor kills its ranks at ``stop_timeout_s``)."""


@dataclass
class RunProcess:
    """A launched run: its folder and the process (the handle exists only in the launcher)."""

    run_dir: Path
    proc: subprocess.Popen[bytes]
    stop_timeout_s: float
    launched: float
    """UNIX time of the launch: an end written before it belongs to an earlier part."""
    warnings: list[str]
    """What the launch had to say (damaged metrics lines skipped, steps dropped)."""

    @property
    def pid(self) -> int:
        return self.proc.pid


def _run_folder(config: RunConfig, run_dir: Path | None, resume_from: Path | None) -> Path:
    if resume_from is not None:
        path = run_dir or resume_from
        if not path.is_dir():
            raise ConfigError("--resume", f"{path}: no such run directory")
        return path
    if run_dir is not None:
        if (run_dir / rd.METRICS_FILE).is_file() or rd.last_checkpoint(run_dir) is not None:
            raise ConfigError("--run-dir", f"{run_dir} already holds a run; resume it "
                              "(synapse train --resume) or choose a new folder")
        run_dir.mkdir(parents=True, exist_ok=True)
        return run_dir
    runs = config.resolve_path(config.training.runs_dir)
    return rd.new_run_dir(runs, config.training.objective)


def launch(config: RunConfig | None, *, run_dir: str | Path | None = None,
           resume_from: str | Path | None = None, max_steps: int | None = None,
           rows: list[dict[str, Any]] | None = None,
           telemetry_interval_s: float = 1.0) -> RunProcess:
    """Prepare the run folder and start its run process (see the module docstring).

    ``config`` None on a resume uses the run's own run.toml. Raises ``ConfigError`` for a bad
    folder or config, ``rundir.RunInUse`` when a live process owns the folder."""
    from synapse_core.training.engine import absolute_paths

    resume = Path(resume_from) if resume_from else None
    target = Path(run_dir) if run_dir else None
    if config is None:
        if resume is None:
            raise ValueError("launch needs a config or a run to resume")
        config = load_config(resume / rd.CONFIG_FILE)
    config = absolute_paths(config)
    if target is not None and rd.lock_owner(target) is not None:
        raise rd.RunInUse(target, rd.lock_owner(target))
    if resume is not None and rd.lock_owner(resume) is not None:
        raise rd.RunInUse(resume, rd.lock_owner(resume))
    path = _run_folder(config, target, resume)
    warnings: list[str] = []
    if resume is not None:
        ckpt = rd.last_checkpoint(path)
        warnings = rd.truncate_after(path, int(ckpt.name.split("-")[-1]) if ckpt else 0)
    write_config(config, path / rd.CONFIG_FILE)
    plan: dict[str, Any] = {"resume": resume is not None, "max_steps": max_steps,
                            "telemetry_interval_s": telemetry_interval_s, "rows_file": None,
                            "launched": time.time()}
    if rows is not None:
        atomic_write_jsonl(path / "rows.jsonl", rows)
        plan["rows_file"] = "rows.jsonl"
    atomic_write_json(path / LAUNCH_FILE, plan)
    reset_requests(path / CONTROL_FILE)
    rd.RunDir(path).write_state(state=RunState.STARTING, clear=rd.STALE_FIELDS, pid=None,
                                objective=config.training.objective,
                                model=config.model.name_or_path)
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    # the run process imports synapse_core from where this process did (a checkout or a wheel)
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join([root, *filter(None, [env.get("PYTHONPATH")])])
    with open(path / rd.PROCESS_LOG, "ab") as log:
        log.write(f"\n=== run process {time.strftime('%Y-%m-%d %H:%M:%S')} ===\n".encode())
        log.flush()
        proc = subprocess.Popen([sys.executable, "-m", "synapse_core.training.run_main",
                                 str(path)], stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, env=env, start_new_session=True,
                                cwd=str(path))
    run = rd.RunDir(path)
    # the process is live from now on for every reader, before it has taken its lock
    run.write_state(pid=proc.pid, heartbeat=time.time())
    for warning in warnings:  # in the log and the events, for every follower to see
        run.log(warning, "warning")
        run.append_event(LogLine(message=warning, level="warning", source="training").to_dict())
    run.close()
    return RunProcess(path, proc, float(config.training.stop_timeout_s), plan["launched"],
                      warnings)


class Follower:
    """The supervisor loop over one run folder (see the module docstring). One per
    follower; ``follow()`` runs in the caller's thread (the app's worker, the CLI)."""

    def __init__(self, run_dir: Path, sink: EventSink, control: RunControl | None = None, *,
                 process: RunProcess | None = None, detach: threading.Event | None = None,
                 from_start: bool = True, poll_s: float = 0.05) -> None:
        self.run_dir = Path(run_dir)
        self.sink = sink
        self.control = control
        self.process = process
        self.detach = detach or threading.Event()
        self.poll_s = poll_s
        events = self.run_dir / rd.EVENTS_FILE
        offset = 0 if from_start or not events.exists() else events.stat().st_size
        self.tail = rd.EventTail(events, offset)
        self.last_step = 0
        self.held: Event | None = None
        self.killed = ""

    def _forward(self) -> None:
        for event in self.tail.read():
            if isinstance(event, (TrainingFinished, TrainingFailed)):
                if self.process is None or event.ts >= self.process.launched:
                    self.held = event  # shown once the process is gone (a resume may follow)
                continue
            if self.held is not None:
                self.held = None  # the end of an earlier part of a resumed run
            if isinstance(event, StepLogged):
                self.last_step = event.step
            self.sink.emit(event)

    def follow(self) -> Event | None:
        """Follow until the run ends (its terminal event) or ``detach`` is set (None)."""
        writer = (ControlFileWriter(self.run_dir / CONTROL_FILE)
                  if self.control is not None else None)
        proc = self.process.proc if self.process else None
        deadline: float | None = None
        gone_since: float | None = None
        next_check = 0.0
        while True:
            self._forward()
            if self.detach.is_set():
                return None
            if writer is not None and self.control is not None:
                writer.sync(self.control)
            now = time.monotonic()
            if proc is not None:
                if proc.poll() is not None:
                    break
                if (self.control is not None and self.control.stop_requested.is_set()
                        and deadline is None and self.process is not None):
                    deadline = now + self.process.stop_timeout_s + STOP_EXTRA_S
                if deadline is not None and now >= deadline:
                    self.killed = "it did not stop in time after the stop request"
                    self._kill(proc)
                    break
            elif now >= next_check:
                next_check = now + 1.0
                state = rd.read_state(self.run_dir)
                if rd.live_pid(state) is None and rd.lock_owner(self.run_dir) is None:
                    if self.held is not None or RunState.parse(state.get("state")).ended:
                        self._forward()
                        break
                    gone_since = gone_since or now
                    if now - gone_since >= VANISHED_GRACE_S:
                        break
                else:
                    gone_since = None
            if proc is not None:
                try:
                    proc.wait(timeout=self.poll_s)
                except subprocess.TimeoutExpired:
                    pass
            else:
                self.detach.wait(self.poll_s)
        self._forward()
        result = self.held
        if result is None or (proc is None and isinstance(result, TrainingFinished) and
                              RunState.parse(rd.read_state(self.run_dir).get("state"))
                              in (RunState.DIED, RunState.FAILED)):
            result = self._verdict(proc)
        self.sink.emit(result)
        return result

    def _kill(self, proc: subprocess.Popen[bytes]) -> None:
        self.sink.emit(LogLine(message=f"the run process {self.killed}: killing it",
                               level="warning", source="training"))
        for sig, grace in ((signal.SIGTERM, KILL_GRACE_S), (signal.SIGKILL, KILL_GRACE_S)):
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                proc.wait(timeout=grace)
                break
            except subprocess.TimeoutExpired:
                continue

    def _verdict(self, proc: subprocess.Popen[bytes] | None) -> TrainingFailed:
        """The end of a run whose process vanished without writing one (written into the
        folder unless another follower already did)."""
        state = rd.read_state(self.run_dir)
        step = max(self.last_step, int(rd.number_or(state.get("step"))))
        if proc is None and RunState.parse(state.get("state")).ended:
            # another follower (the launcher) saw it end and wrote why
            return TrainingFailed(message=str(state.get("error") or state.get("reason")
                                              or "the run process vanished"),
                                  failure=str(state.get("failure") or "died"),
                                  run_dir=str(self.run_dir), step=step,
                                  exit_code=state.get("exit_code"))
        code = proc.returncode if proc is not None else None
        if code is None:
            how = "vanished (no exit code: nobody was watching it)"
        elif code < 0:
            how = f"was killed by {signal_name(code)}"
        else:
            how = f"exited with code {code}"
        message = f"the run process {how} after step {step}, without writing its end"
        if self.killed:
            message += f" ({self.killed})"
        log_tail = _log_tail(self.run_dir / rd.PROCESS_LOG)
        result = TrainingFailed(message=message, failure="died", run_dir=str(self.run_dir),
                                step=step, exit_code=code,
                                hint=(f"resume from the last checkpoint: synapse train --resume "
                                      f"{self.run_dir}" + (f"; its output ended: {log_tail}"
                                                           if log_tail else "")))
        try:
            from synapse_core.training.engine import write_end_state

            run = rd.RunDir(self.run_dir)
            run.append_event(result.to_dict())
            write_end_state(run, result)
            run.close()
        except OSError:
            return result  # a read-only or full disk: the event still reaches the sink
        self._on_finish(run, step)
        return result

    def _on_finish(self, run: rd.RunDir, step: int) -> None:
        """The run process could not run ``on_finish``: this follower, which wrote the
        end, does (once: only one follower writes it)."""
        from synapse_core.training.hooks import run_on_finish

        try:
            config = load_config(self.run_dir / rd.CONFIG_FILE)
        except ConfigError:
            return
        rows = rd.load_metrics(self.run_dir)
        loss = rows[-1].get("loss") if rows else None
        threading.Thread(target=run_on_finish, name="synapse-on-finish", daemon=True,
                         args=(config.training.on_finish, self.run_dir, str(RunState.DIED),
                               step, loss if isinstance(loss, (int, float)) else None,
                               lambda message, level="info": run.log(message, level))).start()


def _log_tail(path: Path, lines: int = 3) -> str:
    try:
        with open(path, "rb") as fh:
            fh.seek(max(0, fh.seek(0, 2) - 4000))
            text = fh.read().decode("utf-8", "replace")
    except OSError:
        return ""
    tail = [x.strip() for x in text.strip().splitlines() if x.strip()][-lines:]
    return " | ".join(tail)[:500] if tail and not tail[-1].startswith("=== run process") else ""


def run(config: RunConfig | None, sink: EventSink, control: RunControl | None = None, *,
        detach: threading.Event | None = None, from_start: bool = False,
        **launch_kwargs: Any) -> Event | None:
    """Launch a run process and follow it to its end (or until ``detach`` is set: None).
    ``from_start``: replay what the folder already holds first (a resumed run's earlier
    steps, for a chart that shows the whole curve); else only what this launch writes."""
    process = launch(config, **launch_kwargs)
    if not from_start:  # a follower from the start reads them in the events
        for warning in process.warnings:
            sink.emit(LogLine(message=warning, level="warning", source="training"))
    return Follower(process.run_dir, sink, control, process=process, detach=detach,
                    from_start=from_start).follow()


def attach(run_dir: str | Path, sink: EventSink, control: RunControl | None = None, *,
           detach: threading.Event | None = None) -> Event | None:
    """Follow a run another process started: its whole history, then live, to its end."""
    return Follower(Path(run_dir), sink, control, detach=detach).follow()
