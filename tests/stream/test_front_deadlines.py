"""Grey deadlines on the scaled set-up: two `qalqan serve --nats` fronts both sweep the shared
PostgreSQL record on their clocks; a grey payment no one decides is closed once, by the clock, and
the receiver is told, signed (each front dispatches; a notice both send carries one idempotency key)."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import psycopg
from webhook_receiver import Receiver

from conftest import payment
from qalqan.webhooks import SIGNATURE, verify

from .conftest import need_servers
from .helpers import env_for, fresh_database, fresh_stream
from .test_front import front, wait_ready, worker
from .test_front_people import GREY, _rules

SECRET = "a-webhook-secret-for-the-fronts"


def test_two_fronts_close_a_grey_payment_once_and_tell_the_receiver(tmp_path: Path) -> None:
    need_servers()
    (tmp_path / "deadlines.yaml").write_text("channels:\n  payment: {after_s: 2, action: decline}\n")
    receiver = Receiver()
    try:
        with fresh_database() as db, fresh_stream() as stream:
            env = env_for(tmp_path / "home", db, QALQAN_RULES=str(_rules(tmp_path)),
                          QALQAN_DEADLINES=str(tmp_path / "deadlines.yaml"), QALQAN_WEBHOOK_URL=receiver.url,
                          QALQAN_WEBHOOK_SECRET=SECRET)
            logs = {n: tmp_path / f"{n}.log" for n in ("f0", "f1", "w0")}
            (a, fa), (b, fb) = front(stream, 1, env, logs["f0"]), front(stream, 1, env, logs["f1"])
            with fa as pa, fb as pb, worker(stream, 0, 1, env, logs["w0"]), httpx.Client(timeout=30) as http:
                wait_ready(a, pa, logs["f0"])
                wait_ready(b, pb, logs["f1"])
                r = http.post(f"{a}/v1/events", content=payment(event_id="p-1", amount=GREY, merchant_id="M-HOTEL"))
                assert r.status_code == 200 and r.json()["action"] == "review", r.text
                limit = time.monotonic() + 20
                while not any(g.doc["event_id"] == "p-1" for g in receiver.delivered()):
                    assert time.monotonic() < limit, f"nothing delivered:\n{logs['f0'].read_text()}"
                    time.sleep(0.2)
                time.sleep(1.5)  # both fronts have swept since
                with psycopg.connect(db) as conn:
                    case = conn.execute("SELECT state, outcome, updated_by FROM cases "
                                        "WHERE event_id = 'p-1'").fetchall()
                    audit = conn.execute("SELECT actor, action FROM audit WHERE actor = 'clock'").fetchall()
                    outbox = conn.execute("SELECT kind FROM outbox WHERE event_id = 'p-1'").fetchall()
                assert case == [("decided", "declined_at_deadline", "clock")]
                assert audit == [("clock", "case.deadline")]  # closed once, with two fronts sweeping
                assert outbox == [("case_deadline_decline",)]
                sent = [g for g in receiver.delivered() if g.doc["event_id"] == "p-1"]
                assert len({g.headers["idempotency-key"] for g in sent}) == 1
                assert all(verify(SECRET.encode(), g.headers[SIGNATURE.lower()], g.body) for g in sent)
                assert sent[0].doc["kind"] == "case_deadline_decline"
    finally:
        receiver.close()
