"""The HTTP API as an integrator drives it: a real `qalqan serve` process, real sockets."""

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest

from conftest import ev, transfer


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serving(**env_extra: str) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A real `qalqan serve` process on a free port, up and answering, stopped afterwards."""
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "qalqan", "serve", "--port", str(port)],
                            env={**os.environ, **env_extra}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(f"{base}/healthz", timeout=1)
            break
        except httpx.TransportError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"server did not start: {proc.stdout.read().decode()}")
            time.sleep(0.1)
    try:
        yield base, proc
    finally:
        proc.terminate()
        proc.wait(timeout=20)


@pytest.fixture
def server(db_url):
    with serving(QALQAN_DB=db_url) as (base, _):
        yield base


def test_decisions_context_and_errors(server):
    with httpx.Client(base_url=server, timeout=10) as c:
        r = c.post("/v1/events", content=transfer(event_id="h-1", rail="sbp"))
        assert r.status_code == 200 and r.json()["action"] == "approve"
        assert r.headers["content-type"].startswith("application/json")

        r = c.post("/v1/events", content=ev("login", event_id="h-2", device_id="d", success=True))
        assert r.status_code == 202 and r.json()["status"] == "accepted"

        r = c.post("/v1/events", content=transfer(event_id="h-3", amount="lots"))
        assert r.status_code == 422
        assert r.headers["content-type"] == "application/problem+json"
        body = r.json()
        assert body["field"] == "amount" and body["status"] == 422
        assert c.get("/v1/decisions/h-3").status_code == 404  # nothing of it was stored

        again = c.post("/v1/events", content=transfer(event_id="h-1", rail="sbp"))
        assert again.status_code == 200 and again.content == c.get("/v1/decisions/h-1").content
        changed = c.post("/v1/events", content=transfer(event_id="h-1", rail="sbp", amount="5"))
        assert changed.status_code == 409 and changed.headers["content-type"] == "application/problem+json"
        assert changed.json()["field"] == "event_id" and "another body" in changed.json()["detail"]
        assert c.get("/v1/decisions/h-1").content == again.content  # nothing changed


def test_an_old_id_with_a_new_time_is_refused_once_then_a_conflict(db_url):
    """After a restart the in-memory horizon does not hold an id four days old: sent again with a
    new time, the record refuses the group once (503, nothing stored), then it is a conflict (409):
    another time and amount are another event. The event itself, sent again, gets its decision."""
    clock = {"QALQAN_CLOCK_START": "2026-02-06T12:00:00Z"}  # the server lives four days on
    with serving(QALQAN_DB=db_url, **clock) as (base, _), httpx.Client(base_url=base, timeout=10) as c:
        first = c.post("/v1/events", content=transfer(event_id="h-old", ts="2026-02-02T10:00:00Z"))
        assert first.status_code == 200
        assert c.post("/v1/events", content=transfer(ts="2026-02-06T10:00:00Z")).status_code == 200
    with serving(QALQAN_DB=db_url, **clock) as (base, _), httpx.Client(base_url=base, timeout=10) as c:
        retry = transfer(event_id="h-old", ts="2026-02-06T10:05:00Z", amount="7000.00")
        refused = c.post("/v1/events", content=retry)
        assert refused.status_code == 503 and "h-old" in refused.json()["detail"]
        assert c.post("/v1/events", content=retry).status_code == 409
        again = c.post("/v1/events", content=transfer(event_id="h-old", ts="2026-02-02T10:00:00Z"))
        assert again.status_code == 200 and again.content == first.content


def test_a_rule_hit_over_http(server):
    with httpx.Client(base_url=server, timeout=10) as c:
        c.post("/v1/events", content=ev("intel", customer_id="regulator", list="cbr_fincert",
                                         entity="account", value="40817810000000000444", op="add"))
        r = c.post("/v1/events", content=transfer(to_account="40817810000000000444", rail="interbank"))
        d = r.json()
        assert d["action"] == "hold" and d["reasons"][0]["code"] == "od2506.1.1"
        assert set(d["hold"]) >= {"until", "confirm_by"}


def test_holds_over_http(server):
    with httpx.Client(base_url=server, timeout=10) as c:
        c.post("/v1/events", content=transfer(direction="in", rail="sbp", self_transfer=True, amount="300000",
                                              ts="2026-02-02T08:00:00Z"))
        d = c.post("/v1/events", content=transfer(event_id="h-hold", rail="interbank", ts="2026-02-02T09:00:00Z"))
        assert d.json()["action"] == "hold"
        assert c.get("/v1/holds/h-hold").json()["status"] == "pending"
        r = c.post("/v1/holds/h-hold/confirm", json={"ts": "2026-02-02T10:00:00Z"})
        assert r.status_code == 200 and r.json()["status"] == "released"
        assert c.post("/v1/holds/nope/confirm", json={}).status_code == 404
        kinds = [n["kind"] for n in c.get("/v1/outbox").json()]
        assert kinds == ["hold_started", "hold_released"]


def test_sighup_reloads_rules_without_dropping_requests(tmp_path):
    import shutil
    import signal as sig

    from qalqan.rules.ruleset import PACKS_DIR

    rules = tmp_path / "rules"
    shutil.copytree(PACKS_DIR, rules)
    with serving(QALQAN_DB=f"sqlite:///{tmp_path / 'r.db'}", QALQAN_RULES=str(rules)) as (base, proc), \
            httpx.Client(base_url=base, timeout=10) as c:
        before = c.post("/v1/events", content=transfer(event_id="s-1", amount="7000")).json()
        assert before["action"] == "approve"
        (rules / "extra.yaml").write_text(
            "pack: extra\nrules:\n  - id: seven\n    when: \"amount_base == rub(7000)\"\n    action: review\n")
        proc.send_signal(sig.SIGHUP)
        deadline = time.monotonic() + 20
        while True:  # every request is answered, by the old set or the new one
            d = c.post("/v1/events", content=transfer(amount="7000")).json()
            if d["action"] == "review":
                break
            assert time.monotonic() < deadline, "the new rules never came in"
            time.sleep(0.05)
        assert d["versions"]["rules"] != before["versions"]["rules"]


def test_batch_metrics_readiness_and_openapi(server):
    with httpx.Client(base_url=server, timeout=10) as c:
        batch = b"[" + b",".join([transfer(event_id="b-1"), transfer(event_id="b-2", amount="x"),
                                  ev("login", event_id="b-3", device_id="d", success=True)]) + b"]"
        r = c.post("/v1/events", content=batch)
        assert r.status_code == 200
        items = r.json()
        assert [i["status"] for i in items] == ["decided", "rejected", "accepted"]
        assert items[0]["decision"]["action"] == "approve" and items[1]["error"]["field"] == "amount"
        assert c.get("/v1/decisions/b-1").status_code == 200 and c.get("/v1/decisions/b-2").status_code == 404
        assert c.post("/v1/events", content=b"[1, 2").status_code == 422

        m = c.get("/metrics").text
        assert 'qalqan_decisions_total{action="approve"} 1' in m
        assert "qalqan_events_rejected_total 1" in m and "qalqan_decision_latency_ms_count 1" in m
        assert c.get("/readyz").json() == {"status": "ready"}

        spec = c.get("/openapi.json").json()
        assert spec["openapi"].startswith("3.") and "/v1/events" in spec["paths"]
        assert "Transfer" in spec["components"]["schemas"]
        assert "/v1/holds/{event_id}/{verb}" in c.get("/docs").text


def test_api_keys_and_roles(tmp_path):
    from typer.testing import CliRunner

    from qalqan.cli import app

    runner = CliRunner()
    secrets = {}
    for role in ("integrator", "auditor"):
        r = runner.invoke(app, ["keys", "create", "--role", role, "--org", "bank1"])
        assert r.exit_code == 0, r.output
        secrets[role] = r.output.split(": ", 1)[1].split()[0]
    assert runner.invoke(app, ["keys", "create", "--role", "boss", "--org", "x"]).exit_code == 2
    stored = (tmp_path / "home" / "api-keys.json").read_text()
    assert secrets["integrator"] not in stored  # only the hash is kept
    with serving(QALQAN_AUTH="on", QALQAN_DB=f"sqlite:///{tmp_path / 'a.db'}") as (base, _), \
            httpx.Client(base_url=base, timeout=10) as c:
        assert c.post("/v1/events", content=transfer(event_id="k-1")).status_code == 401
        bad = c.post("/v1/events", content=transfer(event_id="k-1"), headers={"Authorization": "Bearer nope"})
        assert bad.status_code == 401 and bad.headers["content-type"] == "application/problem+json"
        as_integrator = {"Authorization": f"Bearer {secrets['integrator']}"}
        as_auditor = {"Authorization": f"Bearer {secrets['auditor']}"}
        assert c.post("/v1/events", content=transfer(event_id="k-1"), headers=as_integrator).status_code == 200
        assert c.post("/v1/events", content=transfer(event_id="k-2"), headers=as_auditor).status_code == 403
        assert c.get("/v1/decisions/k-1", headers=as_auditor).status_code == 200
        assert c.get("/v1/outbox", headers=as_integrator).status_code == 403
        assert c.get("/metrics").status_code == 401  # every organisation's counts: an auditor's or admin's key
        assert c.get("/metrics", headers=as_integrator).status_code == 403
        assert c.get("/metrics", headers=as_auditor).status_code == 200
