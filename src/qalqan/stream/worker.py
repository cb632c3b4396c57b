"""Decides one partition of the stream: fetch a batch, decide, commit, publish, then acknowledge.

The order of a batch's steps is the guarantee. Decisions are made through the one ``Engine.decide``
with the engine's own group commit turned off; the batch is committed to the record in one
transaction (``Engine.commit``, the durability point); only then are the decisions published on
``NAME.decisions.<p>`` and the events acknowledged. A worker that dies anywhere before the
acknowledgement leaves its events unacknowledged: the stream redelivers them (after ``ack_wait``)
to the next worker of that partition, which restores the partition's state from the record and
recognises every event already decided by its id (the engine is idempotent), answering it with
the stored decision instead of deciding it again. A failed commit rolls the engine back to the
record and hands the batch back (``nak``) to be decided again.

One worker per partition at a time: ``max_ack_pending`` equals the batch, so the stream delivers
nothing past a batch that is out with a worker, and a partition's events are decided in order.
"""

from __future__ import annotations

import asyncio
import dataclasses
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass

import msgspec
import nats
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import FetchTimeoutError

from ..config import Settings
from ..engine import Engine, Outcome
from ..events import EventConflict, EventError, decode_event, scoped_id
from ..holds import OPEN
from ..store.base import DEFAULT_ORG, DuplicateEvents
from .late import FALLBACK_HEADER, LATE_KIND, Marker, late_notice
from .partition import decisions_subject, durable_name, events_subject
from .publish import PARTS_HEADER, connect, ensure_stream
from .record import PartitionRecord

# The stream's acknowledgements of a batch's decisions must come within this time.
PUBLISH_TIMEOUT_S = 10.0
# The organisation of the API key an HTTP front took the event with (stream/front.py).
ORG_HEADER = "Qalqan-Org"
# A people's event that a front built (a hold's answer, a label, a list change: stream/front_people.py):
# its identifiers are tokens already, so it is decided as given (``protected``), as one process decides
# the events its API builds. Trusted because NATS is the internal bus: only fronts and publishers may
# publish on the stream's subjects (docs/scaling.md). Each is answered on ``answers_subject``.
PROTECTED_HEADER = "Qalqan-Protected"
# With it: the event answers the hold on this event id, and is refused unless this partition holds that
# hold for the event's customer (the embedded engine's answer_hold / repeat_hold check the same).
HOLD_HEADER = "Qalqan-Hold"
# An answer names the message it answers (its Nats-Msg-Id).
ANSWERS_HEADER = "Qalqan-Answers"
# A money movement refused because its id names another event of its organisation (EventConflict): the
# worker publishes the refusal on the decisions subject (``x:`` id, this header naming the event id) so
# the waiting front answers 409 at once instead of waiting out its budget.
CONFLICT_HEADER = "Qalqan-Conflict"
CONFLICT = "\x00conflict"


def answers_subject(stream: str, part: int) -> str:
    """Core NATS, not the stream: an answer is a notice that the record holds the event (or refused it)."""
    return f"{stream}.answers.{part}"


def holds_subject(stream: str, part: int) -> str:
    """Requests for a hold's state, answered by the partition's worker from its HoldBook."""
    return f"{stream}.holds.{part}"


def holds_list_subject(stream: str, part: int) -> str:
    """Requests for the partition's open holds (the console's holds page on a front)."""
    return f"{stream}.holds.{part}.open"


@dataclass
class WorkerStats:
    events: int = 0
    decisions: int = 0
    duplicates: int = 0
    rejected: int = 0
    batches: int = 0
    failed_commits: int = 0
    restored: int = 0
    late: int = 0  # decision.late notices: events whose fallback a front answered (stream/late.py)


class CommitFailed(RuntimeError):
    """The record refused a batch: nothing of it was acknowledged."""


class PartitionMismatch(RuntimeError):
    """The publisher split the stream into another number of partitions than this worker."""


@dataclass
class WorkerConfig:
    url: str
    stream: str
    part: int
    parts: int
    batch: int = 1000
    ack_wait_s: float = 30.0
    # QALQAN_STATE: redis://… keeps the partition's feature state in Redis too (state/redis.py).
    state_url: str | None = None
    # Stop once the partition has been empty this long and nothing of it is out unacknowledged
    # (tests, benchmarks); None: run until signalled.
    idle_exit_s: float | None = None
    # True: live traffic, deadlines on the server's clock (Engine.use_clock); False: a published file,
    # deadlines on the stream's own time, as replay decides it.
    server_clock: bool = True


