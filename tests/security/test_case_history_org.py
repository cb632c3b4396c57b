"""A case page's customer history is the case's organisation's only (store/workflow.py ``history``).

Organisations tokenise under keys of their own (tenancy.py), so two organisations' clients rarely
share a token; but a token is only a string in the record, and events rebuilt by qalqan itself
(``protected=True``) carry one already. The history must filter by organisation in SQL and not
lean on the tokens being different: these tests put the *same* token in two organisations and
fail when the ``org = ?`` condition is dropped from the query.
"""

from __future__ import annotations

import msgspec
import pytest

from conftest import payment, transfer
from qalqan.config import from_env
from qalqan.engine import Engine
from qalqan.events import decode_event

SHARED = "tok-shared-customer"


@pytest.fixture
def engine(db_url):
    e = Engine(from_env(db_url=db_url))
    yield e
    e.close()


def _as_token(raw: bytes, customer: str) -> object:
    doc = msgspec.json.decode(raw)
    doc["customer_id"] = customer
    return decode_event(msgspec.json.encode(doc))


def _decide(engine: Engine, raw: bytes, org: str) -> str:
    """Decides an event whose customer is the token ``SHARED`` as stored (not tokenised again)."""
    event = _as_token(raw, SHARED)
    engine.decide_event(event, protected=True, org=org)
    return event.event_id


def test_the_same_token_in_two_organisations_stays_apart(engine):
    a = [_decide(engine, transfer(event_id=f"a-{i}", ts=f"2026-02-02T10:0{i}:00Z"), "bank-a") for i in range(3)]
    b = [_decide(engine, transfer(event_id=f"b-{i}", ts=f"2026-02-02T11:0{i}:00Z"), "bank-b") for i in range(2)]
    engine.commit()
    got_a = engine.record.history("bank-a", SHARED)
    got_b = engine.record.history("bank-b", SHARED)
    assert {r.event_id for r in got_a} == set(a)
    assert {r.event_id for r in got_b} == set(b)
    assert all(r.org == "bank-a" for r in got_a) and all(r.org == "bank-b" for r in got_b)
    assert engine.record.history("bank-c", SHARED) == []


def test_a_merchants_view_of_the_history_is_filtered_by_organisation_too(engine):
    _decide(engine, payment(event_id="a-pay", merchant_id="M1", ts="2026-02-02T10:00:00Z"), "bank-a")
    _decide(engine, payment(event_id="b-pay", merchant_id="M1", ts="2026-02-02T10:01:00Z"), "bank-b")
    engine.commit()
    assert [r.event_id for r in engine.record.history("bank-a", SHARED, merchant="M1")] == ["a-pay"]
    assert [r.event_id for r in engine.record.history("bank-b", SHARED, merchant="M1")] == ["b-pay"]


def test_the_same_client_id_sent_by_two_organisations(engine):
    """Through the ordinary path: each organisation's C1 is its own token, and each history its own."""
    engine.decide(transfer(event_id="a-x", customer_id="C1"), "bank-a")
    engine.decide(transfer(event_id="b-x", customer_id="C1"), "bank-b")
    engine.commit()
    tok_a = engine.tokenizers.of("bank-a").token("C1")
    tok_b = engine.tokenizers.of("bank-b").token("C1")
    assert tok_a != tok_b
    assert [r.event_id for r in engine.record.history("bank-a", tok_a)] == ["a-x"]
    assert engine.record.history("bank-b", tok_a) == []
    assert [r.event_id for r in engine.record.history("bank-b", tok_b)] == ["b-x"]
