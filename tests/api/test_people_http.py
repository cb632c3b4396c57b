"""Cases, lists, labels and the audit log over HTTP, with auth on, as two banks and a merchant
use them: a real `qalqan serve`, real keys, both records. One organisation guessing another's
ids gets 404 — the same answer as for ids that do not exist."""

from __future__ import annotations

import httpx
import pytest
from people_fixtures import GREY, rules_with_review
from test_http import serving

from conftest import ev, payment, transfer
from qalqan.api.keys import KeyRing


@pytest.fixture
def api(db_url, tmp_path, isolated_home):
    ring = KeyRing.load(isolated_home)
    keys = {}
    for name, role, org, merchant in [("int1", "integrator", "bank1", None), ("ana1", "analyst", "bank1", None),
                                      ("aud1", "auditor", "bank1", None), ("air", "merchant", "bank1", "M-AIR"),
                                      ("int2", "integrator", "bank2", None), ("adm2", "admin", "bank2", None)]:
        keys[name] = {"Authorization": f"Bearer {ring.create(role, org, name, merchant)[1]}"}
    with serving(QALQAN_AUTH="on", QALQAN_DB=db_url, QALQAN_RULES=str(rules_with_review(tmp_path))) as (base, _), \
            httpx.Client(base_url=base, timeout=20) as c:
        yield c, keys


