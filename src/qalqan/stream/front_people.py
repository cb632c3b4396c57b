"""The people's side of the API on a scaled front: holds, cases, labels, the audit log and lists.

The handlers are the embedded API's own (api/holds.py, api/cases.py, api/lists.py). ``FrontPeople``
gives them what they use of an ``Engine``, over the stream and the shared record:

- ``record``: a connection of this front's own to the shared PostgreSQL record, for reads, cases
  and audit rows. These handlers use it on the event loop, as the embedded API does; the hot paths
  (``POST /v1/events``, ``GET /v1/decisions``) keep reading on the front's record thread.
- ``tokenizers``: every organisation's tokenizer, from the key every worker has (tenancy.py).
- ``decide_event`` and ``durable``: an event that a handler builds (a label, an `intel` list change,
  a hold's answer) is tokenised here, at the boundary, and appended to its customer's partition (an
  intel event to every partition, as ``POST /v1/events`` does) with ``Qalqan-Protected``: the
  worker decides it as given and answers on ``<stream>.answers.<p>`` once its record holds it.
  ``durable`` waits for those answers where the embedded API waits for its group commit; as
  ``Front._money`` does, a wait is registered before the publish, and a publish the stream already
  held is looked up in the record instead.

Holds (``FrontHolds``): a hold lives in the HoldBook of the worker of its customer's partition. The
front finds the partition from the record (the held event's customer token) and asks that worker
for the hold's state (request/reply on ``<stream>.holds.<p>``). An answer is the `hold_response`
(or the repeated order) that ``Engine.answer_hold`` / ``repeat_hold`` would build, with the hold's
customer, sent with ``Qalqan-Hold`` so that the worker refuses it unless it holds that hold.

The console and receipts are served next to them, on the same ``FrontPeople`` (front_console.py).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from contextlib import suppress
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

import msgspec
import psycopg
from nats.errors import NoRespondersError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from .. import webhooks
from ..api.cases import case_routes, problem
from ..api.holds import hold_routes
from ..api.lists import list_routes
from ..api.outbox import outbox_routes
from ..case_deadlines import Sweeper
from ..cases import CasePolicy
from ..engine import Outcome
from ..events import Event, EventError, scoped_id, us_to_rfc3339
from ..holds import HoldState, hold_answer, repeated_order
from ..store.base import DEFAULT_ORG, RecordUnavailable, StoreError
from ..store.postgres import PostgresRecord
from .partition import broadcast_types, of_token
from .publish import PARTS_HEADER
from .worker import ANSWERS_HEADER, HOLD_HEADER, ORG_HEADER, PROTECTED_HEADER, holds_subject

if TYPE_CHECKING:
    from .front import Front

log = logging.getLogger("qalqan.front")
SWEEP_S = 0.5  # how often a front closes the cases past their deadline (seconds)
# The sends of the request being handled: each request runs in a task of its own, with its own
# context, so ``durable`` waits for this request's events and for no other's.
_sending: ContextVar[list[asyncio.Task[None]] | None] = ContextVar("qalqan_front_sending", default=None)


class NoAnswer(RuntimeError):
    """No worker answered in time: the event is kept in the stream and will be decided."""


class FrontRecord(PostgresRecord):
    """The shared record as the people's handlers use it. An intel event is stored as one copy per
    partition, ``<event_id>@<p>`` (stream/record.py): it is known once every partition holds its copy,
    so that a retry of a change that reached only some partitions sends it again (the others drop it)."""

    def __init__(self, url: str, parts: int) -> None:
        super().__init__(url, "qalqan-front-people")
        self.parts = parts

    def _lookup(self, event_id: str, org: str = DEFAULT_ORG) -> tuple[bool, bytes | None]:
        ids = [event_id, *(f"{event_id}@{p}" for p in range(self.parts))]
        with self._call(), self.conn.cursor() as cur:
            rows = cur.execute("SELECT event_id, decision FROM events WHERE org = %s AND event_id = ANY(%s)",
                               (org, ids)).fetchall()
            self.conn.commit()
        for eid, decision in rows:
            if eid == event_id:
                return True, None if decision is None else bytes(decision)
        return len(rows) == self.parts, None


class FrontPeople:
    """What the people's handlers use of an Engine, on a front: record, tokenizer, decide_event, durable."""

    def __init__(self, front: Front) -> None:
        self.front = front
        self.tokenizers = front.tokenizers
        self.record: FrontRecord | None = None
        self.app: Starlette | None = None  # the handlers, built once the record is open
        self.waiting: dict[str, list[asyncio.Future[bytes]]] = {}
        self._order: asyncio.Lock | None = None
        self._tasks: list[asyncio.Task[None]] = []  # the deadlines' sweep, the webhooks

    async def start(self, pages: Callable[[FrontPeople, FrontHolds], list[BaseRoute]],
                    no_answer: Callable[[Request, Exception], Awaitable[Response]]) -> None:
        """After ``Front.start``: opens the record, subscribes to the workers' answers. ``pages``: the
        console's and receipts' routes, built on this object (front_console.py, which imports this
        module: handed in by front.py rather than imported here)."""
        cfg = self.front.cfg
        loop = asyncio.get_running_loop()
        self.record = await loop.run_in_executor(None, FrontRecord, self.front.settings.db_url, cfg.parts)
        self._order = asyncio.Lock()
        await self.front.nc.subscribe(f"{cfg.stream}.answers.>", cb=self._answered)
        await self.front.nc.flush()  # in place before the first request
        desk = FrontHolds(self)
        self.app = Starlette(routes=[*hold_routes(desk), *case_routes(self, self.durable),  # type: ignore[arg-type]
                                     *list_routes(self, self.durable), *outbox_routes(self),  # type: ignore[arg-type]
                                     *pages(self, desk)],
                             exception_handlers={psycopg.OperationalError: self._record_lost,
                                                 RecordUnavailable: self._record_lost, NoAnswer: no_answer})
        # Cases' deadlines on the server's clock, and the webhooks (case_deadlines.py, webhooks.py):
        # every front sweeps, and each case is closed once (a compare-and-set in the record).
        settings = self.front.settings
        sweeper = Sweeper(self, self.front.clock, CasePolicy(settings.deadlines))
        self._tasks.append(loop.create_task(self._sweep(sweeper), name="qalqan-front-deadlines"))
        hooks = await webhooks.start(self, settings.webhook_url, settings.webhook_secret)
        if hooks is not None:
            self._tasks.append(hooks)

    async def _sweep(self, sweeper: Sweeper) -> None:
        while True:
            await asyncio.sleep(SWEEP_S)
            try:
                await asyncio.to_thread(sweeper.run)
            except Exception as exc:  # the record is away: the next sweep closes what is due
                log.error("case deadlines not swept: %s", exc)

    async def _record_lost(self, request: Request, exc: Exception) -> Response:
        """The server dropped the record's connection (a restart, a failover): the request's
        transaction is gone with it. The next request gets a new connection."""
        assert self.record is not None
        with suppress(psycopg.OperationalError, StoreError):  # still down: the next request tries again
            self.record.reopen_if_broken()
        answer = problem(503, "Record unavailable", f"the record did not answer, send it again: {exc}")
        answer.headers["retry-after"] = "1"
        return answer

    def stop(self) -> None:
        for task in self._tasks:  # a notice being sent stays queued: sent after the restart
            task.cancel()
        if self.record is not None:
            self.record.close()

    async def _answered(self, msg: Any) -> None:
        for fut in self.waiting.pop((msg.headers or {}).get(ANSWERS_HEADER, ""), None) or ():
            if not fut.done():
                fut.set_result(msg.data)

    # --- what the handlers call ---------------------------------------------------------------
    def now_ts(self) -> str:
        """"Now" for the events a front builds: the server's clock, as the workers' deadlines run on."""
        return us_to_rfc3339(self.front.clock())

    def decide_event(self, event: Event, t0: int | None = None, protected: bool = False, org: str = DEFAULT_ORG,
                     hold: str | None = None) -> Outcome:
        """Sends the event to its worker(s) and returns at once (``duplicate`` is known after
        ``durable``). ``hold``: the event answers the hold on that event id (the worker checks it)."""
        if not protected:
            self.tokenizers.of(org).protect(event)
        etype: str = event.__struct_config__.tag  # type: ignore[union-attr,assignment]
        eid, parts = event.event_id, self.front.cfg.parts
        # Routed from the token as partition.py routes raw events (no person's event is a `message`).
        # (partition, the record's id of the copy there); its message id is scoped by the organisation.
        targets = ([(p, f"{eid}@{p}") for p in range(parts)] if etype in broadcast_types()
                   else [(of_token(event.customer_id, parts), eid)])
        headers = {PARTS_HEADER: str(parts), PROTECTED_HEADER: "1"}
        if org != DEFAULT_ORG:
            headers[ORG_HEADER] = org
        if hold is not None:
            headers[HOLD_HEADER] = hold
        outcome = Outcome(eid, etype, None, None)
        mine = _sending.get()
        if mine is None:
            mine = []
            _sending.set(mine)
        send = self._send(outcome, targets, msgspec.json.encode(event), headers, org)
        mine.append(asyncio.get_running_loop().create_task(send))
        return outcome

    async def durable(self) -> None:
        """Returns once the workers' record holds every event this request sent; raises otherwise
        (the handlers answer 503: send it again)."""
        mine = _sending.get()
        if not mine:
            return
        tasks = list(mine)
        mine.clear()
        for result in await asyncio.gather(*tasks, return_exceptions=True):
            if isinstance(result, BaseException):
                raise result

    async def _send(self, outcome: Outcome, targets: list[tuple[int, str]], body: bytes,
                    headers: dict[str, str], org: str) -> None:
        assert self._order is not None and self.record is not None
        loop = asyncio.get_running_loop()
        futs = {scoped_id(org, rid): loop.create_future() for _, rid in targets}
        for msg_id, fut in futs.items():  # before the publish: an answer cannot pass unseen
            self.waiting.setdefault(msg_id, []).append(fut)
        try:
            async with self._order:  # one after another: a request's events reach the stream in its order
                acks = [await self.front.publish(p, scoped_id(org, rid), body, headers) for p, rid in targets]
            answers: list[dict[str, Any]] = []
            waits = []
            for (_, rid), ack in zip(targets, acks):
                if ack.duplicate and self.record.lookup(rid, org)[0]:  # sent before, and decided
                    answers.append({"duplicate": True})
                else:
                    waits.append(asyncio.shield(futs[scoped_id(org, rid)]))
            timeout = self.front.cfg.answer_timeout_s
            try:
                answers += [msgspec.json.decode(raw) for raw in await asyncio.wait_for(asyncio.gather(*waits), timeout)]
            except TimeoutError:
                raise NoAnswer(f"no worker answered within {timeout:g} s; the change is kept in the stream and will "
                               "be made: send it again (the same Idempotency-Key) for its outcome") from None
        finally:
            for msg_id, fut in futs.items():
                waiters = self.waiting.get(msg_id)
                if waiters is not None and fut in waiters:
                    waiters.remove(fut)
                    if not waiters:
                        del self.waiting[msg_id]
        for a in answers:
            if "error" in a:
                raise EventError(a["error"]["field"], a["error"]["problem"])
        outcome.duplicate = all(a["duplicate"] for a in answers)


