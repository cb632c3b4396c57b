"""Policy by jurisdiction (issue 17 part 2): one deployment serving a Russian and a Kazakh bank.

A Kazakh client's transfer during an active call gets the Anti-Fraud Center's block of up to 5
working days on Kazakhstan's calendar (holidays as data), never 161-FZ art. 8; a Russian client's
the art. 8 hold. Only the packs of the client's jurisdiction run. A Kazakh client's login, password
change and phone-number change are told to the client (ARDFM) through the outbox; a Russian one's not.
"""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import msgspec
import pytest
from helpers import at, codes

from qalqan.config import ConfigError, from_env
from qalqan.engine import Engine
from qalqan.events import Decision
from qalqan.jurisdiction import WorkingCalendar, calendar
from qalqan.rules.ruleset import RuleError, load_packs

RU, KZ = "bank-ru", "bank-kz"
_ids = itertools.count(1)


@pytest.fixture
def deployment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Engine:
    """One engine, two organisations: their jurisdictions from QALQAN_JURISDICTIONS."""
    orgs = tmp_path / "jurisdictions.yaml"
    orgs.write_text(f"{RU}: RU\n{KZ}: KZ\n")
    monkeypatch.setenv("QALQAN_JURISDICTIONS", str(orgs))
    engine = Engine(from_env(db_url="sqlite:///:memory:", home=tmp_path / "home"))
    yield engine
    engine.record.close()


def send(engine: Engine, org: str, type: str, ts: str | None = None, customer: str = "C1",
         **fields: Any) -> Decision | None:
    body = {"type": type, "event_id": f"j-{next(_ids)}", "ts": ts or at(), "customer_id": customer, **fields}
    return engine.decide(msgspec.json.encode(body), org=org).decision


def transfer(engine: Engine, org: str, ts: str | None = None, **kw: Any) -> Decision:
    base = dict(direction="out", rail="interbank", amount="20000", currency="RUB",
                from_account="40817810000000000001", to_account="40817810000000000777", counterparty_id="C777")
    base.update(kw)
    d = send(engine, org, "transfer", ts, **base)
    assert d is not None
    return d


def kzt_transfer(engine: Engine, org: str = KZ, ts: str | None = None, **kw: Any) -> Decision:
    return transfer(engine, org, ts, currency="KZT", amount="200000", from_account="KZ86125KZT5004100100",
                    to_account="KZ12345KZT0000000001", **kw)


def during_a_call(engine: Engine, org: str, ts: str | None = None) -> None:
    send(engine, org, "device_signal", ts or at(minutes=-5), kind="active_call")


def outbox(engine: Engine, org: str) -> list[tuple[str, str]]:
    engine.commit()
    return [(row[4], row[5]) for row in engine.record.outbox(org=org)]


# --- packs and holds follow the client's jurisdiction -------------------------------------------------

def test_a_kazakh_clients_call_transfer_gets_the_kz_block_a_russian_clients_the_art8_hold(deployment: Engine):
    e = deployment
    during_a_call(e, KZ)
    kz = kzt_transfer(e, KZ)  # Tuesday 2026-03-10 12:00Z
    assert kz.action == "hold" and kz.hold is not None
    assert kz.hold.kind == "kz_block" and kz.hold.until == "2026-03-17T12:00:00Z"  # 5 working days
    assert "kz.active_call" in codes(kz)
    assert not any(c.startswith(("od2506.", "od1765.")) or c == "ato.call_in_progress" for c in codes(kz))

    during_a_call(e, RU)
    ru = transfer(e, RU)
    assert ru.action == "hold" and ru.hold is not None and ru.hold.kind == "161fz_art8"
    assert ru.hold.until == "2026-03-12T12:00:00Z"  # suspended 2 days, confirmed by the end of the next
    assert "ato.call_in_progress" in codes(ru)
    assert not any(c.startswith("kz.") for c in codes(ru))

    # The book keeps each as its kind: the Kazakh block is not confirmed by repeating the order.
    assert e.holds.of(kz.event_id, KZ).kind == "kz" and e.holds.of(ru.event_id, RU).kind == "art8"
    assert [k for k, _ in outbox(e, KZ)] == ["hold_started"]
    assert "up to 5 working days" in outbox(e, KZ)[0][1]


