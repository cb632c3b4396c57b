"""The trust boundary on the scaled set-up (tests/security/test_tenancy.py for one process): through
`qalqan serve --nats` fronts and workers, organisation B cannot answer A's hold, cannot move time
with a far-future timestamp, and an event id sent again with another body is 409 (the same id from
another organisation is that organisation's own event); A's hold fires
on the worker's clock without any event arriving."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import msgspec

from conftest import ev, transfer
from qalqan.api.keys import KeyRing

from .conftest import need_servers
from .helpers import env_for, fresh_database, fresh_stream
from .test_front import front, wait_ready, worker

A, B = "bank-a", "bank-b"


def test_a_hostile_organisation_through_the_fronts(tmp_path: Path) -> None:
    need_servers()
    home = tmp_path / "home"
    ring = KeyRing.load(home)
    keys = {name: {"authorization": f"Bearer {ring.create(role, org, name)[1]}"}
            for name, role, org in [("int_a", "integrator", A), ("ana_a", "analyst", A), ("int_b", "integrator", B),
                                    ("ana_b", "analyst", B)]}
    with fresh_database() as db, fresh_stream() as stream:
        # The servers' clock: 24 s before the hold's confirm_by (2026-02-03T23:59:59Z), time to start.
        env = env_for(home, db, QALQAN_AUTH="on", QALQAN_CLOCK_START="2026-02-03T23:59:35Z")
        logs = {n: tmp_path / f"{n}.log" for n in ("f0", "f1", "w0", "w1")}
        (a, fa), (b, fb) = front(stream, 2, env, logs["f0"]), front(stream, 2, env, logs["f1"])
        with fa as pa, fb as pb, worker(stream, 0, 2, env, logs["w0"]), worker(stream, 1, 2, env, logs["w1"]), \
                httpx.Client(timeout=30) as http:
            wait_ready(a, pa, logs["f0"])
            wait_ready(b, pb, logs["f1"])

            def post(base: str, key: str, body: bytes) -> httpx.Response:
                return http.post(f"{base}/v1/events", content=body, headers=keys[key])

            assert post(a, "int_a", transfer(event_id="a-in", direction="in", rail="sbp", self_transfer=True,
                                             amount="300000", ts="2026-02-02T08:00:00Z")).status_code == 200
            held = post(a, "int_a", transfer(event_id="a-held", ts="2026-02-02T09:00:00Z"))
            assert held.status_code == 200 and held.json()["action"] == "hold", held.text

            forged = post(b, "int_b", ev("hold_response", event_id="b-1", target_event_id="a-held",
                                         response="confirm", ts="2026-02-02T10:00:00Z"))
            assert forged.status_code == 404 and forged.json()["field"] == "target_event_id", forged.text
            for verb in ("confirm", "reject", "repeat"):
                assert http.post(f"{b}/v1/holds/a-held/{verb}", json={}, headers=keys["ana_b"]).status_code == 404
            future = post(b, "int_b", ev("login", customer_id="X", device_id="d", success=True,
                                         ts="2099-01-01T00:00:00Z"))
            assert future.status_code == 422 and future.json()["field"] == "ts", future.text

            changed = post(b, "int_a", transfer(event_id="a-held", amount="9999999", ts="2026-02-02T09:00:00Z"))
            assert changed.status_code == 409 and changed.json()["field"] == "event_id", changed.text
            same = post(b, "int_a", transfer(event_id="a-held", ts="2026-02-02T09:00:00Z"))
            assert same.status_code == 200 and msgspec.json.decode(same.content) == held.json()
            # An event id is unique within its organisation: B's a-held is B's own (no inflow: approved).
            theirs = post(a, "int_b", transfer(event_id="a-held", ts="2026-02-02T09:00:00Z"))
            assert theirs.status_code == 200 and theirs.json()["action"] == "approve", theirs.text

            state = http.get(f"{a}/v1/holds/a-held", headers=keys["ana_a"]).json()
            assert state["status"] == "pending", state
            deadline = time.monotonic() + 60  # the worker's clock passes confirm_by: no event needed
            while http.get(f"{a}/v1/holds/a-held", headers=keys["ana_a"]).json()["status"] == "pending":
                assert time.monotonic() < deadline, f"not fired on the worker's clock\n{logs['w0'].read_text()}"
                time.sleep(0.3)
            assert http.get(f"{b}/v1/holds/a-held", headers=keys["ana_a"]).json()["status"] == "rejected"
            kinds = [n["kind"] for n in http.get(f"{a}/v1/outbox", headers=keys["ana_a"]).json()]
            assert kinds == ["hold_started", "hold_rejected"], kinds