class FrontHolds:
    """api/holds.py's HoldDesk on a front: each hold is kept by the worker of its customer's partition."""

    def __init__(self, people: FrontPeople) -> None:
        self.people = people

    @property
    def record(self) -> FrontRecord:
        assert self.people.record is not None
        return self.people.record

    async def held(self, event_id: str, org: str) -> bytes | None:
        row = self.record.event_in(org, event_id)  # another organisation's event is as absent as none
        if row is None or row.action != "hold":  # a hold starts with a decision `hold` (holds.py), and stays
            return None
        cfg = self.people.front.cfg
        part = of_token(row.customer, cfg.parts)
        try:
            reply = await self.people.front.nc.request(holds_subject(cfg.stream, part),
                                                       scoped_id(org, event_id).encode(), timeout=cfg.answer_timeout_s)
        except (NoRespondersError, TimeoutError) as exc:
            raise NoAnswer(f"the worker of partition {part} does not answer ({exc.__class__.__name__}): "
                           "ask again in a moment") from None
        return None if reply.data == b"null" else bytes(reply.data)

    async def answer(self, event_id: str, verb: str, by: Any, ts: Any, org: str) -> None:
        """The event Engine.answer_hold / repeat_hold would decide, sent to the hold's worker."""
        raw = await self.held(event_id, org)
        stored = self.record.event_body(event_id, org) if raw is not None and verb == "repeat" else None
        if raw is None or (verb == "repeat" and stored is None):
            raise EventError("target_event_id", f"no hold on event {event_id!r}")
        if verb == "repeat":
            event: Event = repeated_order(event_id, stored, ts or self.people.now_ts())  # type: ignore[arg-type]
        else:  # the answer comes from the hold's client, whose token the worker's hold names
            event = hold_answer(event_id, verb, by, ts or self.people.now_ts(),
                                msgspec.json.decode(raw, type=HoldState).customer)
        self.people.decide_event(event, protected=True, org=org, hold=event_id)
        await self.people.durable()
