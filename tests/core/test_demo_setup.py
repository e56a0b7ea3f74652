"""Before step 1 a run says what it is doing; library warnings reach the run's log; `synapse
train DATA` trains on a file; TRL's KTO weight advice is known before the run."""

from __future__ import annotations

import json
import logging
import warnings
from pathlib import Path

from synapse_core.cli import main
from synapse_core.config import RunConfig, demo_config, load_config, write_config
from synapse_core.paths import demo_dataset_path
from synapse_core.training.events import SETUP_PHASES, SetupProgressed, event_from_dict
from synapse_core.training.kto_weights import kto_weight_advice
from synapse_core.training.libwarnings import library_warnings_to


def write_unbalanced_data(path: Path, desirable: int = 6, undesirable: int = 2) -> Path:
    """Demo rows, ``desirable`` scored desirable and ``undesirable`` not (KTO's labels)."""
    from synapse_core.data.prepare import prepare_dataset

    meta = prepare_dataset(demo_config()).meta
    keep = ([m["line"] for m in meta if m["label"]][:desirable]
            + [m["line"] for m in meta if not m["label"]][:undesirable])
    lines = demo_dataset_path().read_text(encoding="utf-8").splitlines()
    path.write_text("".join(lines[n - 1] + "\n" for n in sorted(keep)), encoding="utf-8")
    return path


def test_setup_progress_crosses_processes_as_a_dict() -> None:
    ev = SetupProgressed(phase="model", message="loading the model demo", index=3)
    assert ev.count == len(SETUP_PHASES)
    assert event_from_dict(json.loads(json.dumps(ev.to_dict()))) == ev


def test_kto_weight_advice_is_trls_range() -> None:
    # the demo's counts: TRL says "desirable_weight in [0.27, 0.36] or undesirable_weight in
    # [2.74, 3.65]"
    advice = kto_weight_advice(248, 68, 1.0, 1.0)
    assert advice is not None
    assert advice.desirable_range == (0.27, 0.36) and advice.undesirable_range == (2.74, 3.65)
    assert advice.field == "desirable_weight" and 0.27 <= advice.value <= 0.36
    assert kto_weight_advice(248, 68, advice.value, 1.0) is None  # the fix silences TRL
    flipped = kto_weight_advice(68, 248, 1.0, 1.0)
    assert flipped is not None and flipped.field == "undesirable_weight"
    assert kto_weight_advice(68, 248, 1.0, flipped.value) is None
    assert kto_weight_advice(50, 50, 1.0, 1.0) is None


def test_library_warnings_go_to_the_run_log() -> None:
    got: list[tuple[str, str, str]] = []
    before = list(logging.getLogger("trl").handlers)
    with library_warnings_to(lambda m, level, source: got.append((m, level, source))):
        logging.getLogger("trl.trainer.kto_trainer").warning("[RANK 0] weights out of range")
        logging.getLogger("peft.tuners").info("not a warning")
        warnings.warn("deprecated thing", FutureWarning, stacklevel=1)
    assert got[0] == ("weights out of range", "warning", "trl")
    assert got[1][0].startswith("FutureWarning: deprecated thing") and got[1][1] == "warning"
    assert len(got) == 2
    assert logging.getLogger("trl").handlers == before  # nothing left on the library's logger


def test_synapse_train_data_file(tiny_model_dir, tmp_path, capsys) -> None:
    """`synapse train DATA --config C`: trains on DATA; the set-up phases come before step 1
    in order, and TRL's KTO warning is in events.jsonl, train.log and the printed lines."""
    data = write_unbalanced_data(tmp_path / "mine.jsonl", desirable=6, undesirable=2)
    cfg = RunConfig()
    cfg.model.name_or_path = str(tiny_model_dir("pixtral"))
    cfg.model.max_seq_length = 64
    t = cfg.training
    t.max_steps, t.per_device_train_batch_size, t.gradient_accumulation_steps = 1, 2, 1
    t.gradient_checkpointing, t.save_steps = False, 1000
    write_config(cfg, tmp_path / "run.toml")
    run = tmp_path / "run"

    rc = main(["train", str(data), "--config", str(tmp_path / "run.toml"), "--run-dir", str(run)])
    printed = capsys.readouterr().err
    assert rc == 0, printed
    assert load_config(run / "run.toml").data.path == str(data.resolve())

    events = [json.loads(line) for line in (run / "events.jsonl").read_text().splitlines()]
    kinds = [e["kind"] for e in events]
    phases = [e["phase"] for e in events if e["kind"] == "SetupProgressed"]
    assert phases == list(SETUP_PHASES)
    assert kinds.index("StepLogged") > max(i for i, k in enumerate(kinds)
                                           if k == "SetupProgressed")
    advice = kto_weight_advice(6, 2, 1.0, 1.0)
    assert advice is not None
    trl_says = f"desirable_weight in [{advice.desirable_range[0]}, {advice.desirable_range[1]}]"
    warned = [e for e in events if e["kind"] == "LogLine" and trl_says in e["message"]]
    assert warned and warned[0]["level"] == "warning" and warned[0]["source"] == "trl"
    assert trl_says in (run / "train.log").read_text()
    assert "[set-up 1/5] reading and scoring the data" in printed
    assert "[warning] You have different amounts" in printed and "[RANK 0]" not in printed


def test_synapse_train_missing_data_file(tmp_path, capsys) -> None:
    assert main(["train", str(tmp_path / "nope.jsonl")]) == 2
    assert "nope.jsonl: no such file" in capsys.readouterr().err
