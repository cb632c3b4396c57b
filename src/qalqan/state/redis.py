"""An engine's (or a worker partition's) feature state in Redis, written behind its memory.

The engine decides from its in-memory state exactly as without Redis (``OnlineFeatures``,
``ListIndex``, ``HoldBook``: the decision path is unchanged and does not know Redis exists); it
calls this object's hooks around it (``newest``, ``on_restored``, ``on_written``). Each group
commit cycle, after the batch is durable in the record (and, in a worker, before its events are
acknowledged), ``flush`` writes what the batch touched to Redis in one ``MULTI``: the feature keys
read or changed (their whole value: a window's entries, a timestamp), the keys swept away, the
lists, the holds, and the local seq the state stands at. Redis therefore always holds the state
as of a committed seq S; a replacement worker loads it (as the engine loads a snapshot) and folds
only the record's rows after S: the last batch at most, when the worker died between the record's
commit and Redis's.

Keys: ``<namespace>:f<i>`` (a hash per feature definition: entity key → msgpack value) and
``<namespace>:meta``. The namespace names the record (its file, or its database), and for a
worker the stream and the partition ``p/N``, in braces, so that a partition's keys hash to one
Redis Cluster slot and its ``MULTI`` is atomic there.
"""

from __future__ import annotations

import time
from typing import Any

import msgspec

_encode = msgspec.msgpack.encode
_decode = msgspec.msgpack.decode


class StateError(RuntimeError):
    """The state backend is misconfigured or unreachable; says which and what to do."""


class Tracked(dict):  # type: ignore[type-arg]
    """A feature table that remembers which keys an update touched since the last flush.

    ``OnlineFeatures.update`` takes a value with ``get`` before it changes it in place (a window's
    entries, a last_seen's times) and sets or deletes keys by item: all tracked here. Its reads go
    through ``dict.get`` and are not: a read only moves a window's cursors and drops entries older
    than every window plus the grace, which a restored window redoes at its next read (as after a
    snapshot), so Redis may hold a few entries more than memory, never different ones."""

    __slots__ = ("dirty",)

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.dirty: set[Any] = set()

    def get(self, key: Any, default: Any = None) -> Any:
        self.dirty.add(key)
        return dict.get(self, key, default)

    def __setitem__(self, key: Any, value: Any) -> None:
        self.dirty.add(key)
        dict.__setitem__(self, key, value)

    def __delitem__(self, key: Any) -> None:
        self.dirty.add(key)
        dict.__delitem__(self, key)


def _array_header(n: int) -> bytes:
    """msgpack's header of an array of n items (fixarray, array 16, array 32)."""
    if n < 16:
        return bytes((0x90 | n,))
    if n < 1 << 16:
        return b"\xdc" + n.to_bytes(2, "big")
    return b"\xdd" + n.to_bytes(4, "big")


def _window_bytes(cache: dict[Any, tuple[Any, Any, int, bytes]], key: Any, entries: list[Any]) -> bytes:
    """A window's entries as msgpack, the same bytes as ``_encode(entries)``, encoding only the
    entries appended since the key was last written. Windows grow at the end; a late event's
    insert or a trim of old entries changes the first or the last remembered entry (by identity),
    and then the whole list is encoded again."""
    n = len(entries)
    if n == 0:
        cache.pop(key, None)
        return _EMPTY
    known = cache.get(key)
    if known is not None and known[2] <= n and entries[0] is known[0] and entries[known[2] - 1] is known[1]:
        body = known[3] if known[2] == n else known[3] + b"".join(map(_encode, entries[known[2]:]))
    else:
        body = b"".join(map(_encode, entries))
    cache[key] = (entries[0], entries[-1], n, body)
    return _array_header(n) + body


_EMPTY = _encode([])
# Pauses (seconds) between attempts to write the state again after Redis failed.
RETRY_FIRST_S = 1.0
RETRY_MAX_S = 30.0


