"""Every identifier field of every event type is tokenised (not merely redacted, not left as sent).

The leak test (test_privacy_leaks.py) proves that no raw personal data reaches the record; it
cannot tell a token from a redaction: with an ATM's ``card_id`` dropped from the tokenised fields,
the card number is redacted to ``[redacted]`` like any other string, nothing leaks, and every
card of every ATM withdrawal becomes the same key (ОД-1765's per-card limits, lists of cards).
This test names the identifier fields independently of privacy.py: a field of any type whose name
is one of ``IDENTIFIERS`` must come out of the engine as exactly the organisation's token of the
value sent, for every type the schema has (a type added later with such a field is covered too).
"""

from __future__ import annotations

from typing import Any

import msgspec
import msgspec.inspect as mi
import pytest

from conftest import ev, transfer
from qalqan.config import from_env
from qalqan.engine import Engine
from qalqan.events import EVENT_TYPES

# Fields that identify a person, their card, account, phone or device (docs/events.md: PII, tokenised).
IDENTIFIERS = frozenset({"customer_id", "card_id", "from_account", "to_account", "counterparty_id",
                         "device_id", "ip", "phone", "to_customer_id"})
# Values a valid event needs that are not identifiers (enums, numbers).
_REQUIRED: dict[str, Any] = {
    "amount": "1500.00", "currency": "RUB", "channel": "ecom", "direction": "out", "rail": "interbank",
    "operation": "withdrawal", "success": True, "field": "phone", "kind": "remote_access", "sender_known": False,
    "label": "fraud", "list": "internal", "entity": "account", "op": "add", "response": "confirm",
    "comms_signal.channel": "sms", "merchant_id": "M1", "atm_id": "ATM1", "listing_id": "L1", "text": "hello",
    "target_event_id": "held-1", "value": "40817810000000000321",
}
# The raw values: a card number where the field holds cards (redaction would catch it, so only a
# token passes), a plain identifier elsewhere (redaction leaves it, so only a token passes).
_RAW = {"card_id": "2200000000000004", "from_account": "40817810000000000001",
        "to_account": "40817810000000000002", "phone": "+7 701 555 12 34", "ip": "10.1.2.3"}


def _fields(etype: str) -> list[mi.Field]:
    info = mi.type_info(EVENT_TYPES[etype])
    assert isinstance(info, mi.StructType)
    return list(info.fields)


def _event(etype: str) -> tuple[bytes, dict[str, str]]:
    body: dict[str, Any] = {"type": etype, "event_id": f"tok-{etype}", "ts": "2026-02-02T10:00:00Z"}
    sent: dict[str, str] = {}
    for f in _fields(etype):
        if f.name in ("event_id", "ts", "extra"):
            continue
        if f.name in IDENTIFIERS:
            body[f.name] = sent[f.name] = _RAW.get(f.name, f"{etype}-{f.name}-7")
        elif f.required:
            body[f.name] = _REQUIRED.get(f"{etype}.{f.name}", _REQUIRED.get(f.name))
    if etype == "intel":
        body["customer_id"] = "regulator"  # names the list's source, not a client: kept as sent
        sent.pop("customer_id")
        sent["value"] = body["value"]  # the listed value is tokenised, to meet the tokenised events
    return msgspec.json.encode(body), sent


def test_the_identifier_fields_are_found_in_the_schema():
    found = {(t, f.name) for t in EVENT_TYPES for f in _fields(t) if f.name in IDENTIFIERS}
    assert ("atm", "card_id") in found and ("payment", "card_id") in found and ("listing", "phone") in found
    assert {t for t, _ in found} == set(EVENT_TYPES)  # every type has at least its customer_id
    assert len(found) >= 25


@pytest.mark.parametrize("org", ["default", "bank-a"])
@pytest.mark.parametrize("etype", sorted(EVENT_TYPES))
def test_every_identifier_field_is_stored_as_the_organisations_token(etype: str, org: str):
    e = Engine(from_env(db_url="sqlite:///:memory:"))
    try:
        if etype == "hold_response":  # the engine takes an answer only for a transfer it holds
            e.decide(ev("intel", customer_id="regulator", list="cbr_fincert", entity="account",
                        value="40817810000000000444", op="add", ts="2026-02-02T09:00:00Z"), org)
            held = e.decide(transfer(event_id="held-1", customer_id=f"{etype}-customer_id-7",
                                     to_account="40817810000000000444", ts="2026-02-02T09:30:00Z"), org)
            assert held.decision.action == "hold"
        raw, sent = _event(etype)
        e.decide(raw, org)
        e.commit()
        body = msgspec.json.decode(e.record.event_body(f"tok-{etype}", org))
        tok = e.tokenizers.of(org)
        assert sent, etype
        wrong = {name: body.get(name) for name, value in sent.items() if body.get(name) != tok.token(value)}
        assert not wrong, f"{etype}: not tokenised: {wrong}"
    finally:
        e.record.close()


def test_two_atm_cards_are_two_keys():
    """The consequence that matters: two cards' withdrawals are two cards in the record."""
    e = Engine(from_env(db_url="sqlite:///:memory:"))
    try:
        for i, card in enumerate(("2200000000000004", "4111111111111111")):
            e.decide(ev("atm", event_id=f"atm-{i}", operation="withdrawal", amount="100", currency="RUB",
                        card_id=card, atm_id="ATM1"))
        e.commit()
        cards = {msgspec.json.decode(e.record.event_body(f"atm-{i}"))["card_id"] for i in range(2)}
        assert cards == {e.tokenizer.token("2200000000000004"), e.tokenizer.token("4111111111111111")}
    finally:
        e.record.close()
