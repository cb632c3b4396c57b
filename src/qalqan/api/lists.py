"""HTTP handlers for lists: read, add, remove, and bulk import with a TTL.

Each change is an `intel` event through the engine (list_changes.py), answered once durable;
values are tokenised at the boundary as integrators' intel values are, and answers show tokens.
Reads and changes are scoped by the caller's organisation and written to the audit log.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .. import audit, list_changes
from ..engine import Engine
from ..events import EventError
from .cases import Durable, actor_of, body_object, by_method, invalid, json, problem, query_int, settled


def _ttl(request: Request) -> float | None:
    raw = request.query_params.get("ttl_s")
    if raw is None:
        return None
    try:
        return float(raw)
    except ValueError:
        raise EventError("ttl_s", f"must be a number of seconds, got {raw!r}") from None


def list_routes(engine: Engine, durable: Durable) -> list[Route]:
    record: Any = engine.record

    def known(name: str) -> Response | None:
        if name not in list_changes.LISTS:
            return problem(404, "Not found", f"no list {name!r}; the lists are {list(list_changes.LISTS)}")
        return None

    async def names(request: Request) -> Response:
        return json({"lists": list(list_changes.LISTS), "entities": list(list_changes.ENTITIES)})

    async def read(request: Request) -> Response:
        actor, name = actor_of(request), request.path_params["list"]
        if (bad := known(name)) is not None:
            return bad
        q = request.query_params
        try:
            found = list_changes.entries(engine, actor, name, q.get("entity"), q.get("value"), q.get("token"),
                                         query_int(request, "after", 0), query_int(request, "limit", 1000, 1, 10000))
        except EventError as exc:
            return invalid(exc)
        audit.log(record, actor, "list.read", f"list:{name}", "lookup" if q.get("value") or q.get("token") else "")
        return json(found)

    async def add(request: Request) -> Response:
        actor, name = actor_of(request), request.path_params["list"]
        if (bad := known(name)) is not None:
            return bad
        key = request.headers.get("idempotency-key")
        try:
            doc = await body_object(request)
            unknown = set(doc) - {"entity", "value", "ttl_s", "expires_at", "ts"}
            if unknown:
                raise EventError(sorted(unknown)[0], "unknown field: expected entity, value, ttl_s, expires_at, ts")
            outcome = list_changes.change(engine, actor, name, doc.get("entity"), doc.get("value"), "add",
                                          ts=doc.get("ts"), ttl_s=doc.get("ttl_s"), expires_at=doc.get("expires_at"),
                                          event_id=f"list:{actor.org}:{key}" if key else None)
        except EventError as exc:
            return invalid(exc)
        if (down := await settled(durable)) is not None:
            return down
        token = engine.tokenizers.of(actor.org).token(doc["value"])
        audit.log(record, actor, "list.add", f"list:{name}", f"{doc['entity']}:{token}")
        found = list_changes.entries(engine, actor, name, doc["entity"], token=token)
        body = {"event_id": outcome.event_id, "duplicate": outcome.duplicate,
                "entry": found[0] if found else None}
        return json(body, 200 if outcome.duplicate else 201)

    async def bulk(request: Request) -> Response:
        actor, name = actor_of(request), request.path_params["list"]
        if (bad := known(name)) is not None:
            return bad
        try:
            items = list_changes.parse_import(await request.body(), request.headers.get("content-type", ""))
            outcomes = list_changes.import_entries(engine, actor, name, items, ts=request.query_params.get("ts"),
                                                   ttl_s=_ttl(request), key=request.headers.get("idempotency-key"))
        except EventError as exc:
            return invalid(exc)
        if (down := await settled(durable)) is not None:
            return down
        added = sum(1 for o in outcomes if not o.duplicate)
        audit.log(record, actor, "list.import", f"list:{name}", f"{len(outcomes)} entries, {added} new")
        return json({"imported": len(outcomes), "new": added, "event_ids": [o.event_id for o in outcomes]},
                    201 if added else 200)

    async def remove(request: Request) -> Response:
        actor, p = actor_of(request), request.path_params
        name, entity, value = p["list"], p["entity"], p["value"]
        if (bad := known(name)) is not None:
            return bad
        tokenised = request.query_params.get("token") in ("1", "true")
        token = value if tokenised else engine.tokenizers.of(actor.org).token(value)
        try:
            if entity not in list_changes.ENTITIES:
                raise EventError("entity", f"unknown entity {entity!r}; expected one of {list(list_changes.ENTITIES)}")
            if not list_changes.entries(engine, actor, name, entity, token=token):
                return problem(404, "Not found", f"no such entry on list {name!r}")
            outcome = list_changes.change(engine, actor, name, entity, token, "remove",
                                          ts=request.query_params.get("ts"), tokenised=True)
        except EventError as exc:
            return invalid(exc)
        if (down := await settled(durable)) is not None:
            return down
        audit.log(record, actor, "list.remove", f"list:{name}", f"{entity}:{token}")
        return json({"event_id": outcome.event_id, "removed": {"list": name, "entity": entity, "value": token}})

    return [
        Route("/v1/lists", names, methods=["GET"]),
        Route("/v1/lists/{list}", by_method(read, add), methods=["GET", "POST"]),
        Route("/v1/lists/{list}/import", bulk, methods=["POST"]),
        Route("/v1/lists/{list}/{entity}/{value}", remove, methods=["DELETE"]),
    ]
