"""A behaviour profile: how unusual this transaction is for its own card, learnt without labels.

Three signs, each measured against the card's last 30 days: the amount against the card's mean
(a robust z-score of the log ratio, scaled on the training population), a terminal the card has
not used in 30 days, and earlier amount spikes on the card in the last 14 days. Their sum is
the surprise; the score is the share of training transactions less surprising (an empirical CDF),
so it is a rank in [0, 1], not a fraud probability.
"""

from __future__ import annotations

import bisect
import warnings
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


# The engine's signs of "unusual for this customer" (qalqan train on a stream, not the handbook's
# columns), each with the direction that is unusual: +1 more than the population's habit, −1 less
# (a new device, a recipient never paid, a phone changed minutes ago). Absent outputs are skipped.
ENGINE_SIGNS: tuple[tuple[str, int], ...] = (
    ("cust_out_1h_count", 1), ("cust_out_24h_sum", 1), ("cust_out_24h_max", 1), ("card_1h_count", 1),
    ("card_24h_distinct", 1), ("device_1h_distinct", 1), ("in_24h_sum", 1), ("cross_border_out_24h_count", 1),
    ("comms_unknown_6h_count", 1), ("cust_device_age", -1), ("pair_180d_count", -1), ("since_phone_change", -1),
    ("since_sim_change", -1), ("since_login_new_device", -1), ("since_remote_access", -1),
    ("since_active_call", -1), ("since_suspicious_link", -1),
)
CAP = 10.0  # one sign cannot outweigh every other by more than this many robust deviations
QUANTILES = 1001


class HabitProfile:
    """An unsupervised behaviour profile over the engine's own outputs: for each sign, a robust
    z-score (median and MAD of ``log1p`` of the value on the training population) in its unusual
    direction, floored at 0 and capped at ``CAP``; a missing value (never happened) counts 0.
    The surprise is their sum; the score the share of training movements less surprising, read
    from ``QUANTILES`` stored quantiles so that the bundle holds a few kB of JSON, not the
    population. No labels are read: it ranks, it is not a fraud probability."""

    name = "profile"

    def __init__(self, signs: tuple[tuple[str, int], ...] = ENGINE_SIGNS) -> None:
        if not signs:
            raise ModelError("HabitProfile needs at least one sign (input, direction)")
        self.inputs = tuple(n for n, _ in signs)
        self.direction = np.array([float(d) for _, d in signs])
        self.features: frozenset[str] | None = frozenset(self.inputs)
        self.centre = np.zeros(len(self.inputs))
        self.scale = np.ones(len(self.inputs))
        self.reference: np.ndarray | None = None
        self._ref_list: list[float] = []
        self.version = "habit-profile-unfit"

    @staticmethod
    def _log(X: np.ndarray) -> np.ndarray:
        return np.log1p(np.maximum(X, 0.0))  # NaN stays NaN

    def parts(self, X: np.ndarray) -> np.ndarray:
        """Each sign's deviation, rows × signs (or one row's, for a 1-D ``X``)."""
        z = (self._log(X) - self.centre) * (self.direction / self.scale)
        return np.fmin(np.fmax(z, 0.0), CAP)  # fmax(NaN, 0) is 0: a missing value is not unusual

    def score_row(self, x: np.ndarray) -> float:
        """One row (1-D, in ``inputs`` order): the same arithmetic as ``score_many``, fewer calls."""
        ref = self._ref()
        return bisect.bisect_right(self._ref_list, float(self.parts(x).sum())) / len(ref)

    def fit(self, X: np.ndarray, y: np.ndarray | None = None) -> HabitProfile:
        """Learns each sign's centre and scale and the surprise's quantiles from ``X``; ``y`` is ignored."""
        T = self._log(X)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # an all-missing column: centre 0, scale 1
            centre = np.nan_to_num(np.nanmedian(T, axis=0))
            mad = np.nan_to_num(np.nanmedian(np.abs(T - centre), axis=0)) * 1.4826
            sd = np.nan_to_num(np.nanstd(T, axis=0))
        self.centre = centre
        self.scale = np.where(mad > 1e-9, mad, np.where(sd > 1e-9, sd, 1.0))
        self.reference = np.quantile(self.parts(X).sum(axis=1), np.linspace(0, 1, QUANTILES))
        self._ref_list = self.reference.tolist()
        self.version = "habit-profile-1"
        return self

    def _ref(self) -> np.ndarray:
        if self.reference is None:
            raise ModelError("HabitProfile is not fitted: call fit(X) first")
        return self.reference

    def score_many(self, X: np.ndarray) -> np.ndarray:
        ref = self._ref()
        return np.searchsorted(ref, self.parts(X).sum(axis=1), side="right") / len(ref)

    def score_one(self, features: dict[str, Any]) -> tuple[float, list[Reason]]:
        x = row(self.inputs, features)
        return float(self.score_many(x)[0]), self.reasons(self.parts(x)[0])

    def reasons(self, parts: np.ndarray, k: int = 3) -> list[Reason]:
        """The signs most unusual for this movement (robust deviations)."""
        top = np.argsort(-parts)[:k]
        return [Reason(code=f"profile.{self.inputs[i]}", source="model", weight=round(float(parts[i]), 4),
                       text=f"{self.inputs[i]} {'above' if self.direction[i] > 0 else 'below'} the usual")
                for i in top if parts[i] > 0]

    def to_json(self) -> dict[str, Any]:
        return {"signs": [[n, int(d)] for n, d in zip(self.inputs, self.direction)],
                "centre": self.centre.tolist(), "scale": self.scale.tolist(), "reference": self._ref().tolist(),
                "cap": CAP, "version": self.version}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> HabitProfile:
        p = cls(tuple((str(n), int(s)) for n, s in d["signs"]))
        p.centre = np.array(d["centre"], dtype=np.float64)
        p.scale = np.array(d["scale"], dtype=np.float64)
        p.reference = np.array(d["reference"], dtype=np.float64)
        p._ref_list = p.reference.tolist()
        if not (len(p.centre) == len(p.scale) == len(p.inputs)) or len(p.reference) < 2:
            raise ModelError("profile.json: centre, scale and signs differ in length, or no reference quantiles")
        p.version = str(d.get("version", "habit-profile-1"))
        return p
