"""Running the stream's processes as a deployment would: each a `qalqan` subprocess."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import msgspec

PG_ADMIN_URL = os.environ.get("QALQAN_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
NATS_URL = os.environ.get("QALQAN_TEST_NATS", "nats://127.0.0.1:4222")
REDIS_URL = os.environ.get("QALQAN_TEST_REDIS", "redis://127.0.0.1:6379/0")
# One key for every process of a test: the partition of a customer is a function of its token.
KEY = "5f" * 32


def nats_missing(url: str = NATS_URL) -> str | None:
    host, port = url.rsplit("//", 1)[1].rsplit(":", 1)
    try:
        socket.create_connection((host, int(port)), timeout=2).close()
    except OSError as exc:
        return f"NATS JetStream not reachable at {url} ({exc.__class__.__name__}); set QALQAN_TEST_NATS"
    return None


def redis_missing(url: str = REDIS_URL) -> str | None:
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except (redis.exceptions.RedisError, OSError) as exc:
        return f"Redis not reachable at {url} ({exc.__class__.__name__}); set QALQAN_TEST_REDIS"
    return None


def forget_state(url: str, db: str) -> None:
    """Deletes the state keys the workers of record ``db`` wrote (their namespace names it)."""
    import redis

    r = redis.Redis.from_url(url)
    keys = list(r.scan_iter(match=f"*{db.rsplit('/', 1)[1]}*", count=1000))
    if keys:
        r.delete(*keys)
    r.close()


def pg_missing() -> str | None:
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN_URL, connect_timeout=3):
            return None
    except Exception as exc:  # any failure means: no server to test against
        return f"PostgreSQL not reachable at {PG_ADMIN_URL} ({exc.__class__.__name__}); set QALQAN_TEST_PG"


@contextmanager
def fresh_database() -> Iterator[str]:
    import psycopg

    name = f"qalqan_stream_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{name}"
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def fresh_stream() -> Iterator[str]:
    name = f"QT{uuid.uuid4().hex[:10].upper()}"
    try:
        yield name
    finally:
        asyncio.run(_delete_stream(name))


async def _delete_stream(name: str) -> None:
    import nats

    nc = await nats.connect(NATS_URL, connect_timeout=3)
    try:
        try:
            await nc.jetstream().delete_stream(name)
        except Exception:  # never created (the test failed early): nothing to clean
            pass
    finally:
        await nc.close()


def env_for(home: Path, db: str | None = None, **extra: str) -> dict[str, str]:
    # Tests that compare the fronts' answers with the workers' decisions wait for the worker however busy
    # the machine is: a front's fallback (stream/late.py) after the default 1 s would be the machine's
    # slowness, not the set-up's. Tests of the fallback set their own budget.
    env = {**os.environ, "QALQAN_HOME": str(home), "QALQAN_KEY": KEY, "QALQAN_DECIDE_BUDGET_MS": "30000", **extra}
    env.pop("QALQAN_DB", None)
    if "QALQAN_STATE" not in extra:
        env.pop("QALQAN_STATE", None)
    if db:
        env["QALQAN_DB"] = db
    return env


def qalqan(*args: str, env: dict[str, str], timeout: float = 600) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([sys.executable, "-m", "qalqan", *args], env=env, capture_output=True, text=True,
                          timeout=timeout)
    assert proc.returncode == 0, f"qalqan {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    return proc


def start_worker(stream: str, part: int, parts: int, env: dict[str, str], log: Path,
                 *extra: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "qalqan", "worker", "--nats", NATS_URL, "--stream", stream,
         "--partition", f"{part}/{parts}", "--idle-exit", "2", "--clock", "events", *extra],
        env=env, stdout=open(log, "ab"), stderr=subprocess.STDOUT,
    )


def wait_all(procs: list[subprocess.Popen[bytes]], logs: list[Path], timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    for proc, log in zip(procs, logs):
        try:
            rc = proc.wait(max(deadline - time.monotonic(), 1))
        except subprocess.TimeoutExpired:
            proc.kill()
            raise AssertionError(f"worker did not finish in {timeout} s:\n{log.read_text()}") from None
        assert rc == 0, f"worker failed ({rc}):\n{log.read_text()}"


def decisions(path: Path) -> dict[str, dict[str, Any]]:
    """Decisions by event id, latency aside (the one field that may differ between runs)."""
    out = {}
    for line in path.read_bytes().splitlines():
        d = msgspec.json.decode(line)
        d.pop("latency_ms", None)
        out[d["event_id"]] = d
    return out


def differing(a: dict[str, dict[str, Any]], b: dict[str, dict[str, Any]]) -> list[str]:
    """Event ids whose action, reasons, score or hold differ (or that only one side decided)."""
    keys = ("action", "reasons", "score", "hold")
    return sorted(k for k in a.keys() | b.keys()
                  if k not in a or k not in b or any(a[k].get(f) != b[k].get(f) for f in keys))


def event_type(line: bytes) -> str | None:
    """The ``type`` of one JSON line (None for a blank or non-object line)."""
    if not line.strip():
        return None
    doc = msgspec.json.decode(line)
    return doc.get("type") if isinstance(doc, dict) else None
