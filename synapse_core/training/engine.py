"""The training engine: one run, in the calling thread, reported as events.

``Engine(config, sink, control).run()`` loads the model (Unsloth on a GPU, transformers +
PEFT elsewhere), builds the objective's TRL trainer, trains, and writes the run directory
(see ``rundir``). It emits exactly one terminal event, ``TrainingFinished`` or
``TrainingFailed``, whatever happens (a full or read-only disk included): a failure never
leaves a hung worker. It trains in the calling process: the run process
(``run_main``, started by ``supervisor``) runs it for every run the app or ``synapse train``
starts, each torchrun rank runs one, and fast unit tests call it directly.
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
                                          SetupProgressed, TrainingFailed, TrainingFinished,
                                          TrainingPaused, TrainingResumed)
from synapse_core.training.state import RunState

OOM_HINT = ("lower model.max_seq_length or training.per_device_train_batch_size "
            "(raise gradient_accumulation_steps to keep the effective batch)")


class Engine:
    """One training run. ``rows`` (tests, callers that prepared data) bypass the data module;
    ``resume_from`` is a run folder whose last checkpoint is continued (its own config is
    used when ``config`` is None); ``max_steps`` overrides ``training.max_steps``;
    ``config_error`` (the run process could not load run.toml) makes ``run()`` end at once
    with that ``TrainingFailed``."""

    def __init__(self, config: RunConfig | None, sink: EventSink | None = None,
                 control: RunControl | None = None, run_dir: str | Path | None = None,
                 resume_from: str | Path | None = None,
                 rows: list[dict[str, Any]] | None = None, max_steps: int | None = None,
                 telemetry_interval_s: float = 1.0, rank: int = 0, world_size: int = 1,
                 config_error: ConfigError | None = None) -> None:
        self.rank = rank
        """This process's rank among ``world_size`` training processes (torchrun); rank 0
        writes the run folder and the adapter, the others write nothing shared."""
        self.world_size = world_size
        self.sink = sink or NullSink()
        self.control = control or RunControl()
        self.resume_from = Path(resume_from) if resume_from else None
        self._config_error = config_error  # a run.toml that did not load: run() reports it
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
        self._disk_error: OSError | None = None

    # -- events ----------------------------------------------------------------------------

    def emit(self, event: Event) -> None:
        """Record ``event`` in the run folder, then hand it to the sink."""
        if isinstance(event, TelemetrySampled):
            self._latest_telemetry = event
        if self.rundir is not None and self._disk_error is None:
            try:
                if isinstance(event, (TrainingPaused, TrainingResumed)):
                    self.rundir.write_state(state=RunState.PAUSED if isinstance(
                        event, TrainingPaused) else RunState.RUNNING)
                self.rundir.append_event(event.to_dict())
                if isinstance(event, LogLine):
                    self.rundir.log(event.message, event.level)
            except OSError as e:  # a full disk must not turn one failure into a cascade
                self._disk_error = e
        self.sink.emit(event)

    def log(self, message: str, level: str = "info", source: str = "training") -> None:
        self.emit(LogLine(message=message, level=level, source=source))

    def _setup(self, phase: str, message: str) -> None:
        """Say which part of the set-up runs now (shown as progress until the first step)."""
        self.emit(SetupProgressed(phase=phase, message=message,
                                  index=SETUP_PHASES.index(phase) + 1))

    # -- the run ---------------------------------------------------------------------------

    def _open_run_dir(self) -> rd.RunDir:
        if self.rank > 0:  # the shared files are rank 0's; the supervisor opened the folder
            assert self.run_dir_arg is not None
            return rd.FollowerRunDir(self.run_dir_arg)
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
        """Train here; returns (and has emitted) the terminal event."""
        telemetry_stop = threading.Event()
        sampler = None
        try:
            if self._config_error is not None:
                raise self._config_error
            self.config = absolute_paths(self.config)
            self.rundir = self._open_run_dir()
            self.rundir.write_state(state=RunState.STARTING, clear=rd.STALE_FIELDS,
                                    objective=self.config.training.objective,
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
        if isinstance(result, TrainingFailed) and result.failure == "disk" and self.rundir:
            # a checkpoint cut short by the full disk is useless (a resume skips it) and
            # holds the space the run's end needs: give it back, then write the end
            complete = set(rd.checkpoints_of(self.rundir.path))
            for partial in self.rundir.checkpoints.glob("checkpoint-*"):
                if partial.is_dir() and partial not in complete:
                    import shutil

                    shutil.rmtree(partial, ignore_errors=True)
                    self.log(f"removed the incomplete checkpoint {partial}", "warning")
            self._disk_error = None
        if self.rundir is not None:
            try:
                write_end_state(self.rundir, result)
            except OSError as e:  # said in the terminal event when it is the first
                self._disk_error = self._disk_error or e
        if result is not None:
            self.emit(result)
        if self.rundir is not None:
            try:
                self.rundir.close()
            except OSError:
                pass  # flushing on a full disk: the terminal event already reached the sink

    def _failure(self, e: BaseException) -> TrainingFailed:
        from synapse_core.training.backends import ModelNotFound
        from synapse_core.training.objectives import EmptyDataset

        run_dir = str(self.rundir.path) if self.rundir else ""
        kind, hint = "error", ""
        message = f"{type(e).__name__}: {e}"
        name = type(e).__name__
        disk, path = self._disk_cause(e)
        if disk is not None:
            kind, message = "disk", f"{disk}: cannot write {path or run_dir}"
            hint = "free some space or choose a writable training.runs_dir, then resume"
        elif isinstance(e, ConfigError):
            kind, message = "config", f"config error: {e}"
        elif isinstance(e, CorruptCheckpoint):
            kind, message = "checkpoint", str(e)
            hint = "delete that checkpoint folder to resume from the one before it"
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
        if self.rundir is not None and disk is None:
            try:
                self.rundir.log(tb, "error")
            except OSError:
                pass  # the failure itself still reaches the sink
        return TrainingFailed(message=message, failure=kind, hint=hint, traceback=tb,
                              run_dir=run_dir, step=self._step)

    def _disk_cause(self, e: BaseException) -> tuple[str | None, str]:
        """("disk full" / "read-only file system" / ..., the path) when ``e`` (or an error
        it came from, or an earlier failed write of the run folder) is a failed write for
        lack of space or permission; a library that wraps the OSError in its own error
        (torch.save, safetensors) is caught by the free space left."""
        seen: BaseException | None = e
        for _ in range(10):
            if seen is None:
                break
            what = rd.disk_error(seen)
            if what is not None:
                return what, str(getattr(seen, "filename", None) or "")
            seen = seen.__cause__ or seen.__context__
        if self._disk_error is not None and rd.disk_error(self._disk_error):
            return rd.disk_error(self._disk_error), str(self._disk_error.filename or "")
        if self.rundir is not None and ("No space left" in str(e) or "write" in str(e).lower()):
            import shutil

            try:
                if shutil.disk_usage(self.rundir.path).free < 1 << 20:
                    return "disk full", str(self.rundir.path)
            except OSError:
                pass
        return None, ""

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

        if self.resume_from is not None:  # before the model loads: a bad file is said at once
            check_checkpoint(rd.last_checkpoint(run.path))
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
        if self.resume_from is not None:
            for warning in run.truncate_after(start_step):  # each step once, checkpoint or not
                self.log(warning, "warning")
        if resume_ckpt is not None:
            _load_default_adapter(loaded.model, resume_ckpt)
        if self.control.stop_requested.is_set():  # a stop (a signal) while loading: no step
            self.log(f"stopped before the first step ({self.control.stop_reason})")
            return TrainingFinished(run_dir=str(run.path), step=start_step, adapter_path="",
                                    stopped=True, reason=self.control.stop_reason or "user")
        total_steps = self._total_steps(trainer)
        self.emit(RunStarted(run_dir=str(run.path), objective=cfg.training.objective,
                             model=cfg.model.name_or_path, total_steps=total_steps,
                             num_train_epochs=cfg.training.num_train_epochs,
                             train_rows=len(rows), resumed_from_step=start_step,
                             world_size=self.world_size))
        run.write_state(state=RunState.RUNNING, total_steps=total_steps, step=start_step,
                        backend=loaded.backend, device=loaded.device)
        self._setup("first_step", "taking the first step" + (
            " (policy, reference and KL passes)" if kto else ""))
        if on_cuda:
            torch.cuda.reset_peak_memory_stats()
        trainer.train(resume_from_checkpoint=str(resume_ckpt) if resume_ckpt else None)
        self._step = trainer.state.global_step
        adapter = run.adapter
        if self.rank == 0:  # the ranks hold the same weights: one writer
            loaded.model.save_pretrained(str(adapter), selected_adapters=["default"])
            loaded.tokenizer.save_pretrained(str(adapter))
        if loaded.full_model and self.rank == 0:
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


class CorruptCheckpoint(RuntimeError):
    """A checkpoint a resume would continue from cannot be read (the message names the file)."""


def check_checkpoint(checkpoint: Path | None) -> None:
    """Read what a resume needs first from ``checkpoint`` (its trainer state, the adapter's
    header) and raise ``CorruptCheckpoint`` naming the file that cannot be read."""
    if checkpoint is None:
        return
    import json

    state = checkpoint / "trainer_state.json"
    try:
        json.loads(state.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise CorruptCheckpoint(f"{state}: cannot be read ({type(e).__name__}: {e})") from e
    weights = checkpoint / "adapter_model.safetensors"
    if weights.is_file():
        from safetensors import safe_open

        try:
            with safe_open(str(weights), framework="numpy") as fh:
                fh.keys()
        except Exception as e:  # safetensors raises its own error types for a bad header
            raise CorruptCheckpoint(f"{weights}: cannot be read ({type(e).__name__}: "
                                    f"{e})") from e


def write_end_state(run: rd.RunDir, result: Event | None) -> None:
    """state.json for the run's end (what a reader of the folder later trusts)."""
    if isinstance(result, TrainingFinished):
        state = RunState.STOPPED if result.stopped else RunState.FINISHED
        run.write_state(state=state, step=result.step, reason=result.reason,
                        adapter=result.adapter_path, clear=rd.STALE_FIELDS)
    elif isinstance(result, TrainingFailed):
        state = RunState.DIED if result.failure == "died" else RunState.FAILED
        run.write_state(state=state, step=result.step, error=result.message,
                        failure=result.failure, exit_code=result.exit_code,
                        reason=result.message if state is RunState.DIED else "")


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
        try:
            state = load_file(str(weights))
        except Exception as e:  # a truncated file passes the header check
            raise CorruptCheckpoint(f"{weights}: cannot be read ({type(e).__name__}: "
                                    f"{e})") from e
        result = set_peft_model_state_dict(model, state, adapter_name="default")
        unexpected = getattr(result, "unexpected_keys", [])
        if unexpected:
            raise RuntimeError(f"{weights}: adapter does not fit the model "
                               f"(unexpected {unexpected[:3]})")
