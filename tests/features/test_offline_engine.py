"""The builder against the engine itself: what ``Engine.decide`` read for each event (the features
its rules and model named, with the real decisions folded back into the state) equals the offline
table built from the same stream and the recorded decisions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from qalqan.config import from_env
from qalqan.engine import Engine
from qalqan.events import Decision, EventError
from qalqan.features.offline import build, views_from_jsonl
from qalqan.sim import simulate


def test_the_engine_reads_what_the_builder_computes(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    simulate(customers=200, days=14, seed=8, out=path)
    engine = Engine(from_env(db_url=f"sqlite:///{tmp_path / 'q.db'}"))
    names = engine.feature_set.names
    read: dict[str, dict[str, Any]] = {}
    state = engine.features
    real_update = state.update

    def spy(v: dict[str, Any], ctx: dict[str, Any]) -> None:
        # Whatever the decision read (up front or when a rule named it) is in the view by now.
        read[v["event_id"]] = {n: dict.__getitem__(ctx, n) for n in names if dict.__contains__(ctx, n)}
        real_update(v, ctx)

    state.update = spy  # type: ignore[method-assign]
    decisions: dict[str, Decision] = {}
    for line in path.read_bytes().splitlines():
        try:
            outcome = engine.decide(line)
        except EventError:
            continue
        if outcome.decision is not None and not outcome.duplicate:
            decisions[outcome.event_id] = outcome.decision
    engine.close()
    assert engine.features is state  # the spy saw every read

    views = views_from_jsonl(path, key=engine.settings.key, fx=engine.settings.fx, decisions=decisions)
    table = build(views, engine.feature_set, rows="all")
    assert table.height == len(read)
    compared, differ = 0, []
    for row in table.iter_rows(named=True):
        for name, value in read[row["event_id"]].items():
            compared += 1
            if row[name] != value:
                differ.append((row["event_id"], name, value, row[name]))
    assert not differ, f"{len(differ)} values differ (event, output, engine, offline), first: {differ[:5]}"
    assert compared > 20_000
    declined = sum(d.action == "decline" for d in decisions.values())
    assert declined > 0, "no decline: the decision-fed features were not exercised"
