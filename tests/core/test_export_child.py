"""llama.cpp in a child process: crashes become errors naming the signal, cancel kills the
child, nothing is left running, an AMX build is refused, native log lines stay off the
terminal."""

from __future__ import annotations

import os
import signal
import threading

import pytest

from synapse_core.cli import main
from synapse_core.export import llama_proc
from synapse_core.export.chat import ChildChatSession
from synapse_core.export.errors import ExportCancelled
from synapse_core.export.llama_proc import (LlamaBuildError, LlamaCrashed, LlamaProcess,
                                            build_problem)
from synapse_core.export.verify import verify_gguf

AMX_INFO = ("CPU : SSE3 = 1 | AVX = 1 | AVX2 = 1 | AVX512 = 1 | AMX_INT8 = 1 | LLAMAFILE = 1 | "
            "OPENMP = 1 | REPACK = 1 | ")


@pytest.fixture(scope="module")
def tiny_gguf(tiny_model_dir, tmp_path_factory):
    from synapse_core.export.convert import convert_to_gguf

    return convert_to_gguf(tiny_model_dir("mistral"), tmp_path_factory.mktemp("child") / "m.gguf")


@pytest.fixture
def kill_on(request):
    """``kill_on(op)``: every child gets SIGSEGV right before it is sent ``op``."""
    stops = []

    def arm(op: str, sig: int = signal.SIGSEGV):
        def fn(req: llama_proc.ChildRequest) -> None:
            if req.op == op:
                os.kill(req.pid, sig)
        stops.append(llama_proc.watch(fn))
        return stops[-1]

    yield arm
    for stop in stops:
        stop()


def test_this_build_has_amx_off():
    # the build scripts/llama-cmake-args.sh makes: AMX off whatever the CPU (issue 14)
    assert "AMX_INT8 = 1" not in llama_proc.system_info()
    assert build_problem() is None


def test_crash_is_an_error_naming_the_signal_and_the_next_call_restarts():
    with LlamaProcess() as proc:
        first = proc.call("hello", what="starting")["pid"]
        with pytest.raises(LlamaCrashed, match=r"llama.cpp crashed \(SIGSEGV\) while testing"):
            proc.call("crash", what="testing")
        assert llama_proc.live_pids() == []
        again = proc.call("hello", what="starting")["pid"]  # a fresh child
        assert again != first and llama_proc.live_pids() == [again]
    assert llama_proc.live_pids() == []


def test_cancel_kills_a_busy_child():
    cancel = threading.Event()
    with LlamaProcess() as proc:
        proc.start()
        pid = proc.pid
        threading.Timer(0.3, cancel.set).start()
        with pytest.raises(ExportCancelled):
            # a child stopped with SIGSTOP never answers: only the cancel ends the wait
            os.kill(pid, signal.SIGSTOP)
            proc.call("hello", what="waiting", cancel=cancel)
    assert llama_proc.live_pids() == []
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_verify_crash_is_a_problem_naming_signal_and_file(tiny_gguf, kill_on, capfd):
    kill_on("generate")
    report = verify_gguf(tiny_gguf)
    assert not report.ok
    assert report.problems == [f"llama.cpp crashed (SIGSEGV) while generating from {tiny_gguf.name}"]
    assert llama_proc.live_pids() == []
    out, err = capfd.readouterr()
    assert "llama" not in out + err  # llama.cpp's own lines never reach the terminal


def test_chat_child_crash_then_recovers_with_history(tiny_gguf, kill_on):
    chat = ChildChatSession(tiny_gguf, banned_words=[])
    first = chat.send("Hello", max_tokens=3, temperature=0.0)
    disarm = kill_on("chat_send")
    with pytest.raises(LlamaCrashed, match=r"\(SIGSEGV\) while generating from m.gguf"):
        chat.send("Again", max_tokens=3, temperature=0.0)
    disarm()
    again = chat.send("After the crash", max_tokens=3, temperature=0.0)  # a fresh child
    assert [t.user for t in chat.turns] == ["Hello", "After the crash"] and first.answer
    assert again.answer is not None
    chat.close()
    assert llama_proc.live_pids() == []


def test_amx_build_is_refused_everywhere(monkeypatch, tiny_gguf, tmp_path, capsys):
    monkeypatch.setattr(llama_proc, "system_info", lambda: AMX_INFO)
    problem = build_problem()
    assert "AMX_INT8 = 1" in problem and "llama-cmake-args.sh" in problem
    with pytest.raises(LlamaBuildError, match="AMX"):
        verify_gguf(tiny_gguf)
    assert main(["export", "--verify", str(tiny_gguf)]) == 1
    assert "llama-cmake-args.sh" in capsys.readouterr().err
    with pytest.raises(LlamaBuildError):
        ChildChatSession(tiny_gguf).load()
    # an export job that verifies fails at once, before any step ran
    from synapse_core.export.queue import ExportQueue

    q = ExportQueue(tmp_path / "out")
    job = q.add(tmp_path)
    q.start()
    assert q.wait_idle(timeout=60)
    q.stop()
    got = q.get(job.id)
    assert got.state == "failed" and "AMX_INT8 = 1" in got.error
    assert all(s.state == "pending" for s in got.steps.values())
    assert llama_proc.live_pids() == []
    monkeypatch.setenv(llama_proc.ALLOW_AMX_ENV, "1")
    assert build_problem() is None


@pytest.mark.slow
def test_quantize_log_lines_go_to_the_log_file_and_echo_only(tiny_gguf, tmp_path, capfd):
    from synapse_core.export.quantize import quantize

    log, echoed = tmp_path / "job.log", []
    with LlamaProcess(log, echo=echoed.append) as proc:
        rep = quantize(tiny_gguf, tmp_path / "m.q8.gguf", "q8_0", {}, llama=proc)
    assert rep.quant == "q8_0" and (tmp_path / "m.q8.gguf").is_file()
    assert "llama_model_loader" in log.read_text()  # llama.cpp's own lines, in the file
    assert any("llama_model_loader" in line for line in echoed)  # what `-v` prints
    out, err = capfd.readouterr()
    assert "llama_model_loader" not in out + err  # never on the terminal
