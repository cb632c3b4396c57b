"""Shared fixtures: an isolated QALQAN_HOME, the record backends, and small event builders."""

from __future__ import annotations

import itertools
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import msgspec
import pytest

PG_ADMIN_URL = os.environ.get("QALQAN_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_TEST_URL = os.environ.get("QALQAN_TEST_REDIS", "redis://127.0.0.1:6379/0")
_ids = itertools.count(1)
# A live server's deadlines run on its own clock, and it refuses events ahead of it (docs/security.md).
# The tests' events live on the simulated calendar (February 2026), so their servers' clock starts
# there, at noon on the day most tests use; a test that needs another clock sets its own.
TEST_CLOCK = "2026-02-02T12:00:00Z"


def ev(type: str, ts: str = "2026-02-02T10:00:00Z", customer_id: str = "C0000001", **fields: Any) -> bytes:
    """One raw event as an integrator would send it."""
    body = {"type": type, "event_id": fields.pop("event_id", f"t-{next(_ids)}"), "ts": ts,
            "customer_id": customer_id, **fields}
    return msgspec.json.encode(body)


def transfer(**kw: Any) -> bytes:
    base = dict(direction="out", rail="interbank", amount="1000.00", currency="RUB",
                from_account="40817810000000000001", to_account="40817810000000000099",
                counterparty_id="C0000099")
    base.update(kw)
    return ev("transfer", **base)


def payment(**kw: Any) -> bytes:
    base = dict(card_id="4111111111111111", amount="500.00", currency="RUB", merchant_id="M1", channel="pos")
    base.update(kw)
    return ev("payment", **base)


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("QALQAN_HOME", str(home))
    monkeypatch.delenv("QALQAN_DB", raising=False)
    monkeypatch.delenv("QALQAN_KEY", raising=False)
    monkeypatch.delenv("QALQAN_MODE", raising=False)
    monkeypatch.delenv("QALQAN_STATE", raising=False)
    monkeypatch.setenv("QALQAN_CLOCK_START", TEST_CLOCK)
    return home


def missing(why: str) -> NoReturn:
    """A server or tool the test needs is not there: a skip, with the reason, on a developer's
    machine; a failure under CI=true, so that CI is never green by skipping what it did not test."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true and {why}", pytrace=False)
    pytest.skip(why)


def _pg_available() -> str | None:
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN_URL, connect_timeout=3):
            return None
    except Exception as exc:  # any failure means: no server to test against
        return f"PostgreSQL not reachable at {PG_ADMIN_URL} ({exc.__class__.__name__}); set QALQAN_TEST_PG"


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database for one test, dropped afterwards."""
    why = _pg_available()
    if why:
        missing(why)
    import psycopg

    name = f"qalqan_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    yield f"{base}/{name}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Every test that takes this runs on both records."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'record.db'}"
    return request.getfixturevalue("pg_url")


def _redis_missing() -> str | None:
    import redis

    try:
        redis.Redis.from_url(REDIS_TEST_URL, socket_connect_timeout=2).ping()
    except (redis.exceptions.RedisError, OSError) as exc:
        return f"Redis not reachable at {REDIS_TEST_URL} ({exc.__class__.__name__}); set QALQAN_TEST_REDIS"
    return None


def _forget_state(*names: str) -> None:
    """Deletes the state keys whose namespace (the record's name) contains one of ``names``."""
    import redis

    r = redis.Redis.from_url(REDIS_TEST_URL)
    try:
        for name in names:
            pattern = "*" + "".join(f"[{c}]" if c in "*?[]\\" else c for c in name) + "*"
            keys = list(r.scan_iter(match=pattern, count=1000))
            if keys:
                r.delete(*keys)
    finally:
        r.close()


@pytest.fixture(params=["embedded", "servers"])
def setup_db(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Runs a test on both set-ups: "embedded" (SQLite record, state in-process) and "servers"
    (PostgreSQL record, feature state in Redis through QALQAN_STATE, which ``from_env`` and child
    processes read). Returns the record's URL; the test's Redis keys are deleted afterwards."""
    if request.param == "embedded":
        yield f"sqlite:///{tmp_path / 'record.db'}"
        return
    why = _redis_missing()
    if why:
        missing(why)
    url = request.getfixturevalue("pg_url")
    monkeypatch.setenv("QALQAN_STATE", REDIS_TEST_URL)
    yield url
    # The namespace names the record: its database, or a SQLite file under this test's folder.
    _forget_state(url.rsplit("/", 1)[1], str(tmp_path))
