"""Every setting, declared once: type, allowed values or range, default, unit and help.

Each section is a pydantic model. ``Literal`` types hold the choices, ``Field`` bounds the
ranges, and ``setting()`` puts the help line and unit beside them; validation
(``synapse_core.config.validation``) and the commented ``--write-config`` file are generated from
these declarations, nothing is checked twice. Sections are strict (TOML's ``true`` is not a
number, ``16.5`` is not an integer) and forbid unknown keys.
"""

from __future__ import annotations

import os
import re
import types
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import annotated_types
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PrivateAttr
from pydantic.fields import FieldInfo
from pydantic_core import PydanticCustomError

from synapse_core.config.gpus import gpus_problem

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


def setting(default: Any = None, help: str = "", *, factory: Any = None, unit: str = "",
            example: Any = None, ge: float | None = None, gt: float | None = None,
            le: float | None = None) -> Any:
    """One setting's declaration: its default (or ``factory``), help line, unit and bounds.

    The help and unit become the comment above the key in ``--write-config``'s file; the
    bounds are checked by pydantic and printed as the allowed range when a value is outside.
    ``example`` is what the written file shows, commented out, for a key unset by default.
    """
    extra = {"unit": unit, "example": example}
    if factory is not None:
        return Field(default_factory=factory, description=help, json_schema_extra=extra)
    return Field(default, description=help, ge=ge, gt=gt, le=le, json_schema_extra=extra)


def unset_type(annotation: Any) -> Any:
    """``float | None`` -> ``float``: the type a setting's value has when it is set."""
    if get_origin(annotation) in (Union, types.UnionType):
        return next(a for a in get_args(annotation) if a is not type(None))
    return annotation


def allowed_range(info: FieldInfo, *, lo: float | None = None) -> str:
    """The bounds of a declared setting as an interval, ``(0.0, 1.0]`` or ``[-1, inf]``.

    ``lo`` replaces the declared lower bound (a rule that spans fields may raise it)."""
    lo_open = hi_open = False
    hi = None
    for bound in info.metadata:
        if isinstance(bound, (annotated_types.Ge, annotated_types.Gt)) and lo is None:
            lo_open = isinstance(bound, annotated_types.Gt)
            lo = bound.gt if lo_open else bound.ge  # type: ignore[union-attr]
        elif isinstance(bound, (annotated_types.Le, annotated_types.Lt)):
            hi_open = isinstance(bound, annotated_types.Lt)
            hi = bound.lt if hi_open else bound.le  # type: ignore[union-attr]
    return (f"{'(' if lo_open else '['}{'-inf' if lo is None else lo}, "
            f"{'inf' if hi is None else hi}{')' if hi_open else ']'}")


def config_problem(message: str) -> PydanticCustomError:
    """A validation error whose text is ``message`` as is (reported as ``FILE: key: message``)."""
    return PydanticCustomError("config", "{message}", {"message": message})


def _valid_gpus(value: str) -> str:
    problem = gpus_problem(value)
    if problem:
        raise config_problem(problem)
    return value


def _distinct_tags(tags: list[str]) -> list[str]:
    if not tags or len(set(tags)) != len(tags):
        raise config_problem("must be a non-empty list without repeats")
    return tags


def _regex(pattern: str) -> str:
    try:
        re.compile(pattern)
    except re.error as e:
        raise config_problem(f"not a valid regex: {e}") from None
    return pattern


