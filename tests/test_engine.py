"""The decision path through ``Engine`` on both records: idempotency, lists, state, restart."""

import msgspec
import pytest

from conftest import ev, transfer
from qalqan.config import from_env
from qalqan.engine import Engine
from qalqan.events import EventConflict, EventError


@pytest.fixture
def engine(setup_db):
    e = Engine(from_env(db_url=setup_db))
    yield e
    e.close()


def test_money_movement_gets_a_decision_and_context_none(engine):
    o = engine.decide(transfer())
    assert o.decision is not None and o.decision.action == "approve"
    assert set(o.decision.versions) == {"rules", "model", "features"}
    assert engine.decide(ev("login", device_id="d1", success=True)).decision is None


def test_same_event_id_twice_is_one_event(engine):
    first = engine.decide(transfer(event_id="dup-1"))
    engine.commit()
    again = engine.decide(transfer(event_id="dup-1"))
    assert again.duplicate and again.decision_json == first.decision_json
    engine.commit()
    assert engine.record.count() == 1


@pytest.mark.parametrize("before_commit", [True, False])
def test_same_event_id_with_another_body_or_type_is_a_conflict(engine, before_commit):
    """Idempotency by content: an id names one event; a retry that changes the amount or the recipient
    (or reuses a transfer's id for a login) is refused with 409, and nothing of it is kept."""
    first = engine.decide(transfer(event_id="dup-c", amount="25000"))
    if not before_commit:
        engine.commit()
    for other in (transfer(event_id="dup-c", amount="9999999"), transfer(event_id="dup-c", to_account="40817810999"),
                  ev("login", event_id="dup-c", device_id="d1", success=True)):
        with pytest.raises(EventConflict) as refused:
            engine.decide(other)
        assert refused.value.status == 409 and refused.value.field == "event_id"
    same = engine.decide(transfer(event_id="dup-c", amount="25000.00"))  # the same amount, written otherwise
    assert same.duplicate and same.decision_json == first.decision_json
    engine.commit()
    assert engine.record.count() == 1


def test_an_old_id_sent_again_with_a_new_time_gets_its_first_decision(setup_db):
    """The in-memory horizon (2 days of event time) cannot know an id whose first copy is older;
    a client that sends it again with a new time must not make the record refuse a whole group,
    again and again: the first try fails with nothing stored, every later one is a duplicate."""
    from qalqan.store.base import DuplicateEvents

    e = Engine(from_env(db_url=setup_db))
    first = e.decide(transfer(event_id="old-1", ts="2026-02-02T10:00:00Z"))
    e.decide(transfer(ts="2026-02-06T10:00:00Z"))  # four days later: old-1 leaves the horizon
    e.close()
    e = Engine(from_env(db_url=setup_db))
    e.decide(transfer(event_id="fresh-1", ts="2026-02-06T11:00:00Z"))
    retry = e.decide(transfer(event_id="old-1", ts="2026-02-06T11:05:00Z", amount="5000.00"))
    assert not retry.duplicate  # judged new from memory: only the record knows better
    with pytest.raises(DuplicateEvents) as refused:
        e.commit()
    assert refused.value.ids == [("default", "old-1")]
    assert e.record.count() == 2  # nothing of the group was stored
    fresh = e.decide(transfer(event_id="fresh-1", ts="2026-02-06T11:00:00Z"))
    with pytest.raises(EventConflict):  # now known: another time and amount are another event (409)
        e.decide(transfer(event_id="old-1", ts="2026-02-06T11:05:00Z", amount="5000.00"))
    again = e.decide(transfer(event_id="old-1", ts="2026-02-02T10:00:00Z"))  # the same event, sent again
    assert not fresh.duplicate and again.duplicate and again.decision_json == first.decision_json
    e.commit()
    assert e.record.count() == 3
    e.close()


def test_duplicate_is_recognised_after_restart(setup_db):
    e = Engine(from_env(db_url=setup_db))
    first = e.decide(transfer(event_id="dup-2"))
    e.close()
    e = Engine(from_env(db_url=setup_db))
    again = e.decide(transfer(event_id="dup-2"))
    assert again.duplicate and again.decision_json == first.decision_json
    e.close()


