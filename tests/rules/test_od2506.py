"""ОД-2506, sign by sign, at the boundaries the regulation's counting sets (docs/regulation.md)."""

import pytest
from helpers import Client, at, codes


def test_1_1_recipient_in_fincert_refuses_sbp_and_suspends_other_transfers():
    c = Client()
    c.intel("cbr_fincert", "account", "40817810000000000666")
    c.intel("cbr_fincert", "phone", "+7 916 000-00-01")
    sbp = c.transfer(rail="sbp", to_account="40817810000000000666")
    assert "od2506.1.1" in codes(sbp) and sbp.action == "decline"
    other = c.transfer(rail="interbank", to_account="40817810000000000666")
    assert other.action == "hold" and other.hold is not None
    by_phone = c.transfer(rail="sbp", to_account="40817810000000000999", counterparty_id="79160000001")
    assert "od2506.1.1" in codes(by_phone)
    assert "od2506.1.1" not in codes(c.transfer(to_account="40817810000000000998", counterparty_id="C998"))


def test_1_2_gis_antifraud_applies_from_march_2026():
    c = Client()
    c.intel("gis_antifraud", "account", "40817810000000000444", ts="2026-01-01T00:00:00Z")
    before = c.transfer("2026-02-28T23:59:59Z", to_account="40817810000000000444")
    after = c.transfer("2026-03-01T00:00:00Z", to_account="40817810000000000444")
    assert "od2506.1.2" not in codes(before)
    assert "od2506.1.2" in codes(after)


@pytest.mark.parametrize("ms, hit", [(500, False), (500.1, True), (1200, True)])
def test_1_3_atm_exchange_time_over_the_norm(ms, hit):
    assert ("od2506.1.3" in codes(Client().atm(apdu_response_ms=ms, contactless=True))) is hit


def test_1_3_norm_is_a_parameter():
    c = Client(params={"od2506": {"apdu_norm_ms": 600}})
    assert "od2506.1.3" not in codes(c.atm(apdu_response_ms=550))


@pytest.mark.parametrize("level, medium_counts, hit", [
    ("high", False, True), ("medium", False, False), ("medium", True, True), ("low", True, False)])
def test_1_4_infrastructure_risk_level(level, medium_counts, hit):
    c = Client(params={"od2506": {"infra_medium_is_sign": medium_counts}})
    d = c.transfer(rail="sbp", infra_risk={"level": level, "factors": []})
    assert ("od2506.1.4" in codes(d)) is hit


def test_1_5_device_in_fincert():
    c = Client()
    c.intel("cbr_fincert", "device", "dev-bad")
    assert "od2506.1.5" in codes(c.transfer(device_id="dev-bad"))
    assert "od2506.1.5" not in codes(c.transfer(device_id="dev-good"))


def _history(c: Client) -> None:
    for day in range(1, 11):
        c.transfer(at(days=-day - 10), amount="5000", device_id="d-own", counterparty_id="C-mum", to_account="M")


def test_1_6_three_atypical_dimensions_make_a_sign_two_do_not():
    c = Client()
    _history(c)
    c.send("login", at(minutes=-10), device_id="d-new", success=True)
    two = c.transfer(amount="50000", device_id="d-own", counterparty_id="C-x1", to_account="X1")  # amount + recipient
    assert "od2506.1.6" not in codes(two)
    three = c.transfer(at(seconds=1), amount="50000", device_id="d-new", counterparty_id="C-x2", to_account="X2")
    assert "od2506.1.6" in codes(three)


@pytest.mark.parametrize("lst, code", [("internal", "od2506.1.7"), ("criminal_case", "od2506.1.8")])
def test_1_7_and_1_8_bank_and_criminal_case_lists(lst, code):
    c = Client()
    c.intel(lst, "account", "40817810000000000321")
    assert code in codes(c.transfer(to_account="40817810000000000321"))


