"""161-FZ art. 8 and the Kazakh block: a hold's life runs on event time and survives restarts."""

from helpers import Client, at, codes

from qalqan.config import from_env
from qalqan.engine import Engine


def _held(c: Client, **kw):
    c.inflow_self_sbp("300000", at(hours=-2))
    d = c.transfer(rail="interbank", **kw)  # ОД-2506 1.12 → suspended
    assert d.action == "hold" and d.hold.kind.startswith("161fz_art8")
    return d


def _outbox(c: Client) -> list[tuple[str, str]]:
    c.engine.commit()
    return [(r[3], r[4]) for r in c.engine.record.outbox()]


def test_no_confirmation_by_the_end_of_the_next_day_rejects():
    c = Client()
    d = _held(c)
    assert d.hold.confirm_by == "2026-03-11T23:59:59Z" and d.hold.until == "2026-03-12T12:00:00Z"
    c.send("login", "2026-03-11T23:59:59Z", device_id="d", success=True)
    assert c.engine.holds.holds[d.event_id].status == "pending"  # the deadline itself is still in time
    c.send("login", "2026-03-12T00:00:00Z", device_id="d", success=True)
    assert c.engine.holds.holds[d.event_id].status == "rejected"
    assert [k for _, k in [(e, k) for e, k in _outbox(c)]] == ["hold_started", "hold_rejected"]


def test_confirmation_executes():
    c = Client()
    d = _held(c)
    c.engine.answer_hold(d.event_id, "confirm", ts=at(hours=3))
    assert c.engine.holds.holds[d.event_id].status == "released"
    assert ("hold_released", d.event_id) in [(k, e) for e, k in _outbox(c)]


def test_recipient_in_fincert_after_confirmation_starts_a_cooling_off():
    c = Client()
    d = _held(c, to_account="40817810000000000888")
    c.intel("cbr_fincert", "account", "40817810000000000888", ts=at(hours=1))
    c.engine.answer_hold(d.event_id, "confirm", ts=at(hours=3))
    h = c.engine.holds.holds[d.event_id]
    assert h.status == "cooling_off"
    c.send("login", at(hours=3, days=2, seconds=1), device_id="d", success=True)
    assert h.status == "released"


def test_repeating_the_order_confirms_it():
    c = Client()
    d = _held(c)
    again = c.transfer(at(hours=1), rail="interbank")  # the same recipient and amount
    assert again.action == "approve" and any(r.code == "art8.repeat" for r in again.reasons)
    assert c.engine.holds.holds[d.event_id].status == "replaced"


def test_repeat_through_the_engine_command_to_a_listed_recipient_cools_off():
    c = Client()
    d = _held(c, to_account="40817810000000000889")
    c.intel("cbr_fincert", "account", "40817810000000000889", ts=at(minutes=30))
    out = c.engine.repeat_hold(d.event_id, ts=at(hours=1))
    assert out.decision.action == "hold" and out.decision.hold.kind == "161fz_art8_cooling_off"
    assert out.decision.hold.until == "2026-03-12T13:00:00Z"


def test_trusted_person_has_12_hours_and_the_client_cannot_answer_for_them():
    c = Client()
    c.send("profile_change", at(days=-30), field="trusted_person", source="branch")
    d = _held(c)
    assert d.hold.kind == "161fz_art8_trusted" and d.hold.confirm_by == "2026-03-11T00:00:00Z"
    c.engine.answer_hold(d.event_id, "confirm", by="client", ts=at(hours=1))
    assert c.engine.holds.holds[d.event_id].status == "asked_trusted"
    c.send("login", at(hours=12, seconds=1), device_id="d", success=True)
    assert c.engine.holds.holds[d.event_id].status == "rejected"

    c2 = Client()
    c2.send("profile_change", at(days=-30), field="trusted_person", source="branch")
    d2 = _held(c2)
    c2.engine.answer_hold(d2.event_id, "confirm", by="trusted_person", ts=at(hours=11))
    assert c2.engine.holds.holds[d2.event_id].status == "released"


def test_kazakh_block_lasts_5_working_days_then_releases():
    c = Client()  # a Russian client (the default organisation's jurisdiction): art. 8, no kz pack
    c.send("device_signal", at(minutes=-5), kind="active_call")
    d = c.transfer(currency="KZT", amount="20000", to_account="KZ01", counterparty_id="C9")  # a Tuesday
    assert "ato.call_in_progress" in codes(d) and "kz.active_call" not in codes(d) and d.hold.kind == "161fz_art8"
    # A Kazakh client, every pack loaded: the kz pack's hold is the block (tests/rules/test_jurisdiction.py).
    only_kz = Client(jurisdiction="KZ")
    only_kz.send("device_signal", at(minutes=-5), kind="active_call")
    k = only_kz.transfer(currency="KZT", amount="20000", to_account="KZ01", counterparty_id="C9")
    assert k.hold.kind == "kz_block" and k.hold.until == "2026-03-17T12:00:00Z"  # Tue + 5 working days
    only_kz.send("login", "2026-03-17T12:00:01Z", device_id="d", success=True)
    assert only_kz.engine.holds.holds[k.event_id].status == "released"


def test_holds_survive_a_restart(setup_db: str):
    settings = from_env(db_url=setup_db)
    e = Engine(settings)
    c = Client()
    c.engine = e
    d = _held(c)
    e.close()
    e2 = Engine(settings)
    assert e2.holds.holds[d.event_id].status == "pending"
    e2.answer_hold(d.event_id, "confirm", ts=at(hours=2))
    assert e2.holds.holds[d.event_id].status == "released"
    e2.close()
