"""``synapse export``: run the export steps headless with plain-text progress, or verify a file.

    synapse export RUN_DIR [--quant q4_k_m] [--override '_exps\\.=q6_k'] [--mmproj] [--out DIR] [-v]
    synapse export --verify FILE.gguf [--hf DIR] [--mmproj-file FILE] [-v]

llama.cpp's own log lines go to the job's log file (``OUT/logs/NAME.log``), not the terminal;
``-v`` echoes them to stderr. SIGTERM and SIGINT cancel the export and remove its staging
folder; staging folders left by a killed export are removed on the next run.

Nothing heavy is imported at module import (``synapse --help`` stays fast).
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading
from pathlib import Path
from typing import Any, Iterator


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``synapse export``."""
    p = sub.add_parser("export", help="merge, convert to GGUF, quantize and verify a run",
                       description="Export a training run (or a HF model folder) to GGUF: merge "
                       "the LoRA adapter in bf16, convert, write Pixtral's mmproj, quantize "
                       "with per-tensor overrides, verify. Works offline.")
    p.add_argument("source", nargs="?", help="run folder (with adapter/) or HF model folder")
    p.add_argument("--config", help="run config TOML (defaults for quant, overrides, out dir)")
    p.add_argument("--quant", help="llama.cpp type, e.g. q4_k_m (default: config export.quant)")
    p.add_argument("--override", action="append", default=None, metavar="PATTERN=TYPE",
                   help=r"tensor-name regex = type; repeatable (default: '_exps\.=q6_k')")
    p.add_argument("--mmproj", action=argparse.BooleanOptionalAction, default=None,
                   help="write Pixtral's vision tower as an mmproj GGUF (default: config)")
    p.add_argument("--no-verify", action="store_true", help="skip the verification step")
    p.add_argument("--out", help="output folder (default: config export.out_dir)")
    p.add_argument("--verify", metavar="FILE", help="only verify an existing GGUF and print the report")
    p.add_argument("--hf", metavar="DIR", help="with --verify: HF folder to compare logits with")
    p.add_argument("--mmproj-file", metavar="FILE", help="with --verify: also load this mmproj")
    p.add_argument("-v", "--verbose", action="store_true",
                   help="echo llama.cpp's own log lines to stderr (they always go to the log file)")
    p.set_defaults(func=_run)