class RedisState:
    def __init__(self, url: str, namespace: str) -> None:
        import redis

        self.url = url
        self.ns = f"{{{namespace}}}"
        # A frozen Redis answers nothing: each write waits at most this long (seconds), and a failed
        # one is retried ever less often (``_failed``), so that the server's loop is not held again and again.
        self.r = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        self.loaded_seq: int | None = None  # the seq of the state load() returned, if any
        self.engine: Any = None
        self.writes = 0  # hash fields written, for the benchmarks
        # Per feature table, each window's encoded entries as last written (``_window_bytes``).
        self._encoded: list[dict[Any, tuple[Any, Any, int, bytes]]] = []
        # The lists' and holds' change counts as last written to Redis.
        self._changes_written = (-1, -1)
        # The last failure to read or write Redis, until a whole write succeeds again. Redis is a
        # write-behind copy: its failure never stops a decision; the worker stops on it (crash-only).
        self.failure: StateError | None = None
        self._retry_at = 0.0
        self._pause_s = RETRY_FIRST_S

    def _errors(self) -> tuple[type[BaseException], ...]:
        import redis

        return (redis.exceptions.RedisError, OSError)

    # --- restore ---------------------------------------------------------------------------------
    def load(self) -> tuple[int, bytes] | None:
        """The partition's state as an engine snapshot (seq, blob), or None if Redis has none."""
        try:
            meta = self.r.hgetall(f"{self.ns}:meta")
            if not meta:
                return None
            n = int(meta[b"tables"])
            tables: list[dict[str, Any]] = []
            for i in range(n):
                raw = self.r.hgetall(f"{self.ns}:f{i}")
                tables.append({k.decode(): _decode(v) for k, v in raw.items()})
        except self._errors() as exc:
            raise StateError(f"QALQAN_STATE: cannot read the state from Redis at {self.url}: {exc}") from None
        features = _encode({"version": meta[b"version"].decode(), "watermark": int(meta[b"watermark"]),
                            "updates": int(meta[b"updates"]), "tables": tables})
        seq = int(meta[b"seq"])
        self.loaded_seq = seq
        return seq, _encode({"features": features, "lists": bytes(meta[b"lists"]), "holds": bytes(meta[b"holds"])})

    def newest(self, snap: tuple[int, bytes] | None, record: Any) -> tuple[int, bytes] | None:
        """The newer of the record's snapshot and the state kept in Redis. Redis ahead of the
        record cannot be this record's state (a crash before the commit, or another record with the
        same name); Redis unreachable means the record's snapshot and a longer fold."""
        try:
            kept = self.load()
        except StateError as exc:
            self.failure, self.loaded_seq = exc, None
            return snap
        if kept is None or kept[0] > record.last_seq() or (snap is not None and kept[0] < snap[0]):
            self.loaded_seq = None
            return snap
        return kept

    # --- the engine's hooks ----------------------------------------------------------------------
    def on_restored(self, engine: Any) -> None:
        """After the engine (re)built its state: track it, and write it whole unless it is exactly
        what Redis holds (loaded from Redis, nothing folded after)."""
        self._attach(engine, full=self.loaded_seq is None or engine.restored > 0 or self.failure is not None)

    def on_written(self, engine: Any) -> None:
        """After a batch is durable in the record. Only a state with nothing pending is the state as
        of a committed seq (the HTTP front decides the next group while one is written): otherwise
        the changes wait for the next quiet commit. After a failure, the next write is whole."""
        if engine.pending:
            return
        if self.failure is not None:
            if time.monotonic() < self._retry_at:
                return
            self._attach(engine, full=True)
            return
        try:
            self.flush()
        except StateError as exc:
            self._failed(exc)

    def _attach(self, engine: Any, full: bool) -> None:
        try:
            self.attach(engine, full)
        except StateError as exc:
            self._failed(exc)
        else:
            if full:
                self.failure = None
                self._pause_s = RETRY_FIRST_S

    def _failed(self, exc: StateError) -> None:
        """Not the decision path: a pause between retries, twice as long each time up to RETRY_MAX_S
        (a frozen Redis costs the serving loop one socket timeout per pause, not one per commit)."""
        self.failure = exc
        self._retry_at = time.monotonic() + self._pause_s
        self._pause_s = min(2 * self._pause_s, RETRY_MAX_S)

    # --- write-behind ----------------------------------------------------------------------------
    def attach(self, engine: Any, full: bool) -> None:
        """Tracks the engine's feature tables from now on; ``full`` writes the whole state first
        (when it was rebuilt from the record, or folded rows Redis has not seen)."""
        self.engine = engine
        f = engine.features
        f.tables = [Tracked(t) for t in f.tables]
        self._encoded = [{} for _ in f.tables]
        if full:
            for t in f.tables:
                t.dirty.update(t.keys())
            self.flush(reset=True)

    def flush(self, reset: bool = False) -> None:
        """Writes what changed since the last flush, and the seq it stands at, in one MULTI."""
        e = self.engine
        f = e.features
        pipe = self.r.pipeline(transaction=True)
        if reset:
            pipe.delete(f"{self.ns}:meta", *(f"{self.ns}:f{i}" for i in range(len(f.tables))))
        written = 0
        for i, (spec, table) in enumerate(zip(f.fs.specs, f.tables)):
            dirty = table.dirty
            if not dirty:
                continue
            window = spec.kind == "window"
            put: dict[str, bytes] = {}
            gone = []
            cache = self._encoded[i]
            for key in dirty:
                value = dict.get(table, key)
                if value is None:
                    gone.append(key)
                    cache.pop(key, None)
                elif window:
                    put[key] = _window_bytes(cache, key, value.entries)
                else:
                    put[key] = _encode(value)
            name = f"{self.ns}:f{i}"
            if put:
                pipe.hset(name, mapping=put)  # type: ignore[arg-type]
            if gone:
                pipe.hdel(name, *gone)
            written += len(put)
            dirty.clear()
        meta: dict[str, Any] = {"seq": e.seq, "version": f.fs.version, "watermark": f.watermark,
                                "updates": f._updates, "tables": len(f.tables)}
        # Lists and holds are written whole, so only when they changed since the last write.
        changes = (e.lists.changes, e.holds.changes)
        if reset or changes[0] != self._changes_written[0]:
            meta["lists"] = e.lists.dump()
        if reset or changes[1] != self._changes_written[1]:
            meta["holds"] = e.holds.dump()
        pipe.hset(f"{self.ns}:meta", mapping=meta)
        try:
            pipe.execute()
        except self._errors() as exc:
            self._changes_written = (-1, -1)  # unknown: write both next time
            raise StateError(f"QALQAN_STATE: cannot write the state to Redis at {self.url}: {exc}") from None
        self._changes_written = changes
        self.writes += written

    def close(self) -> None:
        self.r.close()
