"""policy.py: what the pair-order tests (tests/test_policy_order.py) leave open, found by mutation
testing (docs/mutation.md): a reason without a known action, an empty list of reasons, and the exact
reasons the policy adds itself (the model's score, the allow entry), which a decision shows to the
analyst and stores in its receipt.
"""

from __future__ import annotations

import pytest

from qalqan.events import Reason
from qalqan.policy import ModelPolicy, decide_action, strictest

NO_MODEL = ModelPolicy(review_at=2.0, decline_at=3.0)  # a score never reaches it


def _reason(code: str, action: str | None) -> Reason:
    return Reason(code=code, source="rule", action=action)


def test_no_reasons_approve():
    assert strictest([]) == "approve"
    assert decide_action([], 0.0, False, NO_MODEL) == ("approve", [])


def test_reasons_without_an_action_approve():
    assert strictest([_reason("note.a", None), _reason("note.b", None)]) == "approve"


@pytest.mark.parametrize("known", ["approve", "challenge", "review", "hold", "decline"])
def test_an_action_the_policy_does_not_know_counts_as_approve_and_never_raises(known):
    """A rule pack's typo ("escalate") must neither crash the decision nor become the decision:
    it ranks with approve, so any known action beats it, and alone it approves."""
    assert strictest([_reason("typo", "escalate")]) == "approve"
    assert strictest([_reason("typo", "escalate"), _reason("r", known)]) == known
    assert strictest([_reason("r", known), _reason("typo", "escalate")]) == known


def test_the_first_of_equally_strict_reasons_gives_the_action():
    assert strictest([_reason("a", "approve"), _reason("b", None), _reason("c", "approve")]) == "approve"


@pytest.mark.parametrize("score, action", [(0.97, "decline"), (0.971234, "decline"), (0.8, "review"),
                                           (0.85678, "review")])
def test_the_models_reason_is_the_score_rounded_to_4_places_with_its_source(score, action):
    got, reasons = decide_action([], score, False, ModelPolicy())
    assert got == action
    assert reasons == [Reason(code="model.score", source="model", action=action, weight=round(score, 4))]
    assert reasons[0].weight == float(f"{score:.4f}")


def test_a_score_under_review_at_adds_no_reason():
    assert decide_action([], 0.7999, False, ModelPolicy()) == ("approve", [])


def test_the_allow_entrys_reason_says_only_regulator_hits_apply():
    rule = _reason("cnp.step_up", "challenge")
    action, reasons = decide_action([rule], 0.0, True, NO_MODEL)
    assert action == "approve"
    assert reasons == [rule, Reason(code="list.allow", source="list", text="allow-listed: only regulator hits apply")]


def test_allow_with_a_model_decline_keeps_the_models_reason_but_approves():
    action, reasons = decide_action([], 0.99, True, ModelPolicy())
    assert action == "approve"
    assert [r.code for r in reasons] == ["model.score", "list.allow"]
