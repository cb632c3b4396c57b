"""The online feature state: incremental, event-time windows per entity key.

Each event is first *read* (the values as of just before it: earlier events with ts in
[ts - window, ts]) and, after its decision, *folded in* when it passes the feature's filter.
Windows keep their entries in time order with running totals, so an in-order event costs O(1)
amortised; a late event (older than the newest entry of its key) is inserted in place and read
by a scan. Keys idle for longer than their window (or ttl) are swept, which bounds memory.

The state is a pure function of the events folded in, in order: a restart loads the last
snapshot and folds the record's later events, and reads the same values as an uninterrupted run.
"""

from __future__ import annotations

from bisect import insort
from collections import deque
from typing import Any

import msgspec

from .definitions import ENTITIES, FeatureSet, FeatureSpec


class Window:
    """Entries (ts, amount, distinct value) of one key within one window, with running aggregates."""

    __slots__ = ("entries", "count", "total", "values")

    def __init__(self) -> None:
        self.entries: deque[tuple[int, int, Any]] = deque()
        self.count = 0
        self.total = 0
        self.values: dict[Any, int] | None = None

    def add(self, ts: int, amount: int, value: Any) -> None:
        entries = self.entries
        if entries and ts < entries[-1][0]:
            lst = list(entries)
            insort(lst, (ts, amount, value), key=lambda e: e[0])
            self.entries = deque(lst)
        else:
            entries.append((ts, amount, value))
        self.count += 1
        self.total += amount
        if value is not None:
            if self.values is None:
                self.values = {}
            self.values[value] = self.values.get(value, 0) + 1

    def evict(self, lo: int) -> None:
        entries = self.entries
        while entries and entries[0][0] < lo:
            _, amount, value = entries.popleft()
            self.count -= 1
            self.total -= amount
            if value is not None and self.values is not None:
                n = self.values[value] - 1
                if n:
                    self.values[value] = n
                else:
                    del self.values[value]

    def read(self, ts: int, window: int, aggs: tuple[str, ...]) -> list[Any]:
        entries = self.entries
        if not entries or entries[-1][0] <= ts:
            self.evict(ts - window)
            count, total = self.count, self.total
            mx = max((e[1] for e in entries), default=None) if "max" in aggs else None
            distinct = len(self.values) if self.values else 0
        else:  # a late event: only entries up to its own time count
            sel = [e for e in entries if ts - window <= e[0] <= ts]
            count, total = len(sel), sum(e[1] for e in sel)
            mx = max((e[1] for e in sel), default=None)
            distinct = len({e[2] for e in sel if e[2] is not None})
        out: list[Any] = []
        for a in aggs:
            if a == "count":
                out.append(count)
            elif a == "sum":
                out.append(total)
            elif a == "max":
                out.append(mx)
            else:
                out.append(distinct)
        return out


