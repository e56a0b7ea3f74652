"""Rules that span settings: errors (KTO's batch) and warnings (a label class left empty).

Each rule reads a validated ``RunConfig`` and yields ``ConfigIssue``s. Warnings are not
fatal: a user may mean them (review decisions and given labels can still fill the class),
but most of the time such a setting is a typo that would cost a whole run.
"""

from __future__ import annotations

from typing import Callable, Iterator

from synapse_core.config.errors import ConfigIssue
from synapse_core.config.schema import RunConfig, TrainingConfig, allowed_range

_EPS = 1e-9  # scores are sums of weights: 1.0 + 0.75 must reach a threshold of 1.75


def _kto_batch(cfg: RunConfig) -> Iterator[ConfigIssue]:
    t = cfg.training
    if t.objective == "kto" and t.per_device_train_batch_size < 2:
        info = TrainingConfig.model_fields["per_device_train_batch_size"]
        yield ConfigIssue("training.per_device_train_batch_size",
                          f"{t.per_device_train_batch_size} is out of range for objective "
                          f"'kto'; allowed {allowed_range(info, lo=2)} (TRL's KTO pairs rows "
                          "in a batch for its KL term)", cfg.source)


Rule = Callable[[RunConfig], Iterator[ConfigIssue]]
ERROR_RULES: tuple[tuple[tuple[str, ...], Rule], ...] = (
    (("training.objective", "training.per_device_train_batch_size"), _kto_batch),
)
"""Cross-field errors, each with the keys it reads (skipped when one of them is invalid)."""


def _num(x: float) -> str:
    return repr(round(float(x), 6))  # 1.75, 1.0, 5.0: as a user writes them in TOML


def score_bounds(cfg: RunConfig) -> tuple[float, float, float]:
    """(best, best without reasoning, worst) score reachable with metrics in [0, 1].

    ``score = w_conversation*cq - w_bias*bias + w_reasoning*rq`` (synapse_core.data.scoring):
    the best row has cq = rq = 1 and no bias; a row without reasoning has rq = 0; the worst
    has cq = rq = 0 and bias = 1.
    """
    s = cfg.scoring
    return s.w_conversation + s.w_reasoning, s.w_conversation, -s.w_bias


def config_warnings(cfg: RunConfig) -> list[ConfigIssue]:
    """Settings that leave a label class empty (every row desirable, or none), statically.

    The data-time check (the rows actually loaded) is the data summary's; this one needs no
    data, so it is said before anything is read.
    """
    s, objective, src = cfg.scoring, cfg.training.objective, cfg.source
    best, best_plain, worst = score_bounds(cfg)
    t, b, bp, w = map(_num, (s.threshold, best, best_plain, worst))
    out: list[ConfigIssue] = []
    if s.threshold > best + _EPS:
        effect = ("SFT has no row to train on" if objective == "sft"
                  else "KTO gets no desirable rows")
        out.append(ConfigIssue("scoring.threshold", (
            f"{t} is above the best reachable score {b} ({bp} for rows without reasoning): "
            f"no row can be desirable, so {effect}"), src))
    elif objective == "kto" and s.threshold <= worst + _EPS:
        out.append(ConfigIssue("scoring.threshold", (
            f"{t} is at or below the lowest reachable score {w}: every row is desirable, so "
            "KTO gets no undesirable rows"), src))
    if s.min_score is not None:
        m = _num(s.min_score)
        if s.min_score > best + _EPS:
            out.append(ConfigIssue("scoring.min_score", (
                f"{m} is above the best reachable score {b}: every row is dropped"), src))
        elif objective == "kto" and s.min_score >= s.threshold - _EPS:
            out.append(ConfigIssue("scoring.min_score", (
                f"{m} is at or above scoring.threshold {t}: every undesirable row is dropped, "
                "so KTO gets no undesirable rows"), src))
    return out
