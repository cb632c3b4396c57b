"""List changes made by people (the API, the console, a case decision), as `intel` events.

An analyst's change is the same thing a regulator's record is: an `intel` event decided through
the engine. Its value is tokenised at the boundary exactly as an integrator's intel value is, the
decision path sees it from the next event on, the record keeps it in `list_entries` (scoped by
the organisation of the event) and a restart folds it back into the same lists. A value taken
from a stored event (a case's card, device or counterparty) is a token already and goes in as one.
"""

from __future__ import annotations

import csv
import io
import re
import uuid
from datetime import timedelta
from typing import Any, get_args

import msgspec

from .audit import Actor
from .engine import Engine, Outcome
from .events import EventError, Intel, event_from_dict, us_to_rfc3339
from .privacy import pii_kind

_TOKEN = re.compile(r"[0-9a-f]{24}")  # privacy.Tokenizer: BLAKE2b, 12 bytes, hex

_FIELDS = {f.name: f.type for f in msgspec.structs.fields(Intel)}
LISTS: tuple[str, ...] = get_args(_FIELDS["list"])  # the contract's lists (docs/events.md, intel)
ENTITIES: tuple[str, ...] = get_args(_FIELDS["entity"])
MAX_IMPORT = 100_000
MAX_TTL_S = 100 * 365 * 86400
# RFC 3339 as the contract means it (msgspec alone would also take a bare number of seconds).
RFC3339 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:\d\d)")
CSV_HEADER = re.compile(rb"(\xef\xbb\xbf)?entity,value(,(expires_at|ttl_s))*\r?\n")


class ListEntry(msgspec.Struct):
    list: str
    entity: str
    value: str  # the token: the record never holds the raw value
    expires_at: str | None
    seq: int


def check_time(name: str, text: Any) -> None:
    """RFC 3339 or nothing (None); EventError naming the field otherwise."""
    if text is not None and (not isinstance(text, str) or not RFC3339.fullmatch(text)):
        raise EventError(name, f"expected RFC 3339, e.g. 2026-02-02T10:00:00Z; got {text!r}")


def _event(actor: Actor, list_name: str, entity: str, value: Any, op: str, ts: str, ttl_s: Any,
           expires_at: str | None, event_id: str | None, where: str = "") -> Intel:
    """Validates one change into an intel event; errors name the field (``[3].value`` in a bulk)."""
    check_time(f"{where}ts", ts)
    check_time(f"{where}expires_at", expires_at)
    body: dict[str, Any] = {"type": "intel", "event_id": event_id or f"list:{uuid.uuid4().hex}",
                            "ts": ts, "customer_id": f"{actor.role}:{actor.id}",
                            "list": list_name, "entity": entity, "value": value, "op": op}
    if ttl_s is not None:
        if expires_at is not None:
            raise EventError(f"{where}ttl_s", "give ttl_s or expires_at, not both")
        if isinstance(ttl_s, bool) or not isinstance(ttl_s, int | float) or not 0 < ttl_s <= MAX_TTL_S:
            raise EventError(f"{where}ttl_s", f"must be seconds, above 0, at most {MAX_TTL_S}; got {ttl_s!r}")
    if expires_at is not None:
        body["expires_at"] = expires_at
    try:
        event = event_from_dict(body)
    except EventError as exc:
        raise EventError(f"{where}{exc.field}", exc.problem) from None
    assert isinstance(event, Intel)
    if ttl_s is not None:
        try:
            event.expires_at = event.ts + timedelta(seconds=float(ttl_s))
        except OverflowError:
            raise EventError(f"{where}ttl_s", "the expiry falls after the year 9999") from None
    return event


def decide_once(engine: Engine, event: Intel | Any, protected: bool, org: str) -> Outcome:
    """Decides a people's event whose id is chosen (a retry's key, a case's id) exactly once.

    The engine's in-memory idempotency is exact for retries near in event time; a person's retry
    may carry another time, so a chosen id is looked up in the record first (these calls are not
    on the hot path)."""
    if not event.event_id.startswith("list:") or len(event.event_id) != 37:  # not a fresh uuid
        known, _ = engine.record.lookup(event.event_id, org)
        if known or any(r.event_id == event.event_id and r.org == org for r in engine.record.buffered()):
            return Outcome(event.event_id, event.__struct_config__.tag, None, None, duplicate=True)
    return engine.decide_event(event, protected=protected, org=org)


