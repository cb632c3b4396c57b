"""The offline feature builder: every feature of a FeatureSet for a whole stream at once.

The second interpreter of features/definitions.yaml (features/online.py is the first, and the
reference): the same specs, filters compiled to Polars (rules/polars_expr.py) instead of closures,
windows computed by sorting and searching instead of folding (features/offline_windows.py).
The value of a feature at event p is what the online state reads just before folding p in:

- windows: earlier events of the stream (p itself excluded) with ts in [ts_p - w, ts_p], so an
  earlier event with the same ts counts; a key of None reads None; an unseen key 0 (max: None);
- last_seen/first_seen: microseconds since the latest/earliest earlier matching event (None / 0
  when there is none; None when the key is None), by stream order as online;
- filters see the event's view and the feature values read for it, so specs are computed in the
  order their filters need (``since_login_new_device`` reads ``cust_device_age``); a filter that
  reads its own feature, directly or through others, needs a fold and is refused.

Late (out-of-order) events are supported exactly: a window counts earlier *stream* events only.
Where online departs from this, by design: it forgets window entries older than the longest
window + GRACE_US (an event later than that misses them) and sweeps keys idle past their ttl.

    views = views_from_jsonl("events.jsonl")
    table = build(views, definitions.load())          # one row per money movement
    table = build(frame, fs, rows="all")              # or a DataFrame of views, one row per event

A frame needs ``event_id``, ``type``, ``ts_us`` (integer µs) and the view fields the features read
(entity keys, ``amount_base``, distinct and filter fields; absent ones are None). It is the fast
path: a list of dicts is first turned into one (~1 µs per event and field read, in Python).
Features that count decisions (``action``, ``reason_codes``) need the recorded decisions in the
views (``views_from_jsonl(decisions=...)``).
"""

from __future__ import annotations

import gc
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import polars as pl

from ..config import DEFAULT_FX
from ..events import MONEY_TYPES, Decision, EventError, decode_event
from ..privacy import Tokenizer
from ..rules.expr import Compiler, ExprError
from ..rules.polars_expr import PolarsCompiler
from .definitions import VIEW_NAMES, FeatureSet, FeatureSpec
from .offline_windows import Timeline, WindowReads, seen_reads
from .view import Money, event_view

__all__ = ["ENTITY_FIELDS", "OfflineError", "build", "entity_key", "views_from_jsonl"]

# The view fields each entity key is made of (definitions.ENTITIES, as columns): one field is the
# key itself; a pair (owner, other) is f"{owner}|{other}", or `other` itself when it is None or "".
ENTITY_FIELDS: dict[str, tuple[str, ...]] = {
    "customer": ("customer_id",),
    "card": ("card_id",),
    "device": ("device_id",),
    "ip": ("ip",),
    "merchant": ("merchant_id",),
    "atm": ("atm_id",),
    "account": ("recipient_account",),
    "counterparty": ("counterparty",),
    "to_customer": ("to_customer_id",),
    "customer_counterparty": ("customer_id", "counterparty"),
    "customer_device": ("customer_id", "device_id"),
}
REQUIRED = ("event_id", "type", "ts_us", "customer_id")


class OfflineError(ValueError):
    """Definitions or input the offline builder cannot compute; says which and why."""


def entity_key(entity: str) -> pl.Expr:
    """The key of ``entity`` as a Polars expression over view columns (null: no key)."""
    fields = ENTITY_FIELDS.get(entity)
    if fields is None:
        raise OfflineError(f"entity {entity!r} has no column mapping in features/offline.py ENTITY_FIELDS")
    if len(fields) == 1:
        return pl.col(fields[0])
    owner, other = pl.col(fields[0]).cast(pl.String).fill_null("None"), pl.col(fields[1]).cast(pl.String)
    # `(c := v.get(other)) and f"{owner}|{c}"`: a falsy `c` is the key itself.
    return pl.when(other.is_null() | (other == "")).then(other).otherwise(pl.concat_str([owner, pl.lit("|"), other]))


