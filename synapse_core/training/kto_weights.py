"""KTO's class weights for unbalanced data: the range TRL recommends, and one value to use.

The KTO paper (Eq. 8, arXiv 2402.01306) asks for ``desirable_weight * n_desirable /
(undesirable_weight * n_undesirable)`` in [1, 4/3]. TRL's ``KTOTrainer`` checks this when it
builds its dataset and only logs a warning; here the same check runs before a run starts, so
the pre-run summary can offer the fix as one key.
"""

from __future__ import annotations

from dataclasses import dataclass

UPPER_RATIO = 1.33
"""TRL's upper bound of the weighted desirable:undesirable ratio (the paper's 4/3, rounded)."""


@dataclass(frozen=True)
class KtoWeightAdvice:
    """The weights are outside the recommended range for these counts.

    ``desirable_range`` and ``undesirable_range`` are TRL's (change EITHER, not both);
    ``field``/``value`` is the one change suggested: the majority class's weight set to the
    middle of its range (the other weight stays as it is)."""

    desirable: int
    undesirable: int
    desirable_range: tuple[float, float]
    undesirable_range: tuple[float, float]
    field: str      # "desirable_weight" or "undesirable_weight"
    value: float

    @property
    def message(self) -> str:
        """One line for the summary (TRL's own ranges, and what the fix sets)."""
        d, u = self.desirable_range, self.undesirable_range
        return (f"{self.desirable} desirable / {self.undesirable} undesirable rows: TRL "
                f"recommends EITHER desirable_weight in [{d[0]}, {d[1]}] OR undesirable_weight "
                f"in [{u[0]}, {u[1]}]; suggested: {self.field} = {self.value}")


def kto_weight_advice(desirable: int, undesirable: int, desirable_weight: float,
                      undesirable_weight: float) -> KtoWeightAdvice | None:
    """TRL's check of the KTO weights for these row counts; None when they are fine (or the
    classes are balanced, which TRL does not check)."""
    n_des, n_und = max(desirable, 1), max(undesirable, 1)  # as TRL counts them
    if n_des == n_und:
        return None
    des = (round(n_und * undesirable_weight / n_des, 2),
           round(n_und * undesirable_weight / n_des * UPPER_RATIO, 2))
    und = (round(n_des * desirable_weight / n_und / UPPER_RATIO, 2),
           round(n_des * desirable_weight / n_und, 2))
    if des[0] <= desirable_weight <= des[1] or und[0] <= undesirable_weight <= und[1]:
        return None
    if n_des > n_und:  # lower the majority's weight rather than inflate the loss
        field, value = "desirable_weight", round((des[0] + des[1]) / 2, 2)
    else:
        field, value = "undesirable_weight", round((und[0] + und[1]) / 2, 2)
    value = max(value, 0.01)  # the config takes only weights above 0
    return KtoWeightAdvice(desirable=desirable, undesirable=undesirable, desirable_range=des,
                           undesirable_range=und, field=field, value=value)
