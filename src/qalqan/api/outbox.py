"""GET /v1/outbox: every outcome that changes what happens to a payment — holds (started, released,
rejected, replaced: 161-FZ art. 8, the client is told and asked to confirm), cases decided by a
person (``case_fraud``, ``case_legitimate``) and by the clock at their deadline
(``case_deadline_decline`` / ``_approve``). The same notices go out as signed webhooks (webhooks.py).

An integrator polls it with ``after`` = the last id it has handled. Each key reads the notices of its
own organisation's events only. The embedded API reads its engine's record, a scaled front the
shared one (stream/front_people.py): the same handler.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..events import us_to_rfc3339
from .cases import actor_of, problem


def outbox_routes(source: Any) -> list[Route]:
    """``source.record`` is read at each request (an engine swaps its record on recovery)."""

    async def outbox(request: Request) -> Response:
        try:
            after = int(request.query_params.get("after", "0"))
            if not 0 <= after < 2**63:
                raise ValueError
        except ValueError:
            return problem(422, "Invalid request", "after: must be a whole number from 0 to 2^63 - 1", field="after")
        rows = source.record.outbox(after, org=actor_of(request).org)
        return JSONResponse([
            {"id": r[0], "ts": us_to_rfc3339(r[1]), "customer_id": r[2], "event_id": r[3], "kind": r[4], "text": r[5]}
            for r in rows
        ])

    return [Route("/v1/outbox", outbox, methods=["GET"])]
