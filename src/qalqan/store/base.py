"""The record's interface. Writes are buffered and made durable together by ``commit``
(group commit): the engine answers an event only after the commit that holds it."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any, NamedTuple, Protocol


class StoreError(RuntimeError):
    pass


class RecordUnavailable(StoreError):
    """The record's server cannot be reached, or did not answer within its budget: nothing of the
    call is known to be done. Unlike other errors, it says nothing about the data: send it again."""


class DuplicateEvents(StoreError):
    """A batch held events whose ids the record has already: a client sent an old event id again
    with another time, after it had left the in-memory horizon (seen.py). Nothing of the batch
    was written; the engine asks the record about these ids from now on."""

    def __init__(self, ids: list[tuple[str, str]]) -> None:
        names = [eid for _, eid in ids]
        super().__init__(f"{len(ids)} event id(s) already in the record, sent again with another time: "
                         f"{', '.join(names[:5])}{' …' if len(ids) > 5 else ''}; nothing of the group was stored, "
                         "send it again: they will be answered with their first decision")
        self.ids = ids  # (organisation, event id)


# The organisation of events that come without one (replay, the CLI, the API with auth off).
DEFAULT_ORG = "default"
# A notice for the outbox: (ts_us, customer, event_id, kind, text, org).
Notice6 = tuple[int, str, str, str, str, str]


class Row(NamedTuple):
    seq: int
    event_id: str
    type: str
    ts_us: int
    customer: str
    body: bytes  # the protected event, JSON
    action: str | None
    decision: bytes | None  # the decision, JSON (money movements only)
    org: str = DEFAULT_ORG  # whose event: every read of the record is scoped by it
    # The server's clock when a live server decided it (holds' deadlines ran to it first); None in
    # replay, where they run on event time. A restart folds the events to the same clock again.
    clock_us: int | None = None


class ListRow(NamedTuple):
    list: str
    entity: str
    value: str
    op: str
    expires_us: int | None
    seq: int


class Batch(NamedTuple):
    """Buffered writes, made durable together in one transaction."""

    rows: list[Row]
    lists: list[ListRow]
    snapshot: tuple[int, bytes] | None
    outbox: list[Notice6]

    @property
    def empty(self) -> bool:
        return not (self.rows or self.lists or self.snapshot or self.outbox)


def list_rows_with_org(batch: Batch) -> list[tuple[str, str, str, str, int | None, int, str]]:
    """A list change belongs to the organisation of the intel event that made it: the event with
    the same seq, always in the same batch (the engine buffers both while deciding it)."""
    orgs = {r.seq: r.org for r in batch.rows}
    return [(*r, orgs.get(r.seq, DEFAULT_ORG)) for r in batch.lists]


class Record(Protocol):
    """The engine's side. The people's side (cases, the audit log, reads scoped by organisation)
    is ``store.workflow.Workflow``, which both records also are."""

    url: str

    def append(self, row: Row) -> None:
        """Buffers one event (with its decision); durable at the next ``commit``."""

    def append_list(self, row: ListRow) -> None:
        """Buffers a list change (from an intel event or an analyst)."""

    def append_outbox(self, row: Notice6) -> None:
        """Buffers a notice (ts_us, customer, event_id, kind, text, org) for the outbox."""

    def outbox(self, after: int = 0, limit: int = 1000,
               org: str | None = None) -> list[tuple[int, int, str, str, str, str]]:
        """Durable notices after id ``after``: (id, ts_us, customer, event_id, kind, text); with
        ``org``, only those about that organisation's events (None: every one, for the operator)."""

    def commit(self) -> None:
        """Makes every buffered write durable, atomically (``write(take())``)."""

    def take(self) -> Batch:
        """Hands over the buffered writes and starts a new buffer."""

    def write(self, batch: Batch) -> None:
        """Writes a batch in one transaction; safe on another thread than lookups."""

    def buffered(self) -> list[Row]:
        """Rows appended and not yet taken."""

    def rollback(self) -> None:
        """Drops every buffered write."""

    def lookup(self, event_id: str, org: str = DEFAULT_ORG) -> tuple[bool, bytes | None]:
        """(known, decision) for an organisation's event id already committed."""

    def last_seq(self) -> int: ...

    def ping(self) -> None:
        """Raises ``RecordUnavailable`` unless the record answers now (readiness)."""

    def event_body(self, event_id: str, org: str = DEFAULT_ORG) -> bytes | None:
        """The organisation's stored (protected) event, JSON."""

    def recent_ids(self, horizon_us: int) -> Iterator[tuple[str, int, str]]:
        """(event_id, ts_us, org) of committed events within ``horizon_us`` of the newest event
        time, in commit order (to rebuild the in-memory idempotency index at start)."""

    def rows_after(self, seq: int) -> Iterator[Row]:
        """Committed events after ``seq``, in order: to rebuild state after a restart."""

    def save_snapshot(self, seq: int, blob: bytes) -> None:
        """Stores the state as of ``seq``; committed with the next ``commit``."""

    def load_snapshot(self) -> tuple[int, bytes] | None: ...

    def decisions(self) -> Iterator[tuple[str, bytes]]:
        """(event_id, decision) of every decided event, sorted by event id."""

    def count(self) -> int: ...

    def close(self) -> None: ...


