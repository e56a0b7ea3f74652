"""Multi-process training: the engine's ranks under torchrun, inside the run process.

Every run is one run process (``run_main``, started and followed by ``supervisor``). When
``training.gpus`` is not "auto", that process hands over to ``supervise`` instead of
training itself: it becomes the supervisor of a torchrun process group, one rank per GPU (or
``cpu:N`` gloo ranks), and nothing changes for whoever follows the run folder: the same
events, the same control file, exactly one terminal event ends the run.

- The supervisor opens the run folder first (so its path is known and run.toml written),
  prepares the rows once, writes what the ranks need under ``distributed/`` and starts
  ``python -m torch.distributed.run --standalone ... -m synapse_core.training.rank_main`` in
  its own session, its output in ``distributed/torchrun.log``.
- Rank 0 writes the run folder as a single-process run does; the supervisor tails its
  ``events.jsonl`` and forwards every event (``event_from_dict``) to the sink.
- RunControl requests go to rank 0 through ``distributed/control.json`` (``control``);
  rank 0 shares them with every rank at each step end (``callbacks``).
- The end: rank 0's terminal event when the group exited cleanly or rank 0 itself failed
  first; otherwise a ``TrainingFailed`` naming the rank that failed first and its error
  (torchelastic's per-rank error files, written by ``@record`` in ``rank_main``).
- A stop that the ranks do not honour within ``training.stop_timeout_s`` (or a group that
  lingers a minute after its terminal event) gets the group killed: SIGTERM to torchrun
  (which stops its workers), then SIGKILL to every process it started. Never an orphan.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from synapse_core.config import ConfigError, RunConfig, parse_gpus, validate, write_config
from synapse_core.events import Event, LogLine
from synapse_core.fileio import atomic_write_json, atomic_write_jsonl
from synapse_core.telemetry.events import TelemetrySampled
from synapse_core.training import rundir as rd
from synapse_core.training.control import CONTROL_FILE, ControlFileWriter
from synapse_core.training.events import StepLogged, TrainingFailed, TrainingFinished
from synapse_core.training.state import RunState

if TYPE_CHECKING:
    from synapse_core.training.engine import Engine

LAUNCH_FILE = "launch.json"
TORCHRUN_LOG = "torchrun.log"
RANK_LOGS_DIR = "logs"
EXIT_GRACE_S = 60.0
"""Seconds the group may take to exit after rank 0's terminal event."""
KILL_GRACE_S = 10.0
"""Seconds between SIGTERM and SIGKILL."""


DDP_UNSLOTH_ENV = ("UNSLOTH_TORCH_VARLEN", "0")
"""Set for the ranks of a multi-GPU run unless the user set it (see ``_environment``)."""


@dataclass(frozen=True)
class LaunchPlan:
    """How many ranks, on what. ``cuda_visible`` is CUDA_VISIBLE_DEVICES for the ranks."""

    device: str  # "cuda" or "cpu"
    nproc: int
    cuda_visible: str | None = None
    indices: tuple[int, ...] = ()  # the GPUs in this process's CUDA numbering

    def describe(self) -> str:
        """For the log: what the ranks run on."""
        if self.device == "cpu":
            return f"{self.nproc} gloo rank(s) on the CPU"
        return f"{self.nproc} rank(s) on CUDA GPU(s) {self.cuda_visible}"


