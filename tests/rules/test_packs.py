"""ОД-1765, the Kazakh rules and qalqan's own packs, at their boundaries."""

import pytest
from helpers import Client, at, codes, notes


def test_od1765_sign_notifies_and_limits_cash_to_50000_a_day_for_48_hours():
    c = Client()
    c.send("comms_signal", at(hours=-1), channel="call", sender_known=False, sender_kind="bank")
    first = c.atm(amount="30000")
    assert first.action == "approve" and "od1765.sign" in notes(first)  # notified, paid out
    over = c.atm(at(minutes=5), amount="25000")  # 30,000 + 25,000 > 50,000 within the day
    assert over.action == "decline" and "od1765.limit" in codes(over)
    within = c.atm(at(minutes=6), amount="20000")  # 30,000 + 20,000 = 50,000: not above the limit
    assert "od1765.limit" not in codes(within)
    day3 = c.atm(at(hours=49), amount="60000")  # the 48 h restriction is over
    assert "od1765.limit" not in codes(day3)


def test_od1765_a_big_withdrawal_with_a_sign_is_refused_at_once():
    c = Client()
    c.inflow_self_sbp("250000", at(hours=-2))
    d = c.atm(amount="70000")
    assert {"od1765.limit"} <= codes(d) and "od1765.sign" in notes(d)


def test_od1765_five_refused_withdrawals_in_a_day_are_a_sign():
    c = Client()
    for i in range(5):
        c.atm(at(minutes=i), apdu_response_ms=900, contactless=True, amount="60000")  # refused (1.3)
    d = c.atm(at(minutes=10), amount="1000")
    assert "od1765.sign" in notes(d)


def test_kz_active_call_hold_and_remote_access():
    c = Client(jurisdiction="KZ")
    c.send("device_signal", at(minutes=-30), kind="active_call")
    assert "kz.active_call" in codes(c.transfer())
    c2 = Client(jurisdiction="KZ")
    c2.send("device_signal", at(minutes=-31), kind="active_call")
    assert "kz.active_call" not in codes(c2.transfer())
    c3 = Client(jurisdiction="KZ")
    c3.send("device_signal", at(hours=-1), kind="remote_access")
    assert c3.transfer().action == "decline"


def test_kz_antifraud_center_list_declines():
    c = Client(jurisdiction="KZ")
    c.intel("kz_antifraud_center", "account", "KZ123")
    d = c.transfer(to_account="KZ123", currency="KZT", amount="50000")
    assert d.action == "decline" and "kz.antifraud_center" in codes(d)


def test_cnp_card_testing_from_the_fourth_tiny_payment():
    c = Client()
    decisions = [c.payment(at(seconds=10 * i), channel="ecom", amount="10", merchant_id=f"M{i}") for i in range(5)]
    assert ["cnp.card_testing" in codes(d) for d in decisions] == [False, False, False, True, True]


def test_cnp_step_up_without_3ds_above_the_profile():
    c = Client()
    for i in range(5):
        c.payment(at(days=-i - 1), channel="ecom", amount="2000", auth_method="3ds")
    big = c.payment(channel="ecom", amount="40000", auth_method="none")
    assert big.action == "challenge" and "cnp.step_up" in codes(big)
    assert "cnp.step_up" not in codes(c.payment(at(seconds=1), channel="ecom", amount="40000", auth_method="3ds"))


@pytest.mark.parametrize("liveness, hit", [(0.49, True), (0.5, False)])
def test_ato_low_liveness(liveness, hit):
    d = Client().payment(channel="biometric", auth_method="biometric", liveness_score=liveness)
    assert ("ato.low_liveness" in codes(d)) is hit


def test_ato_courier_chain():
    c = Client()
    c.send("comms_signal", at(hours=-2), channel="call", sender_known=False, sender_kind="courier")
    c.send("login", at(minutes=-5), device_id="d-crook", success=True)
    d = c.transfer(rail="sbp", device_id="d-crook")
    assert "ato.courier_chain" in codes(d)


def test_marketplace_seller_in_three_cities_then_prepayment():
    seller = Client(customer="S1")
    for i, city in enumerate(("Almaty", "Astana", "Shymkent")):
        seller.send("listing", at(hours=-10 + i), listing_id=f"L{i}", title="Toyota Camry 2019", city=city)
    buyer_engine = seller.engine  # one bank: the buyer is another client of it
    buyer = Client()
    buyer.engine = buyer_engine
    d = buyer.transfer(rail="internal", counterparty_id="S1", to_account="KZ-S1")
    assert "marketplace.fake_listings" in codes(d) and d.action == "hold"


def test_marketplace_phishing_link_then_payment():
    c = Client()
    c.send("message", at(minutes=-20), to_customer_id="C1", text="Ваш заказ: https://kaspi-dostavka.top/pay")
    assert "marketplace.phishing_link" in codes(c.payment(channel="ecom", amount="20000"))
    c2 = Client()
    c2.send("message", at(minutes=-20), to_customer_id="C1", text="Ваш заказ: https://kaspi.kz/shop/order")
    assert "marketplace.phishing_link" not in codes(c2.payment(channel="ecom", amount="20000"))


@pytest.mark.parametrize("payers, hit", [(2, False), (3, True)])
def test_mules_fanin_then_crypto(payers, hit):
    c = Client()
    for i in range(payers):
        c.transfer(at(hours=-5 + i), direction="in", rail="sbp", counterparty_id=f"P{i}", from_account=f"A{i}",
                   to_account="40817810000000000001", amount="30000")
    d = c.transfer(rail="crypto", to_account="TXwallet", counterparty_id=None, amount="85000")
    assert ("mules.fanin_outflow" in codes(d)) is hit
