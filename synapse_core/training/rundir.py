"""The run directory: what a run leaves on disk, and how a past run is read back.

Layout (one folder per run)::

    run.toml          the config used (``dump_config``)
    metrics.jsonl     one line per logged step (step, epoch, loss, learning_rate, ...)
    events.jsonl      every event's ``to_dict`` (streamable across processes)
    train.log         human-readable log lines
    state.json        state (``RunState``: starting, running, paused, stopped, finished,
                      failed, died), objective, last step, the run process's ``pid`` and a
                      ``heartbeat`` (UNIX time, rewritten every second while it lives)
    control.json      requests to the run process (stop, pause, checkpoint; see ``control``)
    run.lock          held (flock) by the one process that writes the folder; holds its pid
                      (``liveness``)
    process.log       the run process's own stdout/stderr (library warnings, native crashes)
    checkpoints/      HF Trainer's ``checkpoint-N`` folders (resume from the last)
    adapter/          the final LoRA adapter + tokenizer (reasoning tokens, chat template)
    distributed/      multi-process runs only (see ``distributed``): launch.json, the ranks'
                      config.toml and rows.jsonl, control.json, torchrun.log, logs/ (per-rank
                      stdout/stderr and error files), rank-N.json (each rank's summary)

In a multi-process run only rank 0 writes the shared files (``FollowerRunDir`` on the others)
and the checkpoints come from HF Trainer's main process (each rank adds its RNG state).

Appends are line-buffered and flushed per line so a reader (the panel, ``synapse runs``,
another process) sees every completed line; ``state.json`` is written atomically.
"""

from __future__ import annotations

import json
import math
import re
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from synapse_core.fileio import atomic_write_json
# the folder's owner and liveness, kept importable from here for the folder's readers
from synapse_core.training.liveness import (  # noqa: F401
    HEARTBEAT_S, HEARTBEAT_STALE_S, LOCK_FILE, RunInUse, RunLock, disk_error, live_pid,
    lock_owner, pid_alive)
from synapse_core.training.state import RunState

CONFIG_FILE = "run.toml"
METRICS_FILE = "metrics.jsonl"
EVENTS_FILE = "events.jsonl"
LOG_FILE = "train.log"
STATE_FILE = "state.json"
CHECKPOINTS_DIR = "checkpoints"
ADAPTER_DIR = "adapter"
DISTRIBUTED_DIR = "distributed"
PROCESS_LOG = "process.log"

STALE_FIELDS = ("error", "failure", "hint", "exit_code", "reason", "adapter")
"""state.json fields of a run's end, cleared when it starts again (a resume)."""

_CKPT_RE = re.compile(r"^checkpoint-(\d+)$")


def new_run_dir(runs_dir: Path, objective: str) -> Path:
    """A fresh, unique run folder under ``runs_dir`` named by UTC time and objective."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    base = Path(runs_dir) / f"{stamp}-{objective}"
    path, n = base, 1
    while path.exists():
        n += 1
        path = base.with_name(f"{base.name}-{n}")
    path.mkdir(parents=True)
    return path


def _json_safe(value: Any) -> Any:
    """NaN/inf are not JSON: write them as null so every line stays parseable."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


