"""A payment whose worker is gone: the front answers its channel's fallback, the worker decides the
event when it is back, and the integrator is told.

A front publishes a money movement to its partition and waits for the worker's decision. If none
comes within ``QALQAN_DECIDE_BUDGET_MS`` (the worker is dead, restarting, or far behind), the front
answers the fallback of the event's channel (fallbacks.py: it has the event, so its type, rail,
direction and amount, converted to the base currency as the engine converts it), with
``fallback = {stage: "worker", cause: "no decision: …", action}``. The event itself is durable in
JetStream already (its publish was acknowledged), so nothing is lost: the worker decides it properly
when it is back, once, and a retry of the same event then gets that recorded decision (the stream
drops the copy; the front reads the record).

How the integrator learns the real decision — the design, and why it is correct:

1. Before it answers the fallback, the front appends a **marker** to the *same partition subject*,
   after the event: headers ``Qalqan-Fallback: <event id>`` (and the event's organisation), id
   ``f:<scoped id>`` (so two fronts, or retries, answering the fallback for one event within the
   stream's duplicate window leave one marker), body: the fallback decision and the customer's token.
   If the marker cannot be appended, the front answers 503 instead (the event is kept and decided;
   the retry gets the decision): no fallback is handed out that the record would not know of.
2. A partition's messages reach its worker in order, so the worker meets the marker *after* the
   event: the event is decided by then (in the same batch, or before). On the marker, the worker
   buffers an outbox notice ``decision.late`` — "answered X by the fallback; decided Y" — written in
   the same transaction as the batch, and acknowledges the marker only after it (a worker that dies
   in between gets the marker again; the outbox keeps one notice per (event, kind)).

Whatever the race between the budget running out and the worker's decision arriving, the front
answers either the worker's decision (no marker, no notice) or the fallback (a marker, hence a
notice): never both, never neither. No database write is added to the hot path, and a worker that
never misses a budget never sees a marker.
"""

from __future__ import annotations

import time
from decimal import Decimal

import msgspec

from ..events import Decision, Event, Fallback, Reason
from ..fallbacks import FallbackPolicy, channel_of
from ..features.view import Money

__all__ = ["FALLBACK_HEADER", "LATE_KIND", "Marker", "fallback_decision", "late_notice"]

# On a marker message of the events subject: the id of the event whose fallback a front answered.
FALLBACK_HEADER = "Qalqan-Fallback"
# The outbox notice a worker writes when it decides an event whose fallback was answered.
LATE_KIND = "decision.late"


class Marker(msgspec.Struct):
    """What a front answered for an event it could not wait for (the body of a marker message)."""

    event_id: str
    customer: str  # the organisation's token of the customer (the outbox row names it)
    ts_us: int  # the front's clock when it answered
    decision: Decision


def fallback_decision(event: Event, policy: FallbackPolicy, money: Money, cause: str, t0_ns: int) -> Decision:
    """The decision a front gives alone: the fallback of the event's channel, no rule, no model."""
    etype: str = event.__struct_config__.tag  # type: ignore[union-attr]
    channel = channel_of(etype, rail=getattr(event, "rail", None), direction=getattr(event, "direction", None),
                         operation=getattr(event, "operation", None), channel=getattr(event, "channel", None))
    amount: Decimal = event.amount  # type: ignore[union-attr]
    action = policy.rule(channel).action(money.to_base(amount, event.currency))  # type: ignore[union-attr]
    return Decision(
        event_id=event.event_id, action=action, score=0.0,  # type: ignore[arg-type]
        reasons=[Reason(code="fallback.worker", source="fallback", action=action,
                        text=f"worker {cause}; {channel} fallback: {action}")],
        versions={"fallbacks": policy.version}, fallback=Fallback("worker", cause, action),
        latency_ms=round((time.perf_counter_ns() - t0_ns) / 1e6, 4),
    )


def late_notice(marker: Marker, decided: tuple[bool, bytes | None]) -> str:
    """The text of the ``decision.late`` notice: what was answered, and what the worker decided."""
    given = marker.decision.action
    cause = marker.decision.fallback.cause if marker.decision.fallback else "no decision"
    head = f"answered {given} by the fallback ({cause})"
    decision_json = decided[1]
    if decision_json is None:  # the worker refused the event (its log says why): nothing was decided
        return f"{head}; the event was not decided: the worker refused it"
    d = msgspec.json.decode(decision_json, type=Decision)
    codes = ", ".join(r.code for r in d.reasons) or "no reasons"
    verdict = "the same action" if d.action == given else f"it differs: act on {d.action}"
    return f"{head}; decided {d.action} (score {d.score:g}; {codes}): {verdict}"
