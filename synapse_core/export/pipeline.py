"""Run one export job's steps: merge -> convert -> mmproj -> quantize -> verify.

Everything is written into a hidden staging folder ``OUT/.NAME.partial/``; only when every step
passed (verification included) is it renamed to ``OUT/NAME/``, with a ``SHA256SUMS`` of its
files. A cancelled or failed job removes its staging folder, so no file that looks finished is
ever left behind; a staging folder holds an ``.owner`` file (pid and start time) so that one
left by a killed process is recognised and removed later (``remove_stale_staging``).

llama.cpp (quantize, verify) runs in one child process per job whose output, llama.cpp's own
log lines, goes to the job's log file ``OUT/logs/NAME.log`` with the job's log lines.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from pathlib import Path
from typing import Any, Callable

from synapse_core.events import EventSink, LogLine
from synapse_core.export.errors import ExportCancelled, ExportError, VerificationFailed
from synapse_core.export.events import ExportProgressed, ExportStepFinished
from synapse_core.export.jobs import ExportJob

OnChange = Callable[[ExportJob], None]


def staging_dir(out_dir: Path, job: ExportJob) -> Path:
    """Where a job's files are written until it is verified."""
    return Path(out_dir) / f".{job.name}.partial"


def final_dir(out_dir: Path, job: ExportJob) -> Path:
    """Where a verified job's files end up."""
    return Path(out_dir) / job.name


def log_path(out_dir: Path, job: ExportJob) -> Path:
    """The job's log file: its log lines and llama.cpp's."""
    return Path(out_dir) / "logs" / f"{job.name}.log"


OWNER_FILE = ".owner"


def _process_start(pid: int) -> float | None:
    import psutil

    try:
        return psutil.Process(pid).create_time()
    except psutil.Error:
        return None


def _claim(stage: Path) -> None:
    pid = os.getpid()
    (stage / OWNER_FILE).write_text(f"{pid} {_process_start(pid)}\n", encoding="utf-8")


def _owner_alive(stage: Path) -> bool:
    try:
        pid_s, _, started = (stage / OWNER_FILE).read_text(encoding="utf-8").partition(" ")
        pid = int(pid_s)
    except (OSError, ValueError):
        # no owner yet: a folder made this very moment, or one from before owners were written
        try:
            return time.time() - stage.stat().st_mtime < 10
        except OSError:
            return False
    now = _process_start(pid)
    return now is not None and (started.strip() == "None" or abs(now - float(started)) < 1.0)


def remove_stale_staging(out_dir: Path) -> list[Path]:
    """Remove ``OUT/.*.partial`` folders whose owner process is gone (a killed export);
    returns them. Folders of a live export (the app, another ``synapse export``) stay."""
    out_dir = Path(out_dir)
    removed = []
    if not out_dir.is_dir():
        return removed
    for d in out_dir.glob(".*.partial"):
        if d.is_dir() and not _owner_alive(d):
            shutil.rmtree(d, ignore_errors=True)
            removed.append(d)
    return removed


class _Runner:
    def __init__(self, job: ExportJob, out_dir: Path, sink: EventSink,
                 cancel: threading.Event, on_change: OnChange) -> None:
        self.job, self.out_dir, self.sink = job, Path(out_dir), sink
        self.cancel, self.on_change = cancel, on_change
        self._last_save = 0.0
        self.log_file = log_path(out_dir, job)
        self.log_file.parent.mkdir(parents=True, exist_ok=True)

    def log(self, msg: str, level: str = "info") -> None:
        self.job.log.append(msg)
        with open(self.log_file, "a", encoding="utf-8") as fh:
            fh.write(f"[{time.strftime('%H:%M:%S')}] {msg}\n")
        self.sink.emit(LogLine(msg, level, source=f"export {self.job.id}"))

    def progress(self, step: str, fraction: float, message: str = "") -> None:
        st = self.job.steps[step]
        st.progress = max(0.0, min(1.0, fraction))
        st.detail = message
        self.sink.emit(ExportProgressed(self.job.id, step, st.progress, message))
        now = time.monotonic()
        if now - self._last_save > 1.0:  # persist at most once a second
            self._last_save = now
            self.on_change(self.job)

    def check(self) -> None:
        if self.cancel.is_set():
            raise ExportCancelled("cancelled by the user")

    def step(self, name: str, fn: Callable[[], str], skip_reason: str = "") -> None:
        self.check()
        st = self.job.steps[name]
        if skip_reason:
            st.state, st.detail = "skipped", skip_reason
            self.log(f"{name}: skipped ({skip_reason})")
            self.sink.emit(ExportStepFinished(self.job.id, name, 0.0, skip_reason, skipped=True))
            self.on_change(self.job)
            return
        st.state, st.progress = "running", 0.0
        self.on_change(self.job)
        t0 = time.monotonic()
        try:
            detail = fn()
        except ExportCancelled:
            st.state = "cancelled"
            raise
        except BaseException:
            st.state = "failed"
            raise
        st.state, st.progress, st.detail = "done", 1.0, detail
        st.seconds = time.monotonic() - t0
        self.log(f"{name}: done in {st.seconds:.1f}s {detail}".rstrip())
        self.sink.emit(ExportStepFinished(self.job.id, name, st.seconds, detail))
        self.on_change(self.job)