async def run_worker(settings: Settings, cfg: WorkerConfig, log: Callable[[str], None] = print) -> WorkerStats:
    t0 = time.perf_counter()
    record = PartitionRecord(settings.db_url, cfg.part, cfg.parts)
    # The namespace names the record too: two records must never share a partition's state.
    info = record.conn.info
    engine = Engine(dataclasses.replace(settings, state_url=cfg.state_url), record=record,
                    state_namespace=f"{info.host}:{info.port}/{info.dbname}:{cfg.stream}:{cfg.part}/{cfg.parts}")
    engine.auto_commit = False
    if cfg.server_clock:
        engine.use_clock(settings.server_clock())
    state = engine.state  # the engine restores from it and writes it after each commit (state/redis.py)
    source = "the record"
    if state is not None:
        _check_state(engine)
        from_redis = state.loaded_seq is not None
        source = f"Redis (seq {state.loaded_seq:,}) and the record" if from_redis else "the record (Redis had none)"
    stats = WorkerStats(restored=engine.restored)
    log(f"worker {cfg.part}/{cfg.parts}: restored {engine.restored:,} events from {source} in "
        f"{time.perf_counter() - t0:.1f} s; consuming {events_subject(cfg.stream, cfg.part)}")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    nc = await connect(cfg.url)
    try:
        js = nc.jetstream()
        await ensure_stream(js, cfg.stream)
        sub = await js.pull_subscribe(
            events_subject(cfg.stream, cfg.part), durable=durable_name(cfg.stream, cfg.part, cfg.parts),
            stream=cfg.stream,
            config=ConsumerConfig(ack_policy=AckPolicy.EXPLICIT, deliver_policy=DeliverPolicy.ALL,
                                  max_ack_pending=cfg.batch, ack_wait=cfg.ack_wait_s),
        )

        async def hold_reply(msg: nats.aio.msg.Msg) -> None:
            await _hold_reply(engine, msg)

        async def holds_list_reply(msg: nats.aio.msg.Msg) -> None:
            await _holds_list_reply(engine, msg)

        await nc.subscribe(holds_subject(cfg.stream, cfg.part), cb=hold_reply)
        await nc.subscribe(holds_list_subject(cfg.stream, cfg.part), cb=holds_list_reply)
        idle_since = time.monotonic()
        while not stop.is_set():
            if engine.tick():  # deadlines the clock has passed, durable before anything else is decided
                engine.commit()
            try:
                msgs = await sub.fetch(cfg.batch, timeout=1.0)
            except (FetchTimeoutError, TimeoutError):
                if cfg.idle_exit_s is not None and time.monotonic() - idle_since >= cfg.idle_exit_s:
                    info = await sub.consumer_info()  # events out with a dead worker come back later
                    if not info.num_pending and not info.num_ack_pending:
                        break
                continue
            idle_since = time.monotonic()
            for msg_id, answer in await _batch(js, engine, cfg, msgs, stats, log):
                await nc.publish(answers_subject(cfg.stream, cfg.part), answer, headers={ANSWERS_HEADER: msg_id})
        engine.close()  # a snapshot of the partition and the last commit (and its state to Redis)
        await nc.flush()
    finally:
        await nc.close()
    return stats


async def _hold_reply(engine: Engine, msg: nats.aio.msg.Msg) -> None:
    """A hold's state (JSON; ``null``: no hold), as the record holds it: never mid-batch. The
    request names the hold by ``scoped_id(org, event_id)``."""
    while engine.pending:  # only while a batch's rejected message is handed back, before its commit
        await asyncio.sleep(0.005)
    h = engine.holds.holds.get(msg.data.decode())
    await msg.respond(b"null" if h is None else msgspec.json.encode(h))


async def _holds_list_reply(engine: Engine, msg: nats.aio.msg.Msg) -> None:
    """The HoldBook's open holds, ``{event_id: state}`` (JSON), as the record holds them."""
    while engine.pending:
        await asyncio.sleep(0.005)
    await msg.respond(msgspec.json.encode({k: h for k, h in engine.holds.holds.items() if h.status in OPEN}))


def _decide(engine: Engine, m: nats.aio.msg.Msg) -> Outcome:
    headers = m.headers or {}
    org = headers.get(ORG_HEADER, DEFAULT_ORG)
    if PROTECTED_HEADER not in headers:
        return engine.decide(m.data, org)
    event = decode_event(m.data)
    target = headers.get(HOLD_HEADER)
    if target is not None:
        held = engine.holds.of(target, org)
        if held is None or held.customer != event.customer_id:
            raise EventError("target_event_id", f"no hold on event {target!r}")
    return engine.decide_event(event, protected=True, org=org)


def _late(engine: Engine, m: nats.aio.msg.Msg) -> None:
    """Buffers the ``decision.late`` notice of a marker (stream/late.py), durable with the batch. The
    event came before its marker on this partition: it is decided by now (in this batch or before)."""
    marker = msgspec.json.decode(m.data, type=Marker)
    org = (m.headers or {}).get(ORG_HEADER, DEFAULT_ORG)
    text = late_notice(marker, engine.decided(marker.event_id, org))
    ts_us = engine.clock() if engine.clock is not None else marker.ts_us
    engine.record.append_outbox((ts_us, marker.customer, marker.event_id, LATE_KIND, text, org))


