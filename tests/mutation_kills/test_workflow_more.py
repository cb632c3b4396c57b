"""store/workflow.py beyond the organisation walls (docs/mutation.md): the migration that fills the
case inbox of a record made before it, a case another opener made first, the default window and page
sizes, the text of the people's timestamps, the webhooks' queue and the clock's sweep reads. Each test
kills mutants the other tests given to the module let through; the queue's and the sweep's on both
records (``db_url``: SQLite, and PostgreSQL where one is reachable).
"""

from __future__ import annotations

import re
import sqlite3
import time

import pytest

from qalqan.store import open_record
from qalqan.store.base import Row
from qalqan.store.sqlite import SqliteRecord
from qalqan.store.workflow import Workflow, _now, fill_inbox

CUSTOMER = "tok"


def _event(seq: int, action: str | None, org: str = "A", event_id: str | None = None) -> Row:
    return Row(seq, event_id or f"e{seq}", "payment", seq, CUSTOMER, b"{}", action, b"{}", org)


def _case_of(row: Row) -> tuple:
    return (row.org, row.event_id, row.seq, row.type, row.customer, None, 1, "RUB", row.action, 0, row.seq * 10)


def _inbox(r: SqliteRecord) -> list[int]:
    return [s for (s,) in r.conn.execute("SELECT seq FROM case_inbox ORDER BY seq")]


# --- fill_inbox: a record made before the case inbox ------------------------------------------------------
@pytest.fixture
def old():
    """A record whose inbox is empty although it holds reviews and holds (as one made before it)."""
    r = SqliteRecord(":memory:")
    for seq, action in enumerate(("review", "approve", "hold", "review", "decline", "hold"), start=1):
        r.append(_event(seq, action))
    r.commit()
    r.conn.execute("DELETE FROM case_inbox")
    yield r
    r.close()


def test_a_record_that_never_had_cases_gets_one_for_every_review_and_hold(old):
    fill_inbox(old.conn.execute, False, None)
    assert _inbox(old) == [1, 3, 4, 6]  # seq 1 too: the cursor is 0, not 1
    assert old.open_cases(_case_of) == 4
    assert [c["action"] for c in old.cases("A")] == ["review", "hold", "review", "hold"]


def test_a_record_that_scanned_by_cursor_gets_the_ones_after_its_cursor(old):
    fill_inbox(old.conn.execute, True, 3)
    assert _inbox(old) == [4, 6]
    old.conn.execute("DELETE FROM case_inbox")
    fill_inbox(old.conn.execute, True, 0)  # a cursor table without its row: everything
    assert _inbox(old) == [1, 3, 4, 6]


def test_a_record_that_had_cases_and_no_cursor_is_left_alone(old):
    fill_inbox(old.conn.execute, True, None)
    assert _inbox(old) == []


def test_an_event_that_has_its_case_already_is_not_queued_again(old):
    fill_inbox(old.conn.execute, False, None)
    old.open_cases(lambda row: _case_of(row) if row.seq == 3 else None)
    assert _inbox(old) == []
    fill_inbox(old.conn.execute, True, 0)
    assert _inbox(old) == [1, 4, 6]  # seq 3 has its case; the others were built into none
    fill_inbox(old.conn.execute, True, 0)  # idempotent
    assert _inbox(old) == [1, 4, 6]


def test_opening_a_record_with_a_case_cursor_moves_it_to_the_inbox(tmp_path):
    path = str(tmp_path / "old.db")
    r = SqliteRecord(path)
    for seq, action in enumerate(("review", "hold", "review", "hold"), start=1):
        r.append(_event(seq, action))
    r.commit()
    r.close()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("DELETE FROM case_inbox")
    conn.execute("CREATE TABLE case_cursor (id INTEGER PRIMARY KEY, seq INTEGER)")
    conn.execute("INSERT INTO case_cursor VALUES (1, 2)")
    conn.close()
    r = SqliteRecord(path)
    assert _inbox(r) == [3, 4]
    assert r.conn.execute("SELECT name FROM sqlite_master WHERE name = 'case_cursor'").fetchall() == []
    r.close()


# --- open_cases: a case another opener made first -----------------------------------------------------------
def test_a_case_another_opener_made_first_is_not_counted():
    r = SqliteRecord(":memory:")
    r.append(_event(1, "review"))
    r.append(_event(2, "review"))
    r.commit()
    assert r.open_cases(_case_of) == 2
    r.conn.execute("INSERT INTO case_inbox (seq) VALUES (1), (2)")  # as a second opener finds them
    assert r.open_cases(_case_of) == 0
    assert _inbox(r) == [] and len(r.cases("A")) == 2
    r.close()


