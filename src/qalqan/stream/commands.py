"""CLI commands of the stream part (registered by qalqan.cli): ``publish`` and ``worker``."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import typer
from rich.console import Console

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

_NATS = typer.Option("nats://127.0.0.1:4222", "--nats", help="NATS server with JetStream")
_STREAM = typer.Option("QALQAN", "--stream", help="JetStream stream name")


def _settings(db: str | None = None):  # noqa: ANN202
    from .. import config

    try:
        return config.from_env(db_url=db)
    except config.ConfigError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None


def publish(
    source: Path = typer.Argument(..., exists=True, dir_okay=False, help="JSON Lines file of events"),
    url: str = _NATS,
    stream: str = _STREAM,
    partitions: int = typer.Option(1, "--partitions", min=1, max=1024, help="number of partitions (workers)"),
) -> None:
    """Validate a file of events and append them to the stream, partitioned by customer.

    Example: qalqan publish events.jsonl --nats nats://127.0.0.1:4222 --partitions 2
    """
    from .publish import publish_file

    settings = _settings()
    try:
        stats = asyncio.run(publish_file(source, url, stream, partitions, settings.key))
    except ConnectionError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    for e in stats.errors[:20]:
        err.print(f"[yellow]rejected[/yellow] {e}")
    if len(stats.errors) > 20:
        err.print(f"… and {len(stats.errors) - 20} more rejected lines")
    spread = ", ".join(f"{p}: {n:,}" for p, n in sorted(stats.per_partition.items()))
    out.print(f"published {stats.events:,} events as {stats.messages:,} messages to {stream} "
              f"({spread}); {len(stats.errors)} rejected, {stats.duplicates} already in the stream")


def worker(
    url: str = _NATS,
    stream: str = _STREAM,
    partition: str = typer.Option(..., "--partition", help="I/N: this worker's partition of N"),
    db: str | None = typer.Option(None, help="record URL (default: QALQAN_DB); postgresql://…"),
    batch: int = typer.Option(1000, "--batch", min=1, help="events fetched, decided and committed together"),
    ack_wait: float = typer.Option(30.0, "--ack-wait", min=1.0, help="seconds before an unacknowledged event "
                                   "is redelivered (after a worker dies)"),
    idle_exit: float | None = typer.Option(None, "--idle-exit", help="stop after the partition has been empty "
                                           "this many seconds (default: run until SIGTERM)"),
    clock: str = typer.Option("server", "--clock", help="server: holds' deadlines run on this server's clock and "
                              "events ahead of it are refused (live traffic from fronts); events: on the stream's own "
                              "time, as replay (a published file)"),
) -> None:
    """Decide one partition of the stream, write the record, publish the decisions.

    Example: QALQAN_DB=postgresql://… qalqan worker --nats nats://127.0.0.1:4222 --partition 0/2
    (QALQAN_STATE=redis://127.0.0.1:6379/0 keeps the partition's feature state in Redis as well).
    """
    from ..state import StateError
    from ..store import StoreError
    from .partition import PartitionError, parse_spec
    from .worker import CommitFailed, PartitionMismatch, WorkerConfig, run_worker

    try:
        part, parts = parse_spec(partition)
    except PartitionError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    if clock not in ("server", "events"):
        err.print(f"[red]error:[/red] --clock: expected server or events, got {clock!r}")
        raise typer.Exit(2)
    settings = _settings(db)
    cfg = WorkerConfig(url, stream, part, parts, batch=batch, ack_wait_s=ack_wait, idle_exit_s=idle_exit,
                       state_url=os.environ.get("QALQAN_STATE") or None, server_clock=clock == "server")
    try:
        stats = asyncio.run(run_worker(settings, cfg, log=err.print))
    except (StoreError, StateError, ConnectionError, PartitionMismatch) as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    except CommitFailed as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(3) from None
    out.print(f"worker {part}/{parts}: {stats.events:,} events, {stats.decisions:,} decisions, "
              f"{stats.duplicates:,} duplicates, {stats.rejected} rejected, {stats.batches:,} batches")


def register(app: typer.Typer) -> None:
    app.command()(publish)
    app.command()(worker)
