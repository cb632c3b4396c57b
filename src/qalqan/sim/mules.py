"""Fraud run through accounts at our bank: drops (money mules) and fake marketplace sellers,
docs/design.md items 3 and 6.

The actors here are customers the plan set aside (``Customer.role``): a mule's account sleeps from
the start of the run until the scenario wakes it; a fake seller lives an ordinary life besides.
"""

from __future__ import annotations

from . import ids, make
from .population import CITIES, OS, Customer, stranger
from .world import HOUR, World

MINUTE = 60
PASS_THROUGH = ["UZ", "KG", "TJ", "GE", "AM"]
FAKE_ADS = [
    ("Toyota Camry 2019, 2.5 AT, один владелец", "auto", 2_300_000),
    ("Hyundai Solaris 2020, 1.6 AT", "auto", 1_250_000),
    ("Kia Rio 2021, пробег 30 тыс.", "auto", 1_400_000),
    ("Сдам 2-комн. квартиру посуточно, центр", "realty_rent", 60_000),
    ("Сдам 1-комн. квартиру, без посредников", "realty_rent", 35_000),
]
FOREIGN_PHONES = ["KG", "UZ", "TJ", "AM", "GE", "TR"]


def _cash_out(w: World, mule: Customer, ts: int, rub: float, device: str, ip: str) -> int:
    """One pass-through of ``rub`` out of the mule's account; returns the time it ends."""
    rnd = w.rnd
    r = rnd()
    if r < 0.5:
        country = w.pick(PASS_THROUGH)
        acc, bank = ids.foreign_account(w.rng, country)
        ev = make.transfer(ts, mule.cid, "out", "cross_border", w.money(mule, round(rub, -2)), mule.cur,
                           mule.account, acc, ids.phone(w.rng, country), "individual", bank, False, device, ip,
                           mule.country)
    elif r < 0.88:
        ev = make.transfer(ts, mule.cid, "out", "crypto", w.money(mule, round(rub, -2)), mule.cur, mule.account,
                           ids.tron_wallet(w.rng), None, "individual", None, False, device, ip, mule.country)
    else:
        ev = make.atm(ts, mule.cid, "withdrawal", w.money(mule, min(round(rub, -3), 200_000)), mule.cur,
                      mule.cards[0], w.pick(w.pop.atms[mule.country]), int(w.uniform(180, 330)), mule.country,
                      tokenized=rnd() < 0.5, contactless=True)
    w.fraud(ev, "mule_dormant_fanin", int(w.uniform(1, 7) * 24 * HOUR))
    return ts