def views_from_jsonl(path: str | Path, key: bytes = b"k" * 32, fx: dict[str, str] | None = None,
                     dedupe: bool = True, decisions: Mapping[str, Decision] | None = None) -> list[dict[str, Any]]:
    """The event views of a JSON Lines stream, in order, as the engine makes them: decoded,
    tokenised with ``key``, viewed with ``fx``. Invalid lines are skipped; so are repeated
    event ids (``dedupe``), which the engine answers from its record without folding them.

    Features may count what was decided (``action``, ``reason_codes``: the engine adds them to
    the view before the update). Give the recorded ``decisions`` by event id to reproduce those;
    without them the views have neither field (as None: nothing was decided)."""
    tokenizer, money = Tokenizer(key), Money(fx or DEFAULT_FX)
    seen: set[str] = set()
    views: list[dict[str, Any]] = []
    with open(path, "rb") as f:
        for line in f:
            if not line.strip():
                continue
            try:
                event = tokenizer.protect(decode_event(line))  # what the engine refuses, the builder skips
            except EventError:
                continue
            if dedupe:
                if event.event_id in seen:
                    continue
                seen.add(event.event_id)
            v = event_view(event, money)
            if decisions is not None:  # as engine._decision_view
                d = decisions.get(event.event_id)
                v["action"] = d.action if d is not None else None
                v["reason_codes"] = frozenset(r.code for r in d.reasons) if d is not None else frozenset()
            views.append(v)
    return views


def build(views: pl.DataFrame | Sequence[dict[str, Any]], fs: FeatureSet,
          rows: Literal["money", "all"] = "money") -> pl.DataFrame:
    """One row per money movement (``rows="all"``: per event), in stream order: ``event_id`` and
    every output of ``fs``, each equal to what ``OnlineFeatures(fs).read`` gives that event.
    Events of types no feature is updated on read nothing online: their outputs are null."""
    if rows not in ("money", "all"):
        raise OfflineError(f"rows must be 'money' or 'all', got {rows!r}")
    plan = _Plan(fs)
    frame = _frame(views, plan.fields)
    n = frame.height
    if not (frame["ts_us"].dtype.is_integer() or frame["ts_us"].dtype == pl.Null):
        raise OfflineError(f"ts_us must be integer microseconds since the epoch, not {frame['ts_us'].dtype}")
    tl = Timeline(frame["ts_us"].cast(pl.Int64).to_numpy())
    reading = frame["type"].is_in(sorted(plan.read_types)).fill_null(False).to_numpy()
    keys = _key_ids(frame, plan.groups)
    amount = (frame["amount_base"].cast(pl.Int64).fill_null(0).to_numpy() if "amount_base" in frame.columns
              else np.zeros(n, dtype=np.int64))
    schema = {**frame.schema, **{o: pl.Int64() for o in fs.names}}
    compiler = PolarsCompiler(VIEW_NAMES | set(fs.names), schema)
    for spec in plan.order:
        mask = frame["type"].is_in(sorted(spec.on)).fill_null(False)
        if spec.where:
            try:
                where = compiler.compile_polars(spec.where, f"feature {spec.name}")
                mask = mask & frame.with_columns(where.alias("__where"))["__where"]
            except ExprError as exc:
                raise OfflineError(str(exc)) from None
        ukey = keys[spec.entity]
        upd = np.flatnonzero(mask.to_numpy() & (ukey >= 0))
        columns: list[pl.Series] = []
        for entity in spec.read:
            rkey = keys[entity]
            rd = np.flatnonzero(reading & (rkey >= 0))
            columns += _read(spec, entity, tl, upd, ukey[upd], amount, frame, rd, rkey[rd])
        frame = frame.with_columns(columns)
    out = frame.select("event_id", *fs.names)
    if rows == "money":
        out = out.filter(frame["type"].is_in(sorted(MONEY_TYPES)))
    return out


