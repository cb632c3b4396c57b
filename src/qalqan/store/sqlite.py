"""SQLite record: the embedded default. WAL journal, group commit.

``synchronous=NORMAL`` in WAL mode survives a crash of the process (SIGKILL) without losing a
committed transaction; a power loss may lose the last commits. ``QALQAN_SQLITE_SYNC=FULL`` makes
every commit reach the disk, at about half the throughput (docs/benchmarks.md).
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .base import (
    DEFAULT_ORG,
    OUTBOX_INSERT,
    Batch,
    Buffered,
    Row,
    StoreError,
    list_rows_with_org,
    outbox_args,
    outbox_query,
)
from .workflow import Execute, Workflow, fill_inbox, inbox_rows

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY,
    event_id TEXT NOT NULL,
    type TEXT NOT NULL,
    ts_us INTEGER NOT NULL,
    customer TEXT NOT NULL,
    body BLOB NOT NULL,
    action TEXT,
    decision BLOB,
    org TEXT NOT NULL DEFAULT 'default',
    clock_us INTEGER,
    UNIQUE (org, event_id)
);
CREATE TABLE IF NOT EXISTS list_entries (
    list TEXT NOT NULL,
    entity TEXT NOT NULL,
    value TEXT NOT NULL,
    op TEXT NOT NULL,
    expires_us INTEGER,
    seq INTEGER NOT NULL,
    org TEXT NOT NULL DEFAULT 'default',
    PRIMARY KEY (org, list, entity, value)
);
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ts_us INTEGER NOT NULL,
    customer TEXT NOT NULL,
    event_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    text TEXT NOT NULL,
    org TEXT NOT NULL DEFAULT 'default'
);
CREATE TABLE IF NOT EXISTS snapshots (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    seq INTEGER NOT NULL,
    blob BLOB NOT NULL
);
"""
# Cases and the audit log (store/workflow.py); created after the migrations below.
PEOPLE = """
CREATE TABLE IF NOT EXISTS cases (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    org TEXT NOT NULL,
    event_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    type TEXT NOT NULL,
    customer TEXT NOT NULL,
    merchant_id TEXT,
    amount TEXT,
    currency TEXT,
    action TEXT NOT NULL,
    opened_us INTEGER NOT NULL,
    due_us INTEGER NOT NULL,
    state TEXT NOT NULL,
    assignee TEXT,
    outcome TEXT,
    note TEXT,
    updated_at TEXT NOT NULL,
    updated_by TEXT,
    UNIQUE (org, event_id)
);
CREATE INDEX IF NOT EXISTS cases_queue ON cases (org, state, due_us);
-- review and hold rows waiting for their case, written in the rows' own transaction
CREATE TABLE IF NOT EXISTS case_inbox (
    seq INTEGER PRIMARY KEY
);
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    org TEXT NOT NULL,
    actor TEXT NOT NULL,
    role TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_org ON audit (org, id);
CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END;
"""


def _migrate(conn: sqlite3.Connection) -> None:
    """Records made before organisations: their rows belong to the default one."""
    if "org" not in {r[1] for r in conn.execute("PRAGMA table_info(events)")}:
        conn.execute("ALTER TABLE events ADD COLUMN org TEXT NOT NULL DEFAULT 'default'")
    if "clock_us" not in {r[1] for r in conn.execute("PRAGMA table_info(events)")}:
        conn.execute("ALTER TABLE events ADD COLUMN clock_us INTEGER")
    if "org" not in {r[1] for r in conn.execute("PRAGMA table_info(outbox)")}:
        conn.execute("ALTER TABLE outbox ADD COLUMN org TEXT NOT NULL DEFAULT 'default'")
        conn.execute("UPDATE outbox SET org = coalesce((SELECT e.org FROM events e "
                     "WHERE e.event_id = outbox.event_id), 'default')")
    conn.execute("DROP INDEX IF EXISTS outbox_event")
    conn.execute("CREATE INDEX IF NOT EXISTS outbox_org_event ON outbox (org, event_id)")
    _unique_per_org(conn, "events")
    if "org" not in {r[1] for r in conn.execute("PRAGMA table_info(list_entries)")}:
        conn.executescript("""
            BEGIN;
            ALTER TABLE list_entries RENAME TO list_entries_v0;
            CREATE TABLE list_entries (list TEXT NOT NULL, entity TEXT NOT NULL, value TEXT NOT NULL,
                op TEXT NOT NULL, expires_us INTEGER, seq INTEGER NOT NULL, org TEXT NOT NULL DEFAULT 'default',
                PRIMARY KEY (org, list, entity, value));
            INSERT INTO list_entries SELECT list, entity, value, op, expires_us, seq, 'default' FROM list_entries_v0;
            DROP TABLE list_entries_v0;
            COMMIT;
        """)


