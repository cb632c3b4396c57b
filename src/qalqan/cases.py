"""The review queue: cases opened by `review` and `hold` decisions, worked by analysts and merchants.

Cases are derived from the record, never decided on the hot path: the record files each `review`
and `hold` row in its case inbox as it commits it (one small insert), and ``sync`` opens one case
for each filed decision and empties the inbox, in its own transaction. The API calls it lazily
before every queue read, so answering an event costs nothing more than before. A case's deadline
(SLA) is a hold's ``confirm_by`` (its ``until`` when there is nothing to confirm); a review's is
the moment it was decided (the server's clock when live, the event's time in replay) plus the
deadline policy's seconds for its channel, merchant and organisation (deadlines.py:
``QALQAN_DEADLINES``; 15 minutes for a card payment, ``QALQAN_REVIEW_SLA`` — 4 h — otherwise).
A case no one decides by then is closed by the clock with the policy's default action
(case_deadlines.py), and a person's final decision is a notice in the outbox, written with it.

States: ``open`` → ``assigned`` (an analyst took it) → ``decided``. The outcome is ``fraud``,
``legitimate`` or ``contact_customer``; the last is an interim step: it keeps the case
``assigned`` (to whoever called) with the note, until a final outcome. A final outcome becomes a
``label`` event (docs/events.md: ``fraud`` / ``legit``) that goes through the engine like any event,
so it is in the record and in ``qalqan labels --export`` for training; the analyst may also put
the payment's counterparty, card or device on a list, as an ``intel`` event through the engine
(list_changes.py): the decision path sees it at once and a restart rebuilds the same lists.

Every call is scoped by the actor's organisation, and a merchant key sees only the cases whose
payment's ``merchant_id`` is its own: a case outside the actor's reach is ``CaseNotFound`` (HTTP
404), exactly as one that does not exist, so ids cannot be probed.

Python API (the HTTP handlers in api/cases.py and the console both call these)::

    from qalqan.cases import Actor, CasePolicy, sync, queue, get, detail, assign, decide, finish

    actor = Actor(id="key-id or user", role="analyst", org="default")   # merchant=... for merchants
    sync(engine.record)                       # open cases for decisions committed since last time
    queue(engine.record, actor, state="open", assignee=None, limit=100)   # -> list[Case]
    get(engine.record, actor, case_id)        # -> Case (raises CaseNotFound)
    detail(engine.record, actor, case_id)     # -> dict: case, event, decision, reasons, features, history
    assign(engine.record, actor, case_id, assignee="ana")  # -> Case (CaseConflict once decided)
    pending = decide(engine, actor, case_id, "fraud", note="called, not her", add_to=["card"],
                     list_name="internal", ts=None)       # label and list events buffered in the engine
    # … make the engine's buffered events durable (in the server: ``await committer.durable()``;
    # in a script: ``engine.commit()``), then:
    finish(engine.record, pending)            # -> Case, now decided (or still assigned: contact_customer)

Errors: ``CaseNotFound`` (404), ``CaseConflict`` (409: decided already, or a different outcome),
``CaseInputError(field, problem)`` (422). Every read and change is also written to the audit log by
the caller (audit.py) — the HTTP handlers do; a console must too.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import msgspec

from . import labels as labels_mod
from . import list_changes
from .audit import Actor
from .config import deadline_policy
from .deadlines import DeadlinePolicy
from .engine import Engine, Outcome
from .events import Decision, EventError, ts_to_us, us_to_rfc3339
from .privacy import redact_text
from .store.base import Row
from .store.workflow import Workflow

STATES = ("open", "assigned", "decided")
OUTCOMES = ("fraud", "legitimate", "contact_customer")
# What an analyst may put on a list from a case, and where each is found in the stored event.
LISTABLE = {"counterparty": (("account", "to_account"), ("customer", "counterparty_id")),
            "card": (("card", "card_id"),), "device": (("device", "device_id"),)}
_NO_MERCHANT = ""  # a merchant key tied to no merchant sees no case (merchant_id is never empty)


class CaseNotFound(LookupError):
    """No such case for this actor: absent, another organisation's, or another merchant's."""


class CaseConflict(RuntimeError):
    """The case has been decided already (with another outcome)."""


class CaseInputError(EventError):
    """Bad input to a case call; names the field (HTTP 422)."""


@dataclass(frozen=True)
class CasePolicy:
    # A review's deadline and default action by channel, merchant and organisation; a hold's
    # deadline is the hold's own.
    deadlines: DeadlinePolicy = field(default_factory=DeadlinePolicy.built_in)

    @classmethod
    def from_env(cls) -> CasePolicy:
        """QALQAN_DEADLINES and QALQAN_REVIEW_SLA (config.py; ConfigError names a bad one)."""
        return cls(deadline_policy())


class Case(msgspec.Struct):
    id: int
    event_id: str
    type: str
    action: str
    customer: str  # a token
    merchant_id: str | None
    amount: str | None
    currency: str | None
    opened_at: str  # the event's time
    due: str  # the SLA deadline, event time
    state: str
    assignee: str | None
    outcome: str | None
    note: str | None
    updated_at: str  # wall clock of the last change by a person
    updated_by: str | None
    seq: int


def _case(row: dict[str, Any]) -> Case:
    return Case(id=int(row["id"]), event_id=row["event_id"], type=row["type"], action=row["action"],
                customer=row["customer"], merchant_id=row["merchant_id"], amount=row["amount"],
                currency=row["currency"], opened_at=us_to_rfc3339(int(row["opened_us"])),
                due=us_to_rfc3339(int(row["due_us"])), state=row["state"], assignee=row["assignee"],
                outcome=row["outcome"], note=row["note"], updated_at=row["updated_at"],
                updated_by=row["updated_by"], seq=int(row["seq"]))


def case_of(row: dict[str, Any]) -> Case:
    """A case from the record's row (``Workflow.cases`` and friends)."""
    return _case(row)


