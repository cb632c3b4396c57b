"""Fraud with a client's card or its data: docs/design.md items 4, 5, 7 and the phishing half of 6.

Same shape as ``scams.py``: each function plays one instance from ``t`` on and labels the
fraudulent money movements through ``World.fraud`` (card payments: mostly chargebacks weeks later).
"""

from __future__ import annotations

from . import ids, make
from .population import Customer, Merchant
from .timeline import DAY
from .world import HOUR, World

MINUTE = 60
TEST_MCCS = ["5999", "5815", "4816", "5735", "7994", "5818"]
CASHOUT_MCCS = ["5732", "4511", "5944", "5311", "5045"]
PHISH_MCCS = ["4829", "5999", "6051", "7399"]
PHISH_LINKS = {
    "RU": ["https://0zon-delivery.ru/confirm/{k}", "https://avito-pay.site/deal/{k}",
           "https://wb-dostavka.shop/order/{k}", "https://cdek-express.top/pay/{k}",
           "https://pochta-rf.delivery/track/{k}"],
    "KZ": ["https://kaspi-dostavka.top/p/{k}", "https://olx-safe-deal.online/kz/{k}",
           "https://k0lesa-pay.com/deal/{k}", "https://kaspi-oplata.site/order/{k}"],
}
PHISH_TEXTS = {
    "RU": ["Ваш заказ №{n} оплачен. Для получения доставки подтвердите данные карты: {link}",
           "Покупатель оплатил товар через безопасную сделку. Получите деньги: {link}"],
    "KZ": ["Сіздің тапсырысыңыз №{n} жолда. Жеткізуді растаңыз: {link}",
           "Ваш заказ №{n} ожидает доставки. Подтвердите оплату: {link}"],
}
FOREIGN_ATM = ["TR", "AE", "GE", "AM", "UZ"]


def _new_merchant(w: World, country: str, mccs: list[str]) -> Merchant:
    return Merchant("M" + ids.digits(w.rng, 9), w.pick(mccs), country, 0.0, 1.0)


def card_testing(w: World, c: Customer, t: int) -> None:
    """A stolen card is tested with 5-20 tiny e-commerce payments at many merchants within minutes,
    then spent in a few large ones."""
    rnd = w.rnd
    card = c.cards[-1]
    device, ip, country = w.crook(c.country, foreign=0.6)
    ts = t
    for _ in range(5 + int(rnd() * 16)):
        m = _new_merchant(w, c.country if rnd() < 0.7 else country, TEST_MCCS) if rnd() < 0.6 else w.pick(
            w.pop.merchants[c.country])
        ev = make.payment(ts, c.cid, card, w.money(c, round(w.uniform(1, 50), 2)), c.cur, m.merchant_id, m.mcc,
                          m.country, "ecom", "none", device, ip, country)
        w.fraud(ev, "card_testing", int(w.uniform(1, 10) * DAY))  # issuer's fraud report, not a dispute
        ts += int(w.uniform(5, 90))
    for _ in range(1 + int(rnd() * 4)):
        ts += int(w.uniform(5, 60) * MINUTE)
        m = _new_merchant(w, c.country if rnd() < 0.6 else country, CASHOUT_MCCS)
        ev = make.payment(ts, c.cid, card, w.money(c, round(w.uniform(10_000, 80_000), -1)), c.cur,
                          m.merchant_id, m.mcc, m.country, "ecom", "none" if rnd() < 0.7 else "3ds", device, ip,
                          country)
        w.fraud(ev, "card_testing")


def cnp_stolen_card(w: World, c: Customer, t: int) -> None:
    """Card-not-present: a large e-commerce payment from a new device, usually a foreign address,
    well above what the card usually pays."""
    rnd = w.rnd
    card = c.cards[0]
    device, ip, country = w.crook(c.country, foreign=0.7)
    usual = 2000.0 * c.pay_scale
    ts = t
    for i in range(1 + (rnd() < 0.35) + (rnd() < 0.15)):
        ts += int(w.uniform(2, 25) * MINUTE) if i else 0
        m = _new_merchant(w, c.country if rnd() < 0.7 else country, CASHOUT_MCCS)
        rub = max(15_000.0, usual * w.uniform(5, 30))
        infra = {"level": w.pick(["medium", "high"]), "factors": ["new_device", "geo_mismatch"]} \
            if rnd() < 0.3 else None
        ev = make.payment(ts, c.cid, card, w.money(c, round(rub, -1)), c.cur, m.merchant_id, m.mcc, m.country,
                          "ecom", "none" if rnd() < 0.8 else "3ds", device if rnd() < 0.85 else c.device, ip,
                          country, infra=infra)
        w.fraud(ev, "cnp_stolen_card")


