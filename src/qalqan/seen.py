"""Which event ids the record already holds, answered from memory for new events.

Idempotency needs "have I seen this event id?" on every event, and nearly every answer is "no".
Asking the record each time costs a query per event. Instead, every id whose event time lies
within ``horizon`` of the newest event time seen is kept in memory. An event inside that
horizon is new exactly when its id is not in memory; only an event older than the horizon (a
late retry, or a replay of old history) needs the record to answer. Retries come within
seconds or minutes, so the horizon (default 2 days of event time) keeps memory bounded by the
traffic of two days — about 100 bytes an id — and the answer is always exact.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

DAY_US = 86_400_000_000


class SeenIds:
    def __init__(self, horizon_us: int = 2 * DAY_US) -> None:
        self.horizon = horizon_us
        self.ids: set[str] = set()
        self.order: deque[tuple[int, str]] = deque()
        self.watermark = 0

    def check(self, event_id: str, ts_us: int) -> bool | None:
        """True: seen. False: certainly new. None: older than the horizon, ask the record."""
        if event_id in self.ids:
            return True
        if ts_us >= self.watermark - self.horizon:
            return False
        return None

    def add(self, event_id: str, ts_us: int) -> None:
        self.ids.add(event_id)
        self.order.append((ts_us, event_id))
        if ts_us > self.watermark:
            self.watermark = ts_us
            lo = ts_us - self.horizon
            order = self.order
            # Arrival order is nearly time order: an id that arrived late may stay a little
            # longer, which is harmless; none inside the horizon is ever dropped.
            while order and order[0][0] < lo:
                self.ids.discard(order.popleft()[1])

    def update(self, pairs: Iterable[tuple[str, int]]) -> None:
        for event_id, ts_us in pairs:
            self.add(event_id, ts_us)

    def __len__(self) -> int:
        return len(self.ids)
