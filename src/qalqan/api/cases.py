"""HTTP handlers for the people's side: cases (the review queue), labels and the audit log.

The logic lives in cases.py, labels.py and audit.py; these handlers parse, scope by the caller's
organisation (``actor``), write the audit row, and answer. Changes that go through the engine
(labels, list entries) are answered only once durable: the server's group commit (``durable``).
Another organisation's case is answered exactly as a missing one: 404. A merchant sees of a
case's customer only its own payments (cases.detail), and what a caller puts in a query
reaches the audit log with any card, phone or account number or e-mail address redacted.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .. import audit, cases, labels
from ..audit import LOCAL, Actor
from ..engine import Engine
from ..events import EventError
from ..privacy import redact

PROBLEM = "application/problem+json"
Durable = Callable[[], Awaitable[None]]


def problem(status: int, title: str, detail: str, **extra: Any) -> Response:
    body = {"type": f"https://qalqan.dev/problems/{title.lower().replace(' ', '-')}", "title": title,
            "status": status, "detail": detail, **extra}
    return Response(msgspec.json.encode(body), status_code=status, media_type=PROBLEM)


def invalid(exc: EventError) -> Response:
    return problem(422, "Invalid request", str(exc), field=exc.field, problem=exc.problem)


def json(doc: Any, status: int = 200) -> Response:
    return Response(msgspec.json.encode(doc), status_code=status, media_type="application/json")


async def settled(durable: Durable) -> Response | None:
    """Waits for the group commit; a failed one is a 503 (nothing was kept: send it again)."""
    try:
        await durable()
    except Exception as exc:
        answer = problem(503, "Record unavailable", f"nothing was stored, send it again: {exc}")
        answer.headers["retry-after"] = "1"
        return answer
    return None


def actor_of(request: Request) -> Actor:
    """The caller: its API key (api/app.py puts it in the scope) or, with auth off, the local operator."""
    key = request.scope.get("qalqan.key")
    if key is None:
        return LOCAL
    return Actor(id=key.id, role=key.role, org=key.org, merchant=getattr(key, "merchant", None))


async def body_object(request: Request) -> dict[str, Any]:
    """The JSON object body ({} when empty); EventError naming ``$`` otherwise."""
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        doc = msgspec.json.decode(raw)
    except msgspec.DecodeError as exc:
        raise EventError("$", f"not valid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise EventError("$", "the body must be a JSON object")
    return doc


def query_int(request: Request, name: str, default: int, lo: int = 0, hi: int = 2**62) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise EventError(name, f"must be a whole number, got {raw!r}") from None
    if not lo <= value <= hi:
        raise EventError(name, f"must be {lo} to {hi}, got {value}")
    return value


def _text(doc: dict[str, Any], name: str, required: bool = False) -> Any:
    value = doc.get(name)
    if value is None:
        if required:
            raise EventError(name, "required field is missing")
        return None
    if not isinstance(value, str):
        raise EventError(name, f"expected a string, got {type(value).__name__}")
    return value


def by_method(get: Any, post: Any) -> Any:
    """One route per path, so that 405 answers list every method the path has (Allow)."""
    async def route(request: Request) -> Response:
        return await (get if request.method in ("GET", "HEAD") else post)(request)
    return route


def case_routes(engine: Engine, durable: Durable, policy: cases.CasePolicy | None = None) -> list[Route]:
    record: Any = engine.record
    policy = policy or cases.CasePolicy.from_env()

    def case_id(request: Request) -> int | None:
        raw = request.path_params["case_id"]
        return int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 18 else None

    def missing(raw: Any) -> Response:
        return problem(404, "Not found", f"no case {raw}")

    async def list_cases(request: Request) -> Response:
        actor = actor_of(request)
        try:
            state = request.query_params.get("state")
            assignee = request.query_params.get("assignee") or None
            limit = query_int(request, "limit", 100, 1, 1000)
            after = query_int(request, "after", 0)
            cases.sync(record, policy)
            found = cases.queue(record, actor, state, assignee, limit, after)
        except EventError as exc:
            return invalid(exc)
        audit.log(record, actor, "case.list", "cases", redact(str(request.query_params)))
        return json([msgspec.to_builtins(c) for c in found])

    async def get_case(request: Request) -> Response:
        actor, cid = actor_of(request), case_id(request)
        if cid is None:
            return missing(request.path_params["case_id"])
        cases.sync(record, policy)
        try:
            doc = cases.detail(record, actor, cid)
        except cases.CaseNotFound:
            return missing(cid)
        audit.log(record, actor, "case.read", f"case:{cid}", doc["case"]["event_id"])
        return json(doc)

    async def assign(request: Request) -> Response:
        actor, cid = actor_of(request), case_id(request)
        if cid is None:
            return missing(request.path_params["case_id"])
        if actor.role == "merchant":
            return problem(403, "Forbidden", "a merchant decides its payments; assignment is the analysts'")
        try:
            doc = await body_object(request)
            who = _text(doc, "assignee") or actor.id
            case = cases.assign(record, actor, cid, who)
        except cases.CaseNotFound:
            return missing(cid)
        except cases.CaseConflict as exc:
            return problem(409, "Conflict", str(exc))
        except EventError as exc:
            return invalid(exc)
        audit.log(record, actor, "case.assign", f"case:{cid}", who)
        return json(msgspec.to_builtins(case))

    async def decide(request: Request) -> Response:
        actor, cid = actor_of(request), case_id(request)
        if cid is None:
            return missing(request.path_params["case_id"])
        try:
            doc = await body_object(request)
            add_to = doc.get("add_to") or []
            if not isinstance(add_to, list) or not all(isinstance(a, str) for a in add_to):
                raise EventError("add_to", "expected a list of: counterparty, card, device")
            ttl = doc.get("ttl_s")
            pending = cases.decide(engine, actor, cid, _text(doc, "outcome", True), _text(doc, "note") or "",
                                   add_to, _text(doc, "list") or "internal", ttl, _text(doc, "ts"))
        except cases.CaseNotFound:
            return missing(cid)
        except cases.CaseConflict as exc:
            return problem(409, "Conflict", str(exc))
        except EventError as exc:
            return invalid(exc)
        if (down := await settled(durable)) is not None:
            return down
        try:
            case = cases.finish(record, pending)
        except cases.CaseConflict as exc:
            return problem(409, "Conflict", str(exc))
        listed = f" {pending.list_name}+{','.join(pending.listed)}" if pending.listed else ""
        audit.log(record, actor, "case.decide", f"case:{cid}", pending.outcome + listed)
        return json(msgspec.to_builtins(case))

    async def post_label(request: Request) -> Response:
        actor = actor_of(request)
        try:
            doc = await body_object(request)
            target = _text(doc, "event_id", True)
            label = _text(doc, "label", True)
            key = request.headers.get("idempotency-key")
            outcome = labels.add(engine, actor, target, label, _text(doc, "source"), _text(doc, "ts"),
                                 label_id=f"label:{actor.org}:{key}" if key else None)
        except EventError as exc:
            if exc.field == "event_id" and exc.problem.startswith("no "):
                return problem(404, "Not found", str(exc), field=exc.field)
            return invalid(exc)
        if (down := await settled(durable)) is not None:
            return down
        audit.log(record, actor, "label.add", f"event:{target}", labels.LABELS[label])
        return json({"label_id": outcome.event_id, "event_id": target, "label": labels.LABELS[label],
                     "duplicate": outcome.duplicate}, 200 if outcome.duplicate else 201)

    async def get_labels(request: Request) -> Response:
        actor = actor_of(request)
        try:
            found = labels.of(engine, actor.org, query_int(request, "after", 0), query_int(request, "limit", 1000, 1,
                                                                                           1000))
        except EventError as exc:
            return invalid(exc)
        return json(found)

    async def get_audit(request: Request) -> Response:
        actor = actor_of(request)
        try:
            rows = audit.entries(record, actor.org, query_int(request, "after", 0),
                                 query_int(request, "limit", 100, 1, 1000),
                                 request.query_params.get("actor"), request.query_params.get("target"))
        except EventError as exc:
            return invalid(exc)
        audit.log(record, actor, "audit.read", "audit", redact(str(request.query_params)))
        return json(rows)

    return [
        Route("/v1/cases", list_cases, methods=["GET"]),
        Route("/v1/cases/{case_id}", get_case, methods=["GET"]),
        Route("/v1/cases/{case_id}/assign", assign, methods=["POST"]),
        Route("/v1/cases/{case_id}/decide", decide, methods=["POST"]),
        Route("/v1/labels", by_method(get_labels, post_label), methods=["GET", "POST"]),
        Route("/v1/audit", get_audit, methods=["GET"]),
    ]
