"""The run configuration: one TOML file loaded into typed, validated dataclasses.

Every section is a frozen-free dataclass whose fields carry their unit, allowed range and the
reason for the default in the field metadata. ``load_config`` reads TOML, ``dump_config``
writes it back (round-trips), ``validate`` raises ``ConfigError`` naming the dotted key and
what is allowed. Training keys use transformers' ``TrainingArguments`` names where the
concept is the same, so users' habits carry over.
"""

from __future__ import annotations

import dataclasses
import math
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_args, get_origin, get_type_hints

from synapse_core.fileio import atomic_write_text

REASONING_TAGS: tuple[str, ...] = (
    "reasoning", "mem", "goal", "subgoal", "prog", "done", "now", "ctx", "kg", "tri", "subj",
    "pred", "obj", "logic", "prop", "sym", "nat", "crit", "doubt", "proof", "step", "chain",
    "reflect", "err", "note", "warn", "verb", "cont",
)
"""The 28 reasoning tag names of the reference schema (each becomes two special tokens)."""

BANNED_WORDS: tuple[str, ...] = ("delve", "tapestry", "embark", "revolutionize", "Ah")
"""The reference's banned words."""

REFERENCE_BASE_MODEL = "unsloth/Pixtral-12B-Base-2409"
DEMO_MODEL = "demo"
"""The model name that means: the tiny random-init Pixtral built into the user cache."""


class ConfigError(ValueError):
    """A configuration value is missing, of the wrong type or out of range.

    ``key`` is the dotted TOML key (``training.learning_rate``), ``source`` the file if any.
    """

    def __init__(self, key: str, message: str, source: str | None = None) -> None:
        self.key = key
        self.source = source
        where = f"{source}: " if source else ""
        super().__init__(f"{where}{key}: {message}")


def _f(default: Any, help: str, *, lo: float | None = None, hi: float | None = None,
       choices: tuple[Any, ...] | None = None, lo_open: bool = False, factory: bool = False) -> Any:
    meta = {"help": help, "lo": lo, "hi": hi, "choices": choices, "lo_open": lo_open}
    if factory:
        return field(default_factory=default, metadata=meta)
    return field(default=default, metadata=meta)


@dataclass
class DataConfig:
    """Where the data is and how strictly it is read."""

    path: str = _f("", "JSONL file or saved `datasets` folder; empty = the embedded demo dataset")
    max_line_bytes: int = _f(1_000_000, "bytes; a longer line is reported and set aside "
                             "(guards memory against a runaway line)", lo=1)
    decisions_path: str = _f("", "review decisions sidecar; empty = next to the run config "
                             "(or in the user data folder for the demo)")


@dataclass
class ScoringConfig:
    """score = w_conversation*cq - w_bias*bias + w_reasoning*rq; desirable when >= threshold."""

    w_conversation: float = _f(1.0, "weight of conversation_quality (reference 1.0)", lo=0.0, hi=10.0)
    w_bias: float = _f(0.5, "weight subtracted per unit of bias_detection (reference 0.5)", lo=0.0, hi=10.0)
    w_reasoning: float = _f(0.75, "weight of reasoning_quality (reference 0.75)", lo=0.0, hi=10.0)
    threshold: float = _f(1.25, "score at or above which a row is desirable (reference 1.25)",
                          lo=-100.0, hi=100.0)
    min_score: float | None = _f(None, "drop rows scoring below this before training; "
                                 "unset = keep both labels for KTO", lo=-100.0, hi=100.0)


@dataclass
class BannedWordsConfig:
    """Words detected in the data and suppressed at generation time."""

    words: list[str] = _f(lambda: list(BANNED_WORDS), "whole words, case-insensitive",
                          factory=True)
    policy: str = _f("flag", "flag: mark and keep; drop: leave the row out of training; "
                     "keep: ignore matches", choices=("flag", "drop", "keep"))


