"""Run directory, chat template, signals and the CLI, without training."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading

from synapse_core.training import rundir as rd
from synapse_core.training.chat_template import set_chat_template
from synapse_core.training.cli import ProgressPrinter
from synapse_core.training.control import RunControl
from synapse_core.training.events import StepLogged, TrainingFailed
from synapse_core.training.signals import install_signal_handlers


def test_run_dir_metrics_state_and_listing(tmp_path):
    run = rd.RunDir(rd.new_run_dir(tmp_path, "kto"))
    for step in (1, 2, 3):
        run.append_metrics({"step": step, "loss": 1.0 / step, "grad_norm": float("nan")})
    run.write_state(state="running", objective="kto", total_steps=10)
    rows = rd.load_metrics(run.path)
    assert [r["step"] for r in rows] == [1, 2, 3] and rows[0]["grad_norm"] is None
    with open(run.path / rd.METRICS_FILE, "a") as fh:
        fh.write('{"step": 4, "lo')  # a line being written right now
    assert len(rd.load_metrics(run.path)) == 3
    run.truncate_after(2)
    run.append_metrics({"step": 3, "loss": 0.5})
    assert [r["loss"] for r in rd.load_metrics(run.path)] == [1.0, 0.5, 0.5]
    run.close()
    (run.path / "checkpoints" / "checkpoint-10").mkdir(parents=True)
    (run.path / "checkpoints" / "checkpoint-10" / "trainer_state.json").write_text("{}")
    (run.path / "checkpoints" / "checkpoint-9").mkdir()
    (run.path / "checkpoints" / "checkpoint-9" / "trainer_state.json").write_text("{}")
    (run.path / "checkpoints" / "checkpoint-11").mkdir()  # incomplete: no trainer state
    assert rd.last_checkpoint(run.path).name == "checkpoint-10"
    second = rd.RunDir(rd.new_run_dir(tmp_path, "kto"))
    second.write_state(state="failed", objective="kto")
    runs = rd.list_runs(tmp_path)
    assert [r["name"] for r in runs] == [second.path.name, run.path.name]
    assert runs[1]["step"] == 3 and runs[1]["last_loss"] == 0.5
    # "running" with no live process behind it is not believed
    assert runs[1]["state"] == "died" and runs[1]["reason"] == "process vanished"


def test_chat_template_prompt_is_prefix_and_masks_assistant(tekken_tokenizer):
    tok = tekken_tokenizer
    old = tok.chat_template
    try:
        set_chat_template(tok)
        prompt = [{"role": "system", "content": "Be wise."}, {"role": "user", "content": "Hi?"}]
        reply = [{"role": "assistant", "content": "<reasoning><goal>g</goal></reasoning>\nHello"}]
        p = tok.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)
        full = tok.apply_chat_template(prompt + reply, tokenize=False)
        assert full.startswith(p) and full.endswith("Hello</s>")
        assert "[SYSTEM_PROMPT]Be wise.[/SYSTEM_PROMPT][INST]Hi?[/INST]" in p
        enc = tok.apply_chat_template(prompt + reply, return_dict=True,
                                      return_assistant_tokens_mask=True)
        mask = enc["assistant_masks"]
        first = mask.index(1)
        assert sum(mask) == len(mask) - first  # the reply and its EOS, nothing else
        sep = [{"role": "assistant", "content": "Hello", "reasoning": "<goal>g</goal>"}]
        assert tok.apply_chat_template(prompt + sep, tokenize=False) == full
    finally:
        tok.chat_template = old


def test_signal_handler_requests_stop_in_main_thread():
    control = RunControl()
    restore = install_signal_handlers(control)
    try:
        os.kill(os.getpid(), signal.SIGTERM)
        assert control.stop_requested.is_set() and control.stop_reason == "signal"
    finally:
        restore()
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    # outside the main thread: a no-op (only the main thread may install handlers)
    other = RunControl()
    out = []
    t = threading.Thread(target=lambda: out.append(install_signal_handlers(other)))
    t.start()
    t.join()
    out[0]()
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def test_pause_blocks_until_resumed_or_stopped():
    control = RunControl()
    control.pause()
    assert control.paused and not control.wait_while_paused(timeout=0.01)
    control.stop()
    assert control.wait_while_paused(timeout=1)


def test_progress_printer_lines(tmp_path):
    out = tmp_path / "out.txt"
    with open(out, "w") as fh:
        p = ProgressPrinter(fh)
        p.emit(StepLogged(step=1, total_steps=4, epoch=0.25, loss=0.5, learning_rate=1e-4,
                          tokens_per_s=1234.0, metrics={"kl": 0.1}))
        p.emit(TrainingFailed(message="GPU out of memory", failure="oom", hint="lower it"))
    text = out.read_text()
    assert "step 1/4" in text and "loss 0.5000" in text and "1,234 tok/s" in text
    assert "kl 0.1" in text and "FAILED (oom)" in text and "hint: lower it" in text


def test_cli_runs_lists_and_help_stays_light(tmp_path):
    run = rd.RunDir(tmp_path / "runs" / "r1")
    run.append_metrics({"step": 5, "loss": 0.25})
    run.write_state(state="finished", objective="sft", total_steps=5)
    run.close()
    res = subprocess.run([sys.executable, "-m", "synapse_core.cli", "runs",
                          str(tmp_path / "runs")], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert "sft" in res.stdout and "5/5" in res.stdout and "0.2500" in res.stdout
    assert "finished" in res.stdout
    code = ("import sys, synapse_core.cli as c; c.build_parser(); "
            "print('torch' in sys.modules, 'transformers' in sys.modules)")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert res.stdout.split() == ["False", "False"]


def test_cli_train_missing_resume_dir(tmp_path):
    res = subprocess.run([sys.executable, "-m", "synapse_core.cli", "train", "--resume",
                          str(tmp_path / "nope")], capture_output=True, text=True, timeout=60)
    assert res.returncode == 2 and "no such run directory" in res.stderr


def test_failures_are_classified_with_hints(tmp_path):
    """The mapping from exceptions to TrainingFailed kinds (CUDA OOM cannot happen on a CPU)."""
    import torch

    from synapse_core.config import ConfigError, RunConfig
    from synapse_core.training.backends import ModelNotFound
    from synapse_core.training.callbacks import LossNotFinite
    from synapse_core.training.engine import Engine

    engine = Engine(RunConfig(), run_dir=tmp_path)
    oom = engine._failure(torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2 GiB"))
    assert oom.failure == "oom" and "max_seq_length" in oom.hint and "batch_size" in oom.hint
    assert engine._failure(LossNotFinite(4, float("nan"))).failure == "nan"
    assert engine._failure(ModelNotFound("model.name_or_path: x")).failure == "model"
    cfg = engine._failure(ConfigError("training.learning_rate", "out of range"))
    assert cfg.failure == "config" and "training.learning_rate" in cfg.message
    other = engine._failure(RuntimeError("boom"))
    assert other.failure == "error" and "RuntimeError: boom" in other.message and other.traceback


def test_resume_without_config_fails_as_event(tmp_path):
    from synapse_core.events import ListSink
    from synapse_core.training.engine import Engine

    sink = ListSink()
    result = Engine(None, sink, resume_from=tmp_path).run()
    assert isinstance(result, TrainingFailed) and result.failure == "config"
    assert "config file not found" in result.message
    assert sink.events[-1] is result


def test_run_config_paths_made_absolute(tmp_path):
    """run.toml lives in the run folder: relative paths must not change meaning there."""
    from synapse_core.config import RunConfig, load_config, write_config
    from synapse_core.training.engine import absolute_paths

    (tmp_path / "models" / "m").mkdir(parents=True)
    cfg = RunConfig()
    cfg.data.path, cfg.model.name_or_path = "data.jsonl", "models/m"
    cfg.training.runs_dir = "runs"  # the current-folder layout, when a config says so
    write_config(cfg, tmp_path / "cfg.toml")
    cfg = absolute_paths(load_config(tmp_path / "cfg.toml"))
    assert cfg.data.path == str(tmp_path / "data.jsonl")
    assert cfg.model.name_or_path == str(tmp_path / "models" / "m")
    assert cfg.training.runs_dir == str(tmp_path / "runs")
    cfg.model.name_or_path = "org/model-id"  # a hub id stays as written
    assert absolute_paths(cfg).model.name_or_path == "org/model-id"
    assert absolute_paths(RunConfig()).model.name_or_path == "demo"


def test_runs_and_exports_default_to_one_per_user_folder(tmp_path, monkeypatch):
    """Launched from any folder, the default config finds the same runs and exports."""
    from synapse_core.config import load_config
    from synapse_core.paths import data_dir

    monkeypatch.chdir(tmp_path)
    cfg = load_config(None)
    assert cfg.resolve_path(cfg.training.runs_dir) == data_dir() / "runs"
    assert cfg.resolve_path(cfg.export.out_dir) == data_dir() / "exports"
    monkeypatch.chdir(tmp_path.parent)
    assert load_config(None).resolve_path(cfg.training.runs_dir) == data_dir() / "runs"


def test_existing_run_dir_is_not_overwritten(tmp_path):
    from synapse_core.config import RunConfig
    from synapse_core.events import ListSink
    from synapse_core.training.engine import Engine

    run = rd.RunDir(tmp_path / "run")
    run.append_metrics({"step": 1, "loss": 1.0})
    run.close()
    result = Engine(RunConfig(), ListSink(), run_dir=tmp_path / "run", rows=[]).run()
    assert isinstance(result, TrainingFailed) and result.failure == "config"
    assert "already holds a run" in result.message
    assert len(rd.load_metrics(tmp_path / "run")) == 1
