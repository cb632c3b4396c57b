"""The ensemble: a logistic regression over the members' log-odds, fitted on out-of-fold scores.

``fit`` cuts the training rows into ``blocks`` contiguous blocks (rows in time order); each
block is scored by members fitted on the other blocks, the stacker learns from those honest
scores, then the members are refitted on every row. The stacker's output is a calibrated
probability; its reasons are those of the member that pushed it the most.

The out-of-fold members are fitted on at most ``oof_rows`` rows of the other blocks, and score at
most ``oof_rows`` rows of their block (both evenly spread): they only have to give the stacker
honest scores to weigh, and on 1 M rows the full-size fits and scoring doubled the training time
(bench/train.py). Below 2 × ``oof_rows`` rows nothing changes.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression

from ..events import Reason
from .base import Model, ModelError, row
from .mlp import spread

OOF_ROWS = 100_000


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


class Ensemble:
    name = "ensemble"

    def __init__(self, inputs: Sequence[str], members: Sequence[Model], blocks: int = 2,
                 oof_rows: int | None = OOF_ROWS) -> None:
        self.inputs = tuple(inputs)
        missing = sorted({c for m in members for c in m.inputs} - set(self.inputs))
        if missing:
            raise ModelError(f"members read inputs the ensemble lacks: {missing}")
        self.members = list(members)
        self.columns = [[self.inputs.index(c) for c in m.inputs] for m in self.members]
        self.features: frozenset[str] | None = frozenset(self.inputs)
        self.blocks = blocks
        self.oof_rows = oof_rows
        self.seconds: dict[str, dict[str, float]] = {}
        self.stacker: LogisticRegression | None = None
        self.version = "ensemble-unfit"

    def fit(self, X: np.ndarray, y: np.ndarray, on_step: Callable[[str], None] | None = None) -> Ensemble:
        """``on_step`` hears each finished step (``steps()`` in all), for a progress bar."""
        clock = time.perf_counter
        step = on_step or (lambda _: None)
        self.seconds = {m.name: {"oof": 0.0, "refit": 0.0} for m in self.members}
        edges = np.linspace(0, len(X), self.blocks + 1).astype(int)
        scored: list[np.ndarray] = []  # per block, the rows given honest scores
        parts: list[np.ndarray] = []
        for b in range(self.blocks):
            held = np.arange(edges[b], edges[b + 1])
            rest = np.r_[np.arange(0, edges[b]), np.arange(edges[b + 1], len(X))]
            # the stacker needs honest scores, not the best members: above ``oof_rows`` an evenly
            # spread subsample of the other blocks fits them, and as many held rows are scored
            rest, held = rest[spread(len(rest), self.oof_rows)], held[spread(len(held), self.oof_rows)]
            block = np.zeros((len(held), len(self.members)))
            for j, (m, cols) in enumerate(zip(self.members, self.columns)):
                t = clock()
                fresh = copy.deepcopy(m).fit(X[rest][:, cols], y[rest])
                block[:, j] = fresh.score_many(X[held][:, cols])
                self.seconds[m.name]["oof"] += clock() - t
                step(f"{m.name}: out-of-fold block {b + 1}/{self.blocks}")
            scored.append(held)
            parts.append(block)
        t = clock()
        self.stacker = LogisticRegression(C=1.0, max_iter=1000).fit(_logit(np.vstack(parts)), y[np.concatenate(scored)])
        self.seconds["stacker"] = {"oof": 0.0, "refit": clock() - t}
        step("stacker")
        for m, cols in zip(self.members, self.columns):
            t = clock()
            m.fit(X[:, cols], y)
            self.seconds[m.name]["refit"] = clock() - t
            step(f"{m.name}: refit on all rows")
        self.version = "ensemble-" + "+".join(m.version for m in self.members)
        return self

    def steps(self) -> int:
        """How many steps ``fit`` reports."""
        return self.blocks * len(self.members) + 1 + len(self.members)

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
