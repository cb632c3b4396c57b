"""Faults: a worker killed with SIGKILL mid-stream and started again; the record's PostgreSQL
stopped and started under load (a private server, never the machine's own).

After recovery every event has exactly one row and every money movement one decision, equal to
the uninterrupted two-worker run; events redelivered to the new worker are recognised by id and
not decided twice; while the record is down nothing is acknowledged, and nothing is lost.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Callable
from pathlib import Path

import private_servers
import psycopg
import pytest
from private_servers import private_postgres

from conftest import missing
from qalqan.stream.partition import broadcast_types

from .conftest import need_servers, state_of
from .helpers import (
    NATS_URL,
    REDIS_URL,
    decisions,
    differing,
    env_for,
    event_type,
    fresh_database,
    fresh_stream,
    qalqan,
    redis_missing,
    start_worker,
    wait_all,
)


def _rows(db: str, part: int) -> int:
    """Rows of a partition so far (0 before the first worker made the tables, or while it is down)."""
    try:
        with psycopg.connect(db, connect_timeout=2) as conn:
            return conn.execute("SELECT count(*) FROM events WHERE mod(seq, 1024) = %s", (part,)).fetchone()[0]
    except psycopg.OperationalError:
        return 0
    except psycopg.errors.UndefinedTable:
        return 0


async def _decision_messages(stream: str) -> int:
    import nats

    nc = await nats.connect(NATS_URL)
    try:
        info = await nc.jetstream().stream_info(stream, subjects_filter=f"{stream}.decisions.*")
        return sum((info.state.subjects or {}).values())
    finally:
        await nc.close()


def _check_record(db: str, stream: str, expected: dict, sim: Path) -> None:
    lines = [x for x in sim.read_bytes().splitlines() if x.strip()]
    copies = sum(1 for x in lines if event_type(x) in broadcast_types())
    with psycopg.connect(db) as conn:
        n, distinct = conn.execute("SELECT count(*), count(DISTINCT event_id) FROM events").fetchone()
    assert n == distinct == len(lines) + copies, "every event (and each partition's intel/listing copy) stored once"
    # Decisions re-published after a restart carry the same Nats-Msg-Id: the stream keeps one each.
    assert asyncio.run(_decision_messages(stream)) == len(expected)


@pytest.mark.parametrize("state", [None, REDIS_URL], ids=["memory", "redis"])
def test_sigkill_a_worker_mid_stream_then_restart(sim: Path, two_workers, tmp_path: Path, state: str | None):
    need_servers()
    if state and (why := redis_missing(state)):
        missing(why)
    with fresh_database() as db, fresh_stream() as stream, state_of(state, db) as extra:
        env = env_for(tmp_path / "home", db, **extra)
        qalqan("publish", str(sim), "--nats", NATS_URL, "--stream", stream, "--partitions", "2", env=env)
        logs = [tmp_path / "worker0.log", tmp_path / "worker1.log"]
        victim = start_worker(stream, 0, 2, env, logs[0], "--ack-wait", "3", "--batch", "300")
        other = start_worker(stream, 1, 2, env, logs[1])
        deadline = time.monotonic() + 120
        while _rows(db, 0) < 6000:
            assert victim.poll() is None, "the worker ended before it could be killed"
            assert time.monotonic() < deadline, "the worker made no progress"
            time.sleep(0.05)
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        assert _rows(db, 0) < 20_000, "killed too late to test anything"  # partition 0 has 26,538 events
        again = start_worker(stream, 0, 2, env, logs[0], "--ack-wait", "3", "--batch", "300")
        wait_all([again, other], logs)
        out = tmp_path / "decisions.jsonl"
        qalqan("decisions", "--export", str(out), env=env)
        got = decisions(out)
        assert got.keys() == two_workers.decisions.keys()
        assert differing(got, two_workers.decisions) == []
        _check_record(db, stream, got, sim)
        log = logs[0].read_text()
        restored = [int(x.split("restored ")[1].split(" ")[0].replace(",", "")) for x in log.splitlines()
                    if "restored" in x]
        assert restored[0] == 0, log
        if state is None:  # the replacement refolded the partition's rows from the record
            assert restored[1] >= 6000, log
        else:  # it continued from Redis: at most the batch committed to the record but not to Redis
            assert restored[1] <= 300 and "from Redis (seq" in log, log


# --- a private PostgreSQL, stopped and started under load ----------------------------------------------
# Debian's PostgreSQL binaries, whichever version is installed (the newest).
@pytest.fixture
def private_pg():
    with private_postgres() as pg:
        yield pg.url, pg.start, pg.stop


def _outage_under_load(sim: Path, reference: dict, tmp_path: Path, env: dict[str, str], db: str,
                       stop: Callable[[], None], start: Callable[[], None]) -> None:
    """Publishes the stream, and once 10,000 rows are durable stops a backend for 3 s; plays the
    supervisor, starting again every worker that exits with an error, until all end cleanly."""
    with fresh_stream() as stream:
        qalqan("publish", str(sim), "--nats", NATS_URL, "--stream", stream, "--partitions", "2", env=env)
        logs = [tmp_path / "worker0.log", tmp_path / "worker1.log"]
        args = ("--ack-wait", "3", "--batch", "300")
        procs = [start_worker(stream, p, 2, env, logs[p], *args) for p in range(2)]
        deadline = time.monotonic() + 120
        while _rows(db, 0) + _rows(db, 1) < 10_000:
            assert time.monotonic() < deadline, "the workers made no progress"
            time.sleep(0.05)
        stop()
        down_at: float | None = time.monotonic()
        restarts = 0
        while True:
            if down_at is not None and time.monotonic() - down_at > 3:
                start()
                down_at = None
            running = False
            for p, proc in enumerate(procs):
                rc = proc.poll()
                if rc is None:
                    running = True
                elif rc != 0:
                    restarts += 1
                    assert restarts < 60, logs[p].read_text()
                    time.sleep(0.5)
                    procs[p] = start_worker(stream, p, 2, env, logs[p], *args)
                    running = True
            if not running and down_at is None:
                break
            assert time.monotonic() < deadline + 240, "the workers did not recover"
            time.sleep(0.1)
        assert restarts >= 1, "the outage went unnoticed: nothing was tested"
        out = tmp_path / "decisions.jsonl"
        qalqan("decisions", "--export", str(out), env=env)
        got = decisions(out)
        assert got.keys() == reference.keys()
        assert differing(got, reference) == []
        _check_record(db, stream, got, sim)


def test_record_down_under_load_nothing_acknowledged_is_lost(sim: Path, two_workers, tmp_path: Path, private_pg):
    need_servers()
    db, start_pg, stop_pg = private_pg
    _outage_under_load(sim, two_workers.decisions, tmp_path, env_for(tmp_path / "home", db), db, stop_pg, start_pg)


@pytest.fixture
def private_redis():
    with private_servers.private_redis() as r:
        yield r.url, r.start, r.stop


def test_redis_down_under_load_nothing_acknowledged_is_lost(sim: Path, two_workers, tmp_path: Path, private_redis):
    """Redis comes back empty (no persistence): the workers fall back to the record's snapshot and
    fold, write the whole state again, and decide the rest exactly as the uninterrupted run."""
    need_servers()
    url, start_redis, stop_redis = private_redis
    with fresh_database() as db:
        env = env_for(tmp_path / "home", db, QALQAN_STATE=url)
        _outage_under_load(sim, two_workers.decisions, tmp_path, env, db, stop_redis, start_redis)
        log = (tmp_path / "worker0.log").read_text() + (tmp_path / "worker1.log").read_text()
        assert "cannot write the state to Redis" in log or "cannot read the state from Redis" in log, log


async def _forget_consumer(stream: str, durable: str) -> None:
    import nats

    nc = await nats.connect(NATS_URL)
    try:
        await nc.jetstream().delete_consumer(stream, durable)
    finally:
        await nc.close()


def test_redelivered_events_are_not_decided_twice_across_a_restart(sim: Path, tmp_path: Path):
    """The whole partition delivered again to a fresh worker: every event is recognised by its id
    (the recent ones from memory rebuilt at start, the older ones by asking the record)."""
    need_servers()
    part = tmp_path / "part.jsonl"
    part.write_bytes(b"\n".join(sim.read_bytes().splitlines()[:6000]) + b"\n")  # about 3 days
    with fresh_database() as db, fresh_stream() as stream:
        env = env_for(tmp_path / "home", db)
        qalqan("publish", str(part), "--nats", NATS_URL, "--stream", stream, "--partitions", "1", env=env)
        log = tmp_path / "worker.log"
        wait_all([start_worker(stream, 0, 1, env, log)], [log])
        first = tmp_path / "first.jsonl"
        qalqan("decisions", "--export", str(first), env=env)
        with psycopg.connect(db) as conn:
            rows = conn.execute("SELECT count(*) FROM events").fetchone()[0]
        asyncio.run(_forget_consumer(stream, f"{stream}-p0-of-1"))  # the stream delivers everything again
        wait_all([start_worker(stream, 0, 1, env, log)], [log])
        assert "6,000 events, " in log.read_text() and "6,000 duplicates" in log.read_text(), log.read_text()
        second = tmp_path / "second.jsonl"
        qalqan("decisions", "--export", str(second), env=env)
        assert first.read_bytes() == second.read_bytes()
        with psycopg.connect(db) as conn:
            assert conn.execute("SELECT count(*) FROM events").fetchone()[0] == rows == 6000
