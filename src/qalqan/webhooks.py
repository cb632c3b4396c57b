"""Signed webhooks: every notice of the outbox, POSTed to the integrator as it is written.

The outbox (``GET /v1/outbox``) holds every outcome that changes what happens to a payment: a hold
started, released, rejected or replaced; a case decided by a person (``case_fraud``,
``case_legitimate``); a case closed by the clock (``case_deadline_decline`` / ``_approve``). An
integrator that does not want to poll gets each of them here, at least once:

- **Durable and ordered.** A trigger in the record queues every new outbox row in the
  transaction that writes it (``Workflow.webhook_install``); the dispatcher sends the queue oldest
  first and deletes a row only once the receiver answered 2xx. A restart resumes from the queue:
  nothing is skipped, and a notice may be sent again (the receiver dedupes by ``Idempotency-Key``).
- **Signed.** ``X-Qalqan-Signature: t=<unix seconds>,v1=<hex>``: HMAC-SHA256 with
  ``QALQAN_WEBHOOK_SECRET`` over ``<t>.<body>`` (``verify`` is the receiver's check, docs/api.md).
- **Idempotent.** ``Idempotency-Key: <org>:<outbox id>``, the same on every try of one notice.
- **Never in the way.** It runs as a task of its own beside the decisions, its record calls on a
  thread. A receiver that is down, times out, or answers 5xx, 408 or 429 is tried again after
  1, 2, 4 … seconds, at most ``cap_s`` (300) apart, for as long as it takes; the notices behind it
  wait (order is kept). Any other answer (a 4xx, a 3xx: redirects are not followed) is a notice the
  receiver refuses: tried ``max_tries`` (5) times, then given up, logged and written to the audit
  log (``webhook.dropped``), and the next one is sent.

One URL gets every organisation's notices (the payload names its ``org``): the operator's.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import ssl
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, urlsplit

import msgspec

from .events import us_to_rfc3339

log = logging.getLogger("qalqan.webhooks")
SIGNATURE = "X-Qalqan-Signature"
RETRY_STATUSES = {408, 429}  # with every 5xx: the receiver is busy or down, not refusing


def sign(secret: bytes, t: int, body: bytes) -> str:
    """The signature header's value for ``body`` sent at ``t`` (unix seconds)."""
    mac = hmac.new(secret, str(t).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def verify(secret: bytes, header: str, body: bytes, now_s: float | None = None, tolerance_s: int = 300) -> bool:
    """The receiver's check: the header signs exactly ``body`` with ``secret``, within
    ``tolerance_s`` of now (a replayed old request fails)."""
    try:
        parts = dict(p.split("=", 1) for p in header.split(","))
        t = int(parts["t"])
    except (KeyError, ValueError):
        return False
    now = time.time() if now_s is None else now_s
    if abs(now - t) > tolerance_s:
        return False
    expected = sign(secret, t, body).split("v1=", 1)[1]
    return hmac.compare_digest(expected, parts.get("v1", ""))


def payload(row: tuple[Any, ...]) -> tuple[str, bytes]:
    """(Idempotency-Key, JSON body) of a queued notice (id, tries, ts_us, customer, event_id, kind, text, org)."""
    notice_id, _, ts_us, customer, event_id, kind, text, org = row
    key = f"{quote(org, safe='')}:{notice_id}"
    body = {"id": int(notice_id), "idempotency_key": key, "org": org, "kind": kind, "event_id": event_id,
            "customer_id": customer, "ts": us_to_rfc3339(int(ts_us)), "text": text}
    return key, msgspec.json.encode(body)


async def post(url: str, body: bytes, headers: dict[str, str], timeout_s: float) -> int:
    """POSTs ``body`` and returns the answer's status (HTTP/1.1 over asyncio streams: no client
    library to add). Raises OSError or TimeoutError when there is no answer."""
    parts = urlsplit(url)
    https = parts.scheme == "https"
    host = parts.hostname or ""
    port = parts.port or (443 if https else 80)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")

    async def exchange() -> int:
        reader, writer = await asyncio.open_connection(host, port, ssl=ssl.create_default_context() if https else None)
        try:
            head = [f"POST {path} HTTP/1.1", f"Host: {parts.netloc.rsplit('@', 1)[-1]}",
                    "Content-Type: application/json", f"Content-Length: {len(body)}", "Connection: close",
                    "User-Agent: qalqan-webhooks/1", *(f"{k}: {v}" for k, v in headers.items())]
            writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)
            await writer.drain()
            status_line = await reader.readline()
            fields = status_line.split()
            if len(fields) < 2 or not fields[0].startswith(b"HTTP/") or not fields[1].isdigit():
                raise OSError(f"not an HTTP answer: {status_line[:80]!r}")
            return int(fields[1])
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    return await asyncio.wait_for(exchange(), timeout_s)


