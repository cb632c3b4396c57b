"""The analysts' console and receipts on the scaled set-up: `qalqan serve --nats` fronts, `qalqan worker`s,
one PostgreSQL record.

Two fronts and two workers, keys on: an analyst logs in to the console of each front (sessions are
each front's own); one front's console shows the held transfer (its hold is kept by the worker of its
partition) and the review case with its reasons and features; the hold is confirmed through the
other front's console and is released; a receipt issued by one front verifies on the other; another
organisation's analyst sees none of it; a partition whose worker is gone makes the holds page 503.
"""

from __future__ import annotations

import re
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from conftest import transfer
from qalqan.api.keys import KeyRing
from qalqan.console.users import UserBook

from .conftest import need_servers
from .helpers import env_for, fresh_database, fresh_stream
from .test_front import front, wait_ready, worker
from .test_front_people import GREY, _customers, _record, _rules

PASSWORD = "correct horse battery"


def _csrf(html: str) -> str:
    m = re.search(r'name="csrf" value="([^"]+)"', html)
    assert m, "no CSRF token in the page"
    return m.group(1)


def _logged_in(base: str, name: str) -> httpx.Client:
    c = httpx.Client(base_url=base, timeout=30)
    token = _csrf(c.get("/console/login").text)
    r = c.post("/console/login", data={"csrf": token, "name": name, "password": PASSWORD, "next": ""})
    assert r.status_code == 303 and r.headers["location"] == "/console/queue", r.text
    return c


def _open_holds(html: str) -> list[str]:
    """The event ids in the holds page's table."""
    table = html.split('class="holds"', 1)[1] if 'class="holds"' in html else ""
    return re.findall(r'/console/holds/([^/"]+)/confirm', table)