def _unique_per_org(conn: sqlite3.Connection, table: str) -> None:
    """Records made while event ids were unique per deployment: the table is rebuilt with the
    key ``UNIQUE (org, event_id)`` (an event id is unique within its organisation)."""
    row = conn.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)).fetchone()
    if row is None or "event_id TEXT NOT NULL UNIQUE" not in row[0]:
        return
    new = row[0].replace("event_id TEXT NOT NULL UNIQUE", "event_id TEXT NOT NULL").rstrip().rstrip(")")
    columns = ", ".join(r[1] for r in conn.execute(f"PRAGMA table_info({table})"))
    conn.executescript(f"""
        BEGIN;
        ALTER TABLE {table} RENAME TO {table}_v1;
        {new.replace(f"CREATE TABLE {table}", f"CREATE TABLE {table}", 1)}, UNIQUE (org, event_id));
        INSERT INTO {table} ({columns}) SELECT {columns} FROM {table}_v1;
        DROP TABLE {table}_v1;
        COMMIT;
    """)


def _people(conn: sqlite3.Connection) -> None:
    """The people's tables; a record that scanned for cases by cursor moves to the inbox."""
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if "cases" in tables:
        _unique_per_org(conn, "cases")
    conn.executescript(PEOPLE)
    cursor: int | None = None
    if "case_cursor" in tables:
        row = conn.execute("SELECT seq FROM case_cursor WHERE id = 1").fetchone()
        cursor = 0 if row is None else int(row[0])
    conn.execute("BEGIN")
    fill_inbox(conn.execute, "cases" in tables, cursor)
    conn.execute("DROP TABLE IF EXISTS case_cursor")
    conn.execute("COMMIT")


