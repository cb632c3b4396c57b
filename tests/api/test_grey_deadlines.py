"""Grey deadlines (issue 15): a `review` no one decides in time takes its configured default action
on the server's clock — recorded on the case, in the audit log and in the outbox — on both records.
The clock is the test's own (``Engine.use_clock`` and the sweep's ``now``): nothing sleeps."""

from __future__ import annotations

import sqlite3
import threading
import time
from datetime import datetime

import pytest
from people_fixtures import AIRLINE, ANALYST, GREY, rules_with_review

from conftest import payment, transfer
from qalqan import cases
from qalqan.case_deadlines import Sweeper, sweep
from qalqan.config import ConfigError, from_env
from qalqan.engine import Engine
from qalqan.events import ts_to_us
from qalqan.store import open_record

MIN_US = 60_000_000
NOW = ts_to_us(datetime.fromisoformat("2026-02-02T12:00:00+00:00"))  # the server's clock when it decides
DEADLINES = """
merchants:
  M-AIR: {after_s: 1200, action: approve}
orgs:
  bank2:
    channels:
      transfer: {after_s: 600}
"""


class Clock:
    """The server's clock, moved by the test."""

    def __init__(self, us: int) -> None:
        self.us = us

    def __call__(self) -> int:
        return self.us


@pytest.fixture
def engine(db_url, tmp_path, monkeypatch):
    monkeypatch.setenv("QALQAN_RULES", str(rules_with_review(tmp_path)))
    (tmp_path / "deadlines.yaml").write_text(DEADLINES)
    monkeypatch.setenv("QALQAN_DEADLINES", str(tmp_path / "deadlines.yaml"))
    e = Engine(from_env(db_url=db_url))
    e.use_clock(Clock(NOW))  # a live server: decided at 12:00 on its clock, whatever the events' ts
    yield e
    e.close()


def _policy() -> cases.CasePolicy:
    return cases.CasePolicy.from_env()


def _grey(engine, raw, org="bank1"):
    o = engine.decide(raw, org=org)
    assert o.decision.action == "review"
    engine.commit()
    return o


def _case(engine, event_id, actor=ANALYST):
    cases.sync(engine.record, _policy())
    (found,) = [c for c in cases.queue(engine.record, actor, limit=1000) if c.event_id == event_id]
    return found


def _outbox(engine, org="bank1"):
    return [(r[3], r[4]) for r in engine.record.outbox(0, org=org)]


def _audit(engine, org="bank1"):
    return [(r["actor"], r["role"], r["action"], r["target"], r["detail"])
            for r in engine.record.audit_rows(org, limit=1000)]


def test_a_review_past_its_deadline_is_declined_by_the_clock(engine):
    _grey(engine, transfer(event_id="g-1", amount=GREY, ts="2026-02-02T10:00:00Z"))
    case = _case(engine, "g-1")
    assert case.due == "2026-02-02T16:00:00Z"  # 4 h from when the server decided it, not from its ts
    due = NOW + 240 * MIN_US
    assert sweep(engine.record, due - 1, _policy()) == []  # a microsecond early: nothing
    (closed,) = sweep(engine.record, due, _policy())
    assert closed["event_id"] == "g-1"
    after = cases.get(engine.record, ANALYST, case.id)
    assert (after.state, after.outcome, after.updated_by) == ("decided", "declined_at_deadline", "clock")
    assert after.note == ("no decision by 2026-02-02T16:00:00Z: the default action for default is decline")
    assert _outbox(engine) == [("g-1", "case_deadline_decline")]
    assert _audit(engine) == [("clock", "system", "case.deadline", f"case:{case.id}",
                               "declined_at_deadline (default)")]
    with pytest.raises(cases.CaseConflict):  # decided: a person's late answer is refused
        cases.decide(engine, ANALYST, case.id, "legitimate")


def test_a_merchants_grey_payment_waits_15_minutes_then_is_declined(engine):
    _grey(engine, payment(event_id="p-hotel", amount=GREY, merchant_id="M-HOTEL", ts="2026-02-02T11:59:00Z"))
    case = _case(engine, "p-hotel")
    assert case.due == "2026-02-02T12:15:00Z"
    assert sweep(engine.record, NOW + 15 * MIN_US - 1, _policy()) == []
    assert [c["outcome"] for c in sweep(engine.record, NOW + 15 * MIN_US, _policy())] == ["declined_at_deadline"]
    assert _outbox(engine) == [("p-hotel", "case_deadline_decline")]


def test_a_merchants_own_default_and_an_organisations_contract_override_the_channel(engine):
    _grey(engine, payment(event_id="p-air", amount=GREY, merchant_id="M-AIR"))
    _grey(engine, transfer(event_id="t-b2", amount=GREY), org="bank2")
    air = _case(engine, "p-air", AIRLINE)
    assert air.due == "2026-02-02T12:20:00Z"  # the airline's 20 minutes
    from qalqan.audit import Actor
    b2 = _case(engine, "t-b2", Actor(id="x", role="analyst", org="bank2"))
    assert b2.due == "2026-02-02T12:10:00Z"  # bank2's contract: transfers wait 10 minutes, action from the default
    closed = {c["event_id"]: c for c in sweep(engine.record, NOW + 20 * MIN_US, _policy())}
    assert closed["p-air"]["outcome"] == "approved_at_deadline"
    assert closed["t-b2"]["outcome"] == "declined_at_deadline"
    assert _outbox(engine) == [("p-air", "case_deadline_approve")]
    assert "merchants.M-AIR" in cases.get(engine.record, AIRLINE, air.id).note


