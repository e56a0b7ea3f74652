"""Chat with an exported GGUF through llama-cpp-python: the reasoning block is split from the
answer as tokens stream, and the banned words are suppressed.

Suppression has two parts, because llama.cpp's ``logit_bias`` is per token: every banned word
variant that is a single token gets a -100 bias (``synapse_core.data.banned.llama_logit_bias``);
variants spanning several tokens are blocked as sequences by a logits processor that forbids the
last token of a variant whenever the text so far ends with the rest of it (``bad_words_ids``
semantics), so words that merely share a first token are not hit.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

OPEN, CLOSE = "<reasoning>", "</reasoning>"


class ReasoningSplitter:
    """Feed streamed text; get (reasoning, answer) deltas. Text between ``<reasoning>`` and
    ``</reasoning>`` is reasoning, the rest is the answer; tags split across chunks are held
    back until they can be decided."""

    def __init__(self) -> None:
        self.in_reasoning = False
        self._pending = ""
        self.reasoning = ""
        self.answer = ""

    def feed(self, text: str) -> tuple[str, str]:
        """Consume ``text``; returns the new reasoning and answer text."""
        buf = self._pending + text
        self._pending = ""
        r_out, a_out = [], []
        while buf:
            tag = CLOSE if self.in_reasoning else OPEN
            i = buf.find(tag)
            if i >= 0:
                (r_out if self.in_reasoning else a_out).append(buf[:i])
                buf = buf[i + len(tag):]
                self.in_reasoning = not self.in_reasoning
                continue
            keep = _partial_suffix(buf, tag)
            (r_out if self.in_reasoning else a_out).append(buf[: len(buf) - keep])
            self._pending = buf[len(buf) - keep:]
            break
        r, a = "".join(r_out), "".join(a_out)
        self.reasoning += r
        self.answer += a
        return r, a

    def flush(self) -> tuple[str, str]:
        """End of stream: release held-back text."""
        rest, self._pending = self._pending, ""
        if self.in_reasoning:
            self.reasoning += rest
            return rest, ""
        self.answer += rest
        return "", rest


def _partial_suffix(text: str, tag: str) -> int:
    for n in range(min(len(tag) - 1, len(text)), 0, -1):
        if text.endswith(tag[:n]):
            return n
    return 0


class _LlamaTokenizer:
    """The ``encode`` that synapse_core.data.banned expects, on a llama_cpp.Llama."""

    def __init__(self, llm: Any) -> None:
        self._llm = llm

    def encode(self, text: str, add_special_tokens: bool = False) -> list[int]:
        return list(self._llm.tokenize(text.encode("utf-8"), add_bos=add_special_tokens,
                                       special=False))


def banned_suppression(llm: Any, words: Iterable[str]) -> tuple[dict[int, float], list[list[int]]]:
    """(logit_bias for single-token variants, multi-token variant sequences)."""
    from synapse_core.data.banned import banned_token_ids, llama_logit_bias

    words = list(words)
    tok = _LlamaTokenizer(llm)
    bias = llama_logit_bias(tok, words)
    seqs = [ids for ids in banned_token_ids(tok, words) if len(ids) > 1]
    return bias, seqs


class SequenceBan:
    """A llama_cpp logits processor: forbid the token completing any banned sequence."""

    def __init__(self, seqs: list[list[int]]) -> None:
        self.seqs = [s for s in seqs if len(s) > 1]

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        tail = list(input_ids[-8:]) if len(input_ids) else []
        for s in self.seqs:
            prefix = s[:-1]
            if len(tail) >= len(prefix) and tail[len(tail) - len(prefix):] == prefix:
                scores[s[-1]] = -float("inf")
        return scores


@dataclass
class ChatTurn:
    """One exchange: what the user said, the model's reasoning and answer."""

    user: str
    reasoning: str = ""
    answer: str = ""


