"""Interrupted runs continue the same curve; SIGTERM checkpoints and stops cleanly."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from synapse_core.config import write_config
from synapse_core.events import CallbackSink, ListSink
from synapse_core.training.control import RunControl
from synapse_core.training.engine import Engine
from synapse_core.training.events import RunStarted, StepLogged, TrainingFinished
from synapse_core.training.rundir import last_checkpoint, load_metrics, read_state
from tiny_runs import schedule_config as config

SYSTEM = {"role": "system", "content": "You are Professor Synapse."}
QUESTIONS = ["What is entropy?", "Why is the sky blue?", "Name a prime.", "What is 2+2?"]


def kto_rows() -> list[dict]:
    return [{"prompt": [SYSTEM, {"role": "user", "content": q}],
             "completion": [{"role": "assistant",
                             "content": f"<reasoning><goal>{q}</goal></reasoning>\nAnswer {i}."}],
             "label": i % 2 == 0} for i, q in enumerate(QUESTIONS)]


@pytest.mark.slow
def test_stopped_and_resumed_run_matches_uninterrupted(tiny_model_dir, tmp_path):
    """KTO (whose checkpoints hold a second, frozen "ref" adapter) stopped at step 2 and
    resumed gives the same per-step losses and learning rates as one uninterrupted run."""
    model = tiny_model_dir("pixtral")
    steps = 4  # 4 rows / batch 2 = 2 steps per epoch: the resumed part starts a new epoch
    full = Engine(config(model, steps), ListSink(), run_dir=tmp_path / "full",
                  rows=kto_rows()).run()
    assert isinstance(full, TrainingFinished), getattr(full, "traceback", full)

    control = RunControl()

    def stop_after_one(e):
        if isinstance(e, StepLogged) and e.step == 1:
            control.stop("user")  # acted on at the end of the next step

    part = Engine(config(model, steps), CallbackSink(stop_after_one), control,
                  run_dir=tmp_path / "part", rows=kto_rows()).run()
    assert isinstance(part, TrainingFinished) and part.stopped and part.step == 2
    assert last_checkpoint(tmp_path / "part").name == "checkpoint-2"

    sink = ListSink()
    resumed = Engine(None, sink, resume_from=tmp_path / "part", rows=kto_rows()).run()
    assert isinstance(resumed, TrainingFinished), getattr(resumed, "traceback", resumed)
    assert sink.of(RunStarted)[0].resumed_from_step == 2
    assert [s.step for s in sink.of(StepLogged)] == [3, 4]

    a, b = load_metrics(tmp_path / "full"), load_metrics(tmp_path / "part")
    assert [r["step"] for r in a] == [r["step"] for r in b] == list(range(1, steps + 1))
    for ra, rb in zip(a, b):
        assert rb["loss"] == pytest.approx(ra["loss"], abs=1e-5), (ra["step"], ra, rb)
        assert rb["learning_rate"] == pytest.approx(ra["learning_rate"], rel=1e-6, abs=1e-12)
    assert read_state(tmp_path / "part")["state"] == "finished"


@pytest.mark.slow
def test_sigterm_checkpoints_and_stops_the_cli(tiny_model_dir, tmp_path, sigterm_cli_train):
    """`synapse train` in a subprocess: SIGTERM after the first logged step → checkpoint, exit 0,
    and `synapse train --resume` continues from that checkpoint."""
    cfg = config(tiny_model_dir("pixtral"), steps=200)
    cfg.training.objective = "sft"
    cfg.training.packing = False
    cfg.data.path = ""  # the bundled demo data through the data module
    cfg_path = write_config(cfg, tmp_path / "run.toml")
    run = tmp_path / "run"
    code, out = sigterm_cli_train(cfg_path, run)
    assert code == 0, out
    assert "stopped (signal)" in out
    ckpt = last_checkpoint(run)
    assert ckpt is not None
    assert read_state(run)["state"] == "stopped"
    events = [json.loads(x) for x in (run / "events.jsonl").read_text().splitlines()]
    assert any(e["kind"] == "CheckpointSaved" and e["reason"] == "signal" for e in events)
    assert events[-1]["kind"] == "TrainingFinished" and events[-1]["stopped"]
    stopped_at = int(ckpt.name.split("-")[1])

    # resume for two more steps from the CLI: the curve continues after the checkpoint
    res = subprocess.run([sys.executable, "-m", "synapse_core.cli", "train", "--resume",
                          str(run), "--max-steps", str(stopped_at + 2)],
                         capture_output=True, text=True, timeout=240)
    assert res.returncode == 0, res.stdout + res.stderr
    assert f"resuming at step {stopped_at}" in res.stderr
    steps = [r["step"] for r in load_metrics(run)]
    assert steps == list(range(1, stopped_at + 3))
