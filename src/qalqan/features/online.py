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

from bisect import bisect_right, insort
from typing import Any

import msgspec

from .definitions import ENTITIES, FeatureSet, FeatureSpec

# Entries older than the longest window stay this long before they are dropped, so that a
# slightly late event still finds what was inside its own windows.
GRACE_US = 3_600_000_000


def _seen_at(times: list[int], ts: int) -> None:
    """Adds a last_seen time. The key keeps its latest time and the times within GRACE_US before
    it (and one older), so that a late event reads the latest time before its own, not a later one."""
    if ts >= times[-1]:
        times.append(ts)
        if len(times) > 2 and times[1] < ts - GRACE_US:
            lo = ts - GRACE_US
            i = 1
            while i < len(times) - 1 and times[i] < lo:
                i += 1
            del times[: i - 1]
    else:
        insort(times, ts)


def _since_latest(times: list[int], ts: int) -> int | None:
    """Microseconds since the latest time at or before ``ts``; None if there is none."""
    last = times[-1]
    if last <= ts:
        return ts - last
    i = bisect_right(times, ts)
    return ts - times[i - 1] if i else None


# Reads take a table's value with the plain dict's get: a table may be a subclass that tracks the
# keys an update touches (state/redis.py writes those behind), and a read changes nothing that a
# restore would not redo (it moves cursors and drops entries older than every window and grace).
_peek = dict.get


