"""QALQAN_STATE=redis://…: a restart continues from the state kept in Redis instead of refolding
the record, and decides the rest exactly as an uninterrupted run (latency aside)."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import msgspec
import pytest

from conftest import REDIS_TEST_URL, _forget_state, _redis_missing, missing, transfer
from qalqan.config import from_env
from qalqan.engine import Engine
from qalqan.sim import generate
from qalqan.state import StateError, record_namespace


@pytest.fixture(scope="module")
def events() -> list[bytes]:
    """About 8 days of 60 clients: every kind of event, holds and lists among them."""
    return [msgspec.json.encode(e) for e in itertools.islice(generate(60, 8, 7), 6000)]


def _decide(engine: Engine, lines: list[bytes]) -> list[dict[str, Any]]:
    out = []
    for line in lines:
        o = engine.decide(line)
        if o.decision_json is not None:
            d = msgspec.json.decode(o.decision_json)
            d.pop("latency_ms")
            out.append(d)
    engine.commit()
    return out


def _crash(engine: Engine) -> None:
    """Stops like a killed process: no closing snapshot, nothing written after the last commit."""
    engine.record.close()
    if engine.state is not None:
        engine.state.close()


@pytest.fixture(params=["sqlite", "postgres"])
def redis_record(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A record (either kind) with its state in Redis; the test's keys deleted afterwards."""
    why = _redis_missing()
    if why:
        missing(why)
    url = f"sqlite:///{tmp_path / 'record.db'}" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    monkeypatch.setenv("QALQAN_STATE", REDIS_TEST_URL)
    yield url
    _forget_state(record_namespace(url))


@pytest.mark.parametrize("redis_kept", [True, False], ids=["from-redis", "redis-emptied"])
def test_restart_continues_from_redis_and_decides_as_an_uninterrupted_run(events, redis_record, tmp_path,
                                                                          monkeypatch, redis_kept):
    half = len(events) // 2
    monkeypatch.delenv("QALQAN_STATE")
    reference = Engine(from_env(db_url=f"sqlite:///{tmp_path / 'reference.db'}"))
    assert reference.state is None
    expected = _decide(reference, events)
    reference.close()
    monkeypatch.setenv("QALQAN_STATE", REDIS_TEST_URL)

    settings = from_env(db_url=redis_record)
    first = Engine(settings, snapshot_every=10**9)  # no snapshot in the record: only Redis can spare the fold
    assert first.state is not None and first.restored == 0
    got = _decide(first, events[:half])
    stored = first.seq
    _crash(first)
    if not redis_kept:
        _forget_state(record_namespace(redis_record))

    second = Engine(settings, snapshot_every=10**9)
    if redis_kept:
        assert second.state is not None and second.state.loaded_seq == stored
        assert second.restored == 0  # nothing refolded: the state came whole from Redis
    else:
        assert second.state is not None and second.state.loaded_seq is None
        assert second.restored == stored  # the record's rows, all of them, then Redis written whole
    got += _decide(second, events[half:])
    second.close()
    assert len(got) == len(expected) > 500
    assert got == expected


def test_redis_holds_what_memory_holds_after_every_commit(events, redis_record):
    """Only what updates touch is written, windows by their new entries, lists and holds when they
    changed: after each commit Redis must still hold memory's state (a window may keep a few
    entries that a read already dropped in memory, older than every window: never other ones)."""
    e = Engine(from_env(db_url=redis_record), snapshot_every=10**9)
    assert e.state is not None
    for start in range(0, 3000, 500):
        _decide(e, events[start:start + 500])
        seq, blob = e.state.load()  # type: ignore[misc]
        assert seq == e.seq
        kept = msgspec.msgpack.decode(blob)
        assert kept["lists"] == e.lists.dump() and kept["holds"] == e.holds.dump()
        features = msgspec.msgpack.decode(kept["features"])
        for spec, table, stored in zip(e.features.fs.specs, e.features.tables, features["tables"]):
            assert set(stored) == set(table), spec.name
            for key, value in table.items():
                if spec.kind == "window":
                    got = [tuple(x) for x in stored[key]]
                    assert got[len(got) - len(value.entries):] == value.entries, (spec.name, key)
                else:
                    assert stored[key] == value, (spec.name, key)
    assert len(e.lists) > 0 and len(e.holds.holds) > 0  # the stream has both to write
    e.close()


def test_redis_ahead_of_the_record_is_not_trusted(redis_record):
    """Redis written past the record (the record's commit then lost) is ignored: the engine folds
    the record and writes its own state over it."""
    settings = from_env(db_url=redis_record)
    e = Engine(settings)
    for i in range(5):
        e.decide(transfer(ts=f"2026-02-02T10:0{i}:00Z"))
    e.commit()
    e.state.r.hset(f"{e.state.ns}:meta", "seq", 99)  # type: ignore[union-attr]
    _crash(e)
    e2 = Engine(settings)
    assert e2.state is not None and e2.state.loaded_seq is None and e2.restored == 5
    assert int(e2.state.r.hget(f"{e2.state.ns}:meta", "seq")) == 5  # rewritten from the record
    e2.close()


def test_without_qalqan_state_there_is_no_state_backend(tmp_path):
    e = Engine(from_env(db_url=f"sqlite:///{tmp_path / 'r.db'}"))
    assert e.state is None
    e.close()


def test_a_state_with_undurable_events_in_it_is_not_written(redis_record):
    """The HTTP front decides the next group while one is written: Redis waits for a quiet commit."""
    e = Engine(from_env(db_url=redis_record))
    e.auto_commit = False
    for i in range(3):
        e.decide(transfer(ts=f"2026-02-02T10:0{i}:00Z"))
    batch, n = e.detach()
    e.decide(transfer(ts="2026-02-02T10:05:00Z"))  # decided while the batch is being written
    e.write(batch, n)
    meta = f"{e.state.ns}:meta"  # type: ignore[union-attr]
    assert int(e.state.r.hget(meta, "seq")) == 0  # type: ignore[union-attr]
    e.commit()
    assert int(e.state.r.hget(meta, "seq")) == 4  # type: ignore[union-attr]
    e.close()


def test_the_namespace_names_the_record_without_credentials():
    assert record_namespace("postgresql://qalqan:secret@db.example:5433/risk") == "db.example:5433/risk"
    assert record_namespace("sqlite:////var/lib/qalqan/qalqan.db") == "sqlite:/var/lib/qalqan/qalqan.db"
    assert record_namespace("sqlite:///:memory:") is None


def test_an_unsupported_state_url_is_refused_naming_the_setting(tmp_path, monkeypatch):
    monkeypatch.setenv("QALQAN_STATE", "memcached://127.0.0.1:11211")
    with pytest.raises(StateError, match="QALQAN_STATE: unsupported URL"):
        Engine(from_env(db_url=f"sqlite:///{tmp_path / 'r.db'}"))
