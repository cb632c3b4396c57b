"""Admission control: past QALQAN_MAX_INFLIGHT requests in flight, `POST /v1/events` answers 503
with Retry-After at once, reading and storing nothing; health checks are never held back; and the
moment a slot frees, requests are taken again (api/admission.py)."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from test_http import serving

from conftest import transfer


@contextmanager
def hanging(base: str, n: int) -> Iterator[list[socket.socket]]:
    """``n`` requests whose body never finishes: each holds a place in flight until closed."""
    host, port = base.removeprefix("http://").split(":")
    socks = []
    try:
        for _ in range(n):
            s = socket.create_connection((host, int(port)), timeout=5)
            s.sendall(b"POST /v1/events HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
                      b"content-length: 1000\r\n\r\n{\"type\":")
            socks.append(s)
        yield socks
    finally:
        for s in socks:
            s.close()


def test_past_the_bound_a_fast_503_and_back_to_normal_at_once(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'r.db'}"
    with serving(QALQAN_DB=db, QALQAN_MAX_INFLIGHT="3") as (base, _), httpx.Client(base_url=base, timeout=10) as c:
        assert c.post("/v1/events", content=transfer(event_id="before")).status_code == 200
        with hanging(base, 3):
            deadline = time.monotonic() + 10
            while "qalqan_requests_in_flight 3" not in c.get("/metrics").text:  # taken asynchronously
                assert time.monotonic() < deadline, c.get("/metrics").text
                time.sleep(0.05)
            t0 = time.monotonic()
            shed = c.post("/v1/events", content=transfer(event_id="shed"))
            assert shed.status_code == 503 and time.monotonic() - t0 < 5, shed.text  # 5 s: a hang detector only
            assert shed.headers["retry-after"] == "1"
            assert shed.headers["content-type"] == "application/problem+json"
            assert c.get("/healthz").status_code == 200  # never counted, never held back
            assert "qalqan_requests_shed_total 1" in c.get("/metrics").text
        deadline = time.monotonic() + 10
        while (r := c.post("/v1/events", content=transfer(event_id="after"))).status_code == 503:
            assert time.monotonic() < deadline, "still shedding after the load went"
            time.sleep(0.05)
        assert r.status_code == 200
        assert c.get("/v1/decisions/shed").status_code == 404  # nothing of a shed request was stored
        assert c.get("/v1/decisions/after").status_code == 200
