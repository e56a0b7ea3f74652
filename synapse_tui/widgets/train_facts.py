"""Text panels of the training pane: what was loaded, the objective's metrics, the preview."""

from __future__ import annotations

from synapse_tui.markup import escape
from textual.widgets import Static

from synapse_core.training.events import ModelLoaded, PreviewGenerated, RunStarted


def _count(n: int) -> str:
    if n >= 1_000_000_000:
        return f"{n / 1e9:.2f}B"
    if n >= 1_000_000:
        return f"{n / 1e6:.1f}M"
    if n >= 1_000:
        return f"{n / 1e3:.1f}k"
    return str(n)


class ModelFacts(Static):
    """The run and the backend/model facts as the engine reported them (ModelLoaded)."""

    DEFAULT_CSS = """
    ModelFacts { height: auto; }
    """

    def __init__(self, id: str | None = None) -> None:
        super().__init__("no model loaded", id=id)
        self._run: RunStarted | None = None
        self._model: ModelLoaded | None = None

    def show_run(self, ev: RunStarted) -> None:
        """A run began: show its objective, model and size (the engine may report the
        model before or after this)."""
        self._run = ev
        self._render_facts()

    def show_model(self, ev: ModelLoaded) -> None:
        """The model is loaded: show backend, device, dtype, attention, optimizer and notes."""
        self._model = ev
        self._render_facts()

    def show_text(self, text: str) -> None:
        """Replace the facts with a line (a past run, an error)."""
        self._run = self._model = None
        self.update(escape(text))

    def _render_facts(self) -> None:
        lines: list[str] = []
        if r := self._run:
            resumed = f", resumed at step {r.resumed_from_step}" if r.resumed_from_step else ""
            ranks = f", {r.world_size} ranks (DDP)" if r.world_size > 1 else ""
            lines.append(f"[b]{escape(r.objective.upper())}[/b] on {escape(r.model)}: "
                         f"{r.train_rows} rows, {r.total_steps} steps{resumed}{ranks}")
        if m := self._model:
            pct = 100.0 * m.trainable_params / m.total_params if m.total_params else 0.0
            lines.append(f"{escape(m.backend)} on {escape(m.device)}, {escape(m.dtype)}, "
                         f"{escape(m.attn_implementation)}"
                         f"{', 4-bit' if m.load_in_4bit else ''}, optim {escape(m.optim)}")
            lines.append(f"trainable {_count(m.trainable_params)} of {_count(m.total_params)} "
                         f"({pct:.2f}%), +{m.added_tokens} tokens, {escape(m.experts)}, "
                         f"loaded in {m.seconds:.1f}s")
            lines.extend(f"[$warning]note:[/] {escape(n)}" for n in m.notes)
        self.update("\n".join(lines) or "no model loaded")


class ObjectiveMetrics(Static):
    """The objective's metrics of the last logged step (KTO rewards, KL, ...)."""

    DEFAULT_CSS = """
    ObjectiveMetrics { height: auto; }
    """

    def __init__(self, id: str | None = None) -> None:
        super().__init__("objective metrics: none yet", id=id)
        self._keys: list[str] = []

    def show(self, metrics: dict[str, float], grad_norm: float | None = None) -> None:
        """Show ``metrics`` sorted by name (plus the gradient norm when known)."""
        items = dict(sorted(metrics.items()))
        if grad_norm is not None:
            items = {"grad_norm": grad_norm, **items}
        if not items:
            self.update("objective metrics: none reported")
            return
        # Same names as last time: same size, so a repaint will do (a layout of the whole
        # screen at the panel's 10 Hz would cost more than the rest of the redraw).
        same_keys = list(items) == self._keys
        self._keys = list(items)
        self.update("  ".join(f"{escape(k)} [b]{v:.4g}[/b]" for k, v in items.items()),
                    layout=not same_keys)


class PreviewView(Static):
    """The last sample generation (banned words suppressed by the engine)."""

    DEFAULT_CSS = """
    PreviewView { height: auto; max-height: 8; }
    """

    def __init__(self, id: str | None = None) -> None:
        super().__init__("preview: none yet", id=id)

    def show(self, ev: PreviewGenerated) -> None:
        """Show the preview of step ``ev.step``."""
        self.update(f"[b]preview @ step {ev.step}[/b] [i]{escape(ev.prompt)}[/i]\n"
                    f"{escape(ev.text)}")
