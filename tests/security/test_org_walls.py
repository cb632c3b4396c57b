"""Organisations are walls on every operation of the published API, not a sample of them.

Organisation A makes one of everything (a list entry, a held transfer and its case, an approved
payment with its receipt, a label, an outbox notice). Then organisation B's admin — the strongest
key B has — tries every operation of `/openapi.json` on A's objects: each one is 404 or an empty
answer, and afterwards A's objects are exactly as they were. A new operation in the spec that this
table does not name fails the test (``test_every_operation_of_the_spec_is_tried``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from test_http import serving

from conftest import payment, transfer
from qalqan.api.keys import KeyRing

A, B = "bank-a", "bank-b"
LISTED = "40817810000000000444"  # on A's FinCERT list
# Open to anyone by design (docs/security.md): no organisation's data behind them.
OPEN = {("get", "/v1/schema"), ("post", "/v1/receipts/verify"), ("get", "/v1/receipt-keys"), ("get", "/verify"),
        ("post", "/verify"), ("get", "/healthz"), ("get", "/readyz"), ("get", "/v1/lists")}


class World:
    def __init__(self, c: httpx.Client, keys: dict[str, dict[str, str]]) -> None:
        self.c, self.keys = c, keys
        self.case_id = 0

    def as_(self, who: str, method: str, path: str, **kw: Any) -> httpx.Response:
        return self.c.request(method, path, headers={**self.keys[who], **kw.pop("headers", {})}, **kw)

    def a_state(self) -> dict[str, Any]:
        """Everything of A's that B must not change, as A sees it."""
        return {
            "hold": self.as_("ana_a", "GET", "/v1/holds/a-held").json(),
            "case": self.as_("ana_a", "GET", f"/v1/cases/{self.case_id}").json()["case"],
            "list": self.as_("ana_a", "GET", "/v1/lists/cbr_fincert").json(),
            "labels": self.as_("ana_a", "GET", "/v1/labels").json(),
            "outbox": self.as_("ana_a", "GET", "/v1/outbox").json(),
            "decision": self.as_("int_a", "GET", "/v1/decisions/a-held").json(),
        }


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    home = tmp_path_factory.mktemp("walls")
    ring = KeyRing.load(home)
    keys = {name: {"Authorization": f"Bearer {ring.create(role, org, name)[1]}"}
            for name, role, org in [("int_a", "integrator", A), ("ana_a", "analyst", A), ("int_b", "integrator", B),
                                    ("adm_b", "admin", B)]}
    env = {"QALQAN_HOME": str(home), "QALQAN_DB": f"sqlite:///{home / 'r.db'}", "QALQAN_AUTH": "on",
           "QALQAN_CLOCK_START": "2026-02-02T12:00:00Z"}
    with serving(**env) as (base, _), httpx.Client(base_url=base, timeout=10) as c:
        w = World(c, keys)
        assert w.as_("ana_a", "POST", "/v1/lists/cbr_fincert",
                     json={"entity": "account", "value": LISTED, "ts": "2026-02-02T09:00:00Z"}).status_code == 201
        held = w.as_("int_a", "POST", "/v1/events", content=transfer(event_id="a-held", to_account=LISTED))
        assert held.json()["action"] == "hold", held.text
        assert w.as_("int_a", "POST", "/v1/events", content=payment(event_id="a-pay")).json()["action"] == "approve"
        assert w.as_("int_a", "POST", "/v1/labels", json={"event_id": "a-pay", "label": "legit"}).status_code in (200,
                                                                                                             201)
        assert w.as_("int_a", "GET", "/v1/receipts/a-pay").status_code == 200
        cases = w.as_("ana_a", "GET", "/v1/cases").json()
        w.case_id = next(x["id"] for x in cases if x["event_id"] == "a-held")
        yield w


