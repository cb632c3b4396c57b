"""The flat view of an event that feature filters and rules read.

One dict per event: the contract's fields by name, plus a few derived values that rules need
often (money in base-currency minor units, the direction of money, the recipient). Keeping it a
plain dict keeps the compiled expressions cheap: a name is one dict lookup.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from msgspec.structs import asdict

from ..events import Event, ts_to_us
from .links import has_suspicious_link

_HUNDRED = Decimal(100)


class LazyView(dict):  # type: ignore[type-arg]
    """The event view, whose feature values are computed the first time a rule names them.

    A rule pack may name a hundred features; an event that fails a rule's first, cheap test
    (``type == 'atm'``) never pays for the rest. Values are the state before the event either
    way, so when a value is read does not change what it is.
    """

    __slots__ = ("features",)
    features: Any  # the engine's OnlineFeatures, set on each view before it is read

    def __missing__(self, key: str) -> Any:
        features = self.features
        if features is not None and features.read_lazy(self, key):
            return dict.__getitem__(self, key)
        raise KeyError(key)


class Money:
    """Converts amounts to integer minor units of the base currency (exact, comparable)."""

    def __init__(self, fx: dict[str, str]) -> None:
        self.rates = {cur: Decimal(rate) * _HUNDRED for cur, rate in fx.items()}

    def to_base(self, amount: Decimal, currency: str) -> int | None:
        rate = self.rates.get(currency)
        if rate is None:
            return None
        return int((amount * rate).to_integral_value())


def event_view(event: Event, money: Money) -> LazyView:
    v = LazyView(asdict(event))
    v.features = None
    etype = event.__struct_config__.tag  # type: ignore[union-attr]
    v["type"] = etype
    v["ts_us"] = ts_to_us(event.ts)
    v["hour"] = event.ts.hour
    amount = v.get("amount")
    if amount is not None and v.get("currency") is not None:
        v["amount_base"] = money.to_base(amount, v["currency"])
    if etype == "payment":
        v["is_outflow"] = True
    elif etype == "transfer":
        out = v["direction"] == "out"
        v["is_outflow"] = out
        # The other party: for money out, the recipient; for money in, the sender.
        v["counterparty"] = v["counterparty_id"] or (v["to_account"] if out else v["from_account"])
        v["recipient_account"] = v["to_account"] if out else None
    elif etype == "atm":
        v["is_outflow"] = v["operation"] == "withdrawal"
    elif etype == "message":
        v["suspicious_link"] = has_suspicious_link(v["text"])
    elif etype == "listing":
        v["suspicious_link"] = has_suspicious_link(v["text"])
    infra = v.get("infra_risk")
    if infra is not None:
        v["infra_level"] = infra.level
    return v