def test_only_the_packs_of_the_clients_jurisdiction_run(deployment: Engine):
    """A FinCERT recipient is an ОД-2506 sign for a Russian client only; the Anti-Fraud Center's
    list is the Kazakh client's only."""
    e = deployment
    for org in (RU, KZ):
        for lst in ("cbr_fincert", "kz_antifraud_center"):
            send(e, org, "intel", at(days=-1), customer="regulator", list=lst, entity="account",
                 value="40817810000000000666", op="add")
    ru = transfer(e, RU, to_account="40817810000000000666")
    kz = transfer(e, KZ, to_account="40817810000000000666")
    assert "od2506.1.1" in codes(ru) and "kz.antifraud_center" not in codes(ru)
    assert "kz.antifraud_center" in codes(kz) and "od2506.1.1" not in codes(kz)
    assert kz.action == "decline"


def test_the_clients_own_jurisdiction_wins_over_the_banks(deployment: Engine):
    """A bank serving both: its core names the client's jurisdiction on the event."""
    e = deployment
    send(e, RU, "device_signal", at(minutes=-5), customer="K1", kind="active_call")
    d = transfer(e, RU, customer="K1", jurisdiction="KZ", currency="KZT", amount="200000")
    assert d.hold is not None and d.hold.kind == "kz_block" and "kz.active_call" in codes(d)
    send(e, KZ, "device_signal", at(minutes=-5), customer="R1", kind="active_call")
    r = transfer(e, KZ, customer="R1", jurisdiction="RU")
    assert r.hold is not None and r.hold.kind == "161fz_art8" and "ato.call_in_progress" in codes(r)


def test_an_unnamed_organisation_is_russian():
    e = Engine(from_env(db_url="sqlite:///:memory:"))
    assert e.settings.jurisdictions == {} and e.jurisdiction({}, "default") == "RU"
    send(e, "default", "device_signal", at(minutes=-5), kind="active_call")
    d = transfer(e, "default")
    assert d.hold is not None and d.hold.kind == "161fz_art8" and not any(c.startswith("kz.") for c in codes(d))
    e.record.close()


# --- the Kazakh calendar --------------------------------------------------------------------------------

def test_the_kz_block_skips_weekends_and_the_listed_holidays(deployment: Engine):
    """Thursday 19 March 2026: Friday 20th is the 1st working day; 21–23 Nauryz (21–22 a weekend), the
    24th and 25th days off moved from it; then 26, 27, 30, 31 March. Without the holidays: the 26th."""
    e = deployment
    during_a_call(e, KZ, "2026-03-19T11:55:00Z")
    d = kzt_transfer(e, KZ, "2026-03-19T12:00:00Z")
    assert d.hold is not None and d.hold.kind == "kz_block" and d.hold.until == "2026-03-31T12:00:00Z"
    send(e, KZ, "login", "2026-03-31T11:59:00Z", device_id="d", success=True)
    assert e.holds.of(d.event_id, KZ).status == "pending"  # still blocked on the 26th, a working day
    send(e, KZ, "login", "2026-03-31T12:00:01Z", device_id="d", success=True)
    assert e.holds.of(d.event_id, KZ).status == "released"


def test_the_calendar_counts_on_kazakh_dates():
    kz = calendar("KZ")
    assert date(2026, 3, 23) in kz.holidays and date(2026, 12, 16) in kz.holidays
    assert not kz.is_working(date(2026, 3, 9))  # 8 March was a Sunday: the Monday is off
    assert kz.is_working(date(2026, 3, 10))

    def us(s: str) -> int:
        return int(datetime.fromisoformat(s).timestamp() * 1_000_000)

    def after(s: str) -> str:
        return datetime.fromtimestamp(kz.add_working_days(us(s), 5) / 1e6, tz=UTC).isoformat()

    assert after("2026-03-13T10:00:00+00:00") == "2026-03-20T10:00:00+00:00"  # Friday → Friday, over a weekend
    # 20:00Z on 31 December is 01:00 on 1 January in Almaty: counted from 1 January (2, 4 Jan off, 7 Jan off).
    assert after("2026-12-31T20:00:00+00:00") == "2027-01-11T20:00:00+00:00"
    plain = WorkingCalendar("plain", kz.offset, kz.weekend, frozenset())
    assert datetime.fromtimestamp(plain.add_working_days(us("2026-03-19T12:00:00+00:00"), 5) / 1e6,
                                  tz=UTC).isoformat() == "2026-03-26T12:00:00+00:00"


# --- ARDFM notices --------------------------------------------------------------------------------------

