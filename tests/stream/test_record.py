"""Workers share one PostgreSQL record, each in its own sequence space."""

from __future__ import annotations

import pytest

from qalqan import cases
from qalqan.console.reader import Reader
from qalqan.console.tally import Tally
from qalqan.store.base import Batch, ListRow, Row, StoreError
from qalqan.store.postgres import PostgresRecord
from qalqan.stream.record import PartitionRecord


def _row(seq: int, eid: str, etype: str = "login", ts: int = 1_000) -> Row:
    decision = b'{"event_id":"%s"}' % eid.encode() if etype == "payment" else None
    return Row(seq, eid, etype, ts + seq, "cust", b'{"event_id":"%s"}' % eid.encode(), None, decision)


def test_two_partitions_write_the_same_local_seqs_and_read_back_their_own(pg_url: str):
    a, b = PartitionRecord(pg_url, 0, 2), PartitionRecord(pg_url, 1, 2)
    try:
        # Both number their rows 1, 2 and both record their copy of the same intel event.
        a.write(Batch([_row(1, "i-1", "intel"), _row(2, "a-2", "payment")],
                      [ListRow("cbr_fincert", "account", "x", "add", None, 1)], (2, b"snap-a"), []))
        b.write(Batch([_row(1, "i-1", "intel"), _row(2, "b-2", "payment")],
                      [ListRow("cbr_fincert", "account", "x", "add", None, 1)], None, []))
        assert [(r.seq, r.event_id) for r in a.rows_after(0)] == [(1, "i-1"), (2, "a-2")]
        assert [(r.seq, r.event_id) for r in b.rows_after(1)] == [(2, "b-2")]
        assert a.last_seq() == b.last_seq() == 2
        assert a.load_snapshot() == (2, b"snap-a") and b.load_snapshot() is None
        assert [(e, org) for e, _, org in b.recent_ids(10**9)] == [("i-1", "default"), ("b-2", "default")]
        assert a.lookup("i-1") == (True, None) and b.lookup("i-1") == (True, None)
        assert a.lookup("b-2")[0] and not a.lookup("nope")[0]
        # The record as a whole: decisions export as one process's, every event id unique.
        assert [e for e, _ in a.decisions()] == ["a-2", "b-2"]
        assert a.count() == 4
    finally:
        a.close()
        b.close()


def test_another_partition_count_is_refused(pg_url: str):
    PartitionRecord(pg_url, 0, 2).close()
    with pytest.raises(StoreError, match="written by 2 partitions, not 3"):
        PartitionRecord(pg_url, 0, 3)


def test_a_single_process_record_is_refused(pg_url: str):
    single = PostgresRecord(pg_url)
    single.write(Batch([_row(1, "e-1")], [], None, []))
    single.close()
    with pytest.raises(StoreError, match="holds the record of a single process"):
        PartitionRecord(pg_url, 0, 2)


def test_an_embedded_record_is_refused():
    with pytest.raises(StoreError, match="must be postgresql"):
        PartitionRecord("sqlite:///x.db", 0, 2)


def test_one_worker_per_partition(pg_url: str):
    first = PartitionRecord(pg_url, 0, 2)
    try:
        with pytest.raises(StoreError, match="partition 0/2 is being decided by another worker"):
            PartitionRecord(pg_url, 0, 2, lock_wait_s=0.5)
        PartitionRecord(pg_url, 1, 2).close()  # another partition is free
    finally:
        first.close()
    PartitionRecord(pg_url, 0, 2, lock_wait_s=0.5).close()  # released with the connection


def _review(seq: int, eid: str) -> Row:
    decision = b'{"event_id":"%s","action":"review","score":0.9,"reasons":[]}' % eid.encode()
    body = b'{"event_id":"%s","amount":"10","currency":"KZT"}' % eid.encode()
    return Row(seq, eid, "payment", 1_000 + seq, "cust", body, "review", decision)


def test_cases_open_for_rows_committed_out_of_seq_order(pg_url: str):
    """Partition 0 runs ahead of partition 1: its rows carry higher stored seqs than partition
    1's later ones. The review queue must still open a case for every review of both."""
    a, b = PartitionRecord(pg_url, 0, 2), PartitionRecord(pg_url, 1, 2)
    try:
        a.write(Batch([_review(s, f"a-{s}") for s in range(1, 6)], [], None, []))
        b.write(Batch([_review(1, "b-1")], [], None, []))
        assert cases.sync(a) == 6
        b.write(Batch([_review(2, "b-2"), _row(3, "b-3")], [], None, []))  # stored below a's rows
        a.write(Batch([_review(6, "a-6")], [], None, []))
        assert cases.sync(b) == 2 and cases.sync(a) == 0
        opened = sorted(c["event_id"] for c in a.cases("default", limit=100))
        assert opened == ["a-1", "a-2", "a-3", "a-4", "a-5", "a-6", "b-1", "b-2"]
    finally:
        a.close()
        b.close()


def test_the_console_tally_follows_each_partition(pg_url: str):
    """The console's counts follow the record per partition: a partition that commits behind the
    other (lower stored seqs, later) is still counted, each row once."""
    a, b = PartitionRecord(pg_url, 0, 2), PartitionRecord(pg_url, 1, 2)
    tally = Tally(Reader(pg_url))
    try:
        a.write(Batch([_review(s, f"a-{s}") for s in range(1, 6)], [], None, []))
        tally.refresh()
        b.write(Batch([_review(1, "b-1"), _review(2, "b-2")], [], None, []))  # stored below a's rows
        tally.refresh()
        tally.refresh()
        assert sorted(tally.of("default").cases) == ["a-1", "a-2", "a-3", "a-4", "a-5", "b-1", "b-2"]
        assert sum(tally.of("default").alerts.values()) == 7
    finally:
        tally.reader.close()
        a.close()
        b.close()


def test_a_worker_that_lost_its_connection_never_opens_another(pg_url: str):
    """Its partition's lock is its connection's: a silent reconnect would let a second worker claim
    the partition while this one goes on deciding it. It fails instead (crash-only), every time."""
    import psycopg

    from qalqan.store.base import RecordUnavailable

    first = PartitionRecord(pg_url, 0, 2, lock_wait_s=0.5)
    with psycopg.connect(pg_url, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
                      ("qalqan-worker-0/2",))
    with pytest.raises(RecordUnavailable):  # the call that finds the connection gone
        first.last_seq()
    for _ in range(2):  # and every call after it: no new connection
        with pytest.raises(RecordUnavailable, match="lock"):
            first.last_seq()
    second = PartitionRecord(pg_url, 0, 2, lock_wait_s=5)  # the lock went with the connection
    assert second.last_seq() == 0
    second.close()
    first.close()