def _read(spec: FeatureSpec, entity: str, tl: Timeline, upd: np.ndarray, ukid: np.ndarray, amount: np.ndarray,
          frame: pl.DataFrame, rd: np.ndarray, rkid: np.ndarray) -> list[pl.Series]:
    """The output columns of ``spec`` read under ``entity``."""
    names = spec.outputs_for(entity)
    n = tl.n
    if spec.kind == "window":
        values = None
        if spec.distinct is not None and "distinct" in spec.aggs:
            values = _dense(frame[spec.distinct])[upd] if spec.distinct in frame.columns else np.full(len(upd), -1)
        wr = WindowReads(tl, upd, ukid, amount[upd], values, rd, rkid)
        pairs = [(w, a) for w in spec.windows_us for a in spec.aggs]
        return [_column(name, n, wr.rows, *wr.read(w, agg)) for name, (w, agg) in zip(names, pairs)]
    rows, at, has = seen_reads(tl, upd, ukid, rd, rkid, first=spec.kind == "first_seen")
    ts = tl.ts[rows]
    if spec.kind == "last_seen":  # microseconds since the latest earlier update; None if none
        return [_column(names[0], n, rows, ts - at, has)]
    # first_seen: since the earliest, never negative; an unseen key is new now (0)
    return [_column(names[0], n, rows, np.where(has, np.maximum(ts - at, 0), 0), np.ones(len(rows), dtype=bool))]


def _column(name: str, n: int, rd: np.ndarray, values: np.ndarray, valid: np.ndarray) -> pl.Series:
    out = np.zeros(n, dtype=np.int64)
    out[rd] = values
    series = pl.Series(name, out, dtype=pl.Int64)
    if len(rd) == n and valid.all():
        return series
    mask = np.zeros(n, dtype=bool)
    mask[rd[valid]] = True
    return series.scatter(np.flatnonzero(~mask), None)


def _dense(series: pl.Series) -> np.ndarray:
    """Integer ids of a column's values (equal values, equal ids; -1 for null)."""
    if series.dtype == pl.String:
        ids = series.cast(pl.Categorical).to_physical()  # a hash table: far cheaper than sorting strings
    else:
        ids = series.rank("dense") - 1
    out = ids.cast(pl.Int64).fill_null(-1).to_numpy()
    if len(out) and out.max() >= len(out):  # keep ids small: they are multiplied by the row count
        valid = out >= 0
        out[valid] = np.unique(out[valid], return_inverse=True)[1]
    return out


def _key_ids(frame: pl.DataFrame, groups: list[list[str]]) -> dict[str, np.ndarray]:
    """Integer ids for entity keys; entities read against each other's tables share one id space."""
    out: dict[str, np.ndarray] = {}
    n = frame.height
    for group in groups:
        cols = frame.select([entity_key(e).alias(e) for e in group])
        if len({cols[e].dtype for e in group}) > 1:
            cols = cols.select(pl.all().cast(pl.String))
        joint = pl.concat([cols[e] for e in group]) if len(group) > 1 else cols[group[0]]
        ids = _dense(joint)
        for i, e in enumerate(group):
            out[e] = ids[i * n:(i + 1) * n]
    return out


