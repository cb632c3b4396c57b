"""Fraud that talks the client into moving the money: docs/design.md items 1, 2 and 8.

Each function plays one instance of a scenario from its first event at ``t`` (every event it makes
is at or after ``t``) and labels the fraudulent money movements through ``World.fraud``. Most
instances carry the scenario's textbook signals; a share of them leaves some out, as in the field.
"""

from __future__ import annotations

from . import ids, make
from .population import OS, Customer, stranger
from .timeline import DAY
from .world import HOUR, World

MINUTE = 60


def _payee(w: World, c: Customer, rail: str) -> tuple[str, str, str]:
    """(to_account, counterparty_id, bank) of a stranger; card2card pays to a card number."""
    p = stranger(w.rng, c.country)
    to = ids.card_number(w.rng, c.country) if rail == "card2card" else p.account
    return to, p.counterparty_id, p.bank


def _unknown_comms(w: World, c: Customer, ts: int, kind: str) -> None:
    channel = "call" if w.rnd() < 0.7 else ("sms" if w.rnd() < 0.6 else "messenger")
    duration = int(w.uniform(60, 1500)) if channel == "call" else None
    w.add(make.comms(ts, c.cid, channel, False, kind, 1 + int(w.rnd() * 6), duration))


def _infra(w: World) -> dict | None:
    r = w.rnd()
    if r < 0.3:
        return {"level": "high", "factors": ["non_voluntary_pattern", "recipient_risk"]}
    if r < 0.5:
        return {"level": "medium", "factors": ["recipient_risk"]}
    return None


def courier_scam(w: World, c: Customer, t: int) -> None:
    """A "courier" or "bank security" calls; the phone number is changed via eGov/Госуслуги; a new
    device logs in, a remote-access tool or a live call is on; the balance goes to a stranger."""
    rnd = w.rnd
    has_phone, has_comms, has_login, has_sig = rnd() < 0.8, rnd() < 0.9, rnd() < 0.9, rnd() < 0.75
    ph_lead = int(w.uniform(1, 40) * HOUR)
    T = t + max(ph_lead + 20 * MINUTE, int(5.5 * HOUR))
    if has_comms:
        kinds = ["courier", "bank", "gosuslugi"]
        for i in range(1 + int(rnd() * 3)):
            _unknown_comms(w, c, T - int(w.uniform(1, 5) * HOUR), kinds[i] if i < 3 else "bank")
    if has_phone:
        pt = T - ph_lead
        if ph_lead > 5 * HOUR and has_comms:
            _unknown_comms(w, c, pt - int(w.uniform(5, 20) * MINUTE), "courier")
        if rnd() < 0.2:
            w.add(make.device_signal(pt - int(w.uniform(1, 4) * MINUTE), c.cid, None, "sim_change", True,
                                     "operator"))
        src = "egov" if c.country == "KZ" else "gosuslugi"
        w.add(make.profile_change(pt, c.cid, "phone", src if rnd() < 0.7 else "online_banking"))
        # The client gets the number back at a branch a day or two later.
        w.add(make.profile_change(T + int(w.uniform(20, 60) * HOUR), c.cid, "phone", "branch"))
    device, ip, country = w.crook(c.country, foreign=0.2)
    if has_login:
        liveness = round(w.uniform(0.3, 0.75), 3) if c.country == "KZ" else None
        lt = T - int(w.uniform(2, 30) * MINUTE)
        isp = w.pick(ids.ISPS[c.country]) if country == c.country else "Hosting"
        os = w.pick(OS)[0]
        if rnd() < 0.3:
            w.add(make.login(lt - 90, c.cid, device, ip, isp, os, c.app, "password", False))
        w.add(make.login(lt, c.cid, device, ip, isp, os, c.app, "biometric" if liveness else "sms_otp", True,
                         liveness))
    else:
        device, ip, country = c.device, c.mobile_ip, c.country
    if has_sig:
        if rnd() < 0.5:
            w.add(make.device_signal(T - int(w.uniform(1, 15) * MINUTE), c.cid, c.device, "remote_access"))
        else:
            w.add(make.device_signal(T - int(w.uniform(0, 5) * MINUTE) - 10, c.cid, c.device, "active_call"))
    balance = max(c.balance, 30_000.0)  # RUB
    rail = "sbp" if rnd() < 0.6 else "card2card"
    to, cp, bank = _payee(w, c, rail)
    first = balance * w.uniform(0.5, 0.95)
    w.fraud(make.transfer(T, c.cid, "out", rail, w.money(c, first), c.cur, c.account, to, cp, "individual", bank,
                          False, device, ip, country, _infra(w) if rail == "sbp" else None), "courier_scam")
    if rnd() < 0.25:  # what is left, a few minutes later
        rest = (balance - first) * w.uniform(0.5, 0.95)
        if rnd() < 0.5:
            to, cp, bank = _payee(w, c, rail)
        w.fraud(make.transfer(T + int(w.uniform(5, 30) * MINUTE), c.cid, "out", rail, w.money(c, rest), c.cur,
                              c.account, to, cp, "individual", bank, False, device, ip, country), "courier_scam")
    c.balance = balance * 0.05