class OnlineFeatures:
    """Reads and updates every feature of a FeatureSet for one event view at a time."""

    def __init__(self, fs: FeatureSet, needs: dict[str, set[str]] | None = None) -> None:
        """``needs`` maps an event type to the outputs its decision reads (rules, model); an event
        reads only those and what the filters of the features it updates refer to. Without
        ``needs`` every event reads every feature."""
        self.fs = fs
        self.tables: list[dict[str, Any]] = [{} for _ in fs.specs]
        self.watermark = 0
        self._updates = 0
        self._by_type: dict[str, list[tuple[int, FeatureSpec]]] = {}
        for i, s in enumerate(fs.specs):
            for t in s.on:
                self._by_type.setdefault(t, []).append((i, s))
        from ..rules.expr import Compiler

        probe = Compiler(())
        filter_needs: dict[str, set[str]] = {}
        for s in fs.specs:
            if s.where:
                for t in s.on:
                    filter_needs.setdefault(t, set()).update(probe.names_used(s.where))
        all_names = set(fs.names)
        types = set(self._by_type) | set(needs or {})
        self._plans: dict[str, list[tuple[int, FeatureSpec, list[tuple[Any, list[str]]]]]] = {}
        for t in types:
            wanted = (all_names if needs is None else needs.get(t, set())) | filter_needs.get(t, set())
            plan = []
            for i, s in enumerate(fs.specs):
                reads = [(ENTITIES[e], s.outputs_for(e)) for e in s.read if set(s.outputs_for(e)) & wanted]
                if reads:
                    plan.append((i, s, reads))
            self._plans[t] = plan

    def read(self, v: dict[str, Any], ctx: dict[str, Any]) -> None:
        ts = v["ts_us"]
        tables = self.tables
        for i, s, reads in self._plans.get(v["type"], ()):
            table = tables[i]
            for key_fn, names in reads:
                key = key_fn(v)
                state = table.get(key) if key is not None else None
                if s.kind == "window":
                    if state is None:
                        vals = [None] * len(names) if key is None else [0 if a != "max" else None for a in s.aggs]
                    else:
                        vals = state.read(ts, s.window_us, s.aggs)
                    for n, x in zip(names, vals):
                        ctx[n] = x
                elif s.kind == "last_seen":
                    ctx[names[0]] = None if state is None else ts - state
                else:  # first_seen: an unseen key is new now
                    ctx[names[0]] = None if key is None else (0 if state is None else max(ts - state, 0))

    def update(self, v: dict[str, Any], ctx: dict[str, Any]) -> None:
        specs = self._by_type.get(v["type"])
        if not specs:
            return
        ts = v["ts_us"]
        if ts > self.watermark:
            self.watermark = ts
        tables = self.tables
        for i, s in specs:
            where = s.where_fn
            if where is not None and not where(ctx):
                continue
            key = ENTITIES[s.entity](v)
            if key is None:
                continue
            table = tables[i]
            kind = s.kind
            if kind == "window":
                w = table.get(key)
                if w is None:
                    w = table[key] = Window()
                w.add(ts, v.get("amount_base") or 0, v.get(s.distinct) if s.distinct else None)
            elif kind == "last_seen":
                prev = table.get(key)
                if prev is None or ts > prev:
                    table[key] = ts
            elif key not in table or ts < table[key]:
                table[key] = ts
        self._updates += 1
        if self._updates % 200_000 == 0:
            self.sweep()

    def sweep(self) -> int:
        """Drops keys with nothing left inside their window or ttl; returns how many."""
        dropped = 0
        wm = self.watermark
        for s, table in zip(self.fs.specs, self.tables):
            if s.kind == "window":
                stale = [k for k, w in table.items() if not w.entries or w.entries[-1][0] < wm - s.window_us]
            else:
                stale = [k for k, t in table.items() if t < wm - s.ttl_us]
            for k in stale:
                del table[k]
            dropped += len(stale)
        return dropped

    # --- snapshots --------------------------------------------------------------------------
    def dump(self) -> bytes:
        tables = []
        for s, table in zip(self.fs.specs, self.tables):
            if s.kind == "window":
                tables.append({k: list(w.entries) for k, w in table.items()})
            else:
                tables.append(table)
        return msgspec.msgpack.encode(
            {"version": self.fs.version, "watermark": self.watermark, "updates": self._updates, "tables": tables}
        )

    def load(self, blob: bytes) -> bool:
        """Restores a snapshot; False when it was made from other definitions (then rebuild)."""
        doc = msgspec.msgpack.decode(blob)
        if doc.get("version") != self.fs.version:
            return False
        self.watermark = doc["watermark"]
        self._updates = doc["updates"]
        self.tables = []
        for s, table in zip(self.fs.specs, doc["tables"]):
            if s.kind == "window":
                restored: dict[str, Any] = {}
                for k, entries in table.items():
                    w = Window()
                    for ts, amount, value in entries:
                        w.add(ts, amount, value)
                    restored[k] = w
                self.tables.append(restored)
            else:
                self.tables.append(dict(table))
        return True

    def memory_keys(self) -> int:
        return sum(len(t) for t in self.tables)
