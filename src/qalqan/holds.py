"""Suspended transfers and what becomes of them (161-FZ art. 8; the Kazakh 5-working-day block).

A hold starts with a decision `hold`. Under art. 8 the client is notified at once and may confirm
no later than the end of the next day (a `hold_response` event, or repeating the same order);
without confirmation the order is not executed. If, once confirmed, the recipient is in the
Bank of Russia's FinCERT database, a second 2-day cooling-off starts, then the order executes.
A client who named a trusted person ("вторая рука") has that person confirm within 12 hours;
without an answer the order is declined. A Kazakh block lasts up to 5 working days and then
releases the order unless someone rejects it; its working days are Kazakhstan's, holidays included
(jurisdiction.py). Which of the two a hold is follows the client's jurisdiction (engine.py).

Every deadline runs on event time: the book advances to each event's timestamp before the event
is decided, so replaying a stream gives the same holds, bit for bit. Each change emits a notice
for the outbox (the API and the console read it).
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec

from .events import Event, Hold, HoldResponse, decode_event
from .events import scoped_id as hold_key  # an event id is unique within its organisation only
from .jurisdiction import calendar

HOUR_US = 3_600_000_000
DAY_US = 24 * HOUR_US
OPEN = ("pending", "asked_trusted", "cooling_off")


@dataclass(frozen=True)
class HoldPolicy:
    suspend_days: int = 2          # art. 8: suspended for 2 days
    confirm_days: int = 1          # confirm no later than the end of the day after the suspension
    cooling_off_days: int = 2      # a database hit after confirmation: 2 more days
    trusted_hours: int = 12        # the trusted person's time to answer
    kz_working_days: int = 5       # the Anti-Fraud Center block


class HoldState(msgspec.Struct):
    event_id: str
    customer: str
    kind: str                      # art8 | kz
    status: str                    # pending | asked_trusted | cooling_off | released | rejected
    created_us: int
    until_us: int
    confirm_by_us: int
    to_account: str | None = None
    amount: str | None = None      # the order's details, to recognise a repeat
    history: list[tuple[int, str]] = []
    org: str = "default"           # whose hold: only that organisation may answer it


class Notice(msgspec.Struct):
    """One message for the outbox: what happened to which hold, when (event time)."""

    ts_us: int
    customer: str
    event_id: str
    kind: str
    text: str
    org: str = "default"

    def row(self) -> tuple[int, str, str, str, str, str]:
        return self.ts_us, self.customer, self.event_id, self.kind, self.text, self.org



def _fmt(us: int) -> str:
    return datetime.fromtimestamp(us / 1e6, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _end_of_day_after(us: int, days: int) -> int:
    dt = datetime.fromtimestamp(us // 1_000_000, tz=UTC)
    end = datetime(dt.year, dt.month, dt.day, 23, 59, 59, tzinfo=UTC) + timedelta(days=days)
    return int(end.timestamp()) * 1_000_000


def _working_days_after(us: int, days: int) -> int:
    """The Kazakh block's end: ``days`` working days on Kazakhstan's calendar (weekends and the
    public holidays of ``rules/calendars/kz.yaml``, counted on local dates), same time of day."""
    return calendar("KZ").add_working_days(us, days)


class HoldBook:
    def __init__(self, policy: HoldPolicy | None = None) -> None:
        self.policy = policy or HoldPolicy()
        self.holds: dict[str, HoldState] = {}
        self._deadlines: list[tuple[int, str]] = []
        self._by_order: dict[tuple[str, str | None, str | None], str] = {}
        self.changes = 0  # counts changes: a copy kept elsewhere (state/redis.py) is rewritten only after one

    # --- starting -----------------------------------------------------------------------------
    def terms(self, ts_us: int, kind: str, trusted: bool) -> tuple[int, int]:
        """(until, confirm_by) of a hold starting now."""
        p = self.policy
        if kind == "kz":
            until = _working_days_after(ts_us, p.kz_working_days)
            return until, until
        until = ts_us + p.suspend_days * DAY_US
        if trusted:
            return until, ts_us + p.trusted_hours * HOUR_US
        return until, _end_of_day_after(ts_us, p.confirm_days)

    def hold_of(self, ts_us: int, kind: str, trusted: bool) -> Hold:
        until, confirm_by = self.terms(ts_us, kind, trusted)
        return Hold(until=_fmt(until), confirm_by=_fmt(confirm_by),
                    kind="kz_block" if kind == "kz" else ("161fz_art8_trusted" if trusted else "161fz_art8"))

    def cooling_hold(self, ts_us: int) -> Hold:
        until = ts_us + self.policy.cooling_off_days * DAY_US
        return Hold(until=_fmt(until), confirm_by=_fmt(ts_us), kind="161fz_art8_cooling_off")

    def of(self, event_id: str, org: str) -> HoldState | None:
        """The hold on ``event_id`` if it is organisation ``org``'s: another's is as absent as none."""
        h = self.holds.get(hold_key(org, event_id))
        return h if h is not None and h.org == org else None

    def start(self, event_id: str, customer: str, ts_us: int, kind: str, trusted: bool,
              to_account: str | None, amount: Any, cooling: bool = False, org: str = "default") -> list[Notice]:
        self.changes += 1
        if cooling:  # a confirmed repeat to a FinCERT-listed recipient: executes after 2 days
            until = ts_us + self.policy.cooling_off_days * DAY_US
            h = HoldState(event_id, customer, "art8", "cooling_off", ts_us, until, ts_us, to_account,
                          None if amount is None else str(amount), [(ts_us, "cooling_off")], org)
            self.holds[hold_key(org, event_id)] = h
            heapq.heappush(self._deadlines, (until, hold_key(org, event_id)))
            text = f"confirmed by repeating; the recipient is in the FinCERT database: executes at {_fmt(until)}"
            return [Notice(ts_us, customer, event_id, "hold_cooling_off", text, org)]
        amount = None if amount is None else str(amount)
        until, confirm_by = self.terms(ts_us, kind, trusted)
        status = "asked_trusted" if trusted else "pending"
        h = HoldState(event_id, customer, kind, status, ts_us, until, confirm_by, to_account, amount,
                      [(ts_us, status)], org)
        key = hold_key(org, event_id)
        self.holds[key] = h
        heapq.heappush(self._deadlines, (confirm_by if kind == "art8" else until, key))
        self._by_order[(customer, to_account, amount)] = key
        who = "the trusted person is asked to confirm" if trusted else "confirm"
        text = (f"transfer suspended until {_fmt(until)}; {who} by {_fmt(confirm_by)}"
                if kind == "art8" else f"transfer blocked until {_fmt(until)} (up to 5 working days)")
        return [Notice(ts_us, customer, event_id, "hold_started", text, org)]

    # --- answers ------------------------------------------------------------------------------
    def repeated(self, customer: str, to_account: str | None, amount: Any) -> str | None:
        """The event id of the open art. 8 hold this order repeats (same client — a token of its
        organisation's own —, recipient and amount), if any."""
        key = self._by_order.get((customer, to_account, None if amount is None else str(amount)))
        h = self.holds.get(key) if key else None
        return h.event_id if h is not None and h.kind == "art8" and h.status in ("pending", "asked_trusted") else None

    def respond(self, event_id: str, response: str, by: str, ts_us: int, db_hit: bool,
                org: str = "default") -> list[Notice]:
        h = self.holds.get(hold_key(org, event_id))
        if h is None or h.status not in OPEN:
            return []
        if by == "client" and h.status == "asked_trusted":
            return []  # the trusted person decides this one
        if response == "reject":
            return [self._set(h, "rejected", ts_us, f"rejected by the {by.replace('_', ' ')}")]
        if h.status == "cooling_off":
            return []
        if db_hit and h.kind == "art8":
            self.changes += 1
            h.until_us = ts_us + self.policy.cooling_off_days * DAY_US
            heapq.heappush(self._deadlines, (h.until_us, hold_key(org, event_id)))
            return [self._set(h, "cooling_off", ts_us,
                              f"confirmed; the recipient is in the FinCERT database: executes at {_fmt(h.until_us)}")]
        return [self._set(h, "released", ts_us, f"confirmed by the {by.replace('_', ' ')}: executed")]

    def replaced(self, event_id: str, by_event: str, ts_us: int, org: str = "default") -> list[Notice]:
        """The client repeated the order: the repeat is the one executed (or cooled off)."""
        h = self.holds.get(hold_key(org, event_id))
        if h is None or h.status not in OPEN:
            return []
        return [self._set(h, "replaced", ts_us, f"repeated by the client as {by_event}")]

    # --- time -----------------------------------------------------------------------------------
    def advance(self, ts_us: int) -> list[Notice]:
        """Applies every deadline up to ``ts_us`` (event time)."""
        notices: list[Notice] = []
        dl = self._deadlines
        while dl and dl[0][0] < ts_us:
            self.changes += 1
            due, key = heapq.heappop(dl)
            h = self.holds.get(key)
            if h is None or h.status not in OPEN:
                continue
            if h.status == "cooling_off":
                if due >= h.until_us:
                    notices.append(self._set(h, "released", due, "cooling-off over: executed"))
            elif h.kind == "kz":
                notices.append(self._set(h, "released", due, "block period over: executed"))
            elif h.status == "asked_trusted":
                notices.append(self._set(h, "rejected", due, "the trusted person did not answer in time: declined"))
            else:
                notices.append(self._set(h, "rejected", due, "not confirmed in time: not executed"))
        return notices

    def _set(self, h: HoldState, status: str, ts_us: int, text: str) -> Notice:
        self.changes += 1
        h.status = status
        h.history = [*h.history, (ts_us, status)]
        if status not in OPEN:
            self._by_order.pop((h.customer, h.to_account, h.amount), None)
        return Notice(ts_us, h.customer, h.event_id, f"hold_{status}", text, h.org)

    # --- snapshots ----------------------------------------------------------------------------
    def dump(self) -> bytes:
        return msgspec.msgpack.encode({"holds": list(self.holds.values()), "deadlines": self._deadlines})

    def load(self, blob: bytes) -> None:
        doc: dict[str, Any] = msgspec.msgpack.decode(blob)
        self.changes += 1
        self.holds = {}
        self._by_order = {}
        for raw in doc["holds"]:
            h = msgspec.convert(raw, HoldState)
            h.history = [tuple(x) for x in h.history]  # type: ignore[misc]
            key = hold_key(h.org, h.event_id)
            self.holds[key] = h
            if h.status in ("pending", "asked_trusted"):
                self._by_order[(h.customer, h.to_account, h.amount)] = key
        self._deadlines = [tuple(x) for x in doc["deadlines"]]
        heapq.heapify(self._deadlines)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def hold_answer(target: str, response: str, by: str, ts: str | None, customer: str) -> HoldResponse:
    """The client's (or trusted person's) answer to the hold on ``target``, as the event both the
    embedded API and a scaled front send: its id makes it idempotent per answer, and ``customer`` is
    the hold's client (a token already), whoever sends it."""
    body = {"type": "hold_response", "event_id": f"hold:{target}:{response}:{by}", "ts": ts or _now(),
            "customer_id": customer, "target_event_id": target, "response": response, "by": by}
    return msgspec.convert(body, HoldResponse, strict=False)


def repeated_order(target: str, stored: bytes, ts: str | None) -> Event:
    """The client repeats a suspended order with the same details (art. 8): the held event's stored
    body (tokens already) under the id ``<target>:repeat``."""
    original = msgspec.json.decode(stored)
    original["event_id"], original["ts"] = f"{target}:repeat", ts or _now()
    return decode_event(msgspec.json.encode(original))
