"""Six rules that had no test, each at its boundary: it fires there and not just below it.

Windows count the events before the one decided (a rule reads what it already knows), so
"20 cards in 10 minutes" means 20 others before this payment; amounts compare with `>`, so the
limit itself is "not above" and a kopeck more is.
"""

import pytest
from helpers import Client, at, codes

# --- cnp.bin_attack: 20+ distinct cards at one e-commerce merchant within 10 minutes ------------


@pytest.mark.parametrize("cards_before, hit", [(19, False), (20, True)])
def test_cnp_bin_attack_from_the_twentieth_card(cards_before, hit):
    c = Client()
    for i in range(cards_before):
        c.payment(at(minutes=-9, seconds=i), channel="ecom", amount="500", merchant_id="M-shop",
                  card_id=f"22000000{i:08d}")
    d = c.payment(channel="ecom", amount="500", merchant_id="M-shop", card_id="4111111111111111")
    assert ("cnp.bin_attack" in codes(d)) is hit
    if hit:
        assert d.action == "decline"


def test_cnp_bin_attack_counts_card_present_payments_and_other_merchants_out():
    c = Client()
    for i in range(20):
        c.payment(at(minutes=-5, seconds=i), channel="pos" if i % 2 else "ecom", amount="500",
                  merchant_id="M-shop" if i < 19 else "M-other", card_id=f"22000000{i:08d}")
    assert "cnp.bin_attack" not in codes(c.payment(channel="ecom", amount="500", merchant_id="M-shop"))


# --- cnp.new_device_large: > 30,000 RUB, e-commerce, no 3-D Secure, a device seen < 1 h ------------


@pytest.mark.parametrize("amount, device_minutes, auth, hit", [
    ("30000.01", 59, "none", True),
    ("30000", 59, "none", False),        # the parameter itself is not above it
    ("30000.01", 61, "none", False),     # the device is older than an hour
    ("30000.01", 59, "3ds", False),      # 3-D Secure moves the liability
])
def test_cnp_new_device_large(amount, device_minutes, auth, hit):
    c = Client()
    c.send("login", at(minutes=-device_minutes), device_id="d-new", success=True)
    d = c.payment(channel="ecom", amount=amount, auth_method=auth, device_id="d-new")
    assert ("cnp.new_device_large" in codes(d)) is hit
    if hit:
        assert d.action == "review"


# --- ato.biometric_large: a biometric payment above 100,000 RUB needs a second factor ------------------


@pytest.mark.parametrize("amount, hit", [("100000", False), ("100000.01", True)])
def test_ato_biometric_large(amount, hit):
    d = Client().payment(channel="biometric", auth_method="biometric", liveness_score=0.99, amount=amount)
    assert ("ato.biometric_large" in codes(d)) is hit
    if hit:
        assert d.action == "challenge"


# --- kz.new_device_biometrics: a transfer above 20,000 from a device of less than a day ------------------


@pytest.mark.parametrize("amount, device_age, hit", [
    ("20000.01", dict(hours=-23, minutes=-59), True),
    ("20000", dict(hours=-23, minutes=-59), False),
    ("20000.01", dict(hours=-24), False),  # a day old: no longer new
])
def test_kz_new_device_biometrics(amount, device_age, hit):
    c = Client(jurisdiction="KZ")
    c.send("login", at(**device_age), device_id="d-new", success=True)
    d = c.transfer(amount=amount, device_id="d-new", currency="RUB")
    assert ("kz.new_device_biometrics" in codes(d)) is hit


def test_kz_new_device_biometrics_not_for_a_self_transfer():
    c = Client(jurisdiction="KZ")
    c.send("login", at(hours=-1), device_id="d-new", success=True)
    assert "kz.new_device_biometrics" not in codes(c.transfer(amount="50000", device_id="d-new", self_transfer=True))


# --- mules.dormant_wakeup: 3+ payers in 24 h into an account with at most 1 payment out in 180 days -----


def _payers(c: Client, n: int) -> None:
    for i in range(n):
        c.transfer(at(hours=-5 + i), direction="in", rail="interbank", counterparty_id=f"P{i}", from_account=f"A{i}",
                   to_account="40817810000000000001", amount="30000")


@pytest.mark.parametrize("payers, outs_before, hit", [(3, 1, True), (2, 1, False), (3, 2, False), (3, 0, True)])
def test_mules_dormant_wakeup(payers, outs_before, hit):
    c = Client()
    for i in range(outs_before):
        c.transfer(at(days=-100 - i), amount="1000", counterparty_id="C-old", to_account="40817810000000000888")
    _payers(c, payers)
    d = c.transfer(rail="interbank", amount="85000")
    assert ("mules.dormant_wakeup" in codes(d)) is hit
    if hit:
        assert d.action == "review"


def test_mules_dormant_wakeup_on_cash_out():
    c = Client()
    _payers(c, 3)
    assert "mules.dormant_wakeup" in codes(c.atm(amount="40000"))


# --- od1765.drop_limit: a FinCERT-listed client takes at most 100,000 RUB a month from ATMs ---------------


@pytest.mark.parametrize("amount, hit", [("40000", False), ("40000.01", True)])
def test_od1765_drop_limit(amount, hit):
    c = Client()
    c.intel("cbr_fincert", "customer", "C1")
    c.atm(at(days=-20), amount="30000")
    c.atm(at(days=-3), amount="30000")  # 60,000 already this month (and none today)
    d = c.atm(amount=amount)
    assert ("od1765.drop_limit" in codes(d)) is hit
    if hit:
        assert d.action == "decline"


def test_od1765_drop_limit_only_for_a_listed_client_and_within_30_days():
    unlisted = Client()
    unlisted.atm(at(days=-3), amount="60000")
    assert "od1765.drop_limit" not in codes(unlisted.atm(amount="50000"))
    listed = Client()
    listed.intel("cbr_fincert", "customer", "C1")
    listed.atm(at(days=-31), amount="60000")  # older than the month
    assert "od1765.drop_limit" not in codes(listed.atm(amount="50000"))
