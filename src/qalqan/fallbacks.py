"""Fallbacks per channel: what a decision takes when one of its stages cannot do its part.

A stage (the model, the worker that owns the event's partition) can be late or down. qalqan never
turns that into the merchant's outage (no decision, a 5xx), and never into a silent approval of
everything either: each channel has a configured *fallback* — fail open (``approve`` up to an
amount, a stricter action above it) or fail closed (``review``, ``decline``). The decision combines
it with what the remaining stages said by "the strictest action wins" (policy.SEVERITY), so a
rule's ``decline`` is never weakened by a fail-open ``approve``; it records the fallback
(``Decision.fallback``: stage, cause, action) and the metrics count it by stage and cause.

Channels (``channel_of``) follow the risk of the money movement, not its wire format:

- ``card_payment`` — a card payment to a merchant (ecom, POS, biometric);
- ``transfer`` — money out by any rail but SBP (internal, interbank, card2card, cross-border, crypto);
- ``sbp`` — money out by the Faster Payments System (instant, irrevocable: the scammers' rail);
- ``transfer_in`` — money in;
- ``atm_withdrawal`` — cash out at an ATM, including a withdrawal by QR code (a ``payment`` with
  ``channel: atm_qr``); ``atm_deposit`` — cash in.

Amounts are compared as the rules compare them: ``amount_base``, integer minor units of the base
currency (features/view.py, ``Money``). The file (``QALQAN_FALLBACKS``) writes them as decimals in
the base currency (``5000`` is 5,000.00 RUB). The defaults and why: docs/operations.md, "Budgets and
fallbacks".
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from .policy import SEVERITY

__all__ = ["CHANNELS", "FallbackError", "FallbackPolicy", "Rule", "channel_of", "stricter"]

CHANNELS = ("card_payment", "transfer", "sbp", "transfer_in", "atm_withdrawal", "atm_deposit")
# A fallback cannot suspend a transfer: a hold is the client's confirmation flow of 161-FZ art. 8, with
# terms the hold book keeps; a front with no worker has no hold book.
FALLBACK_ACTIONS = ("approve", "challenge", "review", "decline")
_HUNDRED = Decimal(100)


class FallbackError(ValueError):
    """A bad fallback policy: the message names the channel and key (config.py adds the setting)."""


@dataclass(frozen=True, slots=True)
class Rule:
    """One channel's fallback: ``approve`` up to ``approve_up_to`` (minor units of the base currency,
    inclusive), ``above`` past it; ``approve_up_to`` None: always ``above`` (fail closed, or fail open
    without a limit when ``above`` is ``approve``)."""

    above: str
    approve_up_to: int | None = None

    def action(self, amount_base: int | None) -> str:
        """An unknown amount (no exchange rate) is taken as above the limit."""
        if self.approve_up_to is not None and amount_base is not None and amount_base <= self.approve_up_to:
            return "approve"
        return self.above

    def describe(self) -> str:
        if self.approve_up_to is None:
            return self.above
        return f"approve up to {Decimal(self.approve_up_to) / _HUNDRED:f}, else {self.above}"


# Conservative defaults (minor units of RUB); why each: docs/operations.md.
DEFAULTS: dict[str, Rule] = {
    "card_payment": Rule("review", 5_000_00),
    "transfer": Rule("review"),
    "sbp": Rule("review"),
    "transfer_in": Rule("review", 1_000_000_00),
    "atm_withdrawal": Rule("decline", 5_000_00),
    "atm_deposit": Rule("decline", 15_000_00),
}


def channel_of(etype: str, *, rail: str | None = None, direction: str | None = None,
               operation: str | None = None, channel: str | None = None) -> str:
    """The fallback channel of a money movement from its contract fields (events.py)."""
    if etype == "payment":
        return "atm_withdrawal" if channel == "atm_qr" else "card_payment"
    if etype == "transfer":
        if direction == "in":
            return "transfer_in"
        return "sbp" if rail == "sbp" else "transfer"
    if etype == "atm":
        return "atm_deposit" if operation == "deposit" else "atm_withdrawal"
    raise FallbackError(f"{etype!r} is not a money movement: it has no fallback")


def stricter(a: str, b: str) -> str:
    """The stricter of two actions (policy.SEVERITY): a fallback never weakens what a stage said."""
    return a if SEVERITY[a] >= SEVERITY[b] else b


class FallbackPolicy:
    """The fallback of every channel; ``version`` names it on the decisions a front makes alone."""

    def __init__(self, rules: dict[str, Rule] | None = None) -> None:
        self.rules = {**DEFAULTS, **(rules or {})}
        text = ";".join(f"{c}={r.describe()}" for c, r in sorted(self.rules.items()))
        self.version = hashlib.blake2b(text.encode(), digest_size=6).hexdigest()

    @classmethod
    def defaults(cls) -> FallbackPolicy:
        return cls()

    def rule(self, channel: str) -> Rule:
        return self.rules[channel]

    def action_for(self, v: Any) -> tuple[str, str]:
        """(channel, action) for an event view (features/view.py: ``type``, ``amount_base``, …)."""
        channel = channel_of(v["type"], rail=v.get("rail"), direction=v.get("direction"),
                             operation=v.get("operation"), channel=v.get("channel"))
        return channel, self.rules[channel].action(v.get("amount_base"))

    def describe(self) -> dict[str, str]:
        return {c: r.describe() for c, r in self.rules.items()}

    @classmethod
    def from_file(cls, path: Path, base_currency: str = "RUB") -> FallbackPolicy:
        """Reads a YAML file of ``channel: {action: review}`` (fail closed) or ``channel:
        {approve_up_to: 5000, above: review}`` (fail open up to an amount in the base currency).
        Channels it does not name keep their defaults. Raises ``FallbackError`` naming the bad key."""
        import yaml

        try:
            doc = yaml.safe_load(path.read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise FallbackError(f"cannot read {path}: {exc}") from None
        return cls.from_dict(doc, base_currency)

    @classmethod
    def from_dict(cls, doc: Any, base_currency: str = "RUB") -> FallbackPolicy:
        if not isinstance(doc, dict):
            raise FallbackError(f"must map channels ({', '.join(CHANNELS)}) to their fallbacks")
        return cls({str(channel): _rule(str(channel), spec, base_currency) for channel, spec in doc.items()})


def _rule(channel: str, spec: Any, currency: str) -> Rule:
    if channel not in CHANNELS:
        raise FallbackError(f"{channel}: no such channel (known: {', '.join(CHANNELS)})")
    if not isinstance(spec, dict):
        raise FallbackError(f"{channel}: expected {{action: review}} or {{approve_up_to: 5000, above: review}}")
    unknown = set(spec) - {"action", "approve_up_to", "above"}
    if unknown:
        raise FallbackError(f"{channel}.{sorted(unknown)[0]}: unknown key (known: action, approve_up_to, above)")
    if "action" in spec:
        if set(spec) != {"action"}:
            raise FallbackError(f"{channel}.action: give either action (fail closed) or approve_up_to and above "
                                "(fail open up to an amount), not both")
        return Rule(_action(f"{channel}.action", spec["action"]))
    if "approve_up_to" not in spec or "above" not in spec:
        missing = "above" if "approve_up_to" in spec else "approve_up_to"
        raise FallbackError(f"{channel}.{missing}: missing (fail open needs approve_up_to and above)")
    try:
        limit = Decimal(str(spec["approve_up_to"]))
    except InvalidOperation:
        raise FallbackError(f"{channel}.approve_up_to: expected an amount in {currency}, "
                            f"got {spec['approve_up_to']!r}") from None
    if isinstance(spec["approve_up_to"], bool) or not limit.is_finite() or limit < 0:
        raise FallbackError(f"{channel}.approve_up_to: expected an amount of {currency} ≥ 0, "
                            f"got {spec['approve_up_to']!r}")
    return Rule(_action(f"{channel}.above", spec["above"]), int((limit * _HUNDRED).to_integral_value()))


def _action(key: str, value: Any) -> str:
    if value not in FALLBACK_ACTIONS:
        raise FallbackError(f"{key}: expected one of {', '.join(FALLBACK_ACTIONS)}, got {value!r}")
    return str(value)
