"""`backtest`'s precision and recall on a stream small enough to count by hand.

precision = true hits / hits (of the rule's alerts, how many were fraud);
recall = true hits / frauds (of the frauds among the money movements, how many the rule caught).
The case is built so that the two differ (1/3 and 1/2): a swap of the two fails at once.
"""

from __future__ import annotations

from pathlib import Path

import msgspec

from conftest import ev, payment
from qalqan import backtest
from qalqan.config import from_env

CANDIDATE = """\
pack: try
rules:
  - id: big
    events: [payment]
    when: "amount_base > rub(1000)"
    action: review
"""


def _stream(tmp_path: Path) -> Path:
    lines = [
        payment(event_id="p1", ts="2026-02-02T10:00:00Z", amount="2000", merchant_id="M1"),  # hit, fraud
        payment(event_id="p2", ts="2026-02-02T11:00:00Z", amount="2000", merchant_id="M2"),  # hit, legit
        payment(event_id="p3", ts="2026-02-02T12:00:00Z", amount="2000", merchant_id="M3"),  # hit, no label
        payment(event_id="p4", ts="2026-02-02T13:00:00Z", amount="10", merchant_id="M4"),  # miss, chargeback
        payment(event_id="p5", ts="2026-02-02T14:00:00Z", amount="10", merchant_id="M5"),  # miss, no label
        ev("login", event_id="l1", ts="2026-02-02T14:30:00Z", device_id="d1", success=True),
        ev("label", ts="2026-02-02T15:00:00Z", target_event_id="p1", label="fraud"),
        ev("label", ts="2026-02-02T15:00:01Z", target_event_id="p2", label="legit"),
        ev("label", ts="2026-02-02T15:00:02Z", target_event_id="p4", label="chargeback"),
        ev("label", ts="2026-02-02T15:00:03Z", target_event_id="l1", label="fraud"),  # no money movement
    ]
    path = tmp_path / "stream.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def test_precision_and_recall_counted_by_hand(tmp_path: Path):
    rules = tmp_path / "candidate"
    rules.mkdir()
    (rules / "try.yaml").write_text(CANDIDATE)
    bt = backtest.run(from_env(db_url=f"sqlite:///{tmp_path / 'unused.db'}"), rules, _stream(tmp_path))
    assert bt.money_movements == 5
    assert bt.frauds == 2  # p1 (fraud) and p4 (chargeback); the login's label is no money movement's
    big = bt.candidate["try.big"]
    assert (big.hits, big.true_hits) == (3, 1)
    assert big.precision() == 1 / 3  # 1 of its 3 alerts was a fraud
    assert big.recall(bt.frauds) == 1 / 2  # it caught 1 of the 2 frauds
    row = next(r for r in bt.as_dict()["candidate"] if r["code"] == "try.big")
    assert row["precision"] == round(1 / 3, 4) and row["recall"] == 0.5
    assert (bt.candidate_alerts, bt.candidate_caught, bt.only_candidate_caught) == (3, 1, 1)
    assert bt.live_alerts == 0 and bt.live == {}  # nothing in this stream troubles the live packs


def test_rule_stats_formulas():
    s = backtest.RuleStats("x", hits=4, true_hits=1)
    assert s.precision() == 0.25 and s.recall(2) == 0.5
    assert backtest.RuleStats("y").precision() == 0.0 and s.recall(0) == 0.0


def test_the_stream_is_what_the_comments_say(tmp_path: Path):
    """The labels target the events named (guards the hand count above against a builder change)."""
    lines = _stream(tmp_path).read_bytes().splitlines()
    targets = {d["target_event_id"]: d["label"] for d in map(msgspec.json.decode, lines) if d["type"] == "label"}
    assert targets == {"p1": "fraud", "p2": "legit", "p4": "chargeback", "l1": "fraud"}