def merchant_of(actor: Actor) -> str | None:
    """The merchant id a merchant-role actor is held to (None: any, for the organisation's people)."""
    return _merchant(actor)


def _rfc3339_us(text: str) -> int:
    return ts_to_us(datetime.fromisoformat(text.replace("Z", "+00:00")))


def _builder(policy: CasePolicy) -> Any:
    deadlines = policy.deadlines

    def build(row: Row) -> tuple[Any, ...] | None:
        if row.decision is None:
            return None
        decision = msgspec.json.decode(row.decision, type=Decision)
        body = msgspec.json.decode(row.body)
        # A live server's payment waits from the moment it was decided (its clock), whatever its ts.
        decided_us = row.ts_us if row.clock_us is None else row.clock_us
        merchant = body.get("merchant_id")
        after_s = deadlines.resolve(row.org, row.type, merchant if isinstance(merchant, str) else None).after_s
        due = decided_us + after_s * 1_000_000
        if decision.action == "hold" and decision.hold is not None:
            due = _rfc3339_us(decision.hold.confirm_by)
            if due <= row.ts_us:  # nothing to confirm (cooling-off): the hold's end
                due = _rfc3339_us(decision.hold.until)
        amount = body.get("amount")
        return (row.org, row.event_id, row.seq, row.type, row.customer, body.get("merchant_id"),
                None if amount is None else str(amount), body.get("currency"), decision.action, row.ts_us, due)

    return build


def sync(record: Workflow, policy: CasePolicy | None = None) -> int:
    """Opens a case for every `review` or `hold` committed since the last call; returns how many."""
    return record.open_cases(_builder(policy or CasePolicy()))


def _merchant(actor: Actor) -> str | None:
    if actor.role != "merchant":
        return None
    return actor.merchant or _NO_MERCHANT


