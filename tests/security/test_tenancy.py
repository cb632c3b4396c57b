"""Organisations are walls, and time cannot be forged into power (docs/security.md).

Tried as a hostile integrator would: organisation B answers A's hold, sends a timestamp of 2099,
reuses an event id with another amount, or simply sends traffic for customers who share A's
customers' ids. Each must change nothing of A's, and B's own decisions must be the same byte for
byte whether or not A sends anything.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
from test_http import serving

from conftest import ev, transfer
from qalqan.api.keys import KeyRing
from qalqan.config import from_env
from qalqan.engine import Engine
from qalqan.events import EventError, TargetNotFound
from qalqan.sim import generate
from qalqan.store import open_record

A, B = "bank-a", "bank-b"


def _decisions(outcomes: list[Any]) -> dict[str, dict[str, Any]]:
    """Decisions by event id, without the latency (the one field that is the machine's, not the event's)."""
    out = {}
    for o in outcomes:
        if o.decision_json is not None:
            d = msgspec.json.decode(o.decision_json)
            d.pop("latency_ms")
            out[o.event_id] = d
    return out


def _engine(path: Path) -> Engine:
    return Engine(from_env(db_url=f"sqlite:///{path}"))


# --- feature state, lists, first-seen and holds are per organisation ------------------------------------
def test_one_organisations_traffic_never_changes_anothers_decisions(tmp_path: Path) -> None:
    """B decides a simulated fortnight alone, then again with A sending the very same events —
    customers, cards, devices, merchants, accounts, and event ids — before each of B's: every one of
    B's decisions (action, score, reasons and their texts, hold terms) is the same, and none of them
    is answered as a duplicate of A's."""
    events = [msgspec.json.encode(e) for e in generate(120, 14, seed=5)]

    alone = _engine(tmp_path / "alone.db")
    b_alone = _decisions([alone.decide(raw, B) for raw in events])
    alone.close()

    both = _engine(tmp_path / "both.db")
    outcomes = []
    for raw in events:
        assert not both.decide(raw, A).duplicate
        outcomes.append(both.decide(raw, B))
        assert not outcomes[-1].duplicate
    b_both = _decisions(outcomes)
    both.close()

    assert len(b_alone) > 1000 and b_both == b_alone
    assert len({d["action"] for d in b_alone.values()}) >= 3  # not all approvals: the comparison means something


def _inflows_then_transfer(engine: Engine, inflow_org: str) -> dict[str, Any]:
    """Three payers pay C1 250,000 RUB each by SBP (a dormant account waking up, and the inflow of
    sign 1.12), then B's C1 sends a first transfer to a new recipient."""
    for i in range(3):
        engine.decide(transfer(event_id=f"in-{inflow_org}-{i}", customer_id="C1", direction="in", rail="sbp",
                               amount="250000", counterparty_id=f"PAYER{i}", from_account=f"4081781000000000010{i}",
                               self_transfer=(i == 0), ts=f"2026-02-02T0{7 + i}:00:00Z"), inflow_org)
    out = engine.decide(transfer(event_id=f"out-{inflow_org}", customer_id="C1", rail="interbank", amount="240000",
                                 to_account="40817810000000000777", counterparty_id="STRANGER",
                                 ts="2026-02-02T11:00:00Z"), B)
    return msgspec.json.decode(out.decision_json)


def test_anothers_inflows_do_not_wake_or_hold_b_s_customer(tmp_path: Path) -> None:
    """The issue's two findings: A's inflows to its own C1 made B's C1 'a dormant account that
    woke up' and put B's transfer on hold by sign 1.12, with A's amount in B's reason text."""
    own = _inflows_then_transfer(_engine(tmp_path / "own.db"), B)  # the control: B's own inflows do it
    codes = {r["code"] for r in own["reasons"]}
    assert own["action"] == "hold" and "od2506.1.12" in codes, own

    other = _inflows_then_transfer(_engine(tmp_path / "other.db"), A)
    assert other["action"] != "hold" and "od2506.1.12" not in {r["code"] for r in other["reasons"]}, other
    assert "250000" not in msgspec.json.encode(other).decode()


def test_a_hold_is_answered_only_by_its_organisation(tmp_path: Path) -> None:
    e = _engine(tmp_path / "r.db")
    e.decide(transfer(event_id="in", direction="in", rail="sbp", self_transfer=True, amount="300000",
                      ts="2026-02-02T08:00:00Z"), A)
    assert msgspec.json.decode(e.decide(transfer(event_id="held", ts="2026-02-02T09:00:00Z"), A).decision_json)[
        "action"] == "hold"
    forged = ev("hold_response", event_id="b-answer", target_event_id="held", response="confirm",
                ts="2026-02-02T10:00:00Z")
    with pytest.raises(TargetNotFound) as refused:
        e.decide(forged, B)
    assert refused.value.status == 404 and refused.value.field == "target_event_id"
    for call in (lambda: e.answer_hold("held", "confirm", org=B), lambda: e.repeat_hold("held", org=B)):
        with pytest.raises(TargetNotFound):
            call()
    e.commit()
    assert e.holds.of("held", A).status == "pending" and e.record.event_body("b-answer", B) is None
    assert [n[4] for n in e.record.outbox()] == ["hold_started"]
    e.decide(ev("hold_response", event_id="a-answer", target_event_id="held", response="confirm",
                ts="2026-02-02T10:00:00Z"), A)  # the owner's answer does release it
    assert e.holds.of("held", A).status == "released"


