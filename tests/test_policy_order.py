"""The strictest action wins, over every pair of actions; the allow-list branch of the policy.

approve < challenge < review < hold < decline (docs/events.md, policy.py). A test that only shows
"anything beats approve" survives a swap of hold and decline or of challenge and review in the
order; these tests take every pair, in both orders, so any swap of two actions fails one of them.
"""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

import msgspec
import pytest

from qalqan.events import EventError, Reason
from qalqan.policy import ACTIONS, REGULATOR_CODES, ModelPolicy, decide_action, is_allowed, strictest

sys.path.insert(0, str(Path(__file__).parent / "rules"))
from helpers import Client, at, codes  # noqa: E402  (tests/rules/helpers.py: a client against a fresh engine)

ORDER = ["approve", "challenge", "review", "hold", "decline"]  # mildest first, as the contract says
PAIRS = list(itertools.combinations(ORDER, 2))  # (milder, stricter): all 10 pairs
assert len(PAIRS) == 10
NO_MODEL = ModelPolicy(review_at=2.0, decline_at=3.0)  # a score never reaches it: the rules alone decide


def _reason(code: str, action: str) -> Reason:
    return Reason(code=code, source="rule", action=action)


def test_the_order_is_the_contracts():
    assert list(ACTIONS) == ORDER


@pytest.mark.parametrize("first_stricter", [False, True], ids=["milder-first", "stricter-first"])
@pytest.mark.parametrize("milder, stricter", PAIRS, ids=[f"{a}<{b}" for a, b in PAIRS])
def test_the_stricter_of_two_actions_wins(milder, stricter, first_stricter):
    reasons = [_reason("a.milder", milder), _reason("b.stricter", stricter)]
    if first_stricter:
        reasons.reverse()
    action, out = decide_action(list(reasons), 0.0, False, NO_MODEL)
    assert action == stricter
    assert strictest(reasons) == stricter
    assert [r.code for r in out] == [r.code for r in reasons]  # nothing added, nothing dropped


@pytest.mark.parametrize("milder, stricter", PAIRS, ids=[f"{a}<{b}" for a, b in PAIRS])
def test_the_stricter_wins_among_many_reasons(milder, stricter):
    """Mildest noise around the pair (notifications with no action, approve) changes nothing."""
    reasons = [Reason(code="note", source="rule"), _reason("x", milder), _reason("n", "approve"),
               _reason("y", stricter), _reason("z", milder)]
    assert decide_action(reasons, 0.0, False, NO_MODEL)[0] == stricter


@pytest.mark.parametrize("rule_action", ORDER)
@pytest.mark.parametrize("score, model_action", [(0.97, "decline"), (0.8, "review"), (0.79, None)])
def test_a_models_score_joins_the_reasons_and_the_stricter_wins(rule_action, score, model_action):
    action, reasons = decide_action([_reason("r", rule_action)], score, False, ModelPolicy())
    expected = rule_action if model_action is None else max(rule_action, model_action, key=ORDER.index)
    assert action == expected
    assert ("model.score" in {r.code for r in reasons}) is (model_action is not None)


# --- the allow list ----------------------------------------------------------------------------

def test_allowed_means_an_allow_entry_in_the_recipients_or_the_customers_lists():
    assert is_allowed(frozenset({"allow"}), frozenset())
    assert is_allowed(frozenset(), frozenset({"internal", "allow"}))
    assert not is_allowed(frozenset({"cbr_fincert", "internal"}), frozenset({"consortium"}))


@pytest.mark.parametrize("rule_action", ORDER[1:])
def test_allow_softens_the_engines_own_judgement(rule_action):
    action, reasons = decide_action([_reason("cnp.step_up", rule_action)], 0.99, True, ModelPolicy())
    assert action == "approve"  # neither a rule nor the model's decline binds an allow-listed event
    assert "list.allow" in {r.code for r in reasons}


