"""A small multilayer perceptron (scikit-learn) on signed-log-scaled, standardised inputs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.neural_network import MLPClassifier

from ..events import Reason
from .base import ModelError, row, top_reasons


class MLP:
    name = "mlp"

    def __init__(self, inputs: Sequence[str], hidden: tuple[int, ...] = (32, 16), seed: int = 7) -> None:
        self.inputs = tuple(inputs)
        self.features: frozenset[str] | None = frozenset(self.inputs)
        self.hidden, self.seed = hidden, seed
        self.net: MLPClassifier | None = None
        self.mu = self.sd = np.zeros(len(self.inputs))
        self.version = "mlp-unfit"

    def _scale(self, X: np.ndarray) -> np.ndarray:
        Z = np.sign(X) * np.log1p(np.abs(np.nan_to_num(X)))
        return (Z - self.mu) / self.sd

    def fit(self, X: np.ndarray, y: np.ndarray) -> MLP:
        Z = np.sign(X) * np.log1p(np.abs(np.nan_to_num(X)))
        self.mu, self.sd = Z.mean(axis=0), Z.std(axis=0) + 1e-9
        self.net = MLPClassifier(hidden_layer_sizes=self.hidden, alpha=1e-3, batch_size=512, learning_rate_init=1e-3,
                                 max_iter=60, early_stopping=True, n_iter_no_change=6, random_state=self.seed)
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
