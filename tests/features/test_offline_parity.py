"""Online/offline parity: a simulated stream of more than 100,000 events folded through the online
state (read every output, then update: as the engine does) and built by the offline builder; every
feature output of every event must be equal.

The engine adds its decision to the view before the update (``action``, ``reason_codes``), and some
features count them (refused withdrawals, ОД-1765 signs). Decisions are drawn here at random for
each money movement, so that those features are exercised too; parity does not depend on what
was decided, only on both interpreters seeing the same views.

The stream stays under 200,000 updates: the online state's TTL sweep (every 200,000) is not run,
as it may forget a key whose `last_seen` is older than its ttl (a documented online shortcut).
"""

from __future__ import annotations

import hashlib
from typing import Any

import polars as pl
import pytest

from qalqan.events import MONEY_TYPES
from qalqan.features import definitions
from qalqan.features.definitions import FeatureSet
from qalqan.features.offline import build, views_from_jsonl
from qalqan.features.online import OnlineFeatures
from qalqan.sim import simulate

CUSTOMERS, DAYS, SEED = 750, 30, 3
ACTIONS = ("approve", "approve", "approve", "challenge", "review", "hold", "decline")
CODES = ("od1765.sign", "od2506.1.12", "cnp.velocity")


def _decide(v: dict[str, Any]) -> None:
    """A decision drawn from the event id (the engine's own would do as well)."""
    if v["type"] not in MONEY_TYPES:
        v["action"], v["reason_codes"] = None, frozenset()
        return
    h = hashlib.blake2b(v["event_id"].encode(), digest_size=4).digest()
    v["action"] = ACTIONS[h[0] % len(ACTIONS)]
    v["reason_codes"] = frozenset(c for i, c in enumerate(CODES) if h[1 + i] % 5 == 0)


@pytest.fixture(scope="module")
def views(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    path = tmp_path_factory.mktemp("parity") / "events.jsonl"
    simulate(customers=CUSTOMERS, days=DAYS, seed=SEED, out=path)
    out = views_from_jsonl(path)
    for v in out:
        _decide(v)
    return out


@pytest.fixture(scope="module")
def fs() -> FeatureSet:
    return definitions.load()


def _online(views: list[dict[str, Any]], fs: FeatureSet) -> pl.DataFrame:
    state = OnlineFeatures(fs)
    names = fs.names
    rows = []
    for v in views:
        ctx = dict(v)
        state.read(ctx, ctx)
        rows.append((v["event_id"], v["type"], v["ts_us"], *(ctx.get(n) for n in names)))
        state.update(ctx, ctx)
    schema = {"event_id": pl.String, "type": pl.String, "ts_us": pl.Int64, **{n: pl.Int64 for n in names}}
    return pl.DataFrame(rows, schema=schema, orient="row")


def _mismatches(online: pl.DataFrame, offline: pl.DataFrame, names: list[str]) -> list[str]:
    report = []
    for name in names:
        differ = ~online[name].eq_missing(offline[name])
        if differ.any():
            first = online.filter(differ).head(5).with_columns(offline.filter(differ).head(5)[name].alias("offline"))
            rows = first.select("event_id", "type", "ts_us", pl.col(name).alias("online"), "offline").to_dicts()
            report.append(f"{name}: {int(differ.sum())} events differ, first: {rows}")
    return report


def test_every_output_of_every_event_equals_the_online_state(views: list[dict[str, Any]], fs: FeatureSet) -> None:
    assert len(views) >= 100_000
    online = _online(views, fs)
    offline = build(views, fs, rows="all")
    assert offline["event_id"].to_list() == online["event_id"].to_list()
    report = _mismatches(online, offline, fs.names)
    assert not report, "offline differs from online:\n" + "\n".join(report)

    # The default rows: the money movements, the same values.
    money = build(views, fs)
    assert money.equals(offline.filter(online["type"].is_in(sorted(MONEY_TYPES))))
    assert money.height > 35_000

    # The comparison means something only where features take values: most of them do here.
    quiet = [n for n in fs.names if not (money[n].fill_null(0) != 0).any()]
    assert len(quiet) <= len(fs.names) // 10, f"outputs never non-zero on money movements: {quiet}"


def test_the_stream_is_in_time_order(views: list[dict[str, Any]]) -> None:
    """The simulator writes in ts order (labels after the last day are still later): the parity
    run is the in-order case; late events are covered by tests/features/test_offline.py."""
    ts = [v["ts_us"] for v in views]
    assert ts == sorted(ts)

