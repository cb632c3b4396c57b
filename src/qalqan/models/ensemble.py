"""The ensemble: a logistic regression over the members' log-odds, fitted on out-of-fold scores.

``fit`` cuts the training rows into ``blocks`` contiguous blocks (rows in time order); each
block is scored by members fitted on the other blocks, the stacker learns from those honest
scores, then the members are refitted on every row. The stacker's output is a calibrated
probability; its reasons are those of the member that pushed it the most.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression

from ..events import Reason
from .base import Model, ModelError, row


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


class Ensemble:
    name = "ensemble"

    def __init__(self, inputs: Sequence[str], members: Sequence[Model], blocks: int = 2) -> None:
        self.inputs = tuple(inputs)
        missing = sorted({c for m in members for c in m.inputs} - set(self.inputs))
        if missing:
            raise ModelError(f"members read inputs the ensemble lacks: {missing}")
        self.members = list(members)
        self.columns = [[self.inputs.index(c) for c in m.inputs] for m in self.members]
        self.features: frozenset[str] | None = frozenset(self.inputs)
        self.blocks = blocks
        self.stacker: LogisticRegression | None = None
        self.version = "ensemble-unfit"

    def fit(self, X: np.ndarray, y: np.ndarray) -> Ensemble:
        oof = np.zeros((len(X), len(self.members)))
        edges = np.linspace(0, len(X), self.blocks + 1).astype(int)
        for b in range(self.blocks):
            held = np.zeros(len(X), dtype=bool)
            held[edges[b]:edges[b + 1]] = True
            for j, (m, cols) in enumerate(zip(self.members, self.columns)):
                fresh = copy.deepcopy(m).fit(X[~held][:, cols], y[~held])
                oof[held, j] = fresh.score_many(X[held][:, cols])
        self.stacker = LogisticRegression(C=1.0, max_iter=1000).fit(_logit(oof), y)
        for m, cols in zip(self.members, self.columns):
            m.fit(X[:, cols], y)
        self.version = "ensemble-" + "+".join(m.version for m in self.members)
        return self

    def member_scores(self, X: np.ndarray) -> np.ndarray:
        return np.column_stack([m.score_many(X[:, cols]) for m, cols in zip(self.members, self.columns)])

    def score_many(self, X: np.ndarray) -> np.ndarray:
        if self.stacker is None:
            raise ModelError("Ensemble is not fitted: call fit(X, y) first")
        return self.stacker.predict_proba(_logit(self.member_scores(X)))[:, 1]

    def weights(self) -> dict[str, float]:
        if self.stacker is None:
            raise ModelError("Ensemble is not fitted: call fit(X, y) first")
        return {m.name: float(w) for m, w in zip(self.members, self.stacker.coef_[0])}

    def score_one(self, features: dict[str, Any]) -> tuple[float, list[Reason]]:
        if self.stacker is None:
            raise ModelError("Ensemble is not fitted: call fit(X, y) first")
        row(self.inputs, features)  # every input present, or a ModelError naming the missing one
        outs = [m.score_one(features) for m in self.members]
        z = _logit(np.array([[s for s, _ in outs]]))
        score = float(self.stacker.predict_proba(z)[0, 1])
        push = self.stacker.coef_[0] * z[0]
        return score, outs[int(np.argmax(push))][1]
