"""The export queue: full job with a merged adapter, cancel, restart, edits."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from synapse_core.events import CallbackSink, ListSink, TeeSink
from synapse_core.export.events import (ExportCancelled, ExportFinished, ExportProgressed,
                                        ExportStepFinished)
from synapse_core.export.jobs import ExportJob
from synapse_core.export.queue import QUEUE_FILE, ExportQueue


def _make_run(base: Path, run_dir: Path) -> list[int]:
    """A run folder like training leaves: LoRA adapter (+ trainable reasoning-token rows),
    tokenizer with the 56 reasoning tokens, and run.toml naming the base model."""
    import torch
    import transformers as tf
    from peft import LoraConfig, get_peft_model

    from synapse_core.config import REASONING_TAGS
    from synapse_core.modeling.tokenizer import add_reasoning_tokens

    tok = tf.AutoTokenizer.from_pretrained(str(base))
    ids = add_reasoning_tokens(tok, REASONING_TAGS)
    model = tf.AutoModelForCausalLM.from_pretrained(str(base), dtype=torch.float32)
    model.resize_token_embeddings(len(tok))
    cfg = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"],
                     trainable_token_indices={"embed_tokens": ids, "lm_head": ids})
    peft_model = get_peft_model(model, cfg)
    torch.manual_seed(1)
    with torch.no_grad():
        for name, p in peft_model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.05)  # a trained adapter changes the outputs
    (run_dir / "adapter").mkdir(parents=True)
    peft_model.save_pretrained(str(run_dir / "adapter"))
    tok.save_pretrained(str(run_dir / "adapter"))
    (run_dir / "run.toml").write_text(f'[model]\nname_or_path = "{base}"\n', encoding="utf-8")
    return ids


@pytest.mark.slow
def test_queue_merges_adapter_and_exports_verified_files(tiny_model_dir, tmp_path, capsys):
    run = tmp_path / "runs" / "r1"
    ids = _make_run(tiny_model_dir("mistral"), run)
    sink = ListSink()
    q = ExportQueue(tmp_path / "exports", sink)
    # q8_0 here (quantizes in a fraction of Q4_K_M's time); Q4_K_M is covered in test_export_convert
    job = q.add(run, quant="q8_0", overrides={r"_exps\.": "q6_k"})
    q.start()
    assert q.wait_idle(timeout=600)
    q.stop()
    done = q.get(job.id)
    assert done.state == "done", (done.error, done.log[-5:])
    assert done.steps["merge"].state == "done" and done.steps["mmproj"].state == "skipped"
    assert "matched no tensor" in done.steps["quantize"].detail
    assert done.verification["bf16"]["logits"]["top1_agreement"] >= 0.9
    for path in done.outputs.values():
        assert Path(path).exists()
    quant = Path(done.outputs["quant"])
    assert quant.parent == tmp_path / "exports" / done.name
    assert not any(p.name.endswith(".partial") for p in (tmp_path / "exports").iterdir())
    # the reasoning tokens made it into the GGUF as single, printable tokens
    from llama_cpp import Llama

    llm = Llama(str(quant), n_ctx=64, verbose=False)
    try:
        assert llm.n_vocab() == ids[-1] + 1
        assert llm.tokenize(b"<reasoning>", add_bos=False, special=False) == [ids[0]]
        assert llm.detokenize([ids[0]]) == b"<reasoning>"
    finally:
        llm.close()
    # verifying the exported bf16 later: its checksum, and the logits against merged/ beside it
    from synapse_core.cli import main

    assert main(["export", "--verify", done.outputs["bf16"]]) == 0
    out = capsys.readouterr().out
    assert "comparing logits with" in out and "logits vs HF" in out
    assert "SHA-256 matches SHA256SUMS" in out and "not checked" not in out
    assert [e.step for e in sink.of(ExportStepFinished)] == [
        "merge", "convert", "mmproj", "quantize", "verify"]
    assert sink.of(ExportFinished)[0].job_id == job.id


def test_cancel_mid_job_leaves_no_finished_looking_file(tiny_model_dir, tmp_path):
    out = tmp_path / "exports"
    holder: dict[str, ExportQueue] = {}

    def on_event(e):
        if isinstance(e, ExportProgressed) and e.step == "convert" and e.fraction > 0.3:
            holder["q"].cancel(e.job_id)

    sink = ListSink()
    q = ExportQueue(out, TeeSink(sink, CallbackSink(on_event)))
    holder["q"] = q
    job = q.add(tiny_model_dir("mistral"))
    q.start()
    assert q.wait_idle(timeout=300)
    q.stop()
    got = q.get(job.id)
    assert got.state == "cancelled" and got.steps["convert"].state == "cancelled"
    assert sink.of(ExportCancelled)
    assert sorted(p.name for p in out.iterdir()) == ["logs", QUEUE_FILE]  # no .partial
    assert "cancelled" in (out / "logs" / f"{got.name}.log").read_text()


def test_queue_survives_restart_and_marks_interrupted(tmp_path):
    out = tmp_path / "exports"
    q = ExportQueue(out)
    a = q.add(tmp_path / "a")
    b = q.add(tmp_path / "b", quant="q5_k_m")
    c = q.add(tmp_path / "c")
    q.move(c.id, -5)
    q.cancel(b.id)
    # simulate a crash while job a ran: its state on disk is "running", staging half-written
    data = json.loads((out / QUEUE_FILE).read_text())
    for d in data["jobs"]:
        if d["id"] == a.id:
            d["state"] = "running"
            d["steps"]["convert"]["state"] = "running"
    (out / QUEUE_FILE).write_text(json.dumps(data))
    stage = out / f".{ExportJob.from_dict(data['jobs'][1]).name}.partial"
    stage.mkdir()
    (stage / "half.gguf").write_bytes(b"GGUF")

    q2 = ExportQueue(out)
    jobs = q2.jobs()
    assert [j.id for j in jobs] == [c.id, a.id, b.id]
    assert jobs[1].state == "failed" and "interrupted" in jobs[1].error
    assert jobs[2].state == "cancelled" and jobs[2].quant == "q5_k_m"
    assert jobs[0].state == "queued"
    assert not stage.exists()
    q2.retry(a.id)
    assert q2.get(a.id).state == "queued"
    q2.remove(b.id)
    assert [j.id for j in ExportQueue(out).jobs()] == [c.id, a.id]
    with pytest.raises(ValueError, match="only failed or cancelled"):
        q2.retry(c.id)


def test_missing_source_fails_with_a_clear_message(tmp_path):
    q = ExportQueue(tmp_path / "exports")
    job = q.add(tmp_path / "nowhere")
    q.start()
    assert q.wait_idle(timeout=60)
    q.stop()
    got = q.get(job.id)
    assert got.state == "failed" and "nowhere: no such folder" in got.error


def test_corrupt_queue_file_names_file_and_line(tmp_path):
    out = tmp_path / "exports"
    out.mkdir()
    (out / QUEUE_FILE).write_text('{"jobs": [\n  {"source": "x",}\n]}')
    q = ExportQueue(out)  # set aside with a notice, not a crash of the app
    assert q.jobs() == [] and "queue.json: line 2: not valid JSON" in q.notices[0]
