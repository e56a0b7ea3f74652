"""The run directory: what a run leaves on disk, and how a past run is read back.

Layout (one folder per run)::

    run.toml          the config used (``dump_config``)
    metrics.jsonl     one line per logged step (step, epoch, loss, learning_rate, ...)
    events.jsonl      every event's ``to_dict`` (streamable across processes)
    train.log         human-readable log lines
    state.json        state (running, finished, stopped, failed), objective, last step
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

CONFIG_FILE = "run.toml"
METRICS_FILE = "metrics.jsonl"
EVENTS_FILE = "events.jsonl"
LOG_FILE = "train.log"
STATE_FILE = "state.json"
CHECKPOINTS_DIR = "checkpoints"
ADAPTER_DIR = "adapter"
DISTRIBUTED_DIR = "distributed"

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

    def write_state(self, **fields: Any) -> None:
        """Merge ``fields`` into state.json (atomic)."""
        with self._lock:
            state = read_state(self.path)
            state.update(fields)
            state["updated"] = time.time()
            atomic_write_json(self.path / STATE_FILE, _json_safe(state))

    def truncate_metrics_after(self, step: int) -> None:
        """Drop metric rows past ``step`` (a resumed run rewrites them from the checkpoint)."""
        path = self.path / METRICS_FILE
        if not path.is_file():
            return
        kept = [r for r in load_metrics(self.path) if int(r.get("step", 0)) <= step]
        from synapse_core.fileio import atomic_write_jsonl

        with self._lock:
            fh = self._files.pop(METRICS_FILE, None)
            if fh is not None:
                fh.close()
            atomic_write_jsonl(path, kept)

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

    def truncate_metrics_after(self, step: int) -> None:
        return None


def read_state(run_dir: Path) -> dict[str, Any]:
    """state.json of a run, or {} when absent or unreadable."""
    try:
        return json.loads((Path(run_dir) / STATE_FILE).read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def load_metrics(run_dir: Path) -> list[dict[str, Any]]:
    """Every complete line of ``metrics.jsonl`` (a torn last line of a live run is skipped)."""
    path = Path(run_dir) / METRICS_FILE
    rows: list[dict[str, Any]] = []
    try:
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                if not line.endswith("\n"):
                    break  # being written right now
                line = line.strip()
                if line:
                    try:
                        rows.append(json.loads(line))
                    except json.JSONDecodeError:
                        continue  # a damaged line must not hide the rest of the curve
    except FileNotFoundError:
        return []
    return rows


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


def run_summary(run_dir: Path) -> dict[str, Any]:
    """dir, objective, steps, last loss, state: one row of ``synapse runs``."""
    run_dir = Path(run_dir)
    state = read_state(run_dir)
    metrics = load_metrics(run_dir)
    last = metrics[-1] if metrics else {}
    return {
        "dir": str(run_dir),
        "name": run_dir.name,
        "objective": state.get("objective", "?"),
        "step": int(last.get("step", state.get("step", 0)) or 0),
        "total_steps": int(state.get("total_steps", 0) or 0),
        "last_loss": last.get("loss"),
        "state": state.get("state", "unknown"),
        "updated": state.get("updated", 0.0),
    }


def is_run_dir(path: Path) -> bool:
    """A folder that holds a run (its config or state)."""
    return (path / CONFIG_FILE).is_file() or (path / STATE_FILE).is_file()


def list_runs(runs_dir: Path) -> list[dict[str, Any]]:
    """Summaries of the runs under ``runs_dir``, newest first."""
    root = Path(runs_dir)
    if not root.is_dir():
        return []
    runs = [run_summary(p) for p in root.iterdir() if p.is_dir() and is_run_dir(p)]
    return sorted(runs, key=lambda r: (r["updated"], r["name"]), reverse=True)
