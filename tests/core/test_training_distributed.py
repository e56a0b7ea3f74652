"""Multi-process training on the CPU: 2 gloo ranks under torchrun on the tiny Pixtral.

The same supervisor as every run (``supervisor.run`` with ``training.gpus = "cpu:2"``: the run
process then supervises torchrun) runs in a worker thread as in the app; the test thread
drives RunControl and waits on the events with hard timeouts.
Proves the event stream, one metrics row per step, pause/checkpoint/stop on the same step
for every rank, resume on the same curve, a crashed rank named in one TrainingFailed, the
headless CLI with SIGTERM reaching the ranks and a hung rank killed after the stop
timeout, and no process left behind.
"""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import psutil
import pytest

from synapse_core.config import ConfigError, RunConfig, config_from_dict, write_config
from synapse_core.events import Event, ListSink
from synapse_core.telemetry.events import GpuSample, TelemetrySampled
from synapse_core.training.control import (ControlFileReader, ControlFileWriter, RunControl)
from synapse_core.training import supervisor
from synapse_core.training.engine import Engine
from synapse_core.training.events import (CheckpointSaved, RunStarted, StepLogged,
                                          TrainingFailed, TrainingFinished, TrainingPaused,
                                          TrainingResumed, event_from_dict)
from synapse_core.training.rundir import last_checkpoint, load_metrics, read_state
from tiny_runs import schedule_config

SYSTEM = {"role": "system", "content": "You are Professor Synapse."}
QUESTIONS = ["What is entropy?", "Why is the sky blue?", "Name a prime.", "What is 2+2?",
             "What is light?", "Who proved it?", "Why doubt?", "What is a graph?"]
STEPS = 6
RUN_TIMEOUT_S = 240  # per launch, on a busy 2-core machine


def sft_rows() -> list[dict]:
    return [{"messages": [SYSTEM, {"role": "user", "content": q},
                          {"role": "assistant",
                           "content": f"<reasoning><goal>{q}</goal></reasoning>\nAnswer {i}."}]}
            for i, q in enumerate(QUESTIONS)]


def config(model_dir: Path, steps: int = STEPS) -> RunConfig:
    """2 gloo ranks x batch 2; warmup, cosine, LoRA dropout and NEFTune on, so the RNG and the
    scheduler state must survive the resume."""
    cfg = schedule_config(model_dir, steps)
    t = cfg.training
    t.objective = "sft"
    t.packing = False
    t.gpus = "cpu:2"
    return cfg


