"""Labels: what a movement turned out to be, as `label` events (docs/events.md) through the engine.

A label from the API or from a case decision is recorded like an integrator's label event, so
training finds it where it always looks: ``qalqan train`` reads label events from a JSONL stream,
and ``export_jsonl`` writes the record's labels as such a stream (append it to the events file).
The last label of a movement wins (train.py); ``legitimate`` is the contract's ``legit``.
"""

from __future__ import annotations

from typing import IO, Any

import msgspec

from .audit import Actor
from .engine import Engine, Outcome
from .events import EventError, Label, event_from_dict
from .list_changes import check_time, decide_once
from .privacy import redact
from .store.base import DEFAULT_ORG, Row

# API words → the contract's words.
LABELS = {"fraud": "fraud", "legitimate": "legit", "legit": "legit", "chargeback": "chargeback"}


def _target(engine: Engine, org: str, event_id: str) -> Row | None:
    for row in engine.record.buffered():  # decided a moment ago, not yet durable
        if row.event_id == event_id:
            return row if row.org == org else None
    return engine.record.event_in(org, event_id)  # type: ignore[attr-defined,no-any-return]


def add(engine: Engine, actor: Actor, event_id: str, label: str, source: str | None = None, ts: str | None = None,
        label_id: str | None = None) -> Outcome:
    """Labels the organisation's movement ``event_id``; buffered in the engine (durable at its
    next group commit). Raises ``EventError`` naming the field; ``event_id`` unknown to this
    organisation is ``EventError("event_id", "no event …")``, exactly as one that does not exist."""
    if label not in LABELS:
        raise EventError("label", f"expected one of {sorted(LABELS)}, got {label!r}")
    word = LABELS[label]
    check_time("ts", ts)
    if source is not None and not 0 < len(source) <= 40:
        raise EventError("source", "expected 1 to 40 characters")
    target = _target(engine, actor.org, event_id) if isinstance(event_id, str) else None
    if target is None:
        raise EventError("event_id", f"no event {event_id!r}")
    if target.action is None:
        raise EventError("event_id", f"no money movement {event_id!r} (a context event is not labelled)")
    # A person's free text: the label is decided as protected (its customer is a token already), so
    # nothing downstream redacts it; a card number typed into it must not reach the record, in the
    # source nor in the label's id built from it (found by tests/stream/test_front_fuzz.py).
    source = redact(source) if source else actor.role
    when = ts if ts is not None else engine.now_ts()
    body = {"type": "label", "event_id": label_id or f"label:{event_id}:{word}:{source}", "ts": when,
            "customer_id": target.customer,
            "target_event_id": event_id, "label": word, "source": source}
    event = event_from_dict(body)
    # The customer is the movement's, a token already: the label is not tokenised again.
    return decide_once(engine, event, True, actor.org)


def of(engine: Engine, org: str, after_seq: int = 0, limit: int = 1000) -> list[dict[str, Any]]:
    """The organisation's labels in record order: {seq, event_id, label, source, ts, label_id}."""
    out = []
    for row in engine.record.events_of_type(org, "label", after_seq, limit):  # type: ignore[attr-defined]
        ev = msgspec.json.decode(row.body, type=Label)
        out.append({"seq": row.seq, "event_id": ev.target_event_id, "label": ev.label, "source": ev.source,
                    "ts": ev.ts.isoformat().replace("+00:00", "Z"), "label_id": ev.event_id})
    return out


def export_jsonl(engine: Engine, out: IO[bytes], org: str = DEFAULT_ORG) -> int:
    """Writes the organisation's label events as JSONL (the contract's shape), for training."""
    n, after = 0, 0
    while rows := engine.record.events_of_type(org, "label", after, 5000):  # type: ignore[attr-defined]
        for row in rows:
            out.write(row.body + b"\n")
            n += 1
        after = rows[-1].seq
    return n
