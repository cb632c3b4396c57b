"""HTTP API: ``POST /v1/events`` answers a money movement with its decision, a context event
with 202, bad input with 422 (application/problem+json).

Durability with speed: requests are decided one after another on the event loop, and answered
only after the group commit that holds them. One commit serves every request of the group: the
busier the server, the larger the groups, and the cheaper each answer's share of the write.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Any

import msgspec
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from .. import audit, webhooks
from ..case_deadlines import Sweeper
from ..cases import CasePolicy
from ..console.app import console_routes
from ..engine import Engine, Outcome
from ..events import EventConflict, EventError, json_schema
from ..store.base import DEFAULT_ORG, RecordUnavailable
from .admission import Admission
from .asgi import BodyRefused, Disconnected, check_body, read_body
from .availability import RETRY_FIRST_S, RETRY_MAX_S, Availability
from .cases import actor_of, case_routes
from .holds import EngineHolds, hold_routes
from .intel import intel_routes
from .keys import OPEN_PATHS, OPEN_PREFIXES, KeyRing, allowed
from .lists import list_routes
from .metrics import Metrics
from .openapi import docs_page, spec
from .outbox import outbox_routes
from .receipts import receipt_routes

PROBLEM = "application/problem+json"
# How often the server's clock fires due deadlines (seconds).
TICK_S = 0.5
# An idle server asks its record this often whether it answers (seconds): /readyz tells the truth
# even when no request has tried the record lately.
PROBE_S = 1.0
# Always answered, even while the record is unavailable: they read nothing of it.
ALWAYS_OPEN = frozenset({"/healthz", "/readyz", "/metrics", "/openapi.json", "/docs", "/v1/schema"})
log = logging.getLogger("qalqan.api")
# A batch gives the event loop a turn every this many events: health checks and other requests
# are answered while a long batch is decided.
YIELD_EVERY = 8


def _problem_parts(status: int, title: str, detail: str, **extra: Any) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
    body = {"type": f"https://qalqan.dev/problems/{title.lower().replace(' ', '-')}", "title": title,
            "status": status, "detail": detail, **extra}
    return status, msgspec.json.encode(body), [(b"content-type", PROBLEM.encode())]


def problem(status: int, title: str, detail: str, **extra: Any) -> Response:
    status, payload, _ = _problem_parts(status, title, detail, **extra)
    return Response(payload, status_code=status, media_type=PROBLEM)


class GroupCommit:
    """Answers requests once their events are durable, one write for the whole group.

    The write runs on a writer thread (SQLite and psycopg release the GIL while they work), so
    the event loop keeps deciding the next group meanwhile. Groups are written one at a time, in
    order. If a write fails, every waiting request learns it at once (503), the engine drops what
    it decided but did not store, and the server closes its doors until the record answers again
    and the state is rebuilt from it (api/availability.py): nothing unacknowledged is half-kept,
    nothing waits on a dead backend, and no restart is needed.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        engine.auto_commit = False
        self.availability = Availability()
        self.waiters: list[asyncio.Future[None]] = []
        self.scheduled: asyncio.Handle | None = None
        self.writing: asyncio.Future[None] | None = None
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="qalqan-writer")
        # Failed writes so far: a batch that gives the loop a turn learns by it that the events it
        # decided before the turn were dropped (post_batch).
        self.failures = 0
        self.last_ok = time.monotonic()  # the record's last answer: an idle server probes after PROBE_S

    async def durable(self) -> None:
        if not self.availability.ready:
            # Closed while this request was being decided: what it buffered is dropped with the rest.
            exc = RecordUnavailable(self.availability.cause or "the record is unavailable")
            if self.engine.pending or self.engine.record.buffered():
                self.fail(exc)
            raise exc
        if self.engine.pending == 0 and self.writing is None and not self.waiters:
            return
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        self.waiters.append(fut)
        # No timer: a write starts as soon as none is in flight (after the requests already
        # read in this turn of the loop have been decided); while it runs, the next group forms.
        if self.scheduled is None and self.writing is None:
            self.scheduled = loop.call_soon(self._start)
        await fut

    def _start(self) -> None:
        if self.scheduled is not None:
            self.scheduled.cancel()
            self.scheduled = None
        if self.writing is not None or not self.waiters:
            return  # the write in flight will start the next one when it ends
        loop = asyncio.get_running_loop()
        batch, n = self.engine.detach()
        waiters, self.waiters = self.waiters, []
        self.writing = loop.run_in_executor(self.pool, self.engine.record.write, batch)
        self.writing.add_done_callback(lambda f: self._done(f, waiters, n))

    def _done(self, fut: asyncio.Future[None], waiters: list[asyncio.Future[None]], n: int) -> None:
        self.writing = None
        exc = fut.exception()
        if exc is not None:
            for w in waiters:
                if not w.done():
                    w.set_exception(exc)
            self.fail(exc)
            return
        self.last_ok = time.monotonic()
        self.engine.written(n)
        for w in waiters:
            if not w.done():
                w.set_result(None)
        if self.waiters:
            self._start()

    def fail(self, exc: BaseException) -> None:
        """The record refused or lost a write: every waiting request fails now (503) and the engine
        forgets what it buffered. A record that answered (it refused the data: an old id sent again)
        has the state rebuilt from it at once, as before; one that is gone closes the doors until it
        is back and the state is rebuilt (``_recover``)."""
        self.failures += 1
        waiters, self.waiters = self.waiters, []
        for w in waiters:
            if not w.done():
                w.set_exception(exc)
        self.engine.forget(exc)
        if not isinstance(exc, RecordUnavailable) and self.availability.ready:
            try:
                self.engine.rebuild()
                return
            except Exception as again:  # it does not answer now either: the way back below
                exc = again
        self.availability.lost(exc, rebuild=True, recover=self._recovery)

    def lost(self, exc: BaseException) -> None:
        """A read found the record unavailable: nothing of the state is in doubt, the doors close
        until the record answers."""
        self.availability.lost(exc, rebuild=False, recover=self._recovery)

    def _recovery(self) -> asyncio.Task[None]:
        return asyncio.get_running_loop().create_task(self._recover())

    async def _recover(self) -> None:
        """On the writer thread (after any write in flight): the state rebuilt from the record, or
        the record asked whether it answers; again, waiting longer each time, until it works."""
        loop = asyncio.get_running_loop()
        delay = RETRY_FIRST_S
        while not self.availability.ready:
            rebuild = self.availability.rebuild
            try:
                await loop.run_in_executor(self.pool, self.engine.rebuild if rebuild else self.engine.record.ping)
            except Exception as exc:
                self.availability.cause = " ".join(str(exc).split()) or exc.__class__.__name__
                await asyncio.sleep(delay)
                delay = min(2 * delay, RETRY_MAX_S)
                continue
            if rebuild or not self.availability.rebuild:  # no write failed meanwhile
                self.last_ok = time.monotonic()
                self.availability.back()

    async def probe(self) -> None:
        """An idle server asks its record whether it answers (on the writer thread)."""
        if not self.availability.ready or self.writing is not None or self.waiters \
                or time.monotonic() - self.last_ok < PROBE_S:
            return
        try:
            await asyncio.get_running_loop().run_in_executor(self.pool, self.engine.record.ping)
        except Exception as exc:
            self.lost(exc)
            return
        self.last_ok = time.monotonic()
        state = self.engine.state
        if state is not None and state.failure is not None and not self.engine.pending:
            state.on_written(self.engine)  # Redis failed at the last commit: written whole once it is back

    async def drain(self) -> None:
        await self.availability.stop()
        if not self.availability.ready:
            abort = getattr(self.engine.record, "abort", None)
            if abort is not None:
                abort()  # a rebuild waiting on a dead server must not hold the shutdown
        while self.writing is not None or self.waiters:
            if self.writing is None:
                self._start()
            if self.writing is not None:
                await asyncio.wait([self.writing])
        self.pool.shutdown()


