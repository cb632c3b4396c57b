"""Drive the engine with hand-made events and read the reason codes of its decisions."""

from __future__ import annotations

import dataclasses
import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec

from qalqan.config import from_env
from qalqan.engine import Engine
from qalqan.events import Decision

T0 = datetime(2026, 3, 10, 12, 0, 0, tzinfo=UTC)
_ids = itertools.count(1)


def at(**delta: float) -> str:
    """An RFC 3339 time relative to T0: at(hours=-24) is exactly 24 h before T0."""
    return (T0 + timedelta(**delta)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Client:
    """One bank client's stream against a fresh in-memory engine."""

    def __init__(self, params: dict[str, dict[str, Any]] | None = None, customer: str = "C1",
                 jurisdiction: str | None = None) -> None:
        """``jurisdiction``: the (default) organisation's, RU unless named (jurisdiction.py)."""
        settings = from_env(db_url="sqlite:///:memory:")
        if params:
            settings = dataclasses.replace(settings, rule_params=params)
        if jurisdiction:
            settings = dataclasses.replace(settings, jurisdictions={"default": jurisdiction})
        self.engine = Engine(settings)
        self.customer = customer

    def send(self, type: str, ts: str | None = None, **fields: Any) -> Decision | None:
        body = {"type": type, "event_id": f"r-{next(_ids)}", "ts": ts or at(), "customer_id": self.customer,
                **fields}
        return self.engine.decide(msgspec.json.encode(body)).decision

    def transfer(self, ts: str | None = None, **kw: Any) -> Decision:
        base = dict(direction="out", rail="interbank", amount="10000", currency="RUB",
                    from_account="40817810000000000001", to_account="40817810000000000777",
                    counterparty_id="C777")
        base.update(kw)
        return self.send("transfer", ts, **base)  # type: ignore[return-value]

    def inflow_self_sbp(self, amount: str, ts: str) -> None:
        self.transfer(ts, direction="in", rail="sbp", self_transfer=True, amount=amount,
                      from_account="40817810000000000555", to_account="40817810000000000001", counterparty_id=None)

    def atm(self, ts: str | None = None, **kw: Any) -> Decision:
        base = dict(operation="withdrawal", amount="5000", currency="RUB", card_id="2200000000000004", atm_id="ATM1")
        base.update(kw)
        return self.send("atm", ts, **base)  # type: ignore[return-value]

    def payment(self, ts: str | None = None, **kw: Any) -> Decision:
        base = dict(card_id="2200000000000004", amount="1000", currency="RUB", merchant_id="M1", channel="pos")
        base.update(kw)
        return self.send("payment", ts, **base)  # type: ignore[return-value]

    def intel(self, list: str, entity: str, value: str, ts: str | None = None, **kw: Any) -> None:
        body = {"type": "intel", "event_id": f"r-{next(_ids)}", "ts": ts or at(days=-30), "customer_id": "regulator",
                "list": list, "entity": entity, "value": value, "op": "add", **kw}
        self.engine.decide(msgspec.json.encode(body))


def codes(decision: Decision | None) -> set[str]:
    assert decision is not None
    return {r.code for r in decision.reasons if r.action not in (None, "approve")}


def notes(decision: Decision | None) -> set[str]:
    """Codes of every reason, the notifications (action approve) included."""
    assert decision is not None
    return {r.code for r in decision.reasons}
