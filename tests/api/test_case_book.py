"""Cases, labels and lists as plain Python calls, on both records: the review queue opens from
the committed decisions, people work it, decisions become labels and list entries."""

from __future__ import annotations

import io
import sqlite3

import msgspec
import pytest
from people_fixtures import AIRLINE, ANALYST, GREY, HOTEL, OTHER_ORG, rules_with_review

from conftest import ev, payment, transfer
from qalqan import audit, cases, labels, list_changes
from qalqan.config import from_env
from qalqan.engine import Engine
from qalqan.events import EventError


@pytest.fixture
def engine(db_url, tmp_path, monkeypatch):
    monkeypatch.setenv("QALQAN_RULES", str(rules_with_review(tmp_path)))
    e = Engine(from_env(db_url=db_url))
    yield e
    e.close()


def _grey(engine, org="bank1", **kw):
    o = engine.decide(transfer(amount=GREY, **kw), org=org)
    assert o.decision.action == "review"
    return o


def test_review_and_hold_open_cases_with_deadlines(engine):
    _grey(engine, event_id="g-1", ts="2026-02-02T10:00:00Z")
    engine.decide(ev("intel", customer_id="regulator", list="cbr_fincert", entity="account",
                     value="40817810000000000444", op="add"), org="bank1")
    held = engine.decide(transfer(event_id="h-1", to_account="40817810000000000444", ts="2026-02-02T11:00:00Z"),
                         org="bank1")
    assert held.decision.action == "hold"
    engine.decide(transfer(event_id="ok-1"), org="bank1")
    assert cases.sync(engine.record) == 0  # nothing is a case before it is durable
    engine.commit()
    assert cases.sync(engine.record) == 2
    assert cases.sync(engine.record) == 0  # each decision opens one case
    queue = cases.queue(engine.record, ANALYST)
    by_event = {c.event_id: c for c in queue}
    assert set(by_event) == {"g-1", "h-1"}
    assert by_event["g-1"].due == "2026-02-02T14:00:00Z"  # review: 4 h of event time
    assert by_event["h-1"].due == held.decision.hold.confirm_by  # hold: the hold's own deadline
    assert queue[0].event_id == "h-1" or queue[0].due <= queue[1].due
    assert all(c.state == "open" for c in queue)
    history = cases.detail(engine.record, ANALYST, by_event["h-1"].id)["history"]
    assert [(h["event_id"], h["action"]) for h in history] == [("g-1", "review")]  # the customer's, before it


@pytest.mark.parametrize("old", ["cursor", "no_cases"])
def test_a_record_from_before_the_case_inbox_opens_its_missing_cases(db_url, tmp_path, monkeypatch, old):
    """A record that scanned for cases by cursor (or had no cases at all) moves to the inbox
    when opened: the reviews after the cursor (all of them) become cases, none twice."""
    monkeypatch.setenv("QALQAN_RULES", str(rules_with_review(tmp_path)))
    e = Engine(from_env(db_url=db_url))
    _grey(e, event_id="g-1")
    e.commit()
    assert cases.sync(e.record) == 1
    _grey(e, event_id="g-2")
    e.commit()
    with e.record._transaction() as q:  # the old layout: a cursor at g-1's row, no inbox
        first = q("SELECT seq FROM events WHERE event_id = 'g-1'", ()).fetchone()[0]
        q("DROP TABLE case_inbox", ())
        if old == "cursor":
            q("CREATE TABLE case_cursor (id INTEGER PRIMARY KEY, seq BIGINT NOT NULL)", ())
            q("INSERT INTO case_cursor VALUES (1, ?)", (first,))
        else:
            q("DROP TABLE cases", ())
    e.close()
    e = Engine(from_env(db_url=db_url))
    try:
        assert cases.sync(e.record) == (1 if old == "cursor" else 2)
        assert sorted(c.event_id for c in cases.queue(e.record, ANALYST)) == ["g-1", "g-2"]
        assert cases.sync(e.record) == 0
    finally:
        e.close()


