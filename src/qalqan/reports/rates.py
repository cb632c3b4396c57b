"""Fraud rates by count and by value, per period and per merchant, channel, rail or type.

Two rates answer two questions, and both are reported:

* the **fraud rate** — fraud among *settled* movements (passed or challenged, see ``facts``): what
  a contract or a card scheme holds the business to;
* the **attempted fraud rate** — fraud among every decided movement, stopped ones included: how
  much fraud came at the door.

Of the fraud, the shares *stopped* (review, hold, decline), *challenged* and *passed* (approved)
say what the engine did with it. Money is summed in integer minor units of the reporting currency;
rates are plain floats (a rate is read, never paid).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

import polars as pl

from .facts import Facts
from .periods import PeriodName, period_expr

__all__ = ["DIMENSIONS", "COUNT_COLUMNS", "fraud_rates", "rolling_rates", "summarise", "totals"]

DIMENSIONS = ("merchant", "channel", "rail", "type")
# Integer columns of ``summarise`` (counts, and ``*_value`` sums in minor units).
COUNT_COLUMNS = (
    "movements", "value", "settled", "settled_value", "fraud", "fraud_value",
    "fraud_stopped", "fraud_stopped_value", "fraud_challenged", "fraud_challenged_value",
    "fraud_passed", "fraud_passed_value", "fraud_settled", "fraud_settled_value",
)


def _ratio(num: str, den: str) -> pl.Expr:
    return pl.when(pl.col(den) > 0).then(pl.col(num) / pl.col(den)).otherwise(None)


def summarise(frame: pl.DataFrame, keys: Sequence[str]) -> pl.DataFrame:
    """Counts, sums and rates of ``frame``'s movements grouped by ``keys`` (none: one row)."""
    fraud, settled, v = pl.col("fraud"), pl.col("settled"), pl.col("minor")
    outcome = pl.col("outcome")
    aggs = [
        pl.len().cast(pl.Int64).alias("movements"),
        v.sum().alias("value"),
        settled.sum().cast(pl.Int64).alias("settled"),
        v.filter(settled).sum().alias("settled_value"),
        fraud.sum().cast(pl.Int64).alias("fraud"),
        v.filter(fraud).sum().alias("fraud_value"),
    ]
    for name in ("stopped", "challenged", "passed"):
        hit = fraud & (outcome == name)
        aggs += [hit.sum().cast(pl.Int64).alias(f"fraud_{name}"), v.filter(hit).sum().alias(f"fraud_{name}_value")]
    aggs += [
        (fraud & settled).sum().cast(pl.Int64).alias("fraud_settled"),
        v.filter(fraud & settled).sum().alias("fraud_settled_value"),
    ]
    out = frame.group_by(list(keys)).agg(aggs).sort(list(keys)) if keys else frame.select(aggs)
    return out.with_columns(
        rate_count=_ratio("fraud_settled", "settled"),
        rate_value=_ratio("fraud_settled_value", "settled_value"),
        attempted_rate_count=_ratio("fraud", "movements"),
        attempted_rate_value=_ratio("fraud_value", "value"),
        stopped_share=_ratio("fraud_stopped", "fraud"),
        stopped_value_share=_ratio("fraud_stopped_value", "fraud_value"),
        challenged_share=_ratio("fraud_challenged", "fraud"),
        passed_share=_ratio("fraud_passed", "fraud"),
    )


def fraud_rates(facts: Facts, period: PeriodName = "month", by: Sequence[str] = ()) -> pl.DataFrame:
    """Rates per ``period`` of the window, and per each of ``by`` (``DIMENSIONS``)."""
    unknown = [d for d in by if d not in DIMENSIONS]
    if unknown:
        raise ValueError(f"by: {unknown} not among {DIMENSIONS}")
    frame = facts.window().with_columns(period=period_expr(pl.col("date"), period))
    return summarise(frame, ["period", *by])


def totals(facts: Facts) -> dict[str, int | float | None]:
    """The whole window in one row."""
    return summarise(facts.window(), []).row(0, named=True)


def rolling_rates(facts: Facts, days: int = 30) -> pl.DataFrame:
    """For each day of the window, the rates over the ``days`` days ending that day:

    ``rate_value`` (fraud among settled movements, by value) and ``cnp_rate_count`` (fraud among
    settled card-not-present payments, by count, by the payments' own dates) — the two bases on
    which contracts and schemes are written, for the charts against their thresholds."""
    m = facts.movements
    cnp = (pl.col("type") == "payment") & (pl.col("channel") == "ecom") & pl.col("settled")
    daily = m.group_by("date").agg(
        settled_value=pl.col("minor").filter(pl.col("settled")).sum(),
        fraud_value=pl.col("minor").filter(pl.col("settled") & pl.col("fraud")).sum(),
        cnp=cnp.sum().cast(pl.Int64),
        cnp_fraud=(cnp & pl.col("fraud")).sum().cast(pl.Int64),
    )
    first = facts.start - timedelta(days=days - 1)
    calendar = pl.DataFrame({"date": pl.date_range(first, facts.end, "1d", eager=True)})
    cols = ["settled_value", "fraud_value", "cnp", "cnp_fraud"]
    rolled = (
        calendar.join(daily, on="date", how="left")
        .with_columns(pl.col(cols).fill_null(0))
        .sort("date")
        .with_columns(pl.col(c).rolling_sum(window_size=days, min_samples=1).alias(c) for c in cols)
        .filter(pl.col("date") >= facts.start)
    )
    return rolled.with_columns(
        rate_value=_ratio("fraud_value", "settled_value"),
        cnp_rate_count=_ratio("cnp_fraud", "cnp"),
    )
