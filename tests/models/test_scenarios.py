"""``qalqan evaluate --dataset sim`` (models/scenarios.py) on a small stream: the model is trained
point in time (never on events after the cut), both engines decide through ``Engine.decide``, and
each side's alerts respect the budget and its ranking."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from qalqan.cli import app
from qalqan.events import Decision, Reason
from qalqan.models.scenarios import SIDES, SimEvalError, alerts, evaluate_sim, read_truth, truncate
from qalqan.sim import simulate

runner = CliRunner()


@pytest.fixture(scope="module")
def stream(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("simeval") / "events.jsonl"
    simulate(300, 20, 5, path)
    return path


@pytest.fixture(scope="module")
def report(stream: Path) -> dict[str, Any]:
    return evaluate_sim(stream=stream, budget=0.02, train_days=12, label_delay="3d", rounds=60)


def test_the_model_learns_only_what_was_known_at_the_cut(stream: Path, report: dict[str, Any],
                                                        tmp_path: Path) -> None:
    cut = datetime.fromisoformat(report["cut"].replace("Z", "+00:00"))
    assert report["cut"] == "2026-02-13T23:59:59Z" and report["train_days"] == 12
    window = report["model"]["window"]
    # the model's window ends 3 days (the label delay) before the last event known at the cut
    assert window["to"] <= "2026-02-11T00:00:00Z" and window["stream_end"] <= report["cut"]
    known = tmp_path / "known.jsonl"
    n = truncate(stream, cut, known)
    lines = known.read_text().splitlines()
    assert n == len(lines) > 0 and all(json.loads(x)["ts"] <= report["cut"] for x in lines)
    labels_known = sum(json.loads(x)["type"] == "label" for x in lines)
    labels_all = sum(json.loads(x)["type"] == "label" for x in stream.read_text().splitlines())
    assert 0 < labels_known < labels_all  # later labels exist and were not read


def test_per_scenario_detection_at_the_budget(stream: Path, report: dict[str, Any]) -> None:
    truth = read_truth(stream)
    cut = datetime.fromisoformat(report["cut"].replace("Z", "+00:00"))
    test = [e for e, t in truth.ts.items() if t > cut]
    assert report["test_movements"] <= len(test) and report["test_movements"] > 1000
    assert report["alerts"] == round(0.02 * report["test_movements"])
    frauds = sum(r["frauds"] for r in report["scenarios"].values())
    assert frauds == report["all"]["frauds"] > 10 and len(report["scenarios"]) >= 4
    for side in SIDES:
        a = report["all"][side]
        assert a["alerts"] <= report["alerts"]
        assert a["caught"] == sum(r[side]["caught"] for r in report["scenarios"].values())
        for r in report["scenarios"].values():
            assert 0 <= r[side]["caught"] <= r["frauds"]
            assert r[side]["detection"] == round(r[side]["caught"] / r["frauds"], 4)
    assert report["model"]["rows"]["fraud"] > 0
    # a model trained on 9 days still finds fraud, and rules and model together find at least as
    # much as the model alone here
    assert report["all"]["model"]["caught"] > 0
    assert report["all"]["both"]["caught"] >= report["all"]["rules"]["caught"] * 0.8


def decision(eid: str, action: str, score: float, weight: float | None = None) -> Decision:
    reasons = [Reason(code="r", source="rules", action=action, weight=weight)] if action != "approve" else []
    return Decision(event_id=eid, action=action, score=score, reasons=reasons)  # type: ignore[arg-type]


def test_rankings() -> None:
    ds = {"a": decision("a", "decline", 0.1), "b": decision("b", "review", 0.99, 2.0),
          "c": decision("c", "review", 0.2, 5.0), "d": decision("d", "approve", 0.95),
          "e": decision("e", "approve", 0.5)}
    assert alerts("rules", ds, 2) == {"a", "c"}  # severity, then rule weight
    assert alerts("rules", ds, 10) == {"a", "b", "c"}  # never an approved movement
    assert alerts("model", ds, 2) == {"b", "d"}
    assert alerts("both", ds, 4) == {"a", "b", "c", "d"}  # actions first, then the score fills the budget
    with pytest.raises(SimEvalError):
        alerts("coin", ds, 1)


def test_cli(stream: Path) -> None:
    res = runner.invoke(app, ["evaluate", "--dataset", "sim", "--stream", str(stream), "--train-days", "12",
                              "--label-delay", "3d", "--budget", "0.02", "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout.strip().splitlines()[-1])
    assert set(doc["all"]) == {"frauds", *SIDES} and doc["scenarios"]
    res = runner.invoke(app, ["evaluate", "--dataset", "sim", "--stream", str(stream), "--budget", "2"])
    assert res.exit_code == 2 and "--budget" in res.output
    res = runner.invoke(app, ["evaluate", "--dataset", "sim", "--stream", str(stream), "--train-days", "40"])
    assert res.exit_code == 2 and "--train-days" in res.output
    res = runner.invoke(app, ["evaluate", "--dataset", "nope"])
    assert res.exit_code == 2 and "--dataset" in res.output