def test_two_sweeps_at_once_act_once(engine, db_url):
    _grey(engine, transfer(event_id="g-2", amount=GREY))
    due = NOW + 240 * MIN_US
    other = open_record(db_url)  # a second process's connection to the same record
    try:
        cases.sync(other, _policy())
        stale = other.due_cases(due)  # the other process saw the case due ...
        assert [c["event_id"] for c in stale] == ["g-2"]
        assert len(sweep(engine.record, due, _policy())) == 1  # ... and this one closed it first
        other.due_cases = lambda *a, **k: stale  # type: ignore[method-assign]
        assert sweep(other, due, _policy()) == []  # its close finds the case decided: nothing
    finally:
        other.close()
    assert _outbox(engine) == [("g-2", "case_deadline_decline")]
    assert [(a[0], a[2], a[4]) for a in _audit(engine)] == [
        ("clock", "case.deadline", "declined_at_deadline (default)")]


def test_many_cases_swept_by_two_threads_are_each_closed_once(engine, db_url):
    for i in range(30):
        engine.decide(transfer(event_id=f"m-{i}", amount=GREY), org="bank1")
    engine.commit()
    due = NOW + 240 * MIN_US
    other = open_record(db_url)
    results: list[list[dict]] = [[], []]
    go = threading.Barrier(2)

    def run(i, record):
        go.wait()
        for _ in range(50):  # SQLite: a writer that finds the other one's lock fails; the next tick sweeps again
            try:
                results[i] += sweep(record, due, _policy())
                return
            except sqlite3.OperationalError as exc:
                assert "locked" in str(exc)
                time.sleep(0.01)

    try:
        threads = [threading.Thread(target=run, args=(i, r)) for i, r in enumerate((engine.record, other))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        other.close()
    closed = [c["event_id"] for r in results for c in r]
    assert sorted(closed) == sorted(f"m-{i}" for i in range(30))  # each once, between them
    assert len(_outbox(engine)) == 30 and len(_audit(engine)) == 30


def test_a_case_a_person_decided_before_its_deadline_is_left_alone_and_told(engine):
    _grey(engine, transfer(event_id="g-3", amount=GREY))
    case = _case(engine, "g-3")
    pending = cases.decide(engine, ANALYST, case.id, "legitimate")
    engine.commit()
    cases.finish(engine.record, pending)
    assert sweep(engine.record, NOW + 10_000 * MIN_US, _policy()) == []
    after = cases.get(engine.record, ANALYST, case.id)
    assert (after.outcome, after.updated_by) == ("legitimate", "ana")
    (notice,) = [r for r in engine.record.outbox(0, org="bank1")]
    assert notice[3:5] == ("g-3", "case_legitimate")
    assert notice[5] == f"case {case.id} decided legitimate by the analyst ana: approve the payment"
    assert notice[1] == NOW  # at the server's clock


def test_an_assigned_case_still_closes_at_its_deadline(engine):
    _grey(engine, transfer(event_id="g-4", amount=GREY))
    case = _case(engine, "g-4")
    cases.assign(engine.record, ANALYST, case.id, "ana")
    assert len(sweep(engine.record, NOW + 240 * MIN_US, _policy())) == 1
    assert cases.get(engine.record, ANALYST, case.id).outcome == "declined_at_deadline"


def test_a_hold_case_follows_its_hold(engine):
    """A hold's deadline is the law's: the hold book acts (its notice), and the case closes with it."""
    from conftest import ev
    engine.decide(ev("intel", customer_id="regulator", list="cbr_fincert", entity="account",
                     value="40817810000000000444", op="add"), org="bank1")
    held = engine.decide(transfer(event_id="h-1", to_account="40817810000000000444"), org="bank1")
    assert held.decision.action == "hold"
    engine.commit()
    case = _case(engine, "h-1")
    due = ts_to_us(datetime.fromisoformat(case.due.replace("Z", "+00:00")))
    assert sweep(engine.record, due + 1, _policy()) == []  # past due, but the hold book has not acted yet
    engine.clock.us = due + 1
    assert engine.tick()  # the server's tick fires the hold's deadline
    engine.commit()
    (closed,) = sweep(engine.record, due + 1, _policy())
    assert closed["outcome"] == "hold_rejected"
    assert [k for _, k in _outbox(engine)] == ["hold_started", "hold_rejected"]  # no second notice


def test_the_sweeper_reads_the_servers_clock(engine):
    _grey(engine, transfer(event_id="g-5", amount=GREY))
    sweeper = Sweeper(engine, engine.clock, _policy())
    assert sweeper.run() == 0
    engine.clock.us = NOW + 240 * MIN_US
    assert sweeper.run() == 1
    assert sweeper.run() == 0


@pytest.mark.parametrize("doc, named", [
    ("channels: {payment: {after_s: -5}}", "channels.payment.after_s"),
    ("merchants: {M-AIR: {action: refund}}", "merchants.M-AIR.action"),
    ("channel: {}", "channel"),
    ("orgs: {bank1: {channels: {transfer: {after: 5}}}}", "orgs.bank1.channels.transfer.after"),
    ("- 1", "$"),
])
def test_a_bad_deadlines_file_is_refused_naming_the_setting_and_the_entry(tmp_path, monkeypatch, doc, named):
    (tmp_path / "d.yaml").write_text(doc)
    monkeypatch.setenv("QALQAN_DEADLINES", str(tmp_path / "d.yaml"))
    with pytest.raises(ConfigError) as err:
        from_env()
    assert str(err.value).startswith("QALQAN_DEADLINES: ") and f"{named}:" in str(err.value)


def test_a_missing_deadlines_file_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("QALQAN_DEADLINES", str(tmp_path / "absent.yaml"))
    with pytest.raises(ConfigError, match="QALQAN_DEADLINES: cannot read"):
        from_env()
