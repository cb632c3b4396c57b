"""The PostgreSQL record's budget, call by call (store/watchdog.py, store/postgres.py): a frozen
server fails a call within its budget instead of holding it for ever; a new connection is opened
only once the cut-off one is sure to have ended (the fence), so that a state rebuilt from the
record cannot miss a write that a thawed server carries out after all."""

from __future__ import annotations

import time

import psycopg
import pytest
from private_servers import private_postgres

from qalqan.store.base import RecordUnavailable
from qalqan.store.postgres import PostgresRecord


def test_a_call_to_a_frozen_server_fails_within_its_budget_and_the_next_works_once_thawed() -> None:
    with private_postgres() as pg:
        record = PostgresRecord(pg.url, budget_s=0.3)
        assert record.last_seq() == 0
        pg.freeze()
        t0 = time.monotonic()
        with pytest.raises(RecordUnavailable):
            record.last_seq()
        assert time.monotonic() - t0 < 10  # a hang detector: the budget is 0.3 s
        with pytest.raises(RecordUnavailable):
            record.ping()  # a new connection to a frozen server: libpq's connect_timeout
        pg.thaw()
        record.ping()
        assert record.last_seq() == 0
        record.close()


def test_the_fence_ends_a_cut_off_connection_before_anything_is_read() -> None:
    """A cut-off connection whose server process still runs (frozen, then thawed with a COMMIT in
    its buffer) is ended by the next call before it reads: here played by a live connection
    holding an open transaction, named as the record's lost one."""
    with private_postgres() as pg:
        record = PostgresRecord(pg.url, budget_s=0.5)
        lingering = psycopg.connect(pg.url, autocommit=False)
        lingering.execute("SELECT 1")  # a transaction open, as a write cut at its COMMIT
        pid, start = lingering.execute("SELECT pid, backend_start FROM pg_stat_activity "
                                       "WHERE pid = pg_backend_pid()").fetchone()
        record._unfenced = (pid, start)
        record.ping()
        assert record._unfenced is None
        with psycopg.connect(pg.url) as probe:
            assert probe.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone()[0] == 0
        with pytest.raises(psycopg.OperationalError):
            lingering.execute("SELECT 1")
        record.close()
