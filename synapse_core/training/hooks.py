"""``[training] on_finish``: a command the user wants run once when a run ends."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

ON_FINISH_TIMEOUT_S = 120.0
"""How long the run process waits for the command (then leaves it running, logged)."""


def run_on_finish(command: str, run_dir: Path, state: str, step: int,
                  loss: float | None, log: Any = None) -> int | None:
    """Run ``command`` through the shell with SYNAPSE_RUN_DIR, SYNAPSE_RUN_STATE,
    SYNAPSE_RUN_STEP and SYNAPSE_RUN_LOSS set (empty loss when none was logged); returns its
    exit code, None when it did not end in time or could not start. Never raises: a
    failure is reported through ``log(message, level)``."""
    if not command.strip():
        return None
    say = log or (lambda message, level="info": None)
    env = dict(os.environ, SYNAPSE_RUN_DIR=str(run_dir), SYNAPSE_RUN_STATE=str(state),
               SYNAPSE_RUN_STEP=str(step), SYNAPSE_RUN_LOSS="" if loss is None else repr(loss))
    try:
        proc = subprocess.Popen(command, shell=True, env=env, cwd=str(run_dir),
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True)
        code = proc.wait(timeout=ON_FINISH_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        say(f"on_finish: {command!r} still running after {ON_FINISH_TIMEOUT_S:g} s; left "
            "running", "warning")
        return None
    except OSError as e:
        say(f"on_finish: {command!r} could not start: {e}", "warning")
        return None
    say(f"on_finish: {command!r} exited with code {code}", "info" if code == 0 else "warning")
    return code