class RunDir:
    """Writer for one run folder; safe to call from the engine and telemetry threads."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._files: dict[str, Any] = {}

    @property
    def checkpoints(self) -> Path:
        return self.path / CHECKPOINTS_DIR

    @property
    def adapter(self) -> Path:
        return self.path / ADAPTER_DIR

    def _append(self, name: str, line: str) -> None:
        with self._lock:
            fh = self._files.get(name)
            if fh is None:
                fh = open(self.path / name, "a", encoding="utf-8")  # noqa: SIM115 - kept open
                self._files[name] = fh
            fh.write(line + "\n")
            fh.flush()

    def append_metrics(self, row: dict[str, Any]) -> None:
        """One logged step."""
        self._append(METRICS_FILE, json.dumps(_json_safe(row), ensure_ascii=False))

    def append_event(self, event_dict: dict[str, Any]) -> None:
        """One event as JSON."""
        self._append(EVENTS_FILE, json.dumps(_json_safe(event_dict), ensure_ascii=False,
                                             default=str))

    def log(self, message: str, level: str = "info") -> None:
        """One line of train.log, stamped with UTC time."""
        stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
        self._append(LOG_FILE, f"{stamp} {level.upper():7s} {message}")

    def write_state(self, clear: tuple[str, ...] = (), **fields: Any) -> None:
        """Merge ``fields`` into state.json (atomic), dropping the keys in ``clear``."""
        import fcntl

        with self._lock, open(self.path / ".state.lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # the heartbeat and a rank may write it too
            state = read_state(self.path)
            for key in clear:
                state.pop(key, None)
            state.update({k: str(v) if isinstance(v, RunState) else v
                          for k, v in fields.items()})
            state["updated"] = time.time()
            atomic_write_json(self.path / STATE_FILE, _json_safe(state))

    def truncate_after(self, step: int) -> list[str]:
        """Drop the metric rows and the step events past ``step``: a run restarted from the
        checkpoint at ``step`` (0: none) rewrites them, and each step must appear once.
        Returns the warnings of ``truncate_after``."""
        with self._lock:
            for name in (METRICS_FILE, EVENTS_FILE):
                fh = self._files.pop(name, None)
                if fh is not None:
                    fh.close()
            return truncate_after(self.path, step)

    def close(self) -> None:
        """Close the append handles."""
        with self._lock:
            for fh in self._files.values():
                fh.close()
            self._files.clear()


class FollowerRunDir(RunDir):
    """The run folder as seen by ranks > 0 of a multi-process run: the same paths (HF Trainer
    saves the checkpoints from the main process, each rank adds its own RNG state), but the
    shared files (events, metrics, log, state) are rank 0's alone, so nothing is written."""

    def _append(self, name: str, line: str) -> None:
        return None

    def write_state(self, **fields: Any) -> None:
        return None

    def truncate_after(self, step: int) -> list[str]:
        return []


_STEP_EVENTS = ("StepLogged", "CheckpointSaved", "PreviewGenerated", "TrainingPaused",
                "TrainingResumed")
"""Events that belong to one step: dropped past the step a resumed run restarts from."""


def truncate_after(run_dir: Path, step: int) -> list[str]:
    """Drop metrics rows and step events past ``step`` (atomic rewrites; damaged metrics
    lines go too). Returns a warning per line dropped for damage (``metrics.jsonl:LINE:
    reason``) and one saying how many rows were dropped; [] when there was nothing to drop
    (the files are left as they are, so a process following them keeps its place)."""
    from synapse_core.fileio import atomic_write_bytes

    try:
        _, warnings = load_metrics_checked(run_dir)
    except OSError as e:
        warnings = [f"{METRICS_FILE}: cannot be read ({e})"]
    warnings = [f"skipped a damaged line: {w}" for w in warnings]
    changed = False
    for name, is_event in ((METRICS_FILE, False), (EVENTS_FILE, True)):
        path = Path(run_dir) / name
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            continue
        kept: list[bytes] = []
        for line in data.splitlines(keepends=True):
            row = _parse_line(line)
            if row is None:
                if is_event and line.strip():
                    kept.append(line if line.endswith(b"\n") else line + b"\n")
                continue
            if is_event and row.get("kind") not in _STEP_EVENTS:
                kept.append(line if line.endswith(b"\n") else line + b"\n")
                continue
            if _step_of(row) is not None and _step_of(row) <= step:  # type: ignore[operator]
                kept.append(line if line.endswith(b"\n") else line + b"\n")
        new = b"".join(kept)
        if new != data:
            atomic_write_bytes(path, new)
            changed = True
    if changed:
        warnings.append(f"steps after {step} dropped from {METRICS_FILE} and {EVENTS_FILE}: "
                        f"the run continues from " + (f"checkpoint-{step}" if step
                                                      else "step 0 (no checkpoint)"))
    return warnings


