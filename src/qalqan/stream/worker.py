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

import nats
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import FetchTimeoutError

from ..config import Settings
from ..engine import Engine
from ..events import EventError
from ..store.base import DEFAULT_ORG, DuplicateEvents
from .partition import decisions_subject, durable_name, events_subject
from .publish import PARTS_HEADER, connect, ensure_stream
from .record import PartitionRecord

# The stream's acknowledgements of a batch's decisions must come within this time.
PUBLISH_TIMEOUT_S = 10.0
# The organisation of the API key an HTTP front took the event with (stream/front.py).
ORG_HEADER = "Qalqan-Org"


@dataclass
class WorkerStats:
    events: int = 0
    decisions: int = 0
    duplicates: int = 0
    rejected: int = 0
    batches: int = 0
    failed_commits: int = 0
    restored: int = 0


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


async def run_worker(settings: Settings, cfg: WorkerConfig, log: Callable[[str], None] = print) -> WorkerStats:
    t0 = time.perf_counter()
    record = PartitionRecord(settings.db_url, cfg.part, cfg.parts)
    # The namespace names the record too: two records must never share a partition's state.
    info = record.conn.info
    engine = Engine(dataclasses.replace(settings, state_url=cfg.state_url), record=record,
                    state_namespace=f"{info.host}:{info.port}/{info.dbname}:{cfg.stream}:{cfg.part}/{cfg.parts}")
    engine.auto_commit = False
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
        idle_since = time.monotonic()
        while not stop.is_set():
            try:
                msgs = await sub.fetch(cfg.batch, timeout=1.0)
            except (FetchTimeoutError, TimeoutError):
                if cfg.idle_exit_s is not None and time.monotonic() - idle_since >= cfg.idle_exit_s:
                    info = await sub.consumer_info()  # events out with a dead worker come back later
                    if not info.num_pending and not info.num_ack_pending:
                        break
                continue
            idle_since = time.monotonic()
            await _batch(js, engine, cfg, msgs, stats, log)
        engine.close()  # a snapshot of the partition and the last commit (and its state to Redis)
        await nc.flush()
    finally:
        await nc.close()
    return stats


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
                 msgs: list, stats: WorkerStats, log: Callable[[str], None]) -> None:
    rejected: set[int] = set()
    for attempt in (1, 2):
        decided: list[tuple[str, bytes]] = []
        keep = []
        duplicates = 0
        for i, m in enumerate(msgs):
            if i in rejected:
                continue
            parts = (m.headers or {}).get(PARTS_HEADER)
            if parts is not None and int(parts) != cfg.parts:
                raise PartitionMismatch(f"the stream {cfg.stream} was published in {parts} partitions; this "
                                        f"worker is {cfg.part}/{cfg.parts}")
            try:
                outcome = engine.decide(m.data, (m.headers or {}).get(ORG_HEADER, DEFAULT_ORG))
            except EventError as exc:  # the publisher validates; a stranger's message is set aside, not retried
                log(f"worker {cfg.part}/{cfg.parts}: rejected stream message {m.metadata.sequence.stream}: {exc}")
                stats.rejected += 1
                rejected.add(i)
                await m.term()
                continue
            keep.append(m)
            duplicates += outcome.duplicate
            if outcome.decision_json is not None:
                decided.append((outcome.event_id, outcome.decision_json))
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
    stats.events += len(keep)
    stats.duplicates += duplicates
    subject = decisions_subject(cfg.stream, cfg.part)
    acks = [await js.publish_async(subject, d, headers={"Nats-Msg-Id": f"d:{eid}"}) for eid, d in decided]
    # A failure (or no answer) here leaves the batch unacknowledged: redelivered, and republished.
    await asyncio.wait_for(asyncio.gather(*acks), PUBLISH_TIMEOUT_S)
    for m in keep:
        await m.ack()
    stats.decisions += len(decided)
    stats.batches += 1
