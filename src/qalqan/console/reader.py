"""The console's read-only view of the record, on a connection of its own.

The engine's connection belongs to the decision path and its writer thread; pages reading on it
would queue behind group commits (or race them). A second connection reads committed rows only,
which is what a person should see: nothing that could still be rolled back.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from ..store.base import DEFAULT_ORG, ListRow, Row
from ..stream.partition import PARTS_MAX

_COLS = "seq, event_id, type, ts_us, customer, body, action, decision"


class Reader:
    def __init__(self, url: str) -> None:
        self.url = url
        self.pg = url.startswith(("postgresql://", "postgres://"))
        self._conn: Any = None
        self._cols: str | None = None

    @property
    def cols(self) -> str:
        """The event columns, with ``org`` where the record has it (records before organisations
        hold one organisation: the default)."""
        if self._cols is None:
            try:
                self.query("SELECT org FROM events LIMIT 1")
                self._cols = _COLS + ", org"
            except Exception:
                self._cols = _COLS
        return self._cols

    def _connect(self) -> Any:
        if self._conn is None:
            if self.pg:
                import psycopg

                self._conn = psycopg.connect(self.url, autocommit=True)
            else:
                path = self.url[len("sqlite:///"):]
                self._conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
        return self._conn

    def query(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        if self.pg:
            sql = sql.replace("?", "%s")
        try:
            return list(self._connect().execute(sql, args).fetchall())
        except Exception:
            self.close()  # a broken connection is opened afresh on the next query
            raise

    def lanes(self) -> list[int | None]:
        """The record's commit orders: one for a single process's record ([None]); one per
        partition for the workers' shared record (stream/record.py), whose partitions commit
        out of each other's seq order, so a reader must follow each by itself."""
        if not self.pg:
            return [None]
        rows = self.query("SELECT to_regclass('stream_partitions') IS NOT NULL")
        if not rows[0][0]:
            return [None]
        parts = self.query("SELECT parts FROM stream_partitions WHERE id = 1")
        return list(range(int(parts[0][0]))) if parts else [None]

    def rows_after(self, seq: int, limit: int = 20000, lane: int | None = None) -> list[Row]:
        """Rows after ``seq``, of one partition when ``lane`` says which (see ``lanes``)."""
        if lane is None:
            rows = self.query(f"SELECT {self.cols} FROM events WHERE seq > ? ORDER BY seq LIMIT ?", (seq, limit))
        else:
            rows = self.query(f"SELECT {self.cols} FROM events WHERE seq > ? AND mod(seq, ?) = ? ORDER BY seq LIMIT ?",
                              (seq, PARTS_MAX, lane, limit))
        return [_row(r) for r in rows]

    def event(self, org: str, event_id: str) -> Row | None:
        """The event if it is this organisation's: another's is as absent as an unknown one."""
        if self.cols == _COLS:  # a record made before organisations: all of it is the default one's
            rows = self.query(f"SELECT {self.cols} FROM events WHERE event_id = ?", (event_id,))
        else:  # an event id is unique within its organisation only
            rows = self.query(f"SELECT {self.cols} FROM events WHERE org = ? AND event_id = ?", (org, event_id))
        row = _row(rows[0]) if rows else None
        return row if row is not None and row.org == org else None

    def by_seqs(self, seqs: list[int]) -> list[Row]:
        out: list[Row] = []
        for i in range(0, len(seqs), 500):
            chunk = seqs[i:i + 500]
            marks = ",".join("?" * len(chunk))
            out += [_row(r) for r in self.query(f"SELECT {self.cols} FROM events WHERE seq IN ({marks}) ORDER BY seq",
                                                tuple(chunk))]
        return out

    def times_of(self, events: list[tuple[str, str]]) -> dict[tuple[str, str], int]:
        """Event time of each of these (organisation, event id) (those the record has)."""
        out: dict[tuple[str, str], int] = {}
        org_col = "'default'" if self.cols == _COLS else "org"
        for i in range(0, len(events), 500):
            chunk = events[i:i + 500]
            marks = ",".join("?" * len(chunk))
            rows = self.query(f"SELECT {org_col}, event_id, ts_us FROM events WHERE event_id IN ({marks})",
                              tuple(eid for _, eid in chunk))
            wanted = set(chunk)
            out.update(((o, e), int(t)) for o, e, t in rows if (o, e) in wanted)
        return out

    def list_entries(self, org: str) -> list[ListRow]:
        if self.cols == _COLS:
            rows = self.query("SELECT list, entity, value, op, expires_us, seq FROM list_entries "
                              "WHERE op = 'add' ORDER BY list, entity, value")
        else:
            rows = self.query("SELECT list, entity, value, op, expires_us, seq FROM list_entries "
                              "WHERE op = 'add' AND org = ? ORDER BY list, entity, value", (org,))
        return [ListRow(*r) for r in rows]

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None


def _row(r: tuple[Any, ...]) -> Row:
    org = r[8] if len(r) > 8 else DEFAULT_ORG
    return Row(int(r[0]), r[1], r[2], int(r[3]), r[4], bytes(r[5]), r[6], None if r[7] is None else bytes(r[7]), org)