@pytest.mark.parametrize("before, known, hit", [
    ({"hours": -6}, False, True),          # 6 h before is within the 6 h look-back
    ({"hours": -6, "seconds": -1}, False, False),
    ({"minutes": -30}, True, False),       # a known sender is not atypical
])
def test_1_9_unknown_callers_in_the_6_hours_before(before, known, hit):
    c = Client()
    c.send("comms_signal", at(**before), channel="call", sender_known=known, sender_kind="bank")
    assert ("od2506.1.9" in codes(c.transfer())) is hit


@pytest.mark.parametrize("before, hit", [({"hours": -48}, True), ({"hours": -48, "seconds": -1}, False)])
def test_1_10_phone_changed_within_48_hours(before, hit):
    c = Client()
    c.send("profile_change", at(**before), field="phone", source="gosuslugi")
    assert ("od2506.1.10" in codes(c.transfer())) is hit


def test_1_10_press_reading_needs_the_change_together_with_malware():
    alone, both = Client(params={"od2506": {"reading_1_10": "press"}}), Client(
        params={"od2506": {"reading_1_10": "press"}})
    for c in (alone, both):
        c.send("profile_change", at(hours=-3), field="phone", source="online_banking")
    both.send("device_signal", at(hours=-1), kind="malware")
    assert "od2506.1.10" not in codes(alone.transfer())
    assert "od2506.1.10" in codes(both.transfer())
    order = Client()
    order.send("device_signal", at(hours=-1), kind="malware")
    assert "od2506.1.10" in codes(order.transfer())  # the order's text: malware alone is a sign


@pytest.mark.parametrize("amount, before, tokenized, hit", [
    ("100000.00", {"hours": -2}, True, False),     # not more than 100,000
    ("100000.01", {"hours": -2}, True, True),
    ("150000", {"hours": -24}, True, True),        # exactly 24 h after is within 24 h
    ("150000", {"hours": -24, "seconds": -1}, True, False),
    ("150000", {"hours": -2}, False, False),       # the plastic card, not a token
])
def test_1_11_tokenised_cash_in_after_cross_border(amount, before, tokenized, hit):
    c = Client()
    c.transfer(at(**before), rail="cross_border", amount=amount, counterparty_type="individual")
    d = c.atm(operation="deposit", tokenized=tokenized, amount="90000")
    assert ("od2506.1.11" in codes(d)) is hit


@pytest.mark.parametrize("amount, before, hit", [
    ("200000.00", {"hours": -3}, False),               # exactly 200,000 is not more than 200,000
    ("200000.01", {"hours": -3}, True),
    ("300000", {"hours": -24}, False),                 # "less than 24 hours": exactly 24 h is out
    ("300000", {"hours": -24, "seconds": 1}, True),
])
def test_1_12_sbp_pull_then_first_transfer_to_a_stranger(amount, before, hit):
    c = Client()
    c.inflow_self_sbp(amount, at(**before))
    d = c.transfer(rail="sbp")
    assert ("od2506.1.12" in codes(d)) is hit
    if hit:
        assert d.action == "decline"


@pytest.mark.parametrize("paid_before, hit", [({"days": -180}, False), ({"days": -180, "seconds": -1}, True)])
def test_1_12_recipient_paid_within_180_days_is_no_stranger(paid_before, hit):
    c = Client()
    c.transfer(at(**paid_before), counterparty_id="C-friend", to_account="F1", amount="1000")
    c.inflow_self_sbp("250000", at(hours=-1))
    d = c.transfer(counterparty_id="C-friend", to_account="F1", rail="interbank")
    assert ("od2506.1.12" in codes(d)) is hit


def test_1_12_never_checks_the_self_transfer_itself_nor_a_business():
    c = Client()
    c.inflow_self_sbp("250000", at(hours=-1))
    assert "od2506.1.12" not in codes(c.transfer(self_transfer=True))
    assert "od2506.1.12" not in codes(c.transfer(counterparty_type="business"))