def test_a_kazakh_login_password_and_phone_change_are_told_to_the_client(deployment: Engine):
    e = deployment
    send(e, KZ, "login", at(minutes=-3), device_id="d1", success=True)
    send(e, KZ, "login", at(minutes=-2), device_id="d1", success=False)  # an attempt is no login
    send(e, KZ, "profile_change", at(minutes=-1), field="password")
    send(e, KZ, "profile_change", at(), field="phone", source="online_banking")
    send(e, KZ, "profile_change", at(minutes=1), field="email")
    kinds = [k for k, _ in outbox(e, KZ)]
    assert kinds == ["ardfm.login", "ardfm.password_change", "ardfm.phone_change"]
    assert "2026-03-10T11:57:00Z" in outbox(e, KZ)[0][1]

    send(e, RU, "login", at(minutes=-3), device_id="d1", success=True)
    send(e, RU, "profile_change", at(), field="phone")
    assert outbox(e, RU) == []
    send(e, RU, "login", at(minutes=2), customer="K1", device_id="d9", success=True, jurisdiction="KZ")
    assert [k for k, _ in outbox(e, RU)] == ["ardfm.login"]  # the client's own jurisdiction


def test_a_restart_keeps_the_kz_block_and_sends_no_notice_twice(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    orgs = tmp_path / "j.yaml"
    orgs.write_text(f"{KZ}: KZ\n")
    monkeypatch.setenv("QALQAN_JURISDICTIONS", str(orgs))
    db = f"sqlite:///{tmp_path / 'r.db'}"
    e = Engine(from_env(db_url=db, home=tmp_path / "home"))
    send(e, KZ, "login", at(minutes=-6), device_id="d1", success=True)
    during_a_call(e, KZ)
    d = kzt_transfer(e, KZ)
    e.close()
    again = Engine(from_env(db_url=db, home=tmp_path / "home"))
    assert again.holds.of(d.event_id, KZ).kind == "kz"
    assert [k for k, _ in outbox(again, KZ)] == ["ardfm.login", "hold_started"]
    again.record.close()


# --- settings and packs ---------------------------------------------------------------------------------

@pytest.mark.parametrize("text, why", [
    ("bank-kz: FR\n", "'FR' is not one of"),
    ("- bank-kz\n", "must map each organisation"),
    ("bank-kz: [KZ\n", "cannot read"),
])
def test_a_bad_jurisdictions_file_is_refused_naming_the_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                text: str, why: str):
    bad = tmp_path / "j.yaml"
    bad.write_text(text)
    monkeypatch.setenv("QALQAN_JURISDICTIONS", str(bad))
    with pytest.raises(ConfigError) as refused:
        from_env(db_url="sqlite:///:memory:", home=tmp_path / "home")
    assert "QALQAN_JURISDICTIONS" in str(refused.value) and why in str(refused.value)
    monkeypatch.setenv("QALQAN_JURISDICTIONS", str(tmp_path / "missing.yaml"))
    with pytest.raises(ConfigError, match="QALQAN_JURISDICTIONS: cannot read"):
        from_env(db_url="sqlite:///:memory:", home=tmp_path / "home")


def test_the_packs_declare_their_jurisdictions(tmp_path: Path):
    e = Engine(from_env(db_url="sqlite:///:memory:"))
    by_pack = {r.code.split(".")[0]: r.jurisdictions for r in e.rules.rules if r.code != "ato.call_in_progress"}
    assert by_pack["od2506"] == by_pack["od1765"] == frozenset({"RU"}) and by_pack["kz"] == frozenset({"KZ"})
    assert by_pack["cnp"] is None and by_pack["mules"] is None
    assert next(r for r in e.rules.rules if r.code == "ato.call_in_progress").jurisdictions == frozenset({"RU"})
    e.record.close()
    pack = tmp_path / "x.yaml"
    pack.write_text("pack: x\njurisdictions: [FR]\nrules:\n  - id: a\n    when: \"amount_base > 1\"\n"
                    "    action: review\n")
    with pytest.raises(RuleError, match="jurisdictions"):
        load_packs(["x"], {"amount_base"}, tmp_path)
    pack.write_text("pack: x\njurisdictions: [KZ]\nrules:\n  - id: a\n    when: \"amount_base > 1\"\n"
                    "    action: review\n    jurisdictions: [RU]\n")
    with pytest.raises(RuleError, match="outside the pack"):
        load_packs(["x"], {"amount_base"}, tmp_path)


def test_an_event_naming_another_jurisdiction_is_refused_naming_the_field(deployment: Engine):
    from qalqan.events import EventError

    with pytest.raises(EventError, match="jurisdiction"):
        send(deployment, KZ, "login", at(), device_id="d1", success=True, jurisdiction="FR")
    assert outbox(deployment, KZ) == []