def queue(record: Workflow, actor: Actor, state: str | None = None, assignee: str | None = None,
          limit: int = 100, after_id: int = 0) -> list[Case]:
    """The actor's cases, nearest deadline first."""
    if state is not None and state not in STATES:
        raise CaseInputError("state", f"expected one of {list(STATES)}, got {state!r}")
    if not 1 <= limit <= 1000:
        raise CaseInputError("limit", f"must be 1 to 1000, got {limit}")
    return [_case(r) for r in record.cases(actor.org, state, assignee, _merchant(actor), after_id, limit)]


def get(record: Workflow, actor: Actor, case_id: int) -> Case:
    row = record.case(actor.org, case_id, _merchant(actor))
    if row is None:
        raise CaseNotFound(f"no case {case_id}")
    return _case(row)


def detail(record: Workflow, actor: Actor, case_id: int, history: int = 20) -> dict[str, Any]:
    """Everything a person needs to decide: the case, the event (protected), its decision and
    reasons, its features if the decision recorded them, and the customer's latest events (for a
    merchant, its own payments only: never those at other merchants nor the customer's other events)."""
    case = get(record, actor, case_id)
    row = record.event_in(actor.org, case.event_id)
    if row is None:  # the case exists, so its event does; only a broken record lands here
        raise CaseNotFound(f"no event for case {case_id}")
    decision = msgspec.json.decode(row.decision) if row.decision else None
    recent = []
    for r in record.history(actor.org, case.customer, before_seq=case.seq, limit=history, merchant=_merchant(actor)):
        b = msgspec.json.decode(r.body)
        recent.append({"event_id": r.event_id, "type": r.type, "ts": us_to_rfc3339(r.ts_us), "action": r.action,
                       "amount": None if b.get("amount") is None else str(b["amount"]), "currency": b.get("currency"),
                       "merchant_id": b.get("merchant_id")})
    return {"case": msgspec.to_builtins(case), "event": msgspec.json.decode(row.body), "decision": decision,
            "reasons": (decision or {}).get("reasons", []), "features": (decision or {}).get("features"),
            "history": recent}


def assign(record: Workflow, actor: Actor, case_id: int, assignee: str) -> Case:
    """Gives an open or assigned case to ``assignee`` (re-assigning is allowed until decided)."""
    if not isinstance(assignee, str) or not assignee.strip() or len(assignee) > 200:
        raise CaseInputError("assignee", "expected a non-empty name (at most 200 characters)")
    case = get(record, actor, case_id)
    if case.state == "decided":
        raise CaseConflict(f"case {case_id} is decided already ({case.outcome})")
    if case.assignee == assignee:
        return case  # idempotent
    if not record.update_case(actor.org, case_id, ("open", "assigned"), actor.id, state="assigned",
                              assignee=assignee):
        raise CaseConflict(f"case {case_id} was decided meanwhile")
    return get(record, actor, case_id)


@dataclass
class Pending:
    """A decision whose events are buffered in the engine; ``finish`` it once they are durable."""

    actor: Actor
    case: Case
    outcome: str
    note: str
    events: list[Outcome] = field(default_factory=list)
    listed: list[str] = field(default_factory=list)  # "entity:token" put on the list
    done: bool = False  # decided before, the same way: nothing to change
    list_name: str = "internal"
    at_us: int = 0  # when it was decided (the server's clock): the outbox notice's time