def run_job(job: ExportJob, out_dir: Path, sink: EventSink, cancel: threading.Event,
            on_change: OnChange = lambda j: None,
            echo: Callable[[str], None] | None = None) -> dict[str, str]:
    """Run every step of ``job``; returns the final output paths. Raises ExportCancelled,
    ExportError or VerificationFailed, after removing the staging folder. llama.cpp's log
    lines go to the job's log file (and to ``echo``, when given)."""
    from synapse_core.export.llama_proc import LlamaProcess, require_safe_build

    if job.verify:
        require_safe_build()  # fail at once, not after minutes of merging and converting
    r = _Runner(job, out_dir, sink, cancel, on_change)
    r.log(f"job {job.id}: {job.source} -> {final_dir(out_dir, job)}; log {r.log_file}")
    try:
        with LlamaProcess(r.log_file, echo) as llama:
            return _run_steps(job, r, llama)
    except ExportCancelled as e:
        r.log(f"cancelled: {e}")
        raise
    except Exception as e:  # the log file ends with why (the queue keeps it in the job too)
        r.log(f"failed: {type(e).__name__}: {e}", "error")
        raise


def _run_steps(job: ExportJob, r: "_Runner", llama: Any) -> dict[str, str]:
    from synapse_core.export.convert import convert_to_gguf, estimate_gguf_bytes, inspect_model
    from synapse_core.export.gguf_check import write_sums
    from synapse_core.export.gguf_write import check_free_space
    from synapse_core.export.merge import is_adapter_run, merge_adapter
    from synapse_core.export.mmproj import convert_mmproj
    from synapse_core.export.quantize import quantize
    from synapse_core.export.verify import verify_gguf

    out_dir, cancel = r.out_dir, r.cancel
    source = Path(job.source).expanduser()
    if not source.is_dir():
        raise ExportError(f"{source}: no such folder (a run folder or a HF model folder)")
    stage = staging_dir(out_dir, job)
    final = final_dir(out_dir, job)
    if stage.exists():
        shutil.rmtree(stage)
    stage.mkdir(parents=True)
    _claim(stage)
    files: dict[str, Path] = {}
    try:
        hf_dir = source
        if is_adapter_run(source):
            def do_merge() -> str:
                nonlocal hf_dir
                from synapse_core.export.merge import base_model_of

                base = base_model_of(source)
                need = sum(f.stat().st_size for f in base.glob("*.safetensors"))
                check_free_space(stage, need, "the merged bf16 model")
                r.progress("merge", 0.1, f"loading {base.name} in bf16")
                hf_dir = merge_adapter(source, stage / "merged")
                files["merged"] = hf_dir
                return f"into {base.name}"
            r.step("merge", do_merge)
        else:
            r.step("merge", lambda: "", skip_reason="plain model folder, no adapter")
        info = inspect_model(hf_dir)
        base_name = source.name
        bf16 = stage / f"{base_name}.bf16.gguf"

        def do_convert() -> str:
            check_free_space(stage, estimate_gguf_bytes(hf_dir), "the bf16 GGUF")
            convert_to_gguf(hf_dir, bf16, out_type="bf16", cancel=cancel,
                            progress=lambda f, m: r.progress("convert", f, m))
            files["bf16"] = bf16
            return f"{bf16.stat().st_size / 2**20:.1f} MiB"
        r.step("convert", do_convert)

        mm = stage / f"{base_name}.mmproj-f16.gguf"

        def do_mmproj() -> str:
            convert_mmproj(hf_dir, mm, cancel=cancel,
                           progress=lambda f, m: r.progress("mmproj", f, m))
            files["mmproj"] = mm
            return f"{mm.stat().st_size / 2**20:.1f} MiB"
        skip = ("" if info.has_vision and job.mmproj else
                "disabled" if info.has_vision else "no vision tower")
        r.step("mmproj", do_mmproj, skip_reason=skip)

        qfile = stage / f"{base_name}.{job.quant.upper()}.gguf"

        def do_quant() -> str:
            r.progress("quantize", 0.05, f"llama.cpp quantizing to {job.quant}")
            rep = quantize(bf16, qfile, job.quant, job.overrides, llama=llama, cancel=cancel)
            for note in rep.notes:
                r.log(f"quantize: {note}")
            files["quant"] = qfile
            return f"{qfile.stat().st_size / 2**20:.1f} MiB; " + "; ".join(rep.notes)
        r.step("quantize", do_quant)

        def do_verify() -> str:
            r.progress("verify", 0.1, "bf16 vs HF logits")
            rep_bf16 = verify_gguf(bf16, hf_dir=hf_dir, threshold=job.min_top1_agreement,
                                   mmproj=files.get("mmproj"), llama=llama, cancel=cancel)
            r.check()
            r.progress("verify", 0.6, f"{job.quant} loads and generates")
            rep_q = verify_gguf(qfile, llama=llama, cancel=cancel)
            for rep in (rep_bf16, rep_q):  # the checksums are written next, once verified
                rep.not_checked = [n for n in rep.not_checked if "SHA256SUMS" not in n]
            for line in rep_bf16.lines() + rep_q.lines():
                r.log(line)
            job.verification = {"bf16": rep_bf16.to_dict(), "quant": rep_q.to_dict(),
                                "summary": rep_bf16.summary()}
            problems = rep_bf16.problems + rep_q.problems
            if problems:
                raise VerificationFailed("; ".join(problems))
            return rep_bf16.summary()
        if job.verify:
            r.step("verify", do_verify)
        else:
            r.step("verify", lambda: "", skip_reason="disabled in config")
        r.check()
        if final.exists():
            raise ExportError(f"{final}: already exists; remove it or retry (new name)")
        write_sums(stage, [p for k, p in files.items() if k != "merged"])
        (stage / OWNER_FILE).unlink(missing_ok=True)
        os.replace(stage, final)
        # the report was written while the files were still in the staging folder
        job.log[:] = [line.replace(str(stage), str(final)) for line in job.log]
        for rep in (job.verification or {}).values():
            if isinstance(rep, dict) and "path" in rep:
                rep["path"] = rep["path"].replace(str(stage), str(final))
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    return {k: str(final / Path(p).relative_to(stage)) for k, p in files.items()}
