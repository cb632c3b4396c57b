"""HTTP API: ``POST /v1/events`` answers a money movement with its decision, a context event
with 202, bad input with 422 (application/problem+json).

Durability with speed: requests are decided one after another on the event loop, and answered
only after the group commit that holds them (at most ``max_delay`` later, or as soon as
``commit_every`` events are waiting). One commit serves every request of the group.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import msgspec
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..engine import Engine
from ..events import EventError, json_schema

PROBLEM = "application/problem+json"


def problem(status: int, title: str, detail: str, **extra: Any) -> Response:
    body = {"type": f"https://qalqan.dev/problems/{title.lower().replace(' ', '-')}", "title": title,
            "status": status, "detail": detail, **extra}
    return Response(msgspec.json.encode(body), status_code=status, media_type=PROBLEM)


class GroupCommit:
    """Answers waiters once the engine's buffered events are durable."""

    def __init__(self, engine: Engine, max_delay: float = 0.002) -> None:
        self.engine = engine
        self.max_delay = max_delay
        self.waiters: list[asyncio.Future[None]] = []
        self.scheduled = False

    async def durable(self) -> None:
        if self.engine.pending == 0 and not self.waiters:
            return
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        self.waiters.append(fut)
        if not self.scheduled:
            self.scheduled = True
            loop.call_later(self.max_delay, self.flush)
        await fut

    def flush(self) -> None:
        self.scheduled = False
        waiters, self.waiters = self.waiters, []
        try:
            self.engine.commit()
        except Exception as exc:  # every waiter of the group learns it was not stored
            for w in waiters:
                if not w.done():
                    w.set_exception(exc)
            return
        for w in waiters:
            if not w.done():
                w.set_result(None)


def create_app(engine: Engine) -> Starlette:
    committer = GroupCommit(engine)

    async def post_event(request: Request) -> Response:
        body = await request.body()
        try:
            outcome = engine.decide(body)
        except EventError as exc:
            return problem(422, "Invalid event", str(exc), field=exc.field, problem=exc.problem)
        try:
            await committer.durable()
        except Exception as exc:
            resp = problem(503, "Record unavailable", f"the event was not stored, send it again: {exc}")
            resp.headers["Retry-After"] = "1"
            return resp
        if outcome.decision_json is None:
            return JSONResponse({"event_id": outcome.event_id, "status": "accepted"}, status_code=202)
        return Response(outcome.decision_json, media_type="application/json")

    async def get_decision(request: Request) -> Response:
        event_id = request.path_params["event_id"]
        known, decision = engine.record.lookup(event_id)
        if not known:
            return problem(404, "Not found", f"no event {event_id!r} in the record")
        if decision is None:
            return problem(404, "Not found", f"event {event_id!r} is a context event: it has no decision")
        return Response(decision, media_type="application/json")

    async def schema(request: Request) -> Response:
        return JSONResponse(json_schema())

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok", "versions": engine.versions})

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        committer.flush()
        engine.close()

    return Starlette(
        routes=[
            Route("/v1/events", post_event, methods=["POST"]),
            Route("/v1/decisions/{event_id}", get_decision, methods=["GET"]),
            Route("/v1/schema", schema, methods=["GET"]),
            Route("/healthz", healthz, methods=["GET"]),
        ],
        lifespan=lifespan,
    )