@dataclass
class ReasoningConfig:
    """The reasoning schema's tags, added to the tokenizer as special tokens."""

    tags: list[str] = _f(lambda: list(REASONING_TAGS), "tag names; each adds <t> and </t>",
                         factory=True)
    add_special_tokens: bool = _f(True, "add the tags as special tokens and train their rows")


@dataclass
class ModelConfig:
    """The base model and how it is loaded."""

    name_or_path: str = _f(DEMO_MODEL, f"HF id or local folder; '{DEMO_MODEL}' = a tiny random-init "
                           f"Pixtral built on first use (the reference uses {REFERENCE_BASE_MODEL})")
    max_seq_length: int = _f(4096, "tokens per row, longer rows are truncated (reference 4096)",
                             lo=16, hi=1_048_576)
    load_in_4bit: bool = _f(True, "4-bit NF4 weights where bitsandbytes and a GPU allow (reference)")
    backend: str = _f("auto", "auto: Unsloth when CUDA and unsloth are there, else HF+PEFT",
                      choices=("auto", "unsloth", "hf"))
    attn_implementation: str = _f("auto", "auto: flash_attention_2 when installed, else sdpa",
                                  choices=("auto", "flash_attention_2", "sdpa", "eager"))
    dtype: str = _f("auto", "auto: bf16 where supported, else fp32 on CPU",
                    choices=("auto", "bfloat16", "float16", "float32"))
    text_only: bool = _f(True, "train the language layers only; the vision tower stays frozen")
    decoder_only: bool = _f(False, "text-only runs of a vision model load and train its decoder "
                            "alone (faster, lighter); the adapter is mapped back to the full "
                            "model for merge and export")


@dataclass
class LoraConfig:
    """LoRA adapter settings (reference: r 16, alpha 32, dropout 0.05 on all linear layers)."""

    r: int = _f(16, "rank", lo=1, hi=4096)
    lora_alpha: int = _f(32, "scaling numerator (alpha / r)", lo=1, hi=65536)
    lora_dropout: float = _f(0.05, "dropout on the LoRA input", lo=0.0, hi=0.9)
    target_modules: list[str] = _f(
        lambda: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
        "module names (reference: attention and MLP projections)", factory=True)
    expert_r: int = _f(16, "rank for mixture-of-experts expert weights (ignored for dense models)",
                       lo=1, hi=4096)
    expert_alpha: int = _f(32, "alpha for expert weights", lo=1, hi=65536)
    train_router: bool = _f(False, "also adapt the MoE router (off: routing stays as trained)")
    train_new_token_rows: bool = _f(True, "train the embedding rows of the added reasoning tokens")


