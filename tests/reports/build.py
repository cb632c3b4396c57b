"""Small builders for report tests: movements, labels and facts made by hand, and a record
written row by row (decisions chosen by the test, not by whatever rules the packs hold today)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import msgspec

from qalqan.config import DEFAULT_FX
from qalqan.reports.facts import Converter, Facts, LabelRow, Movement, build_facts
from qalqan.store import Record
from qalqan.store.base import Row

CONV = Converter(DEFAULT_FX, "RUB")


def us(ts: str) -> int:
    """'2026-02-03' or '2026-02-03T10:00:00' (UTC) in microseconds."""
    dt = datetime.fromisoformat(ts if "T" in ts else f"{ts}T12:00:00").replace(tzinfo=UTC)
    return int(dt.timestamp()) * 1_000_000


def mv(event_id: str, ts: str, amount: str = "100.00", *, action: str = "approve", channel: str = "ecom",
       merchant: str | None = "M1", type: str = "payment", currency: str = "RUB", auth: str | None = "3ds",
       country: str | None = "RU", rail: str | None = None, direction: str | None = None, score: float = 0.0,
       codes: tuple[str, ...] = ()) -> Movement:
    a = Decimal(amount)
    return Movement(
        event_id, us(ts), type, channel if type == "payment" else type, action, CONV.cents(a, currency),
        CONV.cents(a, currency, "EUR"), CONV.cents(a, currency, "USD"), merchant if type == "payment" else None,
        country if type == "payment" else None, auth if type == "payment" else None, rail, direction, score, codes,
    )


def lb(target: str, label: str, ts: str, seq: int = 0) -> LabelRow:
    return LabelRow(target, label, us(ts), seq)


def facts(movements: list[Movement], labels: list[LabelRow], start: str, end: str,
          as_of: str | None = None) -> Facts:
    return build_facts(movements, labels, date.fromisoformat(start), date.fromisoformat(end),
                       date.fromisoformat(as_of or "2099-12-31"), "RUB")


class RecordWriter:
    """Appends events to a record as the engine stores them, with decisions the test picks."""

    def __init__(self, record: Record) -> None:
        self.record = record
        self.seq = 0

    def _row(self, body: dict[str, Any], action: str | None, decision: dict[str, Any] | None) -> None:
        self.seq += 1
        ts_us = us(body["ts"].rstrip("Z"))
        self.record.append(Row(self.seq, body["event_id"], body["type"], ts_us, body["customer_id"],
                               msgspec.json.encode(body), action,
                               None if decision is None else msgspec.json.encode(decision)))

    def payment(self, event_id: str, ts: str, amount: str, *, action: str = "approve", currency: str = "RUB",
                merchant: str = "M1", channel: str = "ecom", auth: str = "3ds", codes: tuple[str, ...] = (),
                score: float = 0.0) -> None:
        body = {"type": "payment", "event_id": event_id, "ts": f"{ts}Z", "customer_id": "c1", "extra": None,
                "card_id": "card", "amount": amount, "currency": currency, "merchant_id": merchant,
                "channel": channel, "auth_method": auth, "merchant_country": "RU"}
        reasons = [{"code": c, "source": "rule", "action": action} for c in codes]
        self._row(body, action, {"event_id": event_id, "action": action, "score": score, "reasons": reasons})

    def transfer(self, event_id: str, ts: str, amount: str, *, action: str = "approve", rail: str = "sbp",
                 currency: str = "RUB") -> None:
        body = {"type": "transfer", "event_id": event_id, "ts": f"{ts}Z", "customer_id": "c1", "extra": None,
                "direction": "out", "rail": rail, "amount": amount, "currency": currency, "from_account": "a",
                "to_account": "b"}
        self._row(body, action, {"event_id": event_id, "action": action, "score": 0.0, "reasons": []})

    def label(self, event_id: str, ts: str, target: str, label: str) -> None:
        body = {"type": "label", "event_id": event_id, "ts": f"{ts}Z", "customer_id": "c1",
                "extra": {"scenario": "test"}, "target_event_id": target, "label": label, "source": "test"}
        self._row(body, None, None)

    def context(self, event_id: str, ts: str) -> None:
        body = {"type": "login", "event_id": event_id, "ts": f"{ts}Z", "customer_id": "c1", "extra": None,
                "device_id": "d", "success": True}
        self._row(body, None, None)