class Section(BaseModel):
    """A table of the TOML file: strict types, finite numbers, no unknown keys."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


class DataConfig(Section):
    """Where the data is and how strictly it is read."""

    path: str = setting("", "JSONL file or saved `datasets` folder; empty = the embedded demo "
                        "dataset")
    max_line_bytes: int = setting(1_000_000, "a longer line is reported and set aside "
                                  "(guards memory against a runaway line)", unit="bytes", ge=1)
    decisions_path: str = setting("", "review decisions sidecar; empty = next to the run config "
                                  "(or in the user data folder for the demo)")


class ScoringConfig(Section):
    """score = w_conversation*cq - w_bias*bias + w_reasoning*rq; desirable when >= threshold."""

    w_conversation: float = setting(1.0, "weight of conversation_quality (reference 1.0)",
                                    ge=0.0, le=10.0)
    w_bias: float = setting(0.5, "weight subtracted per unit of bias_detection (reference 0.5)",
                            ge=0.0, le=10.0)
    w_reasoning: float = setting(0.75, "weight of reasoning_quality (reference 0.75)",
                                 ge=0.0, le=10.0)
    threshold: float = setting(1.25, "score at or above which a row is desirable "
                               "(reference 1.25)", ge=-100.0, le=100.0)
    min_score: float | None = setting(None, "drop rows scoring below this before training; "
                                      "unset = keep both labels for KTO", example=0.5,
                                      ge=-100.0, le=100.0)


class BannedWordsConfig(Section):
    """Words detected in the data and suppressed at generation time."""

    words: list[str] = setting(help="whole words, case-insensitive",
                               factory=lambda: list(BANNED_WORDS))
    policy: Literal["flag", "drop", "keep"] = setting(
        "flag", "flag: mark and keep; drop: leave the row out of training; keep: ignore matches")


class ReasoningConfig(Section):
    """The reasoning schema's tags, added to the tokenizer as special tokens."""

    tags: Annotated[list[str], AfterValidator(_distinct_tags)] = setting(
        help="tag names; each adds <t> and </t>", factory=lambda: list(REASONING_TAGS))
    add_special_tokens: bool = setting(True, "add the tags as special tokens and train their rows")


class ModelConfig(Section):
    """The base model and how it is loaded."""

    name_or_path: str = setting(DEMO_MODEL, f"HF id or local folder; '{DEMO_MODEL}' = a tiny "
                                "random-init Pixtral built on first use (the reference uses "
                                f"{REFERENCE_BASE_MODEL})")
    max_seq_length: int = setting(4096, "longer rows are truncated (reference 4096)",
                                  unit="tokens per row", ge=16, le=1_048_576)
    load_in_4bit: bool = setting(True, "4-bit NF4 weights where bitsandbytes and a GPU allow "
                                 "(reference)")
    backend: Literal["auto", "unsloth", "hf"] = setting(
        "auto", "auto: Unsloth when CUDA and unsloth are there, else HF+PEFT")
    attn_implementation: Literal["auto", "flash_attention_2", "sdpa", "eager"] = setting(
        "auto", "auto: flash_attention_2 when installed, else sdpa")
    dtype: Literal["auto", "bfloat16", "float16", "float32"] = setting(
        "auto", "auto: bf16 where supported, else fp32 on CPU")
    text_only: bool = setting(True, "train the language layers only; the vision tower stays "
                              "frozen")
    decoder_only: bool = setting(False, "text-only runs of a vision model load and train its "
                                 "decoder alone (faster, lighter); the adapter is mapped back "
                                 "to the full model for merge and export")


class LoraConfig(Section):
    """LoRA adapter settings (reference: r 16, alpha 32, dropout 0.05 on all linear layers)."""

    r: int = setting(16, "rank", ge=1, le=4096)
    lora_alpha: int = setting(32, "scaling numerator (alpha / r)", ge=1, le=65536)
    lora_dropout: float = setting(0.05, "dropout on the LoRA input", ge=0.0, le=0.9)
    target_modules: list[str] = setting(
        help="module names (reference: attention and MLP projections)",
        factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj",
                         "down_proj"])
    expert_r: int = setting(16, "rank for mixture-of-experts expert weights (ignored for dense "
                            "models)", ge=1, le=4096)
    expert_alpha: int = setting(32, "alpha for expert weights", ge=1, le=65536)
    train_router: bool = setting(False, "also adapt the MoE router (off: routing stays as "
                                 "trained)")
    train_new_token_rows: bool = setting(True, "train the embedding rows of the added reasoning "
                                         "tokens")