class Dispatcher:
    """Sends ``source.record``'s webhook queue to ``url`` (``source.record`` is read at each pass:
    an engine swaps its record when it recovers)."""

    def __init__(self, source: Any, url: str, secret: bytes, *, base_s: float = 1.0, cap_s: float = 300.0,
                 max_tries: int = 5, timeout_s: float = 10.0, poll_s: float = 0.5,
                 now: Callable[[], float] = time.time) -> None:
        self.source, self.url, self.secret = source, url, secret
        self.base_s, self.cap_s, self.max_tries = base_s, cap_s, max_tries
        self.timeout_s, self.poll_s, self.now = timeout_s, poll_s, now
        self.failures = 0  # in a row: the backoff grows with them, and a delivery resets them
        self.sent = 0
        self._installed: Any = None

    def backoff_s(self) -> float:
        """The wait after the ``failures``-th failure in a row: base, 2·base, 4·base … at most cap."""
        return min(self.cap_s, self.base_s * 2 ** max(self.failures - 1, 0))

    async def run(self) -> None:
        """Forever: send what is queued; wait ``poll_s`` when nothing is, the backoff after a failure."""
        while True:
            try:
                ok = await self.pass_once()
            except Exception as exc:  # the record does not answer: try again later, never stop
                log.error("webhooks: the queue could not be read: %s", exc)
                self.failures += 1
                ok = False
            await asyncio.sleep(self.poll_s if ok else self.backoff_s())

    async def pass_once(self) -> bool:
        """Sends the queue in order until it is empty (True) or a notice fails (False: back off)."""
        record = self.source.record
        if record is not self._installed:
            await asyncio.to_thread(record.webhook_install)
            self._installed = record
        while rows := await asyncio.to_thread(record.webhook_pending, 100):
            for row in rows:
                if not await self._deliver(record, row):
                    return False
        return True

    async def _deliver(self, record: Any, row: tuple[Any, ...]) -> bool:
        key, body = payload(row)
        headers = {"Idempotency-Key": key, SIGNATURE: sign(self.secret, int(self.now()), body)}
        notice_id, tries, org = int(row[0]), int(row[1]), row[7]
        try:
            status = await post(self.url, body, headers, self.timeout_s)
        except (OSError, TimeoutError) as exc:
            status, error = None, f"no answer: {exc.__class__.__name__}: {exc}"
        else:
            error = f"HTTP {status}"
        if status is not None and 200 <= status < 300:
            await asyncio.to_thread(record.webhook_delivered, notice_id)
            self.failures, self.sent = 0, self.sent + 1
            return True
        self.failures += 1
        refused = status is not None and status < 500 and status not in RETRY_STATUSES
        drop = refused and tries + 1 >= self.max_tries
        await asyncio.to_thread(record.webhook_failed, notice_id, error, drop, org)
        if drop:
            log.error("webhooks: notice %s given up after %d tries: %s", key, tries + 1, error)
            return True  # the next notice goes now
        log.warning("webhooks: notice %s not delivered (%s); again in %.1f s", key, error, self.backoff_s())
        return False


async def start(source: Any, url: str | None, secret: bytes | None) -> asyncio.Task[None] | None:
    """The dispatcher as a task of the running loop, if webhooks are configured (None otherwise).
    The queue is installed first, before the server takes its first request: every notice
    written from then on is sent."""
    if url is None or secret is None:
        return None
    dispatcher = Dispatcher(source, url, secret)
    await asyncio.to_thread(source.record.webhook_install)
    dispatcher._installed = source.record
    return asyncio.get_running_loop().create_task(dispatcher.run(), name="qalqan-webhooks")


async def stop(task: asyncio.Task[None] | None) -> None:
    """Ends the dispatcher; a notice it was sending stays queued and is sent after the restart."""
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
