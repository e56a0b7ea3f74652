"""How a child process ended, in words (the run process, llama.cpp's child)."""

from __future__ import annotations

import signal


def signal_name(code: int) -> str:
    """``SIGSEGV`` for -11 (a ``Popen`` return code), ``exit code 3`` for 3."""
    if code < 0:
        try:
            return signal.Signals(-code).name
        except ValueError:
            return f"signal {-code}"
    return f"exit code {code}"
