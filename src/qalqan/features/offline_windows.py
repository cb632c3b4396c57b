"""Vectorised kernels of the offline builder: windows and first/last seen over a whole stream.

Everything is numpy over integer arrays. Rows are events in stream order (``pos``); every event
also has a ``rank``, its place in (ts, pos) order. An update q is *before* a read p, as the online
state sees it, when q < p in the stream and ts_q <= ts_p; on a time-ordered stream that is exactly
rank_q < rank_p, so a window [ts - w, ts] of a key is a contiguous run of that key's updates
sorted by (key, rank): two ``searchsorted`` calls give its ends, prefix sums give count and sum,
a sparse table gives max, and a per-value "next occurrence" gives distinct counts (below).

Late events (ts older than an earlier event's) break the equivalence only for readers that have
a *later* update of their key with an *older* ts; those few are detected and recounted exactly.
"""

from __future__ import annotations

import numpy as np

I64 = np.int64
_MIN = np.iinfo(I64).min


class Timeline:
    """The stream's times, and each event's rank in (ts, stream position) order."""

    def __init__(self, ts: np.ndarray) -> None:
        self.ts = ts.astype(I64, copy=False)
        self.n = n = len(ts)
        self.in_order = bool(n < 2 or (np.diff(self.ts) >= 0).all())
        if self.in_order:
            self.rank = np.arange(n, dtype=I64)
            self.sorted_ts = self.ts
        else:
            order = np.argsort(self.ts, kind="stable")
            self.rank = np.empty(n, dtype=I64)
            self.rank[order] = np.arange(n, dtype=I64)
            self.sorted_ts = self.ts[order]
        self._starts: dict[int, np.ndarray] = {}

    def window_start(self, w: int) -> np.ndarray:
        """For every event, the first rank whose ts is >= its ts - w (shared by all features)."""
        lo = self._starts.get(w)
        if lo is None:
            lo = self._starts[w] = np.searchsorted(self.sorted_ts, self.ts - w, "left")
        return lo


