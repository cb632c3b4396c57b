"""One shared PostgreSQL record for several workers, each in its own sequence space.

The engine numbers its rows itself and restores from a snapshot plus the rows after it. A worker
keeps doing exactly that, for its partition only: this record shows the engine a record that
looks like a single process's (local seqs 1, 2, 3 …) and stores each row as
``local * PARTS_MAX + partition``, so workers never collide on ``seq`` and a partition's rows come
back in its own order. Snapshots are kept per partition (``partition_snapshots``), written in the
transaction of the rows up to them, as the embedded record does.

``intel`` and ``listing`` events (partition.broadcast_types) reach every partition, and each
worker records the copy it applied (its fold must find it after a restart): a copy is stored
under ``<event_id>@<partition>`` so that the event ids stay unique; everything else keeps its
id, and ``decisions --export`` is unchanged.

With ``QALQAN_STATE=redis://…`` the engine itself prefers the state kept in Redis to this
snapshot when it is newer (state/redis.py); the record knows nothing of it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

from ..store.base import DEFAULT_ORG, Batch, ListRow, RecordUnavailable, Row, StoreError
from ..store.postgres import PostgresRecord
from .partition import PARTS_MAX, broadcast_types

SCHEMA = """
CREATE TABLE IF NOT EXISTS partition_snapshots (
    part INTEGER PRIMARY KEY,
    seq BIGINT NOT NULL,
    blob BYTEA NOT NULL
);
CREATE TABLE IF NOT EXISTS stream_partitions (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    parts INTEGER NOT NULL
);
"""


class PartitionRecord(PostgresRecord):
    def __init__(self, url: str, part: int, parts: int, lock_wait_s: float = 15.0) -> None:
        if not url.startswith(("postgresql://", "postgres://")):
            raise StoreError(f"QALQAN_DB: workers share the record: it must be postgresql://…, got {url!r}")
        super().__init__(url, f"qalqan-worker-{part}/{parts}")
        self.part, self.parts = part, parts
        self._claim(lock_wait_s)
        with self.conn.cursor() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(727401)")
            cur.execute(SCHEMA)
            row = cur.execute("SELECT parts FROM stream_partitions WHERE id = 1").fetchone()
            if row is None:
                if cur.execute("SELECT EXISTS (SELECT 1 FROM events)").fetchone()[0]:  # type: ignore[index]
                    self.conn.rollback()
                    raise StoreError(f"QALQAN_DB: {url} holds the record of a single process; "
                                     "workers need a record of their own")
                cur.execute("INSERT INTO stream_partitions VALUES (1, %s)", (parts,))
            elif row[0] != parts:
                self.conn.rollback()
                raise StoreError(f"QALQAN_DB: this record was written by {row[0]} partitions, not {parts}; "
                                 "repartitioning needs a fresh record (docs/scaling.md)")
        self.conn.commit()

    def _claim(self, wait_s: float) -> None:
        """One worker per partition: a second one would decide from a state that lacks the first's
        events. The lock is the session's, so it goes when the worker's connection goes (a killed
        worker's within moments); a replacement waits that long for it."""
        deadline = time.monotonic() + wait_s
        while True:
            with self.conn.cursor() as cur:
                got = cur.execute("SELECT pg_try_advisory_lock(727402, %s)", (self.part,)).fetchone()[0]  # type: ignore[index]
            self.conn.commit()
            if got:
                return
            if time.monotonic() >= deadline:
                self.conn.close()
                raise StoreError(f"partition {self.part}/{self.parts} is being decided by another worker "
                                 f"(it holds the partition's lock in {self.url})")
            time.sleep(0.2)

    def _ensure_open(self) -> None:
        """Never a new connection: the partition's lock is the connection's (``_claim``), so a worker
        that lost it may no longer decide the partition: it fails, and its supervisor starts it again
        (crash-only), which claims the lock anew."""
        if self.conn.broken or self.conn.closed:
            raise RecordUnavailable(f"partition {self.part}/{self.parts}: the connection to the record, and with "
                                    "it the partition's lock, is gone")

    # --- the partition's numbering ------------------------------------------------------------
    def _stored(self, seq: int) -> int:
        return seq * PARTS_MAX + self.part

    def _stored_id(self, row: Row) -> str:
        return f"{row.event_id}@{self.part}" if row.type in broadcast_types() else row.event_id

    def _local_id(self, event_id: str) -> str:
        suffix = f"@{self.part}"
        return event_id[: -len(suffix)] if event_id.endswith(suffix) else event_id

    def _write(self, batch: Batch) -> None:
        rows = [r._replace(seq=self._stored(r.seq), event_id=self._stored_id(r)) for r in batch.rows]
        lists = [ListRow(*r[:5], self._stored(r.seq)) for r in batch.lists]
        if batch.snapshot:
            try:
                with self._call(bulk=True), self.conn.cursor() as cur:
                    cur.execute("INSERT INTO partition_snapshots VALUES (%s, %s, %s) ON CONFLICT (part) "
                                "DO UPDATE SET seq=excluded.seq, blob=excluded.blob", (self.part, *batch.snapshot))
            except BaseException:
                if not (self.conn.broken or self.conn.closed):
                    self.conn.rollback()
                raise
        super()._write(Batch(rows, lists, None, batch.outbox))  # one transaction with the snapshot

    # --- reads, scoped to the partition ----------------------------------------------------------
    def _lookup(self, event_id: str, org: str = DEFAULT_ORG) -> tuple[bool, bytes | None]:
        with self._call(), self.conn.cursor() as cur:
            r = cur.execute("SELECT decision FROM events WHERE org = %s AND event_id = ANY(%s)",
                            (org, [event_id, f"{event_id}@{self.part}"])).fetchone()
            self.conn.commit()
        return (False, None) if r is None else (True, None if r[0] is None else bytes(r[0]))

    def last_seq(self) -> int:
        with self._call(bulk=True), self.conn.cursor() as cur:
            r = cur.execute("SELECT coalesce(max(seq), -1) FROM events WHERE mod(seq, %s) = %s",
                            (PARTS_MAX, self.part)).fetchone()
            self.conn.commit()
        return max(int(r[0]) // PARTS_MAX, 0)  # type: ignore[index]

    def recent_ids(self, horizon_us: int) -> Iterator[tuple[str, int, str]]:
        with self._call(bulk=True) as touch, self.conn.cursor(name="recent_ids") as cur:
            cur.itersize = 20000
            cur.execute(
                "SELECT event_id, ts_us, org FROM events WHERE mod(seq, %(m)s) = %(p)s AND ts_us >= "
                "(SELECT max(ts_us) FROM events WHERE mod(seq, %(m)s) = %(p)s) - %(h)s ORDER BY seq",
                {"m": PARTS_MAX, "p": self.part, "h": horizon_us},
            )
            for r in cur:
                touch()
                yield self._local_id(r[0]), int(r[1]), r[2]
            self.conn.commit()

    def rows_after(self, seq: int) -> Iterator[Row]:
        with self._call(bulk=True) as touch, self.conn.cursor(name="rows_after") as cur:
            cur.itersize = 5000
            cur.execute("SELECT seq, event_id, type, ts_us, customer, body, action, decision, org, clock_us "
                        "FROM events WHERE seq > %s AND mod(seq, %s) = %s ORDER BY seq",
                        (self._stored(seq), PARTS_MAX, self.part))
            for r in cur:
                touch()
                yield Row(int(r[0]) // PARTS_MAX, self._local_id(r[1]), r[2], r[3], r[4], bytes(r[5]), r[6],
                          None if r[7] is None else bytes(r[7]), r[8], r[9])
            self.conn.commit()

    def load_snapshot(self) -> tuple[int, bytes] | None:
        """The partition's own snapshot."""
        with self._call(bulk=True), self.conn.cursor() as cur:
            r = cur.execute("SELECT seq, blob FROM partition_snapshots WHERE part = %s", (self.part,)).fetchone()
            self.conn.commit()
        return None if r is None else (int(r[0]), bytes(r[1]))
