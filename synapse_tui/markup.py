"""Text from outside (a dataset's entities, a model's reply, file names) put inside markup.

``rich.markup.escape`` and ``textual.markup.escape`` leave some brackets alone that Textual's
markup parser then reads as a tag: ``'Además**[ x arke=:'`` raised ``MarkupError`` and closed
the app. A backslash before every ``[`` is read as a plain ``[`` by both Textual's and Rich's
parsers, whatever follows it."""

from __future__ import annotations


def escape(text: str) -> str:
    """``text`` for use inside markup: it renders exactly as written."""
    return text.replace("[", "\\[")
