"""The offline builder at the edges: window boundaries, same-ts order, filters that read features,
None, late events (property-tested against the online state), entity keys, inputs."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import msgspec
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qalqan.events import Decision, Reason
from qalqan.features import definitions
from qalqan.features.definitions import ENTITIES, FeatureSet
from qalqan.features.offline import ENTITY_FIELDS, OfflineError, build, entity_key, views_from_jsonl
from qalqan.features.online import OnlineFeatures

H = 3_600_000_000
T0 = 1_770_000_000_000_000

FEATURES = """
version: 1
features:
  - name: c
    kind: window
    entity: customer
    windows: ["<1h", 1h]
    aggs: [count, sum, max, distinct]
    distinct: merchant_id
    events: [payment, transfer]
  - {name: card, kind: window, entity: card, windows: [1h], aggs: [count], events: [payment]}
  - {name: seen, kind: last_seen, entity: customer, events: [payment, transfer]}
  - {name: card_age, kind: first_seen, entity: card, events: [payment]}
  - name: repeat
    kind: window
    entity: customer
    windows: [1h]
    aggs: [count, sum]
    events: [payment]
    where: "c_1h_count >= 1 and amount_base > 100"
  - name: got
    kind: window
    entity: customer
    read: [customer, counterparty]
    windows: [1h]
    aggs: [count]
    events: [transfer]
    where: "direction == 'in'"