@dataclass
class TrainingConfig:
    """Optimisation settings; names follow transformers.TrainingArguments."""

    objective: str = _f("kto", "kto (reference main notebook) or sft (beginner notebook)",
                        choices=("kto", "sft"))
    learning_rate: float = _f(5e-7, "peak LR (reference 5e-7)", lo=0.0, hi=1.0, lo_open=True)
    num_train_epochs: float = _f(3.0, "epochs (reference 3)", lo=0.0, hi=1000.0, lo_open=True)
    max_steps: int = _f(-1, "optimizer steps; -1 = from epochs", lo=-1)
    per_device_train_batch_size: int = _f(2, "rows per device batch; KTO needs >= 2 for its KL "
                                          "term (reference 1 x 8 becomes 2 x 4)", lo=1, hi=4096)
    gradient_accumulation_steps: int = _f(4, "micro-batches per optimizer step", lo=1, hi=4096)
    optim: str = _f("paged_adamw_8bit", "optimizer; falls back to adamw_torch on CPU (said in the log)",
                    choices=("paged_adamw_8bit", "adamw_8bit", "adamw_torch", "adamw_torch_fused",
                             "sgd", "adafactor"))
    warmup_ratio: float = _f(0.1, "share of steps warming up (reference 0.1)", lo=0.0, hi=1.0)
    lr_scheduler_type: str = _f("cosine", "LR schedule (reference cosine)",
                                choices=("cosine", "linear", "constant", "constant_with_warmup",
                                         "cosine_with_restarts", "polynomial"))
    max_grad_norm: float = _f(0.3, "gradient clipping (reference 0.3)", lo=0.0)
    neftune_noise_alpha: float | None = _f(5.0, "NEFTune noise (reference 5); unset = off", lo=0.0)
    weight_decay: float = _f(0.0, "AdamW weight decay", lo=0.0, hi=1.0)
    bf16: str = _f("auto", "auto: bf16 where the device supports it", choices=("auto", "true", "false"))
    gradient_checkpointing: bool = _f(True, "recompute activations (Unsloth's own on GPU)")
    seed: int = _f(3407, "seed (reference 3407)", lo=0)
    logging_steps: int = _f(1, "log every N optimizer steps", lo=1)
    save_steps: int = _f(50, "checkpoint every N optimizer steps", lo=1)
    save_total_limit: int = _f(3, "checkpoints kept", lo=1)
    beta: float = _f(0.1, "KTO beta (reference 0.1)", lo=0.0, lo_open=True, hi=100.0)
    desirable_weight: float = _f(1.0, "KTO weight of desirable rows", lo=0.0, lo_open=True)
    undesirable_weight: float = _f(1.0, "KTO weight of undesirable rows", lo=0.0, lo_open=True)
    packing: bool = _f(True, "SFT: pack rows padding-free (no wasted pad tokens)")
    assistant_only_loss: bool = _f(True, "SFT: loss on assistant tokens only")
    preview_steps: int = _f(0, "generate a preview every N steps; 0 = off", lo=0)
    preview_prompt: str = _f("What is entropy, in one paragraph?", "prompt used for previews")
    preview_max_new_tokens: int = _f(48, "tokens per preview", lo=1, hi=4096)
    runs_dir: str = _f("{data_dir}/runs", "where run directories are created; {data_dir} is "
                       "the per-user data folder ($XDG_DATA_HOME/synapse-tui), so every shell "
                       "finds the same runs; a relative path is taken from the config file's "
                       "folder (runs_dir = 'runs' keeps the old ./runs layout)")
    on_finish: str = _f("", "shell command run once when a run ends (finished, stopped, failed "
                        "or died), detached or not, with SYNAPSE_RUN_DIR, SYNAPSE_RUN_STATE, "
                        "SYNAPSE_RUN_STEP and SYNAPSE_RUN_LOSS set; its failure is logged, "
                        "never fatal; empty = none")
    gpus: str = _f("auto", "which devices train: 'auto' = this process, one device (CUDA if "
                   "present, else CPU); 'all' = every visible CUDA GPU, one torchrun rank each; "
                   "'0,1' = those CUDA indices (CUDA order), one rank each; 'cpu:N' = N gloo "
                   "ranks on the CPU (tests, machines without a GPU). Anything but 'auto' runs "
                   "through torchrun, even one GPU")
    stop_timeout_s: float = _f(600.0, "multi-process runs: seconds the ranks get to checkpoint "
                               "and exit after a stop (a stop during model load waits for the "
                               "first step) before the process group is killed", lo=1.0)


@dataclass
class ExportConfig:
    """GGUF export settings (reference: Q4_K_M, expert tensors Q6_K)."""

    quant: str = _f("q4_k_m", "llama.cpp quantization type")
    overrides: dict[str, str] = _f(lambda: {r"_exps\.": "q6_k"},
                                   "tensor-name regex -> llama.cpp type", factory=True)
    mmproj: bool = _f(True, "write the vision tower to a separate mmproj GGUF")
    out_dir: str = _f("{data_dir}/exports", "where exports are written ({data_dir}: as "
                      "training.runs_dir)")
    verify: bool = _f(True, "load the result in llama.cpp and compare logits with the HF model")
    min_top1_agreement: float = _f(0.9, "bf16 GGUF vs HF top-1 agreement below this fails",
                                   lo=0.0, hi=1.0)


