"""``qalqan evaluate --dataset sim``: rules alone vs the model alone vs both, per fraud scenario of
the simulator, at a fixed alert budget.

    report = evaluate_sim(customers=1000, days=30, seed=7)

Why a budget: an analyst team reviews a fixed number of alerts a day, so what counts is how much
fraud the top of each ranking holds, not the behaviour at a score threshold chosen afterwards.

The protocol, point in time:

1. ``qalqan simulate`` writes the stream (labels carry the scenario; the evaluation reads it, the
   model never does: it is not an input).
2. The model is trained on the stream's first ``train_days`` only: the events up to the cut ``T``
   (so only the labels that arrived by ``T``), through ``qalqan train`` (the offline builder over
   the engine's definitions, LightGBM), with the label delay (default 7 days: movements after
   ``T − 7 d`` are left out, their labels not yet known). The bundle is verified and promoted in a
   private home, as in production.
3. The whole stream is decided twice through ``Engine.decide`` (the one decision path, state built
   from the first event): by the rules with no model (``NoModel``), and by the rules with the
   bundle live. The test set is every money movement after ``T``.
4. Each side ranks the test movements and alerts on its top ``budget`` share (default 1 %):
   **rules** by the action's severity (decline > hold > review > challenge), ties by the summed
   weights of the rules that hit; approved movements are never alerted (the rules may use less
   than the budget); **model** by the live model's score, as recorded on each decision;
   **both** by the action of the engine running rules and model together (the model's score also
   moves actions: review at 0.8, decline at 0.97), ties — and the approved rest of the budget —
   by the model's score.
5. Per scenario, detection = the share of its fraudulent test movements that are alerted.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from ..config import Settings, from_env
from ..events import Decision, EventError
from ..policy import SEVERITY

FRAUD = frozenset({"fraud", "chargeback"})
SIDES = ("rules", "model", "both")


class SimEvalError(ValueError):
    """The simulated evaluation cannot run as asked (too few days, no fraud to train on); says why."""


def _ts(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@dataclass
class Truth:
    """What the evaluation (never the model) knows: every movement's time, and the scenario of
    each fraudulent one (from the labels, whenever they came)."""

    ts: dict[str, datetime]
    scenario: dict[str, str]
    first: datetime
    last: datetime


def read_truth(stream: Path) -> Truth:
    ts: dict[str, datetime] = {}
    scenario: dict[str, str] = {}
    first = last = None
    with stream.open("rb") as f:
        for line in f:
            if not line.strip():
                continue
            e = json.loads(line)
            t = _ts(e["ts"])
            if e.get("type") == "label":
                if e.get("label") in FRAUD:
                    scenario[e["target_event_id"]] = str(e.get("scenario") or "unnamed")
                else:
                    scenario.pop(e["target_event_id"], None)  # the last label of a movement wins
                continue
            ts[e["event_id"]] = t
            first = t if first is None or t < first else first
            last = t if last is None or t > last else last
    if first is None or last is None:
        raise SimEvalError(f"{stream}: no events")
    return Truth(ts, scenario, first, last)


def truncate(stream: Path, cut: datetime, out: Path) -> int:
    """The events (labels included) known at ``cut``: what a model trained then could have read."""
    n = 0
    with stream.open("rb") as src, out.open("wb") as dst:
        for line in src:
            if line.strip() and _ts(json.loads(line)["ts"]) <= cut:
                dst.write(line if line.endswith(b"\n") else line + b"\n")
                n += 1
    return n


def decide_all(settings: Settings, stream: Path, model: Any | None) -> dict[str, Decision]:
    """Every movement's decision, the stream decided in order by one engine (``model=None``: the
    live bundle of ``settings.home``)."""
    from ..engine import Engine

    engine = Engine(dataclasses.replace(settings, state_url=None), model=model)  # a scratch record
    out: dict[str, Decision] = {}
    try:
        with stream.open("rb") as f:
            for line in f:
                if not line.strip():
                    continue
                try:
                    o = engine.decide(line)
                except EventError:
                    continue
                if o.decision is not None and not o.duplicate:
                    out[o.event_id] = o.decision
        engine.commit()
    finally:
        engine.close()
    return out


def _rule_weight(d: Decision) -> float:
    return sum(r.weight or 0.0 for r in d.reasons if r.source != "model")


def alerts(side: str, decisions: dict[str, Decision], budget: int) -> set[str]:
    """The ``budget`` movements a side alerts on (see the module's docstring for each ranking)."""
    if side == "rules":
        flagged = [e for e, d in decisions.items() if d.action != "approve"]
        key: Callable[[str], tuple[float, ...]] = lambda e: (SEVERITY[decisions[e].action],  # noqa: E731
                                                            _rule_weight(decisions[e]))
    elif side == "model":
        flagged = list(decisions)
        key = lambda e: (decisions[e].score,)  # noqa: E731
    elif side == "both":
        flagged = list(decisions)
        key = lambda e: (SEVERITY[decisions[e].action], decisions[e].score)  # noqa: E731
    else:
        raise SimEvalError(f"unknown side {side!r}; known: {SIDES}")
    flagged.sort(key=lambda e: (*key(e), e), reverse=True)  # the event id breaks ties: reproducible
    return set(flagged[:budget])


def evaluate_sim(customers: int = 1000, days: int = 30, seed: int = 7, budget: float = 0.01,
                 train_days: int | None = None, label_delay: str = "7d", rounds: int = 300,
                 stream: Path | None = None, say: Callable[[str], None] = lambda _: None,
                 models: str | Sequence[str] | None = None) -> dict[str, Any]:
    """Simulate (or read ``stream``), train point in time, decide twice, and score each side.
    ``models``: what ``qalqan train`` builds (None: as there, the whole ensemble)."""
    from ..sim import simulate
    from . import NoModel, bundle
    from .train import ALL_MODELS, TrainError, parse_delay, train

    if not 0 < budget < 1:
        raise SimEvalError(f"--budget {budget}: a share of the test movements, between 0 and 1 (0.01 = 1 %)")
    t0 = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="qalqan-simeval-"))
    try:
        if stream is None:
            if customers < 10 or days < 4:
                raise SimEvalError("--customers >= 10 and --days >= 4 are needed for a training and a test part")
            stream = work / "events.jsonl"
            say(f"simulating {customers} customers × {days} days (seed {seed})")
            simulate(customers, days, seed, stream)
        truth = read_truth(stream)
        start = truth.first.replace(hour=0, minute=0, second=0, microsecond=0)
        span = max(1, (max(t for t in truth.ts.values()) - start).days + 1)
        tdays = train_days if train_days is not None else max(1, round(span * 0.6))
        if not 0 < tdays < span:
            raise SimEvalError(f"--train-days {tdays}: the stream spans {span} days; leave some to test on")
        cut = start + timedelta(days=tdays) - timedelta(microseconds=1)
        known = work / "known.jsonl"
        truncate(stream, cut, known)
        home = work / "home"
        settings = from_env(db_url=f"sqlite:///{work / 'both.db'}", home=home)
        say(f"training on the events up to {cut:%Y-%m-%d %H:%M} (label delay {label_delay})")
        try:
            path = train(known, settings, name="sim", label_delay=label_delay, rounds=rounds, say=say,
                         models=models or ALL_MODELS)
        except TrainError as exc:
            raise SimEvalError(f"training on the first {tdays} days failed: {exc}") from None
        manifest = json.loads((path / "manifest.json").read_text())
        bundle.promote(home, path.name)
        say("deciding the stream: rules alone")
        rules = decide_all(from_env(db_url=f"sqlite:///{work / 'rules.db'}", home=home), stream, NoModel())
        say(f"deciding the stream: rules + model {path.name}")
        both = decide_all(settings, stream, None)
        test = sorted(e for e in both if truth.ts[e] > cut)
        if not test:
            raise SimEvalError(f"no money movement after {cut:%Y-%m-%d}: nothing to test on")
        n_alerts = max(1, round(budget * len(test)))
        sides = {"rules": alerts("rules", {e: rules[e] for e in test}, n_alerts),
                 "model": alerts("model", {e: both[e] for e in test}, n_alerts),
                 "both": alerts("both", {e: both[e] for e in test}, n_alerts)}
        frauds = {e: truth.scenario[e] for e in test if e in truth.scenario}
        per = Counter(frauds.values())
        scenarios: dict[str, dict[str, Any]] = {}
        for name in sorted(per):
            row: dict[str, Any] = {"frauds": per[name]}
            for side, alerted in sides.items():
                caught = sum(1 for e, s in frauds.items() if s == name and e in alerted)
                row[side] = {"caught": caught, "detection": round(caught / per[name], 4)}
            scenarios[name] = row
        total = {"frauds": len(frauds)}
        for side, alerted in sides.items():
            caught = sum(1 for e in frauds if e in alerted)
            total[side] = {"caught": caught, "detection": round(caught / max(len(frauds), 1), 4),
                           "alerts": len(alerted), "precision": round(caught / max(len(alerted), 1), 4)}
        return {
            "dataset": "sim", "stream": {"customers": customers, "days": days, "seed": seed} if stream.parent == work
            else {"path": str(stream)},
            "cut": cut.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), "train_days": tdays,
            "label_delay": label_delay, "budget": budget, "alerts": n_alerts, "test_movements": len(test),
            "model": {"bundle": path.name, "rows": manifest["rows"], "window": manifest["window"],
                      "metrics": manifest["metrics"]},
            "scenarios": scenarios, "all": total,
            "seconds": round(time.perf_counter() - t0, 1),
            "label_delay_s": parse_delay(label_delay) // 1_000_000,
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)


def table(report: dict[str, Any]) -> list[list[str]]:
    """Rows: scenario, frauds, then caught (detection) for rules, model, both; the total last."""
    rows = []
    for name, r in [*report["scenarios"].items(), ("all", report["all"])]:
        rows.append([name, str(r["frauds"]), *[f"{r[s]['caught']} ({r[s]['detection']:.0%})" for s in SIDES]])
    return rows
