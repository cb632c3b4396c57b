"""Bad input is named, bounded and never half-taken (the trust boundary of POST /v1/events).

Against a real `qalqan serve` (and a real front of the scaled set-up): a body that is not UTF-8 or
nests too deep is refused with 422 naming ``$``; a body over QALQAN_MAX_BODY with 413, without the
server reading it to the end; a batch over QALQAN_MAX_BATCH with 413. A refused request stores
nothing; a batch answers item by item and nothing is stored that its answer does not say; and a
long batch never holds up /healthz. In process: an unexpected error deciding one event of a batch
rejects that event alone, and a write that fails while a batch is being decided leaves nothing of
the batch stored behind a 503.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import msgspec
import pytest
from stream.helpers import env_for, fresh_database, fresh_stream, nats_missing, pg_missing
from stream.test_front import front, stream_messages, wait_ready
from test_http import serving

from conftest import missing, transfer

MAX_BODY, MAX_BATCH = 256 * 1024, 300


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Any:
    home = tmp_path_factory.mktemp("bad-input")
    with serving(QALQAN_HOME=str(home), QALQAN_DB=f"sqlite:///{home / 'record.db'}", QALQAN_MODE="",
                 QALQAN_MAX_BODY=str(MAX_BODY), QALQAN_MAX_BATCH=str(MAX_BATCH)) as (base, _):
        yield base


def stored(c: httpx.Client, event_id: str) -> bool:
    r = c.get(f"/v1/decisions/{event_id}")
    assert r.status_code in (200, 404), r.text
    return r.status_code == 200


def problem_of(r: httpx.Response, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text[:500]
    assert r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert body["status"] == status and body["field"] == "$" and body["problem"], body
    return body


def raw_exchange(base: str, head: bytes, chunks: list[bytes] | tuple[()] = (),
                 timeout: float = 20) -> tuple[int, dict[str, str], bytes]:
    """One request on a raw socket: the head, then ``chunks`` (the body is never finished unless they
    finish it), then the answer, read until the server closes the connection."""
    url = urlsplit(base)
    with socket.create_connection((url.hostname, url.port), timeout=timeout) as s:
        s.sendall(head)
        for chunk in chunks:
            s.sendall(chunk)
        data = b""
        while True:
            part = s.recv(65536)
            if not part:
                break
            data += part
    head_part, _, body = data.partition(b"\r\n\r\n")
    lines = head_part.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
    return status, headers, body


# --- UTF-8 --------------------------------------------------------------------------------------

def test_invalid_utf8_is_422_naming_the_body_and_nothing_of_it_is_stored(server: str) -> None:
    bad = transfer(event_id="u-1", note="x").replace(b'"note":"x"', b'"note":"\xff\xfe"')
    with httpx.Client(base_url=server, timeout=30) as c:
        body = problem_of(c.post("/v1/events", content=bad), 422)
        assert body["problem"] == "not UTF-8" and "offset" in body["detail"], body
        assert not stored(c, "u-1")
        # A batch with one such event is refused whole: its valid events are not stored either.
        batch = b"[" + b",".join([transfer(event_id="u-2"), bad.replace(b"u-1", b"u-3"),
                                  transfer(event_id="u-4")]) + b"]"
        body = problem_of(c.post("/v1/events", content=batch), 422)
        assert body["problem"] == "not UTF-8", body
        assert not any(stored(c, e) for e in ("u-2", "u-3", "u-4"))
        # Valid UTF-8 beyond ASCII is taken.
        ok = transfer(event_id="u-5", note="перевод за квартиру")
        assert c.post("/v1/events", content=ok).status_code == 200 and stored(c, "u-5")


# --- depth --------------------------------------------------------------------------------------

def test_json_nested_100000_deep_is_422_and_the_server_stays_up(server: str) -> None:
    deep = b"[" * 100_000 + b"]" * 100_000
    nested_field = transfer(event_id="d-1", note="x").replace(b'"x"', b"[" * 100_000 + b"]" * 100_000)
    with httpx.Client(base_url=server, timeout=30) as c:
        for content in (deep, nested_field, b"{" * 100_000):
            body = problem_of(c.post("/v1/events", content=content), 422)
            assert body["problem"] == "nested deeper than 32", body
        assert not stored(c, "d-1")
        batch = b"[" + transfer(event_id="d-2") + b"," + nested_field.replace(b"d-1", b"d-3") + b"]"
        assert problem_of(c.post("/v1/events", content=batch), 422)["problem"] == "nested deeper than 32"
        assert not stored(c, "d-2") and not stored(c, "d-3")
        # Brackets inside strings are text, not nesting; 30 levels of a kept unknown field are fine.
        text = transfer(event_id="d-4", note="[" * 1000 + "{" * 1000)
        assert c.post("/v1/events", content=text).status_code == 200
        nested_ok = transfer(event_id="d-5", note="x").replace(b'"x"', b"[" * 30 + b"]" * 30)
        assert c.post("/v1/events", content=nested_ok).status_code == 200
        assert c.get("/healthz").status_code == 200


# --- size ---------------------------------------------------------------------------------------

def test_a_declared_body_over_the_limit_is_413_before_any_of_it_is_read(server: str) -> None:
    """Content-Length: 100 MB and not a byte of body sent: the answer comes at once."""
    head = (b"POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 104857600\r\n\r\n")
    status, headers, body = raw_exchange(server, head)
    assert status == 413 and headers["content-type"] == "application/problem+json"
    problem = msgspec.json.decode(body)
    assert problem["field"] == "$" and problem["problem"] == f"larger than {MAX_BODY} bytes", problem
    assert headers.get("connection") == "close"


def test_a_streamed_body_is_read_no_further_than_the_limit(server: str) -> None:
    """No Content-Length (chunked), the body never finished: once past the limit the server answers
    413 instead of waiting for the rest; nothing of the batch is stored."""
    events = [transfer(event_id=f"s-{i}", note="z" * 400) for i in range(700)]
    payload = b"[" + b",".join(events)  # never closed: a server that reads to the end would hang
    assert len(payload) > MAX_BODY
    chunks = [payload[i:i + 16384] for i in range(0, MAX_BODY + 1, 16384)]
    wire = [b"%x\r\n%s\r\n" % (len(ch), ch) for ch in chunks]
    head = (b"POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n")
    status, headers, body = raw_exchange(server, head, wire)
    assert status == 413, body
    assert msgspec.json.decode(body)["problem"] == f"larger than {MAX_BODY} bytes"
    with httpx.Client(base_url=server, timeout=30) as c:
        assert not stored(c, "s-0")


def test_a_batch_over_the_count_limit_is_413_naming_it_and_stores_nothing(server: str) -> None:
    batch = b"[" + b",".join(transfer(event_id=f"n-{i}") for i in range(MAX_BATCH + 1)) + b"]"
    assert len(batch) < MAX_BODY
    with httpx.Client(base_url=server, timeout=60) as c:
        body = problem_of(c.post("/v1/events", content=batch), 413)
        assert body["problem"] == f"more than {MAX_BATCH} events" and str(MAX_BATCH + 1) in body["detail"], body
        assert not stored(c, "n-0") and not stored(c, f"n-{MAX_BATCH}")


# --- a batch, item by item ----------------------------------------------------------------------

def test_a_batch_answers_item_by_item_and_stores_exactly_what_it_says(server: str) -> None:
    items = [transfer(event_id="b-1"), transfer(event_id="b-2", amount="lots"), b'{"type":"nope"}',
             transfer(event_id="b-3")]
    with httpx.Client(base_url=server, timeout=30) as c:
        r = c.post("/v1/events", content=b"[" + b",".join(items) + b"]")
        assert r.status_code == 200, r.text
        answers = r.json()
        assert [a["status"] for a in answers] == ["decided", "rejected", "rejected", "decided"]
        assert answers[1]["error"]["status"] == 422 and answers[1]["error"]["field"] == "amount"
        assert [stored(c, e) for e in ("b-1", "b-2", "b-3")] == [True, False, True]


# --- health while batches are decided -------------------------------------------------------------

def test_healthz_answers_while_long_batches_are_decided(tmp_path: Path) -> None:
    """Eight batches of 1,000 events (the default limit) posted at once take the server a while;
    /healthz, asked again and again meanwhile, is answered many times before any batch is (a batch
    gives the event loop a turn every few events). The 10 s bound only catches a hang. Every event
    of every batch is durable when its batch is answered."""
    k_batches, n = 8, 1000
    batches = [[transfer(event_id=f"h{k}-{i}", customer_id=f"C{i % 97:07d}") for i in range(n)]
               for k in range(k_batches)]
    answers: list[httpx.Response] = []
    first_done = threading.Event()

    with serving(QALQAN_DB=f"sqlite:///{tmp_path / 'record.db'}") as (base, _):
        def post(events: list[bytes]) -> None:
            with httpx.Client(base_url=base, timeout=300) as c:
                answers.append(c.post("/v1/events", content=b"[" + b",".join(events) + b"]"))
            first_done.set()

        threads = [threading.Thread(target=post, args=(b,)) for b in batches]
        for t in threads:
            t.start()
        latencies: list[float] = []
        with httpx.Client(base_url=base, timeout=30) as c:
            time.sleep(0.2)  # the batches are in and being decided
            while not first_done.is_set():
                t0 = time.monotonic()
                assert c.get("/healthz").status_code == 200
                if not first_done.is_set():  # answered while every batch was still being decided
                    latencies.append(time.monotonic() - t0)
            for t in threads:
                t.join(300)
            assert len(answers) == k_batches and all(r.status_code == 200 for r in answers), \
                [r.text[:200] for r in answers]
            assert all(a["status"] == "decided" for r in answers for a in r.json())
            # health was answered many times while the batches ran, never after a long wait
            assert len(latencies) >= 5, latencies
            assert max(latencies) < 10, latencies
            assert all(stored(c, f"h{k}-{i}") for k in range(k_batches) for i in (0, n // 2, n - 1))


# --- in process: errors while deciding -------------------------------------------------------------

def in_process(tmp_path: Path) -> tuple[Any, Any]:
    from qalqan.api import create_app
    from qalqan.config import from_env
    from qalqan.engine import Engine

    engine = Engine(from_env(db_url=f"sqlite:///{tmp_path / 'record.db'}"))
    return engine, create_app(engine)


def client(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://qalqan", timeout=60)


def batch_of(*events: bytes) -> bytes:
    return b"[" + b",".join(events) + b"]"


def test_an_unexpected_error_deciding_one_event_rejects_that_event_alone(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    engine, app = in_process(tmp_path)
    decide = engine.decide

    def failing(raw: bytes, org: str = "default") -> Any:
        if b'"x-boom' in raw:
            raise RuntimeError("a bug in a rule pack")
        return decide(raw, org)

    monkeypatch.setattr(engine, "decide", failing)

    async def run() -> tuple[httpx.Response, httpx.Response]:
        async with client(app) as c:
            items = (transfer(event_id="x-1"), transfer(event_id="x-boom-1"), transfer(event_id="x-2"))
            batch = await c.post("/v1/events", content=batch_of(*items))
            single = await c.post("/v1/events", content=transfer(event_id="x-boom-2"))
            return batch, single

    try:
        batch, single = asyncio.run(run())
        assert batch.status_code == 200, batch.text
        answers = batch.json()
        assert [a["status"] for a in answers] == ["decided", "rejected", "decided"]
        assert answers[1]["error"]["status"] == 500 and answers[1]["error"]["field"] == "$"
        assert single.status_code == 500 and single.headers["content-type"] == "application/problem+json"
        kept = [engine.record.lookup(e)[0] for e in ("x-1", "x-boom-1", "x-2", "x-boom-2")]
        assert kept == [True, False, True, False]
    finally:
        engine.close()


def test_a_write_failing_while_a_batch_is_decided_leaves_nothing_of_the_batch(tmp_path: Path,
                                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """The batch gives the loop turns; another request's group commit fails meanwhile and the engine
    drops every buffered event, the batch's first ones too. The batch then answers 503 (send it
    again) and stores nothing, rather than 200 for events that were dropped."""
    engine, app = in_process(tmp_path)
    write = engine.record.write
    writes: list[int] = []

    def failing_first(batch: Any) -> None:
        writes.append(1)
        if len(writes) == 1:
            raise OSError("disk full")
        write(batch)

    monkeypatch.setattr(engine.record, "write", failing_first)
    ids = [f"w-{i}" for i in range(400)]

    async def run() -> tuple[httpx.Response, httpx.Response]:
        async with client(app) as c:
            big = asyncio.create_task(c.post("/v1/events", content=batch_of(*(transfer(event_id=e) for e in ids))))
            while engine.pending == 0:  # the batch is being decided
                await asyncio.sleep(0)
            single = await c.post("/v1/events", content=transfer(event_id="w-single"))
            return await big, single

    try:
        big, single = asyncio.run(run())
        assert single.status_code == 503, single.text
        assert big.status_code == 503, big.text[:300]
        assert big.headers["retry-after"] == "1"
        assert not any(engine.record.lookup(e)[0] for e in [*ids, "w-single"])
        # Sent again, the batch is decided and stored whole.
        again = asyncio.run(_post(app, batch_of(*(transfer(event_id=e) for e in ids))))
        assert again.status_code == 200 and all(a["status"] == "decided" for a in again.json())
        assert all(engine.record.lookup(e)[0] for e in ids)
    finally:
        engine.close()


async def _post(app: Any, body: bytes) -> httpx.Response:
    async with client(app) as c:
        return await c.post("/v1/events", content=body)


# --- the scaled front -----------------------------------------------------------------------------

def test_the_front_refuses_a_large_body_with_413_and_bad_bytes_with_422(tmp_path: Path) -> None:
    """`qalqan serve --nats`: the same limits; nothing refused reaches the stream."""
    why = nats_missing() or pg_missing()
    if why:
        missing(why)
    with fresh_database() as db, fresh_stream() as stream:
        env = env_for(tmp_path / "home", db, QALQAN_MAX_BODY=str(MAX_BODY))
        log = tmp_path / "front.log"
        base, ctx = front(stream, 1, env, log)
        with ctx as proc, httpx.Client(base_url=base, timeout=30) as c:
            wait_ready(base, proc, log)
            head = (b"POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                    b"Content-Length: 104857600\r\n\r\n")
            status, headers, body = raw_exchange(base, head)
            assert status == 413 and headers["content-type"] == "application/problem+json", body
            assert msgspec.json.decode(body)["problem"] == f"larger than {MAX_BODY} bytes"
            chunk = b"z" * 16384
            wire = [b"%x\r\n%s\r\n" % (len(chunk), chunk)] * (MAX_BODY // len(chunk) + 1)
            head = (b"POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                    b"Transfer-Encoding: chunked\r\n\r\n")
            assert raw_exchange(base, head, wire)[0] == 413

            bad = transfer(event_id="f-1", note="x").replace(b'"note":"x"', b'"note":"\xff"')
            assert problem_of(c.post("/v1/events", content=bad), 422)["problem"] == "not UTF-8"
            deep = transfer(event_id="f-2", note="x").replace(b'"x"', b"[" * 100_000 + b"]" * 100_000)
            assert problem_of(c.post("/v1/events", content=deep), 422)["problem"] == "nested deeper than 32"
            assert c.get("/healthz").status_code == 200
        assert stream_messages(stream) == 0  # nothing refused was published