def plan_launch(cfg: RunConfig) -> LaunchPlan:
    """Resolve ``training.gpus`` (not "auto") against this machine; ConfigError names the key."""
    choice = parse_gpus(cfg.training.gpus, cfg.source)
    if choice.kind == "cpu":
        return LaunchPlan("cpu", choice.cpu_ranks, "")  # hidden GPUs: gloo ranks train on the CPU
    import torch  # heavy: counting the CUDA devices

    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if count == 0:
        raise ConfigError("training.gpus", f"{cfg.training.gpus!r} but no CUDA GPU is visible; "
                          "use 'auto' (CPU) or 'cpu:N'", cfg.source)
    wanted = list(range(count)) if choice.kind == "all" else list(choice.cuda_indices)
    missing = [i for i in wanted if i >= count]
    if missing:
        raise ConfigError("training.gpus", f"GPU {missing[0]} does not exist: {count} CUDA "
                          f"GPU(s) visible (0..{count - 1})", cfg.source)
    parent = os.environ.get("CUDA_VISIBLE_DEVICES")
    if parent:  # the indices are this process's; the ranks need the same physical devices
        ids = [x.strip() for x in parent.split(",") if x.strip()]
        visible = ",".join(ids[i] for i in wanted)
    else:
        visible = ",".join(str(i) for i in wanted)
    return LaunchPlan("cuda", len(wanted), visible, tuple(wanted))


def supervise(engine: Engine) -> Event:
    """Run ``engine``'s job as torchrun ranks; returns (and has emitted) the terminal event."""
    return Supervisor(engine).run()