def change(engine: Engine, actor: Actor, list_name: str, entity: str, value: Any, op: str = "add", *,
           ts: str | None = None, ttl_s: float | None = None, expires_at: str | None = None,
           event_id: str | None = None, tokenised: bool = False) -> Outcome:
    """Adds (``op="add"``) or removes one entry; buffered in the engine (durable at its next
    group commit). ``tokenised``: ``value`` is a token from the record, not a raw value — one
    that carries personal data (a card number typed where the token goes) is refused, never stored."""
    if tokenised and isinstance(value, str) and not _TOKEN.fullmatch(value) and (kind := pii_kind(value)):
        raise EventError("value", f"expected the entry's token as the list shows it, not {kind}")
    event = _event(actor, list_name, entity, value, op, engine.now_ts() if ts is None else ts, ttl_s, expires_at,
                   event_id)
    return decide_once(engine, event, tokenised, actor.org)


def parse_import(body: bytes, content_type: str) -> list[dict[str, Any]]:
    """A bulk import's items: a JSON array of {entity, value, [expires_at | ttl_s]} or CSV with a
    header naming those columns."""
    if "csv" in content_type:
        if not CSV_HEADER.match(body):
            raise EventError("$", "the CSV header must be entity,value (then expires_at or ttl_s), one line")
        try:
            reader = csv.DictReader(io.StringIO(body.decode("utf-8-sig")))
            items: list[dict[str, Any]] = []
            for row in reader:
                item: dict[str, Any] = {k.strip(): (v.strip() if isinstance(v, str) else v)
                                        for k, v in row.items() if k and v not in (None, "")}
                if "ttl_s" in item:
                    try:
                        item["ttl_s"] = float(item["ttl_s"])
                    except ValueError:
                        raise EventError(f"[{len(items)}].ttl_s", f"not a number: {item['ttl_s']!r}") from None
                items.append(item)
        except (UnicodeDecodeError, csv.Error) as exc:
            raise EventError("$", f"not CSV with a header (entity,value[,expires_at|ttl_s]): {exc}") from None
        if reader.fieldnames is None or not {"entity", "value"} <= {f.strip() for f in reader.fieldnames}:
            raise EventError("$", "the CSV header must name the columns entity and value")
        return items
    try:
        doc = msgspec.json.decode(body)
    except msgspec.DecodeError as exc:
        raise EventError("$", f"not valid JSON: {exc}") from None
    if isinstance(doc, dict):
        doc = doc.get("entries")
    if not isinstance(doc, list) or not all(isinstance(i, dict) for i in doc):
        raise EventError("$", "expected a JSON array of objects {entity, value} (or {\"entries\": [...]})")
    return doc


def import_entries(engine: Engine, actor: Actor, list_name: str, items: list[dict[str, Any]], *,
                   ts: str | None = None, ttl_s: float | None = None, key: str | None = None) -> list[Outcome]:
    """Adds every item, or none: each is validated first (the error names ``[i].field``), then
    decided in order. ``ttl_s`` applies to items that give no expiry of their own; ``key`` (an
    Idempotency-Key) makes a retried import the same events, answered as duplicates."""
    if len(items) > MAX_IMPORT:
        raise EventError("$", f"{len(items)} entries: at most {MAX_IMPORT} per import")
    check_time("ts", ts)
    if ttl_s is not None and not 0 < ttl_s <= MAX_TTL_S:
        raise EventError("ttl_s", f"must be seconds, above 0, at most {MAX_TTL_S}; got {ttl_s!r}")
    ts = engine.now_ts() if ts is None else ts
    events = []
    for i, item in enumerate(items):
        unknown = set(item) - {"entity", "value", "expires_at", "ttl_s"}
        if unknown:
            raise EventError(f"[{i}].{sorted(unknown)[0]}", "unknown field: expected entity, value, expires_at, ttl_s")
        own_ttl = item.get("ttl_s")
        expiry = item.get("expires_at")
        events.append(_event(actor, list_name, item.get("entity"), item.get("value"), "add", ts,
                             own_ttl if own_ttl is not None or expiry is not None else ttl_s, expiry,
                             f"list:{actor.org}:{key}:{i}" if key else None, where=f"[{i}]."))
    return [decide_once(engine, e, False, actor.org) for e in events]


def entries(engine: Engine, actor: Actor, list_name: str, entity: str | None = None, value: str | None = None,
            token: str | None = None, after_seq: int = 0, limit: int = 1000) -> list[ListEntry]:
    """The organisation's current entries of a list, by seq; ``value`` (raw) is tokenised to
    look it up, ``token`` is looked up as it is."""
    if list_name not in LISTS:
        raise EventError("list", f"unknown list {list_name!r}; expected one of {list(LISTS)}")
    if entity is not None and entity not in ENTITIES:
        raise EventError("entity", f"unknown entity {entity!r}; expected one of {list(ENTITIES)}")
    if value is not None:
        token = engine.tokenizers.of(actor.org).token(value)
    rows = engine.record.list_entries(actor.org, list_name, entity, token, after_seq, limit)
    return [ListEntry(r[0], r[1], r[2], None if r[4] is None else us_to_rfc3339(r[4]), r[5]) for r in rows]
