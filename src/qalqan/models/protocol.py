"""The handbook's evaluation protocol: folds of train / delay / test days, known-compromised cards
removed from the test days, and the metrics per model.

A fold starting on day T trains on [T, T + train), waits ``delay`` days and tests on
[T + train + delay, … + test). Test day i drops the cards known to be compromised by then: the
frauds of the training days, and the frauds of each day up to T + train + i − 1 (the labels of
the delay period, which arrive one delay after the transactions) — the handbook's
``get_train_test_set``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import numpy as np
import polars as pl

from .metrics import auc_roc, average_precision, card_precision_at_k

PROTOCOLS: dict[str, tuple[date, ...]] = {
    "handbook-ch3": (date(2018, 7, 25),),
    "handbook-ch5": (date(2018, 7, 25), date(2018, 8, 1), date(2018, 8, 8), date(2018, 8, 15)),
    "handbook-ch5-validation": (date(2018, 6, 20), date(2018, 6, 27), date(2018, 7, 4), date(2018, 7, 11)),
}
# The handbook's own tables (../shared/data/README.md): model -> (AUC ROC, AP, CP@100).
PUBLISHED: dict[str, dict[str, tuple[float, float, float]]] = {
    "handbook-ch3": {
        "logistic regression": (0.871, 0.606, 0.291), "decision tree, depth 2": (0.763, 0.496, 0.241),
        "random forest": (0.867, 0.658, 0.287), "XGBoost": (0.862, 0.639, 0.273),
    },
    "handbook-ch5": {
        "decision tree": (0.797, 0.579, 0.284), "logistic regression": (0.868, 0.623, 0.297),
        "random forest": (0.870, 0.678, 0.299), "XGBoost": (0.869, 0.687, 0.303),
    },
}


class ProtocolError(ValueError):
    """A protocol or fold that cannot be run; says why."""


@dataclass(frozen=True)
class Fold:
    train_start: date
    train_days: int = 7
    delay_days: int = 7
    test_days: int = 7

    @property
    def test_start(self) -> date:
        return self.train_start + timedelta(days=self.train_days + self.delay_days)

    @property
    def end(self) -> date:
        """The first day after the test days."""
        return self.test_start + timedelta(days=self.test_days)


def folds(protocol: str, train_start: date | None = None) -> list[Fold]:
    if protocol not in PROTOCOLS:
        raise ProtocolError(f"unknown protocol {protocol!r}; known: {sorted(PROTOCOLS)}")
    starts = PROTOCOLS[protocol]
    if train_start is not None:  # shift every fold by the same amount
        shift = train_start - starts[0]
        starts = tuple(s + shift for s in starts)
    return [Fold(s) for s in starts]


def split(frame: pl.DataFrame, fold: Fold) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Training rows and test rows (known-compromised cards removed) of ``frame`` (needs ``day``,
    ``CUSTOMER_ID``, ``TX_FRAUD``)."""
    day = pl.col("day")
    train = frame.filter((day >= fold.train_start) & (day < fold.train_start + timedelta(days=fold.train_days)))
    known = set(train.filter(pl.col("TX_FRAUD") == 1)["CUSTOMER_ID"].to_list())
    parts = []
    for i in range(fold.test_days):
        revealed = fold.train_start + timedelta(days=fold.train_days + i - 1)
        known |= set(frame.filter((day == revealed) & (pl.col("TX_FRAUD") == 1))["CUSTOMER_ID"].to_list())
        test_day = fold.test_start + timedelta(days=i)
        parts.append(frame.filter((day == test_day) & ~pl.col("CUSTOMER_ID").is_in(list(known))))
    return train, pl.concat(parts)


def scores(test: pl.DataFrame, score: np.ndarray) -> dict[str, float]:
    y = test["TX_FRAUD"].to_numpy()
    cp = card_precision_at_k(test.select("day", pl.col("CUSTOMER_ID").alias("card"), pl.col("TX_FRAUD").alias("label"),
                                         pl.Series("score", score)))
    return {"auc_roc": auc_roc(y, score), "ap": average_precision(y, score), "cp100": cp}


@dataclass
class FoldResult:
    fold: Fold
    train_rows: int
    test_rows: int
    test_frauds: int
    metrics: dict[str, dict[str, float]]
    seconds: dict[str, float]

    def as_dict(self) -> dict[str, Any]:
        return {"train_start": self.fold.train_start.isoformat(), "test_start": self.fold.test_start.isoformat(),
                "train_rows": self.train_rows, "test_rows": self.test_rows, "test_frauds": self.test_frauds,
                "metrics": self.metrics, "seconds": self.seconds}


def mean(results: Sequence[FoldResult]) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for model in results[0].metrics:
        out[model] = {m: float(np.mean([r.metrics[model][m] for r in results])) for m in results[0].metrics[model]}
        if len(results) > 1:
            out[model].update({f"{m}_std": float(np.std([r.metrics[model][m] for r in results]))
                               for m in results[0].metrics[model]})
    return out