def decide(engine: Engine, actor: Actor, case_id: int, outcome: str, note: str = "",
           add_to: Iterable[str] = (), list_name: str = "internal", ttl_s: float | None = None,
           ts: str | None = None) -> Pending:
    """The analyst's (or the merchant's) decision. ``fraud`` / ``legitimate`` become a label;
    ``add_to`` (counterparty, card, device) puts the event's own tokens on ``list_name`` (what
    the event lacks is skipped; ``Pending.listed`` says what went on). Nothing
    on the case changes until ``finish``; the events are idempotent, so a retry after a failed
    commit makes the same ones."""
    record: Workflow = engine.record  # type: ignore[assignment]
    if outcome not in OUTCOMES:
        raise CaseInputError("outcome", f"expected one of {list(OUTCOMES)}, got {outcome!r}")
    if not isinstance(note, str) or len(note) > 4000:
        raise CaseInputError("note", "expected text of at most 4000 characters")
    note = redact_text(note)  # a card or phone number read out on a call never reaches the record
    add_to = list(add_to)
    bad = [a for a in add_to if a not in LISTABLE]
    if bad:
        raise CaseInputError("add_to", f"{bad[0]!r}: expected some of {list(LISTABLE)}")
    if add_to and actor.role == "merchant":
        raise CaseInputError("add_to", "a merchant decides its payments; lists are the organisation's analysts'")
    if ttl_s is not None and (isinstance(ttl_s, bool) or not isinstance(ttl_s, int | float)
                              or not 0 < ttl_s <= list_changes.MAX_TTL_S):
        raise CaseInputError("ttl_s", f"must be seconds, above 0, at most {list_changes.MAX_TTL_S}; got {ttl_s!r}")
    list_changes.check_time("ts", ts)
    if list_name not in list_changes.LISTS:
        raise CaseInputError("list", f"unknown list {list_name!r}; expected one of {list(list_changes.LISTS)}")
    case = get(record, actor, case_id)
    if case.state == "decided":
        if case.outcome == outcome:
            return Pending(actor, case, outcome, note, done=True)
        raise CaseConflict(f"case {case_id} is decided already ({case.outcome})")
    row = record.event_in(actor.org, case.event_id)
    body = msgspec.json.decode(row.body) if row is not None else {}
    pending = Pending(actor, case, outcome, note, list_name=list_name, at_us=_rfc3339_us(ts or engine.now_ts()))
    for what in add_to:
        # What the event lacks (a transfer's card) is skipped: ``Pending.listed`` says what went on.
        for entity, token in [(entity, body[key]) for entity, key in LISTABLE[what] if body.get(key)]:
            pending.listed.append(f"{entity}:{token}")
            pending.events.append(list_changes.change(
                engine, actor, list_name, entity, token, "add", ts=ts, ttl_s=ttl_s, tokenised=True,
                event_id=f"case:{actor.org}:{case.id}:{list_name}:{entity}"))
    if outcome != "contact_customer":
        pending.events.append(labels_mod.add(engine, actor, case.event_id, outcome, source=f"case:{actor.role}",
                                             ts=ts, label_id=f"case:{actor.org}:{case.id}:label:{outcome}"))
    return pending


def finish(record: Workflow, pending: Pending) -> Case:
    """Records the decision on the case, once its label and list events are durable."""
    actor, case = pending.actor, pending.case
    if pending.done:
        return case
    if pending.outcome == "contact_customer":
        ok = record.update_case(actor.org, case.id, ("open", "assigned"), actor.id, state="assigned",
                                assignee=case.assignee or actor.id, outcome="contact_customer", note=pending.note)
    else:  # a final outcome: the integrator is told, in the same transaction (outbox, webhooks)
        notice = (pending.at_us, case.customer, case.event_id, f"case_{pending.outcome}",
                  decided_text(case, pending.outcome, f"{actor.role} {actor.id}"), actor.org)
        ok = record.update_case(actor.org, case.id, ("open", "assigned"), actor.id, state="decided",
                                assignee=case.assignee or actor.id, outcome=pending.outcome, note=pending.note,
                                notice=notice)
    now = get(record, actor, case.id)
    if not ok and now.outcome != pending.outcome:
        raise CaseConflict(f"case {case.id} was decided meanwhile ({now.outcome})")
    return now


# What a person's final outcome means for the payment, as the outbox (and the webhooks) say it.
_MEANS = {"fraud": "decline", "legitimate": "approve"}


def decided_text(case: Case, outcome: str, who: str) -> str:
    """The outbox notice's text for a case decided by ``who``: a review's payment is declined
    (fraud) or approved (legitimate); a held transfer still waits for the client's answer."""
    if case.action == "review":
        return f"case {case.id} decided {outcome} by the {who}: {_MEANS[outcome]} the payment"
    return f"case {case.id} decided {outcome} by the {who}: the hold stands until it is answered or expires"
