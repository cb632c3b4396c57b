"""Policy: from the reasons to one action, and the hold a suspension brings.

The strictest action among all reasons wins (approve < challenge < review < hold < decline).
An `allow` list entry softens only the engine's own judgement: a regulator's database hit keeps
its action. What a hold means and how long it lasts is holds.py.
"""

from __future__ import annotations

from dataclasses import dataclass

from .events import Reason
from .lists import ALLOW_LIST

SEVERITY = {"approve": 0, "challenge": 1, "review": 2, "hold": 3, "decline": 4}
ACTIONS = tuple(SEVERITY)
# Reasons an allow-list entry never overrides: the regulators' databases (ОД-2506 1.1, 1.2, 1.5, 1.8).
REGULATOR_CODES = frozenset(
    {"od2506.1.1", "od2506.1.2", "od2506.1.5", "od2506.1.8", "kz.antifraud_center", "od1765.drop_limit"}
)


@dataclass(frozen=True)
class ModelPolicy:
    """Score thresholds for models; inert while the slot holds no model (score 0)."""

    review_at: float = 0.8
    decline_at: float = 0.97


def strictest(reasons: list[Reason]) -> str:
    action = "approve"
    level = 0
    for r in reasons:
        lv = SEVERITY.get(r.action or "approve", 0)
        if lv > level:
            action, level = r.action or "approve", lv
    return action


def decide_action(
    reasons: list[Reason], score: float, allowed: bool, models: ModelPolicy
) -> tuple[str, list[Reason]]:
    if score >= models.decline_at:
        reasons.append(Reason(code="model.score", source="model", action="decline", weight=round(score, 4)))
    elif score >= models.review_at:
        reasons.append(Reason(code="model.score", source="model", action="review", weight=round(score, 4)))
    if allowed:
        binding = [r for r in reasons if r.code in REGULATOR_CODES]
        reasons.append(Reason(code="list.allow", source="list", text="allow-listed: only regulator hits apply"))
        return strictest(binding), reasons
    return strictest(reasons), reasons


def is_allowed(*list_sets: frozenset[str]) -> bool:
    return any(ALLOW_LIST in s for s in list_sets)
