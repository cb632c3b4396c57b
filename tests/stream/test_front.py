"""The scaled HTTP set-up: several `qalqan serve --nats` fronts and `qalqan worker`s over one stream
and one PostgreSQL record answer as one embedded process would.

Two fronts on two ports and two workers: a simulated stream is posted event by event, alternating
between the fronts, and every money movement's answer equals the embedded engine's decision for the
same stream; bad input is refused with 422 naming the field and never reaches the stream; a
repeated id gets the same decision. A front with no worker answers a money movement with its channel's
fallback within the budget and keeps the event: once a worker runs, it decides the event once, the
retry gets that decision, and the outbox says what was answered and what was decided.
"""

from __future__ import annotations

import asyncio
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import msgspec
import psycopg
import pytest

from qalqan.events import MONEY_TYPES
from qalqan.sim import simulate

from .conftest import need_servers
from .helpers import (
    NATS_URL,
    decisions,
    differing,
    env_for,
    fresh_database,
    fresh_stream,
    qalqan,
    start_worker,
    wait_all,
)

# 80 customers, 3 days: 1,446 events of every kind (about 580 money movements, 32 intel), one request each.
CUSTOMERS, DAYS, SEED = 80, 3, 11


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def running(args: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen([sys.executable, "-m", "qalqan", *args], env=env, stdout=open(log, "ab"),
                            stderr=subprocess.STDOUT)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def front(stream: str, parts: int, env: dict[str, str], log: Path, *extra: str) -> tuple[str, Any]:
    port = _port()
    ctx = running(["serve", "--port", str(port), "--nats", NATS_URL, "--stream", stream,
                   "--partitions", str(parts), *extra], env, log)
    return f"http://127.0.0.1:{port}", ctx


def worker(stream: str, part: int, parts: int, env: dict[str, str], log: Path, *extra: str) -> Any:
    return running(["worker", "--nats", NATS_URL, "--stream", stream, "--partition", f"{part}/{parts}",
                    "--batch", "100", *extra], env, log)


def wait_ready(base: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"the front exited ({proc.returncode}):\n{log.read_text()}"
        try:
            if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"the front at {base} was not ready in {timeout} s:\n{log.read_text()}")


def stream_messages(name: str) -> int:
    async def count() -> int:
        import nats

        nc = await nats.connect(NATS_URL, connect_timeout=3)
        try:
            return int((await nc.jetstream().stream_info(name)).state.messages)
        finally:
            await nc.close()

    return asyncio.run(count())


def same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return all(a.get(f) == b.get(f) for f in ("action", "reasons", "score", "hold"))


@pytest.fixture(scope="module")
def stream_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("front")
    full = work / "sim.jsonl"
    simulate(CUSTOMERS, DAYS, SEED, full)
    return full


def published(stream_file: Path, work: Path) -> dict[str, dict[str, Any]]:
    """The same file through `qalqan publish` and 2 workers: what the fronts must add nothing to."""
    with fresh_database() as db, fresh_stream() as stream:
        env = env_for(work / "home", db)
        qalqan("publish", str(stream_file), "--nats", NATS_URL, "--stream", stream, "--partitions", "2", env=env)
        logs = [work / f"published{p}.log" for p in range(2)]
        wait_all([start_worker(stream, p, 2, env, logs[p]) for p in range(2)], logs, timeout=60)
        qalqan("decisions", "--export", str(work / "published.jsonl"), env=env)
    return decisions(work / "published.jsonl")


def test_two_fronts_two_workers_answer_as_one_process(stream_file: Path, tmp_path: Path) -> None:
    """Equal to the embedded engine wherever two partitions can be (docs/scaling.md: features of
    entities that customers share are where partitions meet, and test_same_answers bounds that share
    on 50,000 events): the fronts' answers are exactly those of `qalqan publish` + the same workers,
    and differ from the embedded engine's in nothing else."""
    need_servers()
    out = tmp_path / "embedded.jsonl"
    qalqan("replay", str(stream_file), "-o", str(out), "--fresh", env=env_for(tmp_path / "embedded"))
    reference = decisions(out)
    through_publish = published(stream_file, tmp_path)
    lines = stream_file.read_bytes().splitlines()
    money = [msgspec.json.decode(x)["event_id"] for x in lines if msgspec.json.decode(x)["type"] in MONEY_TYPES]
    assert len(money) >= 500 and set(money) == set(reference)
    assert len({d["action"] for d in reference.values()}) >= 3  # not all approvals: the comparison means something

    with fresh_database() as db, fresh_stream() as stream:
        # A month of traffic sent in seconds: the fronts' clock stands after it (no event is ahead of
        # it), and the workers run deadlines on the stream's time, as replay does.
        env = {**env_for(tmp_path / "home", db), "QALQAN_CLOCK_START": "2026-12-31T00:00:00Z"}
        logs = {n: tmp_path / f"{n}.log" for n in ("f0", "f1", "w0", "w1")}
        (a, fa), (b, fb) = front(stream, 2, env, logs["f0"]), front(stream, 2, env, logs["f1"])
        events = ("--clock", "events")
        with fa as pa, fb as pb, worker(stream, 0, 2, env, logs["w0"], *events), \
                worker(stream, 1, 2, env, logs["w1"], *events):
            wait_ready(a, pa, logs["f0"])
            wait_ready(b, pb, logs["f1"])
            with httpx.Client(timeout=30) as http:
                answers: dict[str, dict[str, Any]] = {}
                for i, line in enumerate(lines):  # one at a time: the stream's order is the file's
                    r = http.post(f"{(a, b)[i % 2]}/v1/events", content=line)
                    eid = msgspec.json.decode(line)["event_id"]
                    if eid in reference:
                        assert r.status_code == 200, f"{eid}: {r.status_code} {r.text}\n{logs['w0'].read_text()}"
                        answers[eid] = r.json()
                    else:
                        assert r.status_code == 202, f"{eid}: {r.status_code} {r.text}"
                        assert r.json() == {"event_id": eid, "status": "accepted"}
                for d in answers.values():
                    d.pop("latency_ms", None)
                assert not differing(answers, through_publish), "the fronts changed a decision of the workers"
                partitions_meet = differing(reference, through_publish)
                differ = sorted(e for e in money if not same(answers[e], reference[e]))
                assert differ == partitions_meet, f"{len(differ)} of {len(money)} decisions differ from the " \
                    f"embedded engine's, {len(partitions_meet)} through `qalqan publish`"
                print(f"{len(money)} money movements through 2 fronts: {len(differ)} differ from one process "
                      f"({len(differ) / len(money):.2%}), all where partitions meet, as through `qalqan publish`")

                # Bad input: 422 naming the field, and nothing reaches the stream.
                before = stream_messages(stream)
                bad = msgspec.json.decode(lines[0])
                bad.pop("ts")
                for base, body in ((a, msgspec.json.encode(bad)), (b, b"{not json")):
                    r = http.post(f"{base}/v1/events", content=body)
                    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
                    assert r.json()["field"] in ("ts", "$")
                assert http.post(f"{a}/v1/events", content=msgspec.json.encode(bad)).json()["field"] == "ts"
                assert stream_messages(stream) == before

                # A repeated id, through either front: the same decision, and nothing appended.
                first = money[0]
                again = next(x for x in lines if msgspec.json.decode(x)["event_id"] == first)
                for base in (a, b):
                    r = http.post(f"{base}/v1/events", content=again)
                    assert r.status_code == 200 and same(r.json(), answers[first])
                    got = http.get(f"{base}/v1/decisions/{first}")
                    assert got.status_code == 200 and same(got.json(), reference[first])
                assert stream_messages(stream) == before
                assert http.get(f"{a}/v1/decisions/no-such-event").status_code == 404


def test_a_front_whose_worker_is_gone_answers_the_fallback_then_the_worker_decides(tmp_path: Path) -> None:
    """No worker for the partition: a money movement gets its channel's fallback decision within the
    budget (status 200, ``fallback.stage == "worker"``), and the event is kept. Once a worker runs it
    decides the event once; a retry gets that recorded decision, and the outbox tells the integrator
    what was answered by the fallback and what was decided (``decision.late``, once per event)."""
    from conftest import payment, transfer

    need_servers()
    sbp = transfer(event_id="gone-sbp", rail="sbp", amount="2500.00")  # fails closed: review
    card = payment(event_id="gone-card", amount="300.00")  # fails open below 5,000 RUB: approve
    with fresh_database() as db, fresh_stream() as stream:
        env = {**env_for(tmp_path / "home", db), "QALQAN_DECIDE_BUDGET_MS": "300"}
        flog, wlog = tmp_path / "front.log", tmp_path / "worker.log"
        base, ctx = front(stream, 1, env, flog)
        with ctx as proc, httpx.Client(timeout=30) as http:
            wait_ready(base, proc, flog)
            answered = {}
            for eid, body, action in (("gone-sbp", sbp, "review"), ("gone-card", card, "approve")):
                r = http.post(f"{base}/v1/events", content=body)
                assert r.status_code == 200, r.text
                d = answered[eid] = r.json()
                assert d["fallback"]["stage"] == "worker" and d["fallback"]["cause"].startswith("no decision")
                assert d["action"] == d["fallback"]["action"] == action, d
                assert d["reasons"][0]["code"] == "fallback.worker"
            again = http.post(f"{base}/v1/events", content=sbp)  # still no worker: the same fallback
            assert again.status_code == 200 and again.json()["action"] == "review"
            assert again.json()["fallback"]["stage"] == "worker"
            assert http.get(f"{base}/v1/decisions/gone-sbp").status_code == 404  # not decided yet
            metrics = http.get(f"{base}/metrics").text
            assert 'qalqan_fallbacks_total{stage="worker",cause="no decision",action="review"} 2' in metrics
            assert 'qalqan_fallbacks_total{stage="worker",cause="no decision",action="approve"} 1' in metrics
            assert stream_messages(stream) == 4  # each event once, each one's marker once (the retry's was dropped)

            with worker(stream, 0, 1, env, wlog):
                deadline = time.monotonic() + 60
                while http.get(f"{base}/v1/decisions/gone-card").status_code != 200:
                    assert time.monotonic() < deadline, wlog.read_text()
                    time.sleep(0.2)
                proper = http.get(f"{base}/v1/decisions/gone-sbp").json()
                assert "fallback" not in proper  # decided by the worker: rules and model
                retry = http.post(f"{base}/v1/events", content=sbp)
                assert retry.status_code == 200 and "fallback" not in retry.json() and same(retry.json(), proper)
                notices = {n["event_id"]: n for n in http.get(f"{base}/v1/outbox").json()
                           if n["kind"] == "decision.late"}
                assert notices.keys() == {"gone-sbp", "gone-card"}, http.get(f"{base}/v1/outbox").text
                assert notices["gone-sbp"]["text"].startswith("answered review by the fallback (no decision")
                assert f"decided {proper['action']}" in notices["gone-sbp"]["text"]
            assert stream_messages(stream) == 6  # + each event's decision once
        with psycopg.connect(db) as conn:
            rows = conn.execute("SELECT event_id, count(*) FROM events GROUP BY event_id ORDER BY 1").fetchall()
            late = conn.execute("SELECT count(*) FROM outbox WHERE kind = 'decision.late'").fetchone()[0]
        assert rows == [("gone-card", 1), ("gone-sbp", 1)] and late == 2  # decided once, told once
        # A front of another N would send events its workers refuse: it does not start.
        wrong = subprocess.run([sys.executable, "-m", "qalqan", "serve", "--port", str(_port()), "--nats", NATS_URL,
                                "--stream", stream, "--partitions", "2"], env=env, capture_output=True, text=True,
                               timeout=60)
        assert wrong.returncode != 0 and "decided by 1 partitions" in wrong.stderr, wrong.stderr


def test_the_key_s_organisation_travels_with_the_event(stream_file: Path, tmp_path: Path) -> None:
    """With QALQAN_AUTH=on the worker decides an event for the organisation of the key it came with:
    the record keeps it as that organisation's, which another organisation cannot read. An event id
    is unique within its organisation: another organisation's event under the same id is its own,
    decided on its own, before and after the stream's duplicate window."""
    from qalqan.api.keys import KeyRing

    need_servers()
    line = next(x for x in stream_file.read_bytes().splitlines() if msgspec.json.decode(x)["type"] in MONEY_TYPES)
    eid = msgspec.json.decode(line)["event_id"]
    home = tmp_path / "home"
    ring = KeyRing.load(home)
    _, bank = ring.create("integrator", "bank-a")
    _, other = ring.create("integrator", "bank-b")
    _, auditor = ring.create("auditor", "bank-a")
    with fresh_database() as db, fresh_stream() as stream:
        env = env_for(home, db, QALQAN_AUTH="on")
        flog, wlog = tmp_path / "front.log", tmp_path / "worker.log"
        base, ctx = front(stream, 1, env, flog)
        with ctx as proc, worker(stream, 0, 1, env, wlog), httpx.Client(timeout=30) as http:
            wait_ready(base, proc, flog)
            as_ = lambda key: {"authorization": f"Bearer {key}"}  # noqa: E731
            assert http.post(f"{base}/v1/events", content=line).status_code == 401
            assert http.post(f"{base}/v1/events", content=line, headers=as_(auditor)).status_code == 403
            r = http.post(f"{base}/v1/events", content=line, headers=as_(bank))
            assert r.status_code == 200, f"{r.text}\n{wlog.read_text()}"
            assert http.get(f"{base}/v1/decisions/{eid}", headers=as_(bank)).json() == r.json()
            assert http.get(f"{base}/v1/decisions/{eid}", headers=as_(other)).status_code == 404
            theirs = http.post(f"{base}/v1/events", content=line, headers=as_(other))
            assert theirs.status_code == 200, f"{theirs.text}\n{wlog.read_text()}"
            assert http.get(f"{base}/v1/decisions/{eid}", headers=as_(other)).json() == theirs.json()
            assert stream_messages(stream) == 4  # each organisation's event once, and its decision once
            # Past the stream's duplicate window an id reaches the worker again: each organisation
            # still gets its own first decision.
            _shorten_duplicate_window(stream)
            again = http.post(f"{base}/v1/events", content=line, headers=as_(other))
            assert again.status_code == 200 and same(again.json(), theirs.json()), again.text
            mine = http.post(f"{base}/v1/events", content=line, headers=as_(bank))
            assert mine.status_code == 200 and same(mine.json(), r.json()), mine.text


def _shorten_duplicate_window(name: str) -> None:
    """The stream forgets the ids it has seen after 1 s (10 minutes in production), and 2 s pass."""
    import nats

    async def shorten() -> None:
        nc = await nats.connect(NATS_URL, connect_timeout=3)
        try:
            js = nc.jetstream()
            config = (await js.stream_info(name)).config
            config.duplicate_window = 1.0
            await js.update_stream(config)
        finally:
            await nc.close()

    asyncio.run(shorten())
    time.sleep(2.5)


def _drop_connections(db: str, who: str) -> int:
    """Terminates the record's connections whose application_name starts with ``who``, as a restart
    or a failover of PostgreSQL would: the front finds out at its next query."""
    import psycopg

    with psycopg.connect(db, autocommit=True) as conn:
        rows = conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                            "WHERE datname = current_database() AND application_name LIKE %s", (f"{who}%",)).fetchall()
    return len(rows)


