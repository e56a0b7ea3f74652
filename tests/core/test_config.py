"""The run config: TOML round-trip, validation naming key and range, unknown keys, KTO rule."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from synapse_core.config import (
    REASONING_TAGS, ConfigError, RunConfig, config_from_dict, dump_config, load_config,
    write_config,
)


def test_defaults_follow_the_reference() -> None:
    cfg = RunConfig()
    t = cfg.training
    assert (t.objective, t.learning_rate, t.num_train_epochs, t.beta) == ("kto", 5e-7, 3.0, 0.1)
    assert (t.warmup_ratio, t.lr_scheduler_type, t.max_grad_norm, t.seed) == (0.1, "cosine",
                                                                             0.3, 3407)
    # 2 x 4 keeps the reference's effective batch of 8 while KTO gets its pairs
    assert t.per_device_train_batch_size * t.gradient_accumulation_steps == 8
    assert (cfg.lora.r, cfg.lora.lora_alpha, cfg.lora.lora_dropout) == (16, 32, 0.05)
    assert cfg.scoring.threshold == 1.25 and len(cfg.reasoning.tags) == 28 == len(REASONING_TAGS)


def test_round_trip_defaults(tmp_path: Path) -> None:
    path = write_config(RunConfig(), tmp_path / "run.toml")
    assert load_config(path) == RunConfig()


def test_round_trip_changed_values(tmp_path: Path) -> None:
    cfg = RunConfig()
    cfg.data.path = 'my "quoted" data\\set.jsonl'
    cfg.training.objective = "sft"
    cfg.training.per_device_train_batch_size = 1  # allowed for SFT
    cfg.training.learning_rate = 2e-4
    cfg.scoring.min_score = 0.75
    cfg.banned_words.words = ["delve", "Ah", "naïve"]
    cfg.export.overrides = {r"_exps\.": "q6_k", r"attn_q": "q8_0"}
    cfg.ui.keymap = {"show-training": "f9", "stop-training": "ctrl+x"}
    cfg.ui.theme = "synapse-light"
    text = dump_config(cfg)
    tomllib.loads(text)  # valid TOML
    path = write_config(cfg, tmp_path / "run.toml")
    back = load_config(path)
    assert back == cfg
    assert back.source == str(path)


def test_round_trip_unset_optional_with_default(tmp_path: Path) -> None:
    cfg = RunConfig()
    cfg.training.neftune_noise_alpha = None
    assert load_config(write_config(cfg, tmp_path / "run.toml")) == cfg


def test_partial_file_takes_defaults(tmp_path: Path) -> None:
    path = tmp_path / "run.toml"
    path.write_text('[training]\nobjective = "sft"\nmax_steps = 10\n', encoding="utf-8")
    cfg = load_config(path)
    assert cfg.training.objective == "sft" and cfg.training.max_steps == 10
    assert cfg.lora == RunConfig().lora


@pytest.mark.parametrize(("toml", "key", "words"), [
    ("[training]\nlearning_rate = 0", "training.learning_rate", "allowed (0.0, 1.0]"),
    ("[training]\nlearning_rate = 2.5", "training.learning_rate", "allowed (0.0, 1.0]"),
    ("[training]\nwarmup_ratio = -0.1", "training.warmup_ratio", "allowed [0.0, 1.0]"),
    ("[lora]\nr = 0", "lora.r", "allowed [1, 4096]"),
    ("[training]\nmax_steps = -2", "training.max_steps", "allowed [-1, inf]"),
    ("[training]\noptim = \"lion\"", "training.optim", "choose one of paged_adamw_8bit"),
    ("[training]\nobjective = \"dpo\"", "training.objective", "choose one of kto, sft"),
    ("[model]\nload_in_4bit = \"yes\"", "model.load_in_4bit", "expected true or false"),
    ("[lora]\nr = 16.5", "lora.r", "expected an integer"),
    ("[scoring]\nw_bias = \"half\"", "scoring.w_bias", "expected a number"),
    ("[banned_words]\nwords = [1, 2]", "banned_words.words", "expected a list of strings"),
    ("[export]\noverrides = { \"[\" = \"q6_k\" }", "export.overrides.[", "not a valid regex"),
])
def test_invalid_values_name_key_and_range(tmp_path: Path, toml: str, key: str,
                                           words: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(toml + "\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.key == key
    assert str(info.value).startswith(f"{path}: {key}: ")
    assert words in str(info.value)


def test_unknown_keys_and_sections(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        config_from_dict({"training": {"lr": 1e-4}})
    assert info.value.key == "training.lr" and "learning_rate" in str(info.value)
    with pytest.raises(ConfigError) as info:
        config_from_dict({"trainer": {}})
    assert info.value.key == "trainer" and "unknown section" in str(info.value)


def test_kto_needs_a_batch_of_two() -> None:
    with pytest.raises(ConfigError) as info:
        config_from_dict({"training": {"objective": "kto", "per_device_train_batch_size": 1}})
    assert info.value.key == "training.per_device_train_batch_size"
    assert "allowed [2, 4096]" in str(info.value) and "kto" in str(info.value)
    cfg = config_from_dict({"training": {"objective": "sft", "per_device_train_batch_size": 1}})
    assert cfg.training.per_device_train_batch_size == 1


def test_file_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "missing.toml")
    assert "missing.toml" in str(info.value) and "not found" in str(info.value)
    broken = tmp_path / "broken.toml"
    broken.write_text("[training\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(broken)
    assert str(info.value).startswith(f"{broken}: (toml): ")
    latin = tmp_path / "latin.toml"
    latin.write_bytes("[data]\npath = \"caf\xe9\"\n".encode("latin-1"))
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(latin)


def test_repeated_reasoning_tags_are_refused() -> None:
    with pytest.raises(ConfigError) as info:
        config_from_dict({"reasoning": {"tags": ["mem", "mem"]}})
    assert info.value.key == "reasoning.tags"
