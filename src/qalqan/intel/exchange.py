"""Export this deployment's indicators as a signed feed; import members' feeds into the
``consortium`` list (docs/intel.md).

Export reads the record only: a movement whose last label is ``fraud`` gives its recipient (a
transfer's account or IBAN, its counterparty's phone) or its card (a payment, a withdrawal); an
``internal`` deny-list entry gives its value. Each is taken as the consortium's token that privacy.py
put on the protected event when it was decided (``extra.qalqan_cx``): the raw value is not in the
record, so it cannot be in the feed. A movement labelled fraud and later ``legit`` (a false
positive), an ``internal`` entry removed, or a value named with ``--withdraw`` is a withdrawal.

Import takes a verified feed (feed.read) entry by entry as ``intel`` events on the ``consortium``
list, keyed by the consortium's token, through the engine (so a restart folds them back, and the
record keeps who listed what: the event's ``customer_id`` is ``consortium:MEMBER``). A member
withdraws only what it listed itself: a withdrawal of another member's entry is ignored, and an
entry two members listed stays until both withdraw it. A feed older than one already imported from
the same member is refused (an old feed replayed must not undo a withdrawal).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec

from ..engine import Engine
from ..events import Intel, decode_event, event_from_dict, us_to_rfc3339
from ..list_changes import decide_once
from ..privacy import CX_FIELD, CX_KINDS
from ..store.base import DEFAULT_ORG, Row
from . import feed as feeds

DEFAULT_TTL_S = 180 * 86_400
# How sure each source is (docs/intel.md): a confirmed fraud label; the bank's own deny list.
CONFIDENCE = {"fraud_label": 0.9, "deny_list": 0.8}
# From a movement labelled fraud: the recipient, or the card (a victim's device is no indicator).
_LABELLED = {"to_account", "counterparty_id", "card_id"}
MEMBER_PREFIX = "consortium:"


def _rows(engine: Engine, org: str, etype: str) -> Iterator[Row]:
    after = 0
    while rows := engine.record.events_of_type(org, etype, after, 5000):  # type: ignore[attr-defined]
        yield from rows
        after = rows[-1].seq


def _cx(body: bytes) -> list[list[str]]:
    extra = msgspec.json.decode(body).get("extra") or {}
    cx = extra.get(CX_FIELD)
    return cx if isinstance(cx, list) else []


def export(engine: Engine, member: feeds.Member, since: str | None = None, ttl_s: int = DEFAULT_TTL_S,
           withdraw: list[tuple[str, str]] = (), org: str = DEFAULT_ORG) -> tuple[dict[str, Any], dict[str, int]]:
    """A signed feed of the indicators whose last change is at or after ``since`` (RFC 3339; None:
    all), and ``withdraw`` ((kind, raw value): tokenised here, in memory, never written). Returns
    (feed, counts)."""
    entries, counts = indicators(engine, since, ttl_s, withdraw, org)
    return sign(member, entries, since, _feed_id(member)), counts


def etag(member: feeds.Member, entries: list[dict[str, Any]], since: str | None) -> str:
    """What a pull's ETag is: the entries, the member's key and ``since`` (not the time of signing)."""
    import hashlib

    return hashlib.sha256(feeds.canonical({"key": member.public, "since": since, "entries": entries})).hexdigest()[:32]


def sign(member: feeds.Member, entries: list[dict[str, Any]], since: str | None, feed_id: str) -> dict[str, Any]:
    body = {"format": feeds.FORMAT, "feed_id": feed_id, "member": member.name, "key": member.public,
            "issued_at": _issued_at(), "since": since, "entries": entries}
    return member.sign(body)


def indicators(engine: Engine, since: str | None = None, ttl_s: int = DEFAULT_TTL_S,
               withdraw: list[tuple[str, str]] = (),
               org: str = DEFAULT_ORG) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """The entries of a feed (see ``export``), and counts of what they came from."""
    cx_tok = engine.tokenizers.of(org).consortium
    if cx_tok is None:
        raise feeds.FeedError("QALQAN_CONSORTIUM_KEY is not set: this deployment has no consortium tokens to export")
    since_us = to_us(since) if since else None
    facts: list[tuple[int, str, str, str, str]] = []  # (ts_us, op, kind, token, reason)
    counts = {"labels": 0, "list_entries": 0, "without_token": 0}
    # fraud labels: the last label of a movement wins
    last: dict[str, tuple[int, str]] = {}
    was_fraud: set[str] = set()
    for row in _rows(engine, org, "label"):
        ev = msgspec.json.decode(row.body)
        last[ev["target_event_id"]] = (row.ts_us, ev["label"])
        if ev["label"] == "fraud":
            was_fraud.add(ev["target_event_id"])
    for target in was_fraud:
        ts_us, label = last[target]
        body = engine.record.event_body(target, org)
        cx = [c for c in _cx(body) if c[0] in _LABELLED] if body else []
        if not cx:
            counts["without_token"] += 1
            continue
        counts["labels"] += 1
        op = "add" if label == "fraud" else "withdraw"
        facts += [(ts_us, op, kind, token, "fraud_label") for _, kind, token in cx]
    # the bank's own deny list
    for row in _rows(engine, org, "intel"):
        ev = msgspec.json.decode(row.body)
        if ev.get("list") != "internal":
            continue
        cx = _cx(row.body)
        if not cx:
            counts["without_token"] += 1
            continue
        counts["list_entries"] += 1
        facts += [(row.ts_us, "add" if ev["op"] == "add" else "withdraw", kind, token, "deny_list")
                  for _, kind, token in cx]
    # named withdrawals come last, whatever ``since`` says: they are this export's point
    now_us = max(engine.seen.watermark, int(datetime.now(UTC).timestamp() * 1_000_000))
    named = []
    for kind, value in withdraw:
        if kind not in CX_KINDS:
            raise feeds.FeedError(f"--withdraw {kind}:…: kind must be one of {list(CX_KINDS)}")
        named.append((now_us, "withdraw", kind, cx_tok.token(value), "withdrawn"))
    by: dict[tuple[str, str], dict[str, Any]] = {}
    for ts_us, op, kind, token, reason in [*sorted(facts), *named]:
        e = by.setdefault((kind, token), {"op": op, "kind": kind, "token": token, "first": ts_us, "last": ts_us,
                                          "reason": reason})
        e["last"], e["op"], e["named"] = ts_us, op, reason == "withdrawn"
        if op == "add":
            e["reason"] = reason
    entries = []
    for e in by.values():
        if since_us is not None and e["last"] < since_us and not e["named"]:
            continue
        out: dict[str, Any] = {"op": e["op"], "kind": e["kind"], "token": e["token"]}
        if e["op"] == "add":
            out.update(reason=e["reason"], confidence=CONFIDENCE.get(e["reason"], 0.8),
                       first_seen=us_to_rfc3339(e["first"]), last_seen=us_to_rfc3339(e["last"]), ttl_s=ttl_s)
        else:
            out["withdrawn_at"] = us_to_rfc3339(e["last"])
        entries.append(out)
    entries.sort(key=lambda x: (x["kind"], x["token"]))
    counts["entries"] = len(entries)
    return entries, counts


def _feed_id(member: feeds.Member) -> str:
    import uuid

    return f"{member.name}-{uuid.uuid4().hex}"


def _issued_at() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def to_us(text: str) -> int:
    """RFC 3339 as µs since the epoch; EventError (not the pattern) or ValueError (no such date)."""
    from ..list_changes import check_time

    check_time("since", text)
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1_000_000)


def _members(engine: Engine, org: str) -> dict[tuple[str, str], dict[str, int | None]]:
    """Who lists what on the consortium list, from the record: {(entity, token): {member: expires_us}}."""
    out: dict[tuple[str, str], dict[str, int | None]] = {}
    for row in [*_rows(engine, org, "intel"), *(r for r in engine.record.buffered() if r.type == "intel")]:
        ev = decode_event(row.body)
        assert isinstance(ev, Intel)
        if ev.list != "consortium" or not ev.customer_id.startswith(MEMBER_PREFIX):
            continue
        who = ev.customer_id[len(MEMBER_PREFIX):]
        listed = out.setdefault((ev.entity, ev.value), {})
        if ev.op == "add":
            listed[who] = None if ev.expires_at is None else int(ev.expires_at.timestamp() * 1_000_000)
        else:
            listed.pop(who, None)
    return out


def import_feed(engine: Engine, home: Path, data: bytes, source: str, org: str = DEFAULT_ORG) -> dict[str, Any]:
    """Verifies and applies a feed; returns (and logs in imports.jsonl) its provenance and counts.
    ``FeedError`` (nothing applied) for an unknown or revoked signer, a broken signature, a bad entry
    or a feed older than one already imported from its member."""
    v = feeds.read(home, data)
    f = v.feed
    for past in feeds.imports(home):
        if past.get("member") != v.member:
            continue
        if past.get("feed_id") == f["feed_id"]:
            return {**past, "again": True}
        if past.get("issued_at", "") > f["issued_at"]:
            raise feeds.FeedError(f"feed {f['feed_id']} of {v.member!r} was issued at {f['issued_at']}, before "
                                  f"{past['feed_id']} ({past['issued_at']}) already imported: refused (an old "
                                  "feed must not undo a newer withdrawal)")
    listed = _members(engine, org)
    who = MEMBER_PREFIX + v.member
    ts = engine.now_ts()
    added = withdrawn = ignored = 0
    for i, e in enumerate(f["entries"]):
        entity = "account" if e["kind"] == "iban" else e["kind"]
        members = listed.setdefault((entity, e["token"]), {})
        eid = f"cx:{f['feed_id'][-32:]}:{i}"
        if e["op"] == "add":
            exp = to_us(e["last_seen"]) + e["ttl_s"] * 1_000_000
            members[v.member] = exp
            longest = None if any(x is None for x in members.values()) else max(members.values())  # type: ignore[type-var]
            _decide(engine, eid, ts, who, entity, e["token"], "add", longest, org)
            added += 1
        elif v.member in members:
            _withdraw(engine, members, v.member, entity, e["token"], eid, ts, org)
            withdrawn += 1
        else:
            ignored += 1  # a member withdraws only what it listed itself
    engine.commit()
    record = {"feed_id": f["feed_id"], "member": v.member, "key": v.key, "issued_at": f["issued_at"],
              "imported_at": feeds.now_rfc3339(), "sha256": v.sha256, "source": source,
              "added": added, "withdrawn": withdrawn, "ignored": ignored}
    feeds.log_import(home, record)
    return record


def _withdraw(engine: Engine, members: dict[str, int | None], member: str, entity: str, token: str, eid: str,
              ts: str, org: str) -> None:
    """``member``'s listing of the token ends; another member's keeps the entry, with its longest expiry."""
    del members[member]
    _decide(engine, eid, ts, MEMBER_PREFIX + member, entity, token, "remove", None, org)
    if members:
        other = sorted(members)[0]
        longest = None if any(x is None for x in members.values()) else max(members.values())  # type: ignore[type-var]
        _decide(engine, eid + ":kept", ts, MEMBER_PREFIX + other, entity, token, "add", longest, org)


def delist_member(engine: Engine, member: str, org: str = DEFAULT_ORG) -> int:
    """Ends every listing of ``member`` (a revoked member): what only it listed leaves the
    consortium list; what others listed too stays. Returns how many listings ended."""
    import uuid

    listed = _members(engine, org)
    ts, run, n = engine.now_ts(), uuid.uuid4().hex, 0
    for (entity, token), members in sorted(listed.items()):
        if member in members:
            _withdraw(engine, members, member, entity, token, f"cx:delist:{run}:{n}", ts, org)
            n += 1
    engine.commit()
    return n


def _decide(engine: Engine, eid: str, ts: str, who: str, entity: str, token: str, op: str,
            expires_us: int | None, org: str) -> None:
    body: dict[str, Any] = {"type": "intel", "event_id": eid, "ts": ts, "customer_id": who,
                            "list": "consortium", "entity": entity, "value": token, "op": op}
    if expires_us is not None:
        body["expires_at"] = us_to_rfc3339(min(expires_us, 4102444799 * 1_000_000))
    event = event_from_dict(body)
    # the value is the consortium's token already: it is not tokenised again
    decide_once(engine, event, True, org)