def test_two_banks_and_a_merchant(api):
    c, k = api
    grey = c.post("/v1/events", content=transfer(event_id="b1-grey", amount=GREY, to_account="40817810000000000777"),
                  headers=k["int1"])
    assert grey.json()["action"] == "review"
    for eid, merchant in (("b1-air", "M-AIR"), ("b1-hotel", "M-HOTEL")):
        r = c.post("/v1/events", content=payment(event_id=eid, amount=GREY, merchant_id=merchant, channel="ecom"),
                   headers=k["int1"])
        assert r.json()["action"] == "review"
    assert c.post("/v1/events", content=transfer(event_id="b2-grey", amount=GREY), headers=k["int2"]).status_code == 200

    # decisions: one's own, never another's; an id is unique within its organisation: bank 2's b1-grey
    # is its own event, decided on its own (not bank 1's review), and changes nothing of bank 1's
    mine = c.get("/v1/decisions/b1-grey", headers=k["ana1"])
    assert mine.status_code == 200
    assert c.get("/v1/decisions/b1-grey", headers=k["adm2"]).status_code == 404
    theirs = c.post("/v1/events", content=transfer(event_id="b1-grey"), headers=k["int2"])
    assert theirs.status_code == 200 and theirs.json()["action"] == "approve"
    batch = c.post("/v1/events", content=b"[" + transfer(event_id="b1-grey") + b"]", headers=k["int2"]).json()
    assert batch[0]["status"] == "decided" and batch[0]["decision"] == theirs.json()  # its own, again
    assert c.get("/v1/decisions/b1-grey", headers=k["ana1"]).content == mine.content

    # the queue
    queue = c.get("/v1/cases", headers=k["ana1"]).json()
    assert {q["event_id"] for q in queue} == {"b1-grey", "b1-air", "b1-hotel"}
    assert [q["event_id"] for q in c.get("/v1/cases", headers=k["adm2"]).json()] == ["b2-grey"]
    ids = {q["event_id"]: q["id"] for q in queue}
    for cid in ids.values():  # bank2 guessing bank1's case ids
        assert c.get(f"/v1/cases/{cid}", headers=k["adm2"]).status_code == 404
        assert c.post(f"/v1/cases/{cid}/assign", json={"assignee": "eve"}, headers=k["adm2"]).status_code == 404
        assert c.post(f"/v1/cases/{cid}/decide", json={"outcome": "fraud"}, headers=k["adm2"]).status_code == 404
    assert c.get("/v1/cases/99999", headers=k["ana1"]).status_code == 404
    assert c.get("/v1/cases?state=closed", headers=k["ana1"]).json()["field"] == "state"

    # the analyst works a case to a label and a list entry
    cid = ids["b1-grey"]
    r = c.post(f"/v1/cases/{cid}/assign", json={"assignee": "ana"}, headers=k["ana1"])
    assert r.status_code == 200 and r.json()["state"] == "assigned"
    detail = c.get(f"/v1/cases/{cid}", headers=k["ana1"]).json()
    assert detail["reasons"][0]["code"] == "grey.seven" and detail["event"]["event_id"] == "b1-grey"
    bad = c.post(f"/v1/cases/{cid}/decide", json={"outcome": "maybe"}, headers=k["ana1"])
    assert bad.status_code == 422 and bad.headers["content-type"] == "application/problem+json"
    assert bad.json()["field"] == "outcome"
    r = c.post(f"/v1/cases/{cid}/decide", json={"outcome": "fraud", "note": "not her", "add_to": ["counterparty"],
                                                "ts": "2026-02-02T10:30:00Z"}, headers=k["ana1"])
    assert r.status_code == 200 and (r.json()["state"], r.json()["outcome"]) == ("decided", "fraud")
    assert c.post(f"/v1/cases/{cid}/decide", json={"outcome": "legitimate"}, headers=k["ana1"]).status_code == 409
    assert c.get("/v1/labels", headers=k["ana1"]).json()[0]["event_id"] == "b1-grey"
    assert c.get("/v1/labels", headers=k["adm2"]).json() == []
    entry = c.get("/v1/lists/internal", params={"entity": "account", "value": "40817810000000000777"},
                  headers=k["ana1"]).json()
    assert len(entry) == 1
    assert c.get("/v1/lists/internal", headers=k["adm2"]).json() == []
    gone = c.delete(f"/v1/lists/internal/account/{entry[0]['value']}", params={"token": "1"}, headers=k["adm2"])
    assert gone.status_code == 404
    nxt = c.post("/v1/events", content=transfer(to_account="40817810000000000777", ts="2026-02-02T11:00:00Z"),
                 headers=k["int1"]).json()
    assert "recipient is on the bank's internal list" in [r.get("text") for r in nxt["reasons"]]

    # labels over the API: integrators send them; another organisation's event does not exist
    r = c.post("/v1/labels", json={"event_id": "b1-hotel", "label": "chargeback", "source": "visa"},
               headers=k["int1"])
    assert r.status_code == 201 and r.json()["label"] == "chargeback"
    assert c.post("/v1/labels", json={"event_id": "b1-hotel", "label": "chargeback", "source": "visa"},
                  headers=k["int1"]).status_code == 200  # the same label again is the same event
    assert c.post("/v1/labels", json={"event_id": "b1-hotel", "label": "fraud"}, headers=k["int2"]).status_code == 404
    assert c.post("/v1/labels", json={"event_id": "b1-hotel", "label": "meh"}, headers=k["int1"]).json()["field"] \
        == "label"

    # the merchant: its own grey payments only; it decides, it does not assign
    mine = c.get("/v1/cases", headers=k["air"]).json()
    assert [m["event_id"] for m in mine] == ["b1-air"]
    assert c.get(f"/v1/cases/{ids['b1-hotel']}", headers=k["air"]).status_code == 404
    assert c.post(f"/v1/cases/{ids['b1-air']}/assign", json={}, headers=k["air"]).status_code == 403
    r = c.post(f"/v1/cases/{ids['b1-air']}/decide", json={"outcome": "legitimate"}, headers=k["air"])
    assert r.status_code == 200 and r.json()["outcome"] == "legitimate"
    assert c.get("/v1/lists/internal", headers=k["air"]).status_code == 403

    # holds: another organisation's hold is not there
    c.post("/v1/events", content=ev("intel", customer_id="regulator", list="cbr_fincert", entity="account",
                                    value="40817810000000000444", op="add"), headers=k["int1"])
    held = c.post("/v1/events", content=transfer(event_id="b1-held", to_account="40817810000000000444"),
                  headers=k["int1"]).json()
    assert held["action"] == "hold"
    assert c.get("/v1/holds/b1-held", headers=k["ana1"]).status_code == 200
    assert c.get("/v1/holds/b1-held", headers=k["adm2"]).status_code == 404
    assert c.post("/v1/holds/b1-held/confirm", json={}, headers=k["adm2"]).status_code == 404
    # ... nor its notices: the outbox is the organisation's own
    notices = [(n["event_id"], n["kind"]) for n in c.get("/v1/outbox", headers=k["ana1"]).json()]
    assert ("b1-held", "hold_started") in notices
    assert all(c.get(f"/v1/decisions/{e}", headers=k["ana1"]).status_code == 200 for e, _ in notices)
    assert c.get("/v1/outbox", headers=k["adm2"]).json() == []

    # the audit log: people's reads and changes, the auditor's to read, scoped to the organisation
    assert c.get("/v1/audit", headers=k["ana1"]).status_code == 403
    rows = c.get("/v1/audit", params={"limit": 1000}, headers=k["aud1"]).json()
    actions = {r["action"] for r in rows}
    assert {"decision.read", "case.list", "case.read", "case.assign", "case.decide", "label.add", "list.read",
            "hold.read"} <= actions
    assert all(r["org"] == "bank1" for r in rows)
    decided = [r for r in rows if r["action"] == "case.decide" and r["target"] == f"case:{cid}"]
    assert decided[0]["detail"].startswith("fraud internal+account:")  # what went on the list, as tokens
    theirs = c.get("/v1/audit", params={"limit": 1000}, headers=k["adm2"]).json()
    assert theirs and all(r["org"] == "bank2" for r in theirs)


