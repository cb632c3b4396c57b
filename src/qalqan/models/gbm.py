"""Gradient boosting (LightGBM). One event is scored through ``Booster.predict`` on a NumPy row;
its reasons are the inputs' SHAP contributions (``pred_contrib``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import lightgbm as lgb
import numpy as np

from ..events import Reason
from .base import ModelError, row, top_reasons

PARAMS: dict[str, Any] = {
    "objective": "binary", "learning_rate": 0.05, "num_leaves": 15, "min_data_in_leaf": 40,
    "feature_fraction": 0.8, "bagging_fraction": 0.8, "bagging_freq": 1, "lambda_l2": 1.0,
    "verbose": -1, "num_threads": 1, "seed": 7, "deterministic": True,
}
# One thread: on the project's 2 shared cores, OpenMP's two threads spin-wait whenever another
# process holds a core; measured (bench/train.py, 300,000 rows, 300 rounds, load ~7): 1 thread
# 14-25 s wall / 7 s CPU, 2 threads 113 s wall / 40 s CPU. On an idle machine 2 threads would be
# ~1.7× faster; pass params={"num_threads": 2} there.


class GradientBoosting:
    name = "gbm"

    def __init__(self, inputs: Sequence[str], rounds: int = 300, params: dict[str, Any] | None = None) -> None:
        self.inputs = tuple(inputs)
        self.features: frozenset[str] | None = frozenset(self.inputs)
        self.rounds = rounds
        self.params = {**PARAMS, **(params or {})}
        self.booster: lgb.Booster | None = None
        self.version = "gbm-unfit"

    def fit(self, X: np.ndarray, y: np.ndarray) -> GradientBoosting:
        data = lgb.Dataset(X, label=y, feature_name=[c for c in self.inputs], free_raw_data=True)
        self.booster = lgb.train(self.params, data, num_boost_round=self.rounds)
        self.version = f"gbm-{self.rounds}r"
        return self

    def _booster(self) -> lgb.Booster:
        if self.booster is None:
            raise ModelError("GradientBoosting is not fitted: call fit(X, y) first")
        return self.booster

    def score_many(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(self._booster().predict(X), dtype=float)

    def score_one(self, features: dict[str, Any]) -> tuple[float, list[Reason]]:
        x = row(self.inputs, features)
        booster = self._booster()
        score = float(booster.predict(x)[0])
        contrib = np.asarray(booster.predict(x, pred_contrib=True))[0, :-1]  # the last is the bias
        return score, top_reasons(self.name, self.inputs, contrib)