"""


@pytest.fixture
def fs(tmp_path: Path) -> FeatureSet:
    path = tmp_path / "features.yaml"
    path.write_text(FEATURES)
    return definitions.load(path)


def pay(ts: int, customer: str = "A", card: str | None = "K1", merchant: str | None = "M1",
        amount: int | None = 500, **kw: Any) -> dict[str, Any]:
    return {"type": "payment", "event_id": f"e{ts}-{customer}-{random.random()}", "ts_us": ts, "customer_id": customer,
            "card_id": card, "merchant_id": merchant, "amount_base": amount, **kw}


def online(views: list[dict], fs: FeatureSet) -> list[dict[str, Any]]:
    """What the engine reads for each event: read every output, then fold the event in."""
    state = OnlineFeatures(fs)
    out = []
    for v in views:
        ctx = dict(v)
        state.read(ctx, ctx)
        out.append({n: ctx.get(n) for n in fs.names})
        state.update(ctx, ctx)
    return out


def offline(views: list[dict], fs: FeatureSet) -> list[dict[str, Any]]:
    return build(views, fs, rows="all").drop("event_id").to_dicts()


def both(views: list[dict], fs: FeatureSet) -> list[dict[str, Any]]:
    on, off = online(views, fs), offline(views, fs)
    for i, (a, b) in enumerate(zip(on, off)):
        assert a == b, f"event {i}: online {a} != offline {b}"
    return off


def test_a_late_event_reads_the_last_time_before_its_own(fs: FeatureSet) -> None:
    """A payment that arrives after a later one reads the time since the latest update at or
    before its own time — never a negative time since an update that happened after it."""
    views = [pay(T0, "A"), pay(T0 + 20 * 60_000_000, "A"), pay(T0 + 10 * 60_000_000, "A"),
             pay(T0 + 30 * 60_000_000, "B"), pay(T0 + 5 * 60_000_000, "B"), pay(T0 + 31 * 60_000_000, "A")]
    out = both(views, fs)
    assert out[2]["seen"] == 10 * 60_000_000  # since the first payment, not -10 min
    assert out[4]["seen"] is None  # B's only earlier payment is later in time: nothing before it
    assert out[5]["seen"] == 11 * 60_000_000


def test_a_window_holds_exactly_w_earlier_and_not_one_microsecond_more(fs: FeatureSet) -> None:
    views = [pay(T0, "A"), pay(T0 + H, "A"), pay(T0, "B"), pay(T0 + H + 1, "B")]
    out = both(views, fs)
    assert out[1]["c_1h_count"] == 1 and out[1]["c_1h_sum"] == 500
    assert out[1]["c_lt1h_count"] == 0  # "<1h": exactly one hour earlier is out
    assert out[3]["c_1h_count"] == 0 and out[3]["c_1h_max"] is None and out[3]["c_1h_sum"] == 0
    assert out[3]["seen"] == H + 1


def test_same_ts_counts_the_earlier_events_of_the_stream_only(fs: FeatureSet) -> None:
    views = [pay(T0, merchant="M1"), pay(T0, merchant="M2"), pay(T0, merchant="M1")]
    out = both(views, fs)
    assert [o["c_1h_count"] for o in out] == [0, 1, 2]
    assert [o["c_1h_distinct"] for o in out] == [0, 1, 2]
    assert [o["seen"] for o in out] == [None, 0, 0]
    assert [o["card_age"] for o in out] == [0, 0, 0]


def test_a_filter_may_read_feature_values_of_the_same_event(fs: FeatureSet) -> None:
    views = [pay(T0, amount=500), pay(T0 + 1, amount=500), pay(T0 + 2, amount=50), pay(T0 + 3, amount=500)]
    out = both(views, fs)
    # The first payment had no earlier one (c_1h_count 0): it does not count as a repeat.
    assert [o["repeat_1h_count"] for o in out] == [0, 0, 1, 1]
    assert out[3]["repeat_1h_sum"] == 500


def test_none_keys_amounts_and_values(fs: FeatureSet) -> None:
    views = [pay(T0, card=None, merchant=None, amount=None), pay(T0 + 1, card="K2", merchant=None, amount=None),
             pay(T0 + 2, card=None)]
    out = both(views, fs)
    assert out[0]["card_1h_count"] is None and out[0]["card_age"] is None  # no key: nothing to read
    assert out[1]["card_1h_count"] == 0 and out[1]["card_age"] == 0  # an unseen key: empty, new now
    assert out[0]["c_1h_max"] is None and out[0]["c_1h_count"] == 0  # an unseen customer
    assert out[2]["c_1h_sum"] == 0 and out[2]["c_1h_max"] == 0  # None amounts count as 0
    assert out[2]["c_1h_distinct"] == 0  # None is not a value


def test_read_under_another_entity(fs: FeatureSet) -> None:
    """A transfer in to A from B updates A; B's later transfer out to A reads A's as cp_."""
    views = [
        {"type": "transfer", "event_id": "t1", "ts_us": T0, "customer_id": "A", "direction": "in", "counterparty": "B",
         "amount_base": 100},
        {"type": "transfer", "event_id": "t2", "ts_us": T0 + 5, "customer_id": "B", "direction": "out",
         "counterparty": "A", "amount_base": 100},
        {"type": "label", "event_id": "l1", "ts_us": T0 + 6, "customer_id": "A"},
    ]
    out = both(views, fs)
    assert out[1]["cp_got_1h_count"] == 1 and out[1]["got_1h_count"] == 0
    assert all(v is None for v in out[2].values())  # no feature is updated by labels: nothing read


def _stream(draw_ts: list[int], picks: list[tuple[int, int, int, int | None]]) -> list[dict[str, Any]]:
    views = []
    for i, (ts, (cust, card, merchant, amount)) in enumerate(zip(draw_ts, picks)):
        v = pay(ts, f"C{cust}", None if card == 3 else f"K{card}", None if merchant == 4 else f"M{merchant}", amount)
        v["event_id"] = f"e{i}"
        if i % 3 == 0:
            v.update(type="transfer", direction="in" if i % 2 else "out", counterparty=f"C{(cust + 1) % 3}")
        views.append(v)
    return views


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    steps=st.lists(st.integers(min_value=-H // 2, max_value=H // 3), min_size=1, max_size=120),
    picks=st.lists(st.tuples(st.integers(0, 2), st.integers(0, 3), st.integers(0, 4),
                             st.one_of(st.none(), st.integers(1, 1000))), min_size=120, max_size=120),
)
def test_matches_the_online_state_on_streams_with_late_events(fs: FeatureSet, steps: list[int],
                                                            picks: list[tuple[int, int, int, int | None]]) -> None:
    """Out-of-order ts (up to half an hour late: within the online state's grace), ties, None keys."""
    ts, now = [], T0
    for s in steps:
        now += max(s, 0)
        ts.append(now + min(s, 0))  # a negative step is an event that arrives late
    both(_stream(ts, picks), fs)


def test_entity_keys_match_the_definitions() -> None:
    assert set(ENTITY_FIELDS) == set(ENTITIES)
    fields = sorted({f for fs_ in ENTITY_FIELDS.values() for f in fs_})
    views = []
    for i, value in enumerate([None, "", "x", "y|z", "0"]):
        mixed = {f: (value if (i + j) % 2 else f"{f}{i}") for j, f in enumerate(fields)}
        views.append(mixed | {"customer_id": f"c{i}"})
        views.append({f: value for f in fields} | {"customer_id": f"c{i}"})
    frame = pl.DataFrame({f: [v[f] for v in views] for f in fields}, schema={f: pl.String for f in fields})
    for entity, fn in ENTITIES.items():
        got = frame.select(entity_key(entity)).to_series().to_list()
        assert got == [fn(v) for v in views], entity


def test_rows_inputs_and_refusals(fs: FeatureSet, tmp_path: Path) -> None:
    views = [pay(T0), {"type": "login", "event_id": "g", "ts_us": T0 + 1, "customer_id": "A", "device_id": "D"},
             pay(T0 + 2)]
    money = build(views, fs)
    assert money["event_id"].to_list() == [views[0]["event_id"], views[2]["event_id"]]
    assert money.columns == ["event_id", *fs.names]
    frame = pl.DataFrame(views)
    assert build(frame, fs).equals(money)
    empty = build([], fs)
    assert empty.height == 0 and empty.columns == ["event_id", *fs.names]
    cyclic = tmp_path / "cyclic.yaml"
    cyclic.write_text("features:\n  - {name: x, kind: window, entity: customer, windows: [1h], events: [payment], "
                      "where: 'x_1h_count < 3'}\n")
    with pytest.raises(OfflineError, match="read each other"):
        build(views, definitions.load(cyclic))
    with pytest.raises(OfflineError, match="rows"):
        build(views, fs, rows="some")  # type: ignore[arg-type]


def test_views_from_jsonl_as_the_engine_sees_them(tmp_path: Path) -> None:
    def line(eid: str, ts: str, op: str = "withdrawal") -> bytes:
        return msgspec.json.encode({"type": "atm", "event_id": eid, "ts": ts, "customer_id": "C1", "operation": op,
                                    "amount": "100.00", "currency": "RUB", "card_id": "4111", "atm_id": "A1"})

    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\n".join([line("a", "2026-02-02T10:00:00Z"), b"{not json", line("a", "2026-02-02T10:00:01Z"),
                                 line("b", "2026-02-02T10:00:02Z"), b""]))
    views = views_from_jsonl(path)
    assert [v["event_id"] for v in views] == ["a", "b"]  # the bad line and the repeated id are skipped
    assert views[0]["customer_id"] != "C1" and views[0]["amount_base"] == 10_000  # tokenised, in kopecks
    assert "action" not in views[0]
    decided = {"a": Decision(event_id="a", action="decline", score=1.0, reasons=[Reason("od1765.sign", "rules")])}
    views = views_from_jsonl(path, decisions=decided)
    assert views[0]["action"] == "decline" and views[0]["reason_codes"] == frozenset({"od1765.sign"})
    assert views[1]["action"] is None and views[1]["reason_codes"] == frozenset()
