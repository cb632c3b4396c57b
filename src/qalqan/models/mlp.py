"""A small multilayer perceptron (scikit-learn) on signed-log-scaled, standardised inputs.

Above ``max_rows`` training rows it learns from an evenly spread subsample of that many (rows
stay in time order): a (32, 16) network on a few dozen inputs has seen all it can learn well before
a million rows, and scikit-learn's epochs cost linear time (bench/train.py: 79 s on 1 M rows).
It trains with one BLAS thread: its matrices (512 × 38 @ 38 × 32) are too small to share, and
two OpenBLAS threads spin-wait whenever another process holds a core (150,000 rows, load ~7:
9.6 s wall with one thread, 97.5 s with two).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.neural_network import MLPClassifier
from threadpoolctl import threadpool_limits

from ..events import Reason
from .base import ModelError, row, top_reasons

MAX_ROWS = 150_000


def spread(n: int, k: int | None) -> np.ndarray:
    """``k`` row indices evenly spread over ``n`` rows, in order (all of them when ``k`` is None or >= n)."""
    if k is None or n <= k:
        return np.arange(n)
    return np.linspace(0, n - 1, k).astype(np.int64)


class MLP:
    name = "mlp"

    def __init__(self, inputs: Sequence[str], hidden: tuple[int, ...] = (32, 16), seed: int = 7,
                 max_rows: int | None = MAX_ROWS) -> None:
        self.inputs = tuple(inputs)
        self.max_rows = max_rows
        self.features: frozenset[str] | None = frozenset(self.inputs)
        self.hidden, self.seed = hidden, seed
        self.net: MLPClassifier | None = None
        self.mu = self.sd = np.zeros(len(self.inputs))
        self.version = "mlp-unfit"

    @staticmethod
    def _signed_log(X: np.ndarray) -> np.ndarray:
        X = np.nan_to_num(X)  # missing reads as 0 (before the sign: sign(NaN) is NaN)
        return np.sign(X) * np.log1p(np.abs(X))

    def _scale(self, X: np.ndarray) -> np.ndarray:
        return (self._signed_log(X) - self.mu) / self.sd

    def fit(self, X: np.ndarray, y: np.ndarray) -> MLP:
        if self.max_rows is not None and len(X) > self.max_rows:
            rows = spread(len(X), self.max_rows)
            X, y = X[rows], y[rows]
        Z = self._signed_log(X)
        self.mu, self.sd = Z.mean(axis=0), Z.std(axis=0) + 1e-9
        self.net = MLPClassifier(hidden_layer_sizes=self.hidden, alpha=1e-3, batch_size=512, learning_rate_init=1e-3,
                                 max_iter=60, early_stopping=True, n_iter_no_change=6, random_state=self.seed)
        with threadpool_limits(limits=1, user_api="blas"):
            self.net.fit(self._scale(X), y)
        self.version = "mlp-" + "x".join(map(str, self.hidden))
        return self

    def _net(self) -> MLPClassifier:
        if self.net is None:
            raise ModelError("MLP is not fitted: call fit(X, y) first")
        return self.net

    def score_many(self, X: np.ndarray) -> np.ndarray:
        return self._net().predict_proba(self._scale(X))[:, 1]

    def score_one(self, features: dict[str, Any]) -> tuple[float, list[Reason]]:
        x = row(self.inputs, features)
        score = float(self.score_many(x)[0])
        # reasons: how far each input sits from the training mean, weighted by its first-layer reach
        reach = np.abs(self._net().coefs_[0]).sum(axis=1)
        return score, top_reasons(self.name, self.inputs, self._scale(x)[0] * reach)
