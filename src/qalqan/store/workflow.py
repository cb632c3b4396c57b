"""The people's side of the record: cases, the audit log, and reads scoped by organisation.

Both backends share this SQL; each gives ``_transaction`` (one transaction under the record's
lock, ``?`` placeholders) and ``DIALECT``. None of it runs on the hot path: the engine's group
commit never touches these tables, and cases are opened by a scan of committed decisions.
The audit table has no update or delete here, and a trigger in each backend refuses them in SQL.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import msgspec

from .base import DEFAULT_ORG, OUTBOX_INSERT, Notice6, Row

Execute = Callable[[str, tuple[Any, ...]], Any]

CASE_COLUMNS = ("id", "org", "event_id", "seq", "type", "customer", "merchant_id", "amount", "currency", "action",
                "opened_us", "due_us", "state", "assignee", "outcome", "note", "updated_at", "updated_by")
AUDIT_COLUMNS = ("id", "at", "org", "actor", "role", "action", "target", "detail")
_EVENT_COLUMNS = "seq, event_id, type, ts_us, customer, body, action, decision, org"
_INBOX_COLUMNS = ", ".join(f"e.{c}" for c in _EVENT_COLUMNS.split(", "))
# Decisions that open a case: the record files them in ``case_inbox`` as it commits them.
CASE_ACTIONS = ("review", "hold")


def inbox_rows(rows: Any) -> list[tuple[int]]:
    """The seqs of a batch's rows that open a case (for the insert beside the events')."""
    return [(r.seq,) for r in rows if r.action in CASE_ACTIONS]


def fill_inbox(q: Execute, had_cases: bool, cursor_seq: int | None) -> None:
    """Records made before the inbox: a record that never had cases gets one for every review
    and hold it holds; one that scanned by cursor, for those after its cursor."""
    if had_cases and cursor_seq is None:
        return
    q("INSERT INTO case_inbox (seq) SELECT seq FROM events e WHERE seq > ? AND action IN ('review', 'hold') "
      "AND NOT EXISTS (SELECT 1 FROM cases c WHERE c.org = e.org AND c.event_id = e.event_id) "
      "ON CONFLICT (seq) DO NOTHING", (cursor_seq or 0,))


class _MerchantOf(msgspec.Struct):
    merchant_id: Any = None


_merchant_decoder = msgspec.json.Decoder(_MerchantOf)
_PAGE = 500


def _merchant_of(body: bytes) -> Any:
    """The event body's ``merchant_id`` (None when it has none)."""
    try:
        return _merchant_decoder.decode(body).merchant_id
    except msgspec.DecodeError:
        return None


def _row(r: Any) -> Row:
    return Row(int(r[0]), r[1], r[2], int(r[3]), r[4], bytes(r[5]), r[6], None if r[7] is None else bytes(r[7]), r[8])


