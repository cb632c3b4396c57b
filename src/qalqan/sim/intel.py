"""The background feed of list records (``intel`` events) that the fraud scenarios hide among.

Every day the regulators and the industry add records about accounts, phones, cards and devices
nobody in our population ever pays; some records expire (``expires_at``) and some are withdrawn
(``op: remove``). Now and then a record names the account of an honest client's relative and is
withdrawn or expires a few days later: transfers to that relative after the removal are legit.
"""

from __future__ import annotations

from . import ids, make
from .timeline import DAY
from .world import HOUR, World

# (list, the event's customer_id, weight); gis_antifraud applies from 2026-03-01 but is fed earlier.
LISTS = [("cbr_fincert", "regulator", 45), ("gis_antifraud", "regulator", 15),
         ("kz_antifraud_center", "regulator", 15), ("criminal_case", "police", 5),
         ("consortium", "consortium", 10), ("internal", "bank", 10)]
ENTITIES = [("account", 45), ("phone", 25), ("card", 15), ("device", 10), ("customer", 5)]


def _weighted(w: World, pairs):
    r = w.rnd() * sum(p[-1] for p in pairs)
    for p in pairs:
        r -= p[-1]
        if r < 0:
            return p
    return pairs[-1]


class IntelFeed:
    def __init__(self, w: World) -> None:
        self.w = w
        self.rate = 1.0 + len(w.pop.customers) / 400  # records a day

    def _value(self, entity: str, country: str) -> str:
        rng = self.w.rng
        if entity == "account":
            return ids.other_bank_account(rng, country)[0]
        if entity == "phone":
            return ids.phone(rng, country)
        if entity == "card":
            return ids.card_number(rng, country)
        if entity == "device":
            return ids.device_id(rng)
        return "C" + ids.digits(rng, 8)  # another bank's client reference

    def day(self, d: int) -> None:
        w = self.w
        ds = w.t0 + d * DAY
        n, e, p = 0, pow(2.718281828459045, -self.rate), w.rnd()
        while p > e:
            n += 1
            p *= w.rnd()
        for _ in range(n):
            lst, source, _ = _weighted(w, LISTS)
            entity = _weighted(w, ENTITIES)[0]
            country = "KZ" if lst == "kz_antifraud_center" else ("RU" if w.rnd() < 0.7 else "KZ")
            value = self._value(entity, country)
            ts = ds + int(w.rnd() * DAY)
            expires = w.expires(ts, w.uniform(30, 365)) if w.rnd() < 0.25 else None
            w.add(make.intel(ts, source, lst, entity, value, "add", expires))
            if w.rnd() < 0.08:
                w.add(make.intel(ts + int(w.uniform(1, 20) * DAY), source, lst, entity, value, "remove"))
        if w.rnd() < len(w.pop.customers) / 5000:
            self._mistaken_record(ds)

    def _mistaken_record(self, ds: int) -> None:
        w = self.w
        with_family = [c for c in w.pop.customers[:500] if any(p.customer < 0 for p in c.family)]
        if not with_family:
            return
        c = w.pick(with_family)
        rel = w.pick([p for p in c.family if p.customer < 0])
        ts = ds + int(w.rnd() * DAY)
        lst = "kz_antifraud_center" if c.country == "KZ" else "cbr_fincert"
        if w.rnd() < 0.6:
            w.add(make.intel(ts, "regulator", lst, "account", rel.account, "add"))
            w.add(make.intel(ts + int(w.uniform(12, 96) * HOUR), "regulator", lst, "account", rel.account, "remove"))
        else:
            w.add(make.intel(ts, "regulator", lst, "account", rel.account, "add", w.expires(ts, w.uniform(3, 10))))
