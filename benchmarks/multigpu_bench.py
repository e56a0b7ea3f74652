"""Multi-GPU scaling: the engine through the real torchrun launcher on 1 GPU, then on 2.

One command. Each run is ``supervisor.run(config)`` in a worker thread exactly as the app runs
it, with ``training.gpus`` set to "0" and then "0,1": the run process launches torchrun, the
ranks train (Unsloth on CUDA, DDP, NCCL), rank 0's events come back through the run folder.
The model is the random-init full-size Pixtral-12B that ``gpu_train.py`` builds (its model
and rows are reused from there, built once in a child process so this process never holds
GPU memory), SFT by default, same per-device batch and 4,096-token rows in both runs.

    python benchmarks/multigpu_bench.py                      # 1 GPU, then 2 GPUs (CUDA)
    python benchmarks/multigpu_bench.py --objective kto --steps 10 --write
    python benchmarks/multigpu_bench.py --skip-1gpu          # the 2-GPU run only
    python benchmarks/multigpu_bench.py --build-only         # build the model, nothing else
    python benchmarks/multigpu_bench.py --quick              # tiny Pixtral, 1 then 2 gloo
                                                             # ranks on the CPU (smoke test)
    (on the GPU machine, after `. .gpusite/use-site.sh; export PYTHONPATH=$PWD`: add
     --tokenizer-dir .gpusite/pixtok the first time the model is built)

tokens/s = the median of the logged steps after --warmup, global (summed over the ranks);
peak = each rank's ``torch.cuda.max_memory_allocated`` (``distributed/rank-N.json``);
scaling = tokens/s on 2 GPUs / on 1. Prints a table and one JSON line; ``--write`` saves
benchmarks/results/multigpu.json (``multigpu-quick.json`` with --quick); under $OUT the
runs' small files and the JSON are copied there too.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
for p in (str(ROOT), str(HERE)):  # run as a script from a checkout (no install needed)
    if p not in sys.path:
        sys.path.insert(0, p)

import gpu_train  # noqa: E402  # the model builder and the rows of the single-GPU benchmark


def build_model(model_dir: Path, quick: bool, tokenizer_dir: str | None) -> None:
    """gpu_train's random-init Pixtral, built in a child process: the GPU memory it takes
    goes back when the child exits, before the ranks start."""
    code = ("import sys; from pathlib import Path; sys.path[:0] = [sys.argv[1], sys.argv[2]]; "
            "import gpu_train; gpu_train.make_model(Path(sys.argv[3]), sys.argv[4] == '1', "
            "sys.argv[5] or None)")
    t0 = time.time()
    subprocess.run([sys.executable, "-c", code, str(ROOT), str(HERE), str(model_dir),
                    "1" if quick else "0", tokenizer_dir or ""], check=True)
    print(f"model built in {time.time() - t0:.0f}s: {model_dir}", file=sys.stderr)


def run_config(a: argparse.Namespace, gpus: str) -> Any:
    """The run config of gpu_train's engine stack, on ``gpus``."""
    cfg = gpu_train.engine_config(a)
    cfg.training.gpus = gpus
    cfg.training.stop_timeout_s = 60.0
    return cfg


