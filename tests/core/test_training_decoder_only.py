"""Training a vision model's decoder alone gives the same run as training the full model."""

from __future__ import annotations

import pytest

from synapse_core.config import RunConfig
from synapse_core.events import ListSink
from synapse_core.training.decoder_only import decoder_key
from synapse_core.training.engine import Engine
from synapse_core.training.events import ModelLoaded, StepLogged, TrainingFinished


def test_decoder_key_mapping():
    assert decoder_key("language_model.model.layers.0.mlp.up_proj.weight") == \
        "model.layers.0.mlp.up_proj.weight"
    assert decoder_key("model.language_model.embed_tokens.weight") == "model.embed_tokens.weight"
    assert decoder_key("language_model.lm_head.weight") == "lm_head.weight"
    assert decoder_key("lm_head.weight") == "lm_head.weight"
    assert decoder_key("vision_tower.transformer.layers.0.attention.q_proj.weight") is None
    assert decoder_key("multi_modal_projector.linear_1.bias") is None


@pytest.mark.slow
def test_decoder_only_run_matches_full_model_and_adapter_loads_on_it(tiny_model_dir, tmp_path):
    import torch
    from peft import PeftModel
    from transformers import AutoTokenizer, LlavaForConditionalGeneration

    base = tiny_model_dir("pixtral")
    rows = [{"messages": [{"role": "user", "content": f"Question {i}?"},
                          {"role": "assistant", "content": f"<reasoning><goal>g{i}</goal>"
                                                           f"</reasoning>\nAnswer {i}."}]}
            for i in range(2)]
    runs = {}
    for decoder_only in (False, True):
        cfg = RunConfig()
        cfg.model.name_or_path = str(base)
        cfg.model.max_seq_length = 48
        cfg.model.decoder_only = decoder_only
        t = cfg.training
        t.objective, t.max_steps, t.learning_rate, t.packing = "sft", 3, 1e-3, False
        t.gradient_accumulation_steps, t.gradient_checkpointing = 1, False
        sink = ListSink()
        result = Engine(cfg, sink, run_dir=tmp_path / str(decoder_only), rows=rows).run()
        assert isinstance(result, TrainingFinished), getattr(result, "traceback", result)
        runs[decoder_only] = (sink, result)
    full, dec = runs[False][0], runs[True][0]
    assert any("decoder only" in n for n in dec.of(ModelLoaded)[0].notes)
    assert dec.of(ModelLoaded)[0].total_params < full.of(ModelLoaded)[0].total_params
    for a, b in zip(full.of(StepLogged), dec.of(StepLogged), strict=True):
        assert b.loss == pytest.approx(a.loss, abs=1e-5)

    # the mapped adapter loads on the full Llava model and gives the full run's logits
    def logits(adapter):
        tok = AutoTokenizer.from_pretrained(adapter)
        model = LlavaForConditionalGeneration.from_pretrained(base, dtype=torch.float32)
        model.resize_token_embeddings(len(tok), pad_to_multiple_of=64)
        model = PeftModel.from_pretrained(model, adapter)
        ids = tok.apply_chat_template(rows[0]["messages"], return_tensors="pt", return_dict=True)
        with torch.no_grad():
            return model(**ids).logits

    ref = logits(runs[False][1].adapter_path)
    got = logits(runs[True][1].adapter_path)
    assert torch.allclose(ref, got, atol=1e-4)
    untrained = LlavaForConditionalGeneration.from_pretrained(base, dtype=torch.float32)
    tok = AutoTokenizer.from_pretrained(runs[True][1].adapter_path)
    untrained.resize_token_embeddings(len(tok), pad_to_multiple_of=64)
    ids = tok.apply_chat_template(rows[0]["messages"], return_tensors="pt", return_dict=True)
    with torch.no_grad():
        assert not torch.allclose(untrained(**ids).logits, got, atol=1e-4)  # the adapter acts
