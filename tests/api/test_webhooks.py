"""Signed webhooks (webhooks.py): every outbox notice reaches a real local receiver, signed, with a
stable idempotency key, in order; a receiver that is down or answers 5xx is tried again; a restart
loses nothing and sends nothing twice that was taken; on PostgreSQL a notice committed after a
higher id is still sent. Both records."""

from __future__ import annotations

import asyncio
import socket
import time

import psycopg
import pytest
from webhook_receiver import Receiver

from qalqan.config import ConfigError, from_env
from qalqan.store import open_record
from qalqan.webhooks import SIGNATURE, Dispatcher, sign, verify

SECRET = b"s3cret-for-the-tests-only"
TS = 1_770_033_600_000_000  # 2026-02-02T12:00:00Z


@pytest.fixture
def record(db_url):
    r = open_record(db_url)
    yield r
    r.close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def notice(record, event_id, kind="case_deadline_decline", org="bank1", text="no decision by …"):
    record.append_outbox((TS, "tok-C1", event_id, kind, text, org))
    record.commit()


def dispatcher(record, url, **kw):
    kw.setdefault("base_s", 0.01)
    kw.setdefault("timeout_s", 2.0)
    return Dispatcher(type("Source", (), {"record": record})(), url, SECRET, **kw)


def run_until(d, done, seconds=10.0):
    """Runs the dispatcher's loop until ``done()`` holds (at most ``seconds``), then stops it."""
    async def go():
        task = asyncio.create_task(d.run())
        try:
            limit = time.monotonic() + seconds
            while not done():
                assert time.monotonic() < limit, "the dispatcher did not get there in time"
                await asyncio.sleep(0.01)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    asyncio.run(go())


def queued(record):
    return [r[4] for r in record.webhook_pending()]


def test_each_notice_is_delivered_signed_with_a_stable_idempotency_key(record, receiver):
    notice(record, "before")  # written before webhooks were ever on: the outbox's only
    d = dispatcher(record, receiver.url)
    assert asyncio.run(d.pass_once()) and receiver.got == []
    notice(record, "g-1")
    notice(record, "h-1", kind="hold_rejected", org="bank 2", text="not confirmed in time: not executed")
    assert asyncio.run(d.pass_once())
    first, second = receiver.delivered()
    ids = {r[3]: r[0] for r in record.outbox(0)}
    assert first.doc == {"id": ids["g-1"], "idempotency_key": f"bank1:{ids['g-1']}", "org": "bank1",
                         "kind": "case_deadline_decline", "event_id": "g-1", "customer_id": "tok-C1",
                         "ts": "2026-02-02T12:00:00Z", "text": "no decision by …"}
    assert first.headers["idempotency-key"] == f"bank1:{ids['g-1']}"
    assert second.headers["idempotency-key"] == f"bank%202:{ids['h-1']}" == second.doc["idempotency_key"]
    assert first.headers["content-type"] == "application/json"
    for got in (first, second):
        header = got.headers[SIGNATURE.lower()]
        assert verify(SECRET, header, got.body)
        assert not verify(b"another-secret-altogether", header, got.body)  # a bad secret fails
        assert not verify(SECRET, header, got.body.replace(b"bank", b"BANK"))  # so does a changed body
        assert not verify(SECRET, header, got.body, now_s=time.time() + 3600)  # and an old request
    assert queued(record) == []


def test_the_signature_is_hmac_sha256_over_timestamp_dot_body():
    import hashlib
    import hmac

    body = b'{"id":1}'
    assert sign(SECRET, 1700000000, body) == (
        "t=1700000000,v1=" + hmac.new(SECRET, b"1700000000." + body, hashlib.sha256).hexdigest())
    assert not verify(SECRET, "v1=abc", body) and not verify(SECRET, "garbage", body)


def test_a_receiver_answering_500_is_tried_again_and_the_order_kept(record, receiver):
    receiver.statuses = [500, 503, 200]
    d = dispatcher(record, receiver.url, max_tries=2)  # 5xx is never given up, whatever the tries
    asyncio.run(d.pass_once())  # installs the queue
    notice(record, "a-1")
    notice(record, "a-2")
    run_until(d, lambda: len(receiver.delivered()) == 2 and not queued(record))
    assert [g.doc["event_id"] for g in receiver.got] == ["a-1", "a-1", "a-1", "a-2"]  # a-2 waits for a-1
    assert [g.status for g in receiver.got] == [500, 503, 200, 200]
    keys = {g.headers["idempotency-key"] for g in receiver.got[:3]}
    assert len(keys) == 1 and {g.body for g in receiver.got[:3]} == {receiver.got[0].body}  # the same notice
    assert all(verify(SECRET, g.headers[SIGNATURE.lower()], g.body) for g in receiver.got)
    assert queued(record) == [] and d.failures == 0


def test_a_receiver_that_is_down_blocks_nothing_and_gets_everything_when_back(record):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    d = dispatcher(record, f"http://127.0.0.1:{port}/")
    asyncio.run(d.pass_once())
    notice(record, "d-1")
    assert asyncio.run(d.pass_once()) is False  # nobody listens: kept, tried again later
    assert d.backoff_s() == 0.01 and queued(record) == ["d-1"]
    assert asyncio.run(d.pass_once()) is False
    assert d.backoff_s() == 0.02  # doubled
    assert Dispatcher(None, "http://x", SECRET, cap_s=300).backoff_s() == 1.0
    capped = Dispatcher(None, "http://x", SECRET, cap_s=300)
    capped.failures = 40
    assert capped.backoff_s() == 300
    back = Receiver(port=port)
    try:
        assert asyncio.run(d.pass_once())
        assert [g.doc["event_id"] for g in back.delivered()] == ["d-1"]
    finally:
        back.close()


