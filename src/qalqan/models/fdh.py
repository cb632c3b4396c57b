"""The Fraud Detection Handbook table as qalqan features.

Each transaction becomes a payment view (card = CUSTOMER_ID, merchant = TERMINAL_ID, amount_base =
round(TX_AMOUNT × 100)); each label becomes a ``label`` event at the transaction's time + the label
delay, carrying the card, the terminal and the flag. features/offline.py builds the features of
fdh_features.yaml over both streams, so a window over ``label`` events counts only labels known at
decision time. ``derive`` then turns the raw counts into the model inputs (means, shares, days
since): arithmetic on one row, done here in Polars because the definitions have no ratio kind.

``TX_FRAUD_SCENARIO`` is never read: ``load`` does not select it.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from ..features import definitions
from ..features.offline import build

DEFAULT_DATA = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "fdh" / "transactions.parquet"
FEATURES_PATH = Path(__file__).with_name("fdh_features.yaml")
COLUMNS = ("TRANSACTION_ID", "TX_DATETIME", "CUSTOMER_ID", "TERMINAL_ID", "TX_AMOUNT", "TX_FRAUD")
DAY_US = 86_400_000_000
# Every model input, in order; each a float column of ``derive``'s frame.
INPUTS = (
    "amount", "weekend", "night",
    "card_1d_n", "card_1d_mean", "card_7d_n", "card_7d_mean", "card_30d_n", "card_30d_mean",
    "term_1d_risk", "term_7d_risk", "term_30d_risk", "term_1d_known", "term_7d_known", "term_30d_known",
    # beyond the handbook's 15
    "card_14d_n", "card_14d_mean", "card_7d_max", "card_30d_max", "amount_to_card_mean", "amount_to_card_max",
    "card_120d_n", "amount_to_card_mean_120d", "card_7d_mean_to_120d",
    "card_spike_1d", "card_spike_7d", "card_spike_14d", "card_known_frauds_30d", "card_term_30d",
    "term_14d_frauds", "term_30d_frauds", "term_days_since_fraud", "term_days_since_first_fraud",
    "term_days_since_genuine", "term_fraud_streak_days",
    "term_1d_n", "term_7d_n", "term_28d_n",
    # how old the terminal's fraud streak is (a compromise lasts 28 days: labels known 7 days late,
    # so a streak older than ~21 days is ending) and the amount against the card's 120-day maximum
    "term_streak_age", "term_streak_left", "amount_to_card_max_120d",
    # what the terminal's known frauds look like (cards, mean and largest amount; how many are
    # "plain": neither > 220 nor a spike, from a card without spikes) and the card's known genuine labels
    "term_fraud_cards_14d", "term_fraud_cards_30d", "term_fraud_mean_14d", "term_fraud_mean_30d",
    "term_fraud_max_14d", "term_fraud_max_30d",
    "term_plain_7d", "term_plain_14d", "term_plain_30d", "term_plain_cards_14d", "term_plain_cards_30d",
    "card_gen_30d", "card_gen_120d", "amount_to_card_gen_max",
)


class DataError(ValueError):
    """The transactions file cannot be used; says what is wrong."""


def load(path: Path | str = DEFAULT_DATA) -> pl.DataFrame:
    """The handbook columns qalqan reads (never TX_FRAUD_SCENARIO), in time order."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path} does not exist (see ../shared/data/README.md for the handbook data)")
    schema = pl.read_parquet_schema(path)
    missing = [c for c in COLUMNS if c not in schema]
    if missing:
        raise DataError(f"{path} lacks the columns {missing}; it needs {list(COLUMNS)}")
    return pl.read_parquet(path, columns=list(COLUMNS)).sort("TX_DATETIME", maintain_order=True)


def views(tx: pl.DataFrame, delay_days: int = 7) -> pl.DataFrame:
    """Payment views and label events (at ts + delay), merged in time order."""
    base = tx.select(
        pl.col("TRANSACTION_ID").cast(pl.String).alias("event_id"),
        pl.col("TX_DATETIME").dt.epoch("us").alias("ts_us"),
        pl.col("CUSTOMER_ID").cast(pl.String).alias("customer_id"),
        pl.col("CUSTOMER_ID").cast(pl.String).alias("card_id"),
        pl.col("TERMINAL_ID").cast(pl.String).alias("merchant_id"),
        # the card-terminal pair rides on the customer_device entity (customer|device)
        pl.col("TERMINAL_ID").cast(pl.String).alias("device_id"),
        (pl.col("TX_AMOUNT") * 100).round().cast(pl.Int64).alias("amount_base"),
        pl.col("TX_FRAUD").cast(pl.Int64).alias("label"),
    )
    pay = base.with_columns(pl.lit("payment").alias("type"), pl.lit(None, pl.Int64).alias("label"))
    lab = base.with_columns(pl.lit("label").alias("type"), pl.col("ts_us") + delay_days * DAY_US,
                            ("L" + pl.col("event_id")).alias("event_id"))
    return pl.concat([pay, lab]).sort("ts_us", maintain_order=True)


def features(tx: pl.DataFrame, delay_days: int = 7, path: Path | str = FEATURES_PATH) -> pl.DataFrame:
    """``tx`` with a ``day`` column and every column of INPUTS (row order kept)."""
    built = build(views(tx, delay_days), definitions.load(path))
    raw = tx.with_columns(pl.col("TRANSACTION_ID").cast(pl.String).alias("event_id")).join(
        built, on="event_id", how="left", maintain_order="left")
    return derive(raw)


