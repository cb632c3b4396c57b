"""Ordinary life: the everyday traffic of honest customers, most of what the engine sees.

One call of ``Life.day`` makes one day of every customer's routine: logins, card payments at
favourite shops, salaries, bills, transfers to family, self-transfers between one's own banks, ATM
withdrawals, telecom reports, messages and listings. The rarer turns of life (a new phone, a trip,
a car, a birthday) are in ``habits.py``. This is the false-positive pressure: some of it looks like
fraud on purpose (big self-transfers, an unknown courier calling about a real order, a transfer
made during a phone call, a first payment to a private seller).
"""

from __future__ import annotations

from datetime import UTC, datetime

from . import ids, make
from .habits import Habits
from .make import Event, Login, Payment
from .population import Customer, Party
from .timeline import DATES, DAY, TIME_OF_DAY
from .world import HOUR, LEGIT_LABEL_RATE, World

NORMAL_LINKS = [
    "https://www.ozon.ru/product/{n}/", "https://www.wildberries.ru/catalog/{n}/detail.aspx",
    "https://www.avito.ru/moskva/{n}", "https://kaspi.kz/shop/p/{n}/", "https://kolesa.kz/a/show/{n}",
    "https://www.cdek.ru/ru/tracking?order_id={n}", "https://krisha.kz/a/show/{n}",
]
PLAIN_TEXTS = ["Добрый день! Товар ещё в наличии?", "Спасибо, получил", "Можно посмотреть сегодня вечером?",
               "Скинул деньги, проверь", "Сәлеметсіз бе! Тауар әлі бар ма?"]
ATM_SUMS = [1000, 2000, 3000, 5000, 5000, 10000, 10000, 15000, 20000, 30000]


