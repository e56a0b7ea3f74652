"""Chat with an exported GGUF: the reasoning block is shown apart from the answer.

The model loads and generates in a thread worker (``synapse_core.export.chat.ChatSession``);
streamed deltas come back as messages, so the UI thread only appends text.
"""

from __future__ import annotations

import threading
from pathlib import Path

from rich.markup import escape
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Input, Static

from synapse_core.export.chat import ChatSession


class ChatScreen(Screen[None]):
    """A conversation with one GGUF; banned words are suppressed during generation."""

    DEFAULT_CSS = """
    ChatScreen #chat-title { height: 1; background: $panel; padding: 0 1; }
    ChatScreen #chat-history { height: 1fr; padding: 0 1; }
    ChatScreen .chat-user { margin-top: 1; text-style: bold; }
    ChatScreen .chat-reasoning { border: round $secondary; color: $text-muted; padding: 0 1; }
    ChatScreen .chat-answer { padding: 0 1; }
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

    def __init__(self, gguf: Path, banned_words: list[str]) -> None:
        super().__init__()
        self.session = ChatSession(Path(gguf), banned_words)
        self._stop = threading.Event()
        self._reasoning: Static | None = None
        self._answer: Static | None = None
        self._texts = {"reasoning": "", "answer": ""}

    def compose(self) -> ComposeResult:
        yield Static(f"chat: {escape(self.session.gguf_path.name)} (loading...)", id="chat-title")
        yield VerticalScroll(id="chat-history")
        yield Input(placeholder="Ask Professor Synapse...", id="chat-input", disabled=True)
        yield Footer()

    def on_mount(self) -> None:
        self._load()

    @work(thread=True, exclusive=True, exit_on_error=False, group="chat")
    def _load(self) -> None:
        try:
            self.session.load()
        except (ValueError, RuntimeError, OSError) as e:
            self.post_message(self.Ready(error=str(e)))
            return
        n = len(self.session.logit_bias) + len(self.session.ban.seqs if self.session.ban else [])
        self.post_message(self.Ready(banned=n))

    @on(Ready)
    def _ready(self, message: Ready) -> None:
        title = self.query_one("#chat-title", Static)
        if message.error:
            title.update(f"chat: could not load: {escape(message.error)}")
            return
        title.update(f"chat: {escape(self.session.gguf_path.name)}  "
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
        self._reasoning = Static("", classes="chat-reasoning")
        self._answer = Static("", classes="chat-answer")
        self._reasoning.display = False
        self._texts = {"reasoning": "", "answer": ""}
        history.mount(Static(f"you: {escape(text)}", classes="chat-user"), self._reasoning,
                      self._answer)
        self._stop.clear()
        self._generate(text)

    @work(thread=True, exclusive=True, exit_on_error=False, group="chat")
    def _generate(self, text: str) -> None:
        self.session.send(text, on_delta=lambda k, t: self.post_message(self.Delta(k, t)),
                          cancel=self._stop)
        self.post_message(self.Delta("done", ""))

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
            self._reasoning.update(escape(self._texts["reasoning"]))
        elif self._answer is not None:
            self._answer.update(escape(self._texts["answer"]))
        self.query_one("#chat-history", VerticalScroll).scroll_end(animate=False)

    def action_stop(self) -> None:
        self._stop.set()

    def action_close(self) -> None:
        self._stop.set()
        self.app.pop_screen()

    def on_unmount(self) -> None:
        self._stop.set()
        self.session.close()
