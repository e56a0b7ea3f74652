"""The run configuration: one TOML file, declared once as typed models and validated from them.

Every setting is declared once in ``schema.py`` (type, allowed values or range, default, unit,
help); validation and the commented ``--write-config`` file are generated from that. Training
keys use transformers' ``TrainingArguments`` names where the concept is the same, so users'
habits carry over.

Why pydantic (v2) and not msgspec: pydantic is already installed (mistral-common depends on
it), so the schema adds no package; and it reports *every* invalid value of a file in one
pass with its location, where msgspec stops at the first, and a user fixing a config wants
all the problems at once. ``Literal`` holds the choices, ``Field`` bounds the ranges, strict
mode keeps TOML's types honest (``true`` is not a number) and ``extra="forbid"`` catches
misspelt keys (reported with the nearest valid one).

Errors read ``FILE: key: message``, one line per problem, e.g.
``run.toml: training.learning_rate: -1.0 is out of range; allowed (0.0, 1.0]``.
"""

from synapse_core.config.errors import ConfigError, ConfigIssue
from synapse_core.config.gpus import GpuChoice, parse_gpus
from synapse_core.config.rules import config_warnings, score_bounds
from synapse_core.config.schema import (
    BANNED_WORDS, DEMO_MODEL, REASONING_TAGS, REFERENCE_BASE_MODEL, BannedWordsConfig,
    DataConfig, ExportConfig, LoraConfig, ModelConfig, ReasoningConfig, RunConfig,
    ScoringConfig, TrainingConfig, UIConfig, demo_config,
)
from synapse_core.config.toml_file import dump_config, load_config, write_config
from synapse_core.config.validation import config_from_dict, validate

__all__ = [
    "BANNED_WORDS", "DEMO_MODEL", "REASONING_TAGS", "REFERENCE_BASE_MODEL", "BannedWordsConfig",
    "ConfigError", "ConfigIssue", "DataConfig", "ExportConfig", "GpuChoice", "LoraConfig",
    "ModelConfig", "ReasoningConfig", "RunConfig", "ScoringConfig", "TrainingConfig", "UIConfig",
    "config_from_dict", "config_warnings", "demo_config", "dump_config", "load_config",
    "parse_gpus", "score_bounds", "validate", "write_config",
]
