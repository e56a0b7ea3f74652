"""``synapse train``, ``synapse runs`` and ``synapse control``: runs headless.

``synapse train`` starts the run process (``supervisor.launch``) and, unless ``--detach``,
follows it in the foreground with plain progress lines (Ctrl-C, SIGTERM and SIGHUP
checkpoint and stop it); ``synapse runs`` lists the runs (``--json``: one object a line);
``synapse control RUN_DIR stop|pause|resume|checkpoint`` sends a request to a live run and
waits, bounded, for its acknowledgement.

Nothing heavy is imported at module level (``synapse --help`` must not import torch).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a LoRA adapter (KTO or SFT) headless",
                       description="Run the training engine with a plain progress line on "
                                   "stderr; writes the same run directory as the app. "
                                   "`synapse train DATA` trains on DATA with --config's "
                                   "settings, else the demo's (as `synapse-tui DATA`).")
    p.add_argument("data", nargs="?", metavar="DATA", help="JSONL file or saved `datasets` "
                   "folder to train on (overrides data.path; default: the config's, else the "
                   "bundled demo data)")
    p.add_argument("--config", metavar="TOML", help="run config (default: built-in defaults)")
    p.add_argument("--run-dir", metavar="DIR", help="run directory (default: a new folder "
                   "under training.runs_dir)")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue RUN_DIR from its last "
                   "checkpoint (uses that run's config unless --config is given)")
    p.add_argument("--max-steps", type=int, metavar="N", help="override training.max_steps")
    p.add_argument("--gpus", metavar="GPUS", help="override training.gpus: 'auto' (one "
                   "process), 'all', '0,1' (one torchrun rank per GPU) or 'cpu:N'")
    p.add_argument("--detach", action="store_true", help="start the run in the background, "
                   "print its run directory and return at once (watch it with synapse-tui or "
                   "synapse runs; steer it with synapse control)")
    p.set_defaults(func=_train)

    r = sub.add_parser("runs", help="list training runs",
                       description="List run directories: state, steps, last loss, live pid.")
    r.add_argument("dir", nargs="?", default=None,
                   help="runs folder or one run folder (default: training.runs_dir of --config)")
    r.add_argument("--config", metavar="TOML", help="run config whose training.runs_dir to list")
    r.add_argument("--json", action="store_true", help="one JSON object per line per run: "
                   "run_dir, state, step, total_steps, pid, objective, last_loss, updated, "
                   "reason")
    r.set_defaults(func=_runs)

    c = sub.add_parser("control", help="stop, pause, resume or checkpoint a live run",
                       description="Send a request to a live run (its control.json) and wait "
                                   "until the run acknowledges it in its events. Exit 0 when "
                                   "acknowledged; 1 when the run is not live or did not answer "
                                   "in time; 2 when there is no such run.")
    c.add_argument("run_dir", metavar="RUN_DIR")
    c.add_argument("action", choices=("stop", "pause", "resume", "checkpoint"))
    c.add_argument("--timeout", type=float, default=60.0, metavar="S",
                   help="seconds to wait for the acknowledgement (default 60)")
    c.add_argument("--no-wait", action="store_true",
                   help="stop: return once acknowledged, without waiting for the run to end")
    c.set_defaults(func=_control)


def _fmt_eta(seconds: float) -> str:
    seconds = int(max(seconds, 0))
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


class ProgressPrinter:
    """Turns engine events into plain progress lines on a stream (no colours, no redraw)."""

    def __init__(self, stream: Any = None) -> None:
        self.stream = stream or sys.stderr
        self.started = time.time()
        self.first_step: int | None = None

    def _print(self, text: str) -> None:
        print(text, file=self.stream, flush=True)

    def emit(self, event: Any) -> None:
        kind = type(event).__name__
        if kind == "StepLogged":
            if self.first_step is None:
                self.first_step, self.started = event.step - 1, time.time()
            done = max(event.step - self.first_step, 1)
            per = (time.time() - self.started) / max(done, 1)
            eta = _fmt_eta(per * (event.total_steps - event.step))
            tps = f"{event.tokens_per_s:,.0f} tok/s" if event.tokens_per_s else "- tok/s"
            extra = "".join(f"  {k} {v:.4g}" for k, v in event.metrics.items()
                            if k in ("kl", "rewards/margins", "mean_token_accuracy"))
            self._print(f"step {event.step}/{event.total_steps}  epoch {event.epoch:.2f}  "
                        f"loss {event.loss:.4f}  lr {event.learning_rate:.3g}  {tps}  "
                        f"ETA {eta}{extra}")
        elif kind == "LogLine":
            self._print(f"[{event.level}] {event.message}")
        elif kind == "SetupProgressed":
            self._print(f"[set-up {event.index}/{event.count}] {event.message}")
        elif kind == "ModelLoaded":
            self._print(f"model loaded in {event.seconds:.1f}s: {event.backend} on {event.device}"
                        f", {event.dtype}, {event.attn_implementation}, optim {event.optim}; "
                        f"{event.trainable_params:,} trainable; +{event.added_tokens} tokens; "
                        f"{event.experts}")
        elif kind == "RunStarted":
            self.first_step, self.started = event.resumed_from_step, time.time()
            how = (f"resuming at step {event.resumed_from_step}" if event.resumed_from_step
                   else "starting")
            ranks = f" on {event.world_size} ranks" if event.world_size > 1 else ""
            self._print(f"{how}{ranks}: {event.objective}, {event.train_rows} rows, "
                        f"{event.total_steps} steps -> {event.run_dir}")
        elif kind == "CheckpointSaved":
            self._print(f"checkpoint ({event.reason}) at step {event.step}: {event.path}")
        elif kind == "PreviewGenerated":
            self._print(f"preview at step {event.step}: {event.text!r}")
        elif kind == "TelemetryUnavailable":
            self._print(f"[info] {event.reason}")
        elif kind == "TrainingFinished":
            what = f"stopped ({event.reason})" if event.stopped else "finished"
            self._print(f"{what} at step {event.step}; adapter: {event.adapter_path}")
        elif kind == "TrainingFailed":
            self._print(f"FAILED ({event.failure}): {event.message}")
            if event.hint:
                self._print(f"hint: {event.hint}")


def with_data(config: Any, data: str) -> Any:
    """``config`` training on the file ``data`` (made absolute: relative paths in a config are
    read against the config's folder, a path on the command line against the cwd). As
    ``synapse-tui DATA``: with no config file, the demo's settings and model."""
    from synapse_core.config import validate

    config.data.path = str(Path(data).resolve())
    validate(config)
    return config


def _train(args: argparse.Namespace) -> int:
    from synapse_core.config import load_config
    from synapse_core.training import supervisor
    from synapse_core.training.control import RunControl
    from synapse_core.training.events import TrainingFinished
    from synapse_core.training.rundir import CONFIG_FILE, RunInUse
    from synapse_core.training.signals import install_signal_handlers

    if args.resume and not Path(args.resume).is_dir():
        print(f"synapse train: --resume {args.resume}: no such run directory", file=sys.stderr)
        return 2
    config = load_config(args.config) if args.config else None
    if config is None and not args.resume:
        config = load_config(None)
    if args.data:
        if args.resume:
            print("synapse train: DATA cannot be given with --resume (the run keeps its data)",
                  file=sys.stderr)
            return 2
        if not Path(args.data).exists():
            print(f"synapse train: {args.data}: no such file or folder", file=sys.stderr)
            return 2
        config = with_data(config, args.data)
    if args.gpus:
        if config is None:  # a resume with the run's own config, another device choice
            config = load_config(Path(args.resume) / CONFIG_FILE)
        config.training.gpus = args.gpus
        from synapse_core.config import validate

        validate(config)
    kwargs: dict[str, Any] = dict(run_dir=args.run_dir, resume_from=args.resume,
                                  max_steps=args.max_steps)
    if args.detach:
        try:
            process = supervisor.launch(config, **kwargs)
        except (RunInUse, OSError) as e:
            print(f"synapse train: {_why(e)}", file=sys.stderr)
            return 1
        print(process.run_dir)
        print(f"run process {process.pid} training in the background; watch it with "
              f"synapse-tui, stop it with: synapse control {process.run_dir} stop",
              file=sys.stderr)
        return 0
    control = RunControl()
    restore = install_signal_handlers(control, interrupt=True)
    try:
        result = supervisor.run(config, ProgressPrinter(), control, **kwargs)
    except (RunInUse, OSError) as e:  # the folder cannot be prepared: said, no traceback
        print(f"synapse train: {_why(e)}", file=sys.stderr)
        return 1
    finally:
        restore()
    return 0 if isinstance(result, TrainingFinished) else 1


def _why(e: BaseException) -> str:
    """A run folder that cannot be prepared, said plainly: "read-only file system: PATH"."""
    from synapse_core.training.rundir import disk_error

    what = disk_error(e)
    if what is not None:
        return f"{what}: cannot write {getattr(e, 'filename', None) or ''}".rstrip()
    return str(e)


def _runs_root(args: argparse.Namespace) -> Path:
    from synapse_core.config import load_config

    if args.dir:
        return Path(args.dir)
    cfg = load_config(args.config) if args.config else load_config(None)
    return cfg.resolve_path(cfg.training.runs_dir)


def _runs(args: argparse.Namespace) -> int:
    import json

    from synapse_core.training.rundir import is_run_dir, list_runs, run_summary

    root = _runs_root(args)
    rows = [run_summary(root)] if is_run_dir(root) else list_runs(root)
    if args.json:
        for r in rows:
            print(json.dumps({k: r[k] for k in ("run_dir", "state", "step", "total_steps",
                                                "pid", "objective", "last_loss", "updated",
                                                "reason")}, ensure_ascii=False))
        return 0
    if not rows:
        print(f"no runs in {root}", file=sys.stderr)
        return 0
    print(f"{'run':40s} {'objective':9s} {'steps':>11s} {'last loss':>10s}  state")
    for r in rows:
        steps = f"{r['step']}/{r['total_steps'] or '?'}"
        loss = "-" if r["last_loss"] is None else f"{r['last_loss']:.4f}"
        state = r["state"] + (f" (pid {r['pid']})" if r["pid"] else "")
        if r["reason"] and r["state"] in ("died", "damaged", "failed"):
            state += f": {r['reason']}"
        print(f"{r['dir'][-40:]:40s} {r['objective']:9s} {steps:>11s} {loss:>10s}  {state}")
    return 0


def _control(args: argparse.Namespace) -> int:
    from synapse_core.training.control import CONTROL_FILE, send_request
    from synapse_core.training.events import (RequestAcknowledged, TrainingFailed,
                                              TrainingFinished)
    from synapse_core.training.rundir import (EVENTS_FILE, EventTail, is_run_dir, live_pid,
                                              lock_owner, read_state, run_summary)

    run = Path(args.run_dir)
    if not run.is_dir() or not is_run_dir(run):
        print(f"synapse control: {run}: no such run", file=sys.stderr)
        return 2
    summary = run_summary(run)
    if summary["pid"] is None:
        print(f"synapse control: {run}: not live (state {summary['state']}"
              + (f": {summary['reason']}" if summary["reason"] else "") + ")", file=sys.stderr)
        return 1
    events = run / EVENTS_FILE
    tail = EventTail(events, events.stat().st_size if events.exists() else 0)
    seq = send_request(run / CONTROL_FILE, args.action, reason="user")
    deadline = time.monotonic() + args.timeout
    acknowledged = False
    while time.monotonic() < deadline:
        for event in tail.read():
            if isinstance(event, RequestAcknowledged) and event.seq >= seq:
                acknowledged = True
                print(f"{args.action}: acknowledged by the run (request {seq})", file=sys.stderr)
            if isinstance(event, (TrainingFinished, TrainingFailed)) and acknowledged:
                end = (f"stopped at step {event.step}" if isinstance(event, TrainingFinished)
                       else f"failed: {event.message}")
                print(end, file=sys.stderr)
                while lock_owner(run) is not None and time.monotonic() < deadline:
                    time.sleep(0.1)  # the process saves and exits: none is left behind
                return 0 if isinstance(event, TrainingFinished) else 1
        if acknowledged and (args.action != "stop" or args.no_wait):
            return 0
        if live_pid(read_state(run)) is None and not acknowledged:
            print(f"synapse control: {run}: the run ended before it took the request",
                  file=sys.stderr)
            return 1
        time.sleep(0.1)  # a CLI poll, bounded by --timeout
    what = "acknowledge the request" if not acknowledged else "stop"
    print(f"synapse control: {run}: the run did not {what} within {args.timeout:g} s",
          file=sys.stderr)
    return 1
