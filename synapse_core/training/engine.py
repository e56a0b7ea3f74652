"""The training engine: one run, in the calling thread, reported as events.

``Engine(config, sink, control).run()`` loads the model (Unsloth on a GPU, transformers +
PEFT elsewhere), builds the objective's TRL trainer, trains, and writes the run directory
(see ``rundir``). It emits exactly one terminal event, ``TrainingFinished`` or
``TrainingFailed``, whatever happens: a failure never leaves a hung worker. The app runs
it in a worker thread; ``synapse train`` in the main thread. With ``training.gpus`` other
than "auto" the same ``run()`` supervises torchrun ranks instead (``distributed``).
"""

from __future__ import annotations

import math
import threading
import traceback
from pathlib import Path
from typing import Any

from synapse_core.config import (DEMO_MODEL, ConfigError, RunConfig, config_from_dict,
                                 load_config, validate, write_config)
from synapse_core.events import Event, EventSink, LogLine, NullSink
from synapse_core.telemetry.events import TelemetrySampled
from synapse_core.training import rundir as rd
from synapse_core.training.control import RunControl
from synapse_core.training.events import (SETUP_PHASES, ModelLoaded, RunStarted,
                                          SetupProgressed, TrainingFailed, TrainingFinished)

OOM_HINT = ("lower model.max_seq_length or training.per_device_train_batch_size "
            "(raise gradient_accumulation_steps to keep the effective batch)")


