"""What every report reads from the record: money movements with their decisions and labels.

The record is read once, in order. A money movement keeps what the reports group by (merchant,
channel, rail, type), its decision (action, score, reason codes) and its amount converted to the
reporting currency — and to EUR and USD, in which PSD2 bands and Mastercard's EFM floor are
written — as integer minor units, so that every sum is exact. Context events are skipped without
being decoded.

Labels arrive late (a chargeback weeks after the payment), so facts are built *as of* a day: a
label counts when it arrived on or before that day, and a movement's verdict is its latest label
by then (a ``legit`` label after a ``fraud`` one clears it). ``fraud`` and ``chargeback`` are
fraud; the card-scheme programmes also tell them apart (a fraud report, TC40, and a dispute, TC15).

What happened to a movement, for every report alike:

* **passed** — approved;
* **challenged** — a step-up (OTP, 3-D Secure) was asked; it goes through once the client passes
  it, so it counts as *settled* (a chargeback can only come back on a completed payment);
* **stopped** — review, hold or decline: not executed as sent.

Settled = passed + challenged. Fraud rates that a contract or a scheme holds a business to are
fraud among settled movements; the share of fraud stopped shows what the engine kept out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import NamedTuple

import msgspec
import polars as pl

from ..events import scoped_id
from ..store import Record
from .periods import date_to_us, us_to_date

__all__ = [
    "CHALLENGE", "FRAUD_LABELS", "STOPPED", "Converter", "Facts", "LabelRow", "Movement", "ReportError",
    "build_facts", "read_facts",
]

STOPPED = frozenset({"review", "hold", "decline"})
CHALLENGE = "challenge"
FRAUD_LABELS = frozenset({"fraud", "chargeback"})
MONEY_TYPES = frozenset({"payment", "transfer", "atm"})
# Programmes look back a month (Mastercard: last month's sales) and 90 days (PSD2) before the window.
LOOKBACK_DAYS = 92
_CENT = Decimal("0.01")


class ReportError(RuntimeError):
    """A report that cannot be made as asked: says what to change."""


class Movement(NamedTuple):
    """One decided money movement, as the reports see it."""

    event_id: str
    ts_us: int
    type: str  # payment | transfer | atm
    channel: str  # a payment's channel (ecom, pos, biometric, atm_qr), else "transfer" or "atm"
    action: str
    minor: int  # amount in the reporting currency, minor units (1/100)
    eur_cents: int
    usd_cents: int
    merchant: str | None = None
    merchant_country: str | None = None
    auth_method: str | None = None
    rail: str | None = None
    direction: str | None = None
    score: float = 0.0
    codes: tuple[str, ...] = ()


class LabelRow(NamedTuple):
    target: str
    label: str  # fraud | chargeback | legit
    ts_us: int  # when the label arrived
    seq: int = 0


class Converter:
    """Exact conversion between currencies through the configured rates (to RUB, as decimal strings)."""

    def __init__(self, fx: Mapping[str, str], currency: str) -> None:
        self.rates = {c: Decimal(r) for c, r in fx.items()}
        if currency not in self.rates:
            raise ReportError(f"--currency {currency}: no exchange rate configured; known: {', '.join(sorted(fx))}")
        self.currency = currency
        self._cache: dict[tuple[str, str], Decimal] = {}

    def rate(self, src: str, dst: str) -> Decimal:
        key = (src, dst)
        r = self._cache.get(key)
        if r is None:
            if src not in self.rates or dst not in self.rates:
                missing = src if src not in self.rates else dst
                raise ReportError(f"currency {missing}: no exchange rate configured (qalqan.config.DEFAULT_FX)")
            r = self._cache[key] = self.rates[src] / self.rates[dst]
        return r

    def cents(self, amount: Decimal, src: str, dst: str | None = None) -> int:
        """``amount`` of ``src`` in minor units of ``dst`` (the reporting currency by default),
        rounded half-even to the minor unit once, per movement."""
        return _cents(amount * self.rate(src, dst or self.currency))


def _cents(value: Decimal) -> int:
    return int(value.quantize(_CENT) * 100)


@dataclass(frozen=True)
class Facts:
    """Movements and labels of a report window, as known on ``as_of``.

    ``movements`` also holds the ``LOOKBACK_DAYS`` before ``start`` (for programmes that compare
    with earlier months); ``window()`` is the report's own days."""

    movements: pl.DataFrame
    labels: pl.DataFrame
    start: date
    end: date  # the last day, included
    as_of: date
    currency: str

    def window(self) -> pl.DataFrame:
        return self.movements.filter(pl.col("date").is_between(self.start, self.end))

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1


_MOVEMENT_SCHEMA: dict[str, pl.DataType | type[pl.DataType]] = {
    "event_id": pl.String, "ts_us": pl.Int64, "type": pl.String, "channel": pl.String, "action": pl.String,
    "minor": pl.Int64, "eur_cents": pl.Int64, "usd_cents": pl.Int64, "merchant": pl.String,
    "merchant_country": pl.String, "auth_method": pl.String, "rail": pl.String, "direction": pl.String,
    "score": pl.Float64, "codes": pl.List(pl.String),
}
_LABEL_SCHEMA: dict[str, pl.DataType | type[pl.DataType]] = {
    "target": pl.String, "label": pl.String, "ts_us": pl.Int64, "seq": pl.Int64,
}


