"""The handbook's metrics: AUC and AP as scikit-learn computes them, CP@k as the handbook does."""

from __future__ import annotations

from datetime import date

import numpy as np
import polars as pl
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from qalqan.models.metrics import auc_roc, average_precision, card_precision_at_k


@pytest.mark.parametrize("seed", range(5))
def test_auc_and_ap_match_scikit_learn_with_ties(seed: int) -> None:
    r = np.random.default_rng(seed)
    y = r.random(400) < 0.1
    s = np.round(r.random(400) + 0.3 * y, 1)  # rounded: many ties
    assert auc_roc(y, s) == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    assert average_precision(y, s) == pytest.approx(average_precision_score(y, s), abs=1e-12)


def test_auc_is_nan_without_both_classes() -> None:
    assert np.isnan(auc_roc(np.zeros(3), np.arange(3.0)))


def _day(d: int, rows: list[tuple[str, int, float]]) -> list[dict]:
    return [{"day": date(2018, 8, d), "card": c, "label": y, "score": s} for c, y, s in rows]


def test_card_precision_at_k_by_hand() -> None:
    # day 1: cards by max score: A .9 (fraud), B .8, C .7 (fraud) -> top 2 = A, B -> 1/2; A detected
    # day 2: A (still scored highest) is dropped as detected; top 2 = C (fraud), D -> 1/2
    rows = _day(1, [("A", 1, 0.9), ("A", 0, 0.1), ("B", 0, 0.8), ("C", 1, 0.7)]) + _day(
        2, [("A", 1, 0.99), ("C", 0, 0.2), ("C", 1, 0.6), ("D", 0, 0.5), ("E", 1, 0.1)])
    frame = pl.DataFrame(rows)
    assert card_precision_at_k(frame, k=2) == pytest.approx((0.5 + 0.5) / 2)
    # k = 100: the denominator stays 100 though fewer cards exist (the handbook's definition);
    # day 1 finds A and C, so day 2 ranks only D and E (E a fraud)
    assert card_precision_at_k(frame, k=100) == pytest.approx((2 / 100 + 1 / 100) / 2)
