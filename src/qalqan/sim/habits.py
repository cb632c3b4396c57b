"""The rarer turns of honest life, each of which resembles some fraud pattern.

- a big self-transfer (over 200,000 RUB) from one's own account at another bank, then ordinary
  payments and sometimes a transfer to a regular recipient — or a car bought from a dealer or, now
  and then, from a private seller (a real first transfer to a stranger: ОД-2506 1.12 fires, honestly);
- a new phone: the number changes, a login on a new device, then ordinary transfers;
- a trip abroad (payments in EUR/TRY/AED..., logins from foreign addresses, an ISP change);
- a big purchase (furniture, electronics); a birthday (many small transfers in from many people);
- money sent to family abroad (cross-border, sometimes over 100,000 RUB); crypto bought on an exchange;
- a seller's marketplace listing (one city, the seller's own phone).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import ids, make
from .population import Customer, Party, stranger
from .timeline import DAY
from .world import HOUR, World

if TYPE_CHECKING:
    from .legit import Life

LISTINGS = [
    ("iPhone 13 128GB, состояние отличное", "electronics", 45000),
    ("Детская коляска Cybex Priam", "kids", 35000),
    ("Диван угловой, б/у 2 года", "furniture", 18000),
    ("Велосипед Merida Big.Nine", "sport", 40000),
    ("Toyota Corolla 2012, 1.6 MT", "auto", 950000),
    ("Сдам 1-комн. квартиру на длительный срок", "realty_rent", 35000),
    ("PlayStation 5 с двумя геймпадами", "electronics", 42000),
]
ABROAD_FAMILY = ["UZ", "KG", "TJ", "AM", "GE"]
NEW_PHONE_SOURCES = ["online_banking", "branch", "operator"]


class Habits:
    def __init__(self, w: World, life: Life) -> None:
        self.w = w
        self.life = life
        self.rnd = w.rnd

    def rare(self, c: Customer, r: float, ds: int, trip, out: list) -> None:
        """The rarest daily chances; ``r`` is uniform below 0.014."""
        w = self.w
        ts = ds + w.tod(c)
        if r < 0.0018:
            self.new_phone(c, ts)
        elif r < 0.005:
            out.append(make.profile_change(ts, c.cid, "password", "online_banking"))
        elif r < 0.006:
            out.append(make.profile_change(ts, c.cid, "email", "online_banking"))
        elif r < 0.0065:
            out.append(make.profile_change(ts, c.cid, "trusted_person", "branch"))
        elif r < 0.009:
            c.os = c.os.split(" ")[0] + (" 15" if c.os.startswith("Android") else " 18.3")
            out.append(make.device_signal(ts, c.cid, c.device, "os_change", source="sdk"))
        elif r < 0.0095:  # a support session or a work tool; no money moves
            out.append(make.device_signal(ts, c.cid, c.device, "remote_access", source="sdk"))
        elif r < 0.0115:
            if not trip:
                self.big_purchase(c, w.daytime(ds, c, 10, 20), out)
        elif r < 0.0135:
            self.abroad_family(c, ts, out)
        else:  # savings in crypto, bought on an exchange
            self.life.move(out, make.transfer(ts, c.cid, "out", "crypto", w.money(c, round(w.lognorm(20_000, 0.8), -2)),
                                              c.cur, c.account, ids.tron_wallet(w.rng), ids.business_id(w.rng, "KZ"),
                                              "business", None, False, c.device, c.mobile_ip, c.country))

    def self_transfer_in(self, c: Customer, ts: int, out: list) -> None:
        """Money from the client's own account at another bank, by SBP; sometimes a big sum."""
        w, rnd = self.w, self.rnd
        r = rnd()
        big = r < 0.07
        if big:
            rub = 200_000.0 if r < 0.008 else w.uniform(205_000, 1_200_000)  # exactly 200,000: not "more than"
        else:
            rub = w.lognorm(20_000, 1.0)
        acc, bank = c.ext_accounts[int(rnd() * len(c.ext_accounts))]
        self.life.move(out, make.transfer(ts, c.cid, "in", "sbp", w.money(c, round(rub, -2)), c.cur, acc,
                                          c.account, c.phone, "individual", bank, True))
        if not big:
            return
        for _ in range(1 + int(rnd() * 3)):  # then life goes on
            t = ts + int(w.uniform(0.5, 30) * HOUR)
            ev = self.life.payment(c, t, None, [])
            w.add(ev)
        r = rnd()
        t = ts + int(w.uniform(1, 22) * HOUR)
        if r < 0.4 and (c.family or c.new_recipients):
            to = w.pick(c.family + c.new_recipients)
            w.add(self.life.send(c, t, to, rub * w.uniform(0.1, 0.6), []))
        elif r < 0.55:
            self.car(c, t, rub * w.uniform(0.8, 1.0), dealer=True)
        elif r < 0.62:
            self.car(c, t, rub * w.uniform(0.8, 1.0), dealer=False)

    def car(self, c: Customer, ts: int, rub: float, dealer: bool) -> None:
        w = self.w
        if dealer:
            acc, bank = ids.other_bank_account(w.rng, c.country, business=True)
            ev = make.transfer(ts, c.cid, "out", "interbank", w.money(c, round(rub, -3)), c.cur, c.account, acc,
                               ids.business_id(w.rng, c.country), "business", bank, False, c.device, c.ip,
                               c.country)
        else:
            seller = stranger(w.rng, c.country)
            ev = make.transfer(ts, c.cid, "out", "sbp", w.money(c, round(rub, -3)), c.cur, c.account,
                               seller.account, seller.counterparty_id, "individual", seller.bank, False,
                               c.device, c.mobile_ip, c.country)
            c.new_recipients.append(seller)
        w.add(ev)
        if w.rnd() < 0.02:
            w.legit_label(ev)

    def new_phone(self, c: Customer, ts: int) -> None:
        """A new number and a new handset: profile change, login on the new device, life goes on."""
        w, rnd = self.w, self.rnd
        if rnd() < 0.3:  # the new SIM first, the bank hears of the number later
            w.add(make.device_signal(ts, c.cid, None, "sim_change", True, "operator"))
            ts += int(w.uniform(1, 12) * HOUR)
        src = w.pick(NEW_PHONE_SOURCES + ["egov" if c.country == "KZ" else "gosuslugi"])
        w.add(make.profile_change(ts, c.cid, "phone", src))
        c.phone = ids.phone(w.rng, c.country)
        c.device = ids.device_id(w.rng)
        c.devices.append(c.device)
        liveness = round(w.uniform(0.8, 0.99), 3) if c.country == "KZ" else None
        w.add(make.login(ts + int(w.uniform(300, 3 * HOUR)), c.cid, c.device, c.mobile_ip, c.isp, c.os, c.app,
                         "biometric" if liveness else "sms_otp", True, liveness))
        w.add(make.profile_change(ts + int(w.uniform(310, 3 * HOUR + 60)), c.cid, "device", "online_banking"))

    def big_purchase(self, c: Customer, ts: int, out: list) -> None:
        w = self.w
        pool = [m for m in c.favourites if m.mcc in ("5732", "5311", "5651")] or c.favourites
        m = w.pick(pool)
        rub = w.uniform(60_000, 350_000)
        ecom = self.rnd() < 0.4
        self.life.move(out, make.payment(ts, c.cid, c.cards[0], w.money(c, round(rub, -2)), c.cur,
                                         m.merchant_id, "5712" if self.rnd() < 0.4 else "5732", m.country,
                                         "ecom" if ecom else "pos", "3ds" if ecom else "pin",
                                         c.device if ecom else None, c.ip if ecom else None, c.country))

    def birthday(self, c: Customer, ds: int, out: list) -> None:
        """Many small transfers in from many different people in one day."""
        w = self.w
        for _ in range(4 + int(self.rnd() * 9)):
            p = stranger(w.rng, c.country)
            self.life.move(out, make.transfer(w.daytime(ds, c, 8, 23), c.cid, "in", "sbp",
                                              w.money(c, round(w.uniform(500, 5000), -2)), c.cur, p.account,
                                              c.account, p.counterparty_id, "individual", p.bank))

    def abroad_family(self, c: Customer, ts: int, out: list) -> None:
        w = self.w
        country = w.pick(ABROAD_FAMILY)
        acc, bank = ids.foreign_account(w.rng, country)
        to = Party(ids.phone(w.rng, country), acc, bank, -1)
        rub = w.lognorm(45_000, 0.8)
        self.life.move(out, make.transfer(ts, c.cid, "out", "cross_border", w.money(c, round(rub, -2)), c.cur,
                                          c.account, to.account, to.counterparty_id, "individual", to.bank,
                                          False, c.device, c.mobile_ip, c.country))
        if self.rnd() < 0.15:  # cash paid in at an ATM days later, with a phone token: not 1.11 (> 24 h)
            t = ts + int(w.uniform(1.5, 6) * DAY)
            w.add(make.atm(t, c.cid, "deposit", w.money(c, round(w.uniform(5000, 60000), -3)), c.cur, c.cards[0],
                           c.atms[0], int(w.rng.gauss(240, 50)), c.country, tokenized=True, contactless=True))

    def listing(self, c: Customer, ts: int, out: list) -> None:
        w = self.w
        title, category, rub = w.pick(LISTINGS)
        out.append(make.listing(ts, c.cid, w.next_listing_id(), title, title + ". Торг уместен.",
                                w.money(c, round(w.lognorm(rub, 0.2), -2)), c.cur, category, c.city, c.phone,
                                c.country, c.ip, c.device))
