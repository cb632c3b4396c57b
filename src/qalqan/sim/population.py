"""Who lives in the simulated world: customers, merchants, ATMs, and the people they pay.

Customers are clients of one bank (Qalqan Bank) in Russia (RUB) or Kazakhstan (KZT). Each has a
habit profile — how often they pay and how much, salary, family they send money to, favourite shops,
bills, trips — that ``legit.py`` turns into ordinary traffic. Amounts are planned in RUB and
converted with ``Customer.fx`` (1 RUB ≈ 5.5 KZT).
"""

from __future__ import annotations

import math
from random import Random
from typing import NamedTuple

from . import ids

TZ = {"RU": 3 * 3600, "KZ": 5 * 3600}
FX = {"RU": 1.0, "KZ": 5.5}
CURRENCY = {"RU": "RUB", "KZ": "KZT"}
CITIES = {
    "RU": ["Moscow", "Saint Petersburg", "Novosibirsk", "Yekaterinburg", "Kazan", "Nizhny Novgorod",
           "Krasnodar", "Samara", "Rostov-on-Don", "Ufa", "Omsk", "Voronezh"],
    "KZ": ["Almaty", "Astana", "Shymkent", "Karaganda", "Aktobe", "Taraz", "Pavlodar", "Oskemen",
           "Atyrau", "Kostanay"],
}
# Travel destinations: country, currency, RUB per unit.
TRIPS = [("TR", "TRY", 2.5), ("AE", "AED", 27.0), ("DE", "EUR", 100.0), ("IT", "EUR", 100.0),
         ("ES", "EUR", 100.0), ("FR", "EUR", 100.0), ("GE", "GEL", 36.0), ("TH", "THB", 2.9)]
# mcc, median amount in RUB, share of ecom, weight in a customer's shopping.
MCCS = [
    ("5411", 1300, 0.08, 30), ("5812", 1800, 0.05, 8), ("5814", 450, 0.10, 10), ("5541", 2500, 0.0, 6),
    ("5912", 900, 0.15, 5), ("5651", 3500, 0.45, 4), ("5732", 9000, 0.55, 2), ("4121", 450, 1.0, 8),
    ("4111", 60, 0.2, 6), ("5311", 2500, 0.2, 3), ("5999", 1200, 0.5, 4), ("7832", 700, 0.6, 2),
    ("5399", 2200, 1.0, 9), ("5977", 1800, 0.4, 3), ("5941", 3500, 0.4, 1), ("8099", 3000, 0.1, 2),
    ("5691", 4000, 0.4, 2), ("5533", 3000, 0.2, 1), ("4814", 600, 1.0, 3),
]
BILL_MCCS = [("4900", 4500), ("4814", 700), ("4899", 650)]
OS = [("Android 14", 0.45), ("Android 13", 0.15), ("iOS 18.2", 0.25), ("iOS 17.6", 0.15)]
APPS = ["qalqan-bank 7.4.1", "qalqan-bank 7.3.0", "qalqan-bank 7.4.0"]


class Merchant(NamedTuple):
    merchant_id: str
    mcc: str
    country: str
    scale: float  # median amount, RUB
    ecom: float  # share of ecom payments


class Party(NamedTuple):
    """Someone a customer sends money to or gets money from."""

    counterparty_id: str  # their customer_id when they bank with us, else their phone
    account: str
    bank: str
    customer: int  # index in the population, -1 when not our client


class Customer:
    __slots__ = (
        "account", "active_from", "app", "atms", "balance", "bill_day", "bills", "bio", "birthday", "cards",
        "cid", "city", "country", "cur", "device", "devices", "e_login", "e_pay", "employer",
        "ext_accounts", "family", "favourites", "friends", "fx", "idx", "ip", "isp",
        "login_rate", "mobile_ip", "new_recipients", "os", "pay_rate", "pay_scale", "phone", "role",
        "rooted", "salary", "salary_days", "seller", "trips", "tz", "vpn_ip",
    )

    def __init__(self, idx: int) -> None:
        self.idx = idx
        self.role = ""
        self.new_recipients: list[Party] = []


class Population:
    def __init__(self, customers: list[Customer], merchants: dict[str, list[Merchant]],
                 abroad: dict[str, list[Merchant]], atms: dict[str, list[str]]) -> None:
        self.customers = customers
        self.merchants = merchants
        self.abroad = abroad
        self.atms = atms
        self.by_country = {c: [x for x in customers if x.country == c] for c in ("RU", "KZ")}


def _pick(rng: Random, seq):
    return seq[int(rng.random() * len(seq))]


def _weighted(rng: Random, pairs):
    r = rng.random() * sum(w for _, w in pairs)
    for item, w in pairs:
        r -= w
        if r < 0:
            return item
    return pairs[-1][0]


def _merchants(rng: Random, country: str, n: int) -> list[Merchant]:
    out = []
    weighted = [(m, m[3]) for m in MCCS]
    for _ in range(n):
        mcc, scale, ecom, _w = _weighted(rng, weighted)
        out.append(Merchant("M" + ids.digits(rng, 9), mcc, country, scale * math.exp(rng.gauss(0, 0.3)), ecom))
    return out