def test_analyst_works_a_case_to_a_label_and_a_list_entry(engine, tmp_path):
    _grey(engine, event_id="g-2", ts="2026-02-02T10:00:00Z", to_account="40817810000000000777")
    engine.commit()
    cases.sync(engine.record)
    (case,) = cases.queue(engine.record, ANALYST)
    assert cases.assign(engine.record, ANALYST, case.id, "ana").state == "assigned"
    assert [c.id for c in cases.queue(engine.record, ANALYST, state="assigned", assignee="ana")] == [case.id]
    detail = cases.detail(engine.record, ANALYST, case.id)
    assert detail["reasons"][0]["code"] == "grey.seven" and detail["event"]["amount"] == GREY

    pending = cases.decide(engine, ANALYST, case.id, "fraud", note="the client did not send it",
                           add_to=["counterparty"], ts="2026-02-02T10:30:00Z")
    assert [x.split(":")[0] for x in pending.listed] == ["account", "customer"]  # the recipient's account and id
    assert cases.get(engine.record, ANALYST, case.id).state == "assigned"  # not before it is durable
    engine.commit()
    done = cases.finish(engine.record, pending)
    assert (done.state, done.outcome, done.note) == ("decided", "fraud", "the client did not send it")
    # the same decision again is the same; another one is a conflict
    assert cases.finish(engine.record, cases.decide(engine, ANALYST, case.id, "fraud")).outcome == "fraud"
    with pytest.raises(cases.CaseConflict):
        cases.decide(engine, ANALYST, case.id, "legitimate")

    assert [(x["event_id"], x["label"]) for x in labels.of(engine, "bank1")] == [("g-2", "fraud")]
    out = io.BytesIO()
    assert labels.export_jsonl(engine, out, "bank1") == 1
    exported = msgspec.json.decode(out.getvalue().splitlines()[0])
    assert exported["type"] == "label" and exported["target_event_id"] == "g-2" and exported["label"] == "fraud"

    listed = list_changes.entries(engine, ANALYST, "internal", entity="account", value="40817810000000000777")
    assert len(listed) == 1
    # the decision path sees the new entry: the next transfer to that account is held or declined
    nxt = engine.decide(transfer(to_account="40817810000000000777", ts="2026-02-02T11:00:00Z"), org="bank1")
    assert "recipient is on the bank's internal list" in [r.text for r in nxt.decision.reasons]


def test_contact_customer_keeps_the_case_open_and_labels_nothing(engine):
    _grey(engine, event_id="g-3")
    engine.commit()
    cases.sync(engine.record)
    (case,) = cases.queue(engine.record, ANALYST)
    pending = cases.decide(engine, ANALYST, case.id, "contact_customer", note="calling her")
    engine.commit()
    c = cases.finish(engine.record, pending)
    assert (c.state, c.outcome, c.assignee) == ("assigned", "contact_customer", "ana")
    assert labels.of(engine, "bank1") == []
    c = cases.finish(engine.record, cases.decide(engine, ANALYST, case.id, "legitimate",
                                                 ts="2026-02-02T12:00:00Z"))
    engine.commit()
    assert c.state == "decided" and labels.of(engine, "bank1")[0]["label"] == "legit"


def test_bad_input_names_the_field(engine):
    _grey(engine, event_id="g-4")
    engine.commit()
    cases.sync(engine.record)
    (case,) = cases.queue(engine.record, ANALYST)
    for kwargs, field in [({"outcome": "maybe"}, "outcome"), ({"outcome": "fraud", "add_to": ["shoe"]}, "add_to"),
                          ({"outcome": "fraud", "list_name": "mine"}, "list")]:
        with pytest.raises(cases.CaseInputError) as err:
            cases.decide(engine, ANALYST, case.id, **kwargs)
        assert err.value.field == field
    with pytest.raises(cases.CaseInputError):
        cases.queue(engine.record, ANALYST, state="closed")
    with pytest.raises(EventError) as err:
        labels.add(engine, ANALYST, "g-4", "perhaps")
    assert err.value.field == "label"


def test_organisations_and_merchants_see_only_their_own(engine):
    _grey(engine, event_id="g-5", org="bank1")
    engine.decide(payment(event_id="p-air", amount=GREY, merchant_id="M-AIR", channel="ecom"), org="bank1")
    engine.commit()
    cases.sync(engine.record)
    mine = cases.queue(engine.record, ANALYST)
    assert {c.event_id for c in mine} == {"g-5", "p-air"}
    assert cases.queue(engine.record, OTHER_ORG) == []
    for c in mine:  # another organisation guessing ids gets "no such case"
        with pytest.raises(cases.CaseNotFound):
            cases.get(engine.record, OTHER_ORG, c.id)
        with pytest.raises(cases.CaseNotFound):
            cases.assign(engine.record, OTHER_ORG, c.id, "eve")
    assert [c.event_id for c in cases.queue(engine.record, AIRLINE)] == ["p-air"]
    assert cases.queue(engine.record, HOTEL) == []
    air = cases.queue(engine.record, AIRLINE)[0]
    with pytest.raises(cases.CaseNotFound):
        cases.get(engine.record, HOTEL, air.id)
    with pytest.raises(cases.CaseInputError):  # a merchant decides; lists are the analysts'
        cases.decide(engine, AIRLINE, air.id, "fraud", add_to=["card"])
    c = cases.finish(engine.record, cases.decide(engine, AIRLINE, air.id, "legitimate"))
    assert c.outcome == "legitimate" and c.updated_by == "air"
    with pytest.raises(EventError) as err:  # labels too: another organisation's event does not exist
        labels.add(engine, OTHER_ORG, "g-5", "fraud")
    assert err.value.field == "event_id"
    assert engine.record.event_in("bank2", "g-5") is None and engine.record.event_in("bank1", "g-5") is not None


