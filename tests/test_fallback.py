"""A model that raises never fails a decision: the decision takes its channel's fallback
(fallbacks.py) — fail open up to an amount, fail closed above it or always — combined with the
rules by "the strictest wins", and says so (``fallback``: stage, cause, action), as do the metrics.
A bad fallback file is refused naming the setting, the file and the key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import pytest

from conftest import ev, payment, transfer
from qalqan.api.metrics import Metrics
from qalqan.config import ConfigError, from_env
from qalqan.engine import Engine
from qalqan.events import Decision, Reason
from qalqan.fallbacks import FallbackPolicy, channel_of


class Broken:
    version = "broken-1"
    features: frozenset[str] | None = frozenset()

    def __init__(self) -> None:
        self.calls = 0

    def score_one(self, features: dict[str, Any]) -> tuple[float, list[Reason]]:
        self.calls += 1
        raise OverflowError("math range error")


def _engine(tmp_path: Path, model: Any = None) -> Engine:
    return Engine(from_env(db_url=f"sqlite:///{tmp_path / 'r.db'}"), model=model)


def _decided(e: Engine, raw: bytes) -> dict[str, Any]:
    return msgspec.json.decode(e.decide(raw).decision_json)


def test_a_model_that_raises_takes_the_channel_fallback(tmp_path: Path) -> None:
    model = Broken()
    e = _engine(tmp_path, model)
    e.decide(ev("intel", customer_id="regulator", list="cbr_fincert", entity="account",
                value="40817810000000000444", op="add"))
    listed = _decided(e, transfer(event_id="t-listed", to_account="40817810000000000444"))
    plain = _decided(e, transfer(event_id="t-plain"))
    assert model.calls == 2
    cause = "raised: OverflowError: math range error"
    # The rules still hold the listed recipient's transfer: a hold is stricter than the transfer's review.
    assert listed["action"] == "hold" and listed["reasons"][0]["code"] == "od2506.1.1"
    assert listed["fallback"] == {"stage": "model", "cause": cause, "action": "review"}
    # An outgoing transfer fails closed by default: review, whatever its amount.
    assert plain["action"] == "review" and plain["score"] == 0.0
    assert plain["fallback"] == {"stage": "model", "cause": cause, "action": "review"}
    assert [r["code"] for r in plain["reasons"]] == ["fallback.model"]
    e.commit()
    assert e.record.count() == 3  # every one decided and stored

    metrics = Metrics()
    metrics.decided(msgspec.convert(listed, Decision))
    assert 'qalqan_fallbacks_total{stage="model",cause="raised",action="review"} 1' in metrics.render()


@pytest.mark.parametrize(("raw", "action"), [
    (payment(event_id="p-small", amount="5000.00"), "approve"),       # fail open up to 5,000 RUB, inclusive
    (payment(event_id="p-large", amount="5000.01"), "review"),        # above it: review
    (payment(event_id="p-eur", amount="60", currency="EUR"), "review"),  # 5,880 RUB: compared in the base currency
    (ev("atm", event_id="a-small", operation="withdrawal", amount="3000", currency="RUB", card_id="4111111111111111",
        atm_id="ATM1"), "approve"),
    (ev("atm", event_id="a-large", operation="withdrawal", amount="20000", currency="RUB",
        card_id="4111111111111111", atm_id="ATM1"), "decline"),        # the client stands at the ATM: no review
    (transfer(event_id="t-sbp", rail="sbp", amount="10.00"), "review"),  # fail closed
])
def test_below_and_above_the_fail_open_limit(tmp_path: Path, raw: bytes, action: str) -> None:
    d = _decided(_engine(tmp_path, Broken()), raw)
    assert d["action"] == action and d["fallback"]["action"] == action, d


def test_a_rule_s_decline_is_never_weakened_by_a_fail_open_approve(tmp_path: Path) -> None:
    """A small card payment fails open (approve), and the rules decline it (a high infrastructure
    risk, ОД-2506 sign on a card: refused): the decline stands."""
    d = _decided(_engine(tmp_path, Broken()), payment(event_id="p-risky", amount="100.00",
                                                       infra_risk={"level": "high", "factors": ["proxy"]}))
    assert d["fallback"]["action"] == "approve"
    assert d["action"] == "decline", d


def test_a_working_model_leaves_no_fallback(tmp_path: Path) -> None:
    assert "fallback" not in _decided(_engine(tmp_path), transfer())


def test_a_fallback_file_overrides_named_channels(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "fallbacks.yaml"
    path.write_text("sbp: {approve_up_to: 1000, above: decline}\ncard_payment: {action: decline}\n")
    monkeypatch.setenv("QALQAN_FALLBACKS", str(path))
    e = Engine(from_env(db_url=f"sqlite:///{tmp_path / 'r.db'}"), model=Broken())
    assert _decided(e, transfer(event_id="s1", rail="sbp", amount="1000"))["action"] == "approve"
    assert _decided(e, transfer(event_id="s2", rail="sbp", amount="1000.01"))["action"] == "decline"
    assert _decided(e, payment(event_id="p1", amount="1"))["action"] == "decline"
    assert _decided(e, transfer(event_id="t1", rail="interbank"))["action"] == "review"  # unnamed: the default


@pytest.mark.parametrize(("text", "named"), [
    ("card_paymnet: {action: review}\n", "card_paymnet: no such channel"),
    ("sbp: {action: hold}\n", "sbp.action: expected one of approve, challenge, review, decline"),
    ("sbp: {approve_up_to: 1000}\n", "sbp.above: missing"),
    ("atm_withdrawal: {approve_up_to: lots, above: decline}\n", "atm_withdrawal.approve_up_to: expected an amount"),
    ("atm_withdrawal: {approve_up_to: -5, above: decline}\n", "atm_withdrawal.approve_up_to: expected an amount"),
    ("transfer: {action: review, limit: 5}\n", "transfer.limit: unknown key"),
    ("transfer: {action: review, above: decline}\n", "transfer.action: give either"),
    ("- sbp\n", "must map channels"),
    ("sbp: [\n", "cannot read"),
])
def test_a_bad_fallback_file_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, named: str) -> None:
    path = tmp_path / "fallbacks.yaml"
    path.write_text(text)
    monkeypatch.setenv("QALQAN_FALLBACKS", str(path))
    with pytest.raises(ConfigError) as err:
        from_env()
    assert str(err.value).startswith(f"QALQAN_FALLBACKS: {path}: ") and named in str(err.value), str(err.value)


def test_channels_and_defaults() -> None:
    assert channel_of("payment", channel="ecom") == "card_payment"
    assert channel_of("payment", channel="atm_qr") == "atm_withdrawal"  # a withdrawal by QR code
    assert channel_of("transfer", direction="out", rail="sbp") == "sbp"
    assert channel_of("transfer", direction="out", rail="card2card") == "transfer"
    assert channel_of("transfer", direction="in", rail="sbp") == "transfer_in"
    assert channel_of("atm", operation="deposit") == "atm_deposit"
    assert FallbackPolicy.defaults().describe() == {
        "card_payment": "approve up to 5000, else review", "transfer": "review", "sbp": "review",
        "transfer_in": "approve up to 1000000, else review", "atm_withdrawal": "approve up to 5000, else decline",
        "atm_deposit": "approve up to 15000, else decline"}
