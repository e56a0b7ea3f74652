"""The run config: TOML round-trip, validation naming key and range, unknown keys (with the
nearest valid one), every problem of a file at once, the KTO rule, warnings about empty label
classes, and the commented file written from the schema."""

from __future__ import annotations

import logging
import tomllib
from pathlib import Path

import pytest

from synapse_core.config import (
    REASONING_TAGS, ConfigError, ConfigIssue, GpuChoice, RunConfig, config_from_dict,
    config_warnings, demo_config, dump_config, load_config, parse_gpus, validate, write_config,
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


def test_round_trip_off_and_unset(tmp_path: Path) -> None:
    cfg = RunConfig()
    cfg.training.neftune_noise_alpha = 0.0  # off
    text = dump_config(cfg)
    assert "\n# min_score = " in text and '"none"' not in text  # unset: commented out
    assert load_config(write_config(cfg, tmp_path / "run.toml")) == cfg
    cfg.scoring.min_score = 0.5
    back = load_config(write_config(cfg, tmp_path / "set.toml"))
    assert back.scoring.min_score == 0.5 and back == cfg


def test_files_with_the_old_none_spelling_still_load(tmp_path: Path) -> None:
    """Run folders written before the schema hold ``min_score = "none"``: they must resume."""
    path = tmp_path / "run.toml"
    path.write_text('[scoring]\nmin_score = "none"\n[training]\nneftune_noise_alpha = "None"\n',
                    encoding="utf-8")
    cfg = load_config(path)
    assert cfg.scoring.min_score is None and cfg.training.neftune_noise_alpha == 0.0


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
    ("[training]\nlearning_rate = -1.0", "training.learning_rate",
     "-1.0 is out of range; allowed (0.0, 1.0]"),
    ("[training]\nlearning_rate = nan", "training.learning_rate", "expected a finite number"),
    ("[training]\nlearning_rate = true", "training.learning_rate", "expected a number"),
    ("[training]\nmax_steps = -2", "training.max_steps", "allowed [-1, inf]"),
    ("[training]\ngpus = \"1,x\"", "training.gpus", "'1,x' is not allowed"),
    ("[training]\ngpus = \"cpu:0\"", "training.gpus", "needs N between 1 and 64"),
    ("[training]\npreview_prompt = 3", "training.preview_prompt", "expected a string, got 3"),
    ("[ui]\nkeymap = { a = 1 }", "ui.keymap", "expected a table of strings"),
    ("training = 5", "training", "expected a table [training], got 5"),
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
    assert "did you mean training?" in str(info.value)


@pytest.mark.parametrize(("section", "typo", "meant"), [
    ("training", "lr", "learning_rate"),
    ("training", "learning_rte", "learning_rate"),
    ("training", "batch_size", "per_device_train_batch_size"),
    ("training", "epochs", "num_train_epochs"),
    ("lora", "alpha", "lora_alpha"),
    ("model", "max_seq_len", "max_seq_length"),
])
def test_unknown_key_names_the_nearest_valid_one(section: str, typo: str, meant: str) -> None:
    with pytest.raises(ConfigError) as info:
        config_from_dict({section: {typo: 1}})
    assert info.value.key == f"{section}.{typo}"
    assert info.value.message.startswith(f"unknown key; did you mean {meant}?")
    # a close match stands alone; a guess comes with the whole list
    assert ("known keys: " in info.value.message) == (typo in ("lr", "batch_size", "epochs"))


def test_every_problem_of_a_file_is_reported_in_file_order(tmp_path: Path) -> None:
    path = tmp_path / "run.toml"
    path.write_text("[training]\nobjective = \"kto\"\nper_device_train_batch_size = 1\n"
                    "learning_rate = -1.0\nepochs = 3\n"
                    "[lora]\nr = 0\n[scoring]\nw_bias = \"half\"\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    err = info.value
    assert [i.key for i in err.issues] == [
        "training.per_device_train_batch_size", "training.learning_rate", "training.epochs",
        "lora.r", "scoring.w_bias"]
    lines = str(err).splitlines()
    assert lines == [str(i) for i in err.issues] and len(lines) == 5
    assert lines[1] == (f"{path}: training.learning_rate: -1.0 is out of range; "
                        "allowed (0.0, 1.0]")
    assert all(line.startswith(f"{path}: ") for line in lines)
    assert err.key == "training.per_device_train_batch_size" and err.source == str(path)


def test_validate_reports_every_problem_after_changes_in_code() -> None:
    cfg = RunConfig()
    cfg.training.learning_rate = 0.0
    cfg.lora.r = 16.5  # type: ignore[assignment]  # what a caller might do
    cfg.reasoning.tags = []
    with pytest.raises(ConfigError) as info:
        validate(cfg)
    assert [i.key for i in info.value.issues] == [
        "reasoning.tags", "lora.r", "training.learning_rate"]
    assert "expected an integer, got 16.5" in str(info.value)


def test_a_config_error_of_one_problem_reads_as_before() -> None:
    err = ConfigError("training.gpus", "GPU 3 does not exist", "run.toml")
    assert str(err) == "run.toml: training.gpus: GPU 3 does not exist"
    assert err.issues == [ConfigIssue("training.gpus", "GPU 3 does not exist", "run.toml")]
    assert str(ConfigError("(file)", "config file not found")) == "(file): config file not found"


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


def test_parse_gpus_returns_a_typed_choice() -> None:
    assert parse_gpus("auto") == GpuChoice("auto") and not parse_gpus("auto").launches_ranks
    assert parse_gpus(" ALL ") == GpuChoice("all")
    assert parse_gpus("1, 0") == GpuChoice("cuda", cuda_indices=(1, 0))
    assert parse_gpus("cpu:2") == GpuChoice("cpu", cpu_ranks=2)
    assert parse_gpus("cpu:2").launches_ranks
    with pytest.raises(ConfigError, match="names a GPU twice") as info:
        parse_gpus("0,0", "run.toml")
    assert str(info.value).startswith("run.toml: training.gpus: ")


def test_written_file_carries_each_settings_help_from_the_schema(tmp_path: Path) -> None:
    lines = dump_config(RunConfig()).splitlines()
    for name, section in RunConfig().sections().items():
        for key, info in type(section).model_fields.items():
            at = next(i for i, line in enumerate(lines)
                      if line.startswith((f"{key} = ", f"# {key} = ")))
            assert lines[at - 1].startswith("# ") and info.description in lines[at - 1]
    text = "\n".join(lines)
    assert "# bytes; a longer line is reported and set aside" in text
    assert "# peak LR (reference 5e-7) | allowed (0.0, 1.0]\nlearning_rate = 5e-07\n" in text
    assert "| one of kto, sft\nobjective = \"kto\"\n" in text
    text = dump_config(RunConfig(), comments=False)
    assert not [line for line in text.splitlines()[2:]
                if line.startswith("# ") and " = " not in line]


def test_defaults_and_demo_raise_no_warning() -> None:
    assert config_warnings(RunConfig()) == [] and config_warnings(demo_config()) == []
    assert validate(RunConfig()) == []


@pytest.mark.parametrize(("scoring", "objective", "key", "words"), [
    ({"threshold": 5.0}, "kto", "scoring.threshold",
     "5.0 is above the best reachable score 1.75 (1.0 for rows without reasoning): no row can be "
     "desirable, so KTO gets no desirable rows"),
    ({"threshold": 1.76}, "sft", "scoring.threshold", "SFT has no row to train on"),
    ({"w_reasoning": 0.0}, "kto", "scoring.threshold", "best reachable score 1.0 "),
    ({"threshold": -0.5}, "kto", "scoring.threshold",
     "-0.5 is at or below the lowest reachable score -0.5: every row is desirable"),
    ({"min_score": 2.0}, "sft", "scoring.min_score", "every row is dropped"),
    ({"min_score": 1.25}, "kto", "scoring.min_score",
     "1.25 is at or above scoring.threshold 1.25: every undesirable row is dropped"),
])
def test_a_setting_that_empties_a_label_class_is_warned_about(
        tmp_path: Path, caplog: pytest.LogCaptureFixture, scoring: dict, objective: str,
        key: str, words: str) -> None:
    path = tmp_path / "run.toml"
    lines = [f"{k} = {v}" for k, v in scoring.items()]
    path.write_text("[scoring]\n" + "\n".join(lines) + f'\n[training]\nobjective = "{objective}"'
                    "\nper_device_train_batch_size = 2\n", encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="synapse_core.config"):
        cfg = load_config(path)  # a warning is not fatal
    warnings = config_warnings(cfg)
    assert [w.key for w in warnings] == [key] and words in warnings[0].message
    assert str(warnings[0]).startswith(f"{path}: {key}: ")
    assert [r.getMessage() for r in caplog.records] == [f"warning: {warnings[0]}"]
    assert validate(cfg) == warnings


@pytest.mark.parametrize("scoring", [
    {"threshold": 1.75},  # exactly the best score: a perfect row with reasoning reaches it
    {"threshold": -0.49},
    {"min_score": 1.0},   # below the threshold: both labels remain
])
def test_reachable_settings_are_not_warned_about(scoring: dict) -> None:
    assert config_warnings(config_from_dict({"scoring": scoring})) == []


def test_sft_does_not_need_undesirable_rows() -> None:
    cfg = config_from_dict({"scoring": {"threshold": -1.0, "min_score": 1.5},
                            "training": {"objective": "sft"}})
    assert config_warnings(cfg) == []


def test_a_runaway_value_is_quoted_short() -> None:
    with pytest.raises(ConfigError) as info:
        config_from_dict({"banned_words": {"words": list(range(100_000))},
                          "x" * 1_000_000: {}})
    lines = str(info.value).splitlines()
    assert lines[0].startswith("banned_words.words: expected a list of strings, got [0, 1, 2,")
    assert len(lines[0]) < 200 and lines[0].endswith("...")
    assert "did you mean" in lines[1] and len(lines[1]) < 500