@dataclass
class ChatSession:
    """A loaded GGUF and the conversation so far."""

    gguf_path: Path
    banned_words: list[str] = field(default_factory=list)
    n_ctx: int = 2048
    system: str = ""
    turns: list[ChatTurn] = field(default_factory=list)
    llm: Any = None
    logit_bias: dict[int, float] = field(default_factory=dict)
    ban: SequenceBan | None = None

    def load(self) -> None:
        """Load the model (seconds for big files: call from a worker thread)."""
        import llama_cpp  # heavy: loads libllama and the weights

        # a CUDA build (README: GPU server) offloads every layer; the CPU build keeps none
        gpu = -1 if llama_cpp.llama_supports_gpu_offload() else 0
        self.llm = llama_cpp.Llama(str(self.gguf_path), n_ctx=self.n_ctx, n_gpu_layers=gpu,
                                   verbose=False)
        self.logit_bias, seqs = banned_suppression(self.llm, self.banned_words)
        self.ban = SequenceBan(seqs)

    def clear(self) -> None:
        """Start a new conversation (the model stays loaded)."""
        self.turns.clear()

    def close(self) -> None:
        """Free the model."""
        if self.llm is not None:
            self.llm.close()
            self.llm = None

    def messages(self, user: str) -> list[dict[str, str]]:
        """The chat history plus ``user`` as chat-completion messages."""
        msgs = [{"role": "system", "content": self.system}] if self.system else []
        for t in self.turns:
            content = (f"{OPEN}{t.reasoning}{CLOSE}" if t.reasoning else "") + t.answer
            msgs += [{"role": "user", "content": t.user}, {"role": "assistant", "content": content}]
        return msgs + [{"role": "user", "content": user}]

    def send(self, user: str, on_delta: Callable[[str, str], None] | None = None,
             cancel: threading.Event | None = None, max_tokens: int = 256,
             temperature: float = 0.7) -> ChatTurn:
        """Generate a reply, streaming ("reasoning"|"answer", text) deltas to ``on_delta``."""
        from llama_cpp import LogitsProcessorList

        if self.llm is None:
            self.load()
        turn = ChatTurn(user)
        split = ReasoningSplitter()
        stream = self.llm.create_chat_completion(
            messages=self.messages(user), stream=True, max_tokens=max_tokens,
            temperature=temperature, logit_bias=self.logit_bias or None,
            logits_processor=LogitsProcessorList([self.ban]) if self.ban and self.ban.seqs else None)
        for chunk in stream:
            if cancel is not None and cancel.is_set():
                break
            text = chunk["choices"][0]["delta"].get("content") or ""
            if text:
                self._emit(split.feed(text), on_delta)
        self._emit(split.flush(), on_delta)
        turn.reasoning, turn.answer = split.reasoning.strip(), split.answer.strip()
        self.turns.append(turn)
        return turn

    @staticmethod
    def _emit(deltas: tuple[str, str], on_delta: Callable[[str, str], None] | None) -> None:
        r, a = deltas
        if on_delta is None:
            return
        if r:
            on_delta("reasoning", r)
        if a:
            on_delta("answer", a)


class ChildChatSession:
    """A ``ChatSession`` whose model lives in a llama.cpp child process (one per session), so
    a native crash is a ``LlamaCrashed`` error ("llama.cpp crashed (SIGSEGV) while generating
    from X.gguf"), not the end of the app. After a crash the next ``send`` starts a fresh
    child with the conversation so far. llama.cpp's log lines go to ``log_path`` (or nowhere)."""

    def __init__(self, gguf_path: Path, banned_words: Iterable[str] = (), n_ctx: int = 2048,
                 system: str = "", log_path: Path | None = None) -> None:
        from synapse_core.export.llama_proc import LlamaProcess

        self.gguf_path = Path(gguf_path)
        self.banned_words = list(banned_words)
        self.n_ctx, self.system = n_ctx, system
        self.turns: list[ChatTurn] = []
        self.banned = 0
        """Banned-word token patterns blocked (single tokens + sequences)."""
        self._proc = LlamaProcess(log_path)
        self._loaded = False

    @property
    def pid(self) -> int | None:
        """The child's pid (None before ``load``)."""
        return self._proc.pid if self._proc.alive else None

    def load(self) -> None:
        """Start the child and load the model (seconds for big files: call from a worker).
        LlamaBuildError when this llama.cpp build crashes here (AMX)."""
        from synapse_core.export.llama_proc import require_safe_build

        require_safe_build()
        self.banned = self._proc.call(
            "chat_load", what=f"loading {self.gguf_path.name}", path=str(self.gguf_path),
            banned_words=self.banned_words, n_ctx=self.n_ctx, system=self.system,
            turns=[(t.user, t.reasoning, t.answer) for t in self.turns])["banned"]
        self._loaded = True

    def send(self, user: str, on_delta: Callable[[str, str], None] | None = None,
             cancel: threading.Event | None = None, max_tokens: int = 256,
             temperature: float = 0.7) -> ChatTurn:
        """``ChatSession.send`` in the child; ``cancel`` stops the reply (the model stays)."""
        from synapse_core.export.llama_proc import LlamaCrashed

        if not (self._loaded and self._proc.alive):
            self.load()
        try:
            r = self._proc.call("chat_send", what=f"generating from {self.gguf_path.name}",
                                cancel=cancel, stop_on_cancel=True, on_delta=on_delta, user=user,
                                max_tokens=max_tokens, temperature=temperature)
        except LlamaCrashed:
            self._loaded = False
            raise
        turn = ChatTurn(user, r["reasoning"], r["answer"])
        self.turns.append(turn)
        return turn

    def clear(self) -> None:
        """Start a new conversation (the model stays loaded)."""
        self.turns.clear()
        if self._loaded and self._proc.alive:
            self._proc.call("chat_clear", what="clearing the chat")

    def close(self) -> None:
        """End the child (at once if a reply is being generated)."""
        self._proc.close()
