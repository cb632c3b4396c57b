"""The model slot of the decision path.

Every model in the ensemble implements ``Scorer``: ``score_one`` for the online path (one event's
feature dict) with the reasons that pushed the score. Until a bundle is registered the slot holds
``NoModel``, which scores 0 and never changes an action.
"""

from __future__ import annotations

from typing import Any, Protocol

from ..events import Reason


class Scorer(Protocol):
    version: str
    # The feature outputs it reads; None means all of them.
    features: frozenset[str] | None

    def score_one(self, features: dict[str, Any]) -> tuple[float, list[Reason]]:
        """Probability-like score in [0, 1] and the reasons behind it."""


class NoModel:
    version = "none"
    features: frozenset[str] | None = frozenset()

    def score_one(self, features: dict[str, Any]) -> tuple[float, list[Reason]]:
        return 0.0, []
