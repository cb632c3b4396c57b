"""Backtest a candidate rule set: the same decision path, the candidate in shadow beside the live set.

Every event of a labelled stream is decided by the live rules into a temporary record, exactly
as in production; the candidate set is evaluated on the same features at the same moment and
its hits are only counted. Labels in the stream (fraud and chargebacks) give each rule its
precision and recall; the comparison says which frauds the candidate would catch that the live
set misses, and what it would cost in alerts.
"""

from __future__ import annotations

import dataclasses
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import msgspec

from .config import Settings
from .engine import Engine
from .events import EventError

FRAUD = frozenset({"fraud", "chargeback"})


@dataclass
class RuleStats:
    code: str
    hits: int = 0
    true_hits: int = 0

    def precision(self) -> float:
        return self.true_hits / self.hits if self.hits else 0.0

    def recall(self, frauds: int) -> float:
        return self.true_hits / frauds if frauds else 0.0


@dataclass
class Backtest:
    days: float
    money_movements: int
    frauds: int
    live: dict[str, RuleStats] = field(default_factory=dict)
    candidate: dict[str, RuleStats] = field(default_factory=dict)
    live_alerts: int = 0
    candidate_alerts: int = 0
    live_caught: int = 0
    candidate_caught: int = 0
    only_candidate_caught: int = 0
    only_live_caught: int = 0
    rejected_lines: int = 0

    def as_dict(self) -> dict[str, object]:
        def rules(d: dict[str, RuleStats]) -> list[dict[str, object]]:
            return [
                {"code": s.code, "hits": s.hits, "true_hits": s.true_hits, "precision": round(s.precision(), 4),
                 "recall": round(s.recall(self.frauds), 4), "alerts_per_day": round(s.hits / self.days, 2)}
                for s in sorted(d.values(), key=lambda s: s.code)
            ]

        out = {k: v for k, v in dataclasses.asdict(self).items() if k not in ("live", "candidate")}
        return {**out, "live": rules(self.live), "candidate": rules(self.candidate)}


def run(settings: Settings, rules_dir: Path, stream: Path) -> Backtest:
    tmp = tempfile.mkdtemp(prefix="qalqan-backtest-")
    engine = Engine(dataclasses.replace(settings, db_url=f"sqlite:///{tmp}/backtest.db", state_url=None))
    try:
        engine.shadow_candidates(engine.load_rules(Path(rules_dir)))
        live_hits: dict[str, set[str]] = {}
        cand_hits: dict[str, set[str]] = {}
        labels: dict[str, str] = {}
        first = last = None
        rejected = 0
        with open(stream, "rb") as f:
            for line in f:
                if not line.strip():
                    continue
                try:
                    out = engine.decide(line)
                except EventError:
                    rejected += 1
                    continue
                if out.type == "label":
                    lb = msgspec.json.decode(line)
                    labels[lb["target_event_id"]] = lb["label"]
                if out.decision is None or out.duplicate:
                    continue
                ts = msgspec.json.decode(line)["ts"]
                first = first or ts
                last = ts
                live_hits[out.event_id] = {r.code for r in out.decision.reasons if r.action not in (None, "approve")}
                cand_hits[out.event_id] = {r.code for r in out.candidate or () if r.action not in (None, "approve")}
        engine.commit()
    finally:
        engine.record.close()
    days = _days(first, last)
    fraud = {e for e, lb in labels.items() if lb in FRAUD and e in live_hits}
    bt = Backtest(days=days, money_movements=len(live_hits), frauds=len(fraud), rejected_lines=rejected)
    for side, hits, table in (("live", live_hits, bt.live), ("candidate", cand_hits, bt.candidate)):
        alerts = caught = 0
        for eid, codes in hits.items():
            if codes:
                alerts += 1
                caught += eid in fraud
            for code in codes:
                s = table.setdefault(code, RuleStats(code))
                s.hits += 1
                s.true_hits += eid in fraud
        setattr(bt, f"{side}_alerts", alerts)
        setattr(bt, f"{side}_caught", caught)
    bt.only_candidate_caught = sum(1 for e in fraud if cand_hits[e] and not live_hits[e])
    bt.only_live_caught = sum(1 for e in fraud if live_hits[e] and not cand_hits[e])
    return bt


def _days(first: str | None, last: str | None) -> float:
    if not first or not last:
        return 1.0
    from datetime import datetime

    a = datetime.fromisoformat(first.replace("Z", "+00:00"))
    b = datetime.fromisoformat(last.replace("Z", "+00:00"))
    return max((b - a).total_seconds() / 86400, 1.0)


__all__ = ["Backtest", "RuleStats", "run"]