@pytest.mark.parametrize("code", sorted(REGULATOR_CODES))
@pytest.mark.parametrize("db_action", ["hold", "decline"])
def test_allow_never_overrides_a_regulators_database_hit(code, db_action):
    reasons = [_reason("cnp.step_up", "challenge"), _reason(code, db_action)]
    assert decide_action(reasons, 0.0, True, NO_MODEL)[0] == db_action


# --- end to end: two rules of the live packs on one event ------------------------------------------

def test_review_beats_challenge_on_one_payment():
    """cnp.new_device_large (review) and cnp.step_up (challenge) both hit a large card-not-present
    payment from a device first seen minutes ago: the decision is review."""
    c = Client()
    c.send("login", at(minutes=-10), device_id="d-new", success=True)
    d = c.payment(channel="ecom", amount="40000", auth_method="none", device_id="d-new")
    assert {"cnp.step_up", "cnp.new_device_large"} <= codes(d)
    assert d.action == "review"


def test_decline_beats_hold_on_one_transfer():
    """A Kazakh client's transfer during an active call is blocked (hold); remote access declines it."""
    c = Client(jurisdiction="KZ")
    c.send("device_signal", at(minutes=-5), kind="active_call")
    c.send("device_signal", at(hours=-1), kind="remote_access")
    d = c.transfer(rail="interbank", to_account="40817810000000000666")
    assert {"kz.active_call", "kz.remote_access"} <= codes(d)
    assert d.action == "decline"


# --- the allow list: reachable through people, never through a client's events -----------------------

def test_a_clients_event_cannot_put_an_entry_on_the_allow_list():
    """An allow entry softens the engine's own judgement: if an integrator's event stream could write
    one, a stolen integrator key would whitelist a mule. So `list: allow` in an event a client sends
    is refused naming `list`, and nothing of it is stored."""
    from qalqan.config import from_env
    from qalqan.engine import Engine

    e = Engine(from_env(db_url="sqlite:///:memory:"))
    body = {"type": "intel", "event_id": "allow-1", "ts": "2026-02-01T00:00:00Z", "customer_id": "analyst",
            "list": "allow", "entity": "customer", "value": "C1", "op": "add"}
    with pytest.raises(EventError) as refused:
        e.decide(msgspec.json.encode(body))
    assert refused.value.field == "list"
    e.commit()
    assert e.record.count() == 0 and len(e.lists) == 0
    e.record.close()


def test_an_analyst_puts_an_entry_on_the_allow_list_through_the_list_api():
    """The people's way in (list_changes.change, behind POST /v1/lists/allow and the console) does."""
    from qalqan import list_changes
    from qalqan.audit import Actor

    assert "allow" in list_changes.LISTS
    c = Client()
    list_changes.change(c.engine, Actor(id="a1", role="analyst", org="default"), "allow", "customer", "C1",
                        ts="2026-02-02T09:00:00Z")
    token = c.engine.tokenizer.token("C1")
    assert "allow" in c.engine.lists.lists_of("customer", token, 0)


def test_an_allow_entry_in_the_engines_lists_softens_rules_but_not_a_database_hit():
    """The branch as designed, end to end: an analyst's allow entry (the list API's way in) softens
    a rule's action for that customer, and a regulator's database hit still keeps its action."""
    from qalqan import list_changes
    from qalqan.audit import Actor

    c = Client()
    list_changes.change(c.engine, Actor(id="a1", role="analyst", org="default"), "allow", "customer", "C1",
                        ts="2026-02-02T09:00:00Z")
    c.send("device_signal", at(minutes=-10), kind="remote_access")
    ruled = c.transfer(rail="interbank")
    assert "ato.call_in_progress" in codes(ruled)  # the rule still hits and is shown ...
    assert ruled.action == "approve"  # ... but the allow entry softens the engine's own judgement
    assert "list.allow" in {r.code for r in ruled.reasons}
    c.intel("cbr_fincert", "account", "40817810000000000666")
    db_hit = c.transfer(rail="interbank", to_account="40817810000000000666")
    assert "od2506.1.1" in codes(db_hit)
    assert db_hit.action == "hold"  # a regulator's database hit keeps its action