def one_run(a: argparse.Namespace, label: str, gpus: str, world: int) -> dict[str, Any]:
    """Train through the launcher; the figures of the run."""
    from transformers import AutoTokenizer

    from synapse_core.events import ListSink
    from synapse_core.telemetry.events import TelemetrySampled
    from synapse_core.training.control import RunControl
    from synapse_core.training.events import (ModelLoaded, RunStarted, StepLogged,
                                              TrainingFinished)
    from synapse_core.training.rundir import read_rank_summary

    cfg = run_config(a, gpus)
    n = a.steps * cfg.training.per_device_train_batch_size * world * 2
    rows = gpu_train.full_rows(AutoTokenizer.from_pretrained(a.model_dir), a.seq, n)
    if a.objective == "kto":
        rows = gpu_train.kto_from_sft(rows)
    run_dir = Path(a.out_dir) / f"run-{a.objective}-{label}"
    if run_dir.exists():
        shutil.rmtree(run_dir)
    sink, control = ListSink(), RunControl()
    from synapse_core.training import supervisor

    box: dict[str, Any] = {}

    def follow() -> None:  # the run process supervises torchrun; this thread follows it
        box["result"] = supervisor.run(cfg, sink, control, run_dir=run_dir, rows=rows,
                                       telemetry_interval_s=0.5)

    t0 = time.time()
    worker = threading.Thread(target=follow, name="engine-worker", daemon=True)
    worker.start()  # in a worker thread, as the app runs it
    worker.join(timeout=a.run_timeout)
    if worker.is_alive():  # a run must not eat the machine: stop it (checkpoint, then kill)
        print(f"  {label}: over {a.run_timeout}s, stopping", file=sys.stderr)
        control.stop("timeout")
        worker.join(timeout=cfg.training.stop_timeout_s + 60)
    wall = time.time() - t0
    result = box.get("result")
    ok = isinstance(result, TrainingFinished) and not result.stopped
    steps = sink.of(StepLogged)
    tps = [s.tokens_per_s for s in steps[a.warmup:] if s.tokens_per_s]
    loaded = sink.of(ModelLoaded)
    started = sink.of(RunStarted)
    samples = [e for e in sink.events if isinstance(e, TelemetrySampled)]
    d = run_dir / "distributed"
    ranks = [read_rank_summary(d, r) for r in range(world)]
    nvml_peak = ([max(s.gpus[i].mem_used_gib for s in samples if len(s.gpus) > i)
                  for i in range(len(samples[-1].gpus))] if samples else None)
    out = dict(ok=ok, gpus=gpus, world_size=started[0].world_size if started else None,
               tok_s=statistics.median(tps) if tps else None, steps=len(steps),
               tok_s_per_step=[s.tokens_per_s for s in steps],
               losses=[s.loss for s in steps],
               peak_gib_per_gpu=[r.get("peak_gib") for r in ranks],
               nvml_peak_used_gib=nvml_peak,
               gpu=samples[-1].gpus[0].name if samples else "cpu",
               backend=loaded[0].backend if loaded else None,
               load_s=loaded[0].seconds if loaded else None, wall_s=wall, run_dir=str(run_dir))
    if not ok:
        out["error"] = (getattr(result, "message", None) or
                        f"stopped ({getattr(result, 'reason', '?')})")[:2000]
    print(f"  {label}: " + ("ok" if ok else out["error"][:300]) + f" ({wall:.0f}s)",
          file=sys.stderr, flush=True)
    return out


def versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for name in ("torch", "transformers", "trl", "peft", "accelerate", "unsloth",
                 "bitsandbytes"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def summarize(a: argparse.Namespace, runs: dict[str, dict]) -> dict[str, Any]:
    one, two = runs.get("1gpu", {}), runs.get("2gpu", {})
    t1 = one.get("tok_s") if one.get("ok") else None
    t2 = two.get("tok_s") if two.get("ok") else None
    return {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d"),
        "gpu": two.get("gpu") or one.get("gpu"), "quick": a.quick, "objective": a.objective,
        "seq": a.seq, "steps": a.steps, "warmup": a.warmup,
        "per_device_batch": 2 if a.objective == "kto" else 1,
        "tok_s_1gpu": t1, "tok_s_2gpu": t2,
        "scaling": round(t2 / t1, 3) if t1 and t2 else None,
        "peak_gib_per_gpu": two.get("peak_gib_per_gpu"),
        "peak_gib_1gpu": (one.get("peak_gib_per_gpu") or [None])[0],
        "loadavg": os.getloadavg(), "versions": versions(),
        "runs": {k: {f: v for f, v in r.items() if f != "run_dir"} for k, r in runs.items()},
    }


def print_table(summary: dict[str, Any]) -> None:
    print(f"\n{'run':6s} {'ranks':>5s} {'tokens/s':>10s} {'peak GiB per GPU':>20s} "
          f"{'load s':>7s} {'wall s':>7s}  note")
    for key, r in summary["runs"].items():
        tok = f"{r['tok_s']:,.0f}" if r.get("tok_s") else "-"
        peaks = ", ".join(f"{p:.1f}" for p in r.get("peak_gib_per_gpu") or [] if p) or "-"
        load = f"{r['load_s']:.0f}" if r.get("load_s") else "-"
        note = "" if r.get("ok") else r.get("error", "")[:60]
        print(f"{key:6s} {r.get('world_size') or '-':>5} {tok:>10s} {peaks:>20s} {load:>7s} "
              f"{r['wall_s']:>7.0f}  {note}")
    print(f"\nscaling (2 GPUs / 1 GPU): {summary['scaling']}   target >= 1.8   "
          f"load average {', '.join(f'{x:.1f}' for x in summary['loadavg'])}")
    print(json.dumps({k: v for k, v in summary.items() if k != "runs"}))


def copy_run_files(runs: dict[str, dict], dest: Path, summary: dict, name: str) -> None:
    """The runs' small files (events, metrics, logs, rank summaries) and the JSON, to ``dest``."""
    from synapse_core.fileio import atomic_write_json

    for r in runs.values():
        src = Path(r["run_dir"])
        target = dest / src.name
        for rel in ("run.toml", "metrics.jsonl", "events.jsonl", "train.log", "state.json",
                    "distributed/torchrun.log", *[f"distributed/rank-{i}.json" for i in range(8)]):
            if (src / rel).is_file():
                (target / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src / rel, target / rel)
    atomic_write_json(dest / name, summary)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="tiny Pixtral, gloo ranks on the CPU")
    p.add_argument("--objective", default="sft", choices=("sft", "kto"))
    p.add_argument("--steps", type=int, default=None, help="steps per run (14; quick 6)")
    p.add_argument("--warmup", type=int, default=None, help="steps left out (4; quick 2)")
    p.add_argument("--seq", type=int, default=None, help="tokens per row (4096; quick 128)")
    p.add_argument("--gpus", default="0,1", help="the two GPUs (CUDA indices)")
    p.add_argument("--skip-1gpu", action="store_true", help="only the 2-GPU run")
    p.add_argument("--run-timeout", type=float, default=540.0,
                   help="seconds per run before it is stopped (default 540)")
    p.add_argument("--model-dir", default=None, help="default: gpu_train.py's model folder")
    p.add_argument("--tokenizer-dir", default=None,
                   help="saved Tekken tokenizer to build the model with (see gpu_train.py)")
    p.add_argument("--out-dir", default=None, help="run folders (default: the user cache)")
    p.add_argument("--write", action="store_true", help="write benchmarks/results/multigpu.json")
    p.add_argument("--build-only", action="store_true",
                   help="only build the model (a first call, if building and both runs would "
                        "not fit in one 10-minute call)")
    a = p.parse_args()
    a.seq = a.seq or (128 if a.quick else 4096)
    a.steps = a.steps or (6 if a.quick else 14)
    a.warmup = a.warmup if a.warmup is not None else (2 if a.quick else 4)
    from synapse_core.paths import cache_dir

    if a.out_dir is None:
        a.out_dir = str(cache_dir() / "multigpu_bench")
    if a.model_dir is None:
        name = "pixtral-tiny" if a.quick else "pixtral-12b-random"
        a.model_dir = str(cache_dir() / "gpu_train" / name)  # shared with gpu_train.py
    if not (Path(a.model_dir) / "config.json").is_file():
        build_model(Path(a.model_dir), a.quick, a.tokenizer_dir)
    if a.build_only:
        return 0
    first = a.gpus.split(",")[0].strip()
    plans = [("1gpu", "cpu:1" if a.quick else first, 1),
             ("2gpu", "cpu:2" if a.quick else a.gpus, 2)]
    runs: dict[str, dict] = {}
    for label, gpus, world in plans:
        if label == "1gpu" and a.skip_1gpu:
            continue
        runs[label] = one_run(a, label, gpus, world)
    summary = summarize(a, runs)
    print_table(summary)
    name = "multigpu-quick.json" if a.quick else "multigpu.json"
    if a.write:
        from synapse_core.fileio import atomic_write_json

        atomic_write_json(HERE / "results" / name, summary)
    if os.environ.get("OUT"):
        copy_run_files(runs, Path(os.environ["OUT"]), summary, name)
    return 0 if all(r.get("ok") for r in runs.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