class Engine:
    """One training run. ``rows`` (tests, callers that prepared data) bypass the data module;
    ``resume_from`` is a run folder whose last checkpoint is continued (its own config is
    used when ``config`` is None); ``max_steps`` overrides ``training.max_steps``."""

    launches_ranks = True
    """With ``training.gpus`` other than "auto", ``run`` supervises torchrun ranks instead of
    training here (``distributed``); the ranks' own engines set this False."""
    is_main_process = True
    """Writes the final adapter (rank 0 of several, or the only process)."""
    world_size = 1
    """Training processes this engine is one of (set by the ranks)."""

    def __init__(self, config: RunConfig | None, sink: EventSink | None = None,
                 control: RunControl | None = None, run_dir: str | Path | None = None,
                 resume_from: str | Path | None = None,
                 rows: list[dict[str, Any]] | None = None, max_steps: int | None = None,
                 telemetry_interval_s: float = 1.0) -> None:
        self.sink = sink or NullSink()
        self.control = control or RunControl()
        self.resume_from = Path(resume_from) if resume_from else None
        self._config_error: ConfigError | None = None
        if config is None:
            if self.resume_from is None:
                raise ValueError("Engine needs a config or a run to resume")
            try:
                config = load_config(self.resume_from / rd.CONFIG_FILE)
            except ConfigError as e:  # reported by run() as a TrainingFailed event
                self._config_error = e
                config = RunConfig()
        self.config = config
        self.run_dir_arg = Path(run_dir) if run_dir else None
        self.rows = rows
        self.max_steps = max_steps
        self.telemetry_interval_s = telemetry_interval_s
        self.rundir: rd.RunDir | None = None
        self.result: Event | None = None
        self._latest_telemetry: TelemetrySampled | None = None
        self._step = 0

    # -- events ----------------------------------------------------------------------------

    def emit(self, event: Event) -> None:
        """Record ``event`` in the run folder, then hand it to the sink."""
        if isinstance(event, TelemetrySampled):
            self._latest_telemetry = event
        if self.rundir is not None:
            self.rundir.append_event(event.to_dict())
            if isinstance(event, LogLine):
                self.rundir.log(event.message, event.level)
        self.sink.emit(event)

    def log(self, message: str, level: str = "info", source: str = "training") -> None:
        self.emit(LogLine(message=message, level=level, source=source))

    def _setup(self, phase: str, message: str) -> None:
        """Say which part of the set-up runs now (shown as progress until the first step)."""
        self.emit(SetupProgressed(phase=phase, message=message,
                                  index=SETUP_PHASES.index(phase) + 1))

    # -- the run ---------------------------------------------------------------------------

    def _open_run_dir(self) -> rd.RunDir:
        if self.resume_from is not None:
            path = self.run_dir_arg or self.resume_from
        elif self.run_dir_arg is not None:
            path = self.run_dir_arg
            if (path / rd.METRICS_FILE).is_file() or rd.last_checkpoint(path) is not None:
                raise ConfigError("--run-dir", f"{path} already holds a run; resume it "
                                  "(synapse train --resume) or choose a new folder")
        else:
            runs = self.config.resolve_path(self.config.training.runs_dir)
            path = rd.new_run_dir(runs, self.config.training.objective)
        run = rd.RunDir(path)
        if not (path / rd.CONFIG_FILE).is_file() or self.resume_from is None:
            write_config(self.config, path / rd.CONFIG_FILE)
        return run

    def run(self) -> Event:
        """Train; returns (and has emitted) the terminal event."""
        if (self.launches_ranks and self._config_error is None
                and self.config.training.gpus.strip().lower() != "auto"):
            from synapse_core.training.distributed import supervise

            self.result = supervise(self)  # same events, same terminal event, same run folder
            return self.result
        telemetry_stop = threading.Event()
        sampler = None
        try:
            if self._config_error is not None:
                raise self._config_error
            self.config = absolute_paths(self.config)
            self.rundir = self._open_run_dir()
            self.rundir.write_state(state="starting", objective=self.config.training.objective,
                                 model=self.config.model.name_or_path)
            validate(self.config)
            from synapse_core.telemetry.nvml import TelemetrySampler

            sampler = TelemetrySampler(self, self.telemetry_interval_s, telemetry_stop)
            sampler.start()
            from synapse_core.training.libwarnings import library_warnings_to

            with library_warnings_to(self.log):  # TRL's advice reaches train.log and the panel
                self.result = self._train()
        except BaseException as e:  # every failure becomes one TrainingFailed event
            self.result = self._failure(e)
            if not isinstance(e, Exception):
                self._finish(sampler, telemetry_stop)
                raise
        self._finish(sampler, telemetry_stop)
        return self.result

    def _finish(self, sampler: Any, stop: threading.Event) -> None:
        stop.set()
        if sampler is not None:
            sampler.join(timeout=5)
        result = self.result
        if self.rundir is not None:
            if isinstance(result, TrainingFinished):
                state = "stopped" if result.stopped else "finished"
                self.rundir.write_state(state=state, step=result.step, reason=result.reason,
                                     adapter=result.adapter_path)
            elif isinstance(result, TrainingFailed):
                self.rundir.write_state(state="failed", step=result.step, error=result.message,
                                     kind=result.kind)
        if result is not None:
            self.emit(result)
        if self.rundir is not None:
            self.rundir.close()

    def _failure(self, e: BaseException) -> TrainingFailed:
        from synapse_core.training.backends import ModelNotFound
        from synapse_core.training.objectives import EmptyDataset

        run_dir = str(self.rundir.path) if self.rundir else ""
        kind, hint = "error", ""
        message = f"{type(e).__name__}: {e}"
        name = type(e).__name__
        if isinstance(e, ConfigError):
            kind, message = "config", f"config error: {e}"
        elif isinstance(e, ModelNotFound):
            kind, message = "model", str(e)
        elif isinstance(e, EmptyDataset):
            kind, message = "data", str(e)
        elif name == "LossNotFinite":
            kind = "nan"
            message = str(e)
            hint = "lower training.learning_rate or training.max_grad_norm; check the data"
        elif name == "OutOfMemoryError" or "CUDA out of memory" in str(e):
            kind, hint = "oom", OOM_HINT
            message = f"GPU out of memory: {str(e).splitlines()[0][:300]}"
        elif isinstance(e, KeyboardInterrupt):
            kind, message = "error", "interrupted"
        elif isinstance(e, OSError) and "model" in str(e).lower():
            kind = "model"
        tb = "".join(traceback.format_exception(e))
        if self.rundir is not None:
            self.rundir.log(tb, "error")
        return TrainingFailed(message=message, kind=kind, hint=hint, traceback=tb,
                              run_dir=run_dir, step=self._step)

    def _rows(self) -> list[dict[str, Any]]:
        if self.rows is not None:
            self._setup("data", f"{len(self.rows)} rows given")
            return list(self.rows)
        from synapse_core.data.prepare import prepare_dataset

        self._setup("data", "reading and scoring the data")
        prepared = prepare_dataset(self.config)
        counts = getattr(prepared, "counts", {})
        counts = counts() if callable(counts) else counts
        detail = ", ".join(f"{k} {v}" for k, v in counts.items() if v)
        self.log(f"data: {len(prepared.rows)} rows for {self.config.training.objective} "
                 f"from {prepared.data_path}" + (f" ({detail})" if detail else ""))
        from synapse_core.data.load import describe_bad_lines

        for line in describe_bad_lines(prepared.bad_lines):  # FILE:LINE: reason, 20 at most
            self.log(line, "warning")
        return list(prepared.rows)

    def _extra_metrics(self) -> dict[str, Any]:
        import torch

        out: dict[str, Any] = {}
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            out["gpu_mem_gib"] = torch.cuda.memory_allocated() / 2**30
            out["gpu_peak_gib"] = torch.cuda.max_memory_allocated() / 2**30
        t = self._latest_telemetry
        if t is not None and t.gpus:
            out["nvml_mem_used_gib"] = [g.mem_used_gib for g in t.gpus]
            out["nvml_util_pct"] = [g.util_pct for g in t.gpus]
        return out

    def _train(self) -> Event:
        cfg = self.config
        run = self.rundir
        assert run is not None
        from synapse_core.training.objectives import check_rows

        rows = self._rows()
        check_rows(cfg.training.objective, rows)

        self._setup("libraries", "loading torch, transformers and TRL")
        from synapse_core.training.backends import choose_backend, load_model, param_counts

        backend = choose_backend(cfg)  # imports torch only
        if backend == "unsloth":
            import unsloth  # noqa: F401  # must patch transformers/trl/peft before they load
        import transformers  # heavy: only once training starts

        transformers.set_seed(cfg.training.seed)
        self.log(f"loading {cfg.model.name_or_path} ({backend})")
        self._setup("model", _model_message(cfg.model.name_or_path))
        loaded = load_model(cfg, backend=backend)
        trainable, total = param_counts(loaded.model)
        for note in loaded.notes:
            self.log(note)
        self.emit(ModelLoaded(backend=loaded.backend, device=loaded.device, dtype=loaded.dtype,
                              attn_implementation=loaded.attn_implementation,
                              load_in_4bit=loaded.load_in_4bit, optim=loaded.optim,
                              trainable_params=trainable, total_params=total,
                              added_tokens=len(loaded.added_token_ids),
                              experts=loaded.experts.describe(), seconds=loaded.seconds,
                              notes=tuple(loaded.notes)))
        self.log(f"model: {loaded.backend} on {loaded.device}, {loaded.dtype}, "
                 f"{loaded.attn_implementation}, 4-bit {loaded.load_in_4bit}, "
                 f"{trainable:,} of {total:,} parameters trainable; {loaded.experts.describe()}")
        return self._fit(loaded, rows)

    def _fit(self, loaded: Any, rows: list[dict[str, Any]]) -> Event:
        import torch
        import transformers

        from synapse_core.training.callbacks import EngineCallback
        from synapse_core.training.objectives import (TokenCounter, build_trainer,
                                                      training_args_kwargs)
        from synapse_core.training.preview import Previewer, banned_sequences

        cfg, run = self.config, self.rundir
        assert run is not None
        on_cuda = loaded.device.startswith("cuda")
        bf16 = cfg.training.bf16 == "true" or (cfg.training.bf16 == "auto"
                                               and loaded.dtype == "bfloat16" and on_cuda)
        args_kwargs = training_args_kwargs(cfg, run.checkpoints, optim=loaded.optim, bf16=bf16,
                                           use_cpu=not on_cuda, max_steps=self.max_steps)
        if loaded.own_gradient_checkpointing:
            args_kwargs["gradient_checkpointing"] = False  # Unsloth's own is already on
        preview = None
        if cfg.training.preview_steps:
            previewer = Previewer(loaded.model, loaded.tokenizer, cfg.training.preview_prompt,
                                  cfg.training.preview_max_new_tokens,
                                  banned_sequences(loaded.tokenizer, cfg.banned_words.words))

            def preview(step: int) -> None:
                self.emit(previewer.generate(step))
        callback = EngineCallback(emit=self.emit, control=self.control,
                                  write_metrics=self._write_metrics,
                                  extra_metrics=self._extra_metrics,
                                  checkpoints_dir=run.checkpoints, preview=preview,
                                  preview_steps=cfg.training.preview_steps)
        transformers.set_seed(cfg.training.seed)  # TRL 1.14 does not seed before its trainer
        kto = cfg.training.objective == "kto"
        self._setup("trainer", f"preparing {len(rows)} rows for {cfg.training.objective.upper()}"
                    + (" (tokenising; the frozen reference adapter)" if kto else " (tokenising)"))
        trainer = build_trainer(cfg, loaded.model, loaded.tokenizer, rows, args_kwargs,
                                [callback])
        if kto and len(trainer.train_dataset) < len(rows):  # said aloud: nothing lost silently
            self.log(f"{len(rows) - len(trainer.train_dataset)} of {len(rows)} rows left out by "
                     f"TRL: their prompt alone fills model.max_seq_length "
                     f"({cfg.model.max_seq_length} tokens)", "warning")
        if isinstance(trainer.data_collator, TokenCounter):  # SFT: tokens/s from our count
            callback.token_counter = trainer.data_collator
        # the engine reports through events; HF's printer would write raw dicts to stdout
        trainer.remove_callback(transformers.trainer_callback.PrinterCallback)
        trainer.remove_callback(transformers.trainer_callback.ProgressCallback)
        resume_ckpt = rd.last_checkpoint(run.path) if self.resume_from is not None else None
        if self.resume_from is not None and resume_ckpt is None:
            self.log("no checkpoint to resume from: starting from step 0", "warning")
        start_step = int(resume_ckpt.name.split("-")[-1]) if resume_ckpt else 0
        if resume_ckpt is not None:
            run.truncate_metrics_after(start_step)
            _load_default_adapter(loaded.model, resume_ckpt)
        total_steps = self._total_steps(trainer)
        self.emit(RunStarted(run_dir=str(run.path), objective=cfg.training.objective,
                             model=cfg.model.name_or_path, total_steps=total_steps,
                             num_train_epochs=cfg.training.num_train_epochs,
                             train_rows=len(rows), resumed_from_step=start_step,
                             world_size=self.world_size))
        run.write_state(state="running", total_steps=total_steps, step=start_step,
                        backend=loaded.backend, device=loaded.device)
        self._setup("first_step", "taking the first step" + (
            " (policy, reference and KL passes)" if kto else ""))
        if on_cuda:
            torch.cuda.reset_peak_memory_stats()
        trainer.train(resume_from_checkpoint=str(resume_ckpt) if resume_ckpt else None)
        self._step = trainer.state.global_step
        adapter = run.adapter
        if self.is_main_process:  # the ranks hold the same weights: one writer
            loaded.model.save_pretrained(str(adapter), selected_adapters=["default"])
            loaded.tokenizer.save_pretrained(str(adapter))
        if loaded.full_model and self.is_main_process:
            from synapse_core.training.decoder_only import adapter_to_full_model

            adapter_to_full_model(adapter, loaded.full_model)
            self.log(f"adapter mapped back to the full model {loaded.full_model}")
        stopped = callback.stopped_reason is not None
        if stopped:
            self.log(f"stopped at step {self._step} ({callback.stopped_reason}); "
                     f"resume with: synapse train --resume {run.path}")
        return TrainingFinished(run_dir=str(run.path), step=self._step,
                                adapter_path=str(adapter), stopped=stopped,
                                reason=callback.stopped_reason or "completed")

    def _write_metrics(self, row: dict[str, Any]) -> None:
        self._step = int(row.get("step", self._step))
        assert self.rundir is not None
        self.rundir.append_metrics(row)
        self.rundir.write_state(step=self._step, loss=row.get("loss"))

    def _total_steps(self, trainer: Any) -> int:
        args = trainer.args
        if args.max_steps and args.max_steps > 0:
            return int(args.max_steps)
        batches = math.ceil(len(trainer.train_dataset) / args.per_device_train_batch_size)
        per_epoch = max(batches // args.gradient_accumulation_steps, 1)
        return int(math.ceil(per_epoch * args.num_train_epochs))


def _model_message(name: str) -> str:
    """What loading ``name`` involves, for the set-up progress."""
    if name == DEMO_MODEL:
        from synapse_core.modeling.tiny import demo_model_path  # light: no torch

        if not (demo_model_path() / "config.json").is_file():
            return "building the tiny demo model (first run only), then loading it"
    return f"loading the model {name}"


def absolute_paths(cfg: RunConfig) -> RunConfig:
    """A copy of ``cfg`` whose relative paths (data, model folder, runs) are made absolute
    against the config file's folder, so the run.toml written into the run folder still
    points at the same files when a resume or an export reads it from there."""
    d = cfg.to_dict()
    for section, key in (("data", "path"), ("data", "decisions_path"),
                         ("training", "runs_dir")):
        if d[section][key]:
            d[section][key] = str(cfg.resolve_path(d[section][key]))
    name = d["model"]["name_or_path"]
    if name != DEMO_MODEL and cfg.resolve_path(name).is_dir():
        d["model"]["name_or_path"] = str(cfg.resolve_path(name))
    return config_from_dict(d, source=cfg.source)


def _load_default_adapter(model: Any, checkpoint: Path) -> None:
    """Load the trained ("default") adapter of ``checkpoint`` into ``model``.

    KTO adds a frozen "ref" adapter, so checkpoints hold two adapters (default at the top,
    ref in a subfolder); transformers' resume then loads only the subfolders and the trained
    adapter would silently restart from its initial weights. Loading it here first makes the
    resumed curve continue the interrupted one (tested)."""
    from peft.utils import set_peft_model_state_dict
    from safetensors.torch import load_file

    weights = checkpoint / "adapter_model.safetensors"
    if weights.is_file():
        result = set_peft_model_state_dict(model, load_file(str(weights)), adapter_name="default")
        unexpected = getattr(result, "unexpected_keys", [])
        if unexpected:
            raise RuntimeError(f"{weights}: adapter does not fit the model "
                               f"(unexpected {unexpected[:3]})")
