"""SIGTERM/SIGHUP (an SSH drop, a scheduler's stop) become a clean checkpoint-and-stop.

Only the main thread may install signal handlers, so the CLI installs these; the app
installs its own and calls ``control.stop("signal")`` from them.
"""

from __future__ import annotations

import signal
import threading
from typing import Any, Callable

from synapse_core.training.control import RunControl


def install_signal_handlers(control: RunControl, interrupt: bool = False) -> Callable[[], None]:
    """Route SIGTERM and SIGHUP (and SIGINT with ``interrupt``: Ctrl-C of a foreground
    ``synapse train``, whose run process sits in a session of its own and does not get it)
    to ``control.stop``; returns a function that puts the previous handlers back. A no-op
    outside the main thread."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    names = ("SIGTERM", "SIGHUP") + (("SIGINT",) if interrupt else ())
    wanted = [s for s in (getattr(signal, n, None) for n in names) if s is not None]
    previous: dict[int, Any] = {}

    def handler(signum: int, frame: Any) -> None:
        # only sets flags: the run checkpoints and stops at the end of the current step
        control.stop("interrupted" if signum == getattr(signal, "SIGINT", -1) else "signal")

    for sig in wanted:
        previous[sig] = signal.signal(sig, handler)

    def restore() -> None:
        for sig, old in previous.items():
            signal.signal(sig, old)

    return restore
