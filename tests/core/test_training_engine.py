"""The training engine on the CPU with the tiny Pixtral and the real Tekken tokenizer."""

from __future__ import annotations

import json
import math
import threading
from pathlib import Path

import pytest

from synapse_core.config import RunConfig, load_config
from synapse_core.events import ListSink, LogLine
from synapse_core.telemetry.events import TelemetryUnavailable
from synapse_core.training.engine import Engine
from synapse_core.training.events import (CheckpointSaved, ModelLoaded, PreviewGenerated,
                                          RunStarted, StepLogged, TrainingFailed,
                                          TrainingFinished, TrainingPaused, TrainingResumed,
                                          event_from_dict)
from synapse_core.training.rundir import list_runs, load_metrics, read_state

SYSTEM = {"role": "system", "content": "You are Professor Synapse."}
QA = [
    ("What is entropy?", "<reasoning><goal>explain entropy</goal></reasoning>\n"
                         "Entropy counts the ways a state can happen."),
    ("Why is the sky blue?", "<reasoning><kg><tri><subj>air</subj><pred>scatters</pred>"
                             "<obj>blue light</obj></tri></kg></reasoning>\nRayleigh scattering."),
]


def kto_rows(n: int = 2) -> list[dict]:
    """n rows cycling the two Q/As; labels alternate desirable/undesirable."""
    return [{"prompt": [SYSTEM, {"role": "user", "content": QA[i % 2][0]}],
             "completion": [{"role": "assistant", "content": QA[i % 2][1]}],
             "label": i % 2 == 0} for i in range(n)]


def sft_rows(n: int = 2) -> list[dict]:
    return [{"messages": r["prompt"] + r["completion"]} for r in kto_rows(n)]


def tiny_config(model_dir: Path, objective: str = "kto", steps: int = 3) -> RunConfig:
    """Small and fast: 64 tokens, batch 2 x 1, no checkpointing, lr high enough to move."""
    cfg = RunConfig()
    cfg.model.name_or_path = str(model_dir)
    cfg.model.max_seq_length = 64
    t = cfg.training
    t.objective = objective
    t.learning_rate = 1e-3
    t.max_steps = steps
    t.per_device_train_batch_size = 2
    t.gradient_accumulation_steps = 1
    t.gradient_checkpointing = False
    t.warmup_ratio = 0.0
    t.lr_scheduler_type = "constant"
    t.neftune_noise_alpha = 0.0  # off
    t.save_steps = 1000
    return cfg


def terminal(sink: ListSink) -> list:
    return [e for e in sink.events if isinstance(e, (TrainingFinished, TrainingFailed))]