class Buffered:
    """The write buffer both records share: appends collect here, ``take`` hands them over as a
    batch, and ``write`` makes a batch durable under the connection's lock (``_write`` is the
    backend's one transaction)."""

    def __init__(self) -> None:
        self._rows: list[Row] = []
        self._lists: list[ListRow] = []
        self._snapshot: tuple[int, bytes] | None = None
        self._outbox: list[Notice6] = []
        # Lookups on the serving thread and a batch written on a writer thread share the connection.
        self._lock = threading.Lock()

    def append(self, row: Row) -> None:
        self._rows.append(row)

    def append_list(self, row: ListRow) -> None:
        self._lists.append(row)

    def append_outbox(self, row: Notice6) -> None:
        self._outbox.append(row)

    def save_snapshot(self, seq: int, blob: bytes) -> None:
        self._snapshot = (seq, blob)

    def buffered(self) -> list[Row]:
        return self._rows

    def take(self) -> Batch:
        batch = Batch(self._rows, self._lists, self._snapshot, self._outbox)
        self.rollback()
        return batch

    def rollback(self) -> None:
        self._rows = []
        self._lists = []
        self._snapshot = None
        self._outbox = []

    def commit(self) -> None:
        self.write(self.take())

    def write(self, batch: Batch) -> None:
        if batch.empty:
            return
        with self._lock:
            try:
                self._write(batch)
            except RecordUnavailable:
                raise  # the server is gone: asking it which ids it holds would only wait again
            except Exception as exc:
                known = self._known_among(batch.rows)
                if known:
                    raise DuplicateEvents(known) from exc
                raise

    def _known_among(self, rows: list[Row]) -> list[tuple[str, str]]:
        """After a failed write: the batch's (organisation, event id) the record already holds
        (none if it cannot tell, e.g. the database is down)."""
        try:
            return [(r.org, r.event_id) for r in rows if self._lookup(r.event_id, r.org)[0]]
        except Exception:
            return []

    def _write(self, batch: Batch) -> None:
        raise NotImplementedError

    def _lookup(self, event_id: str, org: str = DEFAULT_ORG) -> tuple[bool, bytes | None]:
        raise NotImplementedError


# A notice is written once: a deadline that a live server's clock fired is fired again after a
# restart (the record holds no tick), and must not notify the client twice.
OUTBOX_INSERT = ("INSERT INTO outbox (ts_us, customer, event_id, kind, text, org) SELECT ?,?,?,?,?,? "
                 "WHERE NOT EXISTS (SELECT 1 FROM outbox WHERE org = ? AND event_id = ? AND kind = ?)")


def outbox_args(batch: Batch) -> list[tuple[Any, ...]]:
    """(ts_us, customer, event_id, kind, text, org) of each notice, then its key for the dedup."""
    return [(*n, n[5], n[2], n[3]) for n in batch.outbox]


def outbox_query(after: int, limit: int, org: str | None) -> tuple[str, tuple[Any, ...]]:
    """The outbox's rows after ``after`` (``?`` placeholders); with ``org``, that organisation's
    (each notice carries the organisation of the event it is about)."""
    columns = "id, ts_us, customer, event_id, kind, text"
    if org is None:
        return f"SELECT {columns} FROM outbox WHERE id > ? ORDER BY id LIMIT ?", (after, limit)
    return f"SELECT {columns} FROM outbox WHERE id > ? AND org = ? ORDER BY id LIMIT ?", (after, org, limit)
