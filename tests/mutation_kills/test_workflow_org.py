"""store/workflow.py: every people's read of the record is its organisation's only, found by mutation
testing (docs/mutation.md). Two organisations share one SQLite record and, on purpose, the same
customer token, event ids, case ids' neighbours, lists and actors: each read must return its own.
"""

from __future__ import annotations

import msgspec
import pytest

from qalqan.store.base import ListRow, Row
from qalqan.store.sqlite import SqliteRecord

ORGS = ("A", "B")
CUSTOMER = "tok-shared"


def _body(merchant: str | None) -> bytes:
    return msgspec.json.encode({"merchant_id": merchant} if merchant else {"text": "x"})


@pytest.fixture
def record():
    r = SqliteRecord(":memory:")
    seq = 0
    for i in range(6):  # interleaved: A, B, A, B, …, each organisation's 3 events under the same ids
        for org in ORGS:
            seq += 1
            merchant = "M1" if i % 2 == 0 else "M2"
            action = "review" if i < 2 else "approve"
            r.append(Row(seq, f"e{i}", "payment" if i != 5 else "login", seq * 10, CUSTOMER, _body(merchant),
                         action, b"{}", org))
            r.append_list(ListRow("watch", "card", f"v{i}", "add", None, seq))
    r.append_list(ListRow("watch", "card", "gone", "remove", None, 1))
    r.commit()
    r.open_cases(lambda row: (row.org, row.event_id, row.seq, row.type, row.customer, _merchant(row), 100, "RUB",
                              row.action, row.ts_us, row.ts_us + 1000))
    for org in ORGS:
        r.audit_append(org, "ana", "analyst", "case.read", "page:1", org)
        r.audit_append(org, "bob", "analyst", "case.read", "page:2", org)
    yield r
    r.close()


def _merchant(row: Row) -> str | None:
    return msgspec.json.decode(row.body).get("merchant_id")


@pytest.mark.parametrize("org", ORGS)
def test_each_read_is_the_organisations_own(record, org):
    assert record.event_in(org, "e0").org == org and record.event_in(org, "e0").seq == (1 if org == "A" else 2)
    assert record.event_in(org, "nope") is None
    hist = record.history(org, CUSTOMER)
    assert [r.org for r in hist] == [org] * 6 and [r.event_id for r in hist] == [f"e{i}" for i in range(5, -1, -1)]
    assert [r.event_id for r in record.history(org, CUSTOMER, limit=2)] == ["e5", "e4"]
    assert [r.event_id for r in record.history(org, CUSTOMER, before_seq=5)] == ["e1", "e0"]
    assert [r.event_id for r in record.history(org, CUSTOMER, window=4)] == ["e5", "e4"]
    assert [r.event_id for r in record.history(org, CUSTOMER, merchant="M1")] == ["e4", "e2", "e0"]
    assert [r.event_id for r in record.history(org, CUSTOMER, merchant="M2", limit=1)] == ["e5"]
    assert record.history(org, "other") == []
    assert [r.event_id for r in record.events_of_type(org, "payment")] == [f"e{i}" for i in range(5)]
    assert [r.event_id for r in record.events_of_type(org, "payment", after_seq=6, limit=2)] == ["e3", "e4"]
    assert [r.org for r in record.events_of_type(org, "login")] == [org]
    entries = record.list_entries(org, "watch")
    assert [e[2] for e in entries] == [f"v{i}" for i in range(6)]  # the removed entry is not current
    assert [e[2] for e in record.list_entries(org, "watch", entity="card", value="v3")] == ["v3"]
    assert record.list_entries(org, "watch", entity="phone") == [] and record.list_entries(org, "other") == []
    assert [e[2] for e in record.list_entries(org, "watch", after_seq=8, limit=1)] == ["v4"]
    cases = record.cases(org)
    assert [(c["org"], c["event_id"]) for c in cases] == [(org, "e0"), (org, "e1")]
    assert [c["event_id"] for c in record.cases(org, merchant="M2")] == ["e1"]
    assert record.cases(org, state="decided") == [] and record.cases(org, assignee="ana") == []
    assert [c["event_id"] for c in record.cases(org, after_id=cases[0]["id"])] == ["e1"]
    assert len(record.cases(org, limit=1)) == 1
    mine, theirs = cases[0]["id"], [c["id"] for c in record.cases("B" if org == "A" else "A")]
    assert record.case(org, mine)["org"] == org and record.case(org, mine, merchant="M1")["id"] == mine
    assert record.case(org, mine, merchant="M2") is None
    assert all(record.case(org, t) is None for t in theirs)
    audit = record.audit_rows(org)
    assert [(a["org"], a["actor"], a["detail"]) for a in audit] == [(org, "ana", org), (org, "bob", org)]
    assert [a["actor"] for a in record.audit_rows(org, actor="bob")] == ["bob"]
    assert [a["target"] for a in record.audit_rows(org, target="page:1")] == ["page:1"]
    assert [a["actor"] for a in record.audit_rows(org, after_id=audit[0]["id"], limit=5)] == ["bob"]
    assert len(record.audit_rows(org, limit=1)) == 1