_JSON = [(b"content-type", b"application/json")]


def create_app(engine: Engine, keys: KeyRing | None = None) -> Any:
    """``keys``: when given, every request but the open ones needs `Authorization: Bearer <key>`
    and a role that may use the endpoint (api/keys.py)."""
    committer = GroupCommit(engine)
    availability = committer.availability
    # A live server: deadlines run on its clock (fired by ``ticks`` without waiting for an event),
    # and an event's ts may not run ahead of it (engine.py, _clock_for).
    engine.use_clock(engine.settings.server_clock())
    sweeper = Sweeper(engine, lambda: engine.clock(), CasePolicy(engine.settings.deadlines))  # type: ignore[misc]

    metrics = Metrics()

    max_body, max_batch = engine.settings.max_body, engine.settings.max_batch
    admission = Admission(engine.settings.max_inflight)

    def decide_one(raw: bytes, org: str = DEFAULT_ORG, who: audit.Actor = audit.LOCAL) -> Outcome:
        try:
            outcome = engine.decide(raw, org)
        except RecordUnavailable as exc:  # a lookup found the record gone: nothing of this event is kept
            committer.lost(exc)
            raise
        except EventConflict as exc:  # someone sent another event under a used id: people look at that
            metrics.rejected += 1
            audit.log(engine.record, who, "event.conflict", f"event:{exc.event_id}", exc.problem)
            raise
        except EventError:
            metrics.rejected += 1
            raise
        if outcome.decision is not None:
            if not outcome.duplicate:
                metrics.decided(outcome.decision)
        else:
            metrics.context += 1
        return outcome

    def unavailable(exc: Exception) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
        status, payload, headers = _problem_parts(
            503, "Record unavailable", f"nothing was stored, send it again: {exc}")
        return status, payload, [*headers, (b"retry-after", b"1")]

    def refused(exc: EventError, at: str = "") -> dict[str, Any]:
        """An event refused by the engine: 422 naming the field, or the status the error carries
        (409 for an event id in use, 404 for a hold it does not have)."""
        return {"title": "Conflict" if exc.status == 409 else "Invalid event", "status": exc.status,
                "detail": f"{at}{exc}", "field": exc.field, "problem": exc.problem}

    def failed(exc: Exception, at: str = "") -> dict[str, Any]:
        """An unexpected error deciding one event: that event is not decided (500), the others are."""
        log.error("deciding an event failed: %s%s: %s", at, exc.__class__.__name__, exc, exc_info=exc)
        return {"title": "Internal error", "status": 500, "field": "$", "problem": "not decided",
                "detail": f"{at}the event was not decided ({exc.__class__.__name__}); send it again"}

    async def post_batch(body: bytes, org: str = DEFAULT_ORG,
                         who: audit.Actor = audit.LOCAL) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
        """A JSON array of events: each is decided (or rejected) on its own, in order; the answer
        comes once all of them are durable. Too many events: refused whole (413), nothing decided."""
        try:
            items = msgspec.json.decode(body, type=list[msgspec.Raw])
        except (msgspec.DecodeError, ValueError, RecursionError) as exc:
            return _problem_parts(422, "Invalid batch", f"not a JSON array of events: {exc}", field="$",
                                  problem="not a JSON array")
        if len(items) > max_batch:
            return _problem_parts(413, "Batch too large", f"$: the batch holds {len(items)} events, at most "
                                  f"{max_batch} are taken at once (QALQAN_MAX_BATCH): send it in parts",
                                  field="$", problem=f"more than {max_batch} events")
        failures = committer.failures
        results: list[dict[str, Any]] = []
        for i, raw in enumerate(items):
            if i and i % YIELD_EVERY == 0:
                await asyncio.sleep(0)  # health checks and other requests get their turn
                if committer.failures != failures:
                    # A write failed meanwhile: its recovery dropped the events decided so far
                    # (buffered, not yet durable). Nothing of the batch is kept: it is sent again whole.
                    return unavailable(RuntimeError("the record refused a write while the batch was decided"))
            try:
                o = decide_one(bytes(raw), org, who)
            except RecordUnavailable as exc:  # the events decided so far are dropped: the batch is sent again whole
                committer.fail(exc)
                return unavailable(exc)
            except EventError as exc:
                results.append({"status": "rejected", "error": refused(exc, f"[{i}] ")})
                continue
            except Exception as exc:  # not this caller's fault; the other events are decided
                results.append({"status": "rejected", "error": failed(exc, f"[{i}] ")})
                continue
            if o.decision_json is None:
                results.append({"event_id": o.event_id, "status": "accepted"})
            else:
                results.append({"event_id": o.event_id, "status": "decided", "decision": msgspec.Raw(o.decision_json)})
        try:
            await committer.durable()
        except Exception as exc:
            return unavailable(exc)
        return 200, msgspec.json.encode(results), _JSON

    async def post_event(body: bytes, org: str = DEFAULT_ORG,
                         who: audit.Actor = audit.LOCAL) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
        """One event, or a batch (a JSON array). A body that is not UTF-8 or nests too deep is
        refused whole (422, field ``$``) before anything of it is decoded."""
        try:
            check_body(body)
        except BodyRefused as exc:
            return _problem_parts(exc.status, exc.title, exc.detail, field=exc.field, problem=exc.problem)
        if body.lstrip()[:1] == b"[":
            return await post_batch(body, org, who)
        try:
            outcome = decide_one(body, org, who)
        except RecordUnavailable as exc:
            return unavailable(exc)
        except EventError as exc:
            return _problem_parts(**refused(exc))
        except Exception as exc:
            return _problem_parts(**failed(exc))
        try:
            await committer.durable()
        except Exception as exc:
            return unavailable(exc)
        if outcome.decision_json is None:
            return 202, msgspec.json.encode({"event_id": outcome.event_id, "status": "accepted"}), _JSON
        return 200, outcome.decision_json, _JSON

    async def events(scope: dict[str, Any], receive: Any) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
        """POST /v1/events: the body is read no further than QALQAN_MAX_BODY (413 past it)."""
        key = scope.get("qalqan.key")
        org = DEFAULT_ORG if key is None else key.org
        who = audit.LOCAL if key is None else audit.Actor(id=key.id, role=key.role, org=key.org)
        try:
            body = await read_body(receive, max_body, scope)
        except BodyRefused as exc:
            status, payload, headers = _problem_parts(exc.status, exc.title, exc.detail, field=exc.field,
                                                      problem=exc.problem)
            return status, payload, [*headers, *exc.headers]
        return await post_event(body, org, who)

    async def get_decision(request: Request) -> Response:
        event_id, actor = request.path_params["event_id"], actor_of(request)
        row = engine.record.event_in(actor.org, event_id)  # another organisation's is "not found"
        if row is None:
            return problem(404, "Not found", f"no event {event_id!r} in the record")
        if row.decision is None:
            return problem(404, "Not found", f"event {event_id!r} is a context event: it has no decision")
        audit.log(engine.record, actor, "decision.read", f"event:{event_id}")
        return Response(row.decision, media_type="application/json")

    async def schema(request: Request) -> Response:
        return JSONResponse(json_schema())

    async def openapi(request: Request) -> Response:
        return JSONResponse(spec(engine.versions["rules"], auth=keys is not None))

    async def docs(request: Request) -> Response:
        return HTMLResponse(docs_page(spec(engine.versions["rules"], auth=keys is not None)))

    async def prometheus(request: Request) -> Response:
        return PlainTextResponse(metrics.render() + admission.render() + availability.render(),
                                 media_type="text/plain; version=0.0.4")

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok", "versions": engine.versions})

    async def readyz(request: Request) -> Response:
        """Ready: decisions are taken now. Read from the server's own state, never from the record
        (a frozen record must not freeze the probe): api/availability.py keeps it true."""
        if not availability.ready:
            return Response(msgspec.json.encode({
                "type": "https://qalqan.dev/problems/not-ready", "title": "Not ready", "status": 503,
                "detail": f"the record is unavailable: {availability.cause}"}),
                status_code=503, media_type=PROBLEM, headers={"retry-after": "1"})
        return JSONResponse({"status": "ready"})

    async def record_unavailable(request: Request, exc: Exception) -> Response:
        """A page or an answer that found the record gone: 503, and the doors close until it is back."""
        if isinstance(exc, RecordUnavailable) and availability.ready:
            committer.lost(exc)
        return Response(msgspec.json.encode({
            "type": "https://qalqan.dev/problems/record-unavailable", "title": "Record unavailable",
            "status": 503, "detail": f"the record is unavailable, nothing was changed; try again: {exc}"}),
            status_code=503, media_type=PROBLEM, headers={"retry-after": "1"})

    def reload() -> None:
        """SIGHUP: recompile the rule packs and swap them in between two requests; a bad pack
        leaves the running set in place."""
        try:
            version = engine.reload_rules()
            log.warning("rules reloaded: version %s", version)
        except Exception as exc:  # the old rules keep running
            log.error("rules not reloaded: %s", exc)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        with contextlib.suppress(NotImplementedError, RuntimeError):
            asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, reload)
        ticker = asyncio.create_task(ticks())
        hooks = await webhooks.start(engine, engine.settings.webhook_url, engine.settings.webhook_secret)
        yield
        ticker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await ticker
        await webhooks.stop(hooks)
        await committer.drain()
        if availability.ready:
            engine.close()
        else:  # nothing acknowledged is waiting (answers wait for the record): nothing to write
            with contextlib.suppress(Exception):
                engine.close(write=False)

    async def ticks() -> None:
        """Holds', cooling-offs' and cases' deadlines fire on the server's clock, whether or not
        events come (a case's after its hold's: case_deadlines.py)."""
        while True:
            await asyncio.sleep(TICK_S)
            if not availability.ready:
                continue  # the way back is on (api/availability.py); deadlines fire once it is done
            await committer.probe()
            try:
                if engine.tick():
                    await committer.durable()
                await asyncio.to_thread(sweeper.run)
            except RecordUnavailable:
                pass  # the doors are closed: the notices are rebuilt and fired again once it is back
            except Exception as exc:  # the notices are rebuilt and fired again later
                log.error("deadlines not written: %s", exc)

    async def post_event_route(request: Request) -> Response:
        try:
            status, payload, headers = await events(request.scope, request.receive)
        except Disconnected:
            return Response(status_code=400)  # nobody reads it
        return Response(payload, status_code=status, headers={k.decode(): v.decode() for k, v in headers})

    routes = Starlette(
        routes=[
            Route("/v1/events", post_event_route, methods=["POST"]),
            Route("/v1/decisions/{event_id}", get_decision, methods=["GET"]),
            *hold_routes(EngineHolds(engine, committer.durable)),
            *outbox_routes(engine),
            Route("/v1/schema", schema, methods=["GET"]),
            Route("/openapi.json", openapi, methods=["GET"]),
            Route("/docs", docs, methods=["GET"]),
            Route("/metrics", prometheus, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
            Route("/healthz", healthz, methods=["GET"]),  # reached only by another method: 405
            *receipt_routes(engine),
            *intel_routes(engine),
            *console_routes(engine, committer.durable),
            *case_routes(engine, committer.durable),
            *list_routes(engine, committer.durable),
        ],
        lifespan=lifespan,
        exception_handlers={RecordUnavailable: record_unavailable},
    )

    async def deny(send: Any, status: int, detail: str) -> None:
        _, payload, headers = _problem_parts(status, "Unauthorized" if status == 401 else "Forbidden", detail)
        if status == 401:
            headers = [*headers, (b"www-authenticate", b'Bearer realm="qalqan"')]
        await send({"type": "http.response.start", "status": status,
                    "headers": [*headers, (b"content-length", str(len(payload)).encode())]})
        await send({"type": "http.response.body", "body": payload})

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if keys is not None and scope["type"] == "http" and scope["path"] not in OPEN_PATHS \
                and not scope["path"].startswith(OPEN_PREFIXES):
            auth = next((v for k, v in scope["headers"] if k == b"authorization"), None)
            key = keys.check(auth)
            if key is None:
                return await deny(send, 401, "a valid API key is needed: Authorization: Bearer <key>")
            if not allowed(key.role, scope["method"], scope["path"]):
                return await deny(send, 403, f"role {key.role!r} may not {scope['method']} {scope['path']}")
            scope["qalqan.key"] = key  # whose request: its organisation scopes every row it reads
        await serve(scope, receive, send)

    async def closed(send: Any) -> None:
        _, payload, headers = _problem_parts(
            503, "Record unavailable", f"the record is unavailable, nothing was read or stored; send it again: "
            f"{availability.cause}")
        await send({"type": "http.response.start", "status": 503,
                    "headers": [*headers, (b"retry-after", str(availability.retry_after()).encode()),
                                (b"content-length", str(len(payload)).encode())]})
        await send({"type": "http.response.body", "body": payload})

    async def serve(scope: dict[str, Any], receive: Any, send: Any) -> None:
        """The hot endpoint as plain ASGI (the framework's request objects cost more than a
        decision); everything else goes through Starlette's routing. While the record is
        unavailable, everything that reads or writes it is answered 503 at once, unread."""
        if scope["type"] == "http" and not availability.ready and scope["path"] not in ALWAYS_OPEN:
            return await closed(send)
        if scope["type"] == "http" and scope["path"] == "/v1/events" and scope["method"] == "POST":
            if not admission.enter():
                return await admission.refuse(send)
            try:
                status, payload, headers = await events(scope, receive)
            except Disconnected:
                return  # the client left before its body was whole: nothing of it is decided
            finally:
                admission.leave()
            await send({"type": "http.response.start", "status": status,
                        "headers": [*headers, (b"content-length", str(len(payload)).encode())]})
            await send({"type": "http.response.body", "body": payload})
            return
        if scope["type"] == "http" and scope["path"] == "/healthz" and scope["method"] in ("GET", "HEAD"):
            health = msgspec.json.encode({"status": "ok", "versions": engine.versions})
            await send({"type": "http.response.start", "status": 200,
                        "headers": [*_JSON, (b"content-length", str(len(health)).encode())]})
            await send({"type": "http.response.body", "body": health})
            return
        await routes(scope, receive, send)

    return app
