"""The child process that runs llama.cpp for one export job or one chat session.

Started by ``synapse_core.export.llama_proc.LlamaProcess`` as ``python -m
synapse_core.export.llama_child REQ_FD RESP_FD PARENT_PID``. It reads requests ``(op, kwargs)`` from the
request pipe and answers each with ``("ok", value)`` or ``("error", type name, message)``;
a chat reply streams ``("delta", kind, text)`` messages before its ``ok``. Messages are
pickled by ``multiprocessing.connection`` (length-prefixed frames), which carries numpy arrays
and dataclasses as they are.

llama.cpp's native log lines (and anything it prints) go to this process's stdout/stderr,
which the parent reads into the job's log file: never onto the user's terminal.

``OPS`` are plain functions; the parent's in-process benchmark calls the same ones.
"""

from __future__ import annotations

import os
import sys
import threading
import traceback
from pathlib import Path
from typing import Any, Callable


def op_hello() -> dict[str, Any]:
    """pid and the loaded libllama's system info (its CPU features)."""
    import llama_cpp  # heavy: loads libllama

    return {"pid": os.getpid(),
            "system_info": llama_cpp.llama_print_system_info().decode("utf-8", "replace")}


def op_generate(path: str, prompt: str, n: int = 8) -> tuple[int, str]:
    """Load ``path`` and greedily generate ``n`` tokens after ``prompt``: (count, text)."""
    from synapse_core.export.verify import generate_tokens, load_llama

    llm = load_llama(Path(path))
    try:
        return generate_tokens(llm, prompt, n)
    finally:
        llm.close()


def op_logits(path: str, ids: list[int]) -> Any:
    """The logits [len(ids), n_vocab] (float32) of ``ids`` fed to ``path``."""
    import numpy as np

    from synapse_core.export.verify import load_llama

    llm = load_llama(Path(path), logits_all=True)
    try:
        llm.eval(ids)
        return np.array(llm.scores[: len(ids)], dtype=np.float32)
    finally:
        llm.close()


def op_mmproj_encode(mmproj: str, text_gguf: str, side: int = 64) -> Any:
    """llama.cpp's (mtmd's) embeddings of the verification test image, or None."""
    from synapse_core.export.verify import _encode_test_image, _test_image

    return _encode_test_image(Path(mmproj), Path(text_gguf), _test_image(side))


def op_quantize(src: str, dst: str, quant: str, overrides: dict[str, str] | None = None,
                nthread: int = 0) -> Any:
    """``synapse_core.export.quantize.quantize_in_process`` (its QuantizeReport)."""
    from synapse_core.export.quantize import quantize_in_process

    return quantize_in_process(Path(src), Path(dst), quant, overrides, nthread)


def op_crash(signal_name: str = "SIGSEGV") -> None:
    """Die of ``signal_name`` as a native crash would (the crash tests and their benchmark)."""
    import signal

    os.kill(os.getpid(), getattr(signal, signal_name))


class _Chat:
    """The chat session living in this process (one per child)."""

    session: Any = None


def op_chat_load(path: str, banned_words: list[str], n_ctx: int = 2048, system: str = "",
                 turns: list[tuple[str, str, str]] = ()) -> dict[str, int]:
    """Load ``path`` for chatting, with the conversation so far (``turns``: user, reasoning,
    answer); returns how many banned-word token patterns are blocked."""
    from synapse_core.export.chat import ChatSession, ChatTurn

    if _Chat.session is not None:
        _Chat.session.close()
    s = ChatSession(Path(path), list(banned_words), n_ctx=n_ctx, system=system,
                    turns=[ChatTurn(*t) for t in turns])
    s.load()
    _Chat.session = s
    return {"banned": len(s.logit_bias) + len(s.ban.seqs if s.ban else [])}


def op_chat_clear() -> None:
    """Start a new conversation with the loaded model."""
    if _Chat.session is not None:
        _Chat.session.turns.clear()


OPS: dict[str, Callable[..., Any]] = {
    "hello": op_hello, "generate": op_generate, "logits": op_logits,
    "mmproj_encode": op_mmproj_encode, "quantize": op_quantize, "crash": op_crash,
    "chat_load": op_chat_load, "chat_clear": op_chat_clear,
}
"""Requests the child answers (``chat_send`` streams and is handled in ``serve``)."""


class _StopFlag:
    """``is_set()`` for ChatSession.send: true once the parent sent ``("stop", {})``."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self.flag = False

    def is_set(self) -> bool:
        while not self.flag and self.conn.poll(0):
            op, _ = self.conn.recv()
            self.flag = op in ("stop", "exit")
            if op == "exit":
                os._exit(0)  # the parent is closing the chat mid-reply
        return self.flag


def _chat_send(req: Any, resp: Any, user: str, max_tokens: int = 256,
               temperature: float = 0.7) -> dict[str, str]:
    if _Chat.session is None:
        raise RuntimeError("chat_send before chat_load")
    turn = _Chat.session.send(user, on_delta=lambda k, t: resp.send(("delta", k, t)),
                              cancel=_StopFlag(req), max_tokens=max_tokens,
                              temperature=temperature)
    return {"reasoning": turn.reasoning, "answer": turn.answer}


def _watch_parent(parent: int) -> None:
    """Exit when the parent dies (this process is then re-parented), even mid-way through a
    long native call (ctypes releases the GIL): nothing is left running."""
    import time

    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(1)


def serve(req: Any, resp: Any) -> None:
    """Answer requests until the parent sends ``exit`` or closes the pipe."""
    while True:
        try:
            op, kwargs = req.recv()
        except (EOFError, OSError):
            return
        if op == "exit":
            return
        if op == "stop":  # a stop that arrived after its reply finished
            continue
        try:
            if op == "chat_send":
                value = _chat_send(req, resp, **kwargs)
            else:
                value = OPS[op](**kwargs)
            resp.send(("ok", value))
        except Exception as e:  # sent to the parent, which raises it there
            resp.send(("error", type(e).__name__, str(e),
                       "".join(traceback.format_exception(e))[-4000:]))


def main(argv: list[str]) -> int:
    from multiprocessing.connection import Connection

    req = Connection(int(argv[0]), writable=False)
    resp = Connection(int(argv[1]), readable=False)
    os.dup2(2, 1)  # anything native code prints goes to the log pipe, like its log lines
    parent = int(argv[2]) if len(argv) > 2 else os.getppid()
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()
    try:
        serve(req, resp)
    finally:
        if _Chat.session is not None:
            _Chat.session.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