# --- time -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("ts", ["0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "1999-12-31T23:59:59Z", 1767225600,
                                1767225600.5, None])
def test_implausible_or_non_string_times_are_refused(ts: Any, tmp_path: Path) -> None:
    e = _engine(tmp_path / "r.db")
    body = msgspec.json.decode(ev("login", device_id="d", success=True))
    body["ts"] = ts
    with pytest.raises(EventError) as refused:
        e.decide(msgspec.json.encode(body))
    assert refused.value.field == "ts"
    e.commit()
    assert e.record.count() == 0


def test_replay_refuses_a_line_far_ahead_of_the_stream_and_decides_the_rest(tmp_path: Path) -> None:
    e = _engine(tmp_path / "r.db")
    e.decide(transfer(event_id="in", direction="in", rail="sbp", self_transfer=True, amount="300000",
                      ts="2026-02-02T08:00:00Z"))
    e.decide(transfer(event_id="held", ts="2026-02-02T09:00:00Z"))
    with pytest.raises(EventError) as refused:  # would have rejected every pending hold
        e.decide(ev("login", customer_id="SOMEONE", device_id="d", success=True, ts="2099-01-01T00:00:00Z"))
    assert refused.value.field == "ts" and "running time" in refused.value.problem
    e.decide(ev("login", device_id="d", success=True, ts="2026-02-02T10:00:00Z"))  # the rest goes on
    e.commit()
    assert e.holds.holds["held"].status == "pending" and e.record.count() == 3
    late = e.decide(ev("login", event_id="late", device_id="d", success=True, ts="2026-01-20T10:00:00Z"))
    assert late.event_id == "late"  # late events are real: taken


# --- a real server, keys on ---------------------------------------------------------------------------------
@pytest.fixture
def bank_server(tmp_path: Path, isolated_home: Path) -> Iterator[tuple[httpx.Client, dict[str, dict[str, str]], str]]:
    ring = KeyRing.load(isolated_home)
    keys = {name: {"Authorization": f"Bearer {ring.create(role, org, name)[1]}"}
            for name, role, org in [("int_a", "integrator", A), ("ana_a", "analyst", A), ("aud_a", "auditor", A),
                                    ("int_b", "integrator", B), ("ana_b", "analyst", B)]}
    db = f"sqlite:///{tmp_path / 'banks.db'}"
    with serving(QALQAN_AUTH="on", QALQAN_DB=db) as (base, _), httpx.Client(base_url=base, timeout=10) as c:
        yield c, keys, db


def _hold_for_a(c: httpx.Client, keys: dict[str, dict[str, str]]) -> None:
    c.post("/v1/events", headers=keys["int_a"], content=transfer(
        event_id="a-in", direction="in", rail="sbp", self_transfer=True, amount="300000", ts="2026-02-02T08:00:00Z"))
    r = c.post("/v1/events", headers=keys["int_a"], content=transfer(event_id="a-held", ts="2026-02-02T09:00:00Z"))
    assert r.status_code == 200 and r.json()["action"] == "hold", r.text


def test_b_cannot_release_or_expire_a_s_hold(bank_server) -> None:
    c, keys, db = bank_server
    _hold_for_a(c, keys)
    forged = ev("hold_response", event_id="b-1", target_event_id="a-held", response="confirm",
                ts="2026-02-02T10:00:00Z")
    r = c.post("/v1/events", headers=keys["int_b"], content=forged)
    assert r.status_code == 404 and r.json()["field"] == "target_event_id", r.text
    for verb in ("confirm", "reject", "repeat"):
        assert c.post(f"/v1/holds/a-held/{verb}", json={}, headers=keys["ana_b"]).status_code == 404
    # A timestamp far ahead of the server's clock: refused, naming ts, and nobody's deadline moves.
    future = c.post("/v1/events", headers=keys["int_b"], content=ev(
        "login", customer_id="UNRELATED", device_id="d", success=True, ts="2099-01-01T00:00:00Z"))
    assert future.status_code == 422 and future.json()["field"] == "ts" and "server's clock" in future.json()["detail"]
    for ts in ("0001-01-01T00:00:00Z", "9999-01-01T00:00:00Z"):
        assert c.post("/v1/events", headers=keys["int_b"], content=ev("login", device_id="d", success=True,
                                                                         ts=ts)).status_code == 422
    epoch = msgspec.json.decode(ev("login", device_id="d", success=True))
    epoch["ts"] = 1767225600
    assert c.post("/v1/events", headers=keys["int_b"], content=msgspec.json.encode(epoch)).status_code == 422
    held = c.get("/v1/holds/a-held", headers=keys["ana_a"])
    assert held.status_code == 200 and held.json()["status"] == "pending", held.text
    assert [n["kind"] for n in c.get("/v1/outbox", headers=keys["ana_a"]).json()] == ["hold_started"]


