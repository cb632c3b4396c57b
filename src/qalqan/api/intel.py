"""The intel feed over HTTP: ``GET /v1/intel/feed[?since=RFC3339]`` (docs/intel.md).

Another member pulls this bank's signed feed (the same document ``qalqan intel export`` writes)
with an auditor's or admin's key; the answer carries an ``ETag`` of its entries (not of the time of
signing), so a pull with ``If-None-Match`` of an unchanged feed is a 304 and costs no signature.
Each key may pull at most ``PULLS_PER_MINUTE`` times a minute (429 with ``Retry-After``). Every pull
lands in the audit log. A deployment without a member key or a consortium key has no feed: 404; nor
has any organisation but the default one (the deployment's own bank, whose member key signs).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .. import audit
from ..engine import Engine
from ..events import EventError
from ..intel import feed as feeds
from ..intel.exchange import etag, indicators, sign, to_us
from ..list_changes import check_time
from ..store.base import DEFAULT_ORG
from .cases import actor_of

PROBLEM = "application/problem+json"
PULLS_PER_MINUTE = 6


def _problem(status: int, title: str, detail: str, headers: dict[str, str] | None = None, **extra: Any) -> Response:
    body = {"type": f"https://qalqan.dev/problems/{title.lower().replace(' ', '-')}", "title": title,
            "status": status, "detail": detail, **extra}
    return Response(msgspec.json.encode(body), status_code=status, media_type=PROBLEM, headers=headers)


def intel_routes(engine: Engine) -> list[Route]:
    pulls: dict[str, list[float]] = {}  # key id → the times of its pulls in the last minute

    def limited(who: str) -> int:
        """Seconds until ``who`` may pull again (0: now), counting this pull if it may."""
        now = time.monotonic()
        recent = [t for t in pulls.get(who, ()) if now - t < 60]
        if len(recent) >= PULLS_PER_MINUTE:
            pulls[who] = recent
            return max(1, int(60 - (now - recent[0])) + 1)
        pulls[who] = [*recent, now]
        return 0

    async def get_feed(request: Request) -> Response:
        actor = actor_of(request)
        since = request.query_params.get("since")
        try:
            check_time("since", since)
            if since is not None:
                to_us(since)  # a time that matches the pattern but is no date (month 13) is refused here too
        except EventError as exc:
            return _problem(422, "Bad input", exc.problem, field="since")
        except (ValueError, OverflowError):
            return _problem(422, "Bad input", f"not a time: {since!r}", field="since")
        wait = limited(f"{actor.org}:{actor.id}")
        if wait:
            return _problem(429, "Too many requests", f"at most {PULLS_PER_MINUTE} pulls a minute",
                            headers={"retry-after": str(wait)})
        if actor.org != DEFAULT_ORG:  # the feed is the deployment's own bank's: another organisation has none
            return _problem(404, "Not found", "no intel feed for this organisation")
        if engine.tokenizers.default.consortium is None:
            return _problem(404, "Not found", "this deployment takes part in no exchange (QALQAN_CONSORTIUM_KEY)")
        try:
            member = feeds.load_member(engine.settings.home)
        except feeds.FeedError:
            return _problem(404, "Not found", "this deployment has no member key (`qalqan intel keygen NAME`)")
        entries, _ = await asyncio.to_thread(indicators, engine, since)
        tag = f'"{etag(member, entries, since)}"'
        audit.log(engine.record, actor, "intel.feed", f"since:{since or '-'}", tag)
        if tag in {t.strip() for t in request.headers.get("if-none-match", "").split(",")}:
            return Response(status_code=304, headers={"etag": tag})
        doc = sign(member, entries, since, f"{member.name}-{tag.strip(chr(34))}")
        return Response(msgspec.json.encode(doc), media_type="application/json",
                        headers={"etag": tag, "cache-control": "no-cache"})

    return [Route("/v1/intel/feed", get_feed, methods=["GET"])]


def openapi_paths(problem: dict[str, Any]) -> dict[str, Any]:
    """The intel feed's part of /openapi.json (api/openapi.py merges it)."""
    as_problem = {"content": {PROBLEM: {"schema": problem}}}
    return {"/v1/intel/feed": {"get": {
        "summary": "This bank's signed intel feed of consortium tokens (docs/intel.md)",
        "parameters": [
            {"name": "since", "in": "query", "required": False,
             "schema": {"type": "string", "format": "date-time"},
             "description": "RFC 3339: only indicators changed at or after this"},
            {"name": "If-None-Match", "in": "header", "required": False, "schema": {"type": "string"}}],
        "responses": {
            "200": {"description": "the signed feed", "headers": {"ETag": {"schema": {"type": "string"}}},
                    "content": {"application/json": {"schema": {"type": "object", "required": ["feed", "signature"]}}}},
            "304": {"description": "unchanged since the ETag given in If-None-Match"},
            "404": {"description": "this deployment has no feed (no member key or no consortium key)", **as_problem},
            "422": {"description": "since is not RFC 3339", **as_problem},
            "429": {"description": "too many pulls: see Retry-After", **as_problem}}}}}