def mule_dormant_fanin(w: World, mule: Customer, t: int) -> None:
    """A sleeping account wakes up: 5-15 transfers in from distinct payers within a day or two,
    passed on within minutes or hours abroad, to crypto or to cash."""
    rnd = w.rnd
    if rnd() < 0.7:  # the renter's phone
        device, ip, _ = w.crook(mule.country, foreign=0.1)
        w.add(make.login(t, mule.cid, device, ip, w.pick(ids.ISPS[mule.country]), w.pick(OS)[0], mule.app,
                         "sms_otp", True))
        if rnd() < 0.5:
            w.add(make.profile_change(t + int(w.uniform(1, 10) * MINUTE), mule.cid, "device", "online_banking"))
    else:
        device, ip = mule.device, mule.mobile_ip
    span = w.uniform(6, 40) * HOUR
    times = sorted(t + 15 * MINUTE + int(w.rnd() * span) for _ in range(5 + int(rnd() * 11)))
    split = rnd() < 0.4  # keeps each outflow under 100,000 RUB
    pot, last_out = 0.0, t
    for i, ts in enumerate(times):
        p = stranger(w.rng, mule.country)
        rub = round(w.uniform(5_000, 150_000), -2)
        rail = "sbp" if rnd() < 0.7 else "card2card"
        src = p.account if rail == "sbp" else ids.card_of(p.account, mule.country)
        w.add(make.transfer(ts, mule.cid, "in", rail, w.money(mule, rub), mule.cur, src, mule.account,
                            p.counterparty_id, "individual", p.bank))
        pot += rub
        if pot > 120_000 or i == len(times) - 1:
            out_ts = max(ts, last_out) + int(w.uniform(3, 90) * MINUTE)
            total = pot * w.uniform(0.85, 0.98)
            pieces = max(1, int(total // 95_000) + 1) if split else 1
            for _ in range(pieces):
                last_out = _cash_out(w, mule, out_ts, total / pieces, device, ip)
                out_ts += int(w.uniform(1, 15) * MINUTE)
            pot = 0.0


def mule_atm_cash_in(w: World, owner: Customer, t: int) -> None:
    """ОД-2506 1.11: the owner sends more than 100,000 RUB cross-border to a person, and within 24 h
    cash is paid into the owner's account at an ATM with a tokenised card."""
    rnd = w.rnd
    ts = t
    for _ in range(1 + int(rnd() * 3)):  # the money arrives first
        p = stranger(w.rng, owner.country)
        w.add(make.transfer(ts, owner.cid, "in", "sbp", w.money(owner, round(w.uniform(40_000, 160_000), -2)),
                            owner.cur, p.account, owner.account, p.counterparty_id, "individual", p.bank))
        ts += int(w.uniform(10, 90) * MINUTE)
    country = w.pick(PASS_THROUGH)
    acc, bank = ids.foreign_account(w.rng, country)
    rub = w.uniform(110_000, 400_000) if rnd() < 0.9 else w.uniform(80_000, 100_000)
    ts += int(w.uniform(0.5, 5) * HOUR)
    w.add(make.transfer(ts, owner.cid, "out", "cross_border", w.money(owner, round(rub, -2)), owner.cur,
                        owner.account, acc, ids.phone(w.rng, country), "individual", bank, False, owner.device,
                        owner.mobile_ip, owner.country))
    lag = w.uniform(0.5, 23.5) if rnd() < 0.9 else w.uniform(24.5, 40)  # a tenth falls outside 1.11's 24 h
    dep = make.atm(ts + int(lag * HOUR), owner.cid, "deposit", w.money(owner, round(w.uniform(50_000, 300_000), -3)),
                   owner.cur, owner.cards[0], w.pick(w.pop.atms[owner.country]), int(w.uniform(170, 340)),
                   owner.country, tokenized=True, contactless=True)
    w.fraud(dep, "mule_atm_cash_in")


def marketplace_fake_listing(w: World, seller: Customer, t: int, victims: list[Customer]) -> None:
    """One car or flat "for sale" in 3+ cities from one device and address, authorised by a foreign
    number; buyers who bank with us send prepayments to the seller's account here."""
    rnd = w.rnd
    title, category, rub_price = w.pick(FAKE_ADS)
    price_rub = rub_price * w.uniform(0.65, 0.85)  # below the market, to hurry the buyer
    device, ip, _ = w.crook(seller.country, foreign=0.3)
    pc = w.pick(FOREIGN_PHONES)
    phone = ids.phone(w.rng, pc)
    cities = list(CITIES[seller.country])
    n = 3 + int(rnd() * 4) if rnd() < 0.9 else 2
    posted = []
    for _ in range(min(n, len(cities))):
        city = cities.pop(int(rnd() * len(cities)))
        ts = t + int(rnd() * 36 * HOUR)
        w.add(make.listing(ts, seller.cid, w.next_listing_id(), title, title + ". Срочно, торг при осмотре.",
                           w.money(seller, round(price_rub, -3)), seller.cur, category, city, phone, pc, ip,
                           device))
        posted.append(ts)
    first = min(posted)
    latest = max(first + 2 * HOUR, w.end - 7 * HOUR)
    for v in victims:
        ts = min(first + int(w.uniform(1, 72) * HOUR), latest)
        w.add(make.message(ts, v.cid, seller.cid, "Здравствуйте! Объявление актуально? Готов внести предоплату."))
        ts += int(w.uniform(10, 360) * MINUTE)
        # a deposit "to hold the car" (capped), or the whole first month of a flat
        rub = round(min(price_rub * w.uniform(0.03, 0.12), 250_000), -2) if category == "auto" else round(price_rub, -2)
        rail = "internal" if rnd() < 0.7 else "sbp"
        w.fraud(make.transfer(ts, v.cid, "out", rail, w.money(v, rub), v.cur, v.account, seller.account,
                              seller.cid, "individual", "Qalqan Bank", False, v.device, v.mobile_ip, v.country),
                "marketplace_fake_listing")
        w.add(make.transfer(ts, seller.cid, "in", rail, w.money(seller, rub), seller.cur, v.account,
                            seller.account, v.cid, "individual", "Qalqan Bank"))
