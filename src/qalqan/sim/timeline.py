"""The simulator's timeline: events bucketed by day, drained in time order with their final ids.

Events (``make.py``'s Structs) are built with their final RFC 3339 ``ts`` (``ts_str``: fixed width,
so string order is time order) and a placeholder ``event_id``; a label's ``target_event_id`` holds
the target event itself until it is written. A day is drained once nothing more can land in it (the generator only
ever schedules at or after the day it is working on): the bucket is sorted by ``ts`` (a stable sort,
so ties keep the order they were generated in), every event gets its ``event_id`` in that order, and
labels resolve to their target's id — the target is always strictly earlier, so it already has one.
"""

from __future__ import annotations

from datetime import UTC, datetime
from operator import attrgetter
from typing import Any

DAY = 86_400
_by_ts = attrgetter("ts")
TIME_OF_DAY = [f"{h:02d}:{m:02d}:{s:02d}Z" for h in range(24) for m in range(60) for s in range(60)]
_ID_LOW = [f"{i:04d}" for i in range(10_000)]
_ID_HIGH: list[str] = []
DATES: dict[int, str] = {}  # days since the epoch -> "YYYY-MM-DDT"
_DAYS: dict[str, int] = {}  # and back


def _date(epoch_day: int) -> str:
    s = datetime.fromtimestamp(epoch_day * DAY, UTC).strftime("%Y-%m-%dT")
    DATES[epoch_day] = s
    _DAYS[s] = epoch_day
    return s


def prefill(first: int, last: int) -> None:
    """Make sure ``DATES`` covers the days of ``first``..``last`` (seconds), for inlined formatting."""
    for q in range(first // DAY, last // DAY + 1):
        if q not in DATES:
            _date(q)


def ts_str(seconds: int) -> str:
    """RFC 3339 UTC, second precision, of seconds since the epoch."""
    try:
        return DATES[seconds // DAY] + TIME_OF_DAY[seconds % DAY]
    except KeyError:
        return _date(seconds // DAY) + TIME_OF_DAY[seconds % DAY]


def ts_int(ts: str) -> int:
    """The inverse of ``ts_str``."""
    day = _DAYS.get(ts[:11])
    if day is None:
        day = int(datetime.fromisoformat(ts[:10]).replace(tzinfo=UTC).timestamp()) // DAY
    return day * DAY + int(ts[11:13]) * 3600 + int(ts[14:16]) * 60 + int(ts[17:19])


format_ts = ts_str


def parse_start(start: str) -> int:
    """Seconds since the epoch of an RFC 3339 timestamp (``Z`` or an offset)."""
    dt = datetime.fromisoformat(start)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp())


class Timeline:
    def __init__(self, t0: int) -> None:
        self.t0 = t0
        self._buckets: dict[int, list[Any]] = {}
        self._labels: dict[int, list[Any]] = {}
        self._drained = -1
        self._next_id = 1

    def day_of(self, ts: int) -> int:
        return (ts - self.t0) // DAY

    def bucket(self, day: int) -> list[Any]:
        """The list that holds ``day``'s events; append to it directly on hot paths."""
        if day <= self._drained:
            raise ValueError(f"day {day} is already written")
        b = self._buckets.get(day)
        if b is None:
            b = self._buckets[day] = []
        return b

    def add(self, event: Any) -> Any:
        day = (ts_int(event.ts) - self.t0) // DAY
        b = self._buckets.get(day)
        if b is None:
            if day <= self._drained:
                raise ValueError(f"event at {event.ts} lands in day {day}, already written")
            b = self._buckets[day] = []
        b.append(event)
        return event

    def add_label(self, label: Any) -> Any:
        """Add a label whose ``target_event_id`` is still the target event."""
        self.add(label)
        self._labels.setdefault((ts_int(label.ts) - self.t0) // DAY, []).append(label)
        return label

    def last_day(self) -> int:
        return max(self._buckets, default=self._drained)

    def drain(self, day: int) -> list[Any]:
        """Finalise and hand over ``day``'s events, sorted by time."""
        events = self._buckets.pop(day, [])
        self._drained = day
        events.sort(key=_by_ts)
        if events and not (ts_str(self.t0 + day * DAY) <= events[0].ts <= events[-1].ts
                           < ts_str(self.t0 + (day + 1) * DAY)):
            raise AssertionError(f"day {day} holds an event of another day: {events[0].ts} .. {events[-1].ts}")
        n = self._next_id
        hi, lo = _ID_HIGH, _ID_LOW  # "ev-0123" + "4567": cheaper than formatting each number
        while (n + len(events)) // 10_000 >= len(hi):
            hi.append(f"ev-{len(hi):04d}")
        for ev in events:
            ev.event_id = hi[n // 10_000] + lo[n % 10_000]
            n += 1
        self._next_id = n
        for lab in self._labels.pop(day, ()):
            lab.target_event_id = lab.target_event_id.event_id
        return events