def atm_relay(w: World, c: Customer, t: int) -> None:
    """ОД-2506 1.3: a relay between the victim's contactless card and an ATM elsewhere; the card ↔
    ATM exchange takes far longer than the norm (~500 ms)."""
    rnd = w.rnd
    if rnd() < 0.4:
        atm_country = w.pick(FOREIGN_ATM)
        atm_id = "ATM" + atm_country + ids.digits(w.rng, 6)
    else:
        atm_country, atm_id = c.country, w.pick(w.pop.atms[c.country])
    ts = t
    for _ in range(1 + int(rnd() * 3)):
        apdu = int(w.uniform(600, 2000)) if rnd() < 0.85 else int(w.uniform(480, 600))
        ev = make.atm(ts, c.cid, "withdrawal", w.money(c, round(w.uniform(20_000, 100_000), -3)), c.cur,
                      c.cards[0], atm_id, apdu, atm_country, tokenized=False, contactless=True)
        w.fraud(ev, "atm_relay")
        ts += int(w.uniform(1, 10) * MINUTE)


def biometric_spoof(w: World, c: Customer, t: int) -> None:
    """A palm-vein or face payment passed with a printed image: low liveness, a large amount."""
    rnd = w.rnd
    pool = [m for m in w.pop.merchants[c.country] if m.mcc in ("5732", "5311")] or w.pop.merchants[c.country]
    ts = t
    for _ in range(1 + (rnd() < 0.3)):
        m = w.pick(pool)
        live = round(w.uniform(0.05, 0.4) if rnd() < 0.8 else w.uniform(0.4, 0.6), 3)
        ev = make.payment(ts, c.cid, c.cards[0], w.money(c, round(w.uniform(50_000, 400_000), -2)), c.cur,
                          m.merchant_id, "5944" if rnd() < 0.3 else m.mcc, m.country, "biometric", "biometric",
                          liveness=live, country=c.country)
        w.fraud(ev, "biometric_spoof")
        ts += int(w.uniform(3, 40) * MINUTE)


def phishing_link(w: World, c: Customer, t: int, sender: Customer) -> None:
    """A look-alike "delivery" or "safe deal" link collects the card's data; a payment at a merchant
    the client never used follows within the hour."""
    rnd = w.rnd
    ts = t
    if c.seller or rnd() < 0.3:  # the "buyer" of the victim's own ad sends the link
        w.add(make.listing(ts, c.cid, w.next_listing_id(), "Детская кроватка с матрасом", "Самовывоз.",
                           w.money(c, 9000), c.cur, "kids", c.city, c.phone, c.country, c.ip, c.device))
        ts += int(w.uniform(1, 20) * HOUR)
    link = w.pick(PHISH_LINKS[c.country]).format(k=ids.digits(w.rng, 6))
    text = w.pick(PHISH_TEXTS[c.country]).format(n=ids.digits(w.rng, 8), link=link)
    w.add(make.message(ts, sender.cid, c.cid, text))
    device, ip, country = w.crook(c.country, foreign=0.5)
    card = c.cards[0]
    for i in range(1 + (rnd() < 0.2)):
        ts += int(w.uniform(5, 55) * MINUTE) if i == 0 else int(w.uniform(5, 20) * MINUTE)
        m = _new_merchant(w, c.country if rnd() < 0.6 else country, PHISH_MCCS)
        ev = make.payment(ts, c.cid, card, w.money(c, round(w.uniform(5_000, 60_000), -1)), c.cur,
                          m.merchant_id, m.mcc, m.country, "ecom", "none" if rnd() < 0.6 else "3ds", device, ip,
                          country)
        w.fraud(ev, "phishing_link")
