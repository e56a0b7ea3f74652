"""Chat with an exported GGUF: the reasoning block is shown apart from the answer.

The model lives in a llama.cpp child process (``synapse_core.export.chat.ChildChatSession``),
driven from a thread worker; streamed deltas come back as messages, so the UI thread only
appends text. A native crash in the child is shown as an error in the conversation (the next
message starts a fresh child); the app goes on. A llama.cpp built with AMX is refused with the
rebuild command.
"""

from __future__ import annotations

import threading
from pathlib import Path

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Input, Static

from synapse_core.export.chat import ChildChatSession
from synapse_core.export.errors import ExportError


class ChatScreen(Screen[None]):
    """A conversation with one GGUF; banned words are suppressed during generation."""

    DEFAULT_CSS = """
    ChatScreen #chat-title { height: 1; background: $panel; padding: 0 1; }
    ChatScreen #chat-history { height: 1fr; padding: 0 1; }
    ChatScreen .chat-user { margin-top: 1; text-style: bold; }
    ChatScreen .chat-reasoning { border: round $secondary; color: $text-muted; padding: 0 1; }
    ChatScreen .chat-answer { padding: 0 1; }
    ChatScreen .chat-error { color: $error; text-style: bold; padding: 0 1; }
    ChatScreen #chat-input { dock: bottom; }
    """

    BINDINGS = [
        Binding("escape", "close", "Close", id="chat-close", tooltip="Leave the chat"),
        Binding("ctrl+x", "stop", "Stop", id="chat-stop", tooltip="Stop the reply being generated"),
    ]

    class Delta(Message):
        """Streamed text of the reply: ``kind`` is reasoning or answer."""

        def __init__(self, kind: str, text: str) -> None:
            super().__init__()
            self.kind = kind
            self.text = text

    class Ready(Message):
        """The model loaded (or failed to, with ``error``)."""

        def __init__(self, error: str = "", banned: int = 0) -> None:
            super().__init__()
            self.error = error
            self.banned = banned

    class Failed(Message):
        """The reply could not be generated (llama.cpp crashed: ``error`` names the signal)."""

        def __init__(self, error: str) -> None:
            super().__init__()
            self.error = error

    def __init__(self, gguf: Path, banned_words: list[str], log_path: Path | None = None) -> None:
        super().__init__()
        self.session = ChildChatSession(Path(gguf), banned_words, log_path=log_path)
        self._stop = threading.Event()
        self._reasoning: Static | None = None
        self._answer: Static | None = None
        self._texts = {"reasoning": "", "answer": ""}

    def compose(self) -> ComposeResult:
        # a file name (like the model's text below) is shown as it is, never read as markup
        yield Static(f"chat: {self.session.gguf_path.name} (loading...)", id="chat-title",
                     markup=False)
        yield VerticalScroll(id="chat-history")
        yield Input(placeholder="Ask Professor Synapse...", id="chat-input", disabled=True)
        yield Footer()

    def on_mount(self) -> None:
        self._load()

    @work(thread=True, exclusive=True, exit_on_error=False, group="chat")
    def _load(self) -> None:
        try:
            self.session.load()
        except (ExportError, ValueError, RuntimeError, OSError) as e:  # crash, AMX, bad file
            self.post_message(self.Ready(error=str(e)))
            return
        self.post_message(self.Ready(banned=self.session.banned))

    @on(Ready)
    def _ready(self, message: Ready) -> None:
        title = self.query_one("#chat-title", Static)
        if message.error:
            title.update(f"chat: {self.session.gguf_path.name}: could not load "
                         "(escape closes)")
            self.query_one("#chat-history", VerticalScroll).mount(
                Static(message.error, classes="chat-error", id="chat-error", markup=False))
            return
        title.update(f"chat: {self.session.gguf_path.name}  "
                     f"({message.banned} banned-word token patterns suppressed)")
        inp = self.query_one("#chat-input", Input)
        inp.disabled = False
        inp.focus()

    @on(Input.Submitted, "#chat-input")
    def _send(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        if not text:
            return
        event.input.value = ""
        event.input.disabled = True
        history = self.query_one("#chat-history", VerticalScroll)
        # the model's text (and the user's) is shown as it is, never read as markup: a
        # generated "[...:" is not a tag, and escape() does not cover every such case
        self._reasoning = Static("", classes="chat-reasoning", markup=False)
        self._answer = Static("", classes="chat-answer", markup=False)
        self._reasoning.display = False
        self._texts = {"reasoning": "", "answer": ""}
        history.mount(Static(f"you: {text}", classes="chat-user", markup=False), self._reasoning,
                      self._answer)
        self._stop.clear()
        self._generate(text)

    @work(thread=True, exclusive=True, exit_on_error=False, group="chat")
    def _generate(self, text: str) -> None:
        try:
            self.session.send(text, on_delta=lambda k, t: self.post_message(self.Delta(k, t)),
                              cancel=self._stop)
        except (ExportError, ValueError, RuntimeError, OSError) as e:
            self.post_message(self.Failed(str(e)))
        self.post_message(self.Delta("done", ""))

    @on(Failed)
    def _failed(self, message: Failed) -> None:
        history = self.query_one("#chat-history", VerticalScroll)
        history.mount(Static(f"{message.error}\n(send again to restart the model, "
                             "escape to close)", classes="chat-error", markup=False))
        history.scroll_end(animate=False)

    @on(Delta)
    def _delta(self, message: Delta) -> None:
        if message.kind == "done":
            inp = self.query_one("#chat-input", Input)
            inp.disabled = False
            inp.focus()
            return
        self._texts[message.kind] += message.text
        if message.kind == "reasoning" and self._reasoning is not None:
            self._reasoning.display = True
            self._reasoning.update(self._texts["reasoning"])
        elif self._answer is not None:
            self._answer.update(self._texts["answer"])
        self.query_one("#chat-history", VerticalScroll).scroll_end(animate=False)

    def action_stop(self) -> None:
        self._stop.set()

    def action_close(self) -> None:
        self._stop.set()
        self.app.pop_screen()

    def on_unmount(self) -> None:
        self._stop.set()
        self.session.close()
