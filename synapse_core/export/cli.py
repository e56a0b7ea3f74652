"""``synapse export``: run the export steps headless with plain-text progress, or verify a file.

    synapse export RUN_DIR [--quant q4_k_m] [--override '_exps\\.=q6_k'] [--mmproj] [--out DIR]
    synapse export --verify FILE.gguf [--hf DIR] [--mmproj-file FILE]

Nothing heavy is imported at module import (``synapse --help`` stays fast).
"""

from __future__ import annotations

import argparse
import sys
import threading
from pathlib import Path


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
    p.set_defaults(func=_run)


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
    from synapse_core.export.pipeline import run_job
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

    print(f"export {job.source} -> {out} ({job.quant}, overrides {overrides or 'none'})")
    try:
        outputs = run_job(job, out, CallbackSink(show), threading.Event())
    except ExportCancelled:
        print("synapse export: cancelled", file=sys.stderr)
        return 130
    except (ExportError, ValueError, FileNotFoundError) as e:
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
    from synapse_core.export.verify import verify_gguf

    path = Path(args.verify)
    if not path.is_file():
        print(f"synapse export: {path}: no such file", file=sys.stderr)
        return 2
    report = verify_gguf(path, hf_dir=Path(args.hf) if args.hf else None, threshold=threshold,
                         mmproj=Path(args.mmproj_file) if args.mmproj_file else None)
    print("\n".join(report.lines()))
    return 0 if report.ok else 1