class Supervisor:
    """Starts the ranks, relays events and requests, ends the run with one terminal event."""

    def __init__(self, engine: Engine, poll_s: float = 0.1) -> None:
        self.engine = engine
        self.poll_s = poll_s
        self.proc: subprocess.Popen[bytes] | None = None
        self.rank0_terminal: Event | None = None
        self.last_step = 0
        self.killed_reason = ""
        self.indices: tuple[int, ...] = ()
        self._known: dict[int, float] = {}  # pid -> create time of every process torchrun started

    # -- the run ---------------------------------------------------------------------------

    def run(self) -> Event:
        """The whole run; returns (and has emitted) the terminal event."""
        from synapse_core.training.engine import absolute_paths
        from synapse_core.training.objectives import check_rows

        e = self.engine
        result: Event
        from_rank0 = False
        interrupted: BaseException | None = None
        try:
            e.config = absolute_paths(e.config)
            e.rundir = e._open_run_dir()
            plan = plan_launch(e.config)
            e.rundir.write_state(state=RunState.STARTING, objective=e.config.training.objective,
                                 model=e.config.model.name_or_path, world_size=plan.nproc,
                                 clear=rd.STALE_FIELDS)
            validate(e.config)
            rows = e._rows()
            check_rows(e.config.training.objective, rows)
            # once, here: a missing model fails before any rank starts, and the folders built
            # on first use (the demo model, a vision model's decoder) are not built by every
            # rank at the same time
            from synapse_core.training.backends import model_source

            model_source(e.config, [])
            launch = self._prepare(plan, rows)
            self.indices = plan.indices
            result, from_rank0 = self._supervise(plan, launch)
        except BaseException as ex:  # every failure becomes one TrainingFailed event
            result = e._failure(ex)
            if not isinstance(ex, Exception):
                interrupted = ex  # Ctrl-C: the ranks are killed, then it goes on up
        finally:
            self._ensure_group_gone()
        e.result = result
        if from_rank0:
            e.sink.emit(result)  # rank 0 already wrote it (and its state) to the run folder
        else:
            if e.rundir is not None and isinstance(result, TrainingFailed):
                from synapse_core.training.engine import write_end_state

                write_end_state(e.rundir, result)
            e.emit(result)  # the supervisor's verdict: appended last to events.jsonl
        if e.rundir is not None:
            e.rundir.close()
        if interrupted is not None:
            raise interrupted
        return result

    def _prepare(self, plan: LaunchPlan, rows: list[dict[str, Any]]) -> Path:
        """Write what the ranks read: their config, the rows, the control file, launch.json."""
        e = self.engine
        assert e.rundir is not None
        d = e.rundir.path / rd.DISTRIBUTED_DIR
        d.mkdir(exist_ok=True)
        for old in [*d.glob("rank-*.json"), *(d / RANK_LOGS_DIR).glob("**/error.json")]:
            old.unlink()  # a previous launch's (resume in the same folder)
        write_config(e.config, d / "config.toml")
        atomic_write_jsonl(d / "rows.jsonl", rows)
        self.control_writer = ControlFileWriter(d / CONTROL_FILE, reset=True)
        launch = d / LAUNCH_FILE
        atomic_write_json(launch, {
            "world_size": plan.nproc, "device": plan.device, "cuda_visible": plan.cuda_visible,
            "resume": e.resume_from is not None, "max_steps": e.max_steps,
            "telemetry_interval_s": e.telemetry_interval_s, "supervisor_pid": os.getpid()})
        return launch

    def _command(self, plan: LaunchPlan, launch: Path) -> list[str]:
        logs = launch.parent / RANK_LOGS_DIR
        return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nnodes", "1",
                "--nproc-per-node", str(plan.nproc), "--max-restarts", "0",
                "--monitor-interval", "0.5", "--log-dir", str(logs), "--tee", "3",
                "-m", "synapse_core.training.rank_main", "--launch", str(launch)]

    def _environment(self, plan: LaunchPlan) -> dict[str, str]:
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        env.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")  # the log is a file
        env.setdefault("TOKENIZERS_PARALLELISM", "false")
        if plan.cuda_visible is not None:
            env["CUDA_VISIBLE_DEVICES"] = plan.cuda_visible
        if plan.device == "cuda" and plan.nproc > 1 and DDP_UNSLOTH_ENV[0] not in env:
            # Unsloth 2026.10.9 probes torch's varlen attention with a real backward while it
            # compiles its first decoder block; under DDP that backward waits on the autograd
            # thread the compile blocks, and every rank hangs at 0% (seen on 2 x H200). Without
            # the varlen path a packed row takes SDPA over its block mask.
            env[DDP_UNSLOTH_ENV[0]] = DDP_UNSLOTH_ENV[1]
            self.engine.log(f"{DDP_UNSLOTH_ENV[0]}={DDP_UNSLOTH_ENV[1]} for the DDP ranks "
                            "(Unsloth's varlen-attention probe deadlocks under DDP)")
        # the ranks import synapse_core from where this process did (a checkout or a wheel)
        root = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = os.pathsep.join([root, *filter(None, [env.get("PYTHONPATH")])])
        return env

    def _supervise(self, plan: LaunchPlan, launch: Path) -> tuple[Event, bool]:
        e = self.engine
        assert e.rundir is not None
        log_path = launch.parent / TORCHRUN_LOG
        e.log(f"launching {plan.describe()} through torchrun; its output: {log_path}")
        events = e.rundir.path / rd.EVENTS_FILE  # from here on, only rank 0 appends to it
        tail = rd.EventTail(events, events.stat().st_size if events.exists() else 0)
        with open(log_path, "ab") as log:
            log.write(f"\n=== launch {time.strftime('%Y-%m-%d %H:%M:%S')} ===\n".encode())
            log.flush()
            self.proc = subprocess.Popen(self._command(plan, launch), stdout=log,
                                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         env=self._environment(plan), start_new_session=True)
        deadline: float | None = None
        next_scan = 0.0
        while True:
            for event in tail.read():
                self._forward(event)
            self.control_writer.sync(e.control)
            now = time.monotonic()
            if e.control.stop_requested.is_set() and deadline is None:
                deadline = now + e.config.training.stop_timeout_s
            if self.rank0_terminal is not None and (deadline is None
                                                     or deadline > now + EXIT_GRACE_S):
                deadline = now + EXIT_GRACE_S
            if now >= next_scan:
                self._scan_processes()
                next_scan = now + 1.0
            if self.proc.poll() is not None:
                break
            if deadline is not None and now >= deadline:
                self.killed_reason = ("the ranks did not exit in time after "
                                      + ("their last event" if self.rank0_terminal
                                         else f"the stop ({e.config.training.stop_timeout_s:g} s)"))
                e.sink.emit(LogLine(message=f"{self.killed_reason}: killing the process group",
                                    level="warning", source="training"))
                self._kill()
                break
            try:
                self.proc.wait(timeout=self.poll_s)
            except subprocess.TimeoutExpired:
                pass
        for event in tail.read():
            self._forward(event)
        return self._verdict(launch.parent)

    def _forward(self, event: Event) -> None:
        if isinstance(event, (TrainingFinished, TrainingFailed)):
            self.rank0_terminal = event  # held back: the verdict comes when the group is gone
            return
        if isinstance(event, StepLogged):
            self.last_step = event.step
        if isinstance(event, TelemetrySampled) and self.indices:
            # rank 0 numbers the GPUs it sees from 0; the user chose them in this process's
            # numbering ("2,3"): the panel shows those
            event = dataclasses.replace(event, gpus=tuple(
                dataclasses.replace(g, index=self.indices[g.index])
                if g.index < len(self.indices) else g for g in event.gpus))
        self.engine.sink.emit(event)

    # -- the verdict -----------------------------------------------------------------------

    def _verdict(self, d: Path) -> tuple[Event, bool]:
        """(terminal event, whether it is rank 0's own, already in the run folder)."""
        assert self.proc is not None
        code = self.proc.returncode
        rank0 = self.rank0_terminal
        run_dir = str(self.engine.rundir.path) if self.engine.rundir else ""
        if isinstance(rank0, TrainingFinished):
            if code not in (0, None) or self.killed_reason:
                self.engine.sink.emit(LogLine(
                    message=f"the run finished but the process group exited with code {code}"
                            f"{' (' + self.killed_reason + ')' if self.killed_reason else ''}; "
                            f"see {d / TORCHRUN_LOG}", level="warning", source="training"))
            return rank0, True
        cause = root_cause(d)
        if rank0 is not None and (cause is None or cause["rank"] == 0):
            return rank0, True  # rank 0 failed first: its own event says why
        if cause is not None:
            message = f"rank {cause['rank']} failed: {cause['message']}"
            return TrainingFailed(message=message, failure=cause.get("failure", "error"),
                                  hint=cause.get("hint", ""),
                                  traceback=cause.get("traceback", ""), run_dir=run_dir,
                                  step=self.last_step), False
        if self.killed_reason:
            message = f"{self.killed_reason}; the process group was killed"
        else:
            message = (f"torchrun exited with code {code} before the run ended: "
                       + _log_tail(d / TORCHRUN_LOG))
        return TrainingFailed(message=message, failure="error", run_dir=run_dir,
                              step=self.last_step,
                              hint=f"see {d / TORCHRUN_LOG} and {d / RANK_LOGS_DIR}"), False

    # -- processes -------------------------------------------------------------------------

    def _scan_processes(self) -> None:
        """Remember every process torchrun started (the ranks sit in sessions of their own,
        so a signal to torchrun's group would not reach them)."""
        import psutil

        if self.proc is None:
            return
        try:
            for child in psutil.Process(self.proc.pid).children(recursive=True):
                self._known.setdefault(child.pid, child.create_time())
        except psutil.Error:
            return  # torchrun already gone: the ones seen so far are known

    def _alive(self) -> list[Any]:
        import psutil

        out = []
        for pid, created in self._known.items():
            try:
                p = psutil.Process(pid)
                if p.create_time() == created and p.status() != psutil.STATUS_ZOMBIE:
                    out.append(p)
            except psutil.Error:
                continue
        return out

    def _kill(self) -> None:
        """SIGTERM torchrun (it stops its workers), then SIGKILL whatever is left."""
        import psutil

        assert self.proc is not None
        self._scan_processes()
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=KILL_GRACE_S)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=KILL_GRACE_S)
        left = self._alive()
        for p in left:
            try:
                p.terminate()
            except psutil.Error:
                continue
        _, left = psutil.wait_procs(left, timeout=KILL_GRACE_S)
        for p in left:
            try:
                p.kill()
            except psutil.Error:
                continue
        psutil.wait_procs(left, timeout=KILL_GRACE_S)

    def _ensure_group_gone(self) -> None:
        """No process of this run outlives the supervisor, whatever happened."""
        if self.proc is None:
            return
        if self.proc.poll() is None or self._alive():
            self._kill()


