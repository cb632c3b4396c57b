"""The embedded server's PostgreSQL record stopped, or frozen (SIGSTOP), under load, then restored.

What must hold (issue 15): no request hangs past the record's budget (a fast 503 with Retry-After
instead); `/healthz` answers throughout and `/readyz` says 503 while the record is gone; nothing
answered 200 is lost; when the record is back the server takes decisions again by itself, without
a restart; and SIGTERM ends it within seconds whatever the record does.

The bounds on time here are hang detectors (a budget of 0.5 s against bounds of 10-15 s), not
measurements: the machine may be slow, a hang is endless.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
import psycopg
import pytest
from private_servers import PrivatePostgres, private_postgres
from test_http import serving

from conftest import transfer

from .load import Load

BUDGET_MS = "500"
HANG_S = 10.0  # no answer may take longer: the budget is 0.5 s, reconnecting at most 2 s more


def _until(what: Callable[[], bool], why: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not what():
        assert time.monotonic() < deadline, why
        time.sleep(0.05)


def _status(c: httpx.Client, path: str) -> int:
    t0 = time.monotonic()
    r = c.get(path)
    assert time.monotonic() - t0 < HANG_S, f"{path} took {time.monotonic() - t0:.1f} s"
    return r.status_code


def _stored(pg: PrivatePostgres) -> dict[str, bytes]:
    with psycopg.connect(pg.url) as conn:
        return {eid: bytes(d) for eid, d in conn.execute("SELECT event_id, decision FROM events "
                                                         "WHERE decision IS NOT NULL")}


@pytest.mark.parametrize("fault", ["stopped", "frozen"])
def test_record_lost_under_load_then_back(tmp_path, fault: str) -> None:
    with private_postgres() as pg, \
            serving(QALQAN_DB=pg.url, QALQAN_RECORD_BUDGET_MS=BUDGET_MS) as (base, proc), \
            httpx.Client(base_url=base, timeout=30) as c:
        with Load(base) as load:
            _until(lambda: load.answered() >= 40, "no decisions before the fault")
            pg.stop() if fault == "stopped" else pg.freeze()
            refused_before = len(load.refused)
            _until(lambda: len(load.refused) > refused_before + 5, "no 503s while the record is gone")
            assert _status(c, "/readyz") == 503
            for _ in range(10):  # alive, and never behind the record
                assert _status(c, "/healthz") == 200
                time.sleep(0.1)
            r = c.get("/v1/decisions/ld-0-1")
            assert r.status_code == 503 and r.headers["retry-after"], r.text
            answered_down = load.answered()
            time.sleep(1.0)
            assert load.answered() == answered_down, "answered 200 while the record was gone"
            pg.start() if fault == "stopped" else pg.thaw()
            _until(lambda: _status(c, "/readyz") == 200, "not ready again after the record came back")
            _until(lambda: load.answered() >= answered_down + 40, "no decisions after the record came back")
        assert proc.poll() is None, "the server stopped"
        assert load.other == [], load.other[:5]  # nothing hung (30 s client timeout), no 500s
        assert load.slowest < HANG_S, f"an answer took {load.slowest:.1f} s"
        stored = _stored(pg)
        lost = [eid for eid in load.acked if eid not in stored]
        assert lost == [], f"{len(lost)} acknowledged events lost: {lost[:5]}"
        assert all(stored[eid] == body for eid, body in load.acked.items()), "a stored decision differs from its answer"
        # Sent again, an acknowledged event is the same decision (state and record agree after the rebuild).
        eid = sorted(load.acked)[0]
        i, n = eid.split("-")[1:]
        again = c.post("/v1/events", content=transfer(event_id=eid, customer_id=f"C{int(i):03d}{int(n) % 50:03d}",
                                                       amount=f"{100 + int(n) % 900}.00"))
        assert again.status_code == 200 and again.content == load.acked[eid]
        metrics = c.get("/metrics").text
        assert "qalqan_ready 1" in metrics and "qalqan_record_outages_total 1" in metrics, metrics


def test_sigterm_ends_the_server_while_its_record_is_frozen(tmp_path) -> None:
    with private_postgres() as pg:
        with serving(QALQAN_DB=pg.url, QALQAN_RECORD_BUDGET_MS=BUDGET_MS) as (base, proc), \
                httpx.Client(base_url=base, timeout=30) as c:
            assert c.post("/v1/events", content=transfer(event_id="t-1")).status_code == 200
            pg.freeze()
            assert c.post("/v1/events", content=transfer(event_id="t-2")).status_code == 503
            proc.terminate()
            t0 = time.monotonic()
            proc.wait(timeout=15)  # raises if SIGTERM is ignored
            assert time.monotonic() - t0 < 15
        pg.thaw()
        assert "t-1" in _stored(pg)  # acknowledged before: kept


def test_health_endpoints_answer_get_only(tmp_path) -> None:
    with serving(QALQAN_DB=f"sqlite:///{tmp_path / 'r.db'}") as (base, _), httpx.Client(base_url=base) as c:
        assert c.get("/healthz").status_code == 200 and c.head("/healthz").status_code == 200
        assert c.get("/readyz").status_code == 200
        for method in ("POST", "PUT", "DELETE"):
            assert c.request(method, "/healthz").status_code == 405
            assert c.request(method, "/readyz").status_code == 405