def test_lists_over_http(api):
    c, k = api
    h = k["ana1"]
    r = c.post("/v1/lists/cbr_fincert", json={"entity": "card", "value": "4111 1111 1111 1111", "ttl_s": 3600,
                                              "ts": "2026-02-02T09:00:00Z"}, headers=h)
    assert r.status_code == 201
    entry = r.json()["entry"]
    assert entry["expires_at"] == "2026-02-02T10:00:00Z" and "4111" not in entry["value"]
    again = c.post("/v1/lists/cbr_fincert", json={"entity": "card", "value": "4111111111111111"},
                   headers={**h, "Idempotency-Key": "k1"})
    assert again.status_code == 201
    assert c.post("/v1/lists/cbr_fincert", json={"entity": "card", "value": "4111111111111111"},
                  headers={**h, "Idempotency-Key": "k1"}).status_code == 200  # a retry is the same change
    assert c.post("/v1/lists/cbr_fincert", json={"entity": "shoe", "value": "x"}, headers=h).json()["field"] == "entity"
    assert c.post("/v1/lists/cbr_fincert", json={"entity": "card", "value": "1", "ttl_s": -5},
                  headers=h).json()["field"] == "ttl_s"
    assert c.post("/v1/lists/nope", json={"entity": "card", "value": "1"}, headers=h).status_code == 404
    assert c.post("/v1/lists/internal", json={"entity": "card", "value": "1"}, headers=k["aud1"]).status_code == 403

    csv = b"entity,value,expires_at\naccount,40817810000000000555,\nphone,+7 701 000-00-00,2026-03-01T00:00:00Z\n"
    r = c.post("/v1/lists/internal/import?ttl_s=86400&ts=2026-02-02T09:00:00Z", content=csv,
               headers={**h, "content-type": "text/csv"})
    assert r.status_code == 201 and r.json()["imported"] == 2
    r = c.post("/v1/lists/internal/import", json=[{"entity": "device", "value": "dev-1"},
                                                  {"entity": "device", "value": ""}], headers=h)
    assert r.status_code == 422 and r.json()["field"] == "[1].value"
    got = {e["entity"]: e for e in c.get("/v1/lists/internal", headers=h).json()}
    assert set(got) == {"account", "phone"}
    assert got["account"]["expires_at"] == "2026-02-03T09:00:00Z"
    assert got["phone"]["expires_at"] == "2026-03-01T00:00:00Z"
    assert c.get("/v1/lists/internal", params={"entity": "phone", "value": "77010000000"}, headers=h).json()

    # the decision path sees an imported entry at once
    d = c.post("/v1/events", content=transfer(to_account="40817810000000000555", ts="2026-02-02T10:00:00Z"),
               headers=k["int1"]).json()
    assert d["action"] != "approve"
    assert c.delete("/v1/lists/internal/account/40817810000000000555", headers=k["adm2"]).status_code == 404
    r = c.delete("/v1/lists/internal/account/40817810000000000555", params={"ts": "2026-02-02T10:05:00Z"}, headers=h)
    assert r.status_code == 200
    assert c.delete("/v1/lists/internal/account/40817810000000000555", headers=h).status_code == 404
    d = c.post("/v1/events", content=transfer(to_account="40817810000000000555", ts="2026-02-02T10:10:00Z"),
               headers=k["int1"]).json()
    assert d["action"] == "approve"


def test_the_allow_list_is_kept_by_people_never_by_an_integrators_events(api):
    """An integrator's key cannot whitelist (a stolen one would clear a mule): `list: allow` in an
    event is refused naming `list`. An analyst's allow entry softens the engine's own review of that
    customer's grey transfer; an auditor may not make one."""
    c, k = api
    refused = c.post("/v1/events", headers=k["int1"], content=(
        b'{"type":"intel","event_id":"wl-1","ts":"2026-02-02T09:00:00Z","customer_id":"C0000001",'
        b'"list":"allow","entity":"customer","value":"C0000042","op":"add"}'))
    assert refused.status_code == 422 and refused.json()["field"] == "list", refused.text
    assert c.post("/v1/lists/allow", json={"entity": "customer", "value": "C0000042"},
                  headers=k["aud1"]).status_code == 403
    before = c.post("/v1/events", content=transfer(event_id="wl-before", customer_id="C0000042", amount=GREY),
                    headers=k["int1"])
    assert before.json()["action"] == "review"
    r = c.post("/v1/lists/allow", json={"entity": "customer", "value": "C0000042", "ts": "2026-02-02T09:00:00Z"},
               headers=k["ana1"])
    assert r.status_code == 201, r.text
    after = c.post("/v1/events", content=transfer(event_id="wl-after", customer_id="C0000042", amount=GREY),
                   headers=k["int1"])
    assert after.json()["action"] == "approve" and "list.allow" in {x["code"] for x in after.json()["reasons"]}
