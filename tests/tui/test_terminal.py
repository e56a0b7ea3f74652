"""The app in a real terminal (tmux): what its partial repaints leave on the screen is what a
full repaint draws.

The main screen skips Textual's full repaint when the focus moves, and the details toggle is
a layout change alone; a cell either leaves stale would stay on a user's terminal. Here the
real ``synapse-tui`` runs in a tmux window; after each key the window's cells (characters
and colours, ``capture-pane -e``) are compared with the same window after a resize forced a
full repaint.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")

WIDTH, HEIGHT = 100, 32
SETTLE_S = 30.0
"""Longest wait for the screen to show something or to stop changing (a busy 2-core box)."""


class Tmux:
    """One tmux server of our own (its own socket), one window running a command."""

    def __init__(self, socket: str) -> None:
        self.socket = socket

    def run(self, *args: str) -> str:
        return subprocess.run(["tmux", "-L", self.socket, *args], check=True,
                              capture_output=True, text=True, timeout=10).stdout

    def screen(self) -> str:
        """Every cell of the window, with its colours as escape codes."""
        return self.run("capture-pane", "-p", "-e", "-t", "app")

    def wait(self, ready: Callable[[str], bool], what: str) -> str:
        """Poll the screen (bounded) until ``ready`` holds and it stopped changing."""
        deadline = time.monotonic() + SETTLE_S
        last = None
        while time.monotonic() < deadline:
            now = self.screen()
            if now == last and ready(now):
                return now
            last = now
            time.sleep(0.25)  # a real terminal: nothing to await but its contents
        shown = self.run("capture-pane", "-p", "-t", "app")
        raise AssertionError(f"timed out waiting for {what}:\n{shown}")


@pytest.fixture
def app_in_tmux(tmp_path: Path) -> Iterator[Tmux]:
    data = tmp_path / "one.jsonl"
    data.write_text(json.dumps({"messages": [
        {"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello."}]}) + "\n",
        encoding="utf-8")
    config = tmp_path / "run.toml"
    config.write_text(f"[training]\nruns_dir = {json.dumps(str(tmp_path / 'runs'))}\n"
                      f"[export]\nout_dir = {json.dumps(str(tmp_path / 'exports'))}\n",
                      encoding="utf-8")
    env = {"XDG_CONFIG_HOME": str(tmp_path / "xdg-config"), "TERM": "xterm-256color",
           "COLORTERM": "truecolor"}
    command = " ".join([*(f"{k}={shlex.quote(v)}" for k, v in env.items()),
                        shlex.quote(sys.executable), "-m", "synapse_tui",
                        "--config", shlex.quote(str(config)), shlex.quote(str(data))])
    tmux = Tmux(f"synapse-test-{os.getpid()}")
    tmux.run("new-session", "-d", "-s", "app", "-x", str(WIDTH), "-y", str(HEIGHT), command)
    try:
        yield tmux
    finally:
        tmux.run("kill-server")


def test_partial_repaints_leave_what_a_full_repaint_draws(app_in_tmux: Tmux) -> None:
    """Tab, shift+tab and the details toggle on the training tab: after each, the window
    equals itself after a full repaint (characters and colours)."""
    tmux = app_in_tmux
    tmux.wait(lambda s: "1 rows" in s, "the dataset to load")
    tmux.run("send-keys", "-t", "app", "3")
    tmux.wait(lambda s: "Open run" in s and "no data yet" in s, "the training tab")
    for key in ("Tab", "Tab", "Tab", "l", "Tab", "BTab", "l", "Tab"):
        tmux.run("send-keys", "-t", "app", key)
        painted = tmux.wait(lambda s: True, f"the repaint after {key}")
        # a resize and back repaints every cell
        tmux.run("resize-window", "-t", "app", "-x", str(WIDTH + 2))
        tmux.wait(lambda s: True, "the wider repaint")
        tmux.run("resize-window", "-t", "app", "-x", str(WIDTH))
        full = tmux.wait(lambda s: True, "the full repaint")
        assert painted == full, f"stale cells after {key!r}"
