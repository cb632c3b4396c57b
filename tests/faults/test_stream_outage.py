"""The scaled set-up's NATS stopped, or frozen, under a front and a worker, then restored.

While the stream cannot take an event, a payment is not durable anywhere: the front answers 503
with Retry-After within its budget (never a hang, never a 200 it could not keep); `/healthz` says it
is alive; once NATS is back the same front process takes payments again by itself (its client
reconnects for as long as it runs), and the worker (crash-only: started again by its supervisor,
played here by the test) decides them. Nothing answered 200 is lost."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import psycopg
import pytest
from private_servers import free_port, private_nats
from stream.conftest import need_servers
from stream.helpers import env_for, fresh_database
from stream.test_front import running, wait_ready

from conftest import payment

HANG_S = 10.0  # the decide budget is 1 s: an answer later than this is a hang


def _post(c: httpx.Client, base: str, eid: str) -> tuple[int, float]:
    t0 = time.monotonic()
    r = c.post(f"{base}/v1/events", content=payment(event_id=eid, customer_id=f"C{eid[-4:]}"))
    took = time.monotonic() - t0
    if r.status_code == 503:
        assert r.headers["retry-after"], r.headers
    return r.status_code, took


@pytest.mark.parametrize("fault", ["stopped", "frozen"])
def test_stream_lost_a_fast_503_then_the_same_front_takes_payments_again(tmp_path: Path, fault: str) -> None:
    need_servers()
    with private_nats() as nats, fresh_database() as db:
        env = env_for(tmp_path / "home", db, QALQAN_DECIDE_BUDGET_MS="1000")
        port = free_port()
        base, flog, wlog = f"http://127.0.0.1:{port}", tmp_path / "front.log", tmp_path / "worker.log"
        worker_args = ["worker", "--nats", nats.url, "--stream", "QFAULT", "--partition", "0/1", "--batch", "50"]
        acked: list[str] = []
        with running(["serve", "--port", str(port), "--nats", nats.url, "--stream", "QFAULT", "--partitions", "1"],
                     env, flog) as front, httpx.Client(timeout=30) as c:
            wait_ready(base, front, flog)
            with running(worker_args, env, wlog):
                status, _ = _post(c, base, "before-0001")
                assert status == 200, flog.read_text() + wlog.read_text()
                acked.append("before-0001")
                nats.stop() if fault == "stopped" else nats.freeze()
                for i in range(3):
                    status, took = _post(c, base, f"during-{i:04d}")
                    assert status == 503, status
                    assert took < HANG_S, f"{took:.1f} s"
                    assert c.get(f"{base}/healthz").status_code == 200
                if fault == "stopped":
                    assert c.get(f"{base}/readyz").status_code == 503
                    time.sleep(12)  # longer than a client that gives up after a few tries would wait
                nats.start() if fault == "stopped" else nats.thaw()
            # The worker may have given up while NATS was away (crash-only): its supervisor starts it again.
            with running(worker_args, env, wlog):
                deadline, n = time.monotonic() + 60, 0
                while True:
                    n += 1
                    status, took = _post(c, base, f"after-{n:04d}")
                    assert took < HANG_S, f"{took:.1f} s"
                    if status == 200:
                        acked.append(f"after-{n:04d}")
                        break
                    assert time.monotonic() < deadline, "the front did not take payments again:\n" + flog.read_text()
                    time.sleep(0.5)
                assert front.poll() is None, "the front had to be restarted"
                # Answered 200 (the worker's decision, or the fallback while it caught up): durable in
                # the stream, so decided into the record by the worker.
                deadline = time.monotonic() + 60
                while not set(acked) <= (stored := _stored(db)):
                    assert time.monotonic() < deadline, (set(acked) - stored, wlog.read_text()[-3000:])
                    time.sleep(0.2)
                if fault == "stopped":  # nothing buffered in the front's client for later (pending_size=0)
                    assert not any(e.startswith("during-") for e in stored), "an event answered 503 was decided"
                # Frozen: the events the front sent before it gave up lie in the server's socket, and a
                # thawed NATS keeps them; the 503 says so (send it again, same event_id: decided once).


def _stored(db: str) -> set[str]:
    try:
        with psycopg.connect(db) as conn:
            return {r[0] for r in conn.execute("SELECT event_id FROM events")}
    except psycopg.errors.UndefinedTable:
        return set()
