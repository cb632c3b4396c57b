"""The HTTP front of the scaled set-up: ``qalqan serve --nats …``, stateless, as many as wanted.

A front decides nothing. It validates an event with the engine's own decoder (so a bad one gets the
same 422 naming the field, and never reaches the stream), appends it to its partition's subject with
``Nats-Msg-Id`` = the event id scoped by its organisation (``events.scoped_id``: an event id is
unique within its organisation), and answers with the decision a worker publishes for it. Every
front holds one subscription to ``<stream>.decisions.>`` and matches decisions to the requests
waiting on them by the ``d:<scoped id>`` id the worker gives each decision.

Why no decision is ever missed: a request registers its wait *before* it publishes, and a worker
publishes a decision only after the record holds it. So a decision is either published after the
wait began (the subscription delivers it) or was made earlier, which the stream reveals as a
duplicate publish: the front then reads it from the shared record. A money movement that outwaits
its budget (``QALQAN_DECIDE_BUDGET_MS``: its worker is gone or far behind) gets its channel's
fallback decision (``fallback.stage == "worker"``), and the worker decides the event when it is back;
the integrator is told by a ``decision.late`` notice in the outbox (stream/late.py: the marker, and
why nothing is lost or decided twice). The retry (same id: the stream drops the copy) finds the
worker's decision in the record. A publish the stream does not acknowledge is 503 (``retry-after``):
the event is not durable, so no decision is given for it.

The organisation of the API key travels with the event in the ``Qalqan-Org`` header, and the
worker decides the event for that organisation (stream/worker.py).

Every other endpoint of the embedded API that acts on events (holds, cases, labels, the audit log,
lists) is served by the embedded API's own handlers over the stream and the record
(stream/front_people.py); so are the analysts' console and receipts (stream/front_console.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import msgspec
import psycopg

from ..api.admission import Admission
from ..api.asgi import BodyRefused, Disconnected, check_body, read_body
from ..api.keys import OPEN_PATHS, OPEN_PREFIXES, KeyRing, allowed
from ..api.metrics import Metrics, render_fallbacks
from ..config import Settings
from ..events import (
    MONEY_TYPES,
    Decision,
    Event,
    EventError,
    check_sent,
    decode_event,
    refuse_ahead,
    same_event,
    scoped_id,
)
from ..features.view import Money
from ..privacy import check_event_id
from ..store.base import DEFAULT_ORG, RecordUnavailable, StoreError
from ..tenancy import Tokenizers
from .front_console import console_and_receipts, no_answer
from .front_people import FrontPeople
from .late import FALLBACK_HEADER, Marker, fallback_decision
from .partition import EVERY, events_subject, partition_of
from .publish import PARTS_HEADER, connect, ensure_stream
from .worker import CONFLICT, CONFLICT_HEADER, ORG_HEADER

PROBLEM = [(b"content-type", b"application/problem+json")]
JSON = [(b"content-type", b"application/json")]
Answer = tuple[int, bytes, list[tuple[bytes, bytes]]]


@dataclass
class FrontConfig:
    url: str
    stream: str
    parts: int
    # How long a people's request (a hold's answer, a label, a list change) waits for its worker before
    # 503 (the event is kept and decided anyway). A money movement waits QALQAN_DECIDE_BUDGET_MS, then
    # gets its channel's fallback (stream/late.py).
    answer_timeout_s: float = 5.0
    # The stream's acknowledgement of a publish must come within this time.
    publish_timeout_s: float = 5.0


def _problem(status: int, title: str, detail: str, **extra: Any) -> Answer:
    body = {"type": f"https://qalqan.dev/problems/{title.lower().replace(' ', '-')}", "title": title,
            "status": status, "detail": detail, **extra}
    return status, msgspec.json.encode(body), PROBLEM


def _conflict(eid: str, detail: str) -> Answer:
    return _problem(409, "Conflict", f"event_id {eid!r}: {detail}", field="event_id", problem=detail)


class Front:
    """One front process: a NATS connection, the decisions subscription, a read-only use of the record."""

    def __init__(self, settings: Settings, cfg: FrontConfig) -> None:
        if not settings.db_url.startswith(("postgresql://", "postgres://")):
            raise StoreError(f"QALQAN_DB: fronts read the workers' shared record: it must be postgresql://…, "
                             f"got {settings.db_url!r}")
        self.settings, self.cfg = settings, cfg
        # Routed by the organisation's own token of the customer, as the worker will key it (tenancy.py);
        # with the consortium's key too, so an event protected here is the one the worker stored (intel/).
        self.tokenizers = Tokenizers(settings.key, settings.consortium_key)
        # The server's clock: events ahead of it by more than the skew are refused (tenancy of time).
        self.clock = settings.server_clock()
        self.parts_header = str(cfg.parts)
        # A money movement's budget: past it, its channel's fallback (stream/late.py).
        self.budget_s = settings.decide_budget_ms / 1000
        self.money = Money(settings.fx)
        self.metrics = Metrics()  # the fallbacks this front answered, and those of the decisions it relayed
        self.waiting: dict[str, list[asyncio.Future[tuple[bytes, str | None]]]] = {}
        # psycopg blocks: the record is read on one thread of its own, never on the event loop.
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="qalqan-front-record")
        self.record: Any = None
        self.nc: Any = None
        self.js: Any = None

    async def start(self) -> None:
        from ..store.postgres import PostgresRecord

        loop = asyncio.get_running_loop()
        self.nc = await connect(self.cfg.url, forever=True)
        self.record = await loop.run_in_executor(self.pool, PostgresRecord, self.settings.db_url, "qalqan-front")
        parts = await self._read(self._record_parts)
        if parts is not None and parts != self.cfg.parts:  # its workers would refuse every event
            raise StoreError(f"--partitions {self.cfg.parts}: the record {self.settings.db_url} is decided by "
                             f"{parts} partitions")
        self.js = self.nc.jetstream()
        await ensure_stream(self.js, self.cfg.stream)
        await self.nc.subscribe(f"{self.cfg.stream}.decisions.>", cb=self._decided)
        await self.nc.flush()  # the subscription is in place before the first request is taken

    def _record_parts(self) -> int | None:
        """The workers' N, once a worker has claimed the record (stream/record.py)."""
        with self.record.conn.cursor() as cur:
            row = cur.execute("SELECT to_regclass('stream_partitions') IS NOT NULL").fetchone()
            if row is not None and row[0]:
                row = cur.execute("SELECT parts FROM stream_partitions WHERE id = 1").fetchone()
            else:
                row = None
        self.record.conn.commit()
        return None if row is None or row[0] is None else int(row[0])

    async def stop(self) -> None:
        if self.nc is not None:
            with contextlib.suppress(Exception):  # a frozen NATS must not hold the shutdown
                await asyncio.wait_for(self.nc.drain(), 5)
        if self.record is not None:
            await asyncio.get_running_loop().run_in_executor(self.pool, self.record.close)
        self.pool.shutdown()

    async def _decided(self, msg: Any) -> None:
        headers = msg.headers or {}
        msg_id = headers.get("Nats-Msg-Id", "")
        if msg_id.startswith("x:"):  # a worker refused an event whose id another event holds (409)
            for fut in self.waiting.pop(headers.get(CONFLICT_HEADER, ""), None) or ():
                if not fut.done():
                    fut.set_result((msg.data, CONFLICT))
            return
        waiters = self.waiting.pop(msg_id[2:], None) if msg_id.startswith("d:") else None
        for fut in waiters or ():
            if not fut.done():
                fut.set_result((msg.data, None))

    async def _read(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self.pool, self._read_again, fn, *args)

    def _read_again(self, fn: Callable[..., Any], *args: Any) -> Any:
        """A read on a connection the server dropped (PostgreSQL restarted, failed over) is made once
        more on a new one: reads are idempotent. A second failure is the caller's (503)."""
        try:
            return fn(*args)
        except (psycopg.OperationalError, RecordUnavailable):
            if not self.record.reopen_if_broken():
                raise
            return fn(*args)

    async def read(self, scope: dict[str, Any], receive: Any) -> bytes | Answer:
        """The request body, read no further than QALQAN_MAX_BODY; past it the 413 answer."""
        try:
            return await read_body(receive, self.settings.max_body, scope)
        except BodyRefused as exc:
            status, payload, headers = _problem(exc.status, exc.title, exc.detail, field=exc.field,
                                                problem=exc.problem)
            return status, payload, [*headers, *exc.headers]

    async def post_event(self, body: bytes, org: str) -> Answer:
        """One event: a body that is not UTF-8, nests too deep or is not a valid event is refused
        (422 naming the field) and never reaches the stream."""
        try:
            check_body(body)
        except BodyRefused as exc:
            return _problem(exc.status, exc.title, exc.detail, field=exc.field, problem=exc.problem)
        if body.lstrip()[:1] == b"[":
            return _problem(422, "Invalid event", "$: the scaled front takes one event per request, not an array",
                            field="$", problem="one event per request")
        try:
            event = decode_event(body)
            check_event_id(event.event_id)  # an id carrying a card number never reaches the stream
            check_sent(event)  # what no client may send (an allow-list entry), refused before the stream
            refuse_ahead(event.ts, self.clock(), self.settings.max_skew_s, "the server's clock")
            part = partition_of(event, self.tokenizers.of(org), self.cfg.parts)
        except EventError as exc:
            return _problem(exc.status, "Conflict" if exc.status == 409 else "Invalid event", str(exc),
                            field=exc.field, problem=exc.problem)
        except (ValueError, RecursionError) as exc:  # the decoder's own, had the checks above missed one
            return _problem(422, "Invalid event", f"$: cannot be decoded: {exc.__class__.__name__}: {exc}",
                            field="$", problem="cannot be decoded")
        eid: str = event.event_id
        headers = {PARTS_HEADER: self.parts_header}
        if org != DEFAULT_ORG:
            headers[ORG_HEADER] = org
        if event.__struct_config__.tag == "hold_response":  # type: ignore[union-attr]
            # Only the organisation that holds the transfer answers for its client; the worker checks
            # the hold itself too (engine.py), this answers the caller 404 rather than 202.
            try:
                held = await self._read(self.record.event_in, org, event.target_event_id)  # type: ignore[union-attr]
            except Exception as exc:
                return self._unavailable(f"the record does not answer: {exc.__class__.__name__}: {exc}")
            if held is None or held.action != "hold":
                target = event.target_event_id  # type: ignore[union-attr]
                return _problem(404, "Not found", f"target_event_id: no hold on event {target!r}",
                                field="target_event_id", problem=f"no hold on event {target!r}")
        if event.__struct_config__.tag not in MONEY_TYPES:  # type: ignore[union-attr]
            targets = range(self.cfg.parts) if part == EVERY else (part,)
            try:
                key = scoped_id(org, eid)  # the stream's duplicate window is per organisation too
                await asyncio.gather(*(self.publish(p, f"{key}@{p}" if part == EVERY else key, body, headers)
                                       for p in targets))
            except Exception as exc:
                return self._unavailable(f"the stream did not confirm the event within the budget "
                                         f"({exc.__class__.__name__}: {exc}); a stream that was only slow may "
                                         "still keep it: send it again with the same event_id (decided once)")
            return 202, msgspec.json.encode({"event_id": eid, "status": "accepted"}), JSON
        return await self._money(eid, part, body, headers, org, event)

    async def _money(self, eid: str, part: int, body: bytes, headers: dict[str, str], org: str,
                     event: Event) -> Answer:
        t0 = time.perf_counter_ns()
        customer = event.customer_id  # as sent: the duplicate check below tokenises the event in place
        fut: asyncio.Future[tuple[bytes, str | None]] = asyncio.get_running_loop().create_future()
        key = scoped_id(org, eid)  # an event id is unique within its organisation: so are its waits
        self.waiting.setdefault(key, []).append(fut)  # before the publish: the decision cannot pass unseen
        try:
            try:  # within the budget: a stream that does not take the event in time is a fast 503
                ack = await self.publish(part, key, body, headers, min(self.cfg.publish_timeout_s, self.budget_s))
            except Exception as exc:
                return self._unavailable(f"the stream did not confirm the event within the budget "
                                         f"({exc.__class__.__name__}: {exc}); a stream that was only slow may "
                                         "still keep it: send it again with the same event_id (decided once)")
            if ack.duplicate:  # sent before: its decision may be in the record already
                try:
                    row = await self._read(self.record.event_in, org, eid)
                except Exception as exc:
                    return self._unavailable(f"the record does not answer: {exc.__class__.__name__}: {exc}")
                if row is not None and not same_event(row.body, self.tokenizers.of(org).protect(event)):
                    return _conflict(eid, "was sent before with another body")
                if row is not None and row.decision is not None:
                    return 200, bytes(row.decision), JSON
            try:
                left = self.budget_s - (time.perf_counter_ns() - t0) / 1e9
                decision, marker = await asyncio.wait_for(asyncio.shield(fut), max(left, 0.001))
            except TimeoutError:
                return await self._fallback(part, key, event, customer, headers, org, t0)
            if marker == CONFLICT:  # the worker found the id taken by another event of this organisation
                return _conflict(eid, decision.decode())
            if b'"fallback"' in decision:  # a worker's model stage fell back: counted here too
                fallback = msgspec.json.decode(decision, type=Decision).fallback
                if fallback is not None:
                    self.metrics.fell_back(fallback)
            return 200, decision, JSON
        finally:
            waiters = self.waiting.get(key)
            if waiters is not None:
                with contextlib.suppress(ValueError):
                    waiters.remove(fut)
                if not waiters:
                    del self.waiting[key]

    async def _fallback(self, part: int, key: str, event: Event, customer: str, headers: dict[str, str], org: str,
                        t0: int) -> Answer:
        """No decision within the budget: the channel's fallback, once its marker is in the stream after
        the event (stream/late.py); a marker the stream does not take is 503 (the event is decided anyway)."""
        cause = (f"no decision: none within {self.settings.decide_budget_ms} ms from the worker of partition "
                 f"{part}; the event is kept and decided when it is back (outbox: decision.late)")
        decision = fallback_decision(event, self.settings.fallbacks, self.money, cause, t0)
        marker = Marker(event.event_id, self.tokenizers.of(org).token(customer), self.clock(), decision)
        try:
            await self.publish(part, f"f:{key}", msgspec.json.encode(marker),
                               {**headers, FALLBACK_HEADER: event.event_id},
                               min(self.cfg.publish_timeout_s, self.budget_s))
        except Exception as exc:
            return self._unavailable(f"no decision within {self.settings.decide_budget_ms} ms, and the stream did not "
                                     f"take the fallback's marker ({exc.__class__.__name__}: {exc}); the event is kept "
                                     "and will be decided: send it again (same event_id) for its decision")
        self.metrics.fell_back(decision.fallback)  # type: ignore[arg-type]
        return 200, msgspec.json.encode(decision), JSON

    async def publish(self, part: int, msg_id: str, body: bytes, headers: dict[str, str],
                      timeout: float | None = None) -> Any:
        return await self.js.publish(events_subject(self.cfg.stream, part), body,
                                     timeout=self.cfg.publish_timeout_s if timeout is None else timeout,
                                     headers={"Nats-Msg-Id": msg_id, **headers})

    @staticmethod
    def _unavailable(detail: str) -> Answer:
        status, payload, headers = _problem(503, "Decision unavailable", detail)
        return status, payload, [*headers, (b"retry-after", b"1")]

    async def get_decision(self, event_id: str, org: str) -> Answer:
        try:
            row = await self._read(self.record.event_in, org, event_id)  # another organisation's is "not found"
        except Exception as exc:
            return self._unavailable(f"the record does not answer: {exc.__class__.__name__}: {exc}")
        if row is None:
            return _problem(404, "Not found", f"no event {event_id!r} in the record")
        if row.decision is None:
            return _problem(404, "Not found", f"event {event_id!r} is a context event: it has no decision")
        return 200, bytes(row.decision), JSON


