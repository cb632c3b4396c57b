"""The published spec against the running server: schemathesis (its own CLI, in a subprocess)
generates requests for every operation in `/openapi.json`, valid and invalid ones, and checks that
no answer is a 5xx and that every answer matches the spec: its status code is declared, its
content type and body conform; the stateful phase chains operations by the links schemathesis
infers. Once with API keys off, once on with an admin's key.

The server is seeded first (list entries, held transfers with their cases, approved payments with
receipts and labels), and the hooks (tests/fuzz_hooks.py) draw path parameters half the time from
those objects: operations that take an id answer 200 as well as 404, so the fuzzing reaches the
code behind the lookup. Every answer is written down per operation, and counted here."""

from __future__ import annotations

import collections
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from test_http import serving

from conftest import payment, transfer

CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"
HOOKS = Path(__file__).with_name("fuzz_hooks.py")
SEEDED = 6  # of each kind
# Operations that take an id: each must answer 2xx at least this often (and 404 at least once); a
# list entry can be deleted once only.
MIN_2XX = 3
BY_ID = ["GET /v1/decisions/{event_id}", "GET /v1/holds/{event_id}", "POST /v1/holds/{event_id}/{verb}",
         "GET /v1/receipts/{event_id}", "GET /v1/cases/{case_id}", "POST /v1/cases/{case_id}/assign",
         "POST /v1/cases/{case_id}/decide", "GET /v1/lists/{list}", "POST /v1/lists/{list}",
         "DELETE /v1/lists/{list}/{entity}/{value}"]


def seed(c: httpx.Client, integrator: dict[str, str], analyst: dict[str, str]) -> dict[str, Any]:
    """A list entry per held transfer (a transfer to a FinCERT-listed account is held, with a case),
    approved payments with a label each: what the fuzzing then finds by id."""
    entries, holds, payments = [], [], []
    for i in range(SEEDED):
        account = f"408178100000000004{i:02d}"
        r = c.post("/v1/lists/cbr_fincert", headers=analyst,
                   json={"entity": "account", "value": account, "ts": "2026-02-02T09:00:00Z"})
        assert r.status_code == 201, r.text
        entries.append({"list": "cbr_fincert", "entity": "account", "value": account})
        held = c.post("/v1/events", headers=integrator,
                      content=transfer(event_id=f"fz-held-{i}", to_account=account, customer_id=f"C00001{i:02d}"))
        assert held.json()["action"] == "hold", held.text
        holds.append(f"fz-held-{i}")
        paid = c.post("/v1/events", headers=integrator, content=payment(event_id=f"fz-pay-{i}"))
        assert paid.json()["action"] == "approve", paid.text
        payments.append(f"fz-pay-{i}")
        assert c.post("/v1/labels", headers=analyst, json={"event_id": f"fz-pay-{i}", "label": "legit"}).status_code \
            in (200, 201)
    cases = [x["id"] for x in c.get("/v1/cases", headers=analyst).json()]
    assert len(cases) >= SEEDED
    lists = sorted({x["name"] if isinstance(x, dict) else x for x in c.get("/v1/lists").json()})
    return {"entries": entries, "holds": holds, "payments": payments, "cases": cases, "lists": lists}


@pytest.mark.parametrize("auth", ["off", "on"])
def test_no_server_error_and_every_answer_matches_the_spec(tmp_path: Path, auth: str) -> None:
    env = {"QALQAN_HOME": str(tmp_path), "QALQAN_DB": f"sqlite:///{tmp_path}/fuzz.db", "QALQAN_AUTH": auth,
           "QALQAN_CONSORTIUM_KEY": "c0" * 32}  # with a member key: GET /v1/intel/feed answers a feed
    from qalqan.intel.feed import keygen

    keygen(tmp_path, "fuzz-bank")
    header: list[str] = []
    integrator: dict[str, str] = {}
    analyst: dict[str, str] = {}
    if auth == "on":
        from qalqan.api.keys import KeyRing

        ring = KeyRing.load(tmp_path)
        _, secret = ring.create("admin", "default", "fuzz")
        header = ["--header", f"Authorization: Bearer {secret}"]
        integrator = {"Authorization": f"Bearer {ring.create('integrator', 'default', 'seed-i')[1]}"}
        analyst = {"Authorization": f"Bearer {ring.create('analyst', 'default', 'seed-a')[1]}"}
    seeds, answers = tmp_path / "seeds.json", tmp_path / "answers.jsonl"
    with serving(**env) as (base, _):
        with httpx.Client(base_url=base, timeout=10) as c:
            seeds.write_text(json.dumps(seed(c, integrator, analyst)))
            spec = c.get("/openapi.json").json()
        run = subprocess.run(
            [str(Path(sys.executable).with_name("schemathesis")), "run", f"{base}/openapi.json", *header,
             "--checks", CHECKS, "--max-examples", "25", "--seed", "7",
             "--phases", "examples,coverage,fuzzing,stateful", "--no-color"],
            capture_output=True, text=True, timeout=600, cwd=tmp_path,
            env={**os.environ, "SCHEMATHESIS_HOOKS": str(HOOKS), "FUZZ_SEEDS": str(seeds),
                 "FUZZ_ANSWERS": str(answers)},
        )
    report = run.stdout + run.stderr
    assert run.returncode == 0, report[-6000:]
    counts: dict[str, collections.Counter[int]] = collections.defaultdict(collections.Counter)
    for line in answers.read_text().splitlines():
        a = json.loads(line)
        counts[a["op"]][a["status"]] += 1
    operations = {f"{m.upper()} {p}" for p, ops in spec["paths"].items() for m in ops}
    assert set(BY_ID) <= operations
    assert not operations - set(counts), f"never called: {sorted(operations - set(counts))}"
    ok = {op: sum(n for s, n in c.items() if 200 <= s < 300) for op, c in counts.items()}
    never = sorted(op for op in operations if ok[op] == 0)
    assert not never, f"operations that never answered 2xx: {never}"
    for op in BY_ID:
        least = 1 if op.startswith("DELETE") else MIN_2XX
        assert ok[op] >= least and counts[op][404] >= 1, (op, dict(counts[op]))