@pytest.mark.slow
def test_kto_trains_saves_adapter_and_new_token_rows(tiny_model_dir, tmp_path):
    import torch
    from peft import PeftModel
    from safetensors.torch import load_file
    from transformers import AutoTokenizer, LlavaForConditionalGeneration

    base_dir = tiny_model_dir("pixtral")
    cfg = tiny_config(base_dir, "kto", steps=8)
    sink = ListSink()
    result = Engine(cfg, sink, run_dir=tmp_path / "run", rows=kto_rows(2)).run()
    assert isinstance(result, TrainingFinished), getattr(result, "traceback", result)
    assert terminal(sink) == [result]

    loaded = sink.of(ModelLoaded)[0]
    assert loaded.backend == "hf" and loaded.device == "cpu"
    assert loaded.added_tokens == 56
    assert loaded.experts == "no experts (dense model)"
    assert loaded.optim == "adamw_torch"
    assert any("paged_adamw_8bit -> adamw_torch" in n for n in loaded.notes)
    assert any("adamw_torch" in e.message for e in sink.of(LogLine))
    assert any(isinstance(e, TelemetryUnavailable) for e in sink.events)

    steps = sink.of(StepLogged)
    assert [s.step for s in steps] == list(range(1, 9))
    losses = [s.loss for s in steps]
    assert all(math.isfinite(x) for x in losses)
    # one batch repeated: the policy separates desirable from undesirable, the loss falls
    assert losses[-1] < losses[0] - 0.01, losses
    assert "rewards/chosen" in steps[-1].metrics or "rewards/rejected" in steps[-1].metrics

    run = tmp_path / "run"
    rows = load_metrics(run)
    assert [r["step"] for r in rows] == list(range(1, 9))
    assert {"step", "epoch", "loss", "learning_rate", "grad_norm", "tokens_per_s"} <= set(rows[0])
    assert load_config(run / "run.toml").training.objective == "kto"
    events = [json.loads(line) for line in (run / "events.jsonl").read_text().splitlines()]
    assert events[-1]["kind"] == "TrainingFinished"
    assert isinstance(event_from_dict(next(e for e in events if e["kind"] == "StepLogged")),
                      StepLogged)
    assert "adamw_torch" in (run / "train.log").read_text()
    assert read_state(run)["state"] == "finished"
    assert list_runs(tmp_path)[0]["step"] == 8

    # adapter + tokenizer with the 56 tokens and the chat template, reloadable on the base
    adapter = Path(result.adapter_path)
    tok = AutoTokenizer.from_pretrained(adapter)
    assert "<reasoning>" in tok.get_vocab() and "</cont>" in tok.get_vocab()
    assert "{% generation %}" in tok.chat_template
    acfg = json.loads((adapter / "adapter_config.json").read_text())
    new_ids = acfg["trainable_token_indices"]["embed_tokens"]
    assert len(new_ids) == 56 and min(new_ids) >= 131072
    saved = load_file(adapter / "adapter_model.safetensors")
    assert not any("embed_tokens.weight" in k for k in saved)  # the embedding was not trained whole

    base = LlavaForConditionalGeneration.from_pretrained(base_dir, dtype=torch.float32)
    old = base.get_input_embeddings().weight[:131072].clone()
    base.resize_token_embeddings(len(tok), pad_to_multiple_of=64)
    model = PeftModel.from_pretrained(base, adapter)
    ids = tok.apply_chat_template(kto_rows(1)[0]["prompt"], add_generation_prompt=True,
                                  return_tensors="pt", return_dict=True)
    with torch.no_grad():
        assert torch.isfinite(model(**ids).logits).all()
    merged = model.merge_and_unload().get_input_embeddings().weight
    assert torch.equal(merged[:131072], old)  # old rows untouched
    # the start the engine gave the new rows, rebuilt the same way on a fresh base
    from synapse_core.config import REASONING_TAGS
    from synapse_core.training.backends import add_tokens_and_resize

    fresh = LlavaForConditionalGeneration.from_pretrained(base_dir, dtype=torch.float32)
    fresh_tok = AutoTokenizer.from_pretrained(base_dir)
    assert add_tokens_and_resize(fresh, fresh_tok, list(REASONING_TAGS)) == new_ids
    start = fresh.get_input_embeddings().weight[new_ids].detach().float()
    moved = (merged[new_ids].float() - start).abs().max(dim=1).values > 1e-4
    # the rows of the tags the data uses were trained away from their start;
    # tags the data never shows got no gradient and kept it
    text = "".join(r["completion"][0]["content"] for r in kto_rows(2))
    used = {i for i in tok(text, add_special_tokens=False)["input_ids"] if i in new_ids}
    assert len(used) == 14  # reasoning, goal, kg, tri, subj, pred, obj: open and close
    assert moved.tolist() == [i in used for i in new_ids]


@pytest.mark.slow
def test_sft_loss_falls_on_repeated_batch_with_preview(tiny_model_dir, tmp_path):
    cfg = tiny_config(tiny_model_dir("pixtral"), "sft", steps=8)
    cfg.training.packing = False  # one fixed batch, so the curve is the model's, not packing's
    cfg.training.preview_steps = 4
    cfg.training.preview_max_new_tokens = 6
    sink = ListSink()
    result = Engine(cfg, sink, run_dir=tmp_path / "run", rows=sft_rows(2)).run()
    assert isinstance(result, TrainingFinished), getattr(result, "traceback", result)
    losses = [s.loss for s in sink.of(StepLogged)]
    assert len(losses) == 8 and all(math.isfinite(x) for x in losses)
    assert losses[-1] < losses[0] * 0.9, losses
    previews = sink.of(PreviewGenerated)
    assert [p.step for p in previews] == [4]
    assert previews[0].prompt == cfg.training.preview_prompt and previews[0].text


def test_sft_packed_runs(tiny_model_dir, tmp_path):
    cfg = tiny_config(tiny_model_dir("pixtral"), "sft", steps=2)
    sink = ListSink()
    result = Engine(cfg, sink, run_dir=tmp_path / "run", rows=sft_rows(4)).run()
    assert isinstance(result, TrainingFinished), getattr(result, "traceback", result)
    assert all(math.isfinite(s.loss) for s in sink.of(StepLogged))
    assert sink.of(RunStarted)[0].train_rows == 4


def test_missing_model_fails_with_clear_event(tmp_path):
    cfg = tiny_config(tmp_path / "no-such-model")
    cfg.model.name_or_path = "nobody/no-such-model-xyz"
    sink = ListSink()
    result = Engine(cfg, sink, run_dir=tmp_path / "run", rows=kto_rows(2)).run()
    assert isinstance(result, TrainingFailed)
    assert result.failure == "model" and "nobody/no-such-model-xyz" in result.message
    assert terminal(sink) == [result]
    assert read_state(tmp_path / "run")["state"] == "failed"