def stranger(rng: Random, country: str) -> Party:
    """A private person outside the bank, never seen before."""
    acc, bank = ids.other_bank_account(rng, country)
    return Party(ids.phone(rng, country), acc, bank, -1)


def build(rng: Random, n: int, days: int) -> Population:
    merchants = {c: _merchants(rng, c, 400 + min(n // 4, 4000)) for c in ("RU", "KZ")}
    abroad: dict[str, list[Merchant]] = {}
    for country, _cur, _fx in TRIPS:
        abroad.setdefault(country, _merchants(rng, country, 60))
    atms = {c: ["ATM" + c + ids.digits(rng, 6) for _ in range(100 + n // 20)] for c in ("RU", "KZ")}
    bills = {c: [m for m in pool if m.mcc in ("4814", "4900", "4899")] or pool for c, pool in merchants.items()}
    customers = [_customer(rng, i, days, merchants, bills, atms) for i in range(n)]
    by_country = {c: [x for x in customers if x.country == c] for c in ("RU", "KZ")}
    for c in customers:  # a fifth of family members bank with us too: those transfers are internal
        peers = by_country[c.country]
        for k in range(len(c.family)):
            if rng.random() < 0.2 and len(peers) > 1:
                o = _pick(rng, peers)
                if o is not c:
                    c.family[k] = Party(o.cid, o.account, "Qalqan Bank", o.idx)
    return Population(customers, merchants, abroad, atms)


def _customer(rng: Random, i: int, days: int, merchants, bill_payees, atms) -> Customer:
    c = Customer(i)
    c.cid = f"C{1_000_000 + i * 37 % 8_999_999:07d}" if i < 8_999_999 else f"C{i:09d}"
    c.country = country = "RU" if rng.random() < 0.68 else "KZ"
    c.cur, c.fx, c.tz = CURRENCY[country], FX[country], TZ[country]
    c.city = _pick(rng, CITIES[country])
    c.phone = ids.phone(rng, country)
    c.account = ids.account(rng, country, 0)[0]
    c.ext_accounts = [ids.other_bank_account(rng, country) for _ in range(1 + int(rng.random() * 2.2))]
    c.cards = [ids.card_number(rng, country) for _ in range(1 + (rng.random() < 0.3))]
    c.device = ids.device_id(rng)
    c.devices = [c.device] + ([ids.device_id(rng)] if rng.random() < 0.25 else [])
    c.os = _weighted(rng, OS)
    c.app = _pick(rng, APPS)
    c.isp = _pick(rng, ids.ISPS[country])
    c.ip = ids.ip(rng, country)
    c.mobile_ip = ids.ip(rng, country)
    c.vpn_ip = ids.ip(rng, _pick(rng, ["NL", "DE", "US"])) if rng.random() < (0.12 if country == "RU" else 0.04) else ""
    c.pay_rate = min(4.0, max(0.3, math.exp(rng.gauss(0.35, 0.5))))
    c.pay_scale = math.exp(rng.gauss(0.0, 0.45))
    c.login_rate = min(8.0, c.pay_rate * (0.8 + rng.random() * 1.6))
    c.e_pay, c.e_login = math.exp(-c.pay_rate), math.exp(-c.login_rate)
    if rng.random() < 0.82:
        c.salary = round(math.exp(rng.gauss(math.log(85_000), 0.45)), -2)
        day1 = 1 + int(rng.random() * 15)
        c.salary_days = (day1, day1 + 15) if country == "RU" and rng.random() < 0.6 else (day1 + 5,)
        acc, bank = ids.other_bank_account(rng, country, business=True)
        c.employer = Party(ids.business_id(rng, country), acc, bank, -1)
    else:
        c.salary, c.salary_days, c.employer = 0.0, (), None
    c.family = [stranger(rng, country) for _ in range(int(rng.random() * 4.5))]
    c.friends = [stranger(rng, country) for _ in range(2 + int(rng.random() * 5))]
    pool = merchants[country]
    c.favourites = [_pick(rng, pool) for _ in range(6 + int(rng.random() * 14))]
    bills = bill_payees[country]
    c.bills = [_pick(rng, bills) for _ in range(1 + int(rng.random() * 3))]
    c.bill_day = 1 + int(rng.random() * 27)
    c.trips = []
    if rng.random() < 0.12 and days >= 3:
        start = int(rng.random() * days)
        dest = _pick(rng, TRIPS)
        c.trips.append((start, start + 3 + int(rng.random() * 9), *dest))
    c.active_from = 0
    if rng.random() < 0.04:  # dormant for a long stretch, then ordinary life again
        c.active_from = int(days * (0.3 + rng.random() * 0.9))
    c.seller = rng.random() < 0.04
    c.bio = rng.random() < (0.45 if country == "KZ" else 0.08)
    c.rooted = rng.random() < 0.02
    c.birthday = int(rng.random() * 365)
    c.balance = c.salary * (0.3 + rng.random() * 2.0) + math.exp(rng.gauss(math.log(30_000), 1.0))
    c.atms = [_pick(rng, atms[country]) for _ in range(2)]
    return c
