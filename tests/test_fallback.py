"""A model that raises never fails a decision: the rules decide alone, and the decision says so
(``fallback``: stage, cause, action), as do the metrics."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec

from conftest import ev, transfer
from qalqan.api.metrics import Metrics
from qalqan.config import from_env
from qalqan.engine import Engine
from qalqan.events import Decision, Reason


class Broken:
    version = "broken-1"
    features: frozenset[str] | None = frozenset()

    def __init__(self) -> None:
        self.calls = 0

    def score_one(self, features: dict[str, Any]) -> tuple[float, list[Reason]]:
        self.calls += 1
        raise OverflowError("math range error")


def test_a_model_that_raises_leaves_the_rules_to_decide(tmp_path: Path) -> None:
    model = Broken()
    e = Engine(from_env(db_url=f"sqlite:///{tmp_path / 'r.db'}"), model=model)
    e.decide(ev("intel", customer_id="regulator", list="cbr_fincert", entity="account",
                value="40817810000000000444", op="add"))
    def decided(raw: bytes) -> dict[str, Any]:
        return msgspec.json.decode(e.decide(raw).decision_json)

    listed = decided(transfer(event_id="t-listed", to_account="40817810000000000444"))
    plain = decided(transfer(event_id="t-plain"))
    assert model.calls == 2
    assert listed["action"] == "hold" and listed["reasons"][0]["code"] == "od2506.1.1"  # the rules still hold
    assert listed["fallback"] == {"stage": "model", "cause": "OverflowError: math range error", "action": "hold"}
    assert plain["action"] == "approve" and plain["fallback"]["action"] == "approve" and plain["score"] == 0.0
    e.commit()
    assert e.record.count() == 3  # every one decided and stored

    metrics = Metrics()
    metrics.decided(msgspec.convert(listed, Decision))
    assert 'qalqan_fallbacks_total{stage="model"} 1' in metrics.render()


def test_a_working_model_leaves_no_fallback(tmp_path: Path) -> None:
    e = Engine(from_env(db_url=f"sqlite:///{tmp_path / 'r.db'}"))
    assert "fallback" not in msgspec.json.decode(e.decide(transfer()).decision_json)
