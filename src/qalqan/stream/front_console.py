"""The analysts' console and receipts on a scaled front, with their own handlers (console/, api/receipts.py).

``FrontEngine`` gives them what they use of an ``Engine`` on a front:

- ``record``, ``tokenizers``, ``decide_event``: ``FrontPeople``'s (front_people.py): reads on the
  front's connection to the shared record; a person's change is an event sent to its worker(s);
- ``settings``; ``rules`` and ``feature_set`` loaded from the settings as ``Engine`` loads them (the
  front has the workers' QALQAN_RULES …): the case page names the rules behind a case's reasons and
  recomputes its features point-in-time from the record, as in one process;
- ``holds``: a receipt for a held payment needs its hold (released?). Before the receipt handler
  runs, the front asks the hold's worker for it (``FrontHolds.held``); ``holds.of`` gives that
  request's answer.

``FrontConsole`` is the console with two changes of source, not of logic: its holds page lists the
open holds of every partition's worker (request/reply on ``<stream>.holds.<p>.open``, all partitions
at once), and a hold's answer goes through ``FrontHolds`` (the worker of the hold checks it). A
worker that does not answer within ``--answer-timeout`` gives a 503 page, never a wait without end.
The console's sessions stay the process's own (console/sessions.py): a person logs in to the front
they use (a load balancer keeps a console user on one front, or they log in again).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from contextvars import ContextVar
from html import escape
from typing import TYPE_CHECKING, Any

import msgspec
from nats.errors import NoRespondersError
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Mount, Route

from ..api.cases import actor_of, problem
from ..api.receipts import receipt_routes
from ..console.app import HEADERS, Console
from ..console.html import page
from ..console.work import Work
from ..engine import Engine, Outcome
from ..events import Event
from ..features import definitions
from ..holds import HoldState
from ..store.base import DEFAULT_ORG
from .front_people import FrontHolds, NoAnswer
from .worker import holds_list_subject

if TYPE_CHECKING:
    from .front_people import FrontPeople

# The hold a receipt request asked its worker for (each request runs in a context of its own).
_held: ContextVar[Mapping[str, HoldState] | None] = ContextVar("qalqan_front_held", default=None)
_decode_holds = msgspec.json.Decoder(dict[str, HoldState]).decode
_decode_hold = msgspec.json.Decoder(HoldState).decode


class _RequestHolds:
    """``engine.holds`` for the receipts: the one hold this request fetched."""

    def of(self, event_id: str, org: str) -> HoldState | None:
        h = (_held.get() or {}).get(event_id)
        return h if h is not None and h.org == org else None


class FrontEngine:
    """What the console and the receipts use of an Engine, on a front."""

    def __init__(self, people: FrontPeople) -> None:
        self.people = people
        self.settings = people.front.settings
        self.tokenizers = people.tokenizers
        self.feature_set = definitions.load()
        self.rules = Engine.load_rules(self)  # type: ignore[arg-type]  # the engine's own loading: same packs
        self.holds = _RequestHolds()

    @property
    def record(self) -> Any:
        return self.people.record

    def decide_event(self, event: Event, t0: int | None = None, protected: bool = False,
                     org: str = DEFAULT_ORG) -> Outcome:
        return self.people.decide_event(event, t0, protected, org)

    def now_ts(self) -> str:
        return self.people.now_ts()


class FrontConsole(Console):
    """The console on a front: holds from the workers, answers through ``FrontHolds``."""

    def __init__(self, engine: FrontEngine, desk: FrontHolds) -> None:
        people = engine.people
        super().__init__(engine, people.durable)  # type: ignore[arg-type]
        self.work = Work(engine, people.durable, desk)  # type: ignore[arg-type]
        self.people = people

    async def all_holds(self) -> Mapping[str, HoldState]:
        front = self.people.front
        cfg = front.cfg

        async def one(part: int) -> dict[str, HoldState]:
            try:
                reply = await front.nc.request(holds_list_subject(cfg.stream, part), b"", timeout=cfg.answer_timeout_s)
            except (NoRespondersError, TimeoutError) as exc:
                raise NoAnswer(f"the worker of partition {part} does not answer ({exc.__class__.__name__}): "
                               "its holds cannot be shown; reload in a moment") from None
            return _decode_holds(reply.data)

        found: dict[str, HoldState] = {}
        for holds in await asyncio.gather(*(one(p) for p in range(cfg.parts))):
            found.update(holds)
        return found


def _with_hold(endpoint: Callable[[Request], Awaitable[Response]],
               desk: FrontHolds) -> Callable[[Request], Awaitable[Response]]:
    """The receipt handler, after the front has asked the event's worker for its hold (if it was held)."""

    async def receipt(request: Request) -> Response:
        event_id = request.path_params["event_id"]
        raw = await desk.held(event_id, actor_of(request).org) if event_id != "verify" else None
        _held.set({} if raw is None else {event_id: _decode_hold(raw)})
        return await endpoint(request)

    return receipt


def console_and_receipts(people: FrontPeople, desk: FrontHolds) -> list[BaseRoute]:
    """The console under ``/console`` and the receipts' routes, for the front's people's app."""
    engine = FrontEngine(people)
    routes: list[BaseRoute] = []
    for r in receipt_routes(engine):  # type: ignore[arg-type]
        if r.path == "/v1/receipts/{event_id}":
            r = Route(r.path, _with_hold(r.endpoint, desk), methods=sorted(r.methods or ()))
        routes.append(r)
    return [*routes, Mount("/console", routes=FrontConsole(engine, desk).routes())]


async def no_answer(request: Request, exc: Exception) -> Response:
    """A worker did not answer in time: 503, as a page in the console, as a problem elsewhere."""
    if request.url.path.startswith("/console"):
        body = page("Unavailable", f'<p class="error" role="alert">{escape(str(exc))}</p>', None)
        return HTMLResponse(body, status_code=503, headers={**HEADERS, "retry-after": "1"})
    answer = problem(503, "Unavailable", str(exc))
    answer.headers["retry-after"] = "1"
    return answer

