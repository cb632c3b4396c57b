"""Validates a JSON Lines file and appends its events to the stream, partition by partition.

Each line is decoded by the engine's own decoder (``decode_event``): a bad line is reported as
``line N: field: problem`` and not published, the rest still is. Every publish waits for the
stream's acknowledgement (pipelined, a window at a time), and carries ``Nats-Msg-Id`` = the event
id, so publishing a file twice (a retry after a crash) appends nothing twice within the stream's
duplicate window. An event of a broadcast type (intel, listing: partition.broadcast_types) is
published once per partition, as ``<event_id>@<p>``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nats
from nats.js import JetStreamContext
from nats.js.api import StreamConfig
from nats.js.errors import NotFoundError

from ..events import EventError, decode_event
from ..privacy import Tokenizer, check_event_id
from .partition import EVERY, events_subject, partition_of

# Stream acknowledgements awaited together: enough to hide the round trip, bounded in memory.
WINDOW = 2000
# Re-publishing within this time is recognised by Nats-Msg-Id and dropped by the server.
DUPLICATE_WINDOW_S = 600.0
PARTS_HEADER = "Qalqan-Partitions"
# A window's acknowledgements must come within this time, or the publish fails (and may be rerun).
ACK_TIMEOUT_S = 30.0


@dataclass
class PublishStats:
    lines: int = 0
    events: int = 0
    messages: int = 0
    duplicates: int = 0  # the stream already held them (same Nats-Msg-Id)
    per_partition: dict[int, int] = field(default_factory=dict)
    errors: list[EventError] = field(default_factory=list)


async def ensure_stream(js: JetStreamContext, name: str) -> None:
    """Creates the stream (events and decisions of every partition) if it does not exist."""
    try:
        await js.stream_info(name)
    except NotFoundError:
        await js.add_stream(StreamConfig(
            name=name, subjects=[f"{name}.events.*", f"{name}.decisions.*"],
            duplicate_window=DUPLICATE_WINDOW_S,
        ))


async def connect(url: str, forever: bool = False) -> nats.NATS:
    """``forever``: a server (a front) reconnects for as long as it runs, so it recovers by itself when
    NATS is back; a worker or ``publish`` gives up after five tries (crash-only: its supervisor
    starts it again)."""
    try:
        # pending_size=0 for a server: while NATS is away a publish fails at once (a fast 503) instead
        # of waiting in the client's buffer to be sent on reconnect, after its caller was told 503.
        return await nats.connect(url, connect_timeout=3, max_reconnect_attempts=-1 if forever else 5,
                                  reconnect_time_wait=0.5 if forever else 2, allow_reconnect=True,
                                  **({"pending_size": 0} if forever else {}))
    except Exception as exc:  # the client raises several kinds; all mean the same to the user
        raise ConnectionError(f"--nats: cannot connect to {url}: {exc.__class__.__name__}: {exc}") from None


async def publish_file(source: Path, url: str, stream: str, parts: int, key: bytes,
                       sent: Callable[[str, int], None] | None = None, max_errors_kept: int = 1000) -> PublishStats:
    """Publishes every valid line of ``source``; ``sent(event_id, partition)`` is called as each
    is handed to the client (benchmarks time decisions from it)."""
    nc = await connect(url)
    try:
        js = nc.jetstream()
        await ensure_stream(js, stream)
        return await _publish(js, source, stream, parts, Tokenizer(key), sent, max_errors_kept)
    finally:
        await nc.drain()


async def _publish(js: JetStreamContext, source: Path, stream: str, parts: int, tokenizer: Tokenizer,
                   sent: Callable[[str, int], None] | None, max_errors_kept: int) -> PublishStats:
    stats = PublishStats(per_partition=dict.fromkeys(range(parts), 0))
    window: list[asyncio.Future[Any]] = []
    header = str(parts)

    async def settle() -> None:
        for ack in await asyncio.wait_for(asyncio.gather(*window), ACK_TIMEOUT_S):
            stats.duplicates += bool(getattr(ack, "duplicate", False))
        window.clear()

    with open(source, "rb") as f:
        for lineno, line in enumerate(f, 1):
            stats.lines = lineno
            line = line.strip()
            if not line:
                continue
            try:
                event = decode_event(line)
                check_event_id(event.event_id)  # an id carrying a card number never reaches the stream
                part = partition_of(event, tokenizer, parts)
            except EventError as exc:
                if len(stats.errors) < max_errors_kept:
                    stats.errors.append(exc.at_line(lineno))
                continue
            stats.events += 1
            eid = event.event_id
            targets = range(parts) if part == EVERY else (part,)
            for p in targets:
                msg_id = f"{eid}@{p}" if part == EVERY else eid
                window.append(await js.publish_async(events_subject(stream, p), line,
                                                     headers={"Nats-Msg-Id": msg_id, PARTS_HEADER: header}))
                stats.messages += 1
                stats.per_partition[p] += 1
                if sent is not None:
                    sent(eid, p)
            if len(window) >= WINDOW:
                await settle()
    await settle()
    return stats