class Life:
    def __init__(self, w: World) -> None:
        self.w = w
        self.rnd = w.rnd
        self.pay_noise = [x**0.6 for x in w.lognormals]  # exp(N(0, 0.6²))
        self.habits = Habits(w, self)

    def day(self, d: int) -> None:
        w = self.w
        ds = w.t0 + d * DAY
        out = w.tl.bucket(d)
        date = datetime.fromtimestamp(ds + 12 * HOUR, UTC)
        dom, doy = date.day, date.timetuple().tm_yday - 1
        for c in w.pop.customers:
            if c.role in ("mule", "mule_atm") or d < c.active_from:
                # Dormant: no money moves; now and then the app is opened.
                if self.rnd() < 0.02:
                    out.append(self.login(ds + w.tod(c), c))
                continue
            self.customer_day(c, d, ds, dom, doy, out)

    def move(self, out: list, ev: Event) -> Event:
        out.append(ev)
        if self.rnd() < LEGIT_LABEL_RATE:
            self.w.legit_label(ev)
        return ev

    def login(self, ts: int, c: Customer, device: str | None = None, ip: str | None = None) -> Event:
        r = self.rnd()
        dev = device or (c.device if r < 0.94 else c.devices[int(self.rnd() * len(c.devices))])
        auth = "biometric" if r < 0.5 else ("pin" if r < 0.9 else "password")
        return make.login(ts, c.cid, dev, ip or (c.mobile_ip if r < 0.6 else c.ip), c.isp, c.os, c.app, auth,
                          self.rnd() > 0.02)

    def customer_day(self, c: Customer, d: int, ds: int, dom: int, doy: int, out: list) -> None:
        w, rnd, tod = self.w, self.rnd, self.w.tod
        times, nt, tz = w.times, w.n_times, c.tz
        trip = None
        for t in c.trips:
            if t[0] <= d < t[1]:
                trip = t
        # Logins (Poisson by multiplication): the app is opened more often than money moves.
        k, p, e = 0, rnd(), c.e_login
        while p > e:
            k += 1
            p *= rnd()
        cid, devices, n_dev = c.cid, c.devices, len(c.devices)
        for _ in range(k):
            x = rnd() * nt  # one draw: the integer part picks the time, the fraction the rest
            i = int(x)
            r = x - i
            t = ds + (times[i] - tz) % DAY
            if trip:
                ip, isp = ids.ip(w.rng, trip[2]), c.isp
            elif r > 0.7 and c.vpn_ip:  # a VPN: a foreign hosting address, honestly
                ip, isp = c.vpn_ip, "Hosting"
            else:
                ip, isp = c.mobile_ip if r < 0.6 else c.ip, c.isp
            out.append(Login(
                "", DATES[t // DAY] + TIME_OF_DAY[t % DAY], cid, c.device if r < 0.94 else devices[int(rnd() * n_dev)],
                ip, isp, c.os, c.app, "biometric" if r < 0.5 else ("pin" if r < 0.9 else "password"),
                r * 97.0 % 1.0 > 0.02))
        # Card payments.
        k, p, e = 0, rnd(), c.e_pay
        while p > e:
            k += 1
            p *= rnd()
        pay = self.payment
        for _ in range(k):
            pay(c, ds + (times[int(rnd() * nt)] - tz) % DAY, trip, out)
        if c.salary and dom in c.salary_days:
            emp = c.employer
            amount = w.money(c, c.salary / len(c.salary_days) * w.uniform(0.97, 1.03))
            self.move(out, make.transfer(w.daytime(ds, c, 9, 17), c.cid, "in", "interbank", amount, c.cur,
                                         emp.account, c.account, emp.counterparty_id, "business", emp.bank))
        if dom == c.bill_day:
            for m in c.bills:
                amount = w.money(c, w.lognorm(m.scale, 0.25))
                self.move(out, make.payment(w.daytime(ds, c, 8, 23), c.cid, c.cards[0], amount, c.cur,
                                            m.merchant_id, m.mcc, m.country, "ecom", "none", c.device, c.ip,
                                            c.country))
        # One draw decides the day's occasional event, if any (two on one day are rare enough to skip).
        r = rnd()
        if r < 0.293:
            self.occasional(c, r, d, ds, trip, out)
        r = rnd()
        if r < 0.40:
            self.comms(c, r, ds, out)
        if doy == c.birthday:
            self.habits.birthday(c, ds, out)
        if trip and d == trip[0]:
            out.append(make.device_signal(ds + tod(c), c.cid, c.device, "isp_change", source="sdk"))
        if c.rooted and rnd() < 0.1:
            out.append(make.device_signal(ds + tod(c), c.cid, c.device, "rooted", source="sdk"))

    def occasional(self, c: Customer, r: float, d: int, ds: int, trip, out: list) -> None:
        """Daily chances: ``r`` is uniform below 0.293; each branch takes its share of it."""
        w, rnd = self.w, self.rnd
        ts = ds + w.tod(c)
        if r < 0.06:
            if c.family:
                self.send(c, ts, c.family[int(rnd() * len(c.family))], w.lognorm(5000, 0.8), out)
        elif r < 0.075:  # someone new: a tutor, a private seller, a friend's friend
            p2 = Party(ids.phone(w.rng, c.country), *ids.other_bank_account(w.rng, c.country), -1)
            self.send(c, ts, p2, w.lognorm(3500, 0.9), out)
            if len(c.new_recipients) < 12:
                c.new_recipients.append(p2)
        elif r < 0.09:
            if c.new_recipients:
                self.send(c, ts, c.new_recipients[int(rnd() * len(c.new_recipients))], w.lognorm(3000, 0.8), out)
        elif r < 0.13:  # money from family and friends
            src = c.family[int(rnd() * len(c.family))] if c.family and rnd() < 0.5 else None
            if src is None or src.customer < 0:  # (relatives who bank with us send theirs as "out")
                src = src or c.friends[int(rnd() * len(c.friends))]
                self.move(out, make.transfer(ts, c.cid, "in", "sbp", w.money(c, w.lognorm(3000, 0.9)), c.cur,
                                             src.account, c.account, src.counterparty_id, "individual", src.bank))
        elif r < 0.155:
            self.habits.self_transfer_in(c, ts, out)
        elif r < 0.17:
            acc, bank = c.ext_accounts[0]
            self.move(out, make.transfer(ts, c.cid, "out", "sbp", w.money(c, w.lognorm(10000, 0.9)), c.cur,
                                         c.account, acc, c.phone, "individual", bank, True, c.device, c.mobile_ip,
                                         c.country))
        elif r < 0.23:
            if not trip:
                self.atm(c, ts, out)
        elif r < 0.237:
            amount = w.money(c, round(w.lognorm(15000, 0.8), -3) or 1000)
            self.move(out, make.atm(ts, c.cid, "deposit", amount, c.cur, c.cards[0],
                                    c.atms[int(rnd() * len(c.atms))], int(w.rng.gauss(240, 50)), c.country,
                                    tokenized=rnd() < 0.25, contactless=rnd() < 0.4))
        elif r < 0.249:
            peers = w.pop.by_country[c.country]
            to = peers[int(rnd() * len(peers))]
            if rnd() < 0.6:
                text = "Посмотри: " + w.pick(NORMAL_LINKS).format(n=ids.digits(w.rng, 9))
            else:
                text = w.pick(PLAIN_TEXTS)
            out.append(make.message(ts, c.cid, to.cid, text))
        elif r < 0.279:
            if c.seller:
                self.habits.listing(c, ts, out)
        else:
            self.habits.rare(c, r - 0.279, ds, trip, out)

    def payment(self, c: Customer, ts: int, trip, out: list) -> Event:
        w, rnd = self.w, self.rnd
        if trip:
            m = w.pick(w.pop.abroad[trip[2]])
        elif rnd() < 0.72:
            m = c.favourites[int(rnd() * len(c.favourites))]
        else:
            pool = w.pop.merchants[c.country]
            m = pool[int(rnd() * len(pool))]
        rub = m.scale * c.pay_scale * self.pay_noise[int(rnd() * 16384)]
        if trip:
            amount, cur, country = round(rub / trip[4], 2), trip[3], trip[2]
        elif c.fx == 1.0:
            amount, cur, country = round(rub, 2), c.cur, c.country
        else:
            amount, cur, country = float(round(rub * c.fx)), c.cur, c.country
        card = c.cards[0] if rnd() < 0.8 else c.cards[-1]
        if rnd() < m.ecom:
            ev = Payment("", DATES[ts // DAY] + TIME_OF_DAY[ts % DAY], c.cid, card, amount, cur, m.merchant_id, "ecom",
                         m.mcc, m.country, "3ds" if rnd() < 0.6 else "none", None, c.device, c.ip, country)
            if m.mcc == "5399" and rnd() < 0.1:
                # The courier of a real order calls from a number the client does not know.
                later = ts + int(w.uniform(18, 60) * HOUR)
                w.add(make.comms(later, c.cid, "call", False, "courier", 1, int(w.uniform(20, 120))))
        elif c.bio and not trip and rnd() < 0.3:
            live = round(w.uniform(0.7, 0.99) if rnd() < 0.95 else w.uniform(0.35, 0.6), 3)
            ev = make.payment(ts, c.cid, card, amount, cur, m.merchant_id, m.mcc, m.country, "biometric",
                              "biometric", liveness=live, country=country)
        else:
            ev = Payment("", DATES[ts // DAY] + TIME_OF_DAY[ts % DAY], c.cid, card, amount, cur, m.merchant_id, "pos",
                         m.mcc, m.country, "pin" if rub > 3000 else "none", country=country)
        out.append(ev)
        if rnd() < LEGIT_LABEL_RATE:
            w.legit_label(ev)
        return ev

    def send(self, c: Customer, ts: int, to: Party, rub: float, out: list, rail: str | None = None) -> Event:
        """A transfer out to an individual; both sides are recorded when the recipient banks with us."""
        w = self.w
        amount = w.money(c, round(rub, -3) if rub > 3000 and self.rnd() < 0.6 else round(rub, -2) or 100.0)
        internal = to.customer >= 0
        rail = rail or ("internal" if internal else ("sbp" if self.rnd() < 0.75 else "card2card"))
        infra = None
        if rail == "sbp" and self.rnd() < 0.3:
            infra = {"level": "low" if self.rnd() < 0.97 else "medium", "factors": []}
        to_acc = ids.card_of(to.account, c.country) if rail == "card2card" else to.account
        ev = self.move(out, make.transfer(ts, c.cid, "out", rail, amount, c.cur, c.account, to_acc,
                                          to.counterparty_id, "individual", to.bank, False, c.device,
                                          c.mobile_ip, c.country, infra))
        if self.rnd() < 0.015:  # dictated over the phone by a relative: a call is active, and honest
            sig = ts - int(w.uniform(20, 180))
            if w.tl.day_of(sig) == w.tl.day_of(ts):  # never into a day already written
                w.add(make.device_signal(sig, c.cid, c.device, "active_call"))
        if internal and rail == "internal":
            peer = w.pop.customers[to.customer]
            w.add(make.transfer(ts, peer.cid, "in", "internal", w.money(peer, rub), peer.cur, c.account,
                                peer.account, c.cid, "individual", "Qalqan Bank"))
        return ev

    def atm(self, c: Customer, ts: int, out: list) -> Event:
        w, rnd = self.w, self.rnd
        contactless = rnd() < 0.4
        apdu = int(w.rng.gauss(240, 50))
        apdu = max(120, min(apdu, 470))
        if contactless and rnd() < 0.005:  # a slow reader: over the 500 ms norm, honestly
            apdu = int(w.uniform(500, 700))
        atm_id = c.atms[int(rnd() * len(c.atms))] if rnd() < 0.85 else w.pick(w.pop.atms[c.country])
        amount = w.money(c, ATM_SUMS[int(rnd() * len(ATM_SUMS))])
        return self.move(out, make.atm(ts, c.cid, "withdrawal", amount, c.cur, c.cards[0], atm_id, apdu,
                                       c.country, tokenized=contactless and rnd() < 0.3,
                                       contactless=contactless))

    def comms(self, c: Customer, r: float, ds: int, out: list) -> None:
        """The telecom operator's reports of an ordinary day; ``r`` is uniform below 0.40."""
        w, rnd = self.w, self.rnd
        if r < 0.35:
            kind = "bank" if rnd() < 0.5 else "other"
            out.append(make.comms(ds + w.tod(c), c.cid, "sms" if rnd() < 0.6 else "call", True, kind,
                                  1 + int(rnd() * 3)))
        elif r < 0.39:  # spam and cold calls from unknown numbers
            out.append(make.comms(ds + w.tod(c), c.cid, "call", False, "other", 1, int(w.uniform(5, 90))))
        else:
            out.append(make.comms(ds + w.tod(c), c.cid, "sms", False, "bank", 1))
