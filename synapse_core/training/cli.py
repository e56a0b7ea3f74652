"""``synapse train`` and ``synapse runs``: the engine headless, and the list of past runs.

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
    p.add_argument("--gpus", metavar="GPUS", help="override training.gpus: 'auto' (this "
                   "process), 'all', '0,1' (one torchrun rank per GPU) or 'cpu:N'")
    p.set_defaults(func=_train)

    r = sub.add_parser("runs", help="list training runs",
                       description="List run directories: objective, steps, last loss, state.")
    r.add_argument("dir", nargs="?", default=None,
                   help="runs folder (default: training.runs_dir of --config, else ./runs)")
    r.add_argument("--config", metavar="TOML", help="run config whose training.runs_dir to list")
    r.set_defaults(func=_runs)


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
            self._print(f"FAILED ({event.kind}): {event.message}")
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
    # quieter libraries on a terminal: the progress lines say what matters
    os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from synapse_core.config import load_config
    from synapse_core.training.control import RunControl
    from synapse_core.training.engine import Engine
    from synapse_core.training.events import TrainingFailed, TrainingFinished
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
            from synapse_core.training.rundir import CONFIG_FILE

            config = load_config(Path(args.resume) / CONFIG_FILE)
        config.training.gpus = args.gpus
        from synapse_core.config import validate

        validate(config)
    control = RunControl()
    restore = install_signal_handlers(control)
    try:
        engine = Engine(config, ProgressPrinter(), control, run_dir=args.run_dir,
                        resume_from=args.resume, max_steps=args.max_steps)
        result = engine.run()
    finally:
        restore()
    if isinstance(result, TrainingFinished):
        return 0
    assert isinstance(result, TrainingFailed)
    return 1


def _runs(args: argparse.Namespace) -> int:
    from synapse_core.config import load_config
    from synapse_core.training.rundir import is_run_dir, list_runs, run_summary

    if args.dir:
        root = Path(args.dir)
    else:
        cfg = load_config(args.config) if args.config else load_config(None)
        root = cfg.resolve_path(cfg.training.runs_dir)
    rows = [run_summary(root)] if is_run_dir(root) else list_runs(root)
    if not rows:
        print(f"no runs in {root}", file=sys.stderr)
        return 0
    print(f"{'run':40s} {'objective':9s} {'steps':>11s} {'last loss':>10s}  state")
    for r in rows:
        steps = f"{r['step']}/{r['total_steps'] or '?'}"
        loss = "-" if r["last_loss"] is None else f"{r['last_loss']:.4f}"
        print(f"{r['dir'][-40:]:40s} {r['objective']:9s} {steps:>11s} {loss:>10s}  {r['state']}")
    return 0
