"""Demo benchmark: how soon the no-config demo takes its first step, and its pace after that.

Runs ``synapse train`` with no config (the demo: the tiny Pixtral, the bundled data, KTO) in a
child process, exactly as a new user would, and reads the run folder's ``events.jsonl``:

- first step: seconds from launching the process to the first ``StepLogged`` (imports, data,
  model, trainer and the first step itself);
- the set-up phases (``SetupProgressed`` events) with the second each began;
- per-step seconds (the gaps between ``StepLogged`` events) and their median.

Targets (issue 18): first step <= 15 s after start, median <= 3 s per step, on a quiet 2-core
machine. The load average is printed beside the figures: on a shared machine they say how busy
it was. ``--cold`` measures a first-ever run (empty cache: the Tekken tokenizer is converted and
the demo model built); the default measures a run with the cache warm, as every later run is.

    python benchmarks/demo_bench.py --quick      # 6 steps
    python benchmarks/demo_bench.py              # 25 steps (includes the step-20 preview)
    python benchmarks/demo_bench.py --cold       # a first-ever run
    python benchmarks/demo_bench.py --threads 1  # CPU seconds of one thread (busy machine)

The last line printed is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FIRST_STEP_TARGET_S = 15.0
MEDIAN_STEP_TARGET_S = 3.0


def _loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def _env(cache: Path, data: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(XDG_CACHE_HOME=str(cache), XDG_DATA_HOME=str(data))
    return env


def _warm(env: dict[str, str]) -> float:
    """Build the demo model (and convert the tokenizer) into the cache, untimed by the run."""
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", "from synapse_core.modeling.tiny import "
                    "ensure_demo_model; ensure_demo_model()"], env=env, check=True)
    return time.perf_counter() - t0


def _events(run_dir: Path) -> list[dict]:
    path = run_dir / "events.jsonl"
    if not path.is_file():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            pass  # a line being written as we read
    return out


def _cpu_s(pid: int) -> float | None:
    """CPU seconds (user + system) the process has used so far, from /proc (Linux)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_demo(steps: int, env: dict[str, str], work: Path, config: Path | None,
             timeout_s: float) -> dict:
    """Launch ``synapse train`` (the demo) and time it from its events; the CPU seconds the
    process has used are read as each step lands (on a busy machine wall time stretches with
    the load, CPU time much less)."""
    run_dir = work / "run"
    cmd = [sys.executable, "-m", "synapse_core.cli", "train", "--run-dir", str(run_dir),
           "--max-steps", str(steps)]
    if config is not None:
        cmd += ["--config", str(config)]
    load_before = _loadavg()
    launched = time.time()
    log = work / "output.log"  # a file, not a pipe: a full pipe would stall the run
    with open(log, "w", encoding="utf-8") as out:
        proc = subprocess.Popen(cmd, cwd=work, env=env, stdout=out, stderr=subprocess.STDOUT)
    cpu_at_step: dict[int, float | None] = {}
    try:
        while proc.poll() is None:
            if time.time() - launched > timeout_s:
                raise TimeoutError(f"the demo run took over {timeout_s:.0f} s")
            cpu = _cpu_s(proc.pid)
            for e in _events(run_dir):
                if e["kind"] == "StepLogged" and e["step"] not in cpu_at_step:
                    cpu_at_step[e["step"]] = cpu
            time.sleep(0.2)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
    ended = time.time()
    output = log.read_text(encoding="utf-8", errors="replace")
    events = _events(run_dir)
    step_ts = [e["ts"] for e in events if e["kind"] == "StepLogged"]
    phases = [{"phase": e["phase"], "message": e["message"], "at_s": round(e["ts"] - launched, 2)}
              for e in events if e["kind"] == "SetupProgressed"]
    gaps = [b - a for a, b in zip(step_ts, step_ts[1:])]
    cpus = [cpu_at_step.get(i + 1) for i in range(len(step_ts))]
    cpu_gaps = [b - a for a, b in zip(cpus, cpus[1:]) if a is not None and b is not None]
    failed = [e.get("message", "") for e in events if e["kind"] == "TrainingFailed"]
    return {
        "returncode": proc.returncode,
        "failed": failed[0] if failed else "",
        "output_tail": output[-2000:] if proc.returncode else "",
        "steps": len(step_ts),
        "total_s": round(ended - launched, 2),
        "first_step_s": round(step_ts[0] - launched, 2) if step_ts else None,
        "step_s": [round(g, 2) for g in gaps],
        "median_step_s": round(statistics.median(gaps), 2) if gaps else None,
        "first_step_cpu_s": round(cpus[0], 2) if cpus and cpus[0] is not None else None,
        "median_step_cpu_s": round(statistics.median(cpu_gaps), 2) if cpu_gaps else None,
        "setup": phases,
        "load_average_before": load_before,
        "load_average_after": _loadavg(),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="6 steps instead of 25")
    ap.add_argument("--steps", type=int, help="optimizer steps to run (overrides --quick)")
    ap.add_argument("--cold", action="store_true",
                    help="empty cache: time a first-ever run (tokenizer conversion, model build)")
    ap.add_argument("--config", help="a run config instead of none (to compare settings)")
    ap.add_argument("--threads", type=int, help="torch's CPU threads in the run (OMP_NUM_THREADS)"
                    "; on a busy machine, 1 thread's CPU seconds estimate a quiet machine's "
                    "wall time (2 threads spin-wait for each other when the cores are taken)")
    ap.add_argument("--timeout", type=float, default=1800.0, help="seconds before giving up")
    args = ap.parse_args(argv)
    steps = args.steps or (6 if args.quick else 25)
    with tempfile.TemporaryDirectory(prefix="demo-bench.") as tmp:
        work = Path(tmp)
        shared_cache = Path(os.environ.get("XDG_CACHE_HOME")
                            or Path.home() / ".cache")
        cache = work / "cache" if args.cold else shared_cache
        env = _env(cache, work / "data")
        if args.threads:
            env["OMP_NUM_THREADS"] = str(args.threads)
        warm_s = None if args.cold else round(_warm(env), 2)
        res = run_demo(steps, env, work, Path(args.config).resolve() if args.config else None,
                       args.timeout)
    res.update(cache="cold" if args.cold else "warm", warm_up_s=warm_s, cpus=os.cpu_count(),
               threads=args.threads or "torch's default",
               config=args.config or "none (the demo)",
               targets={"first_step_s": FIRST_STEP_TARGET_S,
                        "median_step_s": MEDIAN_STEP_TARGET_S})
    res["first_step_ok"] = (res["first_step_s"] is not None
                            and res["first_step_s"] <= FIRST_STEP_TARGET_S)
    res["median_step_ok"] = (res["median_step_s"] is not None
                             and res["median_step_s"] <= MEDIAN_STEP_TARGET_S)
    if res["output_tail"]:
        print(res["output_tail"], file=sys.stderr)
    for p in res["setup"]:
        print(f"  {p['at_s']:7.2f} s  setup: {p['message']}")
    print(f"first step after {res['first_step_s']} s (target <= {FIRST_STEP_TARGET_S}); "
          f"median {res['median_step_s']} s/step over {len(res['step_s'])} gaps (target <= "
          f"{MEDIAN_STEP_TARGET_S}); steps {res['step_s']}")
    print(f"CPU seconds of the run: {res['first_step_cpu_s']} to the first step, median "
          f"{res['median_step_cpu_s']} a step")
    print(f"load average before {res['load_average_before']}, after "
          f"{res['load_average_after']} on {res['cpus']} CPUs ({res['cache']} cache)")
    print(json.dumps(res))
    return 0 if res["returncode"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