def test_a_front_reconnects_when_the_record_drops_its_connections(stream_file: Path, tmp_path: Path) -> None:
    """A front outlives PostgreSQL dropping its connections: a read is made again on a new connection
    (the caller sees nothing); a people's request that was cut answers 503 (retry-after) and the
    next one works. Each process names its connections (qalqan-front, qalqan-front-people,
    qalqan-worker-<p>/<N>)."""
    need_servers()
    lines = [x for x in stream_file.read_bytes().splitlines() if msgspec.json.decode(x)["type"] in MONEY_TYPES][:2]
    first, second = (msgspec.json.decode(x)["event_id"] for x in lines)
    with fresh_database() as db, fresh_stream() as stream:
        env = env_for(tmp_path / "home", db)
        flog, wlog = tmp_path / "front.log", tmp_path / "worker.log"
        base, ctx = front(stream, 1, env, flog)
        with ctx as proc, worker(stream, 0, 1, env, wlog), httpx.Client(timeout=30) as http:
            wait_ready(base, proc, flog)
            decided = http.post(f"{base}/v1/events", content=lines[0])
            assert decided.status_code == 200, f"{decided.text}\n{wlog.read_text()}"
            assert http.get(f"{base}/v1/cases").status_code == 200
            assert _drop_connections(db, "qalqan-front") == 2  # the front's reads and its people's record
            stored = http.get(f"{base}/v1/decisions/{first}")  # read again on a new connection
            assert stored.status_code == 200 and same(stored.json(), decided.json()), stored.text
            again = http.post(f"{base}/v1/events", content=lines[0])  # a duplicate: looked up in the record
            assert again.status_code == 200 and same(again.json(), decided.json()), again.text
            cut = http.get(f"{base}/v1/cases")
            assert cut.status_code == 503 and cut.headers["retry-after"] == "1", cut.text
            assert http.get(f"{base}/v1/cases").status_code == 200
            assert _drop_connections(db, "qalqan-front") == 2  # both reconnected, under their names
            assert http.post(f"{base}/v1/events", content=lines[1]).status_code == 200
            assert http.get(f"{base}/v1/decisions/{second}").status_code == 200
        assert "Traceback" not in flog.read_text()


def test_a_front_refuses_what_no_client_may_send(tmp_path: Path) -> None:
    """An allow-list entry in a client's event is refused at the front (422 naming `list`), before
    the stream: people make allow entries (the list API), never a client's events."""
    need_servers()
    with fresh_database() as db, fresh_stream() as stream:
        env = env_for(tmp_path / "home", db)
        flog = tmp_path / "front.log"
        base, ctx = front(stream, 1, env, flog)
        with ctx as proc, httpx.Client(timeout=30) as http:
            wait_ready(base, proc, flog)
            r = http.post(f"{base}/v1/events", content=(
                b'{"type":"intel","event_id":"wl-1","ts":"2026-02-02T09:00:00Z","customer_id":"C1",'
                b'"list":"allow","entity":"customer","value":"C0000042","op":"add"}'))
            assert r.status_code == 422 and r.json()["field"] == "list", r.text
        assert stream_messages(stream) == 0