@dataclass
class UIConfig:
    """The dashboard's look and keys."""

    theme: str = _f("synapse-dark", "a theme from themes/ or a Textual built-in")
    keymap: dict[str, str] = _f(dict, "binding id -> key(s), e.g. {show-training = 'f3'}",
                                factory=True)


@dataclass
class RunConfig:
    """The whole run configuration (one TOML file, one table per section)."""

    data: DataConfig = field(default_factory=DataConfig)
    scoring: ScoringConfig = field(default_factory=ScoringConfig)
    banned_words: BannedWordsConfig = field(default_factory=BannedWordsConfig)
    reasoning: ReasoningConfig = field(default_factory=ReasoningConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    lora: LoraConfig = field(default_factory=LoraConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    export: ExportConfig = field(default_factory=ExportConfig)
    ui: UIConfig = field(default_factory=UIConfig)

    source: str | None = field(default=None, compare=False, repr=False)
    """The file this was loaded from (not written back)."""

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict of the sections (what goes into TOML)."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            if f.name == "source":
                continue
            out[f.name] = dataclasses.asdict(getattr(self, f.name))
        return out

    @property
    def base_dir(self) -> Path:
        """Folder relative paths in the config are taken from (the file's, else the cwd)."""
        return Path(self.source).resolve().parent if self.source else Path.cwd()

    def resolve_path(self, value: str) -> Path:
        """A path from the config, relative to the config file's folder; ``{data_dir}``
        is the per-user data folder (``synapse_core.paths.data_dir``)."""
        if "{data_dir}" in value:
            from synapse_core.paths import data_dir

            value = value.replace("{data_dir}", str(data_dir()))
        p = Path(os.path.expanduser(value))
        return p if p.is_absolute() else self.base_dir / p


# ---------------------------------------------------------------------------------------------
# validation

def _check_type(key: str, value: Any, typ: Any, source: str | None) -> Any:
    origin = get_origin(typ)
    args = get_args(typ)
    if origin is type(None) or typ is type(None):
        return value
    # Optional[X] written as X | None
    if args and type(None) in args and origin is not list and origin is not dict:
        # TOML has no null: an optional key is switched off with the string "none"
        if value is None or (isinstance(value, str) and value.lower() == "none"):
            return None
        inner = [a for a in args if a is not type(None)][0]
        return _check_type(key, value, inner, source)
    if typ is bool:
        if not isinstance(value, bool):
            raise ConfigError(key, f"expected true or false, got {value!r}", source)
        return value
    if typ is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(key, f"expected an integer, got {value!r}", source)
        return value
    if typ is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(key, f"expected a number, got {value!r}", source)
        if not math.isfinite(value):
            raise ConfigError(key, f"expected a finite number, got {value!r}", source)
        return float(value)
    if typ is str:
        if not isinstance(value, str):
            raise ConfigError(key, f"expected a string, got {value!r}", source)
        return value
    if origin is list:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(key, f"expected a list of strings, got {value!r}", source)
        return list(value)
    if origin is dict:
        if not isinstance(value, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
            raise ConfigError(key, f"expected a table of strings, got {value!r}", source)
        return dict(value)
    raise ConfigError(key, f"unsupported type {typ!r}", source)  # pragma: no cover


def _check_range(key: str, value: Any, meta: dict[str, Any], source: str | None) -> None:
    if value is None:
        return
    choices = meta.get("choices")
    if choices is not None and value not in choices:
        raise ConfigError(key, f"{value!r} is not allowed; choose one of "
                          f"{', '.join(map(str, choices))}", source)
    lo, hi = meta.get("lo"), meta.get("hi")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        too_low = lo is not None and (value <= lo if meta.get("lo_open") else value < lo)
        too_high = hi is not None and value > hi
        if too_low or too_high:
            left = "(" if meta.get("lo_open") else "["
            rng = f"{left}{'-inf' if lo is None else lo}, {'inf' if hi is None else hi}]"
            raise ConfigError(key, f"{value!r} is out of range; allowed {rng}", source)


def _build_section(cls: type, name: str, raw: dict[str, Any], source: str | None) -> Any:
    if not isinstance(raw, dict):
        raise ConfigError(name, f"expected a table [{name}], got {raw!r}", source)
    hints = get_type_hints(cls)
    known = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - set(known))
    if unknown:
        raise ConfigError(f"{name}.{unknown[0]}", "unknown key; known keys: "
                          + ", ".join(sorted(known)), source)
    kwargs = {}
    for fname, f in known.items():
        if fname not in raw:
            continue
        key = f"{name}.{fname}"
        value = _check_type(key, raw[fname], hints[fname], source)
        _check_range(key, value, dict(f.metadata), source)
        kwargs[fname] = value
    return cls(**kwargs)


def _section_types() -> dict[str, type]:
    hints = get_type_hints(RunConfig)
    return {f.name: hints[f.name] for f in dataclasses.fields(RunConfig) if f.name != "source"}


def config_from_dict(raw: dict[str, Any], source: str | None = None) -> RunConfig:
    """Build and validate a RunConfig from a nested dict (missing keys take defaults)."""
    sections = _section_types()
    unknown = sorted(set(raw) - set(sections))
    if unknown:
        raise ConfigError(unknown[0], "unknown section; known sections: "
                          + ", ".join(sections), source)
    built = {name: _build_section(cls, name, raw.get(name, {}), source)
             for name, cls in sections.items()}
    cfg = RunConfig(**built, source=source)
    validate(cfg)
    return cfg


def validate(cfg: RunConfig) -> None:
    """Check every field's type and range plus the rules that span fields."""
    hints_by_section = _section_types()
    for name, cls in hints_by_section.items():
        section = getattr(cfg, name)
        hints = get_type_hints(cls)
        for f in dataclasses.fields(section):
            key = f"{name}.{f.name}"
            value = _check_type(key, getattr(section, f.name), hints[f.name], cfg.source)
            _check_range(key, value, dict(f.metadata), cfg.source)
    t = cfg.training
    if t.objective == "kto" and t.per_device_train_batch_size < 2:
        raise ConfigError("training.per_device_train_batch_size",
                          f"{t.per_device_train_batch_size} is out of range for objective 'kto'; "
                          "allowed [2, 4096] (TRL's KTO pairs rows in a batch for its KL term)",
                          cfg.source)
    parse_gpus(t.gpus, cfg.source)
    if not cfg.reasoning.tags or len(set(cfg.reasoning.tags)) != len(cfg.reasoning.tags):
        raise ConfigError("reasoning.tags", "must be a non-empty list without repeats", cfg.source)
    for pattern in cfg.export.overrides:
        import re
        try:
            re.compile(pattern)
        except re.error as e:
            raise ConfigError(f"export.overrides.{pattern}", f"not a valid regex: {e}",
                              cfg.source) from e


def parse_gpus(value: str, source: str | None = None) -> tuple[str, object]:
    """Syntax of ``training.gpus``: ("auto", None), ("all", None), ("cuda", [indices]) or
    ("cpu", ranks). Whether the GPUs exist is checked when the run starts (it needs torch)."""
    v = value.strip().lower()
    if v in ("auto", "all"):
        return v, None
    if v.startswith("cpu:"):
        n = v[4:].strip()
        if not n.isdigit() or not 1 <= int(n) <= 64:
            raise ConfigError("training.gpus", f"{value!r}: 'cpu:N' needs N between 1 and 64",
                              source)
        return "cpu", int(n)
    items = [x.strip() for x in v.split(",")]
    if not items or not all(x.isdigit() for x in items):
        raise ConfigError("training.gpus", f"{value!r} is not allowed; use 'auto', 'all', "
                          "a comma list of CUDA indices ('0,1') or 'cpu:N'", source)
    indices = [int(x) for x in items]
    if len(set(indices)) != len(indices):
        raise ConfigError("training.gpus", f"{value!r} names a GPU twice", source)
    return "cuda", indices


def demo_config() -> RunConfig:
    """The configuration used when no file is given: the reference's settings, except the
    training sizes, which are cut so the tiny demo model takes a step in seconds on a CPU.

    The reference hyper-parameters (4,096 tokens, batches of 2 x 4, lr 5e-7 for 3 epochs)
    are for Pixtral-12B on a GPU: on the demo model a CPU step takes minutes and the loss
    would not visibly move. ``--write-config`` writes the reference defaults, not these.

    A tiny model's step is the 131k-token vocabulary, not the model (profiled, issue 18): a
    KTO step runs four forwards (policy, reference, and both on the KL pairs), each making
    131k logits per token, and PEFT's trainable tag rows copy and differentiate the whole
    131k x 256 embedding and LM head on every forward. Per step, one CPU thread: 9.5 s at
    512 tokens with the tag rows trained, 3.3 s at 128, 2.2 s at 128 without them. So the
    demo trains 128 tokens a row (the prompt and the opening of the reply: the median demo
    reply is 319 tokens) and keeps the tags' rows where the demo model put them (the mean of
    each tag's pieces; a random model learns nothing from them). Real runs train them.
    """
    cfg = RunConfig()
    cfg.model.max_seq_length = 128
    cfg.lora.train_new_token_rows = False
    t = cfg.training
    t.gradient_accumulation_steps = 1
    t.learning_rate = 2e-4
    t.num_train_epochs = 1.0
    t.max_steps = 60
    t.gradient_checkpointing = False
    t.save_steps = 20
    t.preview_steps = 20
    return cfg


def load_config(path: str | os.PathLike[str] | None) -> RunConfig:
    """Read a TOML run config; ``None`` gives ``demo_config()``. Errors name the file and key."""
    if path is None:
        return demo_config()
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError("(file)", "config file not found", str(p)) from None
    except UnicodeDecodeError as e:
        raise ConfigError("(file)", f"not UTF-8 text ({e.reason} at byte {e.start})", str(p)) from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError("(toml)", str(e), str(p)) from None
    return config_from_dict(raw, source=str(p))


# ---------------------------------------------------------------------------------------------
# writing

def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return _toml_str(v)
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{_toml_str(k)} = {_toml_value(x)}" for k, x in v.items()) + " }"
    raise TypeError(f"cannot write {v!r} to TOML")


def _toml_str(s: str) -> str:
    out = s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t")
    return f'"{out}"'


def dump_config(cfg: RunConfig, *, comments: bool = True) -> str:
    """TOML text of ``cfg``; with ``comments`` each key carries its help line."""
    lines = ["# synapse-tui run configuration. Every key is optional; these are the defaults.",
             '# An optional key is switched off with "none" (TOML has no null).']
    for name in _section_types():
        section = getattr(cfg, name)
        lines.append("")
        lines.append(f"[{name}]")
        for f in dataclasses.fields(section):
            value = getattr(section, f.name)
            if comments and f.metadata.get("help"):
                lines.append(f"# {f.metadata['help']}")
            if value is None:
                lines.append(f'{f.name} = "none"')
            else:
                lines.append(f"{f.name} = {_toml_value(value)}")
    return "\n".join(lines) + "\n"


def write_config(cfg: RunConfig, path: str | os.PathLike[str]) -> Path:
    """Write ``cfg`` as TOML atomically."""
    return atomic_write_text(Path(path), dump_config(cfg))