def test_rejected_event_stores_nothing(engine):
    with pytest.raises(EventError):
        engine.decide(transfer(amount="lots"))
    engine.commit()
    assert engine.record.count() == 0


def test_od2506_1_12_hold_and_decline_by_rail(engine):
    engine.decide(transfer(direction="in", rail="sbp", self_transfer=True, amount="250000.01",
                           ts="2026-02-02T08:00:00Z"))
    sbp = engine.decide(transfer(rail="sbp", ts="2026-02-02T10:00:00Z", counterparty_id="C7", to_account="A7"))
    other = engine.decide(transfer(rail="interbank", ts="2026-02-02T10:00:00Z", counterparty_id="C8", to_account="A8"))
    assert sbp.decision.action == "decline" and sbp.decision.reasons[0].code == "od2506.1.12"
    assert other.decision.action == "hold"
    assert other.decision.hold.until == "2026-02-04T10:00:00Z"
    assert other.decision.hold.confirm_by == "2026-02-03T23:59:59Z"
    # A recipient paid before is no stranger.
    engine.decide(transfer(rail="interbank", ts="2026-01-02T10:00:00Z", counterparty_id="C9", to_account="A9"))
    known = engine.decide(transfer(rail="interbank", ts="2026-02-02T10:00:01Z", counterparty_id="C9", to_account="A9"))
    assert known.decision.action == "approve"


def test_intel_list_with_expiry_on_event_time(engine):
    engine.decide(ev("intel", customer_id="regulator", list="cbr_fincert", entity="account",
                     value="40817810000000000666", op="add", expires_at="2026-03-01T00:00:00Z",
                     ts="2026-02-01T00:00:00Z"))
    hit = engine.decide(transfer(to_account="40817810000000000666", ts="2026-02-10T00:00:00Z"))
    assert hit.decision.action == "hold"
    assert [r.code for r in hit.decision.reasons] == ["od2506.1.1"]
    late = engine.decide(transfer(to_account="40817810000000000666", ts="2026-03-01T00:00:00Z"))
    assert late.decision.action == "approve"
    engine.decide(ev("intel", customer_id="regulator", list="internal", entity="account",
                     value="40817810000000000777", op="add", ts="2026-02-01T00:00:00Z"))
    engine.decide(ev("intel", customer_id="regulator", list="internal", entity="account",
                     value="40817810000000000777", op="remove", ts="2026-02-05T00:00:00Z"))
    removed = engine.decide(transfer(to_account="40817810000000000777", ts="2026-02-10T00:00:00Z"))
    assert removed.decision.action == "approve"


def test_windows_run_on_event_time_and_state_survives_restart(db_url):
    settings = from_env(db_url=db_url)
    e = Engine(settings)
    e.decide(transfer(direction="in", rail="sbp", self_transfer=True, amount="300000",
                      ts="2026-02-02T08:00:00Z"))
    e.close()
    e = Engine(settings, snapshot_every=10**9)
    assert e.restored == 0  # a clean close left a snapshot
    o = e.decide(transfer(rail="interbank", ts="2026-02-03T07:59:59Z", counterparty_id="C5", to_account="A5"))
    assert o.decision.action == "hold"
    e.commit()  # committed but no snapshot: the next start folds this event from the record
    e.record.close()
    e = Engine(settings)
    assert e.restored == 1
    later = e.decide(transfer(rail="interbank", ts="2026-02-03T08:00:01Z", counterparty_id="C6", to_account="A6"))
    assert later.decision.action == "approve"  # the inflow is older than 24 h now
    e.close()


def test_decision_json_matches_the_contract(engine):
    o = engine.decide(transfer(rail="sbp"))
    doc = msgspec.json.decode(o.decision_json)
    assert {"event_id", "action", "score", "reasons", "versions", "latency_ms"} <= set(doc)
