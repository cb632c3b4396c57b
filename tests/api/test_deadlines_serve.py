"""Grey deadlines and webhooks end to end: a real `qalqan serve` closes a merchant's grey payment
on its own clock, with no event arriving, and a real receiver is told — signed — of that, of a
case an analyst decided and of a hold; the case, the audit log and the outbox say the clock did it."""

from __future__ import annotations

import time

import httpx
import pytest
from people_fixtures import GREY, rules_with_review
from test_http import serving
from webhook_receiver import Receiver

from conftest import ev, payment, transfer
from qalqan.webhooks import SIGNATURE, verify

SECRET = "a-webhook-secret-for-this-test"


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def test_serve_closes_a_grey_payment_on_its_clock_and_tells_the_receiver(tmp_path, receiver):
    (tmp_path / "deadlines.yaml").write_text("channels:\n  payment: {after_s: 1, action: decline}\n")
    env = {"QALQAN_DB": f"sqlite:///{tmp_path / 'record.db'}", "QALQAN_RULES": str(rules_with_review(tmp_path)),
           "QALQAN_DEADLINES": str(tmp_path / "deadlines.yaml"), "QALQAN_WEBHOOK_URL": receiver.url,
           "QALQAN_WEBHOOK_SECRET": SECRET}
    with serving(**env) as (base, _), httpx.Client(base_url=base, timeout=20) as c:
        assert c.post("/v1/events", content=payment(event_id="p-1", amount=GREY, merchant_id="M-HOTEL")
                      ).json()["action"] == "review"
        assert c.post("/v1/events", content=transfer(event_id="t-1", amount=GREY)).json()["action"] == "review"
        c.post("/v1/events", content=ev("intel", customer_id="regulator", list="cbr_fincert", entity="account",
                                        value="40817810000000000444", op="add"))
        assert c.post("/v1/events", content=transfer(event_id="h-1", to_account="40817810000000000444")
                      ).json()["action"] == "hold"
        t1 = next(q for q in c.get("/v1/cases").json() if q["event_id"] == "t-1")
        assert c.post(f"/v1/cases/{t1['id']}/decide", json={"outcome": "fraud"}).status_code == 200

        limit = time.monotonic() + 15  # the payment's deadline is 1 s after it was decided
        while len(receiver.delivered()) < 3:
            assert time.monotonic() < limit, f"got only {[g.doc for g in receiver.got]}"
            time.sleep(0.1)
        got = {g.doc["event_id"]: g for g in receiver.delivered()}
        assert {e: g.doc["kind"] for e, g in got.items()} == {
            "p-1": "case_deadline_decline", "t-1": "case_fraud", "h-1": "hold_started"}
        for g in got.values():
            assert verify(SECRET.encode(), g.headers[SIGNATURE.lower()], g.body)
            assert g.headers["idempotency-key"] == f"default:{g.doc['id']}"

        p1 = next(q for q in c.get("/v1/cases?state=decided").json() if q["event_id"] == "p-1")
        assert (p1["outcome"], p1["updated_by"]) == ("declined_at_deadline", "clock")
        assert "channels.payment is decline" in p1["note"]
        audit = c.get("/v1/audit", params={"actor": "clock"}).json()
        assert [(a["action"], a["target"]) for a in audit] == [("case.deadline", f"case:{p1['id']}")]
        kinds = [(o["event_id"], o["kind"]) for o in c.get("/v1/outbox").json()]
        assert ("p-1", "case_deadline_decline") in kinds and ("t-1", "case_fraud") in kinds