def create_front_app(front: Front, keys: KeyRing | None = None) -> Callable[..., Awaitable[None]]:
    """A plain ASGI app: POST /v1/events, GET /v1/decisions/{id}, /healthz, /readyz; holds, cases,
    labels, the audit log, lists, receipts and the console through the embedded API's handlers
    (front_people.py, front_console.py)."""
    people = FrontPeople(front)
    admission = Admission(front.settings.max_inflight)  # a waiting request holds its place until answered

    async def reply(send: Any, answer: Answer) -> None:
        status, payload, headers = answer
        await send({"type": "http.response.start", "status": status,
                    "headers": [*headers, (b"content-length", str(len(payload)).encode())]})
        await send({"type": "http.response.body", "body": payload})

    async def lifespan(receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await front.start()
                    await people.start(console_and_receipts, no_answer)
                except Exception as exc:
                    await send({"type": "lifespan.startup.failed", "message": f"{exc.__class__.__name__}: {exc}"})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                people.stop()
                await front.stop()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            return await lifespan(receive, send)
        if scope["type"] != "http":
            return
        path, method = scope["path"], scope["method"]
        org = DEFAULT_ORG
        if keys is not None and path not in OPEN_PATHS and not path.startswith(OPEN_PREFIXES):
            key = keys.check(next((v for k, v in scope["headers"] if k == b"authorization"), None))
            if key is None:
                status, payload, headers = _problem(401, "Unauthorized",
                                                    "a valid API key is needed: Authorization: Bearer <key>")
                return await reply(send, (status, payload, [*headers, (b"www-authenticate", b'Bearer realm="qalqan"')]))
            if not allowed(key.role, method, path):
                return await reply(send, _problem(403, "Forbidden", f"role {key.role!r} may not {method} {path}"))
            org = key.org
            scope["qalqan.key"] = key  # the people's handlers scope by it (api/cases.py, actor_of)
        if path == "/v1/events" and method == "POST":
            if not admission.enter():
                return await admission.refuse(send)
            try:
                try:
                    body = await front.read(scope, receive)
                except Disconnected:
                    return  # the client left before its body was whole: nothing of it is published
                if not isinstance(body, bytes):
                    return await reply(send, body)  # too large
                answer = await front.post_event(body, org)
            finally:
                admission.leave()
            return await reply(send, answer)
        if path.startswith("/v1/decisions/") and method == "GET":
            return await reply(send, await front.get_decision(path[len("/v1/decisions/"):], org))
        if path == "/metrics" and method == "GET":  # an auditor's or admin's key when auth is on (api/keys.py)
            text = "\n".join(render_fallbacks(front.metrics.fallbacks)) + "\n" + admission.render()
            return await reply(send, (200, text.encode(), [(b"content-type", b"text/plain; version=0.0.4")]))
        if path in ("/healthz", "/readyz") and method not in ("GET", "HEAD"):
            status, payload, headers = _problem(405, "Method not allowed", f"{path} answers GET and HEAD only")
            return await reply(send, (status, payload, [*headers, (b"allow", b"GET, HEAD")]))
        if path == "/healthz":
            body = msgspec.json.encode({"status": "ok", "mode": "front", "stream": front.cfg.stream,
                                        "partitions": front.cfg.parts})
            return await reply(send, (200, body, JSON))
        if path == "/readyz":
            if front.nc is None or not front.nc.is_connected:
                return await reply(send, _problem(503, "Not ready", "not connected to NATS"))
            return await reply(send, (200, b'{"status":"ready"}', JSON))
        if people.app is None:
            return await reply(send, _problem(503, "Not ready", "starting"))
        return await people.app(scope, receive, send)

    return app


def serve_front(settings: Settings, cfg: FrontConfig, host: str, port: int, keys: KeyRing | None = None,
                log: Callable[[str], None] = print) -> None:
    """Runs one front until signalled (the CLI's ``serve --nats``)."""
    import uvicorn

    try:
        front = Front(settings, cfg)
    except StoreError as exc:
        log(f"error: {exc}")
        raise SystemExit(2) from None
    log(f"qalqan front on http://{host}:{port}: stream {cfg.stream} in {cfg.parts} partitions at {cfg.url} "
        f"(record: {settings.db_url})")
    uvicorn.run(create_front_app(front, keys), host=host, port=port, log_level="warning", access_log=False,
                loop="uvloop", http="httptools", lifespan="on", timeout_graceful_shutdown=10)