def sbp_pull_then_stranger(w: World, c: Customer, t: int) -> None:
    """ОД-2506 1.12: the client pulls more than 200,000 RUB from their own account at another bank by
    SBP ("to a safe account"), then within hours sends it to a person never paid before."""
    rnd = w.rnd
    start = t
    if rnd() < 0.7:
        _unknown_comms(w, c, t, "bank")
        start = t + int(w.uniform(10, 60) * MINUTE)
    rub = w.uniform(210_000, 900_000) if rnd() < 0.85 else w.uniform(120_000, 199_000)
    acc, bank = c.ext_accounts[int(rnd() * len(c.ext_accounts))]
    amount = w.money(c, round(rub, -2))
    w.add(make.transfer(start, c.cid, "in", "sbp", amount, c.cur, acc, c.account, c.phone, "individual", bank,
                        True))
    T = start + int(w.uniform(1, 20) * HOUR)
    r = rnd()
    rail = "sbp" if r < 0.5 else ("card2card" if r < 0.7 else "interbank")
    to, cp, pbank = _payee(w, c, rail)
    if rnd() < 0.4:
        w.add(make.device_signal(T - int(w.uniform(10, 240)), c.cid, c.device, "active_call"))
    parts = [1.0] if rnd() < 0.75 else [0.6, 0.4]
    share = w.uniform(0.8, 1.0)
    for i, part in enumerate(parts):
        w.fraud(make.transfer(T + i * int(w.uniform(3, 40) * MINUTE), c.cid, "out", rail,
                              round(amount * share * part, 2), c.cur, c.account, to, cp, "individual", pbank,
                              False, c.device, c.mobile_ip, c.country, _infra(w) if rail == "sbp" else None),
                "sbp_pull_then_stranger")


def regulator_db_hit(w: World, c: Customer, t: int) -> None:
    """ОД-2506 1.1: a recipient already in the regulator's database (added by another bank's report)
    is paid by our client days later."""
    rnd = w.rnd
    p = stranger(w.rng, c.country)
    lst = "kz_antifraud_center" if c.country == "KZ" else "cbr_fincert"
    by_phone = rnd() < 0.2
    expires = w.expires(t, w.uniform(180, 365)) if rnd() < 0.3 else None
    w.add(make.intel(t, "regulator", lst, "phone" if by_phone else "account",
                     p.counterparty_id if by_phone else p.account, "add", expires))
    latest = max(t + 3 * HOUR, w.end - 2 * HOUR)
    T = min(t + int(w.uniform(3 * HOUR, 6 * DAY)), latest)
    if rnd() < 0.6:
        _unknown_comms(w, c, T - int(w.uniform(0.5, 4) * HOUR) if T - 4 * HOUR > t else t + 60, "bank")
    rail = w.pick(["sbp", "sbp", "interbank", "card2card"]) if not by_phone else "sbp"
    to = ids.card_number(w.rng, c.country) if rail == "card2card" and not by_phone else p.account
    if rail == "card2card":
        # the regulator's record is the card itself in this case
        w.add(make.intel(t + 1, "regulator", lst, "card", to, "add", expires))
    w.fraud(make.transfer(T, c.cid, "out", rail, w.money(c, round(w.lognorm(60_000, 0.7), -2)), c.cur,
                          c.account, to, p.counterparty_id, "individual", p.bank, False, c.device, c.mobile_ip,
                          c.country, _infra(w) if rail == "sbp" else None), "regulator_db_hit")