def _answer(m: nats.aio.msg.Msg, doc: dict[str, object]) -> tuple[str, bytes] | None:
    """The answer to a protected message (None for the others: their fronts wait for decisions)."""
    headers = m.headers or {}
    if PROTECTED_HEADER not in headers:
        return None
    return headers.get("Nats-Msg-Id", ""), msgspec.json.encode(doc)


def _check_state(engine: Engine) -> None:
    """Crash-only on the state too: a worker does not go on while Redis lags behind the record."""
    if engine.state is not None and engine.state.failure is not None:
        raise engine.state.failure


async def _hand_back(keep: list, cfg: WorkerConfig, stats: WorkerStats, exc: Exception) -> None:
    """Crash-only: the batch goes back to the stream, and the worker stops rather than decide on a
    state it could not make durable; its supervisor starts it again, from the record."""
    stats.failed_commits += 1
    for m in keep:
        await m.nak()
    raise CommitFailed(f"worker {cfg.part}/{cfg.parts}: commit failed ({exc.__class__.__name__}: {exc}); "
                       f"{len(keep)} events handed back to the stream") from exc


async def _batch(js: nats.js.JetStreamContext, engine: Engine, cfg: WorkerConfig,
                 msgs: list, stats: WorkerStats, log: Callable[[str], None]) -> list[tuple[str, bytes]]:
    """Returns the answers to the batch's protected messages, to be published once it is durable."""
    rejected: set[int] = set()
    refused: list[tuple[str, bytes] | None] = []
    conflicts: list[tuple[str, bytes, dict[str, str]]] = []
    for attempt in (1, 2):
        decided: list[tuple[str, bytes, dict[str, str]]] = []
        answers: list[tuple[str, bytes] | None] = []
        keep = []
        duplicates = late = 0
        for i, m in enumerate(msgs):
            if i in rejected:
                continue
            parts = (m.headers or {}).get(PARTS_HEADER)
            if parts is not None and int(parts) != cfg.parts:
                raise PartitionMismatch(f"the stream {cfg.stream} was published in {parts} partitions; this "
                                        f"worker is {cfg.part}/{cfg.parts}")
            if FALLBACK_HEADER in (m.headers or {}):  # a front answered this event's fallback: tell the integrator
                _late(engine, m)
                keep.append(m)
                late += 1
                continue
            try:
                outcome = _decide(engine, m)
            except EventError as exc:  # the publisher validates; a stranger's message is set aside, not retried
                log(f"worker {cfg.part}/{cfg.parts}: rejected stream message {m.metadata.sequence.stream}: {exc}")
                stats.rejected += 1
                rejected.add(i)
                refused.append(_answer(m, {"error": {"field": exc.field, "problem": exc.problem}}))
                if isinstance(exc, EventConflict):
                    key = scoped_id((m.headers or {}).get(ORG_HEADER, DEFAULT_ORG), exc.event_id)
                    conflicts.append((f"x:{key}:{m.metadata.sequence.stream}", exc.problem.encode(),
                                      {CONFLICT_HEADER: key}))
                await m.term()
                continue
            keep.append(m)
            answers.append(_answer(m, {"event_id": outcome.event_id, "duplicate": outcome.duplicate}))
            duplicates += outcome.duplicate
            if outcome.decision_json is not None:
                # Named as the front waits for it: ids are unique within an organisation only.
                key = scoped_id((m.headers or {}).get(ORG_HEADER, DEFAULT_ORG), outcome.event_id)
                headers = {"Nats-Msg-Id": f"d:{key}"}
                decided.append((outcome.event_id, outcome.decision_json, headers))
        try:
            engine.commit()  # writes the state as of this batch to Redis too, before any of it is acknowledged
            _check_state(engine)
        except DuplicateEvents as exc:
            if attempt == 1:  # the engine now asks the record about those ids: decide the batch again
                log(f"worker {cfg.part}/{cfg.parts}: {exc}")
                continue  # the engine rebuilt its state from the record (and wrote it to Redis)
            await _hand_back(keep, cfg, stats, exc)
        except Exception as exc:
            await _hand_back(keep, cfg, stats, exc)
        break
    stats.events += len(keep) - late
    stats.duplicates += duplicates
    stats.late += late
    subject = decisions_subject(cfg.stream, cfg.part)
    acks = [await js.publish_async(subject, d, headers={"Nats-Msg-Id": mid, **h}) for mid, d, h in conflicts]
    acks += [await js.publish_async(subject, d, headers=h) for _, d, h in decided]
    # A failure (or no answer) here leaves the batch unacknowledged: redelivered, and republished.
    await asyncio.wait_for(asyncio.gather(*acks), PUBLISH_TIMEOUT_S)
    for m in keep:
        await m.ack()
    stats.decisions += len(decided)
    stats.batches += 1
    return [a for a in refused + answers if a is not None]