def _tries(w: World) -> dict[tuple[str, str], list[tuple[str, str, dict[str, Any]]]]:
    """For each operation of the spec: what B tries on A's objects (method, concrete path, request)."""
    cid = w.case_id
    return {
        ("post", "/v1/events"): [("POST", "/v1/events", {"content": b'{"type":"hold_response","event_id":"b-1",'
                                  b'"ts":"2026-02-02T10:00:00Z","customer_id":"C0000001","target_event_id":"a-held",'
                                  b'"response":"confirm"}'})],
        ("get", "/v1/decisions/{event_id}"): [("GET", "/v1/decisions/a-held", {}), ("GET", "/v1/decisions/a-pay", {})],
        ("get", "/v1/holds/{event_id}"): [("GET", "/v1/holds/a-held", {})],
        ("post", "/v1/holds/{event_id}/{verb}"): [("POST", f"/v1/holds/a-held/{v}", {"json": {}})
                                                  for v in ("confirm", "reject", "repeat")],
        ("get", "/v1/outbox"): [("GET", "/v1/outbox", {})],
        ("get", "/v1/receipts/{event_id}"): [("GET", "/v1/receipts/a-pay", {})],
        ("get", "/v1/cases"): [("GET", "/v1/cases", {}), ("GET", "/v1/cases?state=open", {})],
        ("get", "/v1/cases/{case_id}"): [("GET", f"/v1/cases/{cid}", {})],
        ("post", "/v1/cases/{case_id}/assign"): [("POST", f"/v1/cases/{cid}/assign",
                                                  {"json": {"assignee": "mallory"}})],
        ("post", "/v1/cases/{case_id}/decide"): [("POST", f"/v1/cases/{cid}/decide",
                                                  {"json": {"outcome": o, "note": "b"}})
                                                 for o in ("fraud", "legitimate", "contact_customer")],
        ("get", "/v1/labels"): [("GET", "/v1/labels", {})],
        ("post", "/v1/labels"): [("POST", "/v1/labels", {"json": {"event_id": "a-pay", "label": "fraud"}})],
        ("get", "/v1/lists/{list}"): [("GET", "/v1/lists/cbr_fincert", {}),
                                      ("GET", f"/v1/lists/cbr_fincert?value={LISTED}", {})],
        ("post", "/v1/lists/{list}"): [],  # B's own list: tried below, in test_b_s_lists_decide_nothing_of_a_s
        ("post", "/v1/lists/{list}/import"): [],  # likewise
        ("delete", "/v1/lists/{list}/{entity}/{value}"): [("DELETE", f"/v1/lists/cbr_fincert/account/{LISTED}", {})],
        ("get", "/v1/audit"): [("GET", "/v1/audit", {})],
        ("get", "/metrics"): [("GET", "/metrics", {})],  # the deployment's operator (admin) sees process counts
        ("get", "/v1/intel/feed"): [("GET", "/v1/intel/feed", {})],  # the default organisation's bank's feed only
    }


def test_every_operation_of_the_spec_is_tried(world: World) -> None:
    spec = world.c.get("/openapi.json").json()
    operations = {(m, p) for p, ops in spec["paths"].items() for m in ops if m in ("get", "post", "delete", "put")}
    untried = operations - OPEN - set(_tries(world))
    assert not untried, f"operations with no organisation-wall check: {sorted(untried)}"


def _nothing_of_a(r: httpx.Response) -> bool:
    if r.status_code == 404:
        return True
    if r.status_code != 200:
        return False
    text = r.text
    return not any(s in text for s in ("a-held", "a-pay", LISTED, "int_a", "ana_a"))


@pytest.mark.parametrize("op", [
    "post /v1/events", "get /v1/decisions/{event_id}", "get /v1/holds/{event_id}", "post /v1/holds/{event_id}/{verb}",
    "get /v1/outbox", "get /v1/receipts/{event_id}", "get /v1/cases", "get /v1/cases/{case_id}",
    "post /v1/cases/{case_id}/assign", "post /v1/cases/{case_id}/decide", "get /v1/labels", "post /v1/labels",
    "get /v1/lists/{list}", "delete /v1/lists/{list}/{entity}/{value}", "get /v1/audit", "get /metrics",
    "get /v1/intel/feed"])
def test_another_organisation_finds_and_changes_nothing(world: World, op: str) -> None:
    method, path = op.split(" ", 1)
    before = world.a_state()
    for key in ("adm_b", "int_b"):
        for m, concrete, kw in _tries(world)[(method, path)]:
            r = world.as_(key, m, concrete, **kw)
            if r.status_code == 403:  # this role of B may not even try: as good as a wall
                continue
            assert _nothing_of_a(r), f"{key} {m} {concrete}: {r.status_code} {r.text[:300]}"
    assert world.a_state() == before


def test_b_s_lists_decide_nothing_of_a_s(world: World) -> None:
    other = "40817810000000000777"
    for body in ({"entity": "account", "value": other, "ts": "2026-02-02T09:00:00Z"},):
        assert world.as_("adm_b", "POST", "/v1/lists/cbr_fincert", json=body).status_code == 201
    imported = world.as_("adm_b", "POST", "/v1/lists/internal/import", content=f"entity,value\naccount,{other}\n",
                         headers={"content-type": "text/csv"})
    assert imported.status_code in (200, 201), imported.text
    a = world.as_("int_a", "POST", "/v1/events", content=transfer(event_id="a-to-other", to_account=other)).json()
    assert a["action"] == "approve" and not a["reasons"], a  # B's lists are B's
    b = world.as_("int_b", "POST", "/v1/events", content=transfer(event_id="b-to-other", to_account=other)).json()
    assert b["action"] == "hold", b  # ... and they do decide B's own
    mine = world.as_("adm_b", "GET", "/v1/lists/cbr_fincert").json()
    assert [e["value"] for e in mine] != [] and LISTED not in str(mine)