# --- the defaults --------------------------------------------------------------------------------------------
def test_the_history_window_is_200000_events():
    r = SqliteRecord(":memory:")
    for seq in (1, 2, 200_001):
        r.append(_event(seq, "approve"))
    r.commit()
    # the bound is max(seq) + 1 = 200002: the window reaches seq 2, not seq 1
    assert [x.seq for x in r.history("A", CUSTOMER)] == [200_001, 2]
    assert [x.seq for x in r.history("A", CUSTOMER, before_seq=200_001)] == [2, 1]
    assert [x.seq for x in r.history("A", CUSTOMER, before_seq=200_002)] == [200_001, 2]
    r.close()


def test_the_audit_log_reads_100_rows_a_page():
    r = SqliteRecord(":memory:")
    for i in range(101):
        r.audit_append("A", "ana", "analyst", "case.read", f"case:{i}")
    rows = r.audit_rows("A")
    assert len(rows) == 100 and rows[-1]["target"] == "case:99"
    r.close()


# --- _now: the text of updated_at and the audit log's at ------------------------------------------------------
@pytest.fixture
def almaty(monkeypatch):
    """A server whose local time is not UTC (the stamps must be UTC all the same)."""
    monkeypatch.setenv("TZ", "Asia/Almaty")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_now_is_utc_to_the_microsecond_with_a_z(almaty, monkeypatch):
    monkeypatch.setattr(time, "time", lambda: 1_700_000_000.25)
    assert _now() == "2023-11-14T22:13:20.250000Z"
    monkeypatch.setattr(time, "time", lambda: 1_700_000_000 + 2**-10)  # .0009765625: exact in a float
    assert _now() == "2023-11-14T22:13:20.000976Z"
    monkeypatch.setattr(time, "time", lambda: 1_700_000_001 - 2**-10)  # .9990234375: the last digit is cut, not rounded
    assert _now() == "2023-11-14T22:13:20.999023Z"


def test_the_people_s_timestamps_are_that_text(almaty, monkeypatch):
    r = SqliteRecord(":memory:")
    r.append(_event(1, "review"))
    r.commit()
    r.open_cases(_case_of)
    monkeypatch.setattr(time, "time", lambda: 1_700_000_000.5)
    case = r.cases("A")[0]
    assert r.update_case("A", case["id"], ("open",), "ana", audit=("ana", "analyst", "case.assign", ""),
                         state="assigned")
    assert r.case("A", case["id"])["updated_at"] == "2023-11-14T22:13:20.500000Z"
    r.audit_append("A", "bob", "analyst", "case.read", "x")
    assert [a["at"] for a in r.audit_rows("A")] == ["2023-11-14T22:13:20.500000Z"] * 2
    monkeypatch.undo()
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", _now())
    r.close()


# --- the webhooks' queue ---------------------------------------------------------------------------------------
@pytest.fixture
def rec(db_url):
    r = open_record(db_url)
    yield r
    r.close()


def _queue(r) -> list[tuple]:
    with r._transaction() as q:
        return [tuple(x) for x in q("SELECT id, tries, last_error FROM webhook_queue ORDER BY id", ()).fetchall()]


def _notice(r, event_id: str, kind: str, org: str = "A", ts: int = 1) -> None:
    r.append_outbox((ts, CUSTOMER, event_id, kind, f"{kind} {event_id}", org))
    r.commit()


def test_only_a_postgres_url_is_postgres():
    assert Workflow()._postgres() is False  # a record without a url is not PostgreSQL (and does not fail)


def test_the_queue_takes_every_notice_written_after_its_install(rec):
    assert rec._postgres() == rec.url.startswith("postgres")
    _notice(rec, "e0", "before")  # before the install: in the outbox only
    rec.webhook_install()
    rec.webhook_install()  # idempotent
    _notice(rec, "e1", "hold_released", ts=11)
    _notice(rec, "e2", "case_decided", org="B", ts=12)
    _notice(rec, "e3", "hold_rejected", ts=13)
    ids = [n[0] for n in rec.outbox(0, org=None)]
    pending = rec.webhook_pending()
    assert pending == [(ids[1], 0, 11, CUSTOMER, "e1", "hold_released", "hold_released e1", "A"),
                       (ids[2], 0, 12, CUSTOMER, "e2", "case_decided", "case_decided e2", "B"),
                       (ids[3], 0, 13, CUSTOMER, "e3", "hold_rejected", "hold_rejected e3", "A")]
    assert rec.webhook_pending(2) == pending[:2]
    rec.webhook_delivered(ids[2])
    assert [p[0] for p in rec.webhook_pending()] == [ids[1], ids[3]]
    rec.webhook_delivered(ids[2])  # twice: nothing more
    assert [p[0] for p in rec.webhook_pending()] == [ids[1], ids[3]]


def test_the_queue_reads_100_notices_a_page(rec):
    rec.webhook_install()
    for i in range(101):
        rec.append_outbox((i, CUSTOMER, f"e{i}", "case_decided", "t", "A"))
    rec.commit()
    assert len(rec.webhook_pending()) == 100


