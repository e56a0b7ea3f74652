"""Outside text inside markup renders exactly as written, through Textual's and Rich's parsers."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from rich.text import Text
from textual.content import Content

from synapse_tui.markup import escape

TRICKY = ["Además**[ x arke=:", "a [y: b", "[b]x", "x[/b]", "[@click=app.quit]z", "\\[x",
          "back\\slash", "x\\", "[[[", "]]", "[ key=value ]", "[$primary]x[/]"]


def test_tricky_texts_render_as_written() -> None:
    for text in TRICKY:
        assert Content.from_markup(escape(text)).plain == text
        assert Text.from_markup(escape(text)).plain == text


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("[]/\\=:@$ ab1")), max_size=40))
def test_any_bracket_soup_renders_as_written(text: str) -> None:
    assert Content.from_markup(escape(text)).plain == text