def _echo(args: argparse.Namespace) -> Any:
    if not getattr(args, "verbose", False):
        return None
    return lambda line: print(f"  llama.cpp: {line}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def _cancel_on_signals(cancel: threading.Event) -> Iterator[None]:
    """SIGTERM/SIGINT set ``cancel`` (the job stops between tensors or kills its llama.cpp
    child, and removes its staging folder); a second one stops at once."""
    def handler(signum: int, frame: Any) -> None:
        if cancel.is_set():
            raise KeyboardInterrupt
        print(f"synapse export: {signal.Signals(signum).name}: cancelling (cleaning up)...",
              file=sys.stderr, flush=True)
        cancel.set()

    old = {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def _run(args: argparse.Namespace) -> int:
    from synapse_core.config import load_config

    cfg = load_config(args.config)
    if args.verify:
        return _verify(args, cfg.export.min_top1_agreement)
    if not args.source:
        print("synapse export: give a RUN_DIR (or --verify FILE)", file=sys.stderr)
        return 2
    from synapse_core.events import CallbackSink
    from synapse_core.export.errors import ExportCancelled, ExportError
    from synapse_core.export.events import ExportProgressed, ExportStepFinished
    from synapse_core.export.jobs import ExportJob
    from synapse_core.export.pipeline import log_path, remove_stale_staging, run_job
    from synapse_core.export.quantize import parse_override

    try:
        overrides = (dict(parse_override(o) for o in args.override) if args.override is not None
                     else dict(cfg.export.overrides))
    except ExportError as e:
        print(f"synapse export: --override: {e}", file=sys.stderr)
        return 2
    job = ExportJob(source=str(Path(args.source).resolve()),
                    quant=(args.quant or cfg.export.quant).lower(), overrides=overrides,
                    mmproj=cfg.export.mmproj if args.mmproj is None else args.mmproj,
                    verify=cfg.export.verify and not args.no_verify,
                    min_top1_agreement=cfg.export.min_top1_agreement)
    out = Path(args.out) if args.out else cfg.resolve_path(cfg.export.out_dir)
    last = {"step": "", "tenth": -1}

    def show(e: object) -> None:
        if isinstance(e, ExportProgressed):
            tenth = int(e.fraction * 10)
            if e.step != last["step"] or tenth != last["tenth"]:
                last.update(step=e.step, tenth=tenth)
                print(f"  {e.step:<9} {e.fraction:5.0%}  {e.message}", flush=True)
        elif isinstance(e, ExportStepFinished):
            what = "skipped" if e.skipped else f"done in {e.seconds:.1f}s"
            print(f"{e.step}: {what} {e.detail}".rstrip(), flush=True)

    for stale in remove_stale_staging(out):
        print(f"removed {stale}: the staging folder of an export that was killed", flush=True)
    print(f"export {job.source} -> {out} ({job.quant}, overrides {overrides or 'none'})")
    print(f"log (with llama.cpp's own lines): {log_path(out, job)}", flush=True)
    cancel = threading.Event()
    try:
        with _cancel_on_signals(cancel):
            outputs = run_job(job, out, CallbackSink(show), cancel, echo=_echo(args))
    except (ExportCancelled, KeyboardInterrupt):
        print("synapse export: cancelled; its staging folder was removed", file=sys.stderr)
        return 130
    except Exception as e:  # every failure is a message, the log file has the rest
        print(f"synapse export: failed: {e}", file=sys.stderr)
        for line in job.log[-20:]:
            print(f"  {line}", file=sys.stderr)
        return 1
    for line in job.log:
        if line.startswith(("  ", "/")) or line.startswith(str(out)):
            print(line)
    for kind, path in outputs.items():
        print(f"{kind}: {path}")
    return 0


def _verify(args: argparse.Namespace, threshold: float) -> int:
    from synapse_core.export.errors import ExportCancelled, ExportError
    from synapse_core.export.llama_proc import LlamaProcess
    from synapse_core.export.verify import verify_gguf

    path = Path(args.verify)
    if not path.is_file():
        print(f"synapse export: {path}: no such file", file=sys.stderr)
        return 2
    hf = Path(args.hf) if args.hf else _known_hf_folder(path)
    if hf is not None and not args.hf:
        print(f"comparing logits with {hf} (the merged model the export left beside the file)")
    cancel = threading.Event()
    try:
        with _cancel_on_signals(cancel), LlamaProcess(echo=_echo(args)) as llama:
            report = verify_gguf(path, hf_dir=hf,
                                 threshold=threshold, llama=llama, cancel=cancel,
                                 mmproj=Path(args.mmproj_file) if args.mmproj_file else None)
    except (ExportCancelled, KeyboardInterrupt):
        print("synapse export: verification cancelled", file=sys.stderr)
        return 130
    except (ExportError, OSError) as e:  # a damaged file, an AMX build: what and why
        print(f"synapse export: {e}", file=sys.stderr)
        return 1
    print("\n".join(report.lines()))
    return 0 if report.ok else 1


def _known_hf_folder(path: Path) -> Path | None:
    """The HF folder an export left beside a full-precision GGUF (``merged/``), else None: a
    quantized file is not held to the bf16 logit thresholds."""
    from synapse_core.export.errors import ExportError
    from synapse_core.export.gguf_check import check_layout
    from synapse_core.export.verify import read_types

    merged = path.parent / "merged"
    if not (merged / "config.json").is_file():
        return None
    try:
        check_layout(path)
        _, types = read_types(path)
    except ExportError:
        return None  # verify_gguf says what is wrong with the file
    kinds = {t for group in types.values() for t in group}
    return merged if kinds <= {"F32", "F16", "BF16"} else None