def test_a_failed_try_is_counted_and_a_dropped_notice_is_audited(rec):
    rec.webhook_install()
    _notice(rec, "e1", "hold_released")
    _notice(rec, "e2", "hold_rejected", org="B")
    first, second = (p[0] for p in rec.webhook_pending())
    assert rec.webhook_failed(first, "HTTP 500") == 1
    assert rec.webhook_failed(first, "x" * 600) == 2
    assert _queue(rec) == [(first, 2, "x" * 500), (second, 0, None)]
    assert rec.audit_rows("A") == [] and rec.audit_rows("B") == []  # counted, not given up
    assert rec.webhook_failed(second, "HTTP 410 " + "y" * 600, drop=True, org="B") == 1
    assert _queue(rec) == [(first, 2, "x" * 500)]
    (row,) = rec.audit_rows("B")
    assert (row["actor"], row["role"], row["action"], row["target"], row["detail"]) == (
        "webhooks", "system", "webhook.dropped", f"outbox:{second}", ("HTTP 410 " + "y" * 600)[:500])
    assert rec.audit_rows("A") == []
    assert rec.webhook_failed(second, "gone") == 0  # no longer queued: no tries
    assert rec.webhook_failed(first, "z", drop=True) == 3
    (row,) = rec.audit_rows("default")
    assert (row["org"], row["target"], row["detail"]) == ("default", f"outbox:{first}", "z")
    assert _queue(rec) == [] and rec.webhook_pending() == []


# --- the clock's sweep: due_index, due_cases, hold_outcome ----------------------------------------------------
def _cases(r, dues: list[int], org: str = "A") -> list[dict]:
    start = r.last_seq() + 1
    for i, _ in enumerate(dues):
        r.append(_event(start + i, "review", org=org, event_id=f"{org}{i}"))
    r.commit()
    due = dict(zip(range(start, start + len(dues)), dues))
    r.open_cases(lambda row: (*_case_of(row)[:10], due[row.seq]))
    return sorted(r.cases(org, limit=1000), key=lambda c: c["seq"])


def test_the_sweep_reads_every_organisations_open_and_assigned_cases_due_earliest_first(rec):
    rec.due_index()
    rec.due_index()  # idempotent
    with rec._transaction() as q:
        sql = ("SELECT indexname FROM pg_indexes WHERE indexname = 'cases_due'" if rec._postgres()
               else "SELECT name FROM sqlite_master WHERE type = 'index' AND name = 'cases_due'")
        assert q(sql, ()).fetchall() != []
    a = _cases(rec, [50, 10, 30, 10, 70, 20])
    b = _cases(rec, [10, 40], org="B")
    assert rec.update_case("A", a[2]["id"], ("open",), "ana", state="assigned", assignee="ana")
    assert rec.update_case("A", a[5]["id"], ("open",), "ana", state="decided", outcome="fraud")
    got = [(c["org"], c["event_id"], c["state"]) for c in rec.due_cases(30)]
    assert got == [("A", "A1", "open"), ("A", "A3", "open"), ("B", "B0", "open"), ("A", "A2", "assigned")]
    assert [c["event_id"] for c in rec.due_cases(30, limit=2)] == ["A1", "A3"]
    assert rec.due_cases(9) == []
    assert [c["due_us"] for c in rec.due_cases(100)] == [10, 10, 10, 30, 40, 50, 70]
    assert set(rec.due_cases(100)[0]) == {"id", "org", "event_id", "seq", "type", "customer", "merchant_id",
                                          "amount", "currency", "action", "opened_us", "due_us", "state",
                                          "assignee", "outcome", "note", "updated_at", "updated_by"}
    assert b[0]["id"] == rec.due_cases(10)[2]["id"]


def test_the_sweep_reads_500_cases_a_page(rec):
    _cases(rec, [5] * 501)
    assert len(rec.due_cases(10)) == 500


def test_a_holds_outcome_is_the_latest_notice_that_ended_it_in_its_organisation(rec):
    assert rec.hold_outcome("A", "e1") is None
    _notice(rec, "e1", "case_opened")
    assert rec.hold_outcome("A", "e1") is None  # not a notice that ends a hold
    _notice(rec, "e1", "hold_released")
    assert rec.hold_outcome("A", "e1") == ("hold_released", "hold_released e1")
    _notice(rec, "e1", "hold_replaced")
    assert rec.hold_outcome("A", "e1") == ("hold_replaced", "hold_replaced e1")
    assert rec.hold_outcome("B", "e1") is None
    _notice(rec, "e1", "hold_rejected", org="B")
    assert rec.hold_outcome("B", "e1") == ("hold_rejected", "hold_rejected e1")
    assert rec.hold_outcome("A", "e1") == ("hold_replaced", "hold_replaced e1")
    assert rec.hold_outcome("A", "e2") is None
