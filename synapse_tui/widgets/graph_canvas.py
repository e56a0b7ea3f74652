"""Lay out an ``EgoView`` on a character canvas (pure: no Textual, easy to test).

The entity sits in a box in the middle. Its in-edges are listed on the left, its out-edges on
the right; a bus line on each side joins them to the box, and every edge is labelled with its
predicate and, when more than one row states it, the count::

    sunlight ─powers───────┐        ┌──produces─▶ oxygen
    plants ─performs (4)───┼─▶│ photosynthesis │─┤
                           │        └──needs─▶ water
                           ...

At depth 2 each neighbour's next hop is an indented tree line under it (``└─pred─▶ name`` on
the right: the neighbour does that; ``└◀pred─ name`` on the left: that points at the
neighbour). When rows run out, depth-2 lines are dropped first, then neighbours, and the last
line says "+N more".
"""

from __future__ import annotations

from dataclasses import dataclass

from synapse_core.graph.ego import EgoBranch, EgoView

U, D, L, R = 1, 2, 4, 8
_BOX = {
    L | R: "─", U | D: "│", D | R: "┌", D | L: "┐", U | R: "└", U | L: "┘",
    U | D | R: "├", U | D | L: "┤", L | R | D: "┬", L | R | U: "┴", U | D | L | R: "┼",
    L: "─", R: "─", U: "│", D: "│",
}


@dataclass(frozen=True, slots=True)
class Span:
    """A styled run of cells: ``row``, columns ``[start, end)``, a style name."""

    row: int
    start: int
    end: int
    style: str  # "centre", "entity", "predicate", "line", "more"


class Canvas:
    """A grid of characters where lines merge into box-drawing junctions."""

    def __init__(self, width: int, height: int) -> None:
        self.width, self.height = width, height
        self.text: list[list[str]] = [[" "] * width for _ in range(height)]
        self.flags: list[list[int]] = [[0] * width for _ in range(height)]
        self.spans: list[Span] = []

    def put(self, row: int, col: int, s: str, style: str = "") -> int:
        """Write ``s`` at (row, col), clipped; returns the column after it."""
        if not 0 <= row < self.height:
            return col + len(s)
        for i, ch in enumerate(s):
            x = col + i
            if 0 <= x < self.width:
                self.text[row][x] = ch
                self.flags[row][x] = 0
        if style and s:
            self.spans.append(Span(row, max(0, col), min(self.width, col + len(s)), style))
        return col + len(s)

    def hline(self, row: int, x0: int, x1: int) -> None:
        """A horizontal line from x0 to x1 inclusive."""
        if x1 < x0 or not 0 <= row < self.height:
            return
        for x in range(max(0, x0), min(self.width, x1 + 1)):
            self.flags[row][x] |= (L if x > x0 else 0) | (R if x < x1 else 0) or (L | R)

    def vline(self, col: int, y0: int, y1: int) -> None:
        """A vertical line from y0 to y1 inclusive."""
        if y1 <= y0 or not 0 <= col < self.width:
            return
        for y in range(max(0, y0), min(self.height, y1 + 1)):
            self.flags[y][col] |= (U if y > y0 else 0) | (D if y < y1 else 0)

    def join(self, row: int, col: int, flags: int) -> None:
        """Add line directions to one cell (to meet a bus)."""
        if 0 <= row < self.height and 0 <= col < self.width:
            self.flags[row][col] |= flags

    def lines(self) -> list[str]:
        """The canvas as strings, junctions resolved."""
        out = []
        for y in range(self.height):
            row = self.text[y]
            out.append("".join(_BOX.get(self.flags[y][x], row[x]) if self.flags[y][x] else row[x]
                               for x in range(self.width)).rstrip())
        return out


def _clip(s: str, n: int) -> str:
    if n <= 0:
        return ""
    return s if len(s) <= n else s[: max(0, n - 1)] + "…"


def _label(b: EgoBranch) -> str:
    return b.predicate + (f" ({b.count})" if b.count > 1 else "")