class Windows:
    """One key's entries (ts, amount, distinct value) in time order, with running aggregates
    for each of several windows that share them (1 h, 24 h and 180 d cost one list).

    Each window keeps a cursor: the index of its oldest entry, and the amount its cursor has
    passed. A window's sum is the amount ever added less the amount its cursor passed, so adding
    an entry touches one total whatever the number of windows. Reading at time t moves the
    cursors forward past entries older than t - w: O(1) amortised per event.
    Memory: about 90 bytes per entry inside the longest window (+ grace), plus ~200 per key.
    """

    __slots__ = ("entries", "starts", "cuts", "added", "values", "now")

    def __init__(self, n: int, distinct: bool) -> None:
        self.entries: list[tuple[int, int, Any]] = []
        self.starts = [0] * n
        self.cuts = [0] * n
        self.added = 0
        self.values: list[dict[Any, int]] | None = [{} for _ in range(n)] if distinct else None
        self.now = 0  # the time the cursors were last moved to

    def add(self, ts: int, amount: int, value: Any) -> None:
        entries = self.entries
        if entries and ts < entries[-1][0]:
            insort(entries, (ts, amount, value), key=lambda e: e[0])
            return self._recount()
        entries.append((ts, amount, value))
        self.added += amount
        if value is not None and self.values is not None:
            for d in self.values:
                d[value] = d.get(value, 0) + 1

    def _recount(self) -> None:
        """After a late insert: cursors and aggregates from scratch, as of ``now``."""
        entries = self.entries
        self.added = sum(e[1] for e in entries)
        for i in range(len(self.starts)):
            self.starts[i] = 0
            self.cuts[i] = 0
            if self.values is not None:
                d: dict[Any, int] = {}
                for e in entries:
                    if e[2] is not None:
                        d[e[2]] = d.get(e[2], 0) + 1
                self.values[i] = d
        self.now = 0

    def advance(self, ts: int, windows: tuple[int, ...]) -> None:
        entries = self.entries
        n = len(entries)
        values = self.values
        starts = self.starts
        for i, w in enumerate(windows):
            lo = ts - w
            j = starts[i]
            if j < n and entries[j][0] < lo:
                cut = self.cuts[i]
                d = values[i] if values is not None else None
                while j < n and entries[j][0] < lo:
                    _, amount, value = entries[j]
                    cut += amount
                    if d is not None and value is not None:
                        c = d[value] - 1
                        if c:
                            d[value] = c
                        else:
                            del d[value]
                    j += 1
                starts[i] = j
                self.cuts[i] = cut
        self.now = ts
        # Drop what even the longest window no longer needs, in chunks to keep it amortised.
        keep_from = starts[-1]
        if keep_from > 64 and keep_from * 2 > n and entries[keep_from - 1][0] < ts - windows[-1] - GRACE_US:
            del entries[:keep_from]
            self.starts = [s - keep_from for s in starts]

    def read(self, ts: int, windows: tuple[int, ...], wanted: list[tuple[int, str]]) -> list[Any]:
        entries = self.entries
        if ts >= self.now and (not entries or entries[-1][0] <= ts):
            self.advance(ts, windows)
            out: list[Any] = []
            n = len(entries)
            for i, agg in wanted:
                if agg == "count":
                    out.append(n - self.starts[i])
                elif agg == "sum":
                    out.append(self.added - self.cuts[i])
                elif agg == "max":
                    out.append(max((e[1] for e in entries[self.starts[i]:]), default=None))
                else:
                    out.append(len(self.values[i]) if self.values is not None else 0)
            return out
        return self._scan(ts, windows, wanted)

    def _scan(self, ts: int, windows: tuple[int, ...], wanted: list[tuple[int, str]]) -> list[Any]:
        """A late event: only entries in its own windows, up to its own time, count."""
        out: list[Any] = []
        for i, agg in wanted:
            sel = [e for e in self.entries if ts - windows[i] <= e[0] <= ts]
            if agg == "count":
                out.append(len(sel))
            elif agg == "sum":
                out.append(sum(e[1] for e in sel))
            elif agg == "max":
                out.append(max((e[1] for e in sel), default=None))
            else:
                out.append(len({e[2] for e in sel if e[2] is not None}))
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
        # What ``update`` does per event type, unpacked once: (table index, filter, key, kind,
        # number of windows, distinct field).
        self._update_plans = {
            t: [(i, s.where_fn, ENTITIES[s.entity], s.kind, len(s.windows_us), s.distinct) for i, s in specs]
            for t, specs in self._by_type.items()
        }
        self.replan(needs)

    def replan(self, needs: dict[str, set[str]] | None) -> None:
        """Chooses what each event type reads (again, when the rules that read change)."""
        from ..rules.expr import Compiler

        fs = self.fs
        probe = Compiler(())
        filter_needs: dict[str, set[str]] = {}
        for s in fs.specs:
            if s.where:
                for t in s.on:
                    filter_needs.setdefault(t, set()).update(probe.names_used(s.where))
        all_names = set(fs.names)
        types = set(self._by_type) | set(needs or {})
        # Any output can also be read on demand, the first time a rule asks for it (LazyView).
        self._lazy: dict[str, tuple[int, FeatureSpec, Any, list[str], list[Any]]] = {}
        for i, s in enumerate(fs.specs):
            for e in s.read:
                names = s.outputs_for(e)
                pairs = [(wi, a) for wi in range(len(s.windows)) for a in s.aggs] if s.kind == "window" else []
                group = (i, s, ENTITIES[e], names, pairs)
                for n in names:
                    self._lazy[n] = group
        self._plans: dict[str, list[tuple[int, FeatureSpec, list[tuple[Any, list[str], list[Any]]]]]] = {}
        for t in types:
            wanted = (all_names if needs is None else needs.get(t, set())) | filter_needs.get(t, set())
            plan = []
            for i, s in enumerate(fs.specs):
                reads = []
                for e in s.read:
                    names = s.outputs_for(e)
                    if s.kind == "window":
                        pairs = [(wi, a) for wi in range(len(s.windows)) for a in s.aggs]
                        chosen = [(n, p) for n, p in zip(names, pairs) if n in wanted]
                        if chosen:
                            reads.append((ENTITIES[e], [n for n, _ in chosen], [p for _, p in chosen]))
                    elif names[0] in wanted:
                        reads.append((ENTITIES[e], names, []))
                if reads:
                    plan.append((i, s, reads))
            self._plans[t] = plan

    def read(self, v: dict[str, Any], ctx: dict[str, Any]) -> None:
        """Reads the outputs this event type always needs (its filters', the model's)."""
        group = self._group
        for i, s, reads in self._plans.get(v["type"], ()):
            for key_fn, names, pairs in reads:
                group(v, ctx, i, s, key_fn, names, pairs)

    def read_lazy(self, ctx: dict[str, Any], name: str) -> bool:
        """Reads one output (and its siblings) on demand; False if no feature has that name."""
        g = self._lazy.get(name)
        if g is None:
            return False
        self._group(ctx, ctx, *g)
        return True

    def _group(self, v: dict[str, Any], ctx: dict[str, Any], i: int, s: FeatureSpec, key_fn: Any,
               names: list[str], pairs: list[Any]) -> None:
        ts = v["ts_us"]
        key = key_fn(v)
        state = _peek(self.tables[i], key) if key is not None else None
        if s.kind == "window":
            if state is None:
                vals = [None] * len(names) if key is None else [None if a == "max" else 0 for _, a in pairs]
            else:
                vals = state.read(ts, s.windows_us, pairs)
            for n, x in zip(names, vals):
                ctx[n] = x
        elif s.kind == "last_seen":
            ctx[names[0]] = None if state is None else _since_latest(state, ts)
        else:  # first_seen: an unseen key is new now
            ctx[names[0]] = None if key is None else (0 if state is None else max(ts - state, 0))

    def update(self, v: dict[str, Any], ctx: dict[str, Any]) -> None:
        plan = self._update_plans.get(v["type"])
        if not plan:
            return
        ts = v["ts_us"]
        if ts > self.watermark:
            self.watermark = ts
        tables = self.tables
        amount = -1
        for i, where, key_fn, kind, n, distinct in plan:
            if where is not None and not where(ctx):
                continue
            key = key_fn(v)
            if key is None:
                continue
            table = tables[i]
            if kind == "window":
                w = table.get(key)
                if w is None:
                    w = table[key] = Windows(n, distinct is not None)
                if amount < 0:
                    amount = v.get("amount_base") or 0
                w.add(ts, amount, v.get(distinct) if distinct else None)
            elif kind == "last_seen":
                times = table.get(key)
                if times is None:
                    table[key] = [ts]
                else:
                    _seen_at(times, ts)
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
                stale = [
                    k for k, w in table.items() if not w.entries or w.entries[-1][0] < wm - s.windows_us[-1] - GRACE_US
                ]
            elif s.kind == "last_seen":
                stale = [k for k, t in table.items() if t[-1] < wm - s.ttl_us]
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
                tables.append({k: w.entries for k, w in table.items()})
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
                    w = Windows(len(s.windows_us), s.distinct is not None)
                    for ts, amount, value in entries:
                        w.add(ts, amount, value)
                    restored[k] = w
                self.tables.append(restored)
            elif s.kind == "last_seen":  # a list of times; snapshots before that kept one
                self.tables.append({k: t if isinstance(t, list) else [t] for k, t in table.items()})
            else:
                self.tables.append(dict(table))
        return True

    def memory_keys(self) -> int:
        return sum(len(t) for t in self.tables)
