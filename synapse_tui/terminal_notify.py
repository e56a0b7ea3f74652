"""Desktop notifications through the terminal: OSC 9 (iTerm2, WezTerm, Windows Terminal,
kitty, foot) and OSC 777 (rxvt, VTE terminals, Ghostty). The escape sequences travel over SSH
to the engineer's laptop, so a run ending on a GPU server can pop up on their desktop.
Terminals that do not know them ignore them. Inside tmux they are wrapped in its passthrough
sequence (delivered when tmux's ``allow-passthrough`` is on)."""

from __future__ import annotations

import os
import sys
from typing import TextIO


def _clean(text: str) -> str:
    # no control characters inside an OSC string (a BEL or ESC would end it early)
    return "".join(ch if ch.isprintable() else " " for ch in text)[:200].replace(";", ",")


def sequences(title: str, body: str) -> str:
    """OSC 9 and OSC 777 for one notification (wrapped for tmux when inside it)."""
    title, body = _clean(title), _clean(body)
    out = f"\x1b]9;{title}: {body}\x07" + f"\x1b]777;notify;{title};{body}\x07"
    if os.environ.get("TMUX"):
        # tmux passthrough: ESC P tmux; <sequence with each ESC doubled> ESC \
        out = "".join("\x1bPtmux;" + seq.replace("\x1b", "\x1b\x1b") + "\x1b\\"
                      for seq in (f"\x1b]9;{title}: {body}\x07",
                                  f"\x1b]777;notify;{title};{body}\x07"))
    return out


def notify_terminal(title: str, body: str, stream: TextIO | None = None) -> None:
    """Write the notification sequences to the terminal (Textual's output stream, stderr);
    a terminal that is gone is ignored."""
    out = stream or sys.__stderr__
    if out is None:
        return
    try:
        out.write(sequences(title, body))
        out.flush()
    except (OSError, ValueError):
        return