Optimizer = Literal["paged_adamw_8bit", "adamw_8bit", "adamw_torch", "adamw_torch_fused", "sgd",
                    "adafactor"]
Scheduler = Literal["cosine", "linear", "constant", "constant_with_warmup",
                    "cosine_with_restarts", "polynomial"]


class TrainingConfig(Section):
    """Optimisation settings; names follow transformers.TrainingArguments."""

    objective: Literal["kto", "sft"] = setting(
        "kto", "kto (reference main notebook) or sft (beginner notebook)")
    learning_rate: float = setting(5e-7, "peak LR (reference 5e-7)", gt=0.0, le=1.0)
    num_train_epochs: float = setting(3.0, "epochs (reference 3)", gt=0.0, le=1000.0)
    max_steps: int = setting(-1, "optimizer steps; -1 = from epochs", ge=-1)
    per_device_train_batch_size: int = setting(
        2, "rows per device batch; KTO needs >= 2 for its KL term (reference 1 x 8 becomes "
        "2 x 4)", ge=1, le=4096)
    gradient_accumulation_steps: int = setting(4, "micro-batches per optimizer step",
                                               ge=1, le=4096)
    optim: Optimizer = setting("paged_adamw_8bit", "optimizer; falls back to adamw_torch on CPU "
                               "(said in the log)")
    warmup_ratio: float = setting(0.1, "share of steps warming up (reference 0.1)",
                                  ge=0.0, le=1.0)
    lr_scheduler_type: Scheduler = setting("cosine", "LR schedule (reference cosine)")
    max_grad_norm: float = setting(0.3, "gradient clipping (reference 0.3)", ge=0.0)
    neftune_noise_alpha: float = setting(5.0, "NEFTune noise (reference 5); 0 = off", ge=0.0)
    weight_decay: float = setting(0.0, "AdamW weight decay", ge=0.0, le=1.0)
    bf16: Literal["auto", "true", "false"] = setting("auto", "auto: bf16 where the device "
                                                     "supports it")
    gradient_checkpointing: bool = setting(True, "recompute activations (Unsloth's own on GPU)")
    seed: int = setting(3407, "seed (reference 3407)", ge=0)
    logging_steps: int = setting(1, "log every N optimizer steps", ge=1)
    save_steps: int = setting(50, "checkpoint every N optimizer steps", ge=1)
    save_total_limit: int = setting(3, "checkpoints kept", ge=1)
    beta: float = setting(0.1, "KTO beta (reference 0.1)", gt=0.0, le=100.0)
    desirable_weight: float = setting(1.0, "KTO weight of desirable rows", gt=0.0)
    undesirable_weight: float = setting(1.0, "KTO weight of undesirable rows", gt=0.0)
    packing: bool = setting(True, "SFT: pack rows padding-free (no wasted pad tokens)")
    assistant_only_loss: bool = setting(True, "SFT: loss on assistant tokens only")
    preview_steps: int = setting(0, "generate a preview every N steps; 0 = off", ge=0)
    preview_prompt: str = setting("What is entropy, in one paragraph?", "prompt used for "
                                  "previews")
    preview_max_new_tokens: int = setting(48, "tokens per preview", ge=1, le=4096)
    runs_dir: str = setting("{data_dir}/runs", "where run directories are created; "
                            "{data_dir} is the per-user data folder ($XDG_DATA_HOME/synapse-tui), "
                            "so every shell finds the same runs; a relative path is taken from "
                            "the config file's folder (runs_dir = 'runs' keeps the old ./runs "
                            "layout)")
    on_finish: str = setting("", "shell command run once when a run ends (finished, stopped, "
                             "failed or died), detached or not, with SYNAPSE_RUN_DIR, "
                             "SYNAPSE_RUN_STATE, SYNAPSE_RUN_STEP and SYNAPSE_RUN_LOSS set; its "
                             "failure is logged, never fatal; empty = none")
    gpus: Annotated[str, AfterValidator(_valid_gpus)] = setting(
        "auto", "which devices train: 'auto' = this process, one device (CUDA if present, else "
        "CPU); 'all' = every visible CUDA GPU, one torchrun rank each; '0,1' = those CUDA "
        "indices (CUDA order), one rank each; 'cpu:N' = N gloo ranks on the CPU (tests, "
        "machines without a GPU). Anything but 'auto' runs through torchrun, even one GPU")
    stop_timeout_s: float = setting(600.0, "multi-process runs: seconds the ranks get to "
                                    "checkpoint and exit after a stop (a stop during model "
                                    "load waits for the first step) before the process group "
                                    "is killed", ge=1.0)


