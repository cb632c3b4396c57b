"""HTTP handlers for holds (161-FZ art. 8): read a hold, and the client's answer to it.

One process keeps its holds in its engine's HoldBook (``EngineHolds``); in the scaled set-up the
worker of the hold's customer partition keeps them, and a front asks it over NATS
(stream/front_people.py). Both give these handlers a ``HoldDesk``, so that the paths, bodies,
status codes and audit rows are the same either way. A hold of another organisation is answered
exactly as a missing one: 404.
"""

from __future__ import annotations

from typing import Any, Protocol

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .. import audit
from ..engine import Engine
from ..events import EventError
from ..store.base import DEFAULT_ORG
from .cases import Durable, actor_of, problem

VERBS = ("confirm", "reject", "repeat")


class HoldDesk(Protocol):
    """What the hold endpoints need. ``answer`` returns once the answer is durable; it raises
    ``EventError`` for bad input or no hold (``problem`` "no hold …"), anything else when the
    answer could not be made durable (nothing is half-kept: send it again)."""

    @property
    def record(self) -> Any: ...

    async def held(self, event_id: str, org: str) -> bytes | None: ...

    async def answer(self, event_id: str, verb: str, by: Any, ts: Any, org: str) -> None: ...


class EngineHolds:
    """The holds of one process: its engine's HoldBook, made durable by its group commit."""

    def __init__(self, engine: Engine, durable: Durable) -> None:
        self.engine, self.durable = engine, durable

    @property
    def record(self) -> Any:
        return self.engine.record

    async def held(self, event_id: str, org: str = DEFAULT_ORG) -> bytes | None:
        h = self.engine.holds.of(event_id, org)  # the engine swaps its HoldBook on recovery: ask it each time
        return None if h is None else msgspec.json.encode(h)

    async def answer(self, event_id: str, verb: str, by: Any, ts: Any, org: str) -> None:
        if verb == "repeat":
            self.engine.repeat_hold(event_id, ts, org=org)
        else:
            self.engine.answer_hold(event_id, verb, by, ts, org=org)
        await self.durable()


def _unavailable(exc: Exception) -> Response:
    answer = problem(503, "Record unavailable", f"nothing was stored, send it again: {exc}")
    answer.headers["retry-after"] = "1"
    return answer


def hold_routes(desk: HoldDesk) -> list[Route]:
    def missing(event_id: str) -> Response:
        return problem(404, "Not found", f"no hold on event {event_id!r}")

    async def hold_body(event_id: str, org: str) -> Response:
        try:
            body = await desk.held(event_id, org)
        except Exception as exc:  # a front whose worker does not answer
            return _unavailable(exc)
        if body is None:
            return missing(event_id)
        return Response(body, media_type="application/json")

    async def get_hold(request: Request) -> Response:
        event_id, actor = request.path_params["event_id"], actor_of(request)
        answer = await hold_body(event_id, actor.org)
        if answer.status_code == 200:
            audit.log(desk.record, actor, "hold.read", f"event:{event_id}")
        return answer

    async def act_on_hold(request: Request) -> Response:
        """confirm | reject (by the client or the trusted person) | repeat; body: {"ts", "by"}."""
        event_id, verb = request.path_params["event_id"], request.path_params["verb"]
        actor = actor_of(request)
        raw = await request.body()
        try:
            args = msgspec.json.decode(raw) if raw.strip() else {}
            if not isinstance(args, dict):
                raise EventError("$", "the body must be a JSON object")
            ts, by = args.get("ts"), args.get("by", "client")
            if verb not in VERBS:
                return problem(404, "Not found", f"no action {verb!r}: use confirm, reject or repeat")
            await desk.answer(event_id, verb, by, ts, actor.org)
        except msgspec.DecodeError as exc:
            return problem(422, "Invalid request", f"not valid JSON: {exc}", field="$")
        except EventError as exc:
            status = 404 if exc.problem.startswith("no hold") else 422
            return problem(status, "Invalid request", str(exc), field=exc.field, problem=exc.problem)
        except Exception as exc:  # not durable: the engine (or the worker) kept nothing of it
            return _unavailable(exc)
        audit.log(desk.record, actor, f"hold.{verb}", f"event:{event_id}", by if verb != "repeat" else "")
        return await hold_body(event_id, actor.org)

    return [
        Route("/v1/holds/{event_id}", get_hold, methods=["GET"]),
        Route("/v1/holds/{event_id}/{verb}", act_on_hold, methods=["POST"]),
    ]
