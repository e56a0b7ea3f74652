"""llama.cpp in a child process: a native crash fails one job or one chat, never the app.

Verification (load, generate, logits, mmproj encode), quantization and chat call llama.cpp
through ``LlamaProcess``, one child (``synapse_core.export.llama_child``) per export job or
chat session. Requests and replies are pickled frames over two pipes
(``multiprocessing.connection``); the child pays its start-up (Python + libllama, well under a
second) once, not per token. When the child dies of a signal, the call raises ``LlamaCrashed``
("llama.cpp crashed (SIGSEGV) while generating from X.gguf"); the dashboard, the queue and a
training run go on. Cancelling kills the child at once, even inside a long native call.

Why not ``llama_cpp.server``: it is an HTTP server with its own settings and extra packages
(fastapi, uvicorn, sse-starlette), serves one model per process and has no requests for
quantization, raw logits of given ids or mtmd image embeddings; we would still need a child of
our own for those. A pipe pair to a child running our functions is smaller and private.

The child's stdout and stderr (llama.cpp's native log lines) are read line by line into a log
file, the job's ``OUT/logs/NAME.log``, and optionally echoed (``synapse export -v``): never
written over the terminal UI.

``system_info()``/``build_problem()`` detect a libllama built with AMX (``AMX_INT8 = 1``),
whose kernels crash on quantized GGUFs (ggml-org/llama.cpp#20824): verification and chat
refuse to run with it and say how to rebuild.
"""

from __future__ import annotations

import atexit
import collections
import functools
import os
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from synapse_core.exitcodes import signal_name
from synapse_core.export.errors import ExportCancelled, ExportError, VerificationFailed

REBUILD_COMMAND = (
    'CMAKE_ARGS="$(bash scripts/llama-cmake-args.sh)" pip install --force-reinstall --no-deps '
    '--no-cache-dir --no-binary llama-cpp-python llama-cpp-python==0.3.36')
"""How to rebuild llama-cpp-python with AMX off (scripts/fresh.sh does the same)."""

ALLOW_AMX_ENV = "SYNAPSE_ALLOW_AMX"
"""Set to 1 to run llama.cpp even when it reports AMX (a build whose AMX path is fixed)."""


class LlamaCrashed(ExportError):
    """The llama.cpp child died (a native crash) while doing one request."""


class LlamaBuildError(ExportError):
    """The installed llama.cpp is a build known to crash here (AMX on)."""


@functools.cache
def system_info() -> str:
    """The loaded libllama's ``llama_print_system_info()`` (its CPU features). Reading it
    runs no kernel, so it is safe in the app's own process."""
    import llama_cpp  # heavy: loads libllama (no model)

    return llama_cpp.llama_print_system_info().decode("utf-8", "replace")


def build_problem(info: str | None = None) -> str | None:
    """Why this llama.cpp build must not run models here, or None. ``info`` defaults to
    ``system_info()``."""
    info = system_info() if info is None else info
    if os.environ.get(ALLOW_AMX_ENV) == "1":
        return None
    flags = {k.strip(): v.strip() for k, _, v in (p.partition("=") for p in info.split("|"))}
    if flags.get("AMX_INT8") != "1":
        return None
    return ("llama.cpp was built with AMX (llama_print_system_info reports AMX_INT8 = 1); its "
            "AMX kernels crash on quantized GGUFs (ggml-org/llama.cpp#20824). Rebuild "
            f"llama-cpp-python with AMX off: {REBUILD_COMMAND} (or run scripts/fresh.sh, which "
            f"does it); {ALLOW_AMX_ENV}=1 runs it anyway")


def require_safe_build() -> None:
    """Raise LlamaBuildError when ``build_problem()`` says this build crashes."""
    problem = build_problem()
    if problem:
        raise LlamaBuildError(problem)


@dataclass(frozen=True)
class ChildRequest:
    """A request about to be sent to a child (for observers: logs, the crash tests)."""

    pid: int
    op: str
    what: str


