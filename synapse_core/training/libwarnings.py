"""Library warnings during a run, routed to the run's log instead of a terminal nobody reads.

TRL, transformers, PEFT and accelerate say important things through Python's ``logging`` (TRL's
"desirable_weight in [0.27, 0.36]" advice) and ``warnings``. Left alone they reach only the
process's stderr: invisible in the app, lost in a detached run. ``library_warnings_to(log)``
hands each of them to ``log(message, level, source)`` while a run is set up and trains, which
the engine turns into a ``LogLine`` (train.log, events.jsonl, the panel, the CLI's printer).

Handlers and ``showwarning`` are process-wide: while a run trains inside the app's process,
another thread's library warnings land in the run's log too (a run in its own process, as
``synapse train`` and the multi-GPU ranks have it, hears only its own).
"""

from __future__ import annotations

import logging
import re
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

LIBRARY_LOGGERS: tuple[str, ...] = ("trl", "transformers", "peft", "accelerate", "datasets",
                                    "torch", "unsloth", "unsloth_zoo", "bitsandbytes",
                                    "huggingface_hub")
"""Loggers whose WARNING and ERROR records go to the run's log."""

_RANK_PREFIX = re.compile(r"^\[RANK 0\] ")  # accelerate's prefix; one process is rank 0

Log = Callable[[str, str, str], None]
"""``log(message, level, source)``."""


class _ToRunLog(logging.Handler):
    """A logging handler that hands each record to the run's log."""

    def __init__(self, log: Log) -> None:
        super().__init__(level=logging.WARNING)
        self._log = log

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = _RANK_PREFIX.sub("", record.getMessage())
            level = "error" if record.levelno >= logging.ERROR else "warning"
            self._log(message, level, record.name.split(".")[0])
        except Exception:  # a handler must never break the code that logged
            self.handleError(record)


def _source_of(filename: str) -> str:
    """The top-level package a warning came from (``.../site-packages/peft/x.py`` -> peft)."""
    parts = Path(filename).parts
    for marker in ("site-packages", "dist-packages"):
        if marker in parts:
            i = parts.index(marker)
            if i + 1 < len(parts):
                return parts[i + 1].removesuffix(".py")
    return Path(filename).stem


@contextmanager
def library_warnings_to(log: Log, loggers: tuple[str, ...] = LIBRARY_LOGGERS) -> Iterator[None]:
    """While the block runs, library warnings go to ``log`` rather than stderr.

    Records of ``loggers`` at WARNING and above go to ``log`` (a logger that has no handler of
    its own then no longer falls back to printing on stderr); Python warnings are shown
    through ``log`` too, with the filters as they are (``catch_warnings`` restores
    ``showwarning`` on exit).
    """
    handler = _ToRunLog(log)
    targets = [logging.getLogger(name) for name in loggers]
    for logger in targets:
        logger.addHandler(handler)

    original = warnings.showwarning
    active = [True]

    def show(message: Any, category: type[Warning], filename: str, lineno: int,
             file: Any = None, line: str | None = None) -> None:
        if not active[0]:  # left installed by another thread's catch_warnings: step aside
            original(message, category, filename, lineno, file, line)
            return
        log(f"{category.__name__}: {message} ({Path(filename).name}:{lineno})", "warning",
            _source_of(filename))

    try:
        with warnings.catch_warnings():
            warnings.showwarning = show
            yield
    finally:
        active[0] = False
        for logger in targets:
            logger.removeHandler(handler)
