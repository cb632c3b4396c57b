"""How the engine's own decisions fare: alerts per day, per-rule precision, the score distribution.

An *alert* is a money movement the engine did not simply approve (challenge, review, hold or
decline): the work it makes for analysts and the friction it puts on clients. A rule's
*precision* is the share of the movements it fired on that are labelled fraud as of the report's
day; a movement with no label counts as not fraud, so precision rises as late labels arrive.
"""

from __future__ import annotations

import polars as pl

from .facts import Facts

__all__ = ["ALERT_ACTIONS", "alerts_per_day", "rule_precision", "score_distribution"]

ALERT_ACTIONS = ("challenge", "review", "hold", "decline")


def alerts_per_day(facts: Facts) -> pl.DataFrame:
    """One row per day of the window: movements, and how many got each action but approve."""
    w = facts.window()
    days = pl.DataFrame({"date": pl.date_range(facts.start, facts.end, "1d", eager=True)})
    counts = w.group_by("date").agg(
        pl.len().cast(pl.Int64).alias("movements"),
        *[(pl.col("action") == a).sum().cast(pl.Int64).alias(a) for a in ALERT_ACTIONS],
    )
    cols = ["movements", *ALERT_ACTIONS]
    return (
        days.join(counts, on="date", how="left").with_columns(pl.col(cols).fill_null(0)).sort("date")
        .with_columns(alerts=pl.sum_horizontal(*ALERT_ACTIONS))
    )


def rule_precision(facts: Facts) -> pl.DataFrame:
    """Per reason code: hits, hits on fraud, precision, and the share of its hits that were stopped."""
    w = facts.window().select("event_id", "codes", "fraud", "outcome").explode("codes").drop_nulls("codes")
    w = w.unique(["event_id", "codes"])  # a code twice on one decision is one hit
    return (
        w.group_by(pl.col("codes").alias("code")).agg(
            hits=pl.len().cast(pl.Int64),
            fraud_hits=pl.col("fraud").sum().cast(pl.Int64),
            stopped=(pl.col("outcome") == "stopped").sum().cast(pl.Int64),
        )
        .with_columns(precision=pl.col("fraud_hits") / pl.col("hits"))
        .sort(["hits", "code"], descending=[True, False])
    )


def score_distribution(facts: Facts, bins: int = 20) -> pl.DataFrame:
    """Counts of decision scores in ``bins`` equal bins over [0, 1], for fraud and the rest."""
    w = facts.window().select("score", "fraud")
    idx = (pl.col("score").clip(0.0, 1.0) * bins).floor().cast(pl.Int64).clip(0, bins - 1).alias("bin")
    counts = w.group_by(idx).agg(
        legit=(~pl.col("fraud")).sum().cast(pl.Int64), fraud=pl.col("fraud").sum().cast(pl.Int64),
    )
    return (
        pl.DataFrame({"bin": list(range(bins))}, schema={"bin": pl.Int64})
        .join(counts, on="bin", how="left").with_columns(pl.col("legit", "fraud").fill_null(0))
        .with_columns(lo=pl.col("bin") / bins, hi=(pl.col("bin") + 1) / bins)
        .sort("bin")
    )