_watchers: list[Callable[[ChildRequest], None]] = []
_live: set["LlamaProcess"] = set()
_live_lock = threading.Lock()


def watch(fn: Callable[[ChildRequest], None]) -> Callable[[], None]:
    """Call ``fn`` (in the calling thread) before each request to any child; returns a
    function that stops watching."""
    _watchers.append(fn)
    return lambda: _watchers.remove(fn) if fn in _watchers else None


def live_pids() -> list[int]:
    """Pids of the llama.cpp children running now."""
    with _live_lock:
        return [p.pid for p in _live if p.pid is not None]


_ERRORS: dict[str, type[Exception]] = {
    "ExportError": ExportError, "VerificationFailed": VerificationFailed,
    "ValueError": ValueError, "FileNotFoundError": FileNotFoundError, "OSError": OSError,
    "RuntimeError": RuntimeError, "KeyError": KeyError}


class LlamaProcess:
    """One llama.cpp child, started on the first request and restarted after a crash.

    ``log_path``: file that gets the child's output (llama.cpp's log lines); ``echo``: also
    called with each line. Use as a context manager; ``close()`` ends the child.
    """

    def __init__(self, log_path: Path | None = None,
                 echo: Callable[[str], None] | None = None) -> None:
        self.log_path = Path(log_path) if log_path else None
        self.echo = echo
        self.tail: collections.deque[str] = collections.deque(maxlen=20)
        """The child's last output lines."""
        self.pid: int | None = None
        self.system_info = ""
        self._proc: subprocess.Popen[bytes] | None = None
        self._req: Any = None
        self._resp: Any = None
        self._reader: threading.Thread | None = None
        self._lock = threading.RLock()

    def __enter__(self) -> "LlamaProcess":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def alive(self) -> bool:
        """The child is running."""
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> None:
        """Start the child if it is not running (blocks until it answered ``hello``)."""
        with self._lock:
            if not self.alive:
                self._start()

    def _start(self) -> None:
        from multiprocessing.connection import Connection

        self._cleanup()
        req_r, req_w = os.pipe()
        resp_r, resp_w = os.pipe()
        try:
            # stdin closed, stdout+stderr into one pipe we read: the child never touches the
            # terminal (Textual's own stderr has no file descriptor to pass on, either)
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "synapse_core.export.llama_child", str(req_r),
                 str(resp_w), str(os.getpid())],
                pass_fds=(req_r, resp_w), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT, start_new_session=True)
        except BaseException:
            for fd in (req_r, req_w, resp_r, resp_w):
                os.close(fd)
            raise
        os.close(req_r)
        os.close(resp_w)
        self._req = Connection(req_w, readable=False)
        self._resp = Connection(resp_r, writable=False)
        self.pid = self._proc.pid
        with _live_lock:
            _live.add(self)
        self._reader = threading.Thread(target=self._read_output, args=(self._proc,),
                                        name=f"llama-log-{self.pid}", daemon=True)
        self._reader.start()
        self.system_info = self._request("hello", "starting llama.cpp", None, None, False,
                                         {})["system_info"]

    def _read_output(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdout is not None
        log = open(self.log_path, "a", encoding="utf-8") if self.log_path else None
        try:
            for raw in proc.stdout:
                line = raw.decode("utf-8", "replace").rstrip("\n")
                self.tail.append(line)
                if log is not None:
                    log.write(line + "\n")
                    log.flush()
                if self.echo is not None:
                    self.echo(line)
        finally:
            if log is not None:
                log.close()
            proc.stdout.close()

    def call(self, op: str, *, what: str, cancel: Any = None,
             on_delta: Callable[[str, str], None] | None = None, stop_on_cancel: bool = False,
             **kwargs: Any) -> Any:
        """Send one request and wait for its reply; ``what`` says what it does ("generating
        from X.gguf") for the crash message. ``cancel`` (a threading.Event): kill the child and
        raise ExportCancelled, or with ``stop_on_cancel`` ask it to stop (a chat reply)."""
        with self._lock:
            self.start()
            return self._request(op, what, cancel, on_delta, stop_on_cancel, kwargs)

    def _request(self, op: str, what: str, cancel: Any,
                 on_delta: Callable[[str, str], None] | None, stop_on_cancel: bool,
                 kwargs: dict[str, Any]) -> Any:
        with self._lock:
            assert self._proc is not None and self.pid is not None
            for fn in list(_watchers):
                fn(ChildRequest(self.pid, op, what))
            try:
                try:
                    self._req.send((op, kwargs))
                except OSError:  # the child is gone (BrokenPipeError)
                    self._raise_dead(what)
                reply = self._wait(what, cancel, on_delta, stop_on_cancel)
            except LlamaCrashed:
                raise
            except BaseException:  # cancelled or interrupted mid-request: the child goes
                self.kill()
                raise
        if reply[0] == "ok":
            return reply[1]
        _, kind, message, tb = reply
        err = _ERRORS.get(kind, RuntimeError)
        raise err(message if kind in _ERRORS else f"{kind}: {message}")

    def _wait(self, what: str, cancel: Any, on_delta: Callable[[str, str], None] | None,
              stop_on_cancel: bool) -> tuple[Any, ...]:
        assert self._proc is not None
        stop_sent = False
        while True:
            if cancel is not None and cancel.is_set():
                if not stop_on_cancel:
                    raise ExportCancelled(f"cancelled while {what}")
                if not stop_sent:
                    stop_sent = True
                    try:
                        self._req.send(("stop", {}))
                    except OSError:
                        self._raise_dead(what)
            try:
                ready = self._resp.poll(0.1)
                msg = self._resp.recv() if ready else None
            except (EOFError, OSError):
                self._raise_dead(what)
            if msg is None:
                if self._proc.poll() is not None and not self._resp.poll(0):
                    self._raise_dead(what)
                continue
            if msg[0] == "delta":
                if on_delta is not None:
                    on_delta(msg[1], msg[2])
                continue
            return tuple(msg)

    def _raise_dead(self, what: str) -> None:
        assert self._proc is not None
        try:
            rc = self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.kill()
            rc = self._proc.returncode
        if self._reader is not None:
            self._reader.join(timeout=2)  # its last lines (an assert's message) into the log
        where = (f"; llama.cpp's log: {self.log_path}" if self.log_path else
                 (f"; its last line: {self.tail[-1]}" if self.tail else ""))
        self._cleanup()
        if rc is not None and rc < 0:
            raise LlamaCrashed(f"llama.cpp crashed ({signal_name(rc)}) while {what}{where}")
        raise LlamaCrashed(f"llama.cpp's process ended ({signal_name(rc or 0)}) while {what}"
                           f"{where}")

    def kill(self) -> None:
        """Kill the child now (cancel): SIGKILL, reaped."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        self._cleanup()

    def close(self, timeout: float = 5.0) -> None:
        """Ask the child to exit, kill it if it does not within ``timeout`` seconds (at once
        when a request is in flight in another thread: that request then fails)."""
        if not self._lock.acquire(blocking=False):
            self.kill()
            return
        try:
            self._close(timeout)
        finally:
            self._lock.release()

    def _close(self, timeout: float) -> None:
        if self._proc is not None and self._proc.poll() is None:
            try:
                self._req.send(("exit", {}))
                self._proc.wait(timeout)
            except (OSError, subprocess.TimeoutExpired):
                pass
        self.kill()

    def _cleanup(self) -> None:
        for conn in (self._req, self._resp):
            if conn is not None:
                conn.close()
        self._req = self._resp = None
        with _live_lock:
            _live.discard(self)
        if self._reader is not None and self._reader is not threading.current_thread():
            self._reader.join(timeout=2)
            self._reader = None


@atexit.register
def _close_all() -> None:
    with _live_lock:
        procs = list(_live)
    for p in procs:
        p.kill()