def test_a_case_changes_only_in_its_organisation_and_state(record):
    a, b = record.cases("A")[0], record.cases("B")[0]
    assert not record.update_case("A", b["id"], ("open",), "ana", state="assigned", assignee="ana")
    assert record.update_case("A", a["id"], ("open",), "ana", audit=("ana", "analyst", "case.assign", "d"),
                              notice=(1, CUSTOMER, "e0", "case_assigned", "t", "A"), state="assigned", assignee="ana")
    assert not record.update_case("A", a["id"], ("open",), "bob", state="assigned", assignee="bob")  # lost the race
    got = record.case("A", a["id"])
    assert (got["state"], got["assignee"], got["updated_by"]) == ("assigned", "ana", "ana")
    assert record.case("B", b["id"])["state"] == "open"
    assert [c["event_id"] for c in record.cases("A", state="assigned", assignee="ana")] == ["e0"]
    assert [c["event_id"] for c in record.cases_by("A", "ana")] == ["e0"] and record.cases_by("B", "ana") == []
    assert record.cases_by("A", "ana", merchant="M2") == []
    assert [a["action"] for a in record.audit_rows("A", target=f"case:{a['id']}")] == ["case.assign"]
    assert [n[3] for n in record.outbox(org="A")] == ["e0"] and record.outbox(org="B") == []
    with pytest.raises(ValueError, match="only"):
        record.update_case("A", a["id"], ("open",), "x", due_us=1)


def test_rows_read_back_field_by_field(record):
    r = record.event_in("A", "e0")
    assert (r.seq, r.event_id, r.type, r.ts_us, r.customer, r.action, r.decision, r.org) == (
        1, "e0", "payment", 10, CUSTOMER, "review", b"{}", "A")
    assert r.body == _body("M1") and isinstance(r.body, bytes)
    record.append(Row(100, "n1", "login", 5, "c2", b"{}", None, None, "A"))
    record.commit()
    assert record.event_in("A", "n1").decision is None and record.event_in("A", "n1").action is None


def test_cases_open_in_batches_with_the_servers_clock_and_are_counted():
    r = SqliteRecord(":memory:")
    for i in range(5):
        r.append(Row(i + 1, f"e{i}", "payment", 10, CUSTOMER, b"{}", "review", b"{}", "A", 1000 + i if i else None))
    r.commit()
    clocks: list[int | None] = []

    def build(row: Row):
        clocks.append(row.clock_us)
        return (row.org, row.event_id, row.seq, row.type, row.customer, None, 1, "RUB", row.action, 0, 1)

    assert r.open_cases(build, batch=2) == 5
    assert clocks == [None, 1001, 1002, 1003, 1004]
    assert [c["event_id"] for c in r.cases("A")] == [f"e{i}" for i in range(5)]
    assert r.open_cases(build, batch=2) == 0  # the inbox is empty: nothing opened twice
    r.close()


def test_a_case_update_sets_what_it_may_in_one_compare_and_set(record):
    a = record.cases("A")[0]
    assert record.update_case("A", a["id"], ("open", "assigned"), "ana", state="decided", assignee="ana",
                              outcome="fraud", note="n", notice=(1, CUSTOMER, "e0", "case_decided", "t", "A"))
    got = record.case("A", a["id"])
    assert (got["state"], got["assignee"], got["outcome"], got["note"]) == ("decided", "ana", "fraud", "n")
    # lost: neither the notice nor the audit row is written
    assert not record.update_case("A", a["id"], ("open",), "bob", state="assigned",
                                  notice=(2, CUSTOMER, "e0", "case_other", "t", "A"),
                                  audit=("bob", "analyst", "case.assign", "d"))
    assert [n[4] for n in record.outbox(org="A")] == ["case_decided"]
    assert record.audit_rows("A", actor="bob", target=f"case:{a['id']}") == []
    # the same notice twice is written once (its organisation, event and kind are its key)
    assert record.update_case("A", a["id"], ("decided",), "ana", note="again",
                              notice=(3, CUSTOMER, "e0", "case_decided", "t2", "A"))
    assert [n[4] for n in record.outbox(org="A")] == ["case_decided"]
    assert record.audit_append("A", "ana", "analyst", "x", "y") > 0
    assert record.audit_rows("A", target="y")[0]["detail"] == ""
    assert [c["event_id"] for c in record.cases_by("A", "ana", merchant="M1")] == ["e0"]


def test_history_pages_through_a_merchants_payments_and_the_default_page_sizes():
    r = SqliteRecord(":memory:")
    for i in range(1200):  # a merchant's payment every 100th event: they span three pages of 500
        r.append(Row(i + 1, f"e{i}", "payment", i, CUSTOMER, _body("M1" if i % 100 == 0 else "M2"),
                     "review" if i < 101 else "approve", b"{}", "A"))
        r.append_list(ListRow("watch", "card", f"v{i}", "add", None, i + 1))
    r.commit()
    assert [x.event_id for x in r.history("A", CUSTOMER, merchant="M1")] == [f"e{i}" for i in range(1100, -1, -100)]
    assert [x.event_id for x in r.history("A", CUSTOMER, merchant="M1", limit=3)] == ["e1100", "e1000", "e900"]
    assert len(r.history("A", CUSTOMER)) == 20 and len(r.events_of_type("A", "payment")) == 1000
    assert len(r.list_entries("A", "watch")) == 1000
    r.open_cases(lambda row: (row.org, row.event_id, row.seq, row.type, row.customer, "M1", 1, "RUB", row.action,
                              0, 1))
    assert len(r.cases("A")) == 100
    for c in r.cases("A", limit=60):
        assert r.update_case("A", c["id"], ("open",), "clock", state="decided")
    assert len(r.cases_by("A", "clock")) == 50
    r.close()