_PEER_ERRORS = ("connection closed by peer", "connection reset by peer", "broken pipe",
                "distbackenderror", "nccl", "remote process", "processgroup", "gloo",
                "timed out", "watchdog", "sigterm", "signal 15")
"""Words of an error that a rank gets because another rank died (a consequence, not a cause)."""


def _is_peer_error(text: str) -> bool:
    low = text.lower()
    return any(w in low for w in _PEER_ERRORS)


def _torchrun_failures(log: Path) -> dict[int, int]:
    """rank -> exit code of the ranks torchrun's failure summary lists without an error file
    (killed by a signal, or exited without an exception: an OOM kill, a segfault)."""
    import re

    try:
        text = log.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return {}
    text = text[text.rfind("=== launch"):]  # this launch only
    out = {}
    for m in re.finditer(r"rank\s*:\s*(\d+)\s*\(local_rank[^)]*\)\s*\n.*?exitcode\s*:\s*(-?\d+)"
                         r"[^\n]*\n[^\n]*error_file\s*:\s*(\S+)", text):
        if m.group(3) == "<N/A>":
            out[int(m.group(1))] = int(m.group(2))
    return out


def root_cause(d: Path) -> dict[str, Any] | None:
    """The rank whose failure ended the run, with rank, message, kind, hint, traceback.

    From torchelastic's per-rank error files (``@record`` in rank_main) and torchrun's failure
    summary: an error of the rank's own (oldest first) wins over a rank that died without one
    (a signal, an OOM kill), which wins over an error a rank got only because a peer died
    (connection closed, NCCL/gloo failures). None when no rank failed on its own."""
    own, peer = [], []
    for path in (d / RANK_LOGS_DIR).glob("**/error.json"):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            rank = int(path.parent.name)
        except (OSError, ValueError):
            continue
        msg = data.get("message", {})
        if isinstance(msg, dict):
            text = str(msg.get("message", ""))
            stack = str(msg.get("extraInfo", {}).get("py_callstack", ""))
        else:
            text, stack = str(msg), ""
        entry = (path.stat().st_mtime_ns, rank, text, stack)
        (peer if _is_peer_error(text) else own).append(entry)
    if not own:
        silent = _torchrun_failures(d / TORCHRUN_LOG)
        died = {r: c for r, c in silent.items() if c not in (-15,)}  # -15: stopped by torchrun
        if died:
            rank = min(died)
            code = died[rank]
            how = (f"was killed by signal {-code}" if code < 0 else f"exited with code {code}")
            return {"rank": rank, "message": f"the process {how} without a Python error "
                    "(out of memory? a crash in native code?)", "failure": "error",
                    "hint": f"see {d / TORCHRUN_LOG}"}
    if not (own or peer):
        return None
    _, rank, text, stack = min(own or peer)
    cause: dict[str, Any] = {"rank": rank, "message": text.removeprefix("RankFailed: "),
                             "traceback": stack}
    summary = rd.read_rank_summary(d, rank)
    if summary.get("result") == "TrainingFailed":
        cause.update(message=summary.get("message") or cause["message"],
                     failure=summary.get("failure", "error"), hint=summary.get("hint", ""),
                     traceback=summary.get("traceback") or stack)
    return cause


def _log_tail(path: Path, lines: int = 6) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "(no log)"
    return " | ".join(x.strip() for x in text.strip().splitlines()[-lines:])[:1500]
