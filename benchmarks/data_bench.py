"""Dataset loading benchmark: bare JSON parsing vs load+score+label, and peak memory.

    python benchmarks/data_bench.py            # 100k rows
    python benchmarks/data_bench.py --rows 1000000
    python benchmarks/data_bench.py --quick    # 20k rows, under a minute

Generates N realistic rows (ShareGPT with quality_metrics, OpenAI messages with a reasoning
field and computed metrics, prompt/completion, a few broken lines) into a temporary file, then
measures (1) ``json.loads`` of every line, in this process, (2) what the dataset tab does:
``iter_batches`` (parse, reasoning, banned words, score, label; worker processes for a large
file, as in the app) with every batch added to the browser's column store, which is what the
app keeps in memory. Both run on the same file, over the same rows. Peak memory is the max
RSS of this process and of the largest worker. The figures are printed last, as one line
holding one JSON object, with the machine's load average before and after: other work moves
both rates, so run it a few times.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import resource
import sys
import tempfile
import threading
import time
from pathlib import Path

TOPICS = ["entropy", "photosynthesis", "recursion", "inflation", "plate tectonics", "vaccines",
          "neural networks", "the French Revolution", "black holes", "supply and demand"]
PREDS = ["causes", "is part of", "depends on", "measures", "explains", "contrasts with"]


def reasoning_block(rng: random.Random, topic: str) -> str:
    """A reasoning block in the reference schema (sometimes broken on purpose)."""
    tris = "".join(f"<tri><subj>{topic}</subj><pred>{rng.choice(PREDS)}</pred>"
                   f"<obj>{rng.choice(TOPICS)}</obj></tri>" for _ in range(rng.randint(2, 5)))
    steps = "".join(f'<step index="{i}"' + (f' depends_on="{i - 1}"' if i > 1 else "")
                    + f">step {i} about {topic}</step>" for i in range(1, rng.randint(2, 5)))
    block = (f"<reasoning><mem><goal>Explain {topic}</goal><subgoal>build intuition</subgoal>"
             f"<prog><done>defined terms</done><now>give an example</now></prog>"
             f"<ctx>curious learner</ctx></mem><kg>{tris}</kg><logic><prop><sym>∀x (P(x) → Q(x))"
             f"</sym><nat>every case of {topic} follows the rule</nat></prop><doubt><sym>◇¬Q</sym>"
             f"<nat>there may be exceptions</nat></doubt></logic><chain>{steps}</chain>"
             f"<reflect>is the analogy fair?</reflect></reasoning>")
    if rng.random() < 0.05:
        block = block.replace("</goal>", "").replace("</tri>", "", 1)
    return block


def answer(rng: random.Random, topic: str) -> str:
    body = " ".join(f"{topic.capitalize()} matters because of reason {i}, which we can see in "
                    f"everyday life when we look closely." for i in range(rng.randint(3, 8)))
    if rng.random() < 0.05:
        body += " Let us delve deeper."
    return (f"🧙🏾‍♂️: {body}\n\n**Investigate**: what drives {topic}?\n**Explore**: where else "
            f"does it appear?\n**Exploit**: how could you use it?")


def make_row(rng: random.Random, i: int) -> str:
    topic = rng.choice(TOPICS)
    k = i % 10
    if k == 9 and rng.random() < 0.1:
        return '{"conversations": [ broken'
    if k < 5:
        obj = {"conversations": [{"from": "human", "value": f"Can you explain {topic}?"},
                                 {"from": "gpt", "value": reasoning_block(rng, topic) + "\n"
                                  + answer(rng, topic)}],
               "quality_metrics": {"conversation_quality": round(rng.uniform(0.5, 1), 3),
                                   "bias_detection": round(rng.uniform(0, 0.3), 3),
                                   "reasoning_quality": round(rng.uniform(0.4, 1), 3)}}
    elif k < 8:
        obj = {"messages": [{"role": "system", "content": "You are Professor Synapse."},
                            {"role": "user", "content": f"Teach me {topic}."},
                            {"role": "assistant", "content": answer(rng, topic),
                             "reasoning": reasoning_block(rng, topic)}]}
    elif k == 8:
        obj = {"prompt": f"What is {topic}?", "completion": answer(rng, topic),
               "label": rng.random() < 0.5}
    else:
        obj = {"text": answer(rng, topic)}
    return json.dumps(obj, ensure_ascii=False)


def generate(path: Path, rows: int, seed: int = 0) -> int:
    rng = random.Random(seed)
    with open(path, "w", encoding="utf-8") as fh:
        for i in range(rows):
            fh.write(make_row(rng, i))
            fh.write("\n")
    return path.stat().st_size


def _cpu() -> float:
    """CPU seconds used so far by this process (unlike the rates, hardly moved by the
    machine's other load); its workers' are counted by ``_Descendants``."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    return me.ru_utime + me.ru_stime


class _Descendants(threading.Thread):
    """Samples the CPU time and memory of every process below this one, 20 times a second.

    The scoring processes are children of the pool's fork server, not of this process, so
    ``RUSAGE_CHILDREN`` never sees them; a worker's last twentieth of a second can be missed
    (well under 1% of a 100k-row load)."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.cpu: dict[int, float] = {}
        self.rss: dict[int, int] = {}
        self.helper: dict[int, bool] = {}
        self.done = threading.Event()
        self.own_cpu = 0.0
        """CPU seconds this sampling thread itself used (not part of the load: subtracted)."""

    def run(self) -> None:
        import psutil

        me = psutil.Process()
        t0 = time.thread_time()
        while not self.done.wait(0.05):
            for p in me.children(recursive=True):
                try:
                    with p.oneshot():
                        t = p.cpu_times()
                        self.cpu[p.pid] = t.user + t.system
                        if p.pid not in self.helper:  # the fork server and the resource
                            # tracker are this process's children; workers, the fork server's
                            self.helper[p.pid] = p.ppid() == me.pid
                        self.rss[p.pid] = max(self.rss.get(p.pid, 0), p.memory_info().rss)
                except psutil.Error:  # it ended between the listing and the reading
                    continue
        self.own_cpu = time.thread_time() - t0

    def stop(self) -> tuple[float, float, float]:
        """(CPU seconds of all descendants, of those that only start workers (the fork
        server's imports: a one-off cost), the largest one's peak RSS in MB)."""
        self.done.set()
        self.join()
        return (sum(self.cpu.values()),
                sum(c for pid, c in self.cpu.items() if self.helper.get(pid)),
                max(self.rss.values(), default=0) / 2**20)


def _loadavg() -> list[float] | None:
    """The machine's 1-, 5- and 15-minute load averages (other work moves both rates)."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:  # no load average on this system
        return None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--quick", action="store_true", help="20k rows (under a minute)")
    ap.add_argument("--keep", type=Path, help="write the generated file here and keep it")
    ap.add_argument("--workers", type=int, default=None,
                    help="scoring processes (default: as the app, one per CPU for large files; "
                         "1 = single process)")
    args = ap.parse_args(argv)
    rows = 20_000 if args.quick else args.rows

    from synapse_core.config import RunConfig
    from synapse_core.data.load import PARALLEL_MIN_ROWS, estimate_rows, iter_batches
    from synapse_core.data.parallel import default_workers
    from synapse_core.data.table import RowTable

    with tempfile.TemporaryDirectory() as tmp:
        path = args.keep or Path(tmp) / "bench.jsonl"
        t0 = time.perf_counter()
        size = generate(path, rows)
        print(f"generated {rows} rows, {size / 1e6:.1f} MB in {time.perf_counter() - t0:.1f} s",
              file=sys.stderr)
        gc.collect()
        load_before = _loadavg()
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        t0, c0 = time.perf_counter(), _cpu()
        n = 0
        with open(path, "rb") as fh:
            for raw in fh:
                try:
                    json.loads(raw)
                    n += 1
                except json.JSONDecodeError:
                    pass
        t_json, cpu_json = time.perf_counter() - t0, _cpu() - c0
        config = RunConfig()
        workers = args.workers
        if workers is None:  # what iter_rows chooses
            workers = (default_workers() if estimate_rows(path, size) >= PARALLEL_MIN_ROWS
                       else 1)
        table = RowTable()
        bad = 0
        kids = _Descendants()
        kids.start()
        t0, c0 = time.perf_counter(), _cpu()
        for batch in iter_batches(path, config, workers=args.workers):
            bad += len(batch.bad)
            table.extend(batch.records)
        t_load, cpu_load = time.perf_counter() - t0, _cpu() - c0
        kids_cpu, helper_cpu, worker_peak = kids.stop()
        cpu_load -= kids.own_cpu  # (the sampler runs in this process)
        reader_cpu = cpu_load
        cpu_load += kids_cpu
        table.seal()
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    json_rps = rows / t_json
    load_rps = rows / t_load
    figures = {"rows": rows, "file_mb": round(size / 1e6, 1), "valid": len(table), "bad": bad,
               "load_average_before": load_before, "load_average_after": _loadavg(),
               "json_rows_per_s": round(json_rps), "load_score_label_rows_per_s": round(load_rps),
               "ratio": round(load_rps / json_rps, 3), "workers": workers,
               "json_cpu_us_per_row": round(cpu_json / rows * 1e6, 1),
               "load_cpu_us_per_row": round(cpu_load / rows * 1e6, 1),
               "reader_cpu_us_per_row": round(reader_cpu / rows * 1e6, 1),
               "workers_cpu_us_per_row": round((kids_cpu - helper_cpu) / rows * 1e6, 1),
               "pool_start_cpu_s": round(helper_cpu, 2),
               "peak_rss_mb": round(peak), "worker_peak_rss_mb": round(worker_peak),
               "rss_before_load_mb": round(rss_before),
               "table_mb": round(table.nbytes / 1e6, 1)}
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