class Workflow:
    """Mixed into SqliteRecord and PostgresRecord."""

    def _transaction(self) -> AbstractContextManager[Execute]:
        raise NotImplementedError

    # --- events, scoped ---------------------------------------------------------------------
    def event_in(self, org: str, event_id: str) -> Row | None:
        """The event, if it is this organisation's: another's is as absent as an unknown one."""
        with self._transaction() as q:
            r = q(f"SELECT {_EVENT_COLUMNS} FROM events WHERE event_id = ? AND org = ?", (event_id, org)).fetchone()
        return None if r is None else _row(r)

    def history(self, org: str, customer: str, before_seq: int | None = None, limit: int = 20,
                window: int = 200_000, merchant: str | None = None) -> list[Row]:
        """The customer's latest events (newest first) among the ``window`` events before
        ``before_seq``. A bounded scan of the primary key instead of an index on the customer:
        such an index would double the cost of every group commit (measured: 4.6 → 10.3 µs a
        row in SQLite), and a case page can afford a few milliseconds more.

        ``merchant``: only the events whose ``merchant_id`` is this one (what a merchant may see
        of its customer: its own payments, never those at other merchants nor the customer's
        other events); the bodies are read in pages until ``limit`` such events are found."""
        sql = (f"SELECT {_EVENT_COLUMNS} FROM events WHERE seq < ? AND seq >= ? AND customer = ? AND org = ? "
               "ORDER BY seq DESC LIMIT ?")
        with self._transaction() as q:
            bound = before_seq if before_seq is not None else int(
                q("SELECT coalesce(max(seq), 0) FROM events", ()).fetchone()[0]) + 1
            if merchant is None:
                return [_row(r) for r in q(sql, (bound, bound - window, customer, org, limit)).fetchall()]
            found: list[Row] = []
            top = bound
            while len(found) < limit:
                rows = q(sql, (top, bound - window, customer, org, _PAGE)).fetchall()
                found += [_row(r) for r in rows if _merchant_of(bytes(r[5])) == merchant]
                if len(rows) < _PAGE:
                    break
                top = int(rows[-1][0])
        return found[:limit]

    def events_of_type(self, org: str, etype: str, after_seq: int = 0, limit: int = 1000) -> list[Row]:
        with self._transaction() as q:
            rows = q(f"SELECT {_EVENT_COLUMNS} FROM events WHERE type = ? AND org = ? AND seq > ? "
                     "ORDER BY seq LIMIT ?", (etype, org, after_seq, limit)).fetchall()
        return [_row(r) for r in rows]

    # --- lists ----------------------------------------------------------------------------------
    def list_entries(self, org: str, list_name: str, entity: str | None = None, value: str | None = None,
                     after_seq: int = 0, limit: int = 1000) -> list[tuple[str, str, str, str, int | None, int]]:
        """Current entries (op = add) of one list: (list, entity, value, op, expires_us, seq), by seq."""
        sql = ("SELECT list, entity, value, op, expires_us, seq FROM list_entries "
               "WHERE org = ? AND list = ? AND op = 'add'")
        args: list[Any] = [org, list_name]
        if entity is not None:
            sql += " AND entity = ?"
            args.append(entity)
        if value is not None:
            sql += " AND value = ?"
            args.append(value)
        sql += " AND seq > ? ORDER BY seq LIMIT ?"
        args += [after_seq, limit]
        with self._transaction() as q:
            return [tuple(r) for r in q(sql, tuple(args)).fetchall()]

    # --- cases ----------------------------------------------------------------------------------
    def open_cases(self, build: Callable[[Row], tuple[Any, ...] | None], batch: int = 5000) -> int:
        """Opens a case for each decision waiting in the case inbox that ``build`` turns into
        (org, event_id, seq, type, customer, merchant_id, amount, currency, action, opened_us,
        due_us), and takes it out of the inbox in the same transaction; returns how many were
        opened. The record puts every `review` and `hold` row in the inbox in the transaction
        that commits it, so no cursor is needed: workers sharing a record commit their rows out
        of seq order, which a cursor over seq would skip. Idempotent: an event has at most one
        case, and two callers at once open it once."""
        opened = 0
        while True:
            with self._transaction() as q:
                rows = q(f"SELECT {_INBOX_COLUMNS}, e.clock_us FROM case_inbox i JOIN events e ON e.seq = i.seq "
                         "ORDER BY i.seq LIMIT ?", (batch,)).fetchall()
                stamp = _now()
                for r in rows:
                    # the server's clock when it was decided: a live review's deadline runs from it
                    case = build(_row(r)._replace(clock_us=None if r[9] is None else int(r[9])))
                    if case is not None:
                        cur = q("INSERT INTO cases (org, event_id, seq, type, customer, merchant_id, amount, "
                                "currency, action, opened_us, due_us, state, updated_at) "
                                "VALUES (?,?,?,?,?,?,?,?,?,?,?,'open',?) ON CONFLICT (org, event_id) DO NOTHING",
                                (*case, stamp))
                        opened += max(cur.rowcount, 0)
                    q("DELETE FROM case_inbox WHERE seq = ?", (r[0],))
            if len(rows) < batch:
                return opened

    def cases(self, org: str, state: str | None = None, assignee: str | None = None, merchant: str | None = None,
              after_id: int = 0, limit: int = 100) -> list[dict[str, Any]]:
        """The organisation's cases by id (the queue: nearest deadline first is the caller's sort)."""
        sql = f"SELECT {', '.join(CASE_COLUMNS)} FROM cases WHERE org = ? AND id > ?"
        args: list[Any] = [org, after_id]
        for column, value in (("state", state), ("assignee", assignee), ("merchant_id", merchant)):
            if value is not None:
                sql += f" AND {column} = ?"
                args.append(value)
        sql += " ORDER BY due_us, id LIMIT ?"
        args.append(limit)
        with self._transaction() as q:
            return [dict(zip(CASE_COLUMNS, r)) for r in q(sql, tuple(args)).fetchall()]

    def case(self, org: str, case_id: int, merchant: str | None = None) -> dict[str, Any] | None:
        sql = f"SELECT {', '.join(CASE_COLUMNS)} FROM cases WHERE org = ? AND id = ?"
        args: list[Any] = [org, case_id]
        if merchant is not None:
            sql += " AND merchant_id = ?"
            args.append(merchant)
        with self._transaction() as q:
            r = q(sql, tuple(args)).fetchone()
        return None if r is None else dict(zip(CASE_COLUMNS, r))

    def update_case(self, org: str, case_id: int, states: tuple[str, ...], by: str,
                    notice: Notice6 | None = None, audit: tuple[str, str, str, str] | None = None,
                    **values: Any) -> bool:
        """Sets ``values`` on the case if it is in one of ``states`` (a compare-and-set: two
        people deciding at once, or a person and the clock, cannot both win); False when it was
        not. Only when it wins, and in the same transaction: ``notice`` (ts_us, customer,
        event_id, kind, text, org) goes to the outbox, and ``audit`` (actor, role, action,
        detail) to the audit log, about ``case:<id>``."""
        allowed = {"state", "assignee", "outcome", "note"}
        if not values or not set(values) <= allowed:
            raise ValueError(f"update_case: only {sorted(allowed)} may change")
        sets = ", ".join(f"{k} = ?" for k in values)
        marks = ", ".join("?" for _ in states)
        with self._transaction() as q:
            cur = q(f"UPDATE cases SET {sets}, updated_at = ?, updated_by = ? WHERE org = ? AND id = ? "
                    f"AND state IN ({marks})", (*values.values(), _now(), by, org, case_id, *states))
            won = bool(cur.rowcount)
            if won and notice is not None:
                q(OUTBOX_INSERT, (*notice, notice[5], notice[2], notice[3]))
            if won and audit is not None:
                actor, role, action, detail = audit
                q("INSERT INTO audit (at, org, actor, role, action, target, detail) VALUES (?,?,?,?,?,?,?)",
                  (_now(), org, actor, role, action, f"case:{case_id}", detail))
            return won

    def due_index(self) -> None:
        """The index the clock's sweep reads by (every organisation's open cases by deadline)."""
        with self._transaction() as q:
            if self._postgres():
                q("SELECT pg_advisory_xact_lock(727401)", ())
            q("CREATE INDEX IF NOT EXISTS cases_due ON cases (state, due_us)", ())

    def due_cases(self, now_us: int, limit: int = 500) -> list[dict[str, Any]]:
        """Every organisation's cases still open or assigned whose deadline is at or before
        ``now_us``, the earliest first (the clock's sweep, case_deadlines.py)."""
        with self._transaction() as q:
            rows = q(f"SELECT {', '.join(CASE_COLUMNS)} FROM cases WHERE state IN ('open', 'assigned') "
                     "AND due_us <= ? ORDER BY due_us, id LIMIT ?", (now_us, limit)).fetchall()
        return [dict(zip(CASE_COLUMNS, r)) for r in rows]

    def hold_outcome(self, org: str, event_id: str) -> tuple[str, str] | None:
        """(kind, text) of the outbox notice that ended the hold on ``event_id``, if one has."""
        with self._transaction() as q:
            r = q("SELECT kind, text FROM outbox WHERE org = ? AND event_id = ? AND kind IN "
                  "('hold_released', 'hold_rejected', 'hold_replaced') ORDER BY id DESC LIMIT 1",
                  (org, event_id)).fetchone()
        return None if r is None else (r[0], r[1])

    def cases_by(self, org: str, updated_by: str, merchant: str | None = None,
                 limit: int = 50) -> list[dict[str, Any]]:
        """The organisation's cases last changed by ``updated_by`` (the clock), newest first."""
        sql = f"SELECT {', '.join(CASE_COLUMNS)} FROM cases WHERE org = ? AND updated_by = ?"
        args: list[Any] = [org, updated_by]
        if merchant is not None:
            sql += " AND merchant_id = ?"
            args.append(merchant)
        with self._transaction() as q:
            rows = q(sql + " ORDER BY id DESC LIMIT ?", (*args, limit)).fetchall()
        return [dict(zip(CASE_COLUMNS, r)) for r in rows]

    # --- webhooks (webhooks.py) -------------------------------------------------------------------
    def _postgres(self) -> bool:
        return str(getattr(self, "url", "")).startswith("postgres")

    def webhook_install(self) -> None:
        """The webhooks' queue: a trigger puts every notice the outbox takes from now on in
        ``webhook_queue``, in the transaction that writes it; a delivered one is deleted. A queue,
        not a cursor over the outbox's ids: on PostgreSQL several writers commit ids out of order,
        and a cursor would skip a notice committed after a higher id. Idempotent; notices written
        before the first install are in ``GET /v1/outbox`` only. Also the index of the clock's sweep."""
        with self._transaction() as q:
            if self._postgres():
                q("SELECT pg_advisory_xact_lock(727401)", ())  # one install at a time
                q("CREATE TABLE IF NOT EXISTS webhook_queue (id BIGINT PRIMARY KEY, "
                  "tries INTEGER NOT NULL DEFAULT 0, last_error TEXT)", ())
                q("CREATE OR REPLACE FUNCTION qalqan_outbox_webhook() RETURNS trigger LANGUAGE plpgsql AS $$ "
                  "BEGIN INSERT INTO webhook_queue (id) VALUES (NEW.id); RETURN NULL; END $$", ())
                q("CREATE OR REPLACE TRIGGER outbox_webhook AFTER INSERT ON outbox "
                  "FOR EACH ROW EXECUTE FUNCTION qalqan_outbox_webhook()", ())
            else:
                q("CREATE TABLE IF NOT EXISTS webhook_queue (id INTEGER PRIMARY KEY, "
                  "tries INTEGER NOT NULL DEFAULT 0, last_error TEXT)", ())
                q("CREATE TRIGGER IF NOT EXISTS outbox_webhook AFTER INSERT ON outbox "
                  "BEGIN INSERT INTO webhook_queue (id) VALUES (new.id); END", ())

    def webhook_pending(self, limit: int = 100) -> list[tuple[Any, ...]]:
        """Queued notices, oldest first: (id, tries, ts_us, customer, event_id, kind, text, org)."""
        with self._transaction() as q:
            rows = q("SELECT w.id, w.tries, o.ts_us, o.customer, o.event_id, o.kind, o.text, o.org "
                     "FROM webhook_queue w JOIN outbox o ON o.id = w.id ORDER BY w.id LIMIT ?", (limit,)).fetchall()
        return [tuple(r) for r in rows]

    def webhook_delivered(self, notice_id: int) -> None:
        with self._transaction() as q:
            q("DELETE FROM webhook_queue WHERE id = ?", (notice_id,))

    def webhook_failed(self, notice_id: int, error: str, drop: bool = False,
                       org: str = DEFAULT_ORG) -> int:
        """Counts a failed try (returns the tries so far); ``drop``: gives the notice up, with an
        audit row (actor ``webhooks``) saying why."""
        with self._transaction() as q:
            q("UPDATE webhook_queue SET tries = tries + 1, last_error = ? WHERE id = ?", (error[:500], notice_id))
            r = q("SELECT tries FROM webhook_queue WHERE id = ?", (notice_id,)).fetchone()
            if drop:
                q("DELETE FROM webhook_queue WHERE id = ?", (notice_id,))
                q("INSERT INTO audit (at, org, actor, role, action, target, detail) VALUES (?,?,?,?,?,?,?)",
                  (_now(), org, "webhooks", "system", "webhook.dropped", f"outbox:{notice_id}", error[:500]))
        return 0 if r is None else int(r[0])

    # --- audit ------------------------------------------------------------------------------------
    def audit_append(self, org: str, actor: str, role: str, action: str, target: str, detail: str = "") -> int:
        """Appends one audit row (wall-clock time: it records what people did, when they did it)."""
        with self._transaction() as q:
            cur = q("INSERT INTO audit (at, org, actor, role, action, target, detail) VALUES (?,?,?,?,?,?,?) "
                    "RETURNING id", (_now(), org, actor, role, action, target, detail))
            return int(cur.fetchone()[0])

    def audit_rows(self, org: str, after_id: int = 0, limit: int = 100, actor: str | None = None,
                   target: str | None = None) -> list[dict[str, Any]]:
        sql = f"SELECT {', '.join(AUDIT_COLUMNS)} FROM audit WHERE org = ? AND id > ?"
        args: list[Any] = [org, after_id]
        for column, value in (("actor", actor), ("target", target)):
            if value is not None:
                sql += f" AND {column} = ?"
                args.append(value)
        sql += " ORDER BY id LIMIT ?"
        args.append(limit)
        with self._transaction() as q:
            return [dict(zip(AUDIT_COLUMNS, r)) for r in q(sql, tuple(args)).fetchall()]


def _now() -> str:
    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1e6):06d}Z"


__all__ = ["AUDIT_COLUMNS", "CASE_ACTIONS", "CASE_COLUMNS", "DEFAULT_ORG", "Workflow", "fill_inbox", "inbox_rows"]
