"""What the console's pages count, folded incrementally from the record: each refresh reads only
the rows committed since the last one.

- the movements decided ``review`` or ``hold`` (their reasons, for the queue; cases themselves
  live in the record, cases.py) and so which holds are the organisation's;
- rule hits (from the recorded decisions' reasons), decisions by action and day, alerts by day,
  labels by the day of the labelled movement (the fraud rate);
- per customer: the events (their seqs: eight bytes each), and the devices, cards and accounts
  seen with them (and so the other customers who share one: the links the case page shows).

Everything is on event time (the events' ``ts``), so a replayed record gives the same pages.
"""

from __future__ import annotations

from array import array
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache

import msgspec

from ..store.base import Row
from .reader import Reader

DAY_US = 86_400_000_000
CASE_ACTIONS = ("review", "hold")


@dataclass
class CaseRow:
    seq: int
    event_id: str
    type: str
    ts_us: int
    customer: str
    action: str
    reasons: list[str]


@dataclass
class LabelRow:
    label: str
    source: str
    ts_us: int


def day_of(ts_us: int) -> str:
    return _day(ts_us // DAY_US)


@lru_cache(maxsize=8192)
def _day(index: int) -> str:
    return datetime.fromtimestamp(index * 86_400, tz=UTC).strftime("%Y-%m-%d")


class _Body(msgspec.Struct):
    """The fields of a stored event the console counts (the rest is skipped by the decoder)."""

    device_id: str | None = None
    card_id: str | None = None
    from_account: str | None = None
    to_account: str | None = None
    ip: str | None = None
    target_event_id: str | None = None
    label: str | None = None
    source: str | None = None


class _Reason(msgspec.Struct):
    code: str
    source: str


class _Decision(msgspec.Struct):
    action: str
    reasons: list[_Reason] = []
    shadow: list[_Reason] | None = None


_decode_body = msgspec.json.Decoder(_Body).decode
_decode_decision = msgspec.json.Decoder(_Decision).decode


class OrgTally:
    """One organisation's counts: nobody's page ever reads another's."""

    def __init__(self) -> None:
        self.newest_us = 0                           # the newest event time seen: the console's 'now'
        self.cases: dict[str, CaseRow] = {}          # every review and hold, by event id
        self.labels: dict[str, LabelRow] = {}        # by target event id
        self.hits: Counter[str] = Counter()          # rule code → hits (enforced)
        self.shadow_hits: Counter[str] = Counter()
        self.by_day: dict[str, Counter[str]] = defaultdict(Counter)   # day → action → count
        self.alerts: Counter[str] = Counter()        # day → cases opened
        self.fraud: Counter[str] = Counter()         # day of the movement → labelled fraud
        self.labelled: Counter[str] = Counter()      # day of the movement → labelled at all
        self.history: dict[str, array[int]] = defaultdict(lambda: array("q"))  # customer → seqs, in order
        self.seen_with: dict[str, set[tuple[str, str]]] = defaultdict(set)      # customer → (field, value)
        self.customers_of: dict[tuple[str, str], set[str]] = defaultdict(set)   # (field, value) → customers

    def fold(self, row: Row) -> str | None:
        """Folds one row; returns a label's target event id (its day is looked up in batches)."""
        body = _decode_body(row.body)
        if row.type == "label":
            self.labels[body.target_event_id or ""] = LabelRow(body.label or "", body.source or "", row.ts_us)
            return body.target_event_id
        if row.type in ("intel", "hold_response"):
            return None
        ts_us, customer = row.ts_us, row.customer
        if ts_us > self.newest_us:  # people's answers (labels, lists) run on the wall clock: not counted
            self.newest_us = ts_us
        self.history[customer].append(row.seq)
        seen = self.seen_with[customer]
        for f, value in (("device_id", body.device_id), ("card_id", body.card_id),
                         ("from_account", body.from_account), ("to_account", body.to_account), ("ip", body.ip)):
            if value and (f, value) not in seen:
                seen.add((f, value))
                self.customers_of[(f, value)].add(customer)
        if row.decision is None:
            return None
        d = _decode_decision(row.decision)
        day = day_of(ts_us)
        self.by_day[day][d.action] += 1
        for r in d.reasons:
            if r.source == "rule":
                self.hits[r.code] += 1
        for r in d.shadow or ():
            self.shadow_hits[r.code] += 1
        if d.action in CASE_ACTIONS:
            self.alerts[day] += 1
            self.cases[row.event_id] = CaseRow(row.seq, row.event_id, row.type, ts_us, customer, d.action,
                                               [r.code for r in d.reasons])
        return None

    def labelled_on(self, target: str, ts_us: int) -> None:
        """Counts a label against the day of the movement it labels (the fraud rate's denominator)."""
        day = day_of(ts_us)
        self.labelled[day] += 1
        if self.labels[target].label in ("fraud", "chargeback"):
            self.fraud[day] += 1

    def linked(self, customer: str) -> list[tuple[str, str, list[str]]]:
        """(field, value, other customers seen with it) for each device, card, account and ip of
        this customer's recent history."""
        out = []
        for f, v in sorted(self.seen_with.get(customer, ())):
            others = sorted(c for c in self.customers_of[(f, v)] if c != customer)
            out.append((f, v, others))
        return out


class Tally:
    """Every organisation's counts, folded from one scan of the record."""

    def __init__(self, reader: Reader) -> None:
        self.reader = reader
        self.cursors: dict[int | None, int] = {}  # per commit order (Reader.lanes): the last seq folded
        self.orgs: dict[str, OrgTally] = defaultdict(OrgTally)
        # Labelled movements, (organisation, event id): a second label does not count twice.
        self._counted: set[tuple[str, str]] = set()

    def of(self, org: str) -> OrgTally:
        return self.orgs[org]

    def refresh(self) -> None:
        for lane in self.reader.lanes():
            self._follow(lane)

    def _follow(self, lane: int | None) -> None:
        while True:
            rows = self.reader.rows_after(self.cursors.get(lane, 0), lane=lane)
            if not rows:
                return
            labels: set[tuple[str, str]] = set()  # (org, target): new labels of this batch
            for row in rows:
                target = self.orgs[row.org].fold(row)
                if target and (row.org, target) not in self._counted:
                    labels.add((row.org, target))
            for (org, target), ts_us in self.reader.times_of(sorted(labels)).items():
                self._counted.add((org, target))
                self.orgs[org].labelled_on(target, ts_us)
            self.cursors[lane] = rows[-1].seq
