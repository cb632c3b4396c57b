"""The simulator's timeline: events bucketed by day, drained in time order with their final ids.

While the traffic is generated, an event's ``ts`` holds integer seconds since the epoch and a
label's ``target_event_id`` holds the target event itself. A day is drained once nothing more can
land in it (the generator only ever schedules at or after the day it is working on): the bucket is
sorted by ``ts`` (a stable sort, so ties keep the order they were generated in), every event gets
its ``event_id`` in that order and its RFC 3339 ``ts``, and labels resolve to their target's id —
the target is always strictly earlier, so it already has one.
"""

from __future__ import annotations

from datetime import UTC, datetime
from operator import itemgetter

DAY = 86_400
_by_ts = itemgetter("ts")
_TIME_OF_DAY = [f"{h:02d}:{m:02d}:{s:02d}Z" for h in range(24) for m in range(60) for s in range(60)]


def parse_start(start: str) -> int:
    """Seconds since the epoch of an RFC 3339 timestamp (``Z`` or an offset)."""
    dt = datetime.fromisoformat(start.replace("Z", "+00:00"))
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp())


def format_ts(seconds: int) -> str:
    return datetime.fromtimestamp(seconds - seconds % DAY, UTC).strftime("%Y-%m-%dT") + _TIME_OF_DAY[
        seconds % DAY
    ]


class Timeline:
    def __init__(self, t0: int) -> None:
        self.t0 = t0
        self._buckets: dict[int, list[dict]] = {}
        self._drained = -1
        self._next_id = 1
        self._dates: dict[int, str] = {}

    def day_of(self, ts: int) -> int:
        return (ts - self.t0) // DAY

    def bucket(self, day: int) -> list[dict]:
        """The list that holds ``day``'s events; append to it directly on hot paths."""
        if day <= self._drained:
            raise ValueError(f"day {day} is already written")
        b = self._buckets.get(day)
        if b is None:
            b = self._buckets[day] = []
        return b

    def add(self, event: dict) -> dict:
        day = (event["ts"] - self.t0) // DAY
        b = self._buckets.get(day)
        if b is None:
            if day <= self._drained:
                raise ValueError(f"event at {event['ts']} lands in day {day}, already written")
            b = self._buckets[day] = []
        b.append(event)
        return event

    def last_day(self) -> int:
        return max(self._buckets, default=self._drained)

    def drain(self, day: int) -> list[dict]:
        """Finalise and hand over ``day``'s events, sorted by time."""
        events = self._buckets.pop(day, [])
        self._drained = day
        events.sort(key=_by_ts)
        n = self._next_id
        dates = self._dates
        tod = _TIME_OF_DAY
        for ev in events:
            ts = ev["ts"]
            epoch_day = ts // DAY
            date = dates.get(epoch_day)
            if date is None:
                date = dates[epoch_day] = datetime.fromtimestamp(epoch_day * DAY, UTC).strftime("%Y-%m-%dT")
            ev["ts"] = date + tod[ts - epoch_day * DAY]
            ev["event_id"] = f"ev-{n:08d}"
            n += 1
            if ev["type"] == "label":
                ev["target_event_id"] = ev["target_event_id"]["event_id"]
        self._next_id = n
        return events