def derive(raw: pl.DataFrame) -> pl.DataFrame:
    """Model inputs from the built counts. The handbook's card windows include the transaction
    itself; the builder's exclude it, so it is added back (n + 1, sum + amount)."""
    amt = pl.col("TX_AMOUNT")
    f = pl.col
    cents = 100.0

    def n(w: str) -> pl.Expr:
        return f(f"card_{w}_count") + 1

    def mean(w: str) -> pl.Expr:
        return (f(f"card_{w}_sum") / cents + amt) / n(w)

    def risk(w: str) -> pl.Expr:
        known = f(f"term_known_{w}_count")
        return pl.when(known > 0).then(f(f"term_fraud_{w}_count") / known).otherwise(0.0)

    prior_mean = pl.when(f("card_30d_count") > 0).then(f("card_30d_sum") / cents / f("card_30d_count"))
    prior_mean_120 = pl.when(f("card_120d_count") > 0).then(f("card_120d_sum") / cents / f("card_120d_count"))
    since = [
        (pl.col(c).cast(pl.Float64) / DAY_US).fill_null(99.0).alias(a)
        for c, a in (("term_last_fraud", "term_days_since_fraud"), ("term_first_fraud", "term_days_since_first_fraud"),
                     ("term_last_genuine", "term_days_since_genuine"))
    ]
    out = raw.with_columns(
        pl.col("TX_DATETIME").dt.date().alias("day"),
        amt.alias("amount"),
        (pl.col("TX_DATETIME").dt.weekday() >= 6).cast(pl.Float64).alias("weekend"),
        (pl.col("TX_DATETIME").dt.hour() <= 6).cast(pl.Float64).alias("night"),
        *[n(w).alias(f"card_{w}_n") for w in ("1d", "7d", "14d", "30d")],
        *[mean(w).alias(f"card_{w}_mean") for w in ("1d", "7d", "14d", "30d")],
        *[risk(w).alias(f"term_{w}_risk") for w in ("1d", "7d", "30d")],
        *[f(f"term_known_{w}_count").alias(f"term_{w}_known") for w in ("1d", "7d", "30d")],
        (f("card_7d_max") / cents).fill_null(0.0).alias("card_7d_max"),
        (f("card_30d_max") / cents).fill_null(0.0).alias("card_30d_max"),
        (amt / prior_mean).fill_null(1.0).alias("amount_to_card_mean"),
        (amt / (f("card_30d_max") / cents)).fill_null(1.0).alias("amount_to_card_max"),
        n("120d").alias("card_120d_n"),
        (amt / prior_mean_120).fill_null(1.0).alias("amount_to_card_mean_120d"),
        (mean("7d") / prior_mean_120).fill_null(1.0).alias("card_7d_mean_to_120d"),
        *[f(f"card_spike_{w}_count").alias(f"card_spike_{w}") for w in ("1d", "7d", "14d")],
        f("card_fraud_30d_count").alias("card_known_frauds_30d"),
        f("card_term_30d_count").alias("card_term_30d"),
        *[f(f"term_fraud_{w}_count").alias(f"term_{w}_frauds") for w in ("14d", "30d")],
        *since,
        *[f(f"term_{w}_count").alias(f"term_{w}_n") for w in ("1d", "7d", "28d")],
        # the terminal's known frauds: −1 reads "none"
        *[f(f"term_fraud_amt_{w}_distinct").fill_null(0).alias(f"term_fraud_cards_{w}") for w in ("14d", "30d")],
        *[pl.when(f(f"term_fraud_{w}_count") > 0)
          .then(f(f"term_fraud_amt_{w}_sum") / cents / f(f"term_fraud_{w}_count"))
          .otherwise(-1.0).alias(f"term_fraud_mean_{w}") for w in ("14d", "30d")],
        *[(f(f"term_fraud_amt_{w}_max") / cents).fill_null(-1.0).alias(f"term_fraud_max_{w}") for w in ("14d", "30d")],
        *[f(f"term_plain_{w}_count").alias(f"term_plain_{w}") for w in ("7d", "14d", "30d")],
        *[f(f"term_plain_{w}_distinct").fill_null(0).alias(f"term_plain_cards_{w}") for w in ("14d", "30d")],
        *[f(f"card_gen_{w}_count").alias(f"card_gen_{w}") for w in ("30d", "120d")],
        (amt / (f("card_gen_120d_max") / cents)).fill_null(-1.0).alias("amount_to_card_gen_max"),
    ).with_columns(  # first_seen reads 0 for a terminal with no known fraud: "long ago" too
        pl.when(f("term_days_since_first_fraud") == 0).then(99.0)
        .otherwise(f("term_days_since_first_fraud")).alias("term_days_since_first_fraud"),
        # > 0: the labels known since the latest genuine one are all frauds (for that many days)
        (f("term_days_since_genuine") - f("term_days_since_fraud")).alias("term_fraud_streak_days"),
        (amt / (f("card_120d_max") / cents)).fill_null(1.0).alias("amount_to_card_max_120d"),
    ).with_columns(  # a streak's age is the time since the latest genuine label (−1: no streak)
        pl.when(f("term_fraud_streak_days") > 0).then(f("term_days_since_genuine")).otherwise(-1.0)
        .alias("term_streak_age"),
        pl.when(f("term_fraud_streak_days") > 0).then(21.0 - f("term_days_since_genuine")).otherwise(-30.0)
        .alias("term_streak_left"),
    )
    return out.select("TRANSACTION_ID", "TX_DATETIME", "day", "CUSTOMER_ID", "TERMINAL_ID", "TX_FRAUD",
                      *[pl.col(c).cast(pl.Float64) for c in INPUTS])