def test_a_restart_resumes_without_loss_or_repeat(db_url, receiver):
    first = open_record(db_url)
    d1 = dispatcher(first, receiver.url)
    asyncio.run(d1.pass_once())
    for e in ("r-1", "r-2", "r-3"):
        notice(first, e)
    receiver.statuses = [200, 200, 500]  # r-3 fails, then the server stops
    assert asyncio.run(d1.pass_once()) is False
    first.close()
    second = open_record(db_url)  # the restarted server
    try:
        notice(second, "r-4")
        d2 = dispatcher(second, receiver.url)
        assert asyncio.run(d2.pass_once())
        assert [g.doc["event_id"] for g in receiver.delivered()] == ["r-1", "r-2", "r-3", "r-4"]  # each once
        assert queued(second) == []
    finally:
        second.close()


def test_a_refused_notice_is_given_up_after_its_tries_and_the_next_is_sent(record, receiver):
    d = dispatcher(record, receiver.url, max_tries=3)
    asyncio.run(d.pass_once())
    notice(record, "bad-1")
    notice(record, "ok-2")
    receiver.statuses = [400, 422, 410, 200]
    run_until(d, lambda: len(receiver.delivered()) == 1 and not queued(record))
    assert [(g.doc["event_id"], g.status) for g in receiver.got] == [
        ("bad-1", 400), ("bad-1", 422), ("bad-1", 410), ("ok-2", 200)]
    dropped = [a for a in record.audit_rows("bank1") if a["action"] == "webhook.dropped"]
    assert [(a["actor"], a["detail"]) for a in dropped] == [("webhooks", "HTTP 410")]
    assert queued(record) == []


def test_429_and_408_are_busy_not_refusals(record, receiver):
    d = dispatcher(record, receiver.url, max_tries=2)
    asyncio.run(d.pass_once())
    notice(record, "busy-1")
    receiver.statuses = [429, 408, 429, 200]
    run_until(d, lambda: len(receiver.delivered()) == 1 and not queued(record))
    assert [g.status for g in receiver.got] == [429, 408, 429, 200]  # never given up


def test_postgres_a_notice_committed_after_a_higher_id_is_still_sent(pg_url, receiver):
    """Two writers: the first takes an outbox id and commits after the second. A cursor over ids
    would have moved past it; the queue sends it."""
    record = open_record(pg_url)
    try:
        d = dispatcher(record, receiver.url)
        asyncio.run(d.pass_once())
        slow = psycopg.connect(pg_url)
        slow.execute("INSERT INTO outbox (ts_us, customer, event_id, kind, text, org) "
                     "VALUES (%s, 'tok', 'slow-1', 'hold_rejected', 'x', 'bank1')", (TS,))
        notice(record, "fast-2")  # a higher id, committed first
        assert asyncio.run(d.pass_once())
        slow.commit()
        slow.close()
        assert asyncio.run(d.pass_once())
        got = [g.doc for g in receiver.delivered()]
        assert [g["event_id"] for g in got] == ["fast-2", "slow-1"]
        assert got[1]["id"] < got[0]["id"]
    finally:
        record.close()


@pytest.mark.parametrize("env, named", [
    ({"QALQAN_WEBHOOK_URL": "http://127.0.0.1:9/"}, "QALQAN_WEBHOOK_SECRET"),
    ({"QALQAN_WEBHOOK_URL": "http://127.0.0.1:9/", "QALQAN_WEBHOOK_SECRET": "short"}, "QALQAN_WEBHOOK_SECRET"),
    ({"QALQAN_WEBHOOK_SECRET": "x" * 32}, "QALQAN_WEBHOOK_SECRET"),
    ({"QALQAN_WEBHOOK_URL": "ftp://example.org/", "QALQAN_WEBHOOK_SECRET": "x" * 32}, "QALQAN_WEBHOOK_URL"),
])
def test_bad_webhook_settings_are_refused_by_name(monkeypatch, env, named):
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    with pytest.raises(ConfigError) as err:
        from_env()
    assert str(err.value).startswith(named)


def test_production_sends_webhooks_over_https_only(monkeypatch):
    monkeypatch.delenv("QALQAN_CLOCK_START")
    monkeypatch.setenv("QALQAN_MODE", "production")
    monkeypatch.setenv("QALQAN_KEY", "ab" * 32)
    monkeypatch.setenv("QALQAN_DB", "sqlite:///x.db")
    monkeypatch.setenv("QALQAN_WEBHOOK_URL", "http://hooks.example.org/")
    monkeypatch.setenv("QALQAN_WEBHOOK_SECRET", "x" * 32)
    with pytest.raises(ConfigError, match="^QALQAN_WEBHOOK_URL: production"):
        from_env()
    monkeypatch.setenv("QALQAN_WEBHOOK_URL", "https://hooks.example.org/")
    assert from_env().webhook_url == "https://hooks.example.org/"
