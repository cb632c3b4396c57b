"""The people's side of the API on the scaled set-up: holds, cases, labels, the audit log and lists
through `qalqan serve --nats` fronts, decided by `qalqan worker`s into one PostgreSQL record.

Two fronts and two workers, keys on, as in tests/api/test_people_http.py: a held transfer is
confirmed through a front and released by the worker that holds it (another held one is repeated,
in the other partition), and the outbox tells of the first; a review opens a case on any front, and
an analyst's fraud decision becomes a label event in the record; a list entry added through a front
changes the next decision of a customer of each partition; another organisation's key finds none
of it (404, or nothing).
"""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from typing import Any

import httpx
import msgspec
import psycopg

from conftest import transfer
from qalqan.api.keys import KeyRing
from qalqan.privacy import Tokenizer
from qalqan.rules.ruleset import PACKS_DIR
from qalqan.stream.partition import events_subject, of_token
from qalqan.stream.publish import PARTS_HEADER
from qalqan.stream.worker import HOLD_HEADER, PROTECTED_HEADER, answers_subject
from qalqan.tenancy import org_key

from .conftest import need_servers
from .helpers import KEY, NATS_URL, env_for, fresh_database, fresh_stream
from .test_front import front, wait_ready, worker

# 7000 RUB is grey: the built-in packs and one rule that sends it to review (as tests/api does).
GREY = "7000"
REVIEW_PACK = ("pack: grey\nrules:\n  - id: seven\n    when: \"amount_base == rub(7000)\"\n    action: review\n"
               "    reason: a grey amount\n")
LISTED = "40817810000000000555"
ON_LIST = "recipient is on the bank's internal list"


def _rules(tmp: Path) -> Path:
    rules = tmp / "rules"
    shutil.copytree(PACKS_DIR, rules)
    (rules / "grey.yaml").write_text(REVIEW_PACK)
    return rules


def _customers() -> dict[int, list[str]]:
    """Customer ids of bank1 by partition (of 2), three each, as the workers route them (by the
    organisation's own token, tenancy.py)."""
    tok, found = Tokenizer(org_key(bytes.fromhex(KEY), "bank1")), {0: [], 1: []}  # type: dict[int, list[str]]
    for i in range(100):
        cid = f"P{i:07d}"
        part = of_token(tok.token(cid), 2)
        if len(found[part]) < 3:
            found[part].append(cid)
    return found


