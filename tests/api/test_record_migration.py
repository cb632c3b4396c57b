"""A record made before organisations opens as the default organisation's, on both backends, and
its event ids become unique within an organisation (they were unique per deployment)."""

from __future__ import annotations

import sqlite3

from qalqan.store import open_record
from qalqan.store.base import Row

OLD = [
    "CREATE TABLE events (seq INTEGER PRIMARY KEY, event_id TEXT NOT NULL UNIQUE, type TEXT NOT NULL, "
    "ts_us BIGINT NOT NULL, customer TEXT NOT NULL, body BYTEA NOT NULL, action TEXT, decision BYTEA)",
    "CREATE TABLE list_entries (list TEXT NOT NULL, entity TEXT NOT NULL, value TEXT NOT NULL, op TEXT NOT NULL, "
    "expires_us BIGINT, seq BIGINT NOT NULL, PRIMARY KEY (list, entity, value))",
    "INSERT INTO events VALUES (1, 'old-1', 'transfer', 5, 'tok', 'e30=', 'approve', NULL)",
    "INSERT INTO list_entries VALUES ('internal', 'card', 'tok-card', 'add', NULL, 1)",
]


def test_an_old_record_is_the_default_organisations(db_url) -> None:
    if db_url.startswith("sqlite"):
        conn = sqlite3.connect(db_url[len("sqlite:///"):])
        for sql in OLD:
            conn.execute(sql.replace("BYTEA", "BLOB"))
        conn.commit()
        conn.close()
    else:
        import psycopg

        with psycopg.connect(db_url, autocommit=True) as conn:
            for sql in OLD:
                conn.execute(sql.replace("INTEGER PRIMARY KEY", "BIGINT PRIMARY KEY"))
    record = open_record(db_url)
    try:
        assert record.lookup("old-1", "default")[0] and not record.lookup("old-1", "bank1")[0]
        assert [r.event_id for r in record.rows_after(0)] == ["old-1"]
        assert record.list_entries("default", "internal") == [("internal", "card", "tok-card", "add", None, 1)]
        record.append(Row(2, "new-1", "transfer", 6, "tok", b"{}", "approve", None, "bank1"))
        record.append(Row(3, "old-1", "transfer", 7, "tok", b"{}", "approve", None, "bank1"))  # bank1's own old-1
        record.commit()
        assert record.event_in("bank1", "new-1") is not None and record.event_in("default", "new-1") is None
        assert [r.org for r in record.rows_after(0) if r.event_id == "old-1"] == ["default", "bank1"]
        assert record.lookup("old-1", "bank1")[0] and not record.lookup("new-1", "default")[0]
    finally:
        record.close()
