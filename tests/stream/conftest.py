"""One simulated stream, decided once by one embedded process and once by two workers over
NATS JetStream + PostgreSQL; the tests of this folder compare against both runs."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from conftest import missing

from .helpers import (
    NATS_URL,
    REDIS_URL,
    decisions,
    env_for,
    forget_state,
    fresh_database,
    fresh_stream,
    nats_missing,
    pg_missing,
    qalqan,
    redis_missing,
    start_worker,
    wait_all,
)

CUSTOMERS, DAYS, SEED = 400, 30, 5  # 56,723 events, every scenario (about 22,000 money movements)


@dataclass
class Run:
    decisions: dict[str, dict[str, Any]]
    published: str  # what `qalqan publish` printed


@contextmanager
def state_of(url: str | None, db: str) -> Iterator[dict[str, str]]:
    """The environment that selects the state backend, and its keys deleted afterwards."""
    if url is None:
        yield {}
        return
    try:
        yield {"QALQAN_STATE": url}
    finally:
        forget_state(url, db)


def need_servers() -> None:
    why = nats_missing() or pg_missing()
    if why:
        missing(why)


@pytest.fixture(scope="session")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sim") / "events.jsonl"
    qalqan("simulate", "--customers", str(CUSTOMERS), "--days", str(DAYS), "--seed", str(SEED), "-o", str(path),
           env=env_for(path.parent / "home"))
    return path


@pytest.fixture(scope="session")
def embedded(sim: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """The reference: one process, the embedded record and state."""
    work = tmp_path_factory.mktemp("embedded")
    out = work / "decisions.jsonl"
    qalqan("replay", str(sim), "-o", str(out), "--fresh", env=env_for(work / "home"))
    return decisions(out)


@pytest.fixture(scope="session")
def two_workers(sim: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    """The same stream published in 2 partitions and decided by 2 `qalqan worker` processes."""
    yield from _two_workers(sim, tmp_path_factory, None)


@pytest.fixture(scope="session")
def two_workers_redis(sim: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    """The same, with the feature state kept in Redis too (QALQAN_STATE)."""
    why = redis_missing()
    if why:
        missing(why)
    yield from _two_workers(sim, tmp_path_factory, REDIS_URL)


def _two_workers(sim: Path, tmp_path_factory: pytest.TempPathFactory, state: str | None) -> Iterator[Run]:
    need_servers()
    work = tmp_path_factory.mktemp("two")
    with fresh_database() as db, fresh_stream() as stream, state_of(state, db) as extra:
        env = env_for(work / "home", db, **extra)
        published = qalqan("publish", str(sim), "--nats", NATS_URL, "--stream", stream, "--partitions", "2",
                           env=env).stdout
        logs = [work / f"worker{p}.log" for p in range(2)]
        wait_all([start_worker(stream, p, 2, env, logs[p]) for p in range(2)], logs)
        out = work / "decisions.jsonl"
        qalqan("decisions", "--export", str(out), env=env)
        yield Run(decisions(out), published)