class _Plan:
    """What ``build`` needs from a FeatureSet: the order of the specs, the view fields, the types
    that read, and which entities share key ids."""

    def __init__(self, fs: FeatureSet) -> None:
        missing = sorted({e for s in fs.specs for e in (s.entity, *s.read)} - set(ENTITY_FIELDS))
        if missing:  # definitions.ENTITIES gained an entity: give it its fields here too
            raise OfflineError(f"entities without a column mapping in offline.ENTITY_FIELDS: {missing}")
        shadowing = sorted(set(fs.names) & VIEW_NAMES)
        if shadowing:
            raise OfflineError(f"outputs {shadowing} shadow event view fields (online, they overwrite them)")
        self.read_types = {t for s in fs.specs for t in s.on}
        probe = Compiler(())
        used = {s.name: probe.names_used(s.where) if s.where else set() for s in fs.specs}
        self.order = _dependency_order(fs.specs, used)
        fields = set(REQUIRED)
        for s in fs.specs:
            for e in (s.entity, *s.read):
                fields.update(ENTITY_FIELDS[e])
            if s.kind == "window" and ({"sum", "max"} & set(s.aggs)):
                fields.add("amount_base")
            if s.distinct and "distinct" in s.aggs:
                fields.add(s.distinct)
            fields.update(used[s.name] & VIEW_NAMES)
        self.fields = sorted(fields)
        self.groups = _groups([(s.entity, *s.read) for s in fs.specs])


def _dependency_order(specs: list[FeatureSpec], used: dict[str, set[str]]) -> list[FeatureSpec]:
    producer = {o: i for i, s in enumerate(specs) for o in s.outputs}
    deps = [{producer[x] for x in used[s.name] if x in producer} for s in specs]
    done: set[int] = set()
    order: list[FeatureSpec] = []
    while len(order) < len(specs):
        ready = [i for i in range(len(specs)) if i not in done and deps[i] <= done]
        if not ready:
            cyclic = [specs[i].name for i in range(len(specs)) if i not in done]
            raise OfflineError(f"filters of {cyclic} read each other's (or their own) outputs: the values of an "
                               "event would depend on that event's own update, which only a fold can compute")
        done.add(ready[0])
        order.append(specs[ready[0]])
    return order


def _groups(tuples: Iterable[tuple[str, ...]]) -> list[list[str]]:
    """Connected entities (a spec's entity and the entities it is read under)."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        while parent.setdefault(x, x) != x:
            x = parent[x]
        return x

    for t in tuples:
        for e in t[1:]:
            parent[find(e)] = find(t[0])
        find(t[0])
    groups: dict[str, list[str]] = {}
    for e in sorted(parent):
        groups.setdefault(find(e), []).append(e)
    return list(groups.values())


def _frame(views: pl.DataFrame | Sequence[dict[str, Any]], fields: list[str]) -> pl.DataFrame:
    """The view columns ``build`` reads, in stream order; fields no event has are null."""
    if isinstance(views, pl.DataFrame):
        lacking = [c for c in ("event_id", "type", "ts_us") if c not in views.columns]
        if lacking:
            raise OfflineError(f"the views frame lacks the columns {lacking}")
        present = [c for c in fields if c in views.columns]
        return views.select(present).with_columns(pl.lit(None).alias(c) for c in fields if c not in views.columns)
    # Transposed at C speed; the collector is held off meanwhile (a tuple per event would set off
    # full collections that walk every view).
    collecting = gc.isenabled()
    gc.disable()
    try:
        by_field = list(zip(*(tuple(map(v.get, fields)) for v in views))) or [() for _ in fields]
    finally:
        if collecting:
            gc.enable()
    columns = []
    for name, values in zip(fields, by_field):
        kinds = set(map(type, values))
        if kinds & {set, frozenset}:  # reason_codes: a list column
            values = tuple(sorted(x) if isinstance(x, (set, frozenset)) else x for x in values)
        try:
            columns.append(pl.Series(name, values))
        except (TypeError, ValueError, OverflowError, pl.exceptions.PolarsError) as exc:
            raise OfflineError(f"view field {name!r} holds {sorted(k.__name__ for k in kinds)}: "
                               f"no one column type fits ({exc})") from None
    frame = pl.DataFrame(columns)
    if frame.height == 0:  # no events: columns of the types the rest expects
        frame = frame.with_columns(pl.col("ts_us").cast(pl.Int64), pl.col("event_id", "type").cast(pl.String))
    return frame