def test_empty_and_bad_data_fail_as_data(tmp_path):
    cfg = tiny_config(tmp_path)
    sink = ListSink()
    result = Engine(cfg, sink, run_dir=tmp_path / "a", rows=[]).run()
    assert isinstance(result, TrainingFailed) and result.failure == "data"
    assert "empty" in result.message
    result = Engine(cfg, ListSink(), run_dir=tmp_path / "b", rows=sft_rows(2)).run()
    assert isinstance(result, TrainingFailed) and result.failure == "data"
    assert "row 0" in result.message and "completion" in result.message


def test_bad_config_fails_as_config(tmp_path):
    cfg = tiny_config(tmp_path)
    cfg.training.per_device_train_batch_size = 1  # KTO needs 2
    sink = ListSink()
    result = Engine(cfg, sink, run_dir=tmp_path / "run", rows=kto_rows(2)).run()
    assert isinstance(result, TrainingFailed) and result.failure == "config"
    assert "training.per_device_train_batch_size" in result.message
    assert terminal(sink) == [result]


def test_nan_loss_fails_as_nan(tiny_model_dir, tmp_path):
    """A model whose weights hold NaN (a corrupted checkpoint) gives a NaN loss at step 1."""
    import torch
    from transformers import AutoTokenizer, LlavaForConditionalGeneration

    src = tiny_model_dir("pixtral")
    bad = tmp_path / "nan-model"
    model = LlavaForConditionalGeneration.from_pretrained(src)
    with torch.no_grad():
        model.model.language_model.norm.weight.fill_(float("nan"))
    model.save_pretrained(bad)
    AutoTokenizer.from_pretrained(src).save_pretrained(bad)
    cfg = tiny_config(bad, "sft", steps=3)
    cfg.training.packing = False
    sink = ListSink()
    result = Engine(cfg, sink, run_dir=tmp_path / "run", rows=sft_rows(2)).run()
    assert isinstance(result, TrainingFailed), result
    assert result.failure == "nan" and result.step == 1 and "learning_rate" in result.hint
    assert terminal(sink) == [result]
    assert len(sink.of(StepLogged)) == 1  # the bad step is still on the chart


def test_pause_checkpoint_and_stop(tiny_model_dir, tmp_path):
    """checkpoint_now saves mid-run; a pause takes effect once the step is logged (the paused
    step and the last step on the chart agree), its time is left out of the next step's
    tokens/s; a stop saves and ends within one step."""
    from synapse_core.events import CallbackSink
    from synapse_core.training.control import RunControl

    cfg = tiny_config(tiny_model_dir("pixtral"), "sft", steps=50)
    cfg.training.packing = False
    control = RunControl()
    seen: list = []

    def on_event(e):
        seen.append(e)
        if isinstance(e, StepLogged) and e.step == 1:
            control.checkpoint()
        if isinstance(e, StepLogged) and e.step == 2:
            control.pause()
        if isinstance(e, TrainingPaused):
            assert read_state(tmp_path / "run")["state"] == "paused"
            threading.Timer(2.0, control.resume).start()  # a pause longer than a step
        if isinstance(e, StepLogged) and e.step == 4:
            control.stop("user")

    result = Engine(cfg, CallbackSink(on_event), control, run_dir=tmp_path / "run",
                    rows=sft_rows(2)).run()
    assert isinstance(result, TrainingFinished) and result.stopped and result.reason == "user"
    saves = [(e.step, e.reason) for e in seen if isinstance(e, CheckpointSaved)]
    assert saves == [(2, "manual"), (5, "user")]
    kinds = [type(e).__name__ for e in seen]
    assert kinds.index("TrainingPaused") + 1 == kinds.index("TrainingResumed")
    last_step_before_pause = [e for e in seen[:kinds.index("TrainingPaused")]
                              if isinstance(e, StepLogged)][-1]
    assert [e.step for e in seen if isinstance(e, (TrainingPaused, TrainingResumed))] == [3, 3]
    assert last_step_before_pause.step == 3
    tps = {e.step: e.tokens_per_s for e in seen if isinstance(e, StepLogged)}
    # step 4 ran after the pause: the same rows, so about the same speed (the pause left
    # out of its time; it was 1,000 times too fast when the clock restarted at the resume)
    assert tps[4] < 3 * max(tps[2], tps[3]) and tps[4] > max(tps[2], tps[3]) / 3, tps
    assert result.step == 5
    assert (tmp_path / "run" / "checkpoints" / "checkpoint-5" / "trainer_state.json").is_file()
    assert read_state(tmp_path / "run")["state"] == "stopped"
