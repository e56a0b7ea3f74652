"""One torchrun rank of a multi-process run: ``python -m torch.distributed.run ... -m
synapse_core.training.rank_main --launch RUN_DIR/distributed/launch.json``.

Started by ``distributed.Supervisor``, never by hand. Each rank joins the process group
(NCCL on ``cuda:LOCAL_RANK``, gloo on the CPU) and runs the same ``Engine`` on the run folder
the run process opened: rank 0 writes the run folder (events, metrics, state, log, adapter)
and follows the run process's control file; the other ranks write nothing shared
(``rundir.FollowerRunDir``, chosen by the engine's ``rank``). Every rank leaves
``distributed/rank-N.json`` (device, peak GPU memory, result) and, when it fails,
torchelastic's error file (``@record``), from which the supervisor names the rank that failed
first.

Test hook (fault injection, off unless set): ``SYNAPSE_FAULT_RANK=R`` and
``SYNAPSE_FAULT_STEP=S`` make rank R fail when it logs step S; ``SYNAPSE_FAULT_KIND`` is
``raise`` (default: a RuntimeError inside training), ``exit`` (the process dies at once, no
error file, as an OOM kill would) or ``hang`` (the rank stops answering, as a stuck GPU would).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

# heavy (torch), but this module only ever runs as a torchrun rank, and @record decorates main
from torch.distributed.elastic.multiprocessing.errors import record

from synapse_core.config import load_config
from synapse_core.events import Event, NullSink
from synapse_core.fileio import atomic_write_json
from synapse_core.training import rundir as rd
from synapse_core.training.control import CONTROL_FILE, ControlFileReader, RunControl
from synapse_core.training.engine import Engine
from synapse_core.training.events import StepLogged, TrainingFailed


class RankFailed(RuntimeError):
    """This rank's engine ended with TrainingFailed (the message says why)."""


class FaultSink:
    """The fault-injection test hook (see the module docstring)."""

    def __init__(self, step: int, kind: str, rank: int) -> None:
        self.step, self.kind, self.rank = step, kind, rank

    def emit(self, event: Event) -> None:
        if not (isinstance(event, StepLogged) and event.step == self.step):
            return
        if self.kind == "exit":
            os._exit(17)
        if self.kind == "hang":
            threading.Event().wait()  # never set: this rank stops answering until killed
        raise RuntimeError(f"injected fault on rank {self.rank} at step {self.step} "
                           "(SYNAPSE_FAULT_RANK test hook)")


def _sink(rank: int) -> Any:
    fault_rank = os.environ.get("SYNAPSE_FAULT_RANK")
    if fault_rank is not None and int(fault_rank) == rank:
        return FaultSink(int(os.environ.get("SYNAPSE_FAULT_STEP", "1")),
                         os.environ.get("SYNAPSE_FAULT_KIND", "raise"), rank)
    return NullSink()  # rank 0's events reach the supervisor through events.jsonl


def _peak_gib() -> float | None:
    import torch

    if torch.cuda.is_available() and torch.cuda.is_initialized():
        return torch.cuda.max_memory_allocated() / 2**30
    return None


@record
def main(argv: list[str] | None = None) -> int:
    """Join the process group, train this rank, leave rank-N.json; raise on failure so that
    torchelastic records the error for the supervisor."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--launch", required=True, help="RUN_DIR/distributed/launch.json")
    a = p.parse_args(argv)
    launch_path = Path(a.launch)
    launch = json.loads(launch_path.read_text(encoding="utf-8"))
    d = launch_path.parent
    run_dir = d.parent
    rank = int(os.environ["RANK"])
    local_rank = int(os.environ["LOCAL_RANK"])
    world_size = int(os.environ["WORLD_SIZE"])
    t0 = time.time()
    import torch  # heavy: this process trains
    import torch.distributed as dist

    group_kwargs: dict[str, Any] = {}
    if launch["device"] == "cuda":
        torch.cuda.set_device(local_rank)  # before any model load: Unsloth/HF place on it
        backend = "nccl"
        group_kwargs["device_id"] = torch.device("cuda", local_rank)  # binds NCCL to it
    else:
        backend = "gloo"
        # accelerate names a CPU rank's device "cpu:<local rank>", which torch.load cannot
        # map a checkpoint to (a resume failed on it): plain "cpu" is the same device
        os.environ["ACCELERATE_TORCH_DEVICE"] = "cpu"
    # before the engine imports unsloth: Unsloth's distributed helpers (rank 0 prepares the
    # compile cache, the others wait for it) synchronise only through an initialised group
    # torchrun's env:// rendezvous; HF's ddp_timeout default (30 min), so a rank that loads
    # or saves slower than the others is waited for
    dist.init_process_group(backend=backend, timeout=timedelta(minutes=30), **group_kwargs)
    control = RunControl()
    reader = None
    if rank == 0:
        reader = ControlFileReader(d / CONTROL_FILE, control, launch.get("supervisor_pid"))
        reader.start()
    rows = None
    if (d / "rows.jsonl").is_file():
        with open(d / "rows.jsonl", encoding="utf-8") as fh:
            rows = [json.loads(line) for line in fh if line.strip()]
    config = load_config(d / "config.toml")
    interval = float(launch.get("telemetry_interval_s", 1.0))
    if rank:
        config.training.preview_steps = 0  # one preview per step is enough
        interval = 3600.0  # rank 0 samples every GPU already
    engine = Engine(config, _sink(rank), control, run_dir=run_dir,
                    resume_from=run_dir if launch.get("resume") else None, rows=rows,
                    max_steps=launch.get("max_steps"), telemetry_interval_s=interval,
                    rank=rank, world_size=world_size)
    try:
        result = engine.run()
    finally:
        if reader is not None:
            reader.finished.set()
    summary: dict[str, Any] = {
        "rank": rank, "local_rank": local_rank, "world_size": world_size,
        "device": f"cuda:{local_rank}" if backend == "nccl" else "cpu",
        "peak_gib": _peak_gib(), "result": type(result).__name__,
        "step": getattr(result, "step", None), "seconds": time.time() - t0}
    if isinstance(result, TrainingFailed):
        summary.update(message=result.message, failure=result.failure, hint=result.hint,
                       traceback=result.traceback)
    atomic_write_json(d / f"rank-{rank}.json", summary)
    if isinstance(result, TrainingFailed):
        raise RankFailed(result.message)  # -> torchelastic's error file, exit code 1
    dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