def _parse_line(line: bytes) -> dict[str, Any] | None:
    """One JSONL line as a dict, or None when it is not one (any damage)."""
    try:
        row = json.loads(line.decode("utf-8"))
    except (ValueError, RecursionError):  # UnicodeDecodeError and JSONDecodeError included
        return None
    return row if isinstance(row, dict) else None


def _step_of(row: dict[str, Any]) -> int | None:
    step = row.get("step")
    if isinstance(step, bool) or not isinstance(step, (int, float)) or not math.isfinite(step):
        return None
    return int(step)


def read_state(run_dir: Path) -> dict[str, Any]:
    """state.json of a run, or {} when absent or unreadable."""
    try:
        state = json.loads((Path(run_dir) / STATE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return state if isinstance(state, dict) else {}


def load_metrics_checked(run_dir: Path) -> tuple[list[dict[str, Any]], list[str]]:
    """Every complete line of ``metrics.jsonl`` (a torn last line of a live run is skipped),
    and a problem ``metrics.jsonl:LINE: reason`` for each damaged line (skipped: one line must
    not hide the rest of the curve). Raises OSError when the file cannot be read at all."""
    path = Path(run_dir) / METRICS_FILE
    rows: list[dict[str, Any]] = []
    problems: list[str] = []
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return [], []
    lines = data.split(b"\n")
    lines.pop()  # "" after the last complete line, else a line being written right now
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        row = _parse_line(line)
        if row is None:
            problems.append(f"{METRICS_FILE}:{n}: not a JSON object")
        elif _step_of(row) is None:
            problems.append(f"{METRICS_FILE}:{n}: no numeric step")
        else:
            rows.append(row)
    return rows, problems


def load_metrics(run_dir: Path) -> list[dict[str, Any]]:
    """The readable rows of ``metrics.jsonl`` (see ``load_metrics_checked``); [] when the
    file cannot be read."""
    try:
        return load_metrics_checked(run_dir)[0]
    except OSError:
        return []


class EventTail:
    """Follows a live events.jsonl (another process appending): each ``read`` returns the
    events of the lines completed since the offset (the multi-GPU supervisor reads rank 0's)."""

    def __init__(self, path: Path, offset: int) -> None:
        self.path = path
        self.offset = offset
        self._partial = b""

    def read(self) -> list[Any]:
        """The events of the lines completed since the last call (a torn last line waits)."""
        from synapse_core.events import LogLine
        from synapse_core.training.events import event_from_dict

        try:
            with open(self.path, "rb") as fh:
                fh.seek(self.offset)
                data = fh.read()
        except FileNotFoundError:
            return []
        self.offset += len(data)
        lines = (self._partial + data).split(b"\n")
        self._partial = lines.pop()  # "" after a complete line; else being written now
        out = []
        for line in lines:
            if not line.strip():
                continue
            try:
                out.append(event_from_dict(json.loads(line)))
            except (json.JSONDecodeError, KeyError, TypeError) as e:
                out.append(LogLine(message=f"unreadable line in {self.path.name} ({e!r}): "
                                   f"{line[:200]!r}", level="warning", source="training"))
        return out


def read_rank_summary(d: Path, rank: int) -> dict[str, Any]:
    """distributed/rank-N.json (written by each rank at its end), or {}."""
    try:
        return json.loads((Path(d) / f"rank-{rank}.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {}


def checkpoints_of(run_dir: Path) -> list[Path]:
    """The run's ``checkpoint-N`` folders, oldest step first."""
    folder = Path(run_dir) / CHECKPOINTS_DIR
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir()
             if p.is_dir() and (m := _CKPT_RE.match(p.name))
             and (p / "trainer_state.json").is_file()]
    return [p for _, p in sorted(found)]


def last_checkpoint(run_dir: Path) -> Path | None:
    """The newest complete checkpoint, or None."""
    found = checkpoints_of(run_dir)
    return found[-1] if found else None


def number_or(value: Any, default: float = 0.0) -> float:
    """``value`` as a float when it is a finite number (a state.json field), else ``default``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return default
    return float(value)


def run_summary(run_dir: Path, now: float | None = None) -> dict[str, Any]:
    """One row of ``synapse runs``: run_dir, name, state (a ``RunState`` value), step,
    total_steps, pid (None unless live), objective, last_loss, updated, reason, problems.

    Never raises: a folder whose files cannot be read is ``damaged`` with the reason; a
    run whose state says live but whose process is gone is ``died`` ("process vanished"
    unless a supervisor wrote what it saw)."""
    run_dir = Path(run_dir)
    row: dict[str, Any] = {"run_dir": str(run_dir), "dir": str(run_dir), "name": run_dir.name,
                           "state": str(RunState.DAMAGED), "step": 0, "total_steps": 0,
                           "pid": None, "objective": "?", "last_loss": None, "updated": 0.0,
                           "reason": "", "problems": []}
    try:
        state_path = run_dir / STATE_FILE
        state = read_state(run_dir)
        if state_path.exists() and not state:
            row["reason"] = f"{STATE_FILE} is not readable JSON"
        metrics, problems = load_metrics_checked(run_dir)
        last = metrics[-1] if metrics else {}
        loss = last.get("loss")
        row.update(objective=str(state.get("objective", "?")),
                   step=int(_step_of(last) or number_or(state.get("step")) or 0),
                   total_steps=int(number_or(state.get("total_steps"))),
                   last_loss=loss if isinstance(loss, (int, float)) else None,
                   updated=number_or(state.get("updated")) or (state_path.stat().st_mtime
                                                         if state_path.exists() else 0.0),
                   problems=problems)
        if row["reason"]:
            return row
        run_state = RunState.parse(state.get("state", RunState.STARTING
                                             if (run_dir / CONFIG_FILE).is_file() else None))
        pid = live_pid(state, now)
        if run_state.live and pid is None and lock_owner(run_dir) is None:
            row["reason"] = str(state.get("reason") or "process vanished")
            run_state = RunState.DIED
        elif run_state is RunState.DAMAGED:
            row["reason"] = f"{STATE_FILE}: unknown state {state.get('state')!r}"
        else:
            row["reason"] = str(state.get("error") or state.get("reason") or "")
        if problems and run_state is not RunState.DAMAGED:
            row["reason"] = (row["reason"] + "; " if row["reason"] else "") + \
                f"{len(problems)} damaged line(s), first {problems[0]}"
        row.update(state=str(run_state), pid=pid)
    except (OSError, ValueError, TypeError, AttributeError) as e:  # a folder cannot hide the rest
        row.update(state=str(RunState.DAMAGED), reason=f"{type(e).__name__}: {e}")
    return row


def is_run_dir(path: Path) -> bool:
    """A folder that holds a run (its config or state)."""
    try:
        return (path / CONFIG_FILE).exists() or (path / STATE_FILE).exists()
    except OSError:
        return False


def list_runs(runs_dir: Path) -> list[dict[str, Any]]:
    """Summaries of the runs under ``runs_dir``, newest first (damaged ones included)."""
    root = Path(runs_dir)
    try:
        folders = [p for p in root.iterdir() if p.is_dir() and is_run_dir(p)]
    except OSError:
        return []
    runs = [run_summary(p) for p in folders]
    return sorted(runs, key=lambda r: (r["updated"], r["name"]), reverse=True)


def live_runs(runs_dir: Path) -> list[dict[str, Any]]:
    """The runs under ``runs_dir`` whose process is alive, newest first."""
    return [r for r in list_runs(runs_dir) if r["pid"] is not None]
