"""The model's time budget (model_guard.py), on a fake clock: a late answer is used and recorded, the
model is then skipped (circuit open) for the cool-down with the channel's fallback, and one trial
call on time closes the circuit again. Replay keeps no budget: the same stream, the same decisions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec

from conftest import payment, transfer
from qalqan.api.metrics import Metrics
from qalqan.config import from_env
from qalqan.engine import Engine
from qalqan.events import Decision, Reason
from qalqan.model_guard import ModelGuard

MS = 1_000_000  # ns


class Clock:
    """Integer nanoseconds that move only when told (never the wall clock)."""

    def __init__(self) -> None:
        self.now = 10**12

    def __call__(self) -> int:
        return self.now


class Slow:
    """A model that "takes" ``delay_ns`` of the fake clock per call."""

    version = "slow-1"
    features: frozenset[str] | None = frozenset()

    def __init__(self, clock: Clock, delay_ns: int) -> None:
        self.clock, self.delay_ns, self.calls = clock, delay_ns, 0

    def score_one(self, features: dict[str, Any]) -> tuple[float, list[Reason]]:
        self.calls += 1
        self.clock.now += self.delay_ns
        return 0.5, [Reason(code="amount_vs_profile", source="model", weight=0.31)]


def _live(tmp_path: Path, model: Slow, clock: Clock) -> Engine:
    e = Engine(from_env(db_url=f"sqlite:///{tmp_path / 'r.db'}"), model=model)
    e.use_clock(e.settings.server_clock())  # a live server: the budget is kept
    e.guard = ModelGuard(budget_ms=50, cooldown_s=30, clock=clock, enabled=True)
    return e


def _decided(e: Engine, raw: bytes) -> dict[str, Any]:
    return msgspec.json.decode(e.decide(raw).decision_json)


def test_late_then_skipped_then_closed_after_the_cool_down(tmp_path: Path) -> None:
    clock = Clock()
    model = Slow(clock, 80 * MS)
    e = _live(tmp_path, model, clock)

    late = _decided(e, transfer(event_id="late", rail="sbp"))
    assert model.calls == 1
    assert late["fallback"]["stage"] == "model" and late["fallback"]["action"] == "review"
    assert late["fallback"]["cause"].startswith("late: 80.0 ms, 30.0 ms over the 50 ms budget"), late
    assert late["score"] == 0.5 and "amount_vs_profile" in [r["code"] for r in late["reasons"]]  # the answer is used
    assert late["action"] == "review"
    assert e.guard.state == "open"

    clock.now += 1_000 * MS
    small = _decided(e, payment(event_id="skipped", amount="100"))
    assert model.calls == 1  # not called while the circuit is open
    assert small["fallback"]["cause"].startswith("skipped: circuit open after a late answer (80.0 ms"), small
    assert small["action"] == "approve" and small["fallback"]["action"] == "approve" and small["score"] == 0.0
    large = _decided(e, payment(event_id="skipped-large", amount="50000"))
    assert model.calls == 1 and large["action"] == "review"

    clock.now += 30_000 * MS  # the cool-down is over: the next decision is the trial
    assert e.guard.state == "trial"
    model.delay_ns = 5 * MS
    trial = _decided(e, payment(event_id="trial", amount="100"))
    assert model.calls == 2 and "fallback" not in trial and trial["score"] == 0.5
    assert e.guard.state == "closed"
    assert "fallback" not in _decided(e, payment(event_id="after", amount="100")) and model.calls == 3

    metrics = Metrics()
    for d in (late, small, large):
        metrics.decided(msgspec.convert(d, Decision))
    text = metrics.render()
    assert 'qalqan_fallbacks_total{stage="model",cause="late",action="review"} 1' in text
    assert 'qalqan_fallbacks_total{stage="model",cause="skipped",action="approve"} 1' in text
    assert 'qalqan_fallbacks_total{stage="model",cause="skipped",action="review"} 1' in text


def test_a_late_trial_opens_the_circuit_again(tmp_path: Path) -> None:
    clock = Clock()
    model = Slow(clock, 60 * MS)
    e = _live(tmp_path, model, clock)
    _decided(e, payment(event_id="p1"))
    clock.now += 31_000 * MS
    again = _decided(e, payment(event_id="p2"))
    assert model.calls == 2 and again["fallback"]["cause"].startswith("late: 60.0 ms")
    clock.now += 1_000 * MS
    assert _decided(e, payment(event_id="p3"))["fallback"]["cause"].startswith("skipped:") and model.calls == 2


def test_an_answer_within_the_budget_is_no_fallback(tmp_path: Path) -> None:
    clock = Clock()
    model = Slow(clock, 50 * MS)  # exactly the budget: on time
    e = _live(tmp_path, model, clock)
    assert "fallback" not in _decided(e, payment(event_id="p1"))
    assert "fallback" not in _decided(e, payment(event_id="p2")) and model.calls == 2


def test_replay_keeps_no_budget(tmp_path: Path) -> None:
    """No one waits for a replayed decision: the model decides every event, however long it takes."""
    clock = Clock()
    model = Slow(clock, 500 * MS)
    e = Engine(from_env(db_url=f"sqlite:///{tmp_path / 'r.db'}"), model=model)
    e.guard.clock = clock
    for i in range(3):
        assert "fallback" not in _decided(e, payment(event_id=f"r{i}"))
    assert model.calls == 3


def test_the_embedded_server_keeps_the_budget_and_counts_it(tmp_path: Path) -> None:
    """``serve`` runs on the server's clock, so the budget is kept there: a late model's decision says
    so over HTTP, the next one is skipped, and /metrics counts both by stage, cause and action."""
    import asyncio

    import httpx

    from qalqan.api import create_app

    clock = Clock()
    model = Slow(clock, 80 * MS)
    engine = Engine(from_env(db_url=f"sqlite:///{tmp_path / 'r.db'}"), model=model)
    app = create_app(engine)  # a live server: use_clock, hence the budget
    engine.guard.clock = clock

    async def run() -> tuple[dict[str, Any], dict[str, Any], str]:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://q", timeout=60) as c:
            late = (await c.post("/v1/events", content=payment(event_id="h1", amount="100"))).json()
            skipped = (await c.post("/v1/events", content=payment(event_id="h2", amount="9000"))).json()
            return late, skipped, (await c.get("/metrics")).text

    try:
        late, skipped, metrics = asyncio.run(run())
    finally:
        engine.close()
    assert late["fallback"]["cause"].startswith("late: 80.0 ms") and late["action"] == "approve"
    assert skipped["fallback"]["cause"].startswith("skipped:") and skipped["action"] == "review"
    assert model.calls == 1
    assert 'qalqan_fallbacks_total{stage="model",cause="late",action="approve"} 1' in metrics
    assert 'qalqan_fallbacks_total{stage="model",cause="skipped",action="review"} 1' in metrics