def _rows_for(branches: list[EgoBranch], more: int, budget: int) -> list[tuple[str, object]]:
    """Row plan for one side: ("branch", b) / ("child", (b, leaf|int)) / ("more", n)."""
    def plan(child_cap: int) -> list[tuple[str, object]]:
        rows: list[tuple[str, object]] = []
        for b in branches:
            rows.append(("branch", b))
            kids = b.children[:child_cap]
            rows.extend(("child", (b, k)) for k in kids)
            hidden = len(b.children) - len(kids) + b.more_children
            if kids and hidden:
                rows.append(("child", (b, hidden)))
        if more:
            rows.append(("more", more))
        return rows

    cap = max((len(b.children) for b in branches), default=0)
    rows = plan(cap)
    while len(rows) > budget and cap > 0:
        cap -= 1
        rows = plan(cap)
    if len(rows) > budget:
        shown = [r for r in rows if r[0] == "branch"][: max(0, budget - 1)]
        hidden = len(branches) - len(shown) + more
        rows = shown + ([("more", hidden)] if hidden else [])
    return rows


NARROW = 64
"""Below this width the two-sided drawing gets cramped; a top-down tree is drawn instead."""


def draw_ego(view: EgoView, width: int, height: int) -> Canvas:
    """Draw ``view`` into a ``width`` x ``height`` canvas (see the module docstring)."""
    width, height = max(width, 20), max(height, 3)
    if width < NARROW:
        return draw_ego_tree(view, width, height)
    c = Canvas(width, height)
    name = _clip(view.name, max(6, width // 3 - 4))
    box_w = len(name) + 4
    # give each side the width its text needs, shrinking both in proportion when short
    need_l = max((len(b.name) + len(_label(b)) + 5 for b in view.inc), default=0)
    need_r = max((len(b.name) + len(_label(b)) + 5 for b in view.out), default=0)
    room = width - box_w - 5
    if need_l + need_r > room:
        need_l = int(room * need_l / (need_l + need_r)) if view.out else room
    side_w_left = min(need_l, room) if view.inc else 0
    bx = side_w_left + 3 if view.inc else 0
    right_x = bx + box_w + 2    # right text starts here
    side_w_right = width - right_x
    left = _rows_for(view.inc, view.more_in, height)
    right = _rows_for(view.out, view.more_out, height)
    n = max(len(left), len(right), 3)
    cy = min(height // 2, max(1, n // 2))
    top = cy - 1
    c.put(top, bx, "┌" + "─" * (box_w - 2) + "┐", "line")
    c.put(cy, bx, "│ ", "line")
    c.put(cy, bx + 2, name, "centre")
    c.put(cy, bx + box_w - 2, " │", "line")
    c.put(cy + 1, bx, "└" + "─" * (box_w - 2) + "┘", "line")
    _draw_side(c, right, right_x, side_w_right, cy, bus=bx + box_w + 1, is_left=False,
               box_edge=bx + box_w)
    _draw_side(c, left, 0, side_w_left, cy, bus=bx - 2, is_left=True, box_edge=bx - 1)
    return c


def _split(room: int, name: int, label: int) -> tuple[int, int]:
    """Share ``room`` columns between an entity name and a predicate label, fairly."""
    if name + label <= room:
        return name, label
    half = room // 2
    if name <= half:
        return name, room - name
    if label <= half:
        return room - label, label
    return room - half, half


def _side_start(n: int, cy: int, height: int) -> int:
    return max(0, min(cy - n // 2, height - n))


def _draw_side(c: Canvas, rows: list[tuple[str, object]], x0: int, w: int, cy: int, bus: int,
               is_left: bool, box_edge: int) -> None:
    if not rows or w < 4:
        return
    y0 = _side_start(len(rows), cy, c.height)
    branch_rows = []
    for i, (kind, item) in enumerate(rows):
        y = y0 + i
        if kind == "branch":
            b: EgoBranch = item  # type: ignore[assignment]
            branch_rows.append(y)
            name_w, label_w = _split(w - 5, len(b.name), len(_label(b)))
            if is_left:
                col = c.put(y, x0, _clip(b.name, name_w), "entity")
                col = c.put(y, col, " ─", "line")
                col = c.put(y, col, _clip(_label(b), min(label_w, bus - col - 1)), "predicate")
                c.hline(y, col, bus)
            else:
                c.hline(y, bus, x0)
                col = c.put(y, x0, "─", "line")
                col = c.put(y, col, _clip(_label(b), label_w), "predicate")
                col = c.put(y, col, "─▶ ", "line")
                c.put(y, col, _clip(b.name, x0 + w - col), "entity")
        elif kind == "child":
            b, leaf = item  # type: ignore[misc]
            col = x0 + 2
            if isinstance(leaf, int):
                c.put(y, col + 1, f"+{leaf} more", "more")
                continue
            text_w = (bus - 1 if is_left else x0 + w) - col
            if is_left:
                col = c.put(y, col, "└◀", "line")
            else:
                col = c.put(y, col, "└─", "line")
            label = leaf.predicate + (f" ({leaf.count})" if leaf.count > 1 else "")
            col = c.put(y, col, _clip(label, max(3, text_w // 2)), "predicate")
            col = c.put(y, col, "─ " if is_left else "─▶ ", "line")
            c.put(y, col, _clip(leaf.name, (bus - 1 if is_left else x0 + w) - col), "entity")
        else:
            c.put(y, x0 + 1, f"+{item} more", "more")
    # the bus: from the first to the last branch row and through the box's middle row
    lo, hi = min(branch_rows + [cy]), max(branch_rows + [cy])
    c.vline(bus, lo, hi)
    if is_left:
        c.join(cy, bus, R)
        c.put(cy, box_edge, "▶", "line")
    else:
        c.join(cy, bus, L)
        c.put(cy, box_edge, "─", "line")
    for y in branch_rows:
        c.join(y, bus, R if not is_left else L)


def draw_ego_tree(view: EgoView, width: int, height: int) -> Canvas:
    """The narrow form: the entity, then its in-edges and out-edges as an indented tree."""
    c = Canvas(width, height)
    c.put(0, 0, _clip(view.name, width), "centre")
    sides = [(t, b, m, i) for t, b, m, i in (("◀ from", view.inc, view.more_in, True),
                                              ("▶ to", view.out, view.more_out, False)) if b]
    budget = height - 1 - len(sides)  # minus the name and one title per side
    need = [len(_rows_for(b, m, 10_000)) for _, b, m, _ in sides]
    if len(sides) == 2:
        first = min(need[0], max(budget // 2, budget - need[1]))
        shares = [first, budget - first]
    else:
        shares = [budget] * len(sides)
    plans = [(title, _rows_for(branches, more, max(1, share)), is_in)
             for (title, branches, more, is_in), share in zip(sides, shares)]
    y = 1
    for title, rows, is_in in plans:
        c.put(y, 1, title, "more")
        y += 1
        for kind, item in rows:
            if kind == "branch":
                b: EgoBranch = item  # type: ignore[assignment]
                col = c.put(y, 2, "◀─" if is_in else "─", "line")
                col = c.put(y, col, _clip(_label(b), width // 2 - 4), "predicate")
                col = c.put(y, col, "─ " if is_in else "─▶ ", "line")
                c.put(y, col, _clip(b.name, width - col), "entity")
            elif kind == "child":
                b, leaf = item  # type: ignore[misc]
                if isinstance(leaf, int):
                    c.put(y, 6, f"+{leaf} more", "more")
                else:
                    col = c.put(y, 5, "└◀" if is_in else "└─", "line")
                    col = c.put(y, col, _clip(leaf.predicate, width // 2 - 7), "predicate")
                    col = c.put(y, col, "─ " if is_in else "─▶ ", "line")
                    c.put(y, col, _clip(leaf.name, width - col), "entity")
            else:
                c.put(y, 3, f"+{item} more", "more")
            y += 1
    return c
