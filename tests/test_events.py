import json

import pytest
from typer.testing import CliRunner

from conftest import ev, payment, transfer
from qalqan.cli import app
from qalqan.events import EVENT_TYPES, EventError, decode_event

ALL_TYPES = {
    "payment": payment(),
    "transfer": transfer(),
    "atm": ev("atm", operation="withdrawal", amount=5000, currency="KZT", card_id="4111111111111111", atm_id="A1"),
    "login": ev("login", device_id="d1", success=True),
    "profile_change": ev("profile_change", field="phone", source="egov"),
    "device_signal": ev("device_signal", kind="remote_access"),
    "comms_signal": ev("comms_signal", channel="call", sender_known=False, sender_kind="courier"),
    "listing": ev("listing", listing_id="L1", city="Almaty", price="15000000", currency="KZT"),
    "message": ev("message", to_customer_id="C2", text="your parcel: https://kaspi-dostavka.top/pay"),
    "label": ev("label", target_event_id="x", label="fraud"),
    "intel": ev("intel", customer_id="regulator", list="cbr_fincert", entity="account", value="4081", op="add"),
    "hold_response": ev("hold_response", target_event_id="e1", response="confirm"),  # qalqan's extension
}


def test_every_contract_type_decodes():
    assert set(ALL_TYPES) == set(EVENT_TYPES)
    for name, raw in ALL_TYPES.items():
        assert decode_event(raw).__struct_config__.tag == name


@pytest.mark.parametrize(
    "raw, field, words",
    [
        (transfer(amount="lots"), "amount", "decimal"),
        (transfer(amount=-5), "amount", "positive"),
        (transfer(amount=0), "amount", "positive"),
        (transfer(rail="pigeon"), "rail", "pigeon"),
        (payment(ts="2026-02-02 10:00"), "ts", "datetime"),
        (payment(ts="2026-02-02T10:00:00"), "ts", "timezone"),
        (payment(currency="rubles"), "currency", "regex"),
        (payment(infra_risk={"level": "extreme"}), "infra_risk.level", "extreme"),
        (payment(liveness_score=1.5), "liveness_score", "<= 1"),
        (ev("comms_signal", channel="call", sender_known="yes"), "sender_known", "bool"),
        (b'{"type": "nope", "event_id": "1"}', "type", "unknown event type"),
        (b'{"event_id": "1"}', "type", "missing"),
        (b"not json", "$", "JSON"),
    ],
)
def test_bad_input_names_the_field(raw, field, words):
    with pytest.raises(EventError) as info:
        decode_event(raw)
    assert info.value.field == field
    assert words.lower() in info.value.problem.lower()


def test_missing_required_field_is_named():
    raw = json.loads(transfer())
    del raw["to_account"]
    with pytest.raises(EventError) as info:
        decode_event(json.dumps(raw))
    assert info.value.field == "to_account"
    assert info.value.problem == "required field is missing"


def test_unknown_fields_are_kept_and_amounts_exact():
    e = decode_event(transfer(amount=0.1, bank_note="kept", nested={"a": 1}))
    assert e.extra == {"bank_note": "kept", "nested": {"a": 1}}
    assert str(e.amount) == "0.1"  # never a float on the way in


def test_schema_command_prints_the_contract():
    result = CliRunner().invoke(app, ["schema"])
    assert result.exit_code == 0, result.output
    schema = json.loads(result.output)
    names = set(schema["$defs"])
    for cls in ("Payment", "Transfer", "Atm", "Login", "Intel", "Decision"):
        assert cls in names
    assert "amount" in schema["$defs"]["Transfer"]["required"]
