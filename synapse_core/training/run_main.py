"""The run process: ``python -m synapse_core.training.run_main RUN_DIR``.

Started by ``supervisor.launch`` in a session of its own (a hang-up of the terminal that
started it does not reach it), never by hand. It owns the run folder for its whole life
(``rundir.RunLock``), writes its pid and a heartbeat into state.json every second, applies
the requests of ``control.json`` (acknowledging each in events.jsonl), and trains: the
``Engine`` here for ``training.gpus = "auto"``, else a torchrun process group it supervises
(``distributed``). Whoever follows the folder (the app, ``synapse train``, a second
dashboard, ``synapse control``) reads its files; nobody needs to be there.

SIGTERM and SIGINT checkpoint and stop the run; SIGHUP is ignored (the run outlives the
terminal by design).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

LAUNCH_FILE = "launch.json"
"""What the launcher asked for: resume, max_steps, rows_file, telemetry_interval_s."""


def _heartbeat(run: Any, done: threading.Event) -> None:
    from synapse_core.training.rundir import HEARTBEAT_S

    while not done.wait(HEARTBEAT_S):
        try:
            run.write_state(heartbeat=time.time(), pid=os.getpid())
        except OSError:
            continue  # a full disk: the engine reports it; the heartbeat tries again


def main(argv: list[str] | None = None) -> int:
    """Own the folder, train, end; 0 when the run finished or stopped, 1 when it failed, 3
    when another process owns the folder."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m synapse_core.training.run_main RUN_DIR", file=sys.stderr)
        return 2
    from synapse_core.training.control import RunControl

    control = RunControl()

    def on_signal(signum: int, frame: Any) -> None:
        # only sets flags: the engine checkpoints and stops at the end of the current step
        control.stop("signal" if signum != signal.SIGINT else "interrupted")

    # first of all (a signal before this ends the process: the follower then says so)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")  # the log is a file
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from synapse_core.config import ConfigError, RunConfig, load_config
    from synapse_core.events import NullSink
    from synapse_core.training import rundir as rd
    from synapse_core.training.control import CONTROL_FILE, ControlFileReader
    from synapse_core.training.engine import Engine
    from synapse_core.training.events import RequestAcknowledged, TrainingFinished

    run_dir = Path(args[0])
    try:
        lock = rd.RunLock(run_dir).acquire()
    except rd.RunInUse as e:
        print(f"synapse run: {e}", file=sys.stderr)
        return 3
    launch = json.loads((run_dir / LAUNCH_FILE).read_text(encoding="utf-8"))
    state = rd.RunDir(run_dir)
    state.write_state(pid=os.getpid(), heartbeat=time.time())
    done = threading.Event()
    beat = threading.Thread(target=_heartbeat, args=(state, done), name="synapse-heartbeat",
                            daemon=True)
    beat.start()

    config_error: ConfigError | None = None
    try:
        config = load_config(run_dir / rd.CONFIG_FILE)
    except ConfigError as e:
        config, config_error = RunConfig(), e
    rows = None
    if launch.get("rows_file"):
        with open(run_dir / launch["rows_file"], encoding="utf-8") as fh:
            rows = [json.loads(line) for line in fh if line.strip()]
    engine = Engine(config, NullSink(), control, run_dir=run_dir,
                    resume_from=run_dir if launch.get("resume") else None, rows=rows,
                    max_steps=launch.get("max_steps"),
                    telemetry_interval_s=float(launch.get("telemetry_interval_s", 1.0)),
                    config_error=config_error)

    def acknowledge(action: str, seq: int) -> None:
        event = RequestAcknowledged(action=action, seq=seq)
        if engine.rundir is not None:
            engine.emit(event)
        else:
            state.append_event(event.to_dict())

    reader = ControlFileReader(run_dir / CONTROL_FILE, control, acknowledge=acknowledge)
    reader.start()
    try:
        if config_error is None and config.training.gpus.strip().lower() != "auto":
            from synapse_core.training.distributed import supervise

            result = supervise(engine)  # the same events and end, from torchrun's rank 0
        else:
            result = engine.run()
        if engine.rundir is None:  # it failed before opening the folder: the end goes in anyway
            from synapse_core.training.engine import write_end_state

            state.append_event(result.to_dict())
            write_end_state(state, result)
    finally:
        reader.finished.set()
        done.set()
        beat.join(timeout=5)
    ended = rd.read_state(run_dir)
    from synapse_core.training.hooks import run_on_finish

    run_on_finish(config.training.on_finish, run_dir, str(ended.get("state", "")),
                  int(getattr(result, "step", 0)), _last_loss(run_dir),
                  log=lambda message, level="info": state.log(message, level))
    state.close()
    lock.release()
    return 0 if isinstance(result, TrainingFinished) else 1


def _last_loss(run_dir: Path) -> float | None:
    from synapse_core.training.rundir import load_metrics

    rows = load_metrics(run_dir)
    loss = rows[-1].get("loss") if rows else None
    return float(loss) if isinstance(loss, (int, float)) else None


if __name__ == "__main__":
    sys.exit(main())
