"""A behaviour profile: how unusual this transaction is for its own card, learnt without labels.

Three signs, each measured against the card's last 30 days: the amount against the card's mean
(a robust z-score of the log ratio, scaled on the training population), a terminal the card has
not used in 30 days, and earlier amount spikes on the card in the last 14 days. Their sum is
the surprise; the score is the share of training transactions less surprising (an empirical CDF),
so it is a rank in [0, 1], not a fraud probability.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..events import Reason
from .base import ModelError, row

INPUTS = ("amount_to_card_mean_120d", "card_term_30d", "card_spike_14d")


class Profile:
    name = "profile"
    inputs = INPUTS

    def __init__(self) -> None:
        self.features: frozenset[str] | None = frozenset(INPUTS)
        self.median = 0.0
        self.scale = 1.0
        self.reference: np.ndarray | None = None
        self.version = "profile-unfit"

    def _parts(self, X: np.ndarray) -> np.ndarray:
        z = (np.log(np.clip(np.nan_to_num(X[:, 0], nan=1.0), 1e-3, None)) - self.median) / self.scale
        new_terminal = (np.nan_to_num(X[:, 1]) == 0).astype(float)
        spikes = np.nan_to_num(X[:, 2])
        return np.column_stack([np.maximum(z, 0.0), 0.5 * new_terminal, spikes])

    def fit(self, X: np.ndarray, y: np.ndarray | None = None) -> Profile:
        """Learns the population's scale from ``X``; ``y`` is ignored (unsupervised)."""
        log_ratio = np.log(np.clip(np.nan_to_num(X[:, 0], nan=1.0), 1e-3, None))
        self.median = float(np.median(log_ratio))
        self.scale = float(np.median(np.abs(log_ratio - self.median)) * 1.4826) or 1.0
        self.reference = np.sort(self._parts(X).sum(axis=1))
        self.version = "profile-1"
        return self

    def score_many(self, X: np.ndarray) -> np.ndarray:
        if self.reference is None:
            raise ModelError("Profile is not fitted: call fit(X) first")
        surprise = self._parts(X).sum(axis=1)
        return np.searchsorted(self.reference, surprise, side="right") / len(self.reference)

    def score_one(self, features: dict[str, Any]) -> tuple[float, list[Reason]]:
        x = row(INPUTS, features)
        score = float(self.score_many(x)[0])  # raises ModelError when unfitted
        parts = self._parts(x)[0]
        codes = ("profile.amount_unusual_for_card", "profile.new_terminal_for_card", "profile.recent_amount_spikes")
        return score, [Reason(code=c, source=self.name, weight=round(float(p), 4))
                       for c, p in zip(codes, parts) if p > 0]