class _RangeMax:
    """Range max over a fixed array for many ranges at once: a sparse table (level k holds the max
    of each run of 2^k), grown only as far as the longest range asked for — a window rarely holds
    more than a few hundred updates of one key, so a handful of levels."""

    def __init__(self, values: np.ndarray) -> None:
        self.levels = [values]

    def query(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """max(values[a:b]) per pair; ``_MIN`` where empty."""
        length = b - a
        if not len(length) or length.max(initial=0) <= 0:
            return np.full(len(a), _MIN, dtype=I64)
        k = np.frexp(np.maximum(length, 1))[1] - 1  # floor(log2(length)), exact
        top = int(k.max())
        while len(self.levels) <= top:
            prev, half = self.levels[-1], 1 << (len(self.levels) - 1)
            self.levels.append(np.maximum(prev[:-half], prev[half:]) if len(prev) > half else prev[:0])
        out = np.full(len(a), _MIN, dtype=I64)
        for level in np.unique(k[length > 0]):
            sel = np.flatnonzero((k == level) & (length > 0))
            table = self.levels[level]
            out[sel] = np.maximum(table[a[sel]], table[b[sel] - (1 << int(level))])
        return out


def _suffix_min(kid: np.ndarray, rank: np.ndarray, n: int) -> np.ndarray:
    """The min of ``rank`` over each element and the rest of its run of equal ``kid`` (sorted):
    offsetting each run by kid·n keeps one reversed accumulate from crossing runs."""
    off = kid * n
    return np.minimum.accumulate((off + rank)[::-1])[::-1] - off


class WindowReads:
    """The windows of one feature read under one entity: updates (rows ``upd`` with keys ``ukid``,
    amounts, distinct-value ids or -1) against readers (rows ``rd``, keys ``rkid``).

    Readers are processed in (key, rank) order, ``rows`` (their rows in that order) says where each
    value goes: every search then runs over sorted queries, several times faster than in stream
    order on large tables."""

    def __init__(self, tl: Timeline, upd: np.ndarray, ukid: np.ndarray, amount: np.ndarray,
                 values: np.ndarray | None, rd: np.ndarray, rkid: np.ndarray) -> None:
        n = tl.n
        self.tl, self.n = tl, n
        comp = ukid * n + tl.rank[upd]
        order = np.argsort(comp)
        self.C = comp[order]
        self.amount = amount[order]
        self.values = values[order] if values is not None else None
        same = len(rd) == len(upd) and np.array_equal(rd, upd) and np.array_equal(rkid, ukid)
        # When every event reads the key it updates, one sort serves both, and each reader's own
        # update is where its window ends.
        ro = order if same else np.argsort(rkid * n + tl.rank[rd])
        self.ro = ro
        self.rows = rd[ro]
        self.rkid = rkid[ro]
        self.base = self.rkid * n
        self.b = np.arange(len(ro), dtype=I64) if same else np.searchsorted(self.C, self.base + tl.rank[self.rows])
        self._a: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._cs: np.ndarray | None = None
        self._tree: _RangeMax | None = None
        self._distinct: _Distinct | None = None
        # On a stream with late events, readers that the rank order would mislead; recounted exactly.
        self.late = np.zeros(0, dtype=I64)
        if not tl.in_order and len(upd):
            self._find_late(upd, ukid, amount, values)

    def read(self, w: int, agg: str) -> tuple[np.ndarray, np.ndarray]:
        """Values and validity (max is None over an empty window), for the readers in ``rows`` order."""
        lo_a = self._a.get(w)
        if lo_a is None:  # the window's first update, per reader: shared by the aggregates
            lo = self.tl.window_start(w)[self.rows]
            lo_a = self._a[w] = (lo, np.searchsorted(self.C, self.base + lo))
        lo, a = lo_a
        b = self.b
        if agg == "count":
            out, valid = b - a, np.ones(len(b), dtype=bool)
        elif agg == "sum":
            if self._cs is None:
                self._cs = np.concatenate(([0], np.cumsum(self.amount, dtype=I64)))
            out, valid = self._cs[b] - self._cs[a], np.ones(len(b), dtype=bool)
        elif agg == "max":
            if self._tree is None:
                self._tree = _RangeMax(self.amount)
            out = self._tree.query(a, b)
            valid = b > a
        else:
            if self._distinct is None:
                assert self.values is not None
                self._distinct = _Distinct(self.C, self.values, self.n, self.base, b, self.rkid)
            out, valid = self._distinct.count(self.base + lo), np.ones(len(b), dtype=bool)
        if len(self.late):
            self._recount(w, agg, out, valid)
        return out, valid

    # --- late events ---------------------------------------------------------------------
    def _find_late(self, upd: np.ndarray, ukid: np.ndarray, amount: np.ndarray, values: np.ndarray | None) -> None:
        n = self.n
        comp = ukid * n + upd
        order = np.argsort(comp)
        self.P = comp[order]  # updates by (key, stream position)
        self.p_upd = upd[order]
        self.p_amount = amount[order]
        self.p_values = values[order] if values is not None else None
        kid = self.P // n
        # A reader is misled when a later update of its key sorts before it by (ts, position).
        rest_min = _suffix_min(kid, self.tl.rank[self.p_upd], n)
        j = np.searchsorted(self.P, self.base + self.rows, "right")  # the key's first update after the reader
        jj = np.minimum(j, len(self.P) - 1)
        late = (j < len(self.P)) & (kid[jj] == self.rkid) & (rest_min[jj] < self.tl.rank[self.rows])
        self.late = np.flatnonzero(late)

    def _recount(self, w: int, agg: str, out: np.ndarray, valid: np.ndarray) -> None:
        """The definition itself, for the misled readers: earlier updates with ts in [t - w, t]."""
        ts = self.tl.ts
        for i in self.late:
            p = self.rows[i]
            t = ts[p]
            s = np.searchsorted(self.P, self.base[i])
            e = np.searchsorted(self.P, self.base[i] + p)  # updates before the reader in the stream
            uts = ts[self.p_upd[s:e]]
            sel = (uts >= t - w) & (uts <= t)
            amounts = self.p_amount[s:e][sel]
            if agg == "count":
                out[i] = len(amounts)
            elif agg == "sum":
                out[i] = int(amounts.sum())
            elif agg == "max":
                valid[i] = len(amounts) > 0
                out[i] = amounts.max() if len(amounts) else _MIN
            else:
                assert self.p_values is not None
                vals = self.p_values[s:e][sel]
                out[i] = len(np.unique(vals[vals >= 0]))


class _Distinct:
    """Distinct values in a window, for all readers at once.

    Updates with a value, sorted by (key, rank), indices i; next(i) is the next index of the same
    key and value (or the key's end). The window of reader p is [a_p, b_p); its distinct count is
    #{i in [a_p, b_p): next(i) >= b_p}: each value counted at its last occurrence. Readers of a key,
    in rank order, have non-decreasing a and b, so the readers that count update i form one
    contiguous run — b_p in (i, next(i)] and a_p <= i — found by searchsorted; a difference array
    and a cumulative sum then count for every reader. Adding the key id to positions keeps runs of
    different keys apart in one sorted array."""

    def __init__(self, C: np.ndarray, values: np.ndarray, n: int, base: np.ndarray, b_all: np.ndarray,
                 rkid: np.ndarray) -> None:
        keep = values >= 0
        self.C = Cd = C[keep]
        vals = values[keep]
        m = len(Cd)
        kid = Cd // n
        idx = np.arange(m, dtype=I64)
        span = int(vals.max(initial=0)) + 1
        if (int(kid.max(initial=0)) + 1) * span < 2**62:  # one composite sort (stable: keeps idx order)
            o = np.argsort(kid * span + vals, kind="stable")
        else:
            o = np.lexsort((idx, vals, kid))
        nxt = np.full(m, -1, dtype=I64)
        if m > 1:
            same = (kid[o][1:] == kid[o][:-1]) & (vals[o][1:] == vals[o][:-1])
            nxt[o[:-1]] = np.where(same, o[1:], -1)
        end = np.searchsorted(Cd, (kid + 1) * n)
        nxt = np.where(nxt < 0, end, nxt)
        self.Q = idx + kid
        self.NQ = nxt + kid
        self.rkid = rkid
        # b over the updates with a value: those among the first b_all updates of all.
        before = np.concatenate(([0], np.cumsum(keep, dtype=I64)))
        B = before[b_all] + rkid
        # Readers whose b lies in (i, next(i)]: the same for every window.
        self.first = np.searchsorted(B, self.Q, "right")
        self.last = np.searchsorted(B, self.NQ, "right")

    def count(self, lo_comp: np.ndarray) -> np.ndarray:
        A = np.searchsorted(self.C, lo_comp) + self.rkid
        r = len(A)
        first = self.first
        stop = np.minimum(self.last, np.searchsorted(A, self.Q, "right"))
        ok = stop > first
        diff = np.bincount(first[ok], minlength=r + 1) - np.bincount(stop[ok], minlength=r + 1)
        return np.cumsum(diff)[:r]


def seen_reads(tl: Timeline, upd: np.ndarray, ukid: np.ndarray, rd: np.ndarray, rkid: np.ndarray,
               first: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each reader (returned as ``rows``, sorted by key and position): the ts of the latest
    update of its key earlier in the stream and not later in time (``first``: the earliest update
    earlier in the stream), and whether there is one — as the online state reads them."""
    n = tl.n
    ro = np.argsort(rkid * n + rd)
    rows, rkid = rd[ro], rkid[ro]
    comp = ukid * n + upd
    order = np.argsort(comp)
    C = comp[order]
    if len(C) == 0:
        return rows, np.zeros(len(rd), dtype=I64), np.zeros(len(rd), dtype=bool)
    kid = C // n
    rank = tl.rank[upd][order]
    if first:  # running min within a key, by position: offsets that decrease with the key
        off = (kid.max() - kid) * n
        acc = np.minimum.accumulate(off + rank) - off
    else:
        acc = np.maximum.accumulate(kid * n + rank) - kid * n
    i = np.searchsorted(C, rkid * n + rows, "left") - 1  # the reader itself updates after it reads
    ii = np.maximum(i, 0)
    valid = (i >= 0) & (kid[ii] == rkid)
    at = acc[ii]
    if not first and not tl.in_order:
        # A late reader whose latest earlier update is later in time: the latest one before it.
        mine = tl.rank[rows]
        for j in np.flatnonzero(valid & (at > mine)):
            lo = np.searchsorted(C, rkid[j] * n, "left")
            earlier = rank[lo:i[j] + 1]
            before = earlier[earlier < mine[j]]
            if len(before):
                at[j] = before.max()
            else:
                valid[j] = False
    return rows, tl.sorted_ts[at], valid