def test_console_and_receipts_through_fronts(tmp_path: Path) -> None:
    need_servers()
    home = tmp_path / "home"
    ring = KeyRing.load(home)
    keys = {name: {"authorization": f"Bearer {ring.create(role, 'bank1', name)[1]}"}
            for name, role in [("int1", "integrator"), ("ana1", "analyst")]}
    book = UserBook.load(home)
    book.create("ana", "analyst", "bank1", PASSWORD, None)
    book.create("eve", "analyst", "bank2", PASSWORD, None)
    who = _customers()
    # Event times in the last hour: the console answers holds with the wall clock, and the hold must still be open.
    t0 = datetime.now(UTC) - timedelta(minutes=50)

    def ts(minutes: int) -> str:
        return (t0 + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%SZ")

    with fresh_database() as db, fresh_stream() as stream, ExitStack() as stack:
        # The real clock (tests/console/helpers.py seeds the last hour's events), not the tests' February one.
        env = env_for(home, db, QALQAN_AUTH="on", QALQAN_RULES=str(_rules(tmp_path)), QALQAN_CLOCK_START="")
        logs = {n: tmp_path / f"{n}.log" for n in ("f0", "f1", "w0", "w1")}
        (a, fa), (b, fb) = front(stream, 2, env, logs["f0"]), front(stream, 2, env, logs["f1"])
        pa, pb = stack.enter_context(fa), stack.enter_context(fb)
        stack.enter_context(worker(stream, 0, 2, env, logs["w0"]))
        w1 = ExitStack()
        w1.enter_context(worker(stream, 1, 2, env, logs["w1"]))
        stack.push(w1)
        http = stack.enter_context(httpx.Client(timeout=30))
        wait_ready(a, pa, logs["f0"])
        wait_ready(b, pb, logs["f1"])

        def post(base: str, body: bytes) -> dict[str, Any]:
            r = http.post(f"{base}/v1/events", content=body, headers=keys["int1"])
            assert r.status_code == 200, f"{r.status_code} {r.text}\n{logs['w0'].read_text()}"
            return r.json()  # type: ignore[no-any-return]

        # A held transfer in partition 0, a review in partition 1, an approved transfer for a receipt.
        post(a, transfer(customer_id=who[0][0], direction="in", rail="sbp", self_transfer=True, amount="300000",
                         ts=ts(0)))
        assert post(a, transfer(customer_id=who[0][0], event_id="h-1", ts=ts(10)))["action"] == "hold"
        assert post(b, transfer(customer_id=who[1][0], event_id="g-1", amount=GREY, ts=ts(12)))["action"] == "review"

        ca, cb = _logged_in(a, "ana"), _logged_in(b, "ana")
        stack.callback(ca.close)
        stack.callback(cb.close)
        # --- front a: the hold (from worker 0) and both cases, with the case page's reasons and features
        holds = ca.get("/console/holds")
        assert holds.status_code == 200 and _open_holds(holds.text) == ["h-1"], holds.text
        queue = ca.get("/console/queue").text
        cases = {eid: path for path, eid in re.findall(r'<a href="(/console/cases/\d+)">([^<]+)</a>', queue)}
        assert {"g-1", "h-1"} <= set(cases), queue
        case = ca.get(cases["g-1"])
        assert case.status_code == 200 and "grey.seven" in case.text and "seven" in case.text, case.text
        assert ca.get("/console/rules").status_code == 200 and ca.get("/console/dashboard").status_code == 200

        # --- another organisation's analyst: no hold, no case, no answer
        ce = _logged_in(b, "eve")
        stack.callback(ce.close)
        page = ce.get("/console/holds")
        assert page.status_code == 200 and _open_holds(page.text) == []
        assert "g-1" not in ce.get("/console/queue").text
        assert ce.post("/console/holds/h-1/confirm", data={"csrf": _csrf(page.text)}).status_code == 422

        # --- front b: the analyst confirms; worker 0 releases the hold
        page = cb.get("/console/holds")
        assert _open_holds(page.text) == ["h-1"]
        r = cb.post("/console/holds/h-1/confirm", data={"csrf": _csrf(page.text)})
        assert r.status_code == 303 and r.headers["location"] == "/console/holds", r.text
        after = cb.get("/console/holds")
        assert "hold h-1: confirm recorded" in after.text and _open_holds(after.text) == [], after.text
        state = http.get(f"{a}/v1/holds/h-1", headers=keys["ana1"]).json()
        assert state["status"] == "released", state
        assert _open_holds(ca.get("/console/holds").text) == []
        assert _record(db, "SELECT type, org FROM events WHERE event_id = 'hold:h-1:confirm:client'") \
            == [("hold_response", "bank1")]
        assert ("ana", "hold.confirm", "event:h-1") in _record(db, "SELECT actor, action, target FROM audit")

        # --- receipts: the released transfer's receipt, issued by front a, verifies on front b
        r = http.get(f"{a}/v1/receipts/h-1", headers=keys["int1"])
        assert r.status_code == 200, r.text
        receipt = r.json()
        assert receipt["verify_url"] == f"{a}/verify?c={receipt['code']}"
        v = http.post(f"{b}/v1/receipts/verify", content=receipt["code"], headers={"content-type": "text/plain"})
        assert v.status_code == 200 and v.json()["genuine"] is True, v.text
        assert http.post(f"{b}/v1/receipts/verify", json={**receipt, "amount": "1"}).json()["genuine"] is False
        assert "GENUINE" in http.get(f"{b}/verify", params={"c": receipt["code"]}).text
        assert http.get(f"{b}/v1/receipts/g-1", headers=keys["int1"]).status_code == 409  # under review: none
        assert http.get(f"{b}/v1/receipts/h-1").status_code == 401
        assert http.get(f"{b}/v1/receipts/h-1", headers=keys["ana1"]).status_code == 403

        # --- a partition without its worker: the holds page says so (503), at once
        w1.close()
        gone = cb.get("/console/holds")
        assert gone.status_code == 503 and "partition 1" in gone.text, gone.text