def _day(ts: pl.Expr) -> pl.Expr:
    return pl.from_epoch(ts, time_unit="us").dt.date()


def build_facts(
    movements: Iterable[Movement], labels: Iterable[LabelRow], start: date, end: date, as_of: date, currency: str
) -> Facts:
    """Facts from movements and labels (read from a record, or made by a test).

    Labels after ``as_of`` are ignored; labels on movements not given are dropped."""
    cut = date_to_us(as_of + timedelta(days=1))
    mv = pl.DataFrame(list(movements), schema=_MOVEMENT_SCHEMA, orient="row")
    lb = pl.DataFrame(list(labels), schema=_LABEL_SCHEMA, orient="row").filter(pl.col("ts_us") < cut)
    verdict = (
        lb.sort("ts_us", "seq")
        .group_by("target")
        .agg(pl.col("label").last().alias("verdict"), pl.col("ts_us").last().alias("verdict_us"))
    )
    mv = (
        mv.with_columns(
            date=_day(pl.col("ts_us")),
            outcome=pl.when(pl.col("action").is_in(list(STOPPED))).then(pl.lit("stopped"))
            .when(pl.col("action") == CHALLENGE).then(pl.lit("challenged"))
            .otherwise(pl.lit("passed")),
        )
        .with_columns(settled=pl.col("outcome") != "stopped")
        .join(verdict, left_on="event_id", right_on="target", how="left")
        .with_columns(fraud=pl.col("verdict").is_in(list(FRAUD_LABELS)).fill_null(False))
        .sort("ts_us")
    )
    target_cols = ["event_id", "type", "channel", "merchant", "merchant_country", "auth_method", "action",
                   "outcome", "settled", "minor", "eur_cents", "usd_cents", "date"]
    lb = (
        lb.join(mv.select(target_cols).rename({"date": "event_date"}), left_on="target", right_on="event_id",
                how="inner")
        .with_columns(date=_day(pl.col("ts_us")))
        .sort("ts_us", "seq")
    )
    return Facts(mv, lb, start, end, as_of, currency)


# --- reading the record --------------------------------------------------------------------
class _Money(msgspec.Struct):
    amount: Decimal
    currency: str
    merchant_id: str | None = None
    merchant_country: str | None = None
    channel: str | None = None
    auth_method: str | None = None
    rail: str | None = None
    direction: str | None = None


class _Reason(msgspec.Struct):
    code: str


class _Decision(msgspec.Struct):
    action: str
    score: float = 0.0
    reasons: list[_Reason] = []


class _Label(msgspec.Struct):
    target_event_id: str
    label: str


def read_facts(
    record: Record, start: date, end: date, currency: str, fx: Mapping[str, str], as_of: date | None = None,
) -> Facts:
    """Reads the record once: the window ``start``..``end`` (UTC days, both included) with the
    lookback before it, and the labels known on ``as_of`` (default: every label in the record,
    and ``as_of`` is then the day of the latest event)."""
    if end < start:
        raise ReportError(f"--to {end} is before --from {start}")
    conv = Converter(fx, currency)
    lo = date_to_us(start - timedelta(days=LOOKBACK_DAYS))
    hi = date_to_us(end + timedelta(days=1))
    decode_money = msgspec.json.Decoder(_Money).decode
    decode_decision = msgspec.json.Decoder(_Decision).decode
    decode_label = msgspec.json.Decoder(_Label).decode
    movements: list[Movement] = []
    labels: list[LabelRow] = []
    latest = 0
    rates: dict[str, tuple[Decimal, Decimal, Decimal]] = {}  # per currency: to the report's, to EUR, to USD
    for row in record.rows_after(0):
        if row.ts_us > latest:
            latest = row.ts_us
        if row.type == "label":
            lbl = decode_label(row.body)
            # ids are unique within an organisation: a label finds its movement by both
            labels.append(LabelRow(scoped_id(row.org, lbl.target_event_id), lbl.label, row.ts_us, row.seq))
            continue
        if row.type not in MONEY_TYPES or row.decision is None or not lo <= row.ts_us < hi:
            continue
        body = decode_money(row.body)
        dec = decode_decision(row.decision)
        amount, cur = body.amount, body.currency
        r = rates.get(cur)
        if r is None:
            r = rates[cur] = (conv.rate(cur, currency), conv.rate(cur, "EUR"), conv.rate(cur, "USD"))
        movements.append(Movement(
            event_id=scoped_id(row.org, row.event_id), ts_us=row.ts_us, type=row.type,
            channel=body.channel if row.type == "payment" and body.channel else row.type,
            action=row.action or dec.action,
            minor=_cents(amount * r[0]), eur_cents=_cents(amount * r[1]), usd_cents=_cents(amount * r[2]),
            merchant=body.merchant_id, merchant_country=body.merchant_country, auth_method=body.auth_method,
            rail=body.rail, direction=body.direction, score=dec.score,
            codes=tuple(r.code for r in dec.reasons),
        ))
    if as_of is None:
        as_of = us_to_date(latest) if latest else end
    return build_facts(movements, labels, start, end, as_of, currency)
