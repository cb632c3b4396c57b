"""Whether the embedded server can take decisions now, and its way back when it cannot.

The record is the one thing a decision cannot do without: an answer is given only once its event
is durable. When the record fails a write, or does not answer within its budget, the server:

1. fails every request waiting on it at once (503, ``Retry-After``: nothing was stored),
2. drops what it decided but did not store, and closes its doors: every request but the health,
   metrics and documentation endpoints gets 503 at once, without being read (a server that
   queued requests for a dead backend would hang them all and then fall over when it returns),
3. tries, in the background, on the writer thread, until the record answers: it rebuilds its state
   from the record (the snapshot and the events after it, exactly as a restart would) and opens
   again. No restart is needed and nothing acknowledged is lost.

``/readyz`` reads this state only: it never waits on the record itself.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

log = logging.getLogger("qalqan.api")

# The first retry comes this soon (seconds); each next one waits twice as long, up to RETRY_MAX_S.
RETRY_FIRST_S = 0.1
RETRY_MAX_S = 2.0


class Availability:
    def __init__(self) -> None:
        self.cause: str | None = None  # why it is closed; None: open
        self.rebuild = False  # the state holds events the record does not: rebuild before opening
        self.since = 0.0
        self.outages = 0
        self.seconds_down = 0.0
        self._task: asyncio.Task[None] | None = None

    @property
    def ready(self) -> bool:
        return self.cause is None

    def lost(self, cause: BaseException | str, rebuild: bool, recover: Callable[[], asyncio.Task[None]]) -> None:
        """Closes the doors (if open) and starts the way back (if not already on it)."""
        text = " ".join(str(cause).split()) or cause.__class__.__name__
        if self.cause is None:
            self.outages += 1
            self.since = time.monotonic()
            log.error("the record is unavailable, answering 503 until it is back: %s", text)
        self.cause = text
        self.rebuild = self.rebuild or rebuild
        if self._task is None or self._task.done():
            self._task = recover()

    def back(self) -> None:
        down = time.monotonic() - self.since
        self.seconds_down += down
        log.warning("the record is back after %.1f s: taking decisions again", down)
        self.cause, self.rebuild = None, False

    def retry_after(self) -> int:
        return 1

    async def stop(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass

    def render(self) -> str:
        return (
            "# HELP qalqan_ready 1 while the server takes decisions, 0 while its record is unavailable.\n"
            "# TYPE qalqan_ready gauge\n"
            f"qalqan_ready {int(self.ready)}\n"
            "# HELP qalqan_record_outages_total Times the record became unavailable.\n"
            "# TYPE qalqan_record_outages_total counter\n"
            f"qalqan_record_outages_total {self.outages}\n"
            "# HELP qalqan_record_down_seconds_total Time spent with the record unavailable (ended outages).\n"
            "# TYPE qalqan_record_down_seconds_total counter\n"
            f"qalqan_record_down_seconds_total {self.seconds_down:.3f}\n"
        )
