"""What happens to a grey decision that no one decides in time: the deadline policy.

A `review` decision leaves the payment waiting for a person (an analyst, or the merchant deciding
its grey cards). A payment must not wait forever: the airline's contract gives the merchant 15–20
minutes, after which the processor acts on its own. So every `review` case has a deadline and a
default action (``approve`` or ``decline``), taken by the server's clock when the deadline passes
(case_deadlines.py) and told to the integrator (the outbox and the webhooks).

The policy comes from configuration: ``QALQAN_DEADLINES`` names a YAML file (read in config.py)::

    default:  {after_s: 14400, action: decline}     # anything not named below (QALQAN_REVIEW_SLA sets after_s)
    channels:                                        # by event type
      transfer: {after_s: 14400, action: decline}
      payment:  {after_s: 900,   action: decline}   # a merchant's grey card payment: 15 minutes
    merchants:                                       # by the payment's merchant_id
      M-AIR: {after_s: 1200, action: approve}
    orgs:                                            # an organisation's own contract: the same three keys
      bank1:
        merchants:
          M-AIR: {after_s: 900, action: decline}

The most specific entry wins: the organisation's merchant, then any organisation's merchant, then
the organisation's channel, the channel, the organisation's default, the default. A rule may give
only ``after_s`` or only ``action``; the rest comes from the next, less specific one. Built-in
defaults are conservative (fail closed): ``decline`` everywhere; 4 h for a transfer or an ATM
operation (an analyst's working time), 15 minutes for a card payment (a customer at a checkout).

A hold's case is not ruled here: its deadline and what happens at it are the law's (161-FZ art. 8,
holds.py); the case follows the hold.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

ACTIONS = ("approve", "decline")
REVIEW_SLA_S = 4 * 3600
MERCHANT_GREY_S = 15 * 60
_KEYS = ("default", "channels", "merchants", "orgs")


class DeadlineError(ValueError):
    """A bad deadlines document; ``where`` names the entry (``channels.payment.after_s``)."""

    def __init__(self, where: str, problem: str) -> None:
        super().__init__(f"{where}: {problem}")
        self.where, self.problem = where, problem


@dataclass(frozen=True)
class Rule:
    """Part of a deadline: after how many seconds, and what is done then (None: the next rule's)."""

    after_s: int | None = None
    action: str | None = None


@dataclass(frozen=True)
class Deadline:
    """The resolved deadline of one case, with the entry that set it (for the case note and audit)."""

    after_s: int
    action: str
    source: str  # e.g. "merchants.M-AIR", "channels.payment", "default"


@dataclass(frozen=True)
class Scope:
    default: Rule = field(default_factory=Rule)
    channels: Mapping[str, Rule] = field(default_factory=dict)
    merchants: Mapping[str, Rule] = field(default_factory=dict)


@dataclass(frozen=True)
class DeadlinePolicy:
    top: Scope = field(default_factory=Scope)
    orgs: Mapping[str, Scope] = field(default_factory=dict)

    @classmethod
    def built_in(cls, review_sla_s: int = REVIEW_SLA_S) -> DeadlinePolicy:
        """The conservative defaults: decline; a card payment after 15 minutes, the rest after
        ``review_sla_s`` (QALQAN_REVIEW_SLA, 4 h)."""
        return cls(Scope(Rule(review_sla_s, "decline"), {"payment": Rule(MERCHANT_GREY_S, "decline")}))

    def resolve(self, org: str, etype: str, merchant_id: str | None) -> Deadline:
        """The deadline of a `review` of an ``etype`` event (at ``merchant_id``) in ``org``."""
        own = self.orgs.get(org)
        chain: list[tuple[str, Rule | None]] = []
        if merchant_id is not None:
            if own is not None:
                chain.append((f"orgs.{org}.merchants.{merchant_id}", own.merchants.get(merchant_id)))
            chain.append((f"merchants.{merchant_id}", self.top.merchants.get(merchant_id)))
        if own is not None:
            chain.append((f"orgs.{org}.channels.{etype}", own.channels.get(etype)))
        chain.append((f"channels.{etype}", self.top.channels.get(etype)))
        if own is not None:
            chain.append((f"orgs.{org}.default", own.default))
        chain.append(("default", self.top.default))
        after: int | None = None
        action: str | None = None
        source = ""
        for name, rule in chain:
            if rule is None:
                continue
            if after is None and rule.after_s is not None:
                after = rule.after_s
                source = source or name
            if action is None and rule.action is not None:
                action = rule.action
                source = source or name
        return Deadline(after if after is not None else REVIEW_SLA_S, action or "decline", source or "default")


def parse(doc: Any, review_sla_s: int = REVIEW_SLA_S) -> DeadlinePolicy:
    """The policy of a deadlines document laid over the built-in one (``None``: the built-in).
    Raises ``DeadlineError`` naming the bad entry."""
    base = DeadlinePolicy.built_in(review_sla_s)
    if doc is None:
        return base
    if not isinstance(doc, dict):
        raise DeadlineError("$", f"expected a mapping with some of {list(_KEYS)}")
    top = _scope(doc, "", base.top)
    orgs_doc = doc.get("orgs") or {}
    if not isinstance(orgs_doc, dict):
        raise DeadlineError("orgs", "expected a mapping of organisation → {default, channels, merchants}")
    orgs = {}
    for org, sub in orgs_doc.items():
        if not isinstance(sub, dict):
            raise DeadlineError(f"orgs.{org}", "expected a mapping with some of default, channels, merchants")
        if "orgs" in sub:
            raise DeadlineError(f"orgs.{org}.orgs", "organisations do not nest")
        orgs[str(org)] = _scope(sub, f"orgs.{org}.", Scope())
    return DeadlinePolicy(top, orgs)


def _scope(doc: dict[str, Any], at: str, base: Scope) -> Scope:
    unknown = [k for k in doc if k not in _KEYS]
    if unknown:
        raise DeadlineError(f"{at}{unknown[0]}", f"unknown key; expected some of {list(_KEYS)}")
    default = _rule(doc["default"], f"{at}default") if "default" in doc else base.default
    channels = dict(base.channels)
    channels.update(_rules(doc.get("channels"), f"{at}channels"))
    merchants = dict(base.merchants)
    merchants.update(_rules(doc.get("merchants"), f"{at}merchants"))
    return Scope(default, channels, merchants)


def _rules(doc: Any, at: str) -> dict[str, Rule]:
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise DeadlineError(at, "expected a mapping of name → {after_s, action}")
    return {str(name): _rule(value, f"{at}.{name}") for name, value in doc.items()}


def _rule(doc: Any, at: str) -> Rule:
    if not isinstance(doc, dict) or not doc:
        raise DeadlineError(at, "expected {after_s: seconds, action: approve|decline}")
    unknown = [k for k in doc if k not in ("after_s", "action")]
    if unknown:
        raise DeadlineError(f"{at}.{unknown[0]}", "unknown key; expected after_s, action")
    after = doc.get("after_s")
    if after is not None and (isinstance(after, bool) or not isinstance(after, int) or after <= 0):
        raise DeadlineError(f"{at}.after_s", f"expected a positive whole number of seconds, got {after!r}")
    action = doc.get("action")
    if action is not None and action not in ACTIONS:
        raise DeadlineError(f"{at}.action", f"expected one of {list(ACTIONS)}, got {action!r}")
    return Rule(after, action)