def test_same_id_other_body_is_409_and_audited(bank_server) -> None:
    c, keys, db = bank_server
    first = c.post("/v1/events", headers=keys["int_a"], content=transfer(event_id="pay-1", amount="25000"))
    assert first.status_code == 200
    for other in (transfer(event_id="pay-1", amount="9999999"), transfer(event_id="pay-1", to_account="40817810999"),
                  ev("login", event_id="pay-1", device_id="d", success=True)):
        r = c.post("/v1/events", headers=keys["int_a"], content=other)
        assert r.status_code == 409 and r.headers["content-type"] == "application/problem+json", r.text
        assert r.json()["field"] == "event_id"
    batch = c.post("/v1/events", headers=keys["int_a"], content=b"[" + transfer(event_id="pay-1", amount="1") + b"]")
    assert batch.json()[0]["status"] == "rejected" and batch.json()[0]["error"]["status"] == 409
    same = c.post("/v1/events", headers=keys["int_a"], content=transfer(event_id="pay-1", amount="25000"))
    assert same.status_code == 200 and same.content == first.content
    assert c.get("/v1/decisions/pay-1", headers=keys["int_a"]).content == first.content
    rows = c.get("/v1/audit", headers=keys["aud_a"]).json()
    assert sum(r["action"] == "event.conflict" and r["target"] == "event:pay-1" for r in rows) == 4
    # Ids are unique within an organisation: B's pay-1 is B's own event, decided on its own.
    theirs = c.post("/v1/events", headers=keys["int_b"], content=transfer(event_id="pay-1", amount="7000000"))
    assert theirs.status_code == 200 and theirs.json()["event_id"] == "pay-1", theirs.text
    assert theirs.content != first.content
    assert c.get("/v1/decisions/pay-1", headers=keys["int_a"]).content == first.content
    assert c.get("/v1/decisions/pay-1", headers=keys["int_b"]).content == theirs.content
    record = open_record(db)
    try:
        assert record.count() == 2  # A's and B's; nothing of any refused one was stored
    finally:
        record.close()


def test_an_unknown_currency_is_refused_not_skipped(bank_server) -> None:
    c, keys, _ = bank_server
    r = c.post("/v1/events", headers=keys["int_a"], content=transfer(event_id="byn", currency="BYN"))
    assert r.status_code == 422 and r.json()["field"] == "currency", r.text
    assert c.get("/v1/decisions/byn", headers=keys["int_a"]).status_code == 404


def test_deadlines_fire_on_the_servers_clock_without_an_event(tmp_path: Path, isolated_home: Path) -> None:
    """The hold's confirm_by is 2026-02-03T23:59:59Z; the server's clock starts three seconds before it.
    With no event after the transfer, the hold is rejected by the clock, and the outbox says so."""
    ring = KeyRing.load(isolated_home)
    keys = {"int_a": {"Authorization": f"Bearer {ring.create('integrator', A, 'i')[1]}"},
            "ana_a": {"Authorization": f"Bearer {ring.create('analyst', A, 'a')[1]}"}}
    db = f"sqlite:///{tmp_path / 'clock.db'}"
    with serving(QALQAN_AUTH="on", QALQAN_DB=db, QALQAN_CLOCK_START="2026-02-03T23:59:56Z") as (base, _), \
            httpx.Client(base_url=base, timeout=10) as c:
        _hold_for_a(c, keys)
        assert c.get("/v1/holds/a-held", headers=keys["ana_a"]).json()["status"] == "pending"
        deadline = time.monotonic() + 20
        while c.get("/v1/holds/a-held", headers=keys["ana_a"]).json()["status"] == "pending":
            assert time.monotonic() < deadline, "the deadline did not fire on the server's clock"
            time.sleep(0.2)
        assert c.get("/v1/holds/a-held", headers=keys["ana_a"]).json()["status"] == "rejected"
        kinds = [n["kind"] for n in c.get("/v1/outbox", headers=keys["ana_a"]).json()]
        assert kinds == ["hold_started", "hold_rejected"], kinds
    # A restart fires nothing twice: the same state, one notice each.
    with serving(QALQAN_AUTH="on", QALQAN_DB=db, QALQAN_CLOCK_START="2026-02-04T00:00:30Z") as (base, _), \
            httpx.Client(base_url=base, timeout=10) as c:
        time.sleep(1.5)  # a few ticks
        assert c.get("/v1/holds/a-held", headers=keys["ana_a"]).json()["status"] == "rejected"
        kinds = [n["kind"] for n in c.get("/v1/outbox", headers=keys["ana_a"]).json()]
        assert kinds == ["hold_started", "hold_rejected"], kinds