def _record(db: str, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(db) as conn:
        return conn.execute(sql, args).fetchall()


def _forged(stream: str, part: int, event: dict[str, Any], target: str) -> dict[str, Any]:
    """Publishes a protected answer to a hold straight to the stream; returns the worker's answer."""
    import nats

    async def send() -> dict[str, Any]:
        nc = await nats.connect(NATS_URL, connect_timeout=3)
        try:
            sub = await nc.subscribe(answers_subject(stream, part))
            await nc.flush()
            await nc.jetstream().publish(events_subject(stream, part), msgspec.json.encode(event), headers={
                "Nats-Msg-Id": event["event_id"], PROTECTED_HEADER: "1", HOLD_HEADER: target, PARTS_HEADER: "2"})
            return msgspec.json.decode((await sub.next_msg(timeout=15)).data)  # type: ignore[no-any-return]
        finally:
            await nc.close()

    return asyncio.run(send())


def test_people_through_fronts(tmp_path: Path) -> None:
    need_servers()
    home = tmp_path / "home"
    ring = KeyRing.load(home)
    keys = {name: {"authorization": f"Bearer {ring.create(role, org, name)[1]}"}
            for name, role, org in [("int1", "integrator", "bank1"), ("ana1", "analyst", "bank1"),
                                    ("aud1", "auditor", "bank1"), ("adm2", "admin", "bank2")]}
    who = _customers()
    with fresh_database() as db, fresh_stream() as stream:
        env = env_for(home, db, QALQAN_AUTH="on", QALQAN_RULES=str(_rules(tmp_path)))
        logs = {n: tmp_path / f"{n}.log" for n in ("f0", "f1", "w0", "w1")}
        (a, fa), (b, fb) = front(stream, 2, env, logs["f0"]), front(stream, 2, env, logs["f1"])
        with fa as pa, fb as pb, worker(stream, 0, 2, env, logs["w0"]), worker(stream, 1, 2, env, logs["w1"]), \
                httpx.Client(timeout=30) as http:
            wait_ready(a, pa, logs["f0"])
            wait_ready(b, pb, logs["f1"])

            def post(base: str, body: bytes) -> dict[str, Any]:
                r = http.post(f"{base}/v1/events", content=body, headers=keys["int1"])
                assert r.status_code == 200, f"{r.status_code} {r.text}\n{logs['w0'].read_text()}"
                return r.json()

            def held(base: str, eid: str, customer: str) -> None:
                post(base, transfer(customer_id=customer, direction="in", rail="sbp", self_transfer=True,
                                    amount="300000", ts="2026-02-02T08:00:00Z"))
                assert post(base, transfer(customer_id=customer, event_id=eid, ts="2026-02-02T09:00:00Z"))["action"] \
                    == "hold"

            # --- holds: the client confirms through a front; the worker of the hold's partition releases it
            held(a, "h-confirm", who[0][0])
            got = http.get(f"{b}/v1/holds/h-confirm", headers=keys["ana1"])
            assert got.status_code == 200 and got.json()["status"] == "pending", got.text
            for verb in ("confirm", "reject", "repeat"):  # another organisation's hold is not there
                assert http.post(f"{a}/v1/holds/h-confirm/{verb}", json={}, headers=keys["adm2"]).status_code == 404
            assert http.get(f"{a}/v1/holds/h-confirm", headers=keys["adm2"]).status_code == 404
            r = http.post(f"{a}/v1/holds/h-confirm/confirm", json={"ts": "2026-02-02T10:00:00Z"}, headers=keys["ana1"])
            assert r.status_code == 200 and r.json()["status"] == "released", r.text
            assert [s for _, s in r.json()["history"]] == ["pending", "released"]
            again = http.post(f"{b}/v1/holds/h-confirm/confirm", json={"ts": "2026-02-02T10:00:00Z"},
                              headers=keys["ana1"])
            assert again.status_code == 200 and again.json() == r.json()  # the same answer: the same event
            assert http.post(f"{b}/v1/holds/nope/confirm", json={}, headers=keys["ana1"]).status_code == 404
            assert http.post(f"{b}/v1/holds/h-confirm/maybe", json={}, headers=keys["ana1"]).status_code == 404
            answer = _record(db, "SELECT type, customer, org FROM events "
                                 "WHERE event_id = 'hold:h-confirm:confirm:client'")
            hold_row = _record(db, "SELECT customer FROM events WHERE event_id = 'h-confirm'")
            assert answer == [("hold_response", hold_row[0][0], "bank1")]  # the hold's client, a token
            assert [k for (k,) in _record(db, "SELECT kind FROM outbox WHERE event_id = 'h-confirm' ORDER BY id")] \
                == ["hold_started", "hold_released"]
            notices = http.get(f"{b}/v1/outbox", headers=keys["ana1"]).json()  # any front, the organisation's own
            assert [(n["event_id"], n["kind"]) for n in notices] == [("h-confirm", "hold_started"),
                                                                     ("h-confirm", "hold_released")]
            assert http.get(f"{b}/v1/outbox", params={"after": notices[0]["id"]}, headers=keys["ana1"]).json() \
                == notices[1:]
            assert http.get(f"{a}/v1/outbox", headers=keys["adm2"]).json() == []
            # The worker refuses an answer for a hold it does not hold for that customer, and says so.
            forged = {"type": "hold_response", "event_id": "hold:h-confirm:reject:forged", "ts": "2026-02-02T10:05:00Z",
                      "customer_id": "f" * 24, "target_event_id": "h-confirm", "response": "reject"}
            assert _forged(stream, 0, forged, "h-confirm") == {
                "error": {"field": "target_event_id", "problem": "no hold on event 'h-confirm'"}}
            assert _record(db, "SELECT 1 FROM events WHERE event_id = 'hold:h-confirm:reject:forged'") == []
            # ... and a repeat of the order, in the other partition
            held(b, "h-repeat", who[1][0])
            r = http.post(f"{b}/v1/holds/h-repeat/repeat", json={"ts": "2026-02-02T09:30:00Z"}, headers=keys["ana1"])
            assert r.status_code == 200 and r.json()["status"] == "replaced", r.text
            assert _record(db, "SELECT action FROM events WHERE event_id = 'h-repeat:repeat'") == [("approve",)]

            # --- cases: a review opens a case that any front shows; a fraud decision is a label in the record
            grey = post(a, transfer(customer_id=who[0][1], event_id="g-1", amount=GREY, ts="2026-02-02T10:00:00Z"))
            assert grey["action"] == "review"
            queue = http.get(f"{b}/v1/cases", headers=keys["ana1"]).json()
            assert {q["event_id"] for q in queue} == {"g-1", "h-confirm", "h-repeat"}
            assert http.get(f"{a}/v1/cases", headers=keys["adm2"]).json() == []
            cid = next(q["id"] for q in queue if q["event_id"] == "g-1")
            assert http.get(f"{a}/v1/cases/{cid}", headers=keys["adm2"]).status_code == 404
            assert http.post(f"{a}/v1/cases/{cid}/decide", json={"outcome": "fraud"},
                             headers=keys["adm2"]).status_code == 404
            detail = http.get(f"{a}/v1/cases/{cid}", headers=keys["ana1"]).json()
            assert detail["reasons"][0]["code"] == "grey.seven"
            r = http.post(f"{b}/v1/cases/{cid}/decide", json={"outcome": "fraud", "note": "not her",
                                                              "ts": "2026-02-02T10:30:00Z"}, headers=keys["ana1"])
            assert r.status_code == 200 and (r.json()["state"], r.json()["outcome"]) == ("decided", "fraud"), r.text
            labels = http.get(f"{a}/v1/labels", headers=keys["ana1"]).json()
            assert [(x["event_id"], x["label"]) for x in labels] == [("g-1", "fraud")]
            rows = _record(db, "SELECT customer, org, body FROM events WHERE type = 'label'")
            grey_customer = _record(db, "SELECT customer FROM events WHERE event_id = 'g-1'")[0][0]
            assert [r[:2] for r in rows] == [(grey_customer, "bank1")]  # the movement's customer's partition
            assert msgspec.json.decode(rows[0][2])["target_event_id"] == "g-1"
            assert http.get(f"{a}/v1/labels", headers=keys["adm2"]).json() == []
            assert http.post(f"{a}/v1/labels", json={"event_id": "g-1", "label": "fraud"},
                             headers=keys["adm2"]).status_code == 404

            # --- lists: an entry added through a front decides the next payment in every partition
            def to_listed(ts: str) -> dict[int, dict[str, Any]]:
                return {p: post((a, b)[p], transfer(customer_id=who[p][2], to_account=LISTED, ts=ts)) for p in (0, 1)}

            before = to_listed("2026-02-02T11:00:00Z")
            assert all(ON_LIST not in [x.get("text") for x in d["reasons"]] for d in before.values())
            add = {"entity": "account", "value": LISTED, "ts": "2026-02-02T11:30:00Z"}
            r = http.post(f"{a}/v1/lists/internal", json=add, headers={**keys["ana1"], "idempotency-key": "k1"})
            assert r.status_code == 201 and r.json()["duplicate"] is False, r.text
            token = r.json()["entry"]["value"]
            r = http.post(f"{b}/v1/lists/internal", json=add, headers={**keys["ana1"], "idempotency-key": "k1"})
            assert r.status_code == 200 and r.json()["duplicate"] is True, r.text
            after = to_listed("2026-02-02T12:00:00Z")
            for p, d in after.items():
                assert ON_LIST in [x.get("text") for x in d["reasons"]] and d["action"] == "hold", (p, d)
            found = http.get(f"{b}/v1/lists/internal", params={"entity": "account", "value": LISTED},
                             headers=keys["ana1"]).json()
            assert [e["value"] for e in found] == [token]
            assert http.get(f"{b}/v1/lists/internal", headers=keys["adm2"]).json() == []
            assert http.delete(f"{a}/v1/lists/internal/account/{token}", params={"token": "1"},
                               headers=keys["adm2"]).status_code == 404
            assert http.post(f"{a}/v1/lists/internal", json=add, headers=keys["int1"]).status_code == 403

            # --- the audit log: people's reads and changes, scoped to the organisation
            audit = http.get(f"{a}/v1/audit", params={"limit": 1000}, headers=keys["aud1"]).json()
            assert {"hold.read", "hold.confirm", "hold.repeat", "case.list", "case.read", "case.decide", "list.add",
                    "list.read"} <= {x["action"] for x in audit}
            assert all(x["org"] == "bank1" for x in audit)