def test_lists_import_with_ttl_and_restart_rebuilds_them(db_url, tmp_path, monkeypatch):
    monkeypatch.setenv("QALQAN_RULES", str(rules_with_review(tmp_path)))
    e = Engine(from_env(db_url=db_url))
    items = list_changes.parse_import(b"entity,value\naccount,40817810000000000555\ncard,4111 1111 1111 1111\n",
                                      "text/csv")
    list_changes.import_entries(e, ANALYST, "cbr_fincert", items, ts="2026-02-02T09:00:00Z", ttl_s=3600)
    with pytest.raises(EventError) as err:  # all or nothing: one bad row refuses the import
        list_changes.import_entries(e, ANALYST, "internal", [{"entity": "card", "value": "1"},
                                                             {"entity": "shoe", "value": "2"}])
    assert err.value.field == "[1].entity"
    e.commit()
    got = list_changes.entries(e, ANALYST, "cbr_fincert")
    assert [x.entity for x in got] == ["account", "card"] and got[0].expires_at == "2026-02-02T10:00:00Z"
    assert got[1].value == e.tokenizers.of(ANALYST.org).token("4111111111111111") != "4111111111111111"
    assert list_changes.entries(e, OTHER_ORG, "cbr_fincert") == []
    inside = e.decide(transfer(to_account="40817810000000000555", ts="2026-02-02T09:30:00Z"), org="bank1")
    assert inside.decision.action == "hold"
    e.close()
    e = Engine(from_env(db_url=db_url))  # a restart folds the same entries back
    after = e.decide(transfer(to_account="40817810000000000555", ts="2026-02-02T10:30:00Z"), org="bank1")
    assert after.decision.action == "approve"  # the TTL ran out, on event time
    again = e.decide(transfer(to_account="40817810000000000555", ts="2026-02-02T09:40:00Z",
                              counterparty_id="C7"), org="bank1")
    assert again.decision.action == "hold"
    list_changes.change(e, ANALYST, "cbr_fincert", "account", "40817810000000000555", "remove",
                        ts="2026-02-02T09:45:00Z")
    e.commit()
    assert [x.entity for x in list_changes.entries(e, ANALYST, "cbr_fincert")] == ["card"]
    e.close()


def test_the_audit_log_refuses_update_and_delete(db_url):
    e = Engine(from_env(db_url=db_url))
    rid = audit.log(e.record, ANALYST, "case.read", "case:1")
    audit.log(e.record, OTHER_ORG, "case.read", "case:9")
    rows = audit.entries(e.record, "bank1")
    assert [(r["id"], r["actor"], r["action"], r["target"]) for r in rows] == [(rid, "ana", "case.read", "case:1")]
    e.close()
    if db_url.startswith("sqlite"):
        conn = sqlite3.connect(db_url[len("sqlite:///"):])
        for sql in ("UPDATE audit SET actor = 'x'", "DELETE FROM audit"):
            with pytest.raises(sqlite3.DatabaseError, match="append-only"):
                conn.execute(sql)
        assert conn.execute("SELECT count(*) FROM audit").fetchone()[0] == 2
        conn.close()
    else:
        import psycopg

        with psycopg.connect(db_url, autocommit=True) as conn:
            for sql in ("UPDATE audit SET actor = 'x'", "DELETE FROM audit", "TRUNCATE audit"):
                with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
                    conn.execute(sql)
            assert conn.execute("SELECT count(*) FROM audit").fetchone()[0] == 2


def test_one_organisations_lists_never_decide_anothers_events(db_url):
    e = Engine(from_env(db_url=db_url))
    account = "40817810000000000888"
    e.decide(ev("intel", customer_id="regulator", list="cbr_fincert", entity="account", value=account, op="add",
                ts="2026-02-02T09:00:00Z"), org="bank2")
    list_changes.change(e, OTHER_ORG, "internal", "account", account, ts="2026-02-02T09:00:00Z")

    def action(org: str, n: int) -> str:
        return e.decide(transfer(to_account=account, ts=f"2026-02-02T10:0{n}:00Z"), org=org).decision.action

    assert action("bank2", 1) == "hold" and action("bank1", 2) == "approve" and action("default", 3) == "approve"
    e.close()
    e = Engine(from_env(db_url=db_url))  # the same after a restart (events folded with their organisation)
    assert action("bank2", 4) == "hold" and action("bank1", 5) == "approve"
    e.close()
