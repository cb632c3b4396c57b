"""The handbook's metrics: AUC ROC, average precision and Card Precision@k.

AUC and AP are scikit-learn's definitions (ties share a rank / a threshold), in NumPy so the
benchmark needs no more than the scores; tests/models/test_metrics.py checks them against it.
"""

from __future__ import annotations

import numpy as np
import polars as pl


def auc_roc(y: np.ndarray, score: np.ndarray) -> float:
    """Area under the ROC curve: the chance a random fraud outranks a random genuine one (ties: ½)."""
    y = np.asarray(y).astype(bool)
    pos, neg = int(y.sum()), int((~y).sum())
    if pos == 0 or neg == 0:
        return float("nan")
    ranks = _average_ranks(np.asarray(score, dtype=float))
    return float((ranks[y].sum() - pos * (pos + 1) / 2) / (pos * neg))


def average_precision(y: np.ndarray, score: np.ndarray) -> float:
    """Σ (R_n − R_{n−1}) P_n over distinct score thresholds, highest first (sklearn's AP)."""
    y = np.asarray(y).astype(bool)
    pos = int(y.sum())
    if pos == 0:
        return float("nan")
    order = np.argsort(-np.asarray(score, dtype=float), kind="mergesort")
    s, t = np.asarray(score, dtype=float)[order], y[order]
    last = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]  # the last row of each run of equal scores
    tp = np.cumsum(t)[last]
    precision = tp / (last + 1)
    recall_step = np.diff(np.r_[0, tp]) / pos
    return float((recall_step * precision).sum())


def card_precision_at_k(frame: pl.DataFrame, k: int = 100, day: str = "day", card: str = "card",
                        label: str = "label", score: str = "score") -> float:
    """The handbook's CP@k: each day, the k cards with the highest score (a card's score and label
    are the max over its transactions that day); the share of them that are compromised; cards
    detected on an earlier day are left out of later days. The mean over days."""
    detected: set = set()
    daily: list[float] = []
    for (_,), df in frame.select(day, card, label, score).sort(day).group_by(day, maintain_order=True):
        if detected:
            df = df.filter(~pl.col(card).is_in(list(detected)))
        top = (df.group_by(card).agg(pl.col(score).max(), pl.col(label).max())
               .sort([score, card], descending=[True, False]).head(k))
        hits = top.filter(pl.col(label) == 1)[card].to_list()
        daily.append(len(hits) / k)
        detected.update(hits)
    return float(np.mean(daily)) if daily else float("nan")


def _average_ranks(x: np.ndarray) -> np.ndarray:
    order = np.argsort(x, kind="mergesort")
    xs = x[order]
    starts = np.r_[0, np.flatnonzero(np.diff(xs)) + 1]
    ends = np.r_[starts[1:], len(xs)]
    avg = (starts + ends + 1) / 2.0  # 1-based average rank of each run of ties
    ranks = np.empty(len(x))
    ranks[order] = np.repeat(avg, ends - starts)
    return ranks