class QueueSink:
    """Every event into a list and a queue the test thread waits on."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.q: queue.Queue[Event] = queue.Queue()

    def emit(self, event: Event) -> None:
        self.events.append(event)
        self.q.put(event)

    def wait_for(self, cls: type, timeout: float = RUN_TIMEOUT_S) -> Any:
        """The next event of ``cls``; fails clearly on a terminal event or the timeout."""
        while True:
            try:
                event = self.q.get(timeout=timeout)
            except queue.Empty:
                pytest.fail(f"no {cls.__name__} within {timeout} s")
            if isinstance(event, cls):
                return event
            if isinstance(event, (TrainingFinished, TrainingFailed)):
                pytest.fail(f"run ended before {cls.__name__}: {event}")

    def of(self, cls: type) -> list[Any]:
        return [e for e in self.events if isinstance(e, cls)]


class Launched:
    """``supervisor.run`` in a worker thread, as the app runs it."""

    def __init__(self, cfg: RunConfig | None, sink: Any, control: RunControl | None = None,
                 **kwargs: Any) -> None:
        self.result: Event | None = None
        self.thread = threading.Thread(target=self._run, args=(cfg, sink, control, kwargs),
                                       name="supervisor-worker", daemon=True)
        self.thread.start()

    def _run(self, cfg: RunConfig | None, sink: Any, control: RunControl | None,
             kwargs: dict[str, Any]) -> None:
        self.result = supervisor.run(cfg, sink, control, **kwargs)


def run_in_worker(cfg: RunConfig | None, sink: Any, control: RunControl | None = None,
                  **kwargs: Any) -> Launched:
    return Launched(cfg, sink, control, **kwargs)


def join(worker: Launched) -> Event:
    worker.thread.join(timeout=RUN_TIMEOUT_S)
    assert not worker.thread.is_alive(), "the supervisor did not return in time"
    assert worker.result is not None
    return worker.result


def run_processes(run_dir: Path) -> list[psutil.Process]:
    """Live processes launched for this run (torchrun and its ranks name its launch.json)."""
    needles = (str(run_dir / "distributed" / "launch.json"), f"run_main {run_dir}")
    found = []
    for p in psutil.process_iter(["cmdline"]):
        try:
            line = " ".join(p.info["cmdline"] or [])
            if any(n in line for n in needles) and p.status() != psutil.STATUS_ZOMBIE:
                found.append(p)
        except psutil.Error:
            continue
    return found


def terminal(events: list[Event]) -> list[Event]:
    return [e for e in events if isinstance(e, (TrainingFinished, TrainingFailed))]


def file_events(run_dir: Path) -> list[dict]:
    return [json.loads(x) for x in (run_dir / "events.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def model_dir(tiny_model_dir) -> Path:
    return tiny_model_dir("pixtral")


@pytest.fixture(scope="module")
def uninterrupted(model_dir, tmp_path_factory) -> tuple[Path, ListSink, Event]:
    """One 2-rank run of STEPS steps, the reference curve."""
    run = tmp_path_factory.mktemp("ddp") / "full"
    sink = ListSink()
    result = join(run_in_worker(config(model_dir), sink, run_dir=run, rows=sft_rows()))
    return run, sink, result


# -- the runs (slow: each launch starts torchrun and loads the model in 2 processes) ------------

@pytest.mark.slow
def test_two_ranks_stream_events_and_write_each_step_once(uninterrupted):
    run, sink, result = uninterrupted
    assert isinstance(result, TrainingFinished), getattr(result, "traceback", result)
    assert not result.stopped and result.step == STEPS
    assert terminal(sink.events) == [result]
    started = sink.of(RunStarted)
    assert len(started) == 1 and started[0].world_size == 2 and started[0].run_dir == str(run)
    steps = sink.of(StepLogged)
    assert [s.step for s in steps] == list(range(1, STEPS + 1))
    assert all(s.world_size == 2 for s in steps)
    # 8 rows, 2 ranks x 2 rows per step: an epoch is 2 steps, so each rank saw half the rows
    assert steps[0].epoch == pytest.approx(0.5)
    # metrics.jsonl: one row per step (rank 1 writes nothing shared), tokens/s over both ranks
    rows = load_metrics(run)
    assert [r["step"] for r in rows] == list(range(1, STEPS + 1))
    assert all(r["world_size"] == 2 and r["tokens_per_s"] > 0 for r in rows)
    events = file_events(run)
    assert [e["kind"] for e in events].count("RunStarted") == 1
    assert events[-1]["kind"] == "TrainingFinished"
    assert read_state(run)["state"] == "finished"
    assert (run / "adapter" / "adapter_model.safetensors").is_file()
    for rank in (0, 1):
        summary = json.loads((run / "distributed" / f"rank-{rank}.json").read_text())
        assert summary["result"] == "TrainingFinished" and summary["step"] == STEPS
    assert run_processes(run) == []


@pytest.mark.slow
def test_pause_checkpoint_stop_on_the_same_step_then_resume_on_the_same_curve(
        model_dir, uninterrupted, tmp_path):
    full_run, _, full = uninterrupted
    assert isinstance(full, TrainingFinished), getattr(full, "traceback", full)
    run = tmp_path / "part"
    sink, control = QueueSink(), RunControl()
    worker = run_in_worker(config(model_dir), sink, control, run_dir=run, rows=sft_rows())
    sink.wait_for(StepLogged)
    assert len(run_processes(run)) == 4  # run process, torchrun, 2 ranks: the check can fail
    control.pause()
    control.checkpoint()
    paused = sink.wait_for(TrainingPaused)
    with pytest.raises(queue.Empty):  # every rank waits: no step while paused
        while True:
            assert not isinstance(sink.q.get(timeout=1.5), StepLogged)
    control.stop("user")
    result = join(worker)
    assert isinstance(result, TrainingFinished), getattr(result, "traceback", result)
    n = paused.step
    assert result.stopped and result.step == n < STEPS
    assert sink.of(TrainingResumed)[0].step == n
    saved = sink.of(CheckpointSaved)
    assert [c.step for c in saved] == [n] and saved[0].reason == "user"
    ckpt = last_checkpoint(run)
    assert ckpt is not None and ckpt.name == f"checkpoint-{n}"
    # both ranks saved their RNG state in the same checkpoint, and stopped at the same step
    assert (ckpt / "rng_state_0.pth").is_file() and (ckpt / "rng_state_1.pth").is_file()
    assert json.loads((run / "distributed" / "rank-1.json").read_text())["step"] == n
    assert read_state(run)["state"] == "stopped"
    assert run_processes(run) == []

    resumed_sink = ListSink()
    result = join(run_in_worker(None, resumed_sink, resume_from=run, rows=sft_rows()))
    assert isinstance(result, TrainingFinished), getattr(result, "traceback", result)
    assert result.step == STEPS and not result.stopped
    started = resumed_sink.of(RunStarted)[0]
    assert started.resumed_from_step == n and started.world_size == 2
    assert [s.step for s in resumed_sink.of(StepLogged)] == list(range(n + 1, STEPS + 1))
    a, b = load_metrics(full_run), load_metrics(run)
    assert [r["step"] for r in b] == list(range(1, STEPS + 1))
    for ra, rb in zip(a, b):
        assert rb["loss"] == pytest.approx(ra["loss"], abs=1e-5), (ra, rb)
        assert rb["learning_rate"] == pytest.approx(ra["learning_rate"], rel=1e-6, abs=1e-12)
    assert run_processes(run) == []


@pytest.mark.slow
def test_crashed_rank_ends_the_run_with_its_error(model_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("SYNAPSE_FAULT_RANK", "1")  # rank_main's documented test hook
    monkeypatch.setenv("SYNAPSE_FAULT_STEP", "2")
    run = tmp_path / "crash"
    sink = QueueSink()
    worker = run_in_worker(config(model_dir), sink, run_dir=run, rows=sft_rows())
    sink.wait_for(RunStarted)
    launched = run_processes(run)
    assert len(launched) == 4
    result = join(worker)
    assert isinstance(result, TrainingFailed), result
    assert terminal(sink.events) == [result]
    assert result.message.startswith("rank 1 failed: ")
    assert "injected fault on rank 1 at step 2" in result.message
    assert "RuntimeError" in result.traceback
    state = read_state(run)
    assert state["state"] == "failed" and "rank 1" in state["error"]
    assert file_events(run)[-1]["message"] == result.message  # the verdict comes last
    assert run_processes(run) == []
    assert not any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in launched)


@pytest.mark.slow
def test_rank_dying_without_an_error_is_named_with_its_exit_code(model_dir, tmp_path,
                                                                 monkeypatch):
    """A rank that vanishes (an OOM kill, a segfault: here os._exit) leaves no error file;
    the other rank then fails on the broken connection. The verdict still names the rank
    that died, from torchrun's failure summary, not the peer's connection error."""
    monkeypatch.setenv("SYNAPSE_FAULT_RANK", "1")
    monkeypatch.setenv("SYNAPSE_FAULT_STEP", "1")
    monkeypatch.setenv("SYNAPSE_FAULT_KIND", "exit")
    run = tmp_path / "exit"
    sink = ListSink()
    result = supervisor.run(config(model_dir), sink, run_dir=run, rows=sft_rows())
    assert isinstance(result, TrainingFailed), result
    assert result.message == ("rank 1 failed: the process exited with code 17 without a "
                              "Python error (out of memory? a crash in native code?)")
    assert terminal(sink.events) == [result]
    assert run_processes(run) == []


@pytest.mark.slow
def test_cli_sigterm_stop_reaches_the_ranks_and_a_hung_group_is_killed(model_dir, tmp_path,
                                                                        sigterm_cli_train):
    """`synapse train` headless on 2 ranks prints the same progress lines; SIGTERM (an SSH
    drop) becomes a stop; a rank that hangs (the fault hook) cannot honour it, so after
    training.stop_timeout_s the group is killed and the run fails saying so, exit 1."""
    cfg = config(model_dir)
    cfg.training.stop_timeout_s = 3.0
    cfg.data.path = ""  # the bundled demo data through the data module (prepared once)
    cfg_path = write_config(cfg, tmp_path / "run.toml")
    run = tmp_path / "hang"
    # rank 1 hangs after step 1: it cannot honour the stop
    code, out = sigterm_cli_train(cfg_path, run, env=dict(
        SYNAPSE_FAULT_RANK="1", SYNAPSE_FAULT_STEP="1", SYNAPSE_FAULT_KIND="hang"),
        timeout_s=RUN_TIMEOUT_S)
    assert code == 1, out
    assert "starting on 2 ranks: sft" in out and "step 1/6" in out
    failed = [x for x in out.splitlines() if x.startswith("FAILED")]
    assert failed == ["FAILED (error): the ranks did not exit in time after the stop (3 s); "
                      "the process group was killed"], out
    assert read_state(run)["state"] == "failed"
    assert file_events(run)[-1]["kind"] == "TrainingFailed"
    assert run_processes(run) == []


# -- the parts (fast) ------------------------------------------------------------------------

def test_gpus_key_is_checked():
    for bad in ("1,x", "0,0", "cpu:0", "cpu:two", "gpu"):
        with pytest.raises(ConfigError, match="training.gpus"):
            config_from_dict({"training": {"gpus": bad}})
    for good in ("auto", "all", "0", "0,1", "cpu:2"):
        assert config_from_dict({"training": {"gpus": good}}).training.gpus == good


def test_cli_gpus_flag_is_checked():
    res = subprocess.run([sys.executable, "-m", "synapse_core.cli", "train", "--gpus", "1,x"],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 2 and "training.gpus: '1,x' is not allowed" in res.stderr


def test_missing_gpu_fails_the_run_naming_the_key(tmp_path):
    import torch

    cfg = RunConfig()
    cfg.training.gpus = str(torch.cuda.device_count() + 3)
    sink = ListSink()
    result = supervisor.run(cfg, sink, run_dir=tmp_path / "run", rows=sft_rows())
    assert isinstance(result, TrainingFailed) and result.failure == "config"
    assert "training.gpus" in result.message
    assert terminal(sink.events) == [result]


def test_missing_model_fails_before_any_rank_starts(tmp_path):
    cfg = config(tmp_path / "no-such-model")
    sink = ListSink()
    result = supervisor.run(cfg, sink, run_dir=tmp_path / "run", rows=sft_rows())
    assert isinstance(result, TrainingFailed) and result.failure == "model", result
    assert terminal(sink.events) == [result]
    assert read_state(tmp_path / "run")["state"] == "failed"
    assert not (tmp_path / "run" / "distributed").exists()  # torchrun never started


def test_control_file_carries_requests_to_rank_zero(tmp_path):
    supervisor, rank0 = RunControl(), RunControl()
    writer = ControlFileWriter(tmp_path / "control.json")
    reader = ControlFileReader(tmp_path / "control.json", rank0, supervisor_pid=None)
    reader.poll()
    assert not (rank0.paused or rank0.stop_requested.is_set()
                or rank0.checkpoint_requested.is_set())
    supervisor.pause()
    supervisor.checkpoint()
    assert writer.sync(supervisor) and not writer.sync(supervisor)
    assert not supervisor.checkpoint_requested.is_set()  # handed over, counted once
    reader.poll()
    assert rank0.paused and rank0.checkpoint_requested.is_set()
    rank0.checkpoint_requested.clear()
    reader.poll()  # the same request is not applied twice
    assert not rank0.checkpoint_requested.is_set()
    supervisor.resume()
    writer.sync(supervisor)
    reader.poll()
    assert not rank0.paused
    supervisor.stop("signal")
    writer.sync(supervisor)
    reader.poll()
    assert rank0.stop_requested.is_set() and rank0.stop_reason == "signal"


def test_rank_zero_stops_when_the_supervisor_is_gone(tmp_path):
    import subprocess
    import sys

    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, timeout=60)
    control = RunControl()
    ControlFileWriter(tmp_path / "control.json")
    ControlFileReader(tmp_path / "control.json", control, int(gone.stdout)).poll()
    assert control.stop_requested.is_set() and control.stop_reason == "supervisor gone"


def test_events_cross_processes_as_dicts():
    sample = TelemetrySampled(gpus=(GpuSample(index=1, name="H200", mem_used_gib=10.0,
                                              mem_total_gib=139.8, util_pct=97.0, temp_c=55.0,
                                              power_w=600.0),), torch_allocated_gib=9.5)
    step = StepLogged(step=3, total_steps=9, epoch=0.5, loss=1.5, learning_rate=1e-4,
                      tokens_per_s=1234.0, metrics={"kl": 0.1}, world_size=2)
    failed = TrainingFailed(message="GPU out of memory", failure="oom", hint="lower it",
                            traceback="...", run_dir="r", step=4)
    for event in (sample, step, failed):
        assert event_from_dict(json.loads(json.dumps(event.to_dict()))) == event


def test_ddp_ranks_run_without_unsloths_varlen_probe(tmp_path, monkeypatch):
    # Unsloth's varlen-attention probe deadlocked every rank under DDP on 2 x H200; the
    # supervisor turns that path off for multi-GPU ranks (saying so), unless the user chose
    from synapse_core.training.distributed import DDP_UNSLOTH_ENV, LaunchPlan, Supervisor

    name, value = DDP_UNSLOTH_ENV
    monkeypatch.delenv(name, raising=False)
    sink = ListSink()
    engine = Engine(RunConfig(), sink, run_dir=tmp_path / "run", rows=sft_rows())
    sup = Supervisor(engine)
    assert sup._environment(LaunchPlan("cuda", 2, "0,1", (0, 1)))[name] == value
    assert any(name in getattr(e, "message", "") for e in sink.events)
    assert name not in sup._environment(LaunchPlan("cuda", 1, "0", (0,)))
    assert name not in sup._environment(LaunchPlan("cpu", 2, ""))
    monkeypatch.setenv(name, "1")
    assert sup._environment(LaunchPlan("cuda", 2, "0,1", (0, 1)))[name] == "1"