def _create_private(path: Path) -> None:
    """A new record is created owner-only (0600), in a folder of its own made 0700 when it is new
    too: it holds tokens, decisions and the people's notes. SQLite creates the ``-wal`` and
    ``-shm`` files beside it with the database file's own permissions (tests/security checks
    it), so they are 0600 as well. An existing record keeps the permissions it has."""
    if not path.parent.exists():
        path.parent.mkdir(parents=True, mode=0o700, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    os.close(fd)  # an empty file is an empty SQLite database


class SqliteRecord(Buffered, Workflow):
    def __init__(self, path: str) -> None:
        super().__init__()
        self.url = f"sqlite:///{path}"
        if path != ":memory:":
            _create_private(Path(path))
        self.conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.conn.execute("PRAGMA journal_mode=WAL")
        sync = os.environ.get("QALQAN_SQLITE_SYNC", "NORMAL").upper()
        if sync not in ("NORMAL", "FULL"):  # never a silent downgrade of durability (config.py refuses it too)
            raise StoreError(f"QALQAN_SQLITE_SYNC: expected NORMAL or FULL, got {sync!r}")
        self.conn.execute(f"PRAGMA synchronous={sync}")
        # Commits never fold the WAL into the database themselves (a checkpoint inside a commit
        # stalls every answer waiting on it): a checkpointer thread does it beside them.
        self.conn.execute("PRAGMA wal_autocheckpoint=0")
        self.conn.executescript(SCHEMA)
        _migrate(self.conn)
        _people(self.conn)
        self._closing = threading.Event()
        self._checkpointer: threading.Thread | None = None
        if path != ":memory:":
            self._checkpointer = threading.Thread(
                target=self._checkpoint_loop, args=(path,), name="qalqan-wal-checkpoint", daemon=True
            )
            self._checkpointer.start()

    def _write(self, batch: Batch) -> None:
        c = self.conn
        c.execute("BEGIN")
        try:
            if batch.rows:
                c.executemany("INSERT INTO events (seq, event_id, type, ts_us, customer, body, action, decision, org, "
                              "clock_us) VALUES (?,?,?,?,?,?,?,?,?,?)", batch.rows)
                inbox = inbox_rows(batch.rows)
                if inbox:
                    c.executemany("INSERT INTO case_inbox (seq) VALUES (?)", inbox)
            if batch.lists:
                c.executemany(
                    "INSERT INTO list_entries (list, entity, value, op, expires_us, seq, org) VALUES (?,?,?,?,?,?,?) "
                    "ON CONFLICT (org, list, entity, value) "
                    "DO UPDATE SET op=excluded.op, expires_us=excluded.expires_us, seq=excluded.seq",
                    list_rows_with_org(batch),
                )
            if batch.outbox:
                c.executemany(OUTBOX_INSERT, outbox_args(batch))
            if batch.snapshot:
                c.execute("INSERT OR REPLACE INTO snapshots VALUES (1, ?, ?)", batch.snapshot)
            c.execute("COMMIT")
        except BaseException:
            c.execute("ROLLBACK")
            raise

    @contextmanager
    def _transaction(self) -> Iterator[Execute]:
        with self._lock:
            c = self.conn
            c.execute("BEGIN")
            try:
                yield c.execute
                c.execute("COMMIT")
            except BaseException:
                c.execute("ROLLBACK")
                raise

    def lookup(self, event_id: str, org: str = DEFAULT_ORG) -> tuple[bool, bytes | None]:
        with self._lock:
            return self._lookup(event_id, org)

    def _lookup(self, event_id: str, org: str = DEFAULT_ORG) -> tuple[bool, bytes | None]:
        r = self.conn.execute("SELECT decision FROM events WHERE org = ? AND event_id = ?", (org, event_id)).fetchone()
        return (False, None) if r is None else (True, r[0])

    def event_body(self, event_id: str, org: str = DEFAULT_ORG) -> bytes | None:
        with self._lock:
            r = self.conn.execute("SELECT body FROM events WHERE org = ? AND event_id = ?", (org, event_id)).fetchone()
        return None if r is None else r[0]

    def last_seq(self) -> int:
        return int(self.conn.execute("SELECT coalesce(max(seq), 0) FROM events").fetchone()[0])

    def ping(self) -> None:
        """A file beside the process: it answers while the process runs (a full disk shows on write)."""
        with self._lock:
            self.conn.execute("SELECT 1").fetchone()

    def recent_ids(self, horizon_us: int) -> Iterator[tuple[str, int, str]]:
        newest = self.conn.execute("SELECT max(ts_us) FROM events").fetchone()[0]
        if newest is None:
            return
        cur = self.conn.execute("SELECT event_id, ts_us, org FROM events WHERE ts_us >= ? ORDER BY seq",
                                (newest - horizon_us,))
        while batch := cur.fetchmany(20000):
            yield from batch

    def rows_after(self, seq: int) -> Iterator[Row]:
        cur = self.conn.execute("SELECT seq, event_id, type, ts_us, customer, body, action, decision, org, clock_us "
                                "FROM events WHERE seq > ? ORDER BY seq", (seq,))
        while batch := cur.fetchmany(5000):
            for r in batch:
                yield Row(*r)

    def load_snapshot(self) -> tuple[int, bytes] | None:
        r = self.conn.execute("SELECT seq, blob FROM snapshots WHERE id = 1").fetchone()
        return None if r is None else (r[0], r[1])

    def outbox(self, after: int = 0, limit: int = 1000,
               org: str | None = None) -> list[tuple[int, int, str, str, str, str]]:
        sql, args = outbox_query(after, limit, org)
        with self._lock:
            return self.conn.execute(sql, args).fetchall()

    def decisions(self) -> Iterator[tuple[str, bytes]]:
        cur = self.conn.execute("SELECT event_id, decision FROM events WHERE decision IS NOT NULL ORDER BY event_id")
        while batch := cur.fetchmany(5000):
            yield from batch

    def count(self) -> int:
        return int(self.conn.execute("SELECT count(*) FROM events").fetchone()[0])

    def _checkpoint_loop(self, path: str, every_s: float = 0.5) -> None:
        """PASSIVE checkpoints on a connection of their own: they copy WAL frames into the
        database without blocking the writer (SQLite releases the GIL while it works)."""
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        try:
            while not self._closing.wait(every_s):
                conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
        finally:
            conn.close()

    def close(self) -> None:
        self._closing.set()
        if self._checkpointer is not None:
            self._checkpointer.join()
        self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self.conn.close()