class ExportConfig(Section):
    """GGUF export settings (reference: Q4_K_M, expert tensors Q6_K)."""

    quant: str = setting("q4_k_m", "llama.cpp quantization type")
    overrides: dict[Annotated[str, AfterValidator(_regex)], str] = setting(
        help="tensor-name regex -> llama.cpp type", factory=lambda: {r"_exps\.": "q6_k"})
    mmproj: bool = setting(True, "write the vision tower to a separate mmproj GGUF")
    out_dir: str = setting("{data_dir}/exports", "where exports are written ({data_dir}: as "
                           "training.runs_dir)")
    verify: bool = setting(True, "load the result in llama.cpp and compare logits with the HF "
                           "model")
    min_top1_agreement: float = setting(0.9, "bf16 GGUF vs HF top-1 agreement below this fails",
                                        ge=0.0, le=1.0)


class UIConfig(Section):
    """The dashboard's look and keys."""

    theme: str = setting("synapse-dark", "a theme from themes/ or a Textual built-in")
    keymap: dict[str, str] = setting(help="binding id -> key(s), e.g. {show-training = 'f3'}",
                                     factory=dict)


class RunConfig(BaseModel):
    """The whole run configuration (one TOML file, one table per section).

    Sections are plain attributes (``cfg.training.learning_rate``) and may be assigned;
    ``validate(cfg)`` checks the result. ``source`` is the file it was loaded from: it is
    not a setting, so it is neither written back nor compared.
    """

    model_config = ConfigDict(extra="forbid")

    data: DataConfig = Field(default_factory=DataConfig)
    scoring: ScoringConfig = Field(default_factory=ScoringConfig)
    banned_words: BannedWordsConfig = Field(default_factory=BannedWordsConfig)
    reasoning: ReasoningConfig = Field(default_factory=ReasoningConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    lora: LoraConfig = Field(default_factory=LoraConfig)
    training: TrainingConfig = Field(default_factory=TrainingConfig)
    export: ExportConfig = Field(default_factory=ExportConfig)
    ui: UIConfig = Field(default_factory=UIConfig)

    _source: str | None = PrivateAttr(default=None)

    @property
    def source(self) -> str | None:
        """The file this was loaded from (not written back)."""
        return self._source

    @source.setter
    def source(self, value: str | None) -> None:
        self._source = value

    def __eq__(self, other: object) -> bool:
        # the settings only: the same settings read from two files are the same config
        if not isinstance(other, RunConfig):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict of the sections (what goes into TOML), values as they are now."""
        return {name: {key: _copy(getattr(section, key)) for key in type(section).model_fields}
                for name, section in self.sections().items()}

    def sections(self) -> dict[str, Section]:
        """Each section by its table name, in file order."""
        return {name: getattr(self, name) for name in type(self).model_fields}

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


def _copy(value: Any) -> Any:
    """Lists and tables copied, so a dict made from a config never aliases it."""
    if isinstance(value, list):
        return list(value)
    if isinstance(value, dict):
        return dict(value)
    return value


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
