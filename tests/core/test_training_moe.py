"""Mixture-of-experts aware LoRA on tiny Mixtral and Qwen2-MoE (fused expert parameters)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from synapse_core.config import RunConfig
from synapse_core.events import ListSink
from synapse_core.training.backends import lora_config_kwargs
from synapse_core.training.engine import Engine
from synapse_core.training.events import ModelLoaded, StepLogged, TrainingFinished
from synapse_core.training.moe import detect_experts


def _load(path: Path):
    import torch
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)


@pytest.mark.parametrize("kind", ["mixtral", "qwen2_moe"])
def test_experts_detected_and_targeted_with_their_own_rank(tiny_model_dir, kind):
    import warnings

    from peft import LoraConfig, get_peft_model

    model = _load(tiny_model_dir(kind))
    info = detect_experts(model)
    assert info.has_experts and info.num_experts == 4 and info.layers == 2
    assert info.fused_params == ["mlp.experts.down_proj", "mlp.experts.gate_up_proj"]
    assert "4 experts x 2 layers" in info.describe()
    assert all(r.endswith("mlp.gate") for r in info.routers) and len(info.routers) == 2

    cfg = RunConfig()
    cfg.lora.r, cfg.lora.lora_alpha = 8, 16
    cfg.lora.expert_r, cfg.lora.expert_alpha = 4, 4
    notes: list[str] = []
    kwargs = lora_config_kwargs(cfg, model, info, is_vision=False, token_ids=[], notes=notes)
    assert kwargs["lora_dropout"] == 0.0 and "lora_dropout 0.05 -> 0" in notes[0]
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*pattern keys did not match.*")
        peft_model = get_peft_model(model, LoraConfig(**kwargs))
    wrapped = {n: m for n, m in peft_model.named_modules()
               if type(m).__name__ == "ParamWrapper"}
    assert len(wrapped) == 4  # gate_up and down in each of the 2 layers
    for module in wrapped.values():
        assert module.r["default"] == 4 and module.scaling["default"] == 1.0
    q = next(m for n, m in peft_model.named_modules() if n.endswith("layers.0.self_attn.q_proj"))
    assert q.r["default"] == 8
    # the router is left as trained
    trainable = [n for n, p in peft_model.named_parameters() if p.requires_grad]
    assert not any(".mlp.gate." in n for n in trainable)
    assert any("experts" in n and "lora_A" in n for n in trainable)


def test_train_router_is_opt_in(tiny_model_dir):
    from peft import LoraConfig, get_peft_model

    model = _load(tiny_model_dir("mixtral"))
    cfg = RunConfig()
    cfg.lora.train_router = True
    kwargs = lora_config_kwargs(cfg, model, detect_experts(model), is_vision=False, token_ids=[])
    assert kwargs["modules_to_save"] == ["gate"]
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*pattern keys did not match.*")
        peft_model = get_peft_model(model, LoraConfig(**kwargs))
    assert any(".mlp.gate.modules_to_save" in n and p.requires_grad
               for n, p in peft_model.named_parameters())


def test_dense_model_says_no_experts(tiny_model_dir):
    import torch
    from transformers import LlavaForConditionalGeneration

    model = LlavaForConditionalGeneration.from_pretrained(tiny_model_dir("pixtral"),
                                                          dtype=torch.float32)
    info = detect_experts(model)
    assert not info.has_experts and info.describe() == "no experts (dense model)"
    kwargs = lora_config_kwargs(RunConfig(), model, info, is_vision=True, token_ids=[])
    assert "target_parameters" not in kwargs
    import re

    names = [n for n, _ in model.named_modules()]
    hits = [n for n in names if re.fullmatch(kwargs["target_modules"], n)]
    assert hits and all("language_model" in n for n in hits)  # vision tower stays frozen
    assert any("vision_tower" in n and n.endswith("q_proj") for n in names)


@pytest.mark.slow
def test_engine_trains_mixtral_experts(tiny_model_dir, tmp_path):
    from safetensors.torch import load_file

    cfg = RunConfig()
    cfg.model.name_or_path = str(tiny_model_dir("mixtral"))
    cfg.model.max_seq_length = 48
    t = cfg.training
    t.objective, t.max_steps, t.learning_rate = "sft", 2, 1e-3
    t.gradient_accumulation_steps, t.gradient_checkpointing, t.packing = 1, False, False
    rows = [{"messages": [{"role": "user", "content": f"Question {i}?"},
                          {"role": "assistant", "content": f"<reasoning><goal>g{i}</goal>"
                                                           f"</reasoning>\nAnswer {i}."}]}
            for i in range(2)]
    sink = ListSink()
    result = Engine(cfg, sink, run_dir=tmp_path / "run", rows=rows).run()
    assert isinstance(result, TrainingFinished), getattr(result, "traceback", result)
    loaded = sink.of(ModelLoaded)[0]
    assert loaded.experts.startswith("4 experts x 2 layers")
    assert all(math.isfinite(s.loss) for s in sink.of(StepLogged))
    adapter = Path(result.adapter_path)
    acfg = json.loads((adapter / "adapter_config.json").read_text())
    assert sorted(acfg["target_parameters"]) == ["mlp.experts.down_proj",
                                                 "mlp.experts.gate_up_proj"]
    saved = load_file(adapter / "adapter_model.safetensors")
    assert any("experts" in k and "lora_B" in k and v.abs().max() > 0 for k, v in saved.items())
    assert not any(k.endswith("embed_tokens.weight") for k in saved)  # only the new rows


def test_trainable_tokens_attached_after_the_fact(tiny_model_dir, tmp_path):
    """The Unsloth path builds LoRA without trainable tokens and attaches them afterwards:
    only the new rows become trainable, they get gradients, and the adapter records them."""
    import torch
    from peft import LoraConfig, get_peft_model

    from synapse_core.training.backends import attach_trainable_tokens, keep_adapters_small

    model = _load(tiny_model_dir("mistral"))
    model.resize_token_embeddings(131072 + 64)
    model = get_peft_model(model, LoraConfig(r=4, target_modules=["q_proj"]))
    ids = [131072, 131073]
    attach_trainable_tokens(model, {"embed_tokens": ids, "lm_head": ids})
    keep_adapters_small(model)
    deltas = {n: p for n, p in model.named_parameters() if "trainable_tokens_delta" in n}
    assert len(deltas) == 2 and all(p.requires_grad and p.shape[0] == 2 for p in deltas.values())
    assert not model.get_input_embeddings().token_adapter.base_layer.weight.requires_grad
    seq = torch.tensor([[1, 131072, 131073, 131072]])
    model(input_ids=seq, labels=seq).loss.backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in deltas.values())
    model.save_pretrained(tmp_path / "a")
    import json

    saved = json.loads((tmp_path / "a" / "adapter_config.json").read_text())
    assert saved["trainable_token_indices"] == {"embed_tokens": ids, "lm_head": ids}
